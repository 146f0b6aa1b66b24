//! `/healthz`, `/metrics` and `/api/v1/status` against a real `docgate run`:
//!
//! - `/metrics` is the Prometheus text format (read back by prometheus-client's own Python
//!   parser, an independent reader) and carries the facts: documents by state, queues,
//!   health by component, and the sign-latency histogram (empty without a seal);
//! - an expired link certificate makes `/healthz` answer 503 naming the certificate, and
//!   shows as a negative expiry in `/metrics`;
//! - a configuration file broken while the daemon runs is reported (a restart would fail).
//!
//! The other failures each have their test beside the feature: the axis unreachable and the
//! disk over quota in `tests/sync_offline.rs`, the token pulled out in
//! `tests/signature_token_gateway.rs`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{add_axis_section, client, free_port, sample_meta, sample_pdf, GatewayDir};
use serde_json::Value;

/// The metrics as `{name: [(labels, value)]}`, parsed by prometheus-client (Python).
fn parse_with_prometheus_client(text: &str) -> Value {
    let python = std::env::var("DOCGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        out.setdefault(sample.name, []).append([sample.labels, sample.value])
print(json.dumps(out))
"#;
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run {python} ({error}); tools/test.sh installs prometheus-client and sets DOCGATE_PYTHON")
        });
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics");
    let output = child.wait_with_output().expect("parser");
    assert!(
        output.status.success(),
        "prometheus-client could not parse /metrics: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("parser JSON")
}

fn sample(metrics: &Value, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics[name].as_array()?.iter().find_map(|entry| {
        let matches = labels
            .iter()
            .all(|(key, value)| entry[0][*key].as_str() == Some(*value));
        matches.then(|| entry[1].as_f64()).flatten()
    })
}

fn healthz(url: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{url}/healthz"))
        .send()
        .expect("healthz");
    let status = response.status().as_u16();
    (status, response.json().expect("JSON"))
}

#[test]
fn metrics_are_prometheus_text_with_the_facts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]).start();
    let files = [("van-ban.pdf", "application/pdf", sample_pdf("metrics"))];
    let (status, answer) = gateway.post_document(&sample_meta(), &files, None);
    assert_eq!(status, 202, "{answer}");
    let response = client()
        .get(format!("{}/metrics", gateway.url))
        .send()
        .expect("metrics");
    assert_eq!(response.status().as_u16(), 200, "served without a token");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().expect("body");
    assert!(!text.contains(&gateway.token), "no secret in /metrics");
    let metrics = parse_with_prometheus_client(&text);
    let documents = |state| {
        sample(
            &metrics,
            "docgate_documents",
            &[("direction", "out"), ("state", state)],
        )
    };
    assert_eq!(documents("accepted"), Some(1.0), "{metrics}");
    assert_eq!(documents("queued"), Some(0.0), "zeros are listed too");
    assert_eq!(sample(&metrics, "docgate_waiting_to_send", &[]), Some(1.0));
    assert_eq!(sample(&metrics, "docgate_link_configured", &[]), Some(0.0));
    assert_eq!(
        sample(&metrics, "docgate_health_check", &[("component", "store")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, "docgate_deliveries_received_total", &[]),
        None,
        "no delivery yet: an empty counter family"
    );
    assert_eq!(
        sample(&metrics, "docgate_sign_seconds_count", &[]),
        Some(0.0),
        "{metrics}"
    );
    for le in ["0.01", "0.1", "1.0", "5.0", "+Inf"] {
        assert_eq!(
            sample(&metrics, "docgate_sign_seconds_bucket", &[("le", le)]),
            Some(0.0),
            "bucket {le}: {metrics}"
        );
    }
    let (_, facts) = gateway.get_json("/api/v1/status");
    assert_eq!(facts["queues"]["waiting_to_send"], 1, "{facts}");
    assert_eq!(facts["agency"]["organ_id"], "000.00.01.H41");
    let kinds: Vec<&str> = facts["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|check| check["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"store_answers") && kinds.contains(&"link_standalone"),
        "every check has a stable kind: {kinds:?}"
    );
}

