//! The local API end to end, against a real `docgate run` child process.

mod common;

use common::{sample_meta, sample_pdf, sha256_hex, GatewayDir};

#[test]
fn a_document_is_accepted_numbered_listed_and_served_back_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let gateway = gateway_dir.start();
    let pdf = sample_pdf("first");
    let annex = b"Phu luc: bang so lieu\n".repeat(1000);
    let (status, answer) = gateway.post_document(
        &sample_meta(),
        &[
            ("Công văn số 1.pdf", "application/pdf", pdf.clone()),
            ("phu-luc.txt", "text/plain", annex.clone()),
        ],
        None,
    );
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["state"], "accepted");
    let document_id = answer["document_id"].as_str().expect("document_id");
    assert!(
        document_id.starts_with("000.00.01.H41,") && document_id.ends_with(",01/UBND-VP"),
        "{document_id}"
    );
    let id = answer["id"].as_str().expect("id");

    let (status, document) = gateway.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(status, 200);
    assert_eq!(document["direction"], "out");
    assert_eq!(document["meta"]["subject"], "Về việc báo cáo tình hình");
    assert_eq!(document["files"][0]["name"], "Công văn số 1.pdf");
    assert_eq!(document["files"][0]["sha256"], sha256_hex(&pdf));
    assert_eq!(document["events"][0]["kind"], "accepted");

    let (status, body) = gateway.get_bytes(&format!("/api/v1/documents/{id}/files/1"));
    assert_eq!(status, 200);
    assert_eq!(body, pdf);
    let (status, body) = gateway.get_bytes(&format!("/api/v1/documents/{id}/files/2"));
    assert_eq!(status, 200);
    assert_eq!(body, annex);

    // The next document gets the next number; an office-chosen number is kept, and the
    // register goes on from its own last number (03), stepping over 07 when it gets there.
    let (_, second) = gateway.post_document(
        &sample_meta(),
        &[("b.pdf", "application/pdf", sample_pdf("second"))],
        None,
    );
    assert!(
        second["document_id"]
            .as_str()
            .expect("id")
            .ends_with(",02/UBND-VP"),
        "{second}"
    );
    let mut chosen = sample_meta();
    chosen["code_number"] = 7.into();
    chosen["code_notation"] = "QĐ-UBND".into();
    let (status, third) = gateway.post_document(
        &chosen,
        &[("c.pdf", "application/pdf", sample_pdf("third"))],
        None,
    );
    assert_eq!(status, 202, "{third}");
    assert!(
        third["document_id"]
            .as_str()
            .expect("id")
            .ends_with(",07/QĐ-UBND"),
        "{third}"
    );
    let (_, fourth) = gateway.post_document(
        &sample_meta(),
        &[("d.pdf", "application/pdf", sample_pdf("fourth"))],
        None,
    );
    assert!(
        fourth["document_id"]
            .as_str()
            .expect("id")
            .ends_with(",03/UBND-VP"),
        "numbers never repeat, and the office's 07 leaves no gap before it: {fourth}"
    );

    let (status, list) = gateway.get_json("/api/v1/documents?direction=out&state=accepted&limit=2");
    assert_eq!(status, 200);
    let page = list["documents"].as_array().expect("documents");
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["id"], fourth["id"], "newest first");
    let cursor = list["next_cursor"].as_str().expect("a second page");
    let (_, rest) = gateway.get_json(&format!("/api/v1/documents?limit=2&cursor={cursor}"));
    let rest = rest["documents"].as_array().expect("documents");
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[1]["id"], answer["id"]);
    let (_, incoming) = gateway.get_json("/api/v1/documents?direction=in");
    assert_eq!(
        incoming["documents"].as_array().expect("documents").len(),
        0
    );
    let (_, future) = gateway.get_json("/api/v1/documents?since=2999-01-01T00:00:00%2B07:00");
    assert_eq!(future["documents"].as_array().expect("documents").len(), 0);
}

#[test]
fn a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let gateway = gateway_dir.start();
    let files = [("a.pdf", "application/pdf", sample_pdf("idempotent"))];
    let (status, first) = gateway.post_document(&sample_meta(), &files, Some("office-42"));
    assert_eq!(status, 202);
    let (status, again) = gateway.post_document(&sample_meta(), &files, Some("office-42"));
    assert_eq!(status, 202);
    assert_eq!(first, again);
    assert_eq!(gateway.all_document_ids().len(), 1);

    // Same key, different request: refused, nothing stored.
    let other = [("a.pdf", "application/pdf", sample_pdf("something else"))];
    let (status, refused) = gateway.post_document(&sample_meta(), &other, Some("office-42"));
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");
    assert_eq!(gateway.all_document_ids().len(), 1);

    // Concurrent retries of one request still make one document.
    let meta = sample_meta();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| gateway.post_document(&meta, &files, Some("burst-1"))))
            .collect();
        let answers: Vec<_> = handles
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .collect();
        for (status, answer) in &answers {
            assert_eq!(*status, 202, "{answer}");
            assert_eq!(answer, &answers[0].1);
        }
    });
    assert_eq!(gateway.all_document_ids().len(), 2);
}

