//! Tests of the registers as stored: numbering per (year, series) with office-chosen numbers,
//! the rows of both registers, and closing a year with its evidence record.

use super::registers::{CloseOutcome, RegisterDigest, RegisterKind, RegisterRows};
use super::*;

fn outgoing(
    year: i32,
    series: RegisterSeries,
    number: Option<u32>,
    subject: &str,
) -> NewOutgoingDocument {
    NewOutgoingDocument {
        id: ulid::Ulid::new().to_string(),
        subject: subject.into(),
        meta_json: "{}".into(),
        files: Vec::new(),
        state: match series {
            RegisterSeries::General => DocumentState::Accepted,
            RegisterSeries::Secret => DocumentState::Registered,
        },
        numbering: NumberingRequest {
            series,
            year,
            number,
            notation: "UBND-VP".into(),
            organ_id: "000.00.01.H41".into(),
            promulgation_date: format!("{year}/03/01"),
        },
        idempotency: None,
        replaces: None,
        at: format!("{year}-03-01T00:00:00.000Z"),
    }
}

async fn number_of(store: &Store, document: NewOutgoingDocument) -> Result<String, StoreError> {
    let outcome = store.accept_outgoing(document).await?;
    let document_id = outcome.identity.document_id.unwrap_or_default();
    Ok(document_id
        .rsplit(',')
        .next()
        .and_then(|code| code.split('/').next())
        .unwrap_or_default()
        .to_string())
}

#[tokio::test]
async fn office_numbers_are_stepped_over_and_never_make_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let general = RegisterSeries::General;
    assert_eq!(
        number_of(&store, outgoing(2026, general, None, "a"))
            .await
            .expect("1"),
        "01"
    );
    // The office takes 3 and 5 ahead of the register.
    assert_eq!(
        number_of(&store, outgoing(2026, general, Some(3), "b"))
            .await
            .expect("3"),
        "03"
    );
    assert_eq!(
        number_of(&store, outgoing(2026, general, Some(5), "c"))
            .await
            .expect("5"),
        "05"
    );
    let mut assigned = Vec::new();
    for subject in ["d", "e", "f", "g"] {
        assigned.push(
            number_of(&store, outgoing(2026, general, None, subject))
                .await
                .expect("next"),
        );
    }
    assert_eq!(assigned, ["02", "04", "06", "07"]);
    // A number already used is refused with its holder named, and nothing is stored.
    let error = number_of(&store, outgoing(2026, general, Some(4), "h"))
        .await
        .expect_err("taken");
    assert!(
        matches!(
            error,
            StoreError::NumberTaken {
                number: 4,
                year: 2026,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("000.00.01.H41,2026/03/01,04/UBND-VP"),
        "{error}"
    );
    // The same number in another year, or in the secret series, is free.
    assert_eq!(
        number_of(&store, outgoing(2027, general, Some(4), "i"))
            .await
            .expect("2027"),
        "04"
    );
    assert_eq!(
        number_of(&store, outgoing(2027, general, None, "j"))
            .await
            .expect("2027"),
        "01"
    );
    let secret = RegisterSeries::Secret;
    for subject in ["k", "l"] {
        // A secret document never travels: it has no DocumentId, only its number.
        let outcome = store
            .accept_outgoing(outgoing(2026, secret, None, subject))
            .await
            .expect("secret");
        assert_eq!(outcome.identity.document_id, None);
    }
    assert_eq!(
        number_of(&store, outgoing(2026, general, None, "m"))
            .await
            .expect("general"),
        "08"
    );

    let RegisterRows::Outgoing(rows) = store
        .register_rows(RegisterKind::Outgoing(general), 2026)
        .expect("rows")
    else {
        panic!("outgoing rows expected");
    };
    let numbers: Vec<u32> = rows.iter().filter_map(|row| row.code_number).collect();
    assert_eq!(
        numbers,
        (1..=8).collect::<Vec<_>>(),
        "01..08, no gap, no duplicate"
    );
    let RegisterRows::Outgoing(secret_rows) = store
        .register_rows(RegisterKind::Outgoing(secret), 2026)
        .expect("rows")
    else {
        panic!("outgoing rows expected");
    };
    let secret_numbers: Vec<u32> = secret_rows
        .iter()
        .filter_map(|row| row.code_number)
        .collect();
    assert_eq!(secret_numbers, [1, 2]);
    assert!(secret_rows.iter().all(|row| row.state == "registered"));
    store.close();
}

/// Direct SQL for what the clerk's acceptance (status 03) writes, which lands separately.
async fn insert_incoming(store: &Store) {
    store
        .inner
        .database
        .write(|connection| {
            connection
                .execute_batch(
                    r#"INSERT INTO documents (id, direction, document_id, state, subject, code_number,
                         code_notation, register_year, meta_json, created_at, updated_at, peer_organ,
                         incoming_number, registered_at, due_date, cancelled_at, cancel_reason)
                       VALUES
                       ('IN2', 'in', 'x,2', 'received', '=cmd|calc', 12, 'STC-BCTC', 2026,
                        '{"from": {"organ_id": "000.00.00.H41", "organ_name": "Sở Tài chính"},
                          "promulgation_info": {"promulgation_date": "2026/02/27"},
                          "document_type": {"type_name": "Báo cáo"}}',
                        '2026-02-28T02:00:00.000Z', 't', '000.00.00.H41', 2, '2026-02-28T03:00:00.000Z',
                        '2026-03-15', NULL, NULL),
                       ('IN1', 'in', 'x,1', 'received', 'Về việc họp', 7, 'UBND-VP', 2026,
                        '{"from": {"organ_id": "000.00.00.G22"}}',
                        '2026-01-01T17:30:00.000Z', 't', '000.00.00.G22', 1, '2026-01-02T01:00:00.000Z',
                        NULL, '2026-01-05T01:00:00.000Z', 'bên gửi thu hồi'),
                       ('IN3', 'in', 'x,3', 'received', 'chưa vào sổ', 1, 'A', NULL,
                        '{}', '2026-03-01T00:00:00.000Z', 't', '000.00.00.H41', NULL, NULL,
                        NULL, NULL, NULL);
                     INSERT INTO document_statuses (document, direction, organ_id, code, description, recorded_at)
                       VALUES ('IN2', 'sent', '000.00.01.H41', '04', 'giao phòng TC', '2026-03-02T02:00:00.000Z');"#,
                )
                .map_err(StoreError::sqlite("insert test rows"))
        })
        .await
        .expect("insert");
}