#[test]
fn docgate_status_prints_the_facts_and_says_when_the_daemon_is_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let mut gateway = gateway_dir.start();
    let files = [("van-ban.pdf", "application/pdf", sample_pdf("status"))];
    let (status, answer) = gateway.post_document(&sample_meta(), &files, None);
    assert_eq!(status, 202, "{answer}");
    let run = |json: bool| {
        let mut command = common::docgate();
        command
            .args(["status", "--config"])
            .arg(&gateway_dir.config);
        if json {
            command.arg("--json");
        }
        command.output().expect("docgate status")
    };
    let output = run(false);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("): working"), "{text}");
    assert!(text.contains("to send: 1"), "{text}");
    assert!(text.contains("link: no axis configured"), "{text}");
    let output = run(true);
    let facts: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(facts["queues"]["waiting_to_send"], 1);
    gateway.kill();
    let output = run(false);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is it running?"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed certificate for the key in `key_pem`, expired yesterday.
fn expired_certificate(key_pem: &str) -> String {
    let key = rcgen::KeyPair::from_pem(key_pem).expect("key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "001.01.10.H41");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(400);
    params.not_after = now - time::Duration::days(1);
    params.self_signed(&key).expect("certificate").pem()
}

#[test]
fn an_expired_link_certificate_fails_healthz_and_shows_in_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    add_axis_section(
        &gateway_dir,
        &format!("https://127.0.0.1:{}", free_port()),
        "",
    );
    let key = std::fs::read_to_string(gateway_dir.dir.join("tls/gateway.key")).expect("key");
    std::fs::write(
        gateway_dir.dir.join("tls/gateway.pem"),
        expired_certificate(&key),
    )
    .expect("write certificate");
    let mut child = common::docgate_run(&gateway_dir.config, &[])
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let health = loop {
        if let Ok(response) = client().get(format!("{}/healthz", gateway_dir.url)).send() {
            let health: Value = response.json().expect("JSON");
            let named = health["reasons"]
                .as_array()
                .is_some_and(|reasons| reasons.iter().any(|r| r["component"] == "certificate"));
            if named {
                break health;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no certificate reason"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health["status"], "unavailable");
    let reason = health["reasons"]
        .as_array()
        .and_then(|reasons| reasons.iter().find(|r| r["component"] == "certificate"))
        .expect("certificate reason");
    assert!(
        reason["message"]
            .as_str()
            .is_some_and(|m| m.contains("link certificate has expired")),
        "{reason}"
    );
    let text = client()
        .get(format!("{}/metrics", gateway_dir.url))
        .send()
        .and_then(|response| response.text())
        .expect("metrics");
    let metrics = parse_with_prometheus_client(&text);
    let left = sample(
        &metrics,
        "docgate_certificate_expiry_seconds",
        &[("role", "link")],
    )
    .expect("link expiry");
    assert!(left < -80_000.0, "expired a day ago: {left}");
    assert_eq!(
        sample(
            &metrics,
            "docgate_health_check",
            &[("component", "certificate")]
        ),
        Some(2.0)
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_configuration_broken_while_running_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let gateway = gateway_dir.start();
    assert_eq!(healthz(&gateway.url).0, 200);
    let text = std::fs::read_to_string(&gateway_dir.config).expect("config");
    std::fs::write(&gateway_dir.config, format!("{text}\n[nonsense\n")).expect("break it");
    let (status, health) = healthz(&gateway.url);
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["reasons"][0]["component"], "config", "{health}");
    assert!(
        health["reasons"][0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("would not start again")),
        "{health}"
    );
    std::fs::write(&gateway_dir.config, text).expect("repair it");
    assert_eq!(healthz(&gateway.url).0, 200);
}