/// A stand-alone gateway never fetches an agency directory, so it checks recipients only
/// for their shape: any well-formed code is accepted (`tests/agency_directory.rs` has the
/// gateway with a directory).
#[test]
fn without_an_agency_directory_any_well_formed_recipient_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let gateway = gateway_dir.start();
    let (status, facts) = gateway.get_json("/api/v1/status");
    assert_eq!(status, 200, "{facts}");
    assert_eq!(
        facts["directory"],
        serde_json::json!({"agencies": 0, "refreshed_at": null, "age_secs": null})
    );
    let mut meta = sample_meta();
    meta["to"] = serde_json::json!(["999.99.99.Z99", "000.00.00.H42"]);
    let files = [("a.pdf", "application/pdf", sample_pdf("any recipient"))];
    let (status, answer) = gateway.post_document(&meta, &files, None);
    assert_eq!(status, 202, "{answer}");
}

#[test]
fn documents_survive_a_clean_restart_and_sigterm_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let mut gateway = gateway_dir.start();
    let pdf = sample_pdf("restart");
    let (_, answer) = gateway.post_document(
        &sample_meta(),
        &[("a.pdf", "application/pdf", pdf.clone())],
        None,
    );
    assert_eq!(gateway.terminate(), Some(0));
    let gateway = gateway_dir.start();
    let id = answer["id"].as_str().expect("id");
    let (status, body) = gateway.get_bytes(&format!("/api/v1/documents/{id}/files/1"));
    assert_eq!(status, 200);
    assert_eq!(body, pdf);
    assert_eq!(common::integrity_check(&gateway_dir.database()), "ok");
}

#[test]
fn config_check_and_run_share_one_validator_and_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let output = common::docgate()
        .args(["config", "check"])
        .arg(&gateway_dir.config)
        .output()
        .expect("check");
    assert!(output.status.success());

    let broken = dir.path().join("broken.toml");
    let text = std::fs::read_to_string(&gateway_dir.config)
        .expect("read")
        .replace("organ_id", "organ_idd");
    std::fs::write(&broken, text).expect("write");
    for args in [vec!["config", "check"], vec!["run", "--config"]] {
        let output = common::docgate()
            .args(&args)
            .arg(&broken)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(78), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("organ_idd"),
            "the error names the key: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    }
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["config", "init", "--help"],
        vec!["config", "check", "--help"],
        vec!["demo", "--help"],
        vec!["edxml", "parse", "--help"],
        vec!["edxml", "build", "--help"],
    ] {
        let output = common::docgate().args(&args).output().expect("help");
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn list_filters_refuse_what_they_cannot_read_and_find_what_they_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]).start();
    for (tag, priority) in [("thường", 0), ("hỏa tốc", 3)] {
        let mut meta = sample_meta();
        meta["subject"] = format!("Công văn {tag}").into();
        meta["priority"] = priority.into();
        let files = [("van-ban.pdf", "application/pdf", sample_pdf(tag))];
        let (status, answer) = gateway.post_document(&meta, &files, None);
        assert_eq!(status, 202, "{answer}");
    }
    for bad in [
        "direction=",
        "state=sent-ish",
        "business_status=07",
        "business_status=3",
        "overdue=yes",
        "priority_min=5",
        "priority_min=-1",
        "limit=0",
        "limit=501",
        "q=",
        "cursor=not-a-cursor",
        "unknown=1",
    ] {
        let (status, body) = gateway.get_json(&format!("/api/v1/documents?{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "malformed_request", "{bad}");
    }
    let (status, page) = gateway.get_json("/api/v1/documents?priority_min=3");
    assert_eq!(status, 200);
    let documents = page["documents"].as_array().expect("documents");
    assert_eq!(documents.len(), 1, "{page}");
    assert_eq!(documents[0]["subject"], "Công văn hỏa tốc");
    assert_eq!(documents[0]["priority"], 3);
    assert_eq!(documents[0]["overdue"], false);
    let (_, page) = gateway.get_json("/api/v1/documents?q=th%C6%B0%E1%BB%9Dng");
    assert_eq!(
        page["documents"].as_array().map(Vec::len),
        Some(1),
        "{page}"
    );
}
