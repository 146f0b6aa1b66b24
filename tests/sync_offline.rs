//! A gateway whose axis is unreachable keeps working offline: it accepts documents, packs
//! them, reports the link down with the last error, and answers 507 once its storage quota
//! is reached, accepting again after the quota is raised. No axis runs in these tests.

mod common;

use std::time::{Duration, Instant};

use common::{add_axis_section, free_port, list_files, sample_meta, sample_pdf, GatewayDir};
use serde_json::Value;

fn set_quota(gateway: &GatewayDir, quota: u64) {
    let text = std::fs::read_to_string(&gateway.config).expect("read config");
    let text: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("disk_quota_bytes =") {
                format!("disk_quota_bytes = {quota}")
            } else {
                line.to_string()
            }
        })
        .collect();
    std::fs::write(&gateway.config, text.join("\n")).expect("write config");
}

fn eventually(limit: Duration, mut check: impl FnMut() -> Option<Value>) -> Value {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "condition not met in {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn offline_gateway_accepts_reports_the_link_and_enforces_its_quota() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let axis_url = format!("https://127.0.0.1:{}", free_port());
    add_axis_section(
        &gateway_dir,
        &axis_url,
        "retry_min_ms = 50\nretry_max_ms = 400\nlong_poll_secs = 2\n",
    );
    let gateway = gateway_dir.start();

    // Documents are accepted while the axis is unreachable, and packed for later.
    let (status, answer) = gateway.post_document(
        &sample_meta(),
        &[("a.pdf", "application/pdf", sample_pdf("offline"))],
        None,
    );
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().expect("id").to_string();
    let document = eventually(Duration::from_secs(20), || {
        let (_, document) = gateway.get_json(&format!("/api/v1/documents/{id}"));
        let state = document["state"].as_str().unwrap_or("");
        (state == "packed" || state == "sent").then_some(document)
    });
    assert_eq!(
        document["exchange"]["packet_sha256"]
            .as_str()
            .expect("packet")
            .len(),
        64,
        "{document}"
    );
    assert_eq!(document["statuses"], serde_json::json!([]));

    // The link is reported down, with the last error and the waiting packet.
    let link = eventually(Duration::from_secs(20), || {
        let (status, link) = gateway.get_json("/api/v1/link");
        assert_eq!(status, 200);
        (link["last_error"].is_string() && link["outbox_depth"] == 1).then_some(link)
    });
    assert_eq!(link["configured"], true);
    assert_eq!(link["connected"], false);
    assert_eq!(link["url"], axis_url.as_str());
    assert!(link["last_attempt"].is_string(), "{link}");
    let response = gateway
        .client
        .get(format!("{}/healthz", gateway.url))
        .send()
        .expect("healthz");
    assert_eq!(response.status().as_u16(), 503);
    let health: Value = response.json().expect("json");
    assert_eq!(health["reasons"][0]["component"], "link", "{health}");
    assert_eq!(health["link"]["connected"], false);
    // /api/v1/link needs the token.
    let anonymous = gateway
        .client
        .get(format!("{}/api/v1/link", gateway.url))
        .send()
        .expect("link");
    assert_eq!(anonymous.status().as_u16(), 401);
    drop(gateway);

    // A quota below what is already used: new documents get 507 and nothing changes.
    set_quota(&gateway_dir, 4096);
    let gateway = gateway_dir.start();
    let files_before = list_files(&gateway_dir.blobs_dir());
    let ids_before = gateway.all_document_ids();
    let (status, answer) = gateway.post_document(
        &sample_meta(),
        &[("b.pdf", "application/pdf", sample_pdf("over quota"))],
        None,
    );
    assert_eq!(status, 507, "{answer}");
    assert_eq!(answer["error"]["code"], "storage_full");
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("4096") && message.contains("accepted again"),
        "{message}"
    );
    assert_eq!(gateway.all_document_ids(), ids_before);
    assert_eq!(list_files(&gateway_dir.blobs_dir()), files_before);
    // /healthz names the disk among its reasons, with what to do.
    let health: Value = gateway
        .client
        .get(format!("{}/healthz", gateway.url))
        .send()
        .and_then(|response| response.json())
        .expect("healthz");
    let disk = health["reasons"]
        .as_array()
        .and_then(|reasons| reasons.iter().find(|reason| reason["component"] == "disk"))
        .unwrap_or_else(|| panic!("no disk reason in {health}"));
    assert!(
        disk["message"]
            .as_str()
            .is_some_and(|message| message.contains("4096-byte quota")),
        "{disk}"
    );
    drop(gateway);

    // Space is back (the quota raised): accepted again.
    set_quota(&gateway_dir, 10 * 1024 * 1024 * 1024);
    let gateway = gateway_dir.start();
    let (status, answer) = gateway.post_document(
        &sample_meta(),
        &[("c.pdf", "application/pdf", sample_pdf("space again"))],
        None,
    );
    assert_eq!(status, 202, "{answer}");
}
