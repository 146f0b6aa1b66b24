//! The OpenAPI document at `/api/v1/openapi.json` against the running server:
//!
//! - it is served without a token and is exactly the library's `web::openapi::document()`;
//! - every documented operation is routed (none falls through to "no such endpoint");
//! - schemathesis, an independent tool, generates valid and invalid requests from the
//!   document and checks every answer: no server error, documented status codes, content
//!   types and schemas, invalid input refused, valid input accepted.
//!
//! schemathesis comes from PyPI; `tools/test.sh` installs it into a virtual environment and
//! sets `DOCGATE_SCHEMATHESIS`. Without it this test fails rather than pass unchecked.

mod common;

use std::process::Command;

use common::{client, sample_meta, sample_pdf, GatewayDir};
use serde_json::Value;

/// A stand-alone gateway holding two outgoing documents; answers their ids.
fn start_gateway(dir: &std::path::Path) -> (GatewayDir, common::GatewayProcess, Vec<String>) {
    let gateway = GatewayDir::init(dir, &[]);
    let process = gateway.start();
    let mut ids = Vec::new();
    for tag in ["openapi-1", "openapi-2"] {
        let mut meta = sample_meta();
        meta["subject"] = format!("OpenAPI {tag}").into();
        let files = [("van-ban.pdf", "application/pdf", sample_pdf(tag))];
        let (status, answer) = process.post_document(&meta, &files, None);
        assert_eq!(status, 202, "{answer}");
        ids.push(answer["id"].as_str().expect("id").to_string());
    }
    (gateway, process, ids)
}

#[test]
fn the_served_document_is_the_library_one_and_needs_no_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_gateway, process, _) = start_gateway(dir.path());
    let response = client()
        .get(format!("{}/api/v1/openapi.json", process.url))
        .send()
        .expect("GET openapi.json");
    assert_eq!(response.status().as_u16(), 200);
    let served: Value = response.json().expect("JSON");
    assert_eq!(served, docgate::web::openapi::document(&[]));
    assert_eq!(served["openapi"], "3.0.3");
}

#[test]
fn every_documented_operation_is_routed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_gateway, process, _) = start_gateway(dir.path());
    let document = docgate::web::openapi::document(&[]);
    let paths = document["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{n}", "1")
            .replace("{year}", "2025");
        for method in item.as_object().expect("item").keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
                .expect("an HTTP method");
            let response = client()
                .request(method.clone(), format!("{}{concrete}", process.url))
                .bearer_auth(&process.token)
                .send()
                .expect("request");
            let status = response.status().as_u16();
            let body = response.text().unwrap_or_default();
            assert!(
                !body.contains("no such endpoint") && status != 405,
                "{method} {path} is documented but not routed: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} operations");
}

/// The run's configuration. Operations on a document get real ones besides the random
/// ids the tool makes up (which only ever reach the 404 branch): the first document for a
/// recall, the second for everything else.
///
/// One check is off for the two operations that take a new document's files, because no
/// schema can say it: the first file must really be a PDF (it starts with `%PDF-`, and with
/// `[signing]` it must carry a valid leader's signature), so schema-valid random bytes are
/// rightly refused with 422 `invalid_file`. Every other check stays on for them, including
/// that invalid input is refused; `tests/local_api.rs` and `tests/status_flow.rs` cover the
/// accepted paths with real PDFs.
const SCHEMATHESIS_CONFIG: &str = r#"
[checks]
enabled = true

[[operations]]
include-operation-id = "createDocument"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-operation-id = "replaceDocument"
checks.positive_data_acceptance.enabled = false
parameters = { "path.id" = "{SECOND}" }

[[operations]]
include-operation-id = "recallDocument"
parameters = { "path.id" = "{FIRST}" }

[[operations]]
include-operation-id-regex = "^(getDocument|getDocumentFile|setStatus|updateDocument)$"
parameters = { "path.id" = "{SECOND}" }
"#;

#[test]
fn schemathesis_finds_no_mismatch() {
    let schemathesis =
        std::env::var("DOCGATE_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let (_gateway, process, ids) = start_gateway(dir.path());
    let report = dir.path().join("schemathesis");
    let config = dir.path().join("schemathesis.toml");
    let config_text = SCHEMATHESIS_CONFIG
        .replace("{FIRST}", &ids[0])
        .replace("{SECOND}", &ids[1]);
    std::fs::write(&config, config_text).expect("write schemathesis.toml");
    let output = Command::new(&schemathesis)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/api/v1/openapi.json", process.url)])
        .args(["--url", &process.url])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", process.token),
        ])
        .args(["--max-examples", "40", "--seed", "20261122"])
        .args(["--workers", "2", "--no-color", "--request-timeout", "20"])
        .arg("--report-dir")
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {schemathesis:?} ({error}); tools/test.sh installs it \
                 (pip install schemathesis==4.32.5) and sets DOCGATE_SCHEMATHESIS"
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found mismatches:\n{stdout}\n{stderr}"
    );
    // The operations on a document reached real documents, not only the 404 branch.
    assert!(!stdout.contains("Missing test data"), "{stdout}");
    // It really tested the operations (a run that tested nothing also exits 0).
    assert!(
        stdout.contains("createDocument") || stdout.contains("POST /api/v1/documents"),
        "{stdout}"
    );
}
