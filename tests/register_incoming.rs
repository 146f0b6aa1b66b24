//! The registers fed by a real exchange (the district, the axis and the commune, each a
//! real process): the commune's incoming register (sổ văn bản đến) after the clerk accepts
//! (03) documents sent by the district — author (the sender's name and code), number and
//! notation, document date, type and trích yếu, số đến in order of acceptance — with a
//! recalled document kept and noted as cancelled (thu hồi) with the reason, and a replaced
//! document and its replacement noting each other; the district's outgoing register (sổ
//! văn bản đi) with the date each document was sent and the notes of the recall and the
//! replacement; then closing the incoming year.
//!
//! Closing needs a year that has ended. `docgate run` has no injectable clock (it always
//! runs on `SystemClock`; `system::clock::SettableClock` is for in-process use), so the
//! running daemon is only shown refusing to close the current year; the register built by
//! the exchange is then closed in-process on the commune's state directory with a settable
//! instant (refused at 23:59:59 on 31 December Vietnam time, closed at 00:00:00 on 1
//! January), as `tests/register_export.rs` does for its past year, and the restarted
//! daemon serves the closure, whose digest is the SHA-256 of the CSV it serves.
#![allow(clippy::disallowed_methods)] // Tests inspect the database independently, read-only.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::exchange::{documents, wait_for, Exchange};
use common::registers::{code_of, Api};
use common::{docgate, sha256_hex, GatewayProcess};
use docgate::store::registers::{CloseOutcome, RegisterKind};
use docgate::store::Store;
use docgate::workflow::register::RegisterError;
use docgate::workflow::register_export::{close_register, ExportError};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);

fn vietnam_today() -> String {
    time::OffsetDateTime::now_utc()
        .to_offset(docgate::system::clock::VIETNAM)
        .date()
        .to_string()
}

/// `YYYY-MM-DD` → `dd/mm/yyyy`.
fn vietnamese(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    format!("{}/{}/{}", parts[2], parts[1], parts[0])
}

fn meta(to: &str, subject: &str, type_name: &str, notation: &str) -> Value {
    json!({
        "to": [to],
        "subject": subject,
        "type": {"code": 1, "name": type_name},
        "code_number": null,
        "code_notation": notation,
        "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
        "priority": 0,
        "due_date": "2026-12-31"
    })
}

fn post_json(gateway: &GatewayProcess, path: &str, body: &Value) -> (u16, Value) {
    let response = gateway
        .client
        .post(format!("{}{path}", gateway.url))
        .bearer_auth(&gateway.token)
        .json(body)
        .send()
        .expect("POST");
    common::into_json(response)
}

fn status(gateway: &GatewayProcess, id: &str, body: Value) -> Value {
    let (code, answer) = post_json(gateway, &format!("/api/v1/documents/{id}/status"), &body);
    assert_eq!(code, 202, "{body}: {answer}");
    answer
}

fn document(gateway: &GatewayProcess, id: &str) -> Value {
    let (code, document) = gateway.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(code, 200, "{document}");
    document
}

fn arrived(commune: &GatewayProcess, subject: &str) -> String {
    wait_for(LIMIT, || {
        documents(commune, "in")
            .into_iter()
            .find(|document| document["subject"] == subject)
            .and_then(|document| document["id"].as_str().map(str::to_string))
    })
    .unwrap_or_else(|| panic!("{subject} did not arrive at the commune"))
}

