//! Signatures across the exchange, with `[signing]` on both gateways: the district accepts
//! only a leader-signed PDF, seals it with the agency key (timestamped by `openssl ts` as
//! the TSA), and the commune receives a PDF that `pdfsig` calls valid twice over, with a
//! verification report stored beside it. With the TSA down, the seal is B-B and the
//! document waits; once the TSA answers, the timestamp is added and the document leaves.
//! The status facts follow the TSA from what the sealer saw (a warning while it fails,
//! never a failing check), and `/metrics` times every signature (`docgate_sign_seconds`).

// The evidence test plays an intruder who edits the database directly.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::exchange::{documents, set_option, wait_for, Exchange};
use common::signing::{leader_signed, pdfsig};
use common::tsa::{OpensslTsa, RunningTsa};
use common::{sample_meta, sample_pdf, GatewayProcess};
use docgate::demo::pki::{SignerFiles, TestCa};
use serde_json::Value;

struct Signed {
    exchange: Exchange,
    leader: SignerFiles,
    tsa: OpensslTsa,
}

/// The demo exchange with `[signing]` on both gateways (key files, a test CA and its CRL).
fn signed_exchange(dir: &Path) -> Signed {
    let exchange = Exchange::setup(dir);
    let pki = dir.join("signing-pki");
    std::fs::create_dir_all(&pki).expect("pki");
    let ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", &pki, "ca").expect("ca");
    let leader = ca
        .issue_document_signer("Nguyễn Văn An", "UBND huyện", 31, &pki, "leader")
        .expect("leader");
    let crl = ca.revocation_list(&[], &pki, "crl").expect("crl");
    for (name, serial) in [("district", 32), ("commune", 33)] {
        let organization = format!("UBND {name}");
        let seal = ca
            .issue_document_signer(&organization, &organization, serial, &pki, name)
            .expect("seal");
        let config = &exchange.gateway(name).config;
        set_option(
            config,
            "signing",
            "key_file",
            &format!("{:?}", seal.key_file),
        );
        set_option(
            config,
            "signing",
            "trust_roots",
            &format!("[{:?}]", ca.certificate),
        );
        set_option(config, "signing", "crls", &format!("[{crl:?}]"));
    }
    let tsa = OpensslTsa::new(&ca, &dir.join("tsa"));
    Signed {
        exchange,
        leader,
        tsa,
    }
}

fn use_tsa(signed: &Signed, tsa: &RunningTsa) {
    let config = &signed.exchange.gateway("district").config;
    set_option(config, "signing", "tsa_url", &format!("{:?}", tsa.url));
    set_option(config, "signing", "tsa_timeout_secs", "2");
}

