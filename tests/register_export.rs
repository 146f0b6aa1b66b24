//! The registers as the clerk gets them from a real `docgate run`: JSON, CSV (BOM,
//! Vietnamese headers, spreadsheet formulas neutralised) and the printable HTML page
//! (escaped, A4 landscape); closing a past year (digest of the CSV in `register_closures`
//! and in the evidence log, checked by `docgate verify --evidence`), refusals, and
//! `docgate register export` giving the same bytes as the API while the daemon runs.
#![allow(clippy::disallowed_methods)] // Tests inspect the database independently.

mod common;

use std::sync::Arc;

use common::registers::{accept, intake_context, Api};
use common::{docgate, sample_meta, sample_pdf, sha256_hex, GatewayDir};
use docgate::store::Store;
use docgate::system::clock::SettableClock;
use serde_json::{json, Value};

fn current_year() -> i32 {
    time::OffsetDateTime::now_utc()
        .to_offset(docgate::system::clock::VIETNAM)
        .year()
}

/// Documents of last year, written in-process with the clock set back (before the daemon
/// starts on the same state directory): two secret ones (final: closable) and one general
/// one that has not been sent (so its register may not be closed yet).
fn documents_of_last_year(gateway_dir: &GatewayDir, year: i32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Store::open(&gateway_dir.state_dir()).expect("open");
        let instant = time::Date::from_calendar_date(year, time::Month::June, 1)
            .expect("date")
            .with_hms(3, 0, 0)
            .expect("time")
            .assume_utc();
        let context = intake_context(Arc::new(SettableClock::new(instant)), None);
        for (subject, secret) in [("mật một", true), ("thường", false), ("mật hai", true)]
        {
            let mut meta = sample_meta();
            meta["subject"] = subject.into();
            meta["secret"] = secret.into();
            accept(&store, &context, &meta, None).await.expect("accept");
        }
        store.close();
    });
}

fn hostile_meta() -> Value {
    let mut meta = sample_meta();
    meta["subject"] = "<script>alert('x')</script> & \"trích yếu\"".into();
    meta["signer"]["competence"] = "=1+2".into();
    meta["signer"]["name"] = "=HYPERLINK(\"http://evil\",\"click\")".into();
    meta["file_copy_keeper"] = "@SUM(A1)".into();
    meta["copies"] = 3.into();
    meta["to"] = json!(["000.00.00.H41", "000.00.00.G22"]);
    meta
}