/// Waits until the district has status `code` from `organ` about `id`.
fn status_reached(district: &GatewayProcess, id: &str, organ: &str, code: &str) {
    wait_for(LIMIT, || {
        document(district, id)["recipients"]
            .as_array()?
            .iter()
            .find(|recipient| recipient["organ_id"] == organ)?["statuses"]
            .as_array()?
            .iter()
            .any(|status| status["code"] == code)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("the district never saw {code} from {organ} about {id}"));
}

/// One document the district sent: its ids on both sides and its DocumentId.
struct Sent {
    out: String,
    incoming: String,
    document_id: String,
    subject: String,
}

#[test]
fn registers_fed_by_the_exchange_note_recall_and_replacement_and_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exchange = Exchange::setup(dir.path());
    exchange.set_gateway_option("axis", "retry_max_ms", "500");
    let _axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    let commune_dir = exchange.gateway("commune");
    let mut commune = commune_dir.start();
    let commune_id = exchange.organ_id("commune");
    let district_id = exchange.organ_id("district");
    let district_name = organ_name(&exchange.gateway("district").config);
    let year = time::OffsetDateTime::now_utc()
        .to_offset(docgate::system::clock::VIETNAM)
        .year();
    let today_before = vietnam_today();

    let send = |subject: &str, type_name: &str, notation: &str| -> Sent {
        let (code, body) = district.post_document(
            &meta(&commune_id, subject, type_name, notation),
            &[(
                "van-ban.pdf",
                "application/pdf",
                common::sample_pdf(subject),
            )],
            None,
        );
        assert_eq!(code, 202, "{body}");
        Sent {
            out: body["id"].as_str().expect("id").to_string(),
            incoming: arrived(&commune, subject),
            document_id: body["document_id"]
                .as_str()
                .expect("document_id")
                .to_string(),
            subject: subject.to_string(),
        }
    };
    let decision = send(
        "Quyết định về việc giao chỉ tiêu năm",
        "Quyết định",
        "QĐ-UBND",
    );
    let recalled = send("Về việc báo cáo số liệu quý", "Công văn", "UBND-VP");
    let replaced = send("Về việc tổ chức hội nghị", "Công văn", "UBND-VP");
    let refused = send("Về việc gửi nhầm", "Công văn", "UBND-VP");
    for sent in [&decision, &recalled, &replaced, &refused] {
        status_reached(&district, &sent.out, &commune_id, "01");
    }

    // The clerk accepts three (số đến 1, 2, 3 in that order), refuses one, passes one on.
    for (sent, number) in [(&decision, 1), (&recalled, 2), (&replaced, 3)] {
        let answer = status(&commune, &sent.incoming, json!({"code": "03"}));
        assert_eq!(answer["incoming_number"], number, "{answer}");
    }
    status(
        &commune,
        &refused.incoming,
        json!({"code": "02", "description": "Gửi nhầm cơ quan"}),
    );
    status(
        &commune,
        &decision.incoming,
        json!({"code": "04", "description": "Giao phòng Tài chính"}),
    );

    // The district recalls one; the commune's clerk agrees (15).
    let recall_reason = "Sai số liệu, sẽ ban hành văn bản khác";
    let (code, answer) = post_json(
        &district,
        &format!("/api/v1/documents/{}/recall", recalled.out),
        &json!({"reason": recall_reason}),
    );
    assert_eq!(code, 202, "{answer}");
    wait_for(LIMIT, || {
        document(&commune, &recalled.incoming)["requests"]
            .as_array()?
            .iter()
            .any(|request| request["kind"] == "recall" && request["answer"].is_null())
            .then_some(())
    })
    .expect("the recall request reached the commune");
    let answer = status(&commune, &recalled.incoming, json!({"code": "15"}));
    assert_eq!(answer["cancelled"], true, "{answer}");
    status_reached(&district, &recalled.out, &commune_id, "15");

    // The district replaces another; the commune accepts the replacement (số đến 4).
    let replacement_subject = "Về việc tổ chức hội nghị (thay thế)";
    let form = reqwest::blocking::multipart::Form::new()
        .text(
            "meta",
            meta(&commune_id, replacement_subject, "Công văn", "UBND-VP").to_string(),
        )
        .part(
            "file",
            reqwest::blocking::multipart::Part::bytes(common::sample_pdf(replacement_subject))
                .file_name("thay-the.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
    let (code, body) = common::into_json(
        district
            .client
            .post(format!(
                "{}/api/v1/documents/{}/replace",
                district.url, replaced.out
            ))
            .bearer_auth(&district.token)
            .multipart(form)
            .send()
            .expect("POST replace"),
    );
    assert_eq!(code, 202, "{body}");
    let replacement = Sent {
        out: body["id"].as_str().expect("id").to_string(),
        incoming: arrived(&commune, replacement_subject),
        document_id: body["document_id"]
            .as_str()
            .expect("document_id")
            .to_string(),
        subject: replacement_subject.to_string(),
    };
    let answer = status(&commune, &replacement.incoming, json!({"code": "03"}));
    assert_eq!(answer["incoming_number"], 4, "{answer}");
    for sent in [&decision, &recalled, &replaced, &refused, &replacement] {
        wait_for(LIMIT, || {
            (document(&district, &sent.out)["state"] == "queued").then_some(())
        })
        .unwrap_or_else(|| panic!("{} never left the district", sent.subject));
    }
    status_reached(&district, &replacement.out, &commune_id, "03");
    let today_after = vietnam_today();
    let today: BTreeSet<String> = [today_before, today_after].into();

    // The commune's incoming register.
    let (code, register) = commune.get_json(&format!("/api/v1/registers/in?year={year}"));
    assert_eq!(code, 200, "{register}");
    assert_eq!(register["register"], "in");
    assert_eq!(register["closed"], Value::Null);
    let entries = register["entries"].as_array().expect("entries");
    let listed: Vec<(&str, u64)> = entries
        .iter()
        .map(|entry| {
            (
                entry["id"].as_str().expect("id"),
                entry["incoming_number"].as_u64().expect("số đến"),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (decision.incoming.as_str(), 1),
            (recalled.incoming.as_str(), 2),
            (replaced.incoming.as_str(), 3),
            (replacement.incoming.as_str(), 4),
        ],
        "accepted documents in số đến order; the refused one is not registered"
    );
    let author = format!("{district_name} ({district_id})");
    for (entry, sent, type_name) in [
        (&entries[0], &decision, "Quyết định"),
        (&entries[1], &recalled, "Công văn"),
        (&entries[2], &replaced, "Công văn"),
        (&entries[3], &replacement, "Công văn"),
    ] {
        assert_eq!(entry["author"], author.as_str(), "{entry}");
        assert_eq!(
            entry["number_notation"],
            code_of(&sent.document_id),
            "{entry}"
        );
        assert_eq!(
            entry["document_date"],
            date_of(&sent.document_id).as_str(),
            "{entry}"
        );
        assert_eq!(entry["type_name"], type_name, "{entry}");
        assert_eq!(entry["summary"], sent.subject.as_str(), "{entry}");
        assert!(
            today.contains(entry["date_received"].as_str().expect("date_received")),
            "{entry}"
        );
    }
    assert!(
        code_of(&decision.document_id).ends_with("/QĐ-UBND"),
        "{}",
        decision.document_id
    );
    assert!(today.contains(entries[0]["date_passed_on"].as_str().expect("passed on")));
    assert_eq!(entries[1]["date_passed_on"], Value::Null);
    let notes = |entry: &Value| -> Vec<String> {
        entry["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .map(|note| note.as_str().expect("note").to_string())
            .collect()
    };
    assert!(
        !notes(&entries[0])
            .iter()
            .any(|note| note.contains("thu hồi") || note.contains("thay thế")),
        "{:?}",
        notes(&entries[0])
    );
    let recalled_notes = notes(&entries[1]);
    assert!(
        recalled_notes
            .iter()
            .any(|note| note.contains("Đã hủy (thu hồi)") && note.contains(recall_reason)),
        "the recalled document stays, noted cancelled with the reason: {recalled_notes:?}"
    );
    let replaced_notes = notes(&entries[2]);
    assert!(
        replaced_notes
            .iter()
            .any(|note| note.contains("thay thế") && note.contains(&replacement.document_id)),
        "the replaced document notes its replacement: {replaced_notes:?}"
    );
    let replacement_notes = notes(&entries[3]);
    assert!(
        replacement_notes
            .iter()
            .any(|note| note.contains("Thay thế") && note.contains(&replaced.document_id)),
        "the replacement notes what it replaces: {replacement_notes:?}"
    );

    // The same as CSV, with the Phụ lục IV columns.
    let (code, csv) = commune.get_bytes(&format!("/api/v1/registers/in?year={year}&format=csv"));
    assert_eq!(code, 200);
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    let mut reader = csv::Reader::from_reader(&csv[3..]);
    let headers: Vec<String> = reader
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect();
    let column = |name: &str| {
        headers
            .iter()
            .position(|header| header == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {headers:?}"))
    };
    let records: Vec<csv::StringRecord> =
        reader.records().collect::<Result<_, _>>().expect("records");
    assert_eq!(records.len(), 4);
    for (record, entry) in records.iter().zip(entries) {
        assert_eq!(
            &record[column("Số đến")],
            entry["incoming_number"].to_string()
        );
        assert_eq!(&record[column("Tác giả")], author);
        assert_eq!(
            &record[column("Số, ký hiệu")],
            entry["number_notation"].as_str().expect("number")
        );
        assert_eq!(
            &record[column("Ngày tháng")],
            vietnamese(entry["document_date"].as_str().expect("date"))
        );
        assert_eq!(
            &record[column("Ngày đến")],
            vietnamese(entry["date_received"].as_str().expect("date"))
        );
        assert_eq!(
            &record[column("Tên loại và trích yếu nội dung")],
            format!(
                "{}: {}",
                entry["type_name"].as_str().expect("type"),
                entry["summary"].as_str().expect("summary")
            )
        );
        assert_eq!(&record[column("Ghi chú")], notes(entry).join("; "));
        assert_eq!(
            &record[column("Mã trên cổng (id)")],
            entry["id"].as_str().expect("id")
        );
    }
    assert_eq!(
        &records[0][column("Ngày chuyển")],
        vietnamese(entries[0]["date_passed_on"].as_str().expect("date"))
    );
    let (code, html) = commune.get_bytes(&format!("/api/v1/registers/in?year={year}&format=html"));
    assert_eq!(code, 200);
    let html = String::from_utf8(html).expect("utf-8");
    assert!(html.contains(&format!("SỔ ĐĂNG KÝ VĂN BẢN ĐẾN — năm {year}")));
    assert!(html.contains(&author));

    // The district's outgoing register: date sent, and the notes of the recall and the
    // replacement.
    let (code, outgoing) = district.get_json(&format!("/api/v1/registers/out?year={year}"));
    assert_eq!(code, 200, "{outgoing}");
    let out_entries = outgoing["entries"].as_array().expect("entries");
    let entry_of = |sent: &Sent| -> Value {
        out_entries
            .iter()
            .find(|entry| entry["id"] == sent.out.as_str())
            .unwrap_or_else(|| panic!("{} is not in the outgoing register", sent.subject))
            .clone()
    };
    for sent in [&decision, &recalled, &replaced, &refused, &replacement] {
        let entry = entry_of(sent);
        assert_eq!(entry["number_notation"], code_of(&sent.document_id));
        assert!(
            today.contains(entry["date_sent"].as_str().expect("date_sent")),
            "{entry}"
        );
    }
    let recalled_out = notes(&entry_of(&recalled));
    assert!(
        recalled_out.iter().any(|note| note.contains("thu hồi")
            && note.contains(recall_reason)
            && note.contains(&commune_id)),
        "the recalled document's entry notes the agreed recall: {recalled_out:?}"
    );
    assert!(notes(&entry_of(&decision)).is_empty());
    assert!(notes(&entry_of(&replaced))
        .iter()
        .any(|note| note.contains(&replacement.document_id)));
    assert!(notes(&entry_of(&replacement))
        .iter()
        .any(|note| note.contains(&replaced.document_id)));
    let (code, out_csv) =
        district.get_bytes(&format!("/api/v1/registers/out?year={year}&format=csv"));
    assert_eq!(code, 200);
    let mut reader = csv::Reader::from_reader(&out_csv[3..]);
    let out_headers: Vec<String> = reader
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect();
    let sent_column = out_headers
        .iter()
        .position(|header| header == "Ngày chuyển")
        .expect("Ngày chuyển");
    let notes_column = out_headers
        .iter()
        .position(|header| header == "Ghi chú")
        .expect("Ghi chú");
    let recalled_row = reader
        .records()
        .map(|record| record.expect("record"))
        .find(|record| record.iter().next_back() == Some(recalled.out.as_str()))
        .expect("the recalled document's row");
    assert_eq!(
        &recalled_row[sent_column],
        vietnamese(entry_of(&recalled)["date_sent"].as_str().expect("date"))
    );
    assert_eq!(&recalled_row[notes_column], recalled_out.join("; "));

    // Closing: the running daemon (system clock) refuses the current year.
    let api = Api::new(&commune_dir.url, &commune_dir.token);
    let close_path = format!("/api/v1/registers/in/{year}/close");
    let (code, answer) = api.post_empty(&close_path);
    assert_eq!(code, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "year_not_ended");

    // In-process on the stopped commune's state, with the instant set: refused on the last
    // second of the year in Vietnam, closed on the first second of the next one.
    assert_eq!(commune.terminate(), Some(0), "a clean stop");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (closure, again) = runtime.block_on(async {
        let store = Store::open(&commune_dir.state_dir()).expect("open the commune's store");
        let last_second = time::Date::from_calendar_date(year, time::Month::December, 31)
            .expect("date")
            .with_hms(16, 59, 59)
            .expect("time")
            .assume_utc();
        let refused = close_register(&store, RegisterKind::Incoming, year, last_second).await;
        assert!(
            matches!(
                refused,
                Err(ExportError::Register(RegisterError::YearNotEnded { .. }))
            ),
            "{refused:?}"
        );
        let new_year = last_second + time::Duration::seconds(1);
        let closure = match close_register(&store, RegisterKind::Incoming, year, new_year).await {
            Ok(CloseOutcome::Closed(closure)) => closure,
            other => panic!("not closed: {other:?}"),
        };
        let again = close_register(
            &store,
            RegisterKind::Incoming,
            year,
            new_year + time::Duration::days(3),
        )
        .await;
        store.close();
        (closure, again)
    });
    assert_eq!(closure.entries, 4);
    assert_eq!(
        closure.digest,
        sha256_hex(&csv),
        "the digest is of the CSV served"
    );
    assert_eq!(closure.at, format!("{year}-12-31T17:00:00.000Z"));
    match again {
        Ok(CloseOutcome::AlreadyClosed(first)) => assert_eq!(first, closure),
        other => panic!("closing again: {other:?}"),
    }

    // The restarted daemon serves the closed register, unchanged, and the evidence log
    // holds the closure.
    commune = commune_dir.start();
    let (code, register) = commune.get_json(&format!("/api/v1/registers/in?year={year}"));
    assert_eq!(code, 200);
    assert_eq!(
        register["closed"],
        json!({"at": closure.at, "digest": closure.digest, "entries": 4})
    );
    let (_, csv_after) = commune.get_bytes(&format!("/api/v1/registers/in?year={year}&format=csv"));
    assert_eq!(sha256_hex(&csv_after), closure.digest);
    let (code, answer) = api.post_empty(&close_path);
    assert_eq!(
        (code, answer["error"]["code"].as_str()),
        (409, Some("year_not_ended")),
        "{answer}"
    );
    let verify = docgate()
        .args(["verify", "--evidence", "--json", "--config"])
        .arg(&commune_dir.config)
        .output()
        .expect("docgate verify --evidence");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let report: Value = serde_json::from_slice(&verify.stdout).expect("report");
    assert_eq!(report["intact"], true, "{report}");
    let connection = rusqlite::Connection::open_with_flags(
        commune_dir.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    let record: String = connection
        .query_row(
            "SELECT record_json FROM evidence WHERE kind = 'register_closed' AND document = ?1",
            [format!("register:in:{year}")],
            |row| row.get(0),
        )
        .expect("the closure's evidence record");
    let record: Value = serde_json::from_str(&record).expect("json");
    assert_eq!(record["digest"], closure.digest.as_str());
    assert_eq!(record["entries"], 4);
    drop(commune);
}

/// `organ_name` of a gateway's config.
fn organ_name(config: &std::path::Path) -> String {
    let text = std::fs::read_to_string(config).expect("config");
    text.lines()
        .find_map(|line| line.trim().strip_prefix("organ_name = "))
        .map(|value| value.trim().trim_matches('"').to_string())
        .expect("organ_name in the config")
}

/// `yyyy/MM/dd` of a DocumentId → `YYYY-MM-DD`.
fn date_of(document_id: &str) -> String {
    document_id
        .split(',')
        .nth(1)
        .expect("date in the DocumentId")
        .replace('/', "-")
}
