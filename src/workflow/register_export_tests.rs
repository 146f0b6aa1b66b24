//! Tests of the register export: cells, dates, the CSV and its digest.

use super::*;

#[test]
fn formulas_are_neutralised() {
    for (cell, expected) in [
        ("=1+1", "'=1+1"),
        ("+84 912", "'+84 912"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("＝1", "'＝1"),
        ("05/QĐ-UBND", "05/QĐ-UBND"),
        ("Về việc = x", "Về việc = x"),
        ("", ""),
    ] {
        assert_eq!(neutralise_formula(cell), expected, "{cell:?}");
    }
}

#[test]
fn dates() {
    assert_eq!(edxml_to_iso("2026/01/05").as_deref(), Some("2026-01-05"));
    assert_eq!(edxml_to_iso("05/01/2026"), None);
    assert_eq!(vietnamese_date("2026-01-05"), "05/01/2026");
    // 17:30 UTC on 31 December is already 1 January in Vietnam.
    assert_eq!(
        vietnam_date("2026-12-31T17:30:00.000Z").as_deref(),
        Some("2027-01-01")
    );
    assert_eq!(number_notation(Some(5), Some("QĐ-UBND")), "05/QĐ-UBND");
    assert_eq!(number_notation(Some(123), Some("UBND-VP")), "123/UBND-VP");
}

fn outgoing_row(number: u32, subject: &str) -> OutgoingRegisterRow {
    OutgoingRegisterRow {
        id: format!("ID{number}"),
        document_id: Some(format!("000.00.01.H41,2026/03/0{number},{number:02}/UBND-VP")),
        code_number: Some(number),
        code_notation: Some("UBND-VP".into()),
        state: "queued".into(),
        subject: subject.into(),
        meta_json: r#"{"to": ["000.00.00.H41", "000.00.00.G22"], "type": {"code": 1, "name": "Công văn"},
            "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"}, "copies": 2}"#
            .into(),
        created_at: "2026-03-01T01:00:00.000Z".into(),
        queued_at: Some("2026-03-01T18:00:00.000Z".into()),
        quarantine_reason: None,
        cancelled_at: None,
        cancel_reason: None,
        replaces: None,
        replaced_by: Vec::new(),
        recalls_agreed: Vec::new(),
    }
}

#[test]
fn csv_has_bom_vietnamese_headers_quoting_and_no_formulas() {
    let mut hostile = outgoing_row(2, "b");
    hostile.meta_json =
        r#"{"signer": {"name": "=HYPERLINK(\"http://x\")"}, "file_copy_keeper": "@SUM(1)"}"#.into();
    let rows = RegisterRows::Outgoing(vec![
        outgoing_row(1, "Về việc báo cáo, \"khẩn\"\ndòng hai"),
        hostile,
    ]);
    let csv = to_csv(&entries(&rows)).expect("csv");
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(csv[3..].to_vec()).expect("utf-8");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("headers").clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        OUTGOING_HEADERS.to_vec()
    );
    let records: Vec<csv::StringRecord> =
        reader.records().collect::<Result<_, _>>().expect("records");
    assert_eq!(records.len(), 2);
    assert_eq!(&records[0][0], "01/UBND-VP");
    assert_eq!(&records[0][1], "01/03/2026");
    assert_eq!(
        &records[0][2],
        "Công văn: Về việc báo cáo, \"khẩn\"\ndòng hai"
    );
    assert_eq!(&records[0][3], "TM. Chủ tịch Nguyễn Văn A");
    assert_eq!(&records[0][4], "000.00.00.H41; 000.00.00.G22");
    assert_eq!(&records[0][6], "2");
    assert_eq!(
        &records[0][7], "02/03/2026",
        "sent at 01:00 on 2 March, Vietnam time"
    );
    // Cells starting with `=` or `@` are shown as text: they start with `'`.
    assert_eq!(&records[1][3], "'=HYPERLINK(\"http://x\")");
    assert_eq!(&records[1][5], "'@SUM(1)");
    for record in &records {
        for cell in record {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell:?}");
        }
    }
}

#[test]
fn the_digest_is_of_the_csv_and_changes_with_any_cell() {
    let rows = RegisterRows::Outgoing(vec![outgoing_row(1, "a")]);
    let first = digest(&rows).expect("digest");
    assert_eq!(first.entries, 1);
    let csv = to_csv(&entries(&rows)).expect("csv");
    assert_eq!(
        first.digest,
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &csv).as_ref())
    );
    let mut changed = outgoing_row(1, "a");
    changed.cancelled_at = Some("2026-04-01T00:00:00.000Z".into());
    let second = digest(&RegisterRows::Outgoing(vec![changed])).expect("digest");
    assert_ne!(first.digest, second.digest);
}

#[test]
fn notes_name_agreed_recalls_and_replacements_in_both_registers() {
    let mut recalled = outgoing_row(3, "c");
    recalled.recalls_agreed = vec![crate::store::registers::AgreedRecall {
        organ_id: "001.01.10.H41".into(),
        // 18:00 UTC on 1 April is 2 April in Vietnam.
        answered_at: Some("2026-04-01T18:00:00.000Z".into()),
        reason: "Sai số liệu".into(),
    }];
    let Entries::Outgoing(outgoing) = entries(&RegisterRows::Outgoing(vec![recalled])) else {
        panic!("outgoing entries");
    };
    assert_eq!(
        outgoing[0].notes,
        ["Đã thu hồi ngày 02/04/2026 (001.01.10.H41 đồng ý): Sai số liệu"]
    );
    let incoming = IncomingRegisterRow {
        id: "IN1".into(),
        incoming_number: 1,
        document_id: Some("000.00.01.H41,2026/03/01,01/UBND-VP".into()),
        code_number: Some(1),
        code_notation: Some("UBND-VP".into()),
        subject: "a".into(),
        peer_organ: Some("000.00.01.H41".into()),
        meta_json: "{}".into(),
        received_at: "2026-03-01T01:00:00.000Z".into(),
        registered_at: Some("2026-03-01T02:00:00.000Z".into()),
        passed_on_at: None,
        due_date: None,
        cancelled_at: None,
        cancel_reason: None,
        replaces: Some("000.00.01.H41,2026/02/01,09/UBND-VP".into()),
        replaced_by: vec!["000.00.01.H41,2026/03/05,04/UBND-VP".into()],
    };
    let Entries::Incoming(incoming) = entries(&RegisterRows::Incoming(vec![incoming])) else {
        panic!("incoming entries");
    };
    assert_eq!(
        incoming[0].notes,
        [
            "Thay thế văn bản 000.00.01.H41,2026/02/01,09/UBND-VP",
            "Được thay thế bởi văn bản 000.00.01.H41,2026/03/05,04/UBND-VP"
        ]
    );
}