#[test]
fn registers_export_close_and_match_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let last_year = current_year() - 1;
    documents_of_last_year(&gateway_dir, last_year);
    let mut gateway = gateway_dir.start();
    let api = Api::new(&gateway_dir.url, &gateway_dir.token);
    let year = current_year();
    let (status, hostile) = api
        .post(&hostile_meta(), &sample_pdf("hostile"), None)
        .expect("POST");
    assert_eq!(status, 202, "{hostile}");
    api.post(&sample_meta(), &sample_pdf("plain"), None)
        .expect("POST");

    // JSON.
    let (status, register) = api.get_json(&format!("/api/v1/registers/out?year={year}"));
    assert_eq!(status, 200, "{register}");
    assert_eq!(register["register"], "out");
    assert_eq!(register["year"], year);
    assert_eq!(register["series"], "general");
    assert_eq!(register["closed"], Value::Null);
    let entries = register["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    let first = &entries[0];
    assert_eq!(first["id"], hostile["id"]);
    assert_eq!(first["number"], 1);
    assert_eq!(first["number_notation"], "01/UBND-VP");
    assert_eq!(first["type_name"], "Công văn");
    assert_eq!(
        first["recipients"],
        json!(["000.00.00.H41", "000.00.00.G22"])
    );
    assert_eq!(first["copies"], 3);
    assert_eq!(
        first["file_copy_keeper"], "@SUM(A1)",
        "JSON keeps the value as sent"
    );
    assert_eq!(first["date_sent"], Value::Null);
    assert!(first["date"]
        .as_str()
        .expect("date")
        .starts_with(&year.to_string()));

    // CSV.
    let csv_path = format!("/api/v1/registers/out?year={year}&format=csv");
    let (status, content_type, csv) = api.get(&csv_path);
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/csv; charset=utf-8");
    assert!(
        csv.starts_with(b"\xEF\xBB\xBF"),
        "UTF-8 with BOM, for Excel"
    );
    let mut reader = csv::Reader::from_reader(&csv[3..]);
    let headers: Vec<String> = reader
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect();
    for expected in [
        "Số, ký hiệu văn bản",
        "Ngày tháng văn bản",
        "Tên loại và trích yếu nội dung văn bản",
        "Người ký",
        "Nơi nhận văn bản",
        "Đơn vị, người nhận bản lưu",
        "Số lượng bản",
        "Ngày chuyển",
        "Ký nhận",
        "Ghi chú",
    ] {
        assert!(
            headers.iter().any(|header| header == expected),
            "{expected}"
        );
    }
    let records: Vec<csv::StringRecord> =
        reader.records().collect::<Result<_, _>>().expect("records");
    assert_eq!(records.len(), 2);
    assert_eq!(&records[0][0], "01/UBND-VP");
    assert_eq!(
        &records[0][2],
        "Công văn: <script>alert('x')</script> & \"trích yếu\""
    );
    assert_eq!(
        &records[0][3], "'=1+2 Chủ tịch =HYPERLINK(\"http://evil\",\"click\")",
        "formula neutralised"
    );
    assert_eq!(&records[0][5], "'@SUM(A1)", "formula neutralised");
    assert_eq!(&records[0][4], "000.00.00.H41; 000.00.00.G22");
    for record in &records {
        for cell in record {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "formula cell {cell:?}"
            );
        }
    }

    // HTML.
    let (status, content_type, html) =
        api.get(&format!("/api/v1/registers/out?year={year}&format=html"));
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/html; charset=utf-8");
    let html = String::from_utf8(html).expect("utf-8");
    assert!(html.contains(&format!("SỔ ĐĂNG KÝ VĂN BẢN ĐI — năm {year}")));
    assert!(html.contains("@page { size: A4 landscape"));
    assert!(html.contains("Văn phòng UBND"), "the agency's name");
    assert!(!html.contains("<script"), "no script, nothing unescaped");
    assert!(html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;trích yếu&quot;"));
    assert!(html.contains("Đơn vị, người nhận bản lưu"));

    refusals(&api, year);
    closing(&api, &gateway_dir, last_year, year);

    // The command line reads the same bytes, read-only, beside the running daemon.
    for (format, query) in [
        ("csv", "&format=csv"),
        ("html", "&format=html"),
        ("json", ""),
    ] {
        let (_, _, from_api) = api.get(&format!(
            "/api/v1/registers/out?year={last_year}&series=secret{query}"
        ));
        let output = dir.path().join(format!("export.{format}"));
        let run = docgate()
            .args(["register", "export", "--config"])
            .arg(&gateway_dir.config)
            .args(["--register", "out", "--year", &last_year.to_string()])
            .args(["--series", "secret", "--format", format, "--output"])
            .arg(&output)
            .output()
            .expect("docgate register export");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            std::fs::read(&output).expect("export"),
            from_api,
            "{format}"
        );
    }
    let stdout = docgate()
        .args(["register", "export", "--config"])
        .arg(&gateway_dir.config)
        .args(["--register", "in", "--year", &year.to_string()])
        .output()
        .expect("export to stdout");
    assert!(stdout.status.success());
    let (_, _, incoming_csv) = api.get(&format!("/api/v1/registers/in?year={year}&format=csv"));
    assert_eq!(stdout.stdout, incoming_csv);
    let bad = docgate()
        .args(["register", "export", "--config"])
        .arg(&gateway_dir.config)
        .args(["--register", "sideways", "--year", "2026"])
        .output()
        .expect("bad export");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no register"));

    // A closed register that changes afterwards is reported, never closed again.
    assert_eq!(gateway.terminate(), Some(0));
    let connection = rusqlite::Connection::open(gateway_dir.database()).expect("open");
    connection
        .execute(
            "UPDATE documents SET cancelled_at = '2026-01-02T00:00:00.000Z', cancel_reason = 'x'
             WHERE register_series = 'secret' AND code_number = 1",
            [],
        )
        .expect("change a closed register");
    drop(connection);
    let _gateway = gateway_dir.start();
    let (status, changed) = api.post_empty(&format!(
        "/api/v1/registers/out/{last_year}/close?series=secret"
    ));
    assert_eq!(status, 409, "{changed}");
    assert_eq!(changed["error"]["code"], "register_changed");
}