fn send_signed(signed: &Signed, district: &GatewayProcess, dir: &Path) -> String {
    let pdf = leader_signed(
        &signed.leader.key_file,
        &sample_pdf("signed across the exchange"),
        dir,
        "signed",
    );
    let mut meta = sample_meta();
    meta["to"] = serde_json::json!([signed.exchange.organ_id("commune")]);
    let (status, body) =
        district.post_document(&meta, &[("van-ban.pdf", "application/pdf", pdf)], None);
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

fn received(commune: &GatewayProcess, limit: Duration) -> Option<Value> {
    wait_for(limit, || documents(commune, "in").into_iter().next())
}

/// The check of `component` in `/api/v1/status`, with the facts.
fn check(gateway: &GatewayProcess, component: &str) -> (Value, Value) {
    let (status, facts) = gateway.get_json("/api/v1/status");
    assert_eq!(status, 200, "{facts}");
    let check = facts["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["component"] == component))
        .cloned()
        .unwrap_or_else(|| panic!("no {component} check: {facts:#}"));
    (check, facts)
}

/// The value of an unlabelled sample in `/metrics`.
fn metric(gateway: &GatewayProcess, name: &str) -> Option<f64> {
    let text = gateway
        .client
        .get(format!("{}/metrics", gateway.url))
        .send()
        .and_then(|response| response.text())
        .expect("metrics");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
}

#[test]
fn the_district_seals_with_a_timestamp_and_the_commune_verifies_both_signatures() {
    let dir = tempfile::tempdir().expect("dir");
    let signed = signed_exchange(dir.path());
    let tsa = signed.tsa.serve();
    use_tsa(&signed, &tsa);
    let _axis = signed.exchange.axis.start();
    let district = signed.exchange.gateway("district").start();
    let commune = signed.exchange.gateway("commune").start();
    let outgoing = send_signed(&signed, &district, dir.path());

    let document = received(&commune, Duration::from_secs(30)).expect("received");
    let id = document["id"].as_str().expect("id");
    let (status, record) = commune.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(status, 200);
    let report = &record["signatures"];
    assert_eq!(report["valid"], true, "{record:#}");
    assert_eq!(report["signatures"][0]["role"], "personal");
    assert_eq!(report["signatures"][1]["role"], "agency");
    assert_eq!(report["signatures"][1]["level"], "B-T");
    assert_eq!(report["signatures"][1]["covers_whole_document"], true);

    // The file as received passes pdfsig: both signatures valid, the whole document signed.
    let (status, bytes) = commune.get_bytes(&format!("/api/v1/documents/{id}/files/1"));
    assert_eq!(status, 200);
    let file = dir.path().join("received.pdf");
    std::fs::write(&file, bytes).expect("write");
    let text = pdfsig(&file);
    assert_eq!(text.matches("Signature is Valid").count(), 2, "{text}");
    assert!(text.contains("Total document signed"), "{text}");

    // The district's record says what happened: sealed at B-T, the report stored.
    let (_, record) = district.get_json(&format!("/api/v1/documents/{outgoing}"));
    let events = record["events"].to_string();
    assert!(
        events.contains("agency seal applied (PAdES B-T)"),
        "{record:#}"
    );
    assert_eq!(record["signatures"]["valid"], true);

    // The facts say the TSA answered (from the seal's own request), and the seal was timed.
    let (tsa, facts) = check(&district, "tsa");
    assert_eq!(tsa["kind"], "tsa_answering", "{tsa}");
    assert_eq!(tsa["severity"], "ok");
    assert_eq!(facts["seal"]["tsa"]["state"], "answering", "{facts:#}");
    assert!(facts["seal"]["tsa"]["last_success"].is_string());
    let signatures = metric(&district, "docgate_sign_seconds_count").expect("the histogram");
    assert!(signatures >= 1.0, "the seal was timed: {signatures}");
    assert!(metric(&district, "docgate_sign_seconds_sum").is_some_and(|sum| sum > 0.0));
}

#[test]
fn with_the_tsa_down_the_seal_waits_for_its_timestamp_then_leaves() {
    let dir = tempfile::tempdir().expect("dir");
    let signed = signed_exchange(dir.path());
    let tsa = signed.tsa.serve();
    tsa.set_up(false);
    use_tsa(&signed, &tsa);
    let _axis = signed.exchange.axis.start();
    let district = signed.exchange.gateway("district").start();
    let commune = signed.exchange.gateway("commune").start();
    let outgoing = send_signed(&signed, &district, dir.path());

    // Sealed B-B, held back (no send_without_timestamp_after_secs: it waits for B-T).
    let state = wait_for(Duration::from_secs(20), || {
        let (_, record) = district.get_json(&format!("/api/v1/documents/{outgoing}"));
        (record["state"] == "signed").then_some(record)
    })
    .expect("sealed");
    assert!(
        state["events"].to_string().contains("PAdES B-B"),
        "{state:#}"
    );
    assert!(
        received(&commune, Duration::from_secs(3)).is_none(),
        "a B-B seal must wait"
    );
    // A TSA that does not answer is a warning with the next step, not a failure: /healthz
    // stays 200 and the seal is not "waiting".
    let (warning, facts) = check(&district, "tsa");
    assert_eq!(warning["severity"], "warning", "{warning}");
    assert_eq!(warning["kind"], "tsa_failing");
    let message = warning["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("documents wait for their timestamp until it answers")
            && message.contains(&format!("check the network path to {}", tsa.url)),
        "{message}"
    );
    assert_eq!(facts["seal"]["tsa"]["state"], "failing", "{facts:#}");
    assert!(facts["seal"]["problem"].is_null(), "{facts:#}");
    let health = district
        .client
        .get(format!("{}/healthz", district.url))
        .send()
        .expect("healthz");
    assert_eq!(
        health.status().as_u16(),
        200,
        "{}",
        health.text().unwrap_or_default()
    );
    let page = district
        .client
        .get(format!("{}/", district.url))
        .send()
        .and_then(|response| response.text())
        .expect("status page");
    assert!(
        page.contains("Văn bản được giữ lại cho tới khi có dấu thời gian"),
        "the next step in Vietnamese: {page}"
    );

    tsa.set_up(true);
    let document = received(&commune, Duration::from_secs(60)).expect("sent once timestamped");
    let id = document["id"].as_str().expect("id");
    let (_, record) = commune.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(record["signatures"]["valid"], true, "{record:#}");
    assert_eq!(record["signatures"]["signatures"][1]["level"], "B-T");
    let (_, record) = district.get_json(&format!("/api/v1/documents/{outgoing}"));
    assert!(record["events"]
        .to_string()
        .contains("signature timestamp added"));
    let (answering, _) = check(&district, "tsa");
    assert_eq!(answering["kind"], "tsa_answering", "{answering}");
}

/// `docgate verify --evidence --config CONFIG --json` as JSON, and whether it exited 0.
fn verify_evidence(config: &Path) -> (bool, Value) {
    let output = common::docgate()
        .args(["verify", "--evidence", "--json", "--config"])
        .arg(config)
        .output()
        .expect("verify --evidence");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), report)
}

