//! Hostile and malformed requests to the local API. Each must get a clear JSON error with a
//! fitting status, and leave the store exactly as it was: same rows, same blob files.
#![allow(clippy::disallowed_methods)] // Tests inspect the database independently, read-only.

mod common;

use common::{sample_meta, sample_pdf, GatewayDir, GatewayProcess};
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{json, Value};

/// Everything a refused request must not change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    rows: Vec<(String, i64)>,
    blobs: Vec<String>,
}

fn snapshot(gateway_dir: &GatewayDir) -> Snapshot {
    let connection = rusqlite::Connection::open_with_flags(
        gateway_dir.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    let rows = [
        "documents",
        "document_files",
        "document_events",
        "idempotency_keys",
        "register_counters",
    ]
    .iter()
    .map(|table| {
        let count: i64 = connection
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .expect("count");
        (table.to_string(), count)
    })
    .collect();
    Snapshot {
        rows,
        blobs: common::list_files(&gateway_dir.blobs_dir()),
    }
}

/// Sends one hostile request; returns the status and the JSON body.
type SendRequest = Box<dyn Fn(&GatewayProcess) -> (u16, Value)>;

struct Case {
    name: &'static str,
    status: u16,
    code: &'static str,
    send: SendRequest,
}

fn case(
    name: &'static str,
    status: u16,
    code: &'static str,
    send: impl Fn(&GatewayProcess) -> (u16, Value) + 'static,
) -> Case {
    Case {
        name,
        status,
        code,
        send: Box::new(send),
    }
}

fn pdf_part(name: &str) -> Part {
    Part::bytes(sample_pdf("hostile"))
        .file_name(name.to_string())
        .mime_str("application/pdf")
        .expect("mime")
}

fn post_form(gateway: &GatewayProcess, form: Form) -> (u16, Value) {
    let response = gateway
        .client
        .post(format!("{}/api/v1/documents", gateway.url))
        .bearer_auth(&gateway.token)
        .multipart(form)
        .send()
        .expect("send");
    common::into_json(response)
}

fn post_raw(gateway: &GatewayProcess, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = gateway
        .client
        .post(format!("{}/api/v1/documents", gateway.url))
        .bearer_auth(&gateway.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .expect("send");
    common::into_json(response)
}

/// POSTs `body` as JSON to `/api/v1/documents/{the seed document}/{action}`.
fn post_json_action(gateway: &GatewayProcess, action: &str, body: &[u8]) -> (u16, Value) {
    let id = gateway.all_document_ids().pop().expect("seed document");
    let response = gateway
        .client
        .post(format!("{}/api/v1/documents/{id}/{action}", gateway.url))
        .bearer_auth(&gateway.token)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .expect("send");
    common::into_json(response)
}

fn with_meta(change: impl Fn(&mut Value)) -> Value {
    let mut meta = sample_meta();
    change(&mut meta);
    meta
}

fn post_meta(gateway: &GatewayProcess, meta: Value) -> (u16, Value) {
    gateway.post_document(
        &meta,
        &[("a.pdf", "application/pdf", sample_pdf("x"))],
        None,
    )
}

fn cases() -> Vec<Case> {
    vec![
        case("no token", 401, "unauthorized", |g| {
            common::into_json(
                g.client
                    .post(format!("{}/api/v1/documents", g.url))
                    .multipart(Form::new().text("meta", "{}"))
                    .send()
                    .expect("send"),
            )
        }),
        case("wrong token", 401, "unauthorized", |g| {
            common::into_json(
                g.client
                    .get(format!("{}/api/v1/documents", g.url))
                    .bearer_auth("not-the-token-not-the-token")
                    .send()
                    .expect("send"),
            )
        }),
        case("token in the wrong scheme", 401, "unauthorized", |g| {
            common::into_json(
                g.client
                    .get(format!("{}/api/v1/documents", g.url))
                    .header("authorization", format!("Basic {}", g.token))
                    .send()
                    .expect("send"),
            )
        }),
        case("no meta part", 422, "invalid_meta", |g| {
            post_form(g, Form::new().part("file", pdf_part("a.pdf")))
        }),
        case("meta is not JSON", 422, "invalid_meta", |g| {
            post_form(
                g,
                Form::new()
                    .text("meta", "{not json")
                    .part("file", pdf_part("a.pdf")),
            )
        }),
        case("meta with an unknown field", 422, "invalid_meta", |g| {
            post_meta(g, with_meta(|m| m["sneaky"] = json!(1)))
        }),
        case("meta without recipients", 422, "invalid_meta", |g| {
            post_meta(g, with_meta(|m| m["to"] = json!([])))
        }),
        case(
            "recipient that is not an agency code",
            422,
            "invalid_meta",
            |g| {
                post_meta(
                    g,
                    with_meta(|m| m["to"] = json!(["'; DROP TABLE documents; --"])),
                )
            },
        ),
        case("subject of 501 characters", 422, "invalid_meta", |g| {
            post_meta(g, with_meta(|m| m["subject"] = json!("á".repeat(501))))
        }),
        case("notation with a slash", 422, "invalid_meta", |g| {
            post_meta(g, with_meta(|m| m["code_notation"] = json!("UBND/../VP")))
        }),
        case("negative number", 422, "invalid_meta", |g| {
            post_meta(g, with_meta(|m| m["code_number"] = json!(-1)))
        }),
        case("meta over 64 KiB", 413, "too_large", |g| {
            post_form(
                g,
                Form::new()
                    .text("meta", "x".repeat(70_000))
                    .part("file", pdf_part("a.pdf")),
            )
        }),
        case("two meta parts", 400, "malformed_request", |g| {
            post_form(
                g,
                Form::new()
                    .text("meta", sample_meta().to_string())
                    .text("meta", sample_meta().to_string())
                    .part("file", pdf_part("a.pdf")),
            )
        }),
        case("no file", 422, "invalid_file", |g| {
            post_form(g, Form::new().text("meta", sample_meta().to_string()))
        }),
        case("first file is not a PDF", 422, "invalid_file", |g| {
            g.post_document(
                &sample_meta(),
                &[("a.pdf", "application/pdf", b"MZ\x90\x00 not a pdf".to_vec())],
                None,
            )
        }),
        case("a .pdf annex that is not a PDF", 422, "invalid_file", |g| {
            g.post_document(
                &sample_meta(),
                &[
                    ("a.pdf", "application/pdf", sample_pdf("a")),
                    (
                        "b.pdf",
                        "application/octet-stream",
                        b"PK\x03\x04zip".to_vec(),
                    ),
                ],
                None,
            )
        }),
        case("empty file", 422, "invalid_file", |g| {
            g.post_document(
                &sample_meta(),
                &[
                    ("a.pdf", "application/pdf", sample_pdf("a")),
                    ("empty.txt", "text/plain", Vec::new()),
                ],
                None,
            )
        }),
        case("path traversal in a file name", 422, "invalid_file", |g| {
            post_form(
                g,
                Form::new()
                    .text("meta", sample_meta().to_string())
                    .part("file", pdf_part("../../etc/passwd.pdf")),
            )
        }),
        case("absolute path as a file name", 422, "invalid_file", |g| {
            post_form(
                g,
                Form::new()
                    .text("meta", sample_meta().to_string())
                    .part("file", pdf_part("/etc/cron.d/x.pdf")),
            )
        }),
        case("backslash path as a file name", 422, "invalid_file", |g| {
            post_form(
                g,
                Form::new()
                    .text("meta", sample_meta().to_string())
                    .part("file", pdf_part("..\\..\\boot.ini.pdf")),
            )
        }),
        case("a tab in a file name", 422, "invalid_file", |g| {
            post_form(
                g,
                Form::new()
                    .text("meta", sample_meta().to_string())
                    .part("file", pdf_part("a\tb.pdf")),
            )
        }),
        case(
            "an escape sequence in a part header",
            400,
            "malformed_request",
            |g| {
                post_form(
                    g,
                    Form::new()
                        .text("meta", sample_meta().to_string())
                        .part("file", pdf_part("a\u{1b}[31m.pdf")),
                )
            },
        ),
        case("more files than allowed", 422, "invalid_file", |g| {
            let mut form = Form::new().text("meta", sample_meta().to_string());
            for index in 0..4 {
                form = form.part("file", pdf_part(&format!("{index}.pdf")));
            }
            post_form(g, form)
        }),
        case("a file over the size limit", 413, "too_large", |g| {
            g.post_document(
                &sample_meta(),
                &[
                    ("a.pdf", "application/pdf", sample_pdf("a")),
                    ("big.bin", "application/octet-stream", vec![7u8; 300_000]),
                ],
                None,
            )
        }),
        case("a body over the request limit", 413, "too_large", |g| {
            g.post_document(
                &sample_meta(),
                &[
                    ("a.pdf", "application/pdf", sample_pdf("a")),
                    ("b.bin", "application/octet-stream", vec![1u8; 200_000]),
                    ("c.bin", "application/octet-stream", vec![2u8; 200_000]),
                ],
                None,
            )
        }),
        case(
            "a part that is neither meta nor a file",
            400,
            "malformed_request",
            |g| {
                post_form(
                    g,
                    Form::new()
                        .text("meta", sample_meta().to_string())
                        .text("comment", "hello")
                        .part("file", pdf_part("a.pdf")),
                )
            },
        ),
        case("not multipart at all", 400, "malformed_request", |g| {
            post_raw(
                g,
                "application/json",
                sample_meta().to_string().into_bytes(),
            )
        }),
        case(
            "multipart without a boundary",
            400,
            "malformed_request",
            |g| post_raw(g, "multipart/form-data", b"--x\r\n".to_vec()),
        ),
        case("truncated multipart body", 400, "malformed_request", |g| {
            post_raw(
                g,
                "multipart/form-data; boundary=XyZ",
                b"--XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{\"to\":".to_vec(),
            )
        }),
        case(
            "idempotency key with spaces",
            400,
            "malformed_request",
            |g| {
                g.post_document(
                    &sample_meta(),
                    &[("a.pdf", "application/pdf", sample_pdf("a"))],
                    Some("two words"),
                )
            },
        ),
        case(
            "idempotency key reused for another document",
            422,
            "idempotency_key_reused",
            |g| {
                g.post_document(
                    &sample_meta(),
                    &[("a.pdf", "application/pdf", sample_pdf("other"))],
                    Some("seed-key"),
                )
            },
        ),
        case(
            "a number already used this year",
            409,
            "duplicate_document_id",
            |g| post_meta(g, with_meta(|m| m["code_number"] = json!(1))),
        ),
        case("unknown document", 404, "not_found", |g| {
            g.get_json("/api/v1/documents/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        }),
        case("file number out of range", 404, "not_found", |g| {
            let id = g.all_document_ids().pop().expect("seed document");
            g.get_json(&format!("/api/v1/documents/{id}/files/9"))
        }),
        case(
            "file number that is not a number",
            400,
            "malformed_request",
            |g| {
                let id = g.all_document_ids().pop().expect("seed document");
                g.get_json(&format!(
                    "/api/v1/documents/{id}/files/..%2F..%2Fdocgate.sqlite3"
                ))
            },
        ),
        case("list with a bad direction", 400, "malformed_request", |g| {
            g.get_json("/api/v1/documents?direction=sideways")
        }),
        case("list with a bad state", 400, "malformed_request", |g| {
            g.get_json("/api/v1/documents?state=deleted")
        }),
        case("list with a bad since", 400, "malformed_request", |g| {
            g.get_json("/api/v1/documents?since=yesterday")
        }),
        case("list with a forged cursor", 400, "malformed_request", |g| {
            g.get_json("/api/v1/documents?cursor=' OR 1=1 --")
        }),
        case(
            "list with an unknown parameter",
            400,
            "malformed_request",
            |g| g.get_json("/api/v1/documents?limt=5"),
        ),
        // Found by fuzz/fuzz_targets/local_api_requests.rs (the input as it found it): axum's
        // rejection quoted the unknown field's name, carriage return and all, so the
        // answer's message had a second line.
        case(
            "update with a carriage return in an unknown field's name",
            400,
            "malformed_request",
            |g| post_json_action(g, "update", b"{\"\\rae \":snou{\""),
        ),
        case(
            "status with a line break in an unknown field's name",
            400,
            "malformed_request",
            |g| post_json_action(g, "status", b"{\"code\": \"03\", \"\\r\\nX-Forged\": 1}"),
        ),
        case(
            "list with a line break in an unknown parameter's name",
            400,
            "malformed_request",
            |g| g.get_json("/api/v1/documents?limit=5&%0D%0AX-Forged=1"),
        ),
        case("unknown endpoint", 404, "not_found", |g| {
            g.get_json("/api/v1/../../etc/passwd")
        }),
    ]
}

#[test]
fn hostile_requests_get_clear_errors_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = [
        ("max_files", "3"),
        ("max_file_bytes", "262144"),
        ("max_request_bytes", "400000"),
    ];
    let gateway_dir = GatewayDir::init(dir.path(), &limits);
    let gateway = gateway_dir.start();
    // One document already stored, so that "changes nothing" has something to keep.
    let (status, seed) = gateway.post_document(
        &sample_meta(),
        &[("seed.pdf", "application/pdf", sample_pdf("seed"))],
        Some("seed-key"),
    );
    assert_eq!(status, 202, "{seed}");
    let before = snapshot(&gateway_dir);
    let cases = cases();
    assert!(cases.len() >= 30);
    for case in &cases {
        let (status, body) = (case.send)(&gateway);
        assert_eq!(status, case.status, "{}: {body}", case.name);
        assert_eq!(body["error"]["code"], case.code, "{}: {body}", case.name);
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.len() > 15,
            "{}: the message must say what is wrong: {body}",
            case.name
        );
        assert!(
            !message.contains(['\n', '\r']),
            "{}: the message must be one line: {body}",
            case.name
        );
        assert_eq!(
            snapshot(&gateway_dir),
            before,
            "{} changed the store",
            case.name
        );
    }
    // The gateway is still healthy after all of it.
    let (status, _) = gateway.get_json("/healthz");
    assert_eq!(status, 200);
}