#[tokio::test]
async fn the_incoming_register_lists_registered_documents_by_incoming_number() {
    use crate::workflow::register_export::{entries, to_csv, Entries};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    insert_incoming(&store).await;
    let rows = store
        .register_rows(RegisterKind::Incoming, 2026)
        .expect("rows");
    let Entries::Incoming(list) = entries(&rows) else {
        panic!("incoming entries expected");
    };
    assert_eq!(
        list.len(),
        2,
        "a document without a số đến is not in the register"
    );
    assert_eq!((list[0].id.as_str(), list[0].incoming_number), ("IN1", 1));
    assert_eq!(
        list[0].date_received, "2026-01-02",
        "00:30 on 2 January, Vietnam time"
    );
    assert_eq!(list[0].author, "000.00.00.G22");
    assert_eq!(list[0].number_notation, "07/UBND-VP");
    assert!(list[0].notes[0].starts_with("Đã hủy (thu hồi) ngày 05/01/2026: bên gửi thu hồi"));
    assert_eq!(list[1].author, "Sở Tài chính (000.00.00.H41)");
    assert_eq!(list[1].document_date.as_deref(), Some("2026-02-27"));
    assert_eq!(list[1].type_name, "Báo cáo");
    assert_eq!(list[1].date_passed_on.as_deref(), Some("2026-03-02"));
    assert_eq!(list[1].notes, ["Hạn giải quyết: 15/03/2026"]);
    let csv = String::from_utf8(to_csv(&entries(&rows)).expect("csv")).expect("utf-8");
    assert!(csv.contains(",Báo cáo: =cmd|calc,"), "{csv}");
    assert!(
        csv.contains("Ngày đến,Số đến,Tác giả,\"Số, ký hiệu\",Ngày tháng"),
        "{csv}"
    );
    assert!(store
        .register_rows(RegisterKind::Incoming, 2025)
        .expect("rows")
        .is_empty());
    store.close();
}