#[test]
fn the_evidence_log_is_chained_batch_signed_and_checked_offline() {
    let dir = tempfile::tempdir().expect("dir");
    let signed = signed_exchange(dir.path());
    let _axis = signed.exchange.axis.start();
    let mut district = signed.exchange.gateway("district").start();
    let commune = signed.exchange.gateway("commune").start();
    for _ in 0..3 {
        send_signed(&signed, &district, dir.path());
    }
    wait_for(Duration::from_secs(30), || {
        (documents(&commune, "in").len() == 3).then_some(())
    })
    .expect("three documents arrive");

    // Every record of both gateways gets signed in a batch; the chain is intact.
    for name in ["district", "commune"] {
        let config = &signed.exchange.gateway(name).config;
        let report = wait_for(Duration::from_secs(20), || {
            let (intact, report) = verify_evidence(config);
            (intact && report["records"].as_u64() >= Some(3) && report["unsigned_records"] == 0)
                .then_some(report)
        })
        .unwrap_or_else(|| panic!("{name}: {:#}", verify_evidence(config).1));
        assert_eq!(
            report["signed_records"], report["records"],
            "{name}: {report:#}"
        );
    }

    // Changing a record (after dropping the append-only guard, as an intruder with the
    // database would) breaks the chain and the batch, and the check says where.
    district.kill();
    let database = signed.exchange.gateway("district").database();
    let connection = rusqlite::Connection::open(&database).expect("open");
    connection
        .execute_batch(
            "DROP TRIGGER evidence_append_only_update;
             UPDATE evidence SET record_json = replace(record_json, 'packet_size', 'packet_SIZE')
             WHERE seq = 2;",
        )
        .expect("tamper");
    drop(connection);
    let config = &signed.exchange.gateway("district").config;
    let (intact, report) = verify_evidence(config);
    assert!(!intact, "{report:#}");
    let problems = report["problems"].to_string();
    assert!(problems.contains("record 2 does not match"), "{report:#}");

    // Rebuilding the whole chain after the change hides it from the chain check, but not
    // from the signed batches: their roots no longer match their records.
    rechain(&database);
    let (intact, report) = verify_evidence(config);
    assert!(!intact, "{report:#}");
    let problems = report["problems"].to_string();
    assert!(!problems.contains("does not match its hash"), "{report:#}");
    assert!(problems.contains("root does not match"), "{report:#}");
}

/// Recomputes every record's hash from the first, as an intruder covering their tracks.
fn rechain(database: &Path) {
    use docgate::store::evidence::{chain_hash, GENESIS};
    let connection = rusqlite::Connection::open(database).expect("open");
    let records: Vec<(i64, String)> = connection
        .prepare("SELECT seq, record_json FROM evidence ORDER BY seq")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut previous = GENESIS;
    for (seq, json) in records {
        previous = chain_hash(&previous, &json);
        connection
            .execute(
                "UPDATE evidence SET hash = ?2 WHERE seq = ?1",
                rusqlite::params![seq, hex::encode(previous)],
            )
            .expect("rewrite");
    }
}