fn refusals(api: &Api, year: i32) {
    for (path, code) in [
        (
            format!("/api/v1/registers/sideways?year={year}"),
            "unknown_register",
        ),
        (
            "/api/v1/registers/out?year=abcd".to_string(),
            "malformed_request",
        ),
        (
            "/api/v1/registers/out?year=1999".to_string(),
            "malformed_request",
        ),
        (
            "/api/v1/registers/out?year=10000".to_string(),
            "malformed_request",
        ),
        ("/api/v1/registers/out".to_string(), "malformed_request"),
        (
            format!("/api/v1/registers/out?year={year}&format=pdf"),
            "malformed_request",
        ),
        (
            format!("/api/v1/registers/out?year={year}&series=mat"),
            "malformed_request",
        ),
        (
            format!("/api/v1/registers/in?year={year}&series=secret"),
            "malformed_request",
        ),
        (
            format!("/api/v1/registers/out?year={year}&colour=red"),
            "malformed_request",
        ),
    ] {
        let (status, answer) = api.get_json(&path);
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{path}: {answer}");
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let (status, answer) = api.post_empty("/api/v1/registers/out/20x6/close");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("malformed_request"))
    );
    let unauthenticated = Api::new(&api.url, "wrong-token-of-at-least-24-chars");
    let (status, _) = unauthenticated.get_json(&format!("/api/v1/registers/out?year={year}"));
    assert_eq!(status, 401);
}

fn closing(api: &Api, gateway_dir: &GatewayDir, last_year: i32, year: i32) {
    // The current year (and a later one) cannot be closed.
    for closing_year in [year, year + 1] {
        let (status, answer) =
            api.post_empty(&format!("/api/v1/registers/out/{closing_year}/close"));
        assert_eq!(status, 409, "{answer}");
        assert_eq!(answer["error"]["code"], "year_not_ended");
    }
    // Last year's general register still has an unsent document.
    let (status, answer) = api.post_empty(&format!("/api/v1/registers/out/{last_year}/close"));
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "register_not_all_sent");

    let secret_csv = format!("/api/v1/registers/out?year={last_year}&series=secret&format=csv");
    let (_, _, csv) = api.get(&secret_csv);
    let close = format!("/api/v1/registers/out/{last_year}/close?series=secret");
    let (status, closed) = api.post_empty(&close);
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["already_closed"], false);
    assert_eq!(closed["series"], "secret");
    assert_eq!(closed["closed"]["entries"], 2);
    assert_eq!(
        closed["closed"]["digest"],
        sha256_hex(&csv),
        "the digest is of the CSV"
    );
    let (status, again) = api.post_empty(&close);
    assert_eq!(status, 200);
    assert_eq!(again["already_closed"], true);
    assert_eq!(again["closed"], closed["closed"]);
    let (_, register) = api.get_json(&format!(
        "/api/v1/registers/out?year={last_year}&series=secret"
    ));
    assert_eq!(register["closed"], closed["closed"]);
    assert_eq!(register["entries"][1]["number_notation"], "02/UBND-VP");
    let (_, _, html) = api.get(&format!(
        "/api/v1/registers/out?year={last_year}&series=secret&format=html"
    ));
    let html = String::from_utf8(html).expect("utf-8");
    assert!(html.contains(&format!("SỔ ĐĂNG KÝ VĂN BẢN ĐI (MẬT) — năm {last_year}")));
    assert!(html.contains(closed["closed"]["digest"].as_str().expect("digest")));
    // The (empty) incoming register of last year closes too.
    let (status, incoming) = api.post_empty(&format!("/api/v1/registers/in/{last_year}/close"));
    assert_eq!(status, 200, "{incoming}");
    assert_eq!(incoming["closed"]["entries"], 0);

    // Both closures are in the evidence log, which stays intact.
    let verify = docgate()
        .args(["verify", "--evidence", "--json", "--config"])
        .arg(&gateway_dir.config)
        .output()
        .expect("docgate verify --evidence");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let report: Value = serde_json::from_slice(&verify.stdout).expect("report");
    assert_eq!(report["records"], 2, "{report}");
    assert_eq!(report["intact"], true);
    let connection = rusqlite::Connection::open_with_flags(
        gateway_dir.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    let record: String = connection
        .query_row(
            "SELECT record_json FROM evidence WHERE kind = 'register_closed' AND document = ?1",
            [format!("register:out-secret:{last_year}")],
            |row| row.get(0),
        )
        .expect("evidence record");
    let record: Value = serde_json::from_str(&record).expect("json");
    assert_eq!(record["digest"], closed["closed"]["digest"]);
    assert_eq!(record["entries"], 2);
    assert_eq!(record["year"], last_year);
}