#[tokio::test]
async fn closing_records_the_digest_and_its_evidence_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    insert_incoming(&store).await;
    let digest = |value: &str| {
        let value = value.to_string();
        move |rows: &RegisterRows| -> Result<RegisterDigest, String> {
            Ok(RegisterDigest {
                digest: value.repeat(64),
                entries: rows.len() as u32,
            })
        }
    };
    let kind = RegisterKind::Incoming;
    let first = store
        .close_register(kind, 2026, "2027-01-01T00:00:00.000Z".into(), digest("a"))
        .await
        .expect("store")
        .expect("digest");
    let CloseOutcome::Closed(closure) = first else {
        panic!("closed now expected");
    };
    assert_eq!((closure.entries, closure.year), (2, 2026));
    let again = store
        .close_register(kind, 2026, "2027-02-01T00:00:00.000Z".into(), digest("a"))
        .await
        .expect("store")
        .expect("digest");
    assert_eq!(again, CloseOutcome::AlreadyClosed(closure.clone()));
    let changed = store
        .close_register(kind, 2026, "2027-02-01T00:00:00.000Z".into(), digest("b"))
        .await
        .expect_err("changed");
    assert!(
        matches!(changed, StoreError::RegisterChangedSinceClosing { .. }),
        "{changed}"
    );
    let failed: Result<Result<CloseOutcome, String>, StoreError> = store
        .close_register(
            kind,
            2025,
            "2027-02-01T00:00:00.000Z".into(),
            |_: &RegisterRows| Err::<RegisterDigest, String>("no digest".into()),
        )
        .await;
    assert_eq!(failed.expect("store"), Err("no digest".to_string()));
    assert_eq!(store.register_closure(kind, 2025).expect("read"), None);
    assert_eq!(
        store.register_closure(kind, 2026).expect("read"),
        Some(closure)
    );
    let log = evidence::read_log(store.database_path()).expect("log");
    let closed: Vec<_> = log
        .records
        .iter()
        .filter(|record| record.kind == "register_closed")
        .collect();
    assert_eq!(
        closed.len(),
        1,
        "one evidence record, however often it is closed"
    );
    assert!(closed[0].record_json.contains(&"a".repeat(64)));
    assert_eq!(closed[0].document, "register:in:2026");
    store.close();
}

#[tokio::test]
async fn what_happens_after_closing_does_not_change_a_closed_register() {
    use crate::workflow::register_export::{entries, to_csv};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    insert_incoming(&store).await;
    let kind = RegisterKind::Incoming;
    let csv_now = |store: &Store| {
        let rows = store.register_rows(kind, 2026).expect("rows");
        to_csv(&entries(&rows)).expect("csv")
    };
    let before = csv_now(&store);
    store
        .close_register(kind, 2026, "2027-01-02T00:00:00.000Z".into(), |rows| {
            Ok::<_, String>(RegisterDigest {
                digest: "c".repeat(64),
                entries: rows.len() as u32,
            })
        })
        .await
        .expect("store")
        .expect("digest");
    // After the closing: IN1 is passed on (its first 04) and IN2 is cancelled by a recall.
    store
        .inner
        .database
        .write(|connection| {
            connection
                .execute_batch(
                    "INSERT INTO document_statuses (document, direction, organ_id, code, description, recorded_at)
                       VALUES ('IN1', 'sent', '000.00.01.H41', '04', 'giao', '2027-01-03T02:00:00.000Z');
                     UPDATE documents SET cancelled_at = '2027-01-04T02:00:00.000Z', cancel_reason = 'thu hồi'
                       WHERE id = 'IN2';",
                )
                .map_err(StoreError::sqlite("change after closing"))
        })
        .await
        .expect("change");
    assert_eq!(
        csv_now(&store),
        before,
        "the closed register reads as it was"
    );
    let again = store
        .close_register(kind, 2026, "2027-02-01T00:00:00.000Z".into(), |rows| {
            Ok::<_, String>(RegisterDigest {
                digest: "c".repeat(64),
                entries: rows.len() as u32,
            })
        })
        .await
        .expect("store")
        .expect("digest");
    assert!(matches!(again, CloseOutcome::AlreadyClosed(_)), "{again:?}");
    store.close();
}
