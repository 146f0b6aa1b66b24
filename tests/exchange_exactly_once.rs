//! Exactly-once delivery across crashes, with every part a real process: 500 documents from
//! the district to the commune and 100 back, while the axis is SIGKILLed and restarted five
//! times and each gateway is SIGKILLed and restarted five times at random instants. Every
//! document must arrive exactly once, byte-identical, and the receiver's status 01 must come
//! back to the sender exactly once.
//!
//! `DOCGATE_CHAOS_SEED` repeats a run's fault schedule; `DOCGATE_EXCHANGE_SCALE` (percent)
//! shrinks the document counts for a quick local run.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::exchange::{documents, post_until_accepted, wait_for, Exchange, Rng};
use serde_json::{json, Value};

const FROM_DISTRICT: usize = 500;
const FROM_COMMUNE: usize = 100;
const KILLS_EACH: usize = 5;

fn scaled(count: usize) -> usize {
    let percent: usize = std::env::var("DOCGATE_EXCHANGE_SCALE")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100);
    (count * percent / 100).max(1)
}

/// What a poster sent: subject → SHA-256 of the PDF.
type Sent = HashMap<String, String>;

fn meta(to: &str, subject: &str) -> Value {
    json!({
        "to": [to],
        "subject": subject,
        "type": {"code": 1, "name": "Công văn"},
        "code_number": null,
        "code_notation": "UBND-VP",
        "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
        "priority": 0,
        "due_date": "2026-12-31"
    })
}

/// Posts `count` documents to a gateway, riding out its restarts.
fn poster(
    url: String,
    token: String,
    to: String,
    tag: &'static str,
    count: usize,
) -> thread::JoinHandle<Sent> {
    thread::spawn(move || {
        let client = common::client();
        let mut sent = Sent::new();
        for index in 0..count {
            let subject = format!("exactly-once {tag} #{index}");
            let pdf = common::sample_pdf(&subject);
            post_until_accepted(
                &client,
                &url,
                &token,
                &meta(&to, &subject),
                ("van-ban.pdf", &pdf),
                &format!("{tag}-{index}"),
            );
            sent.insert(subject, common::sha256_hex(&pdf));
        }
        sent
    })
}

#[test]
fn every_document_arrives_exactly_once_across_crashes() {
    let mut rng = Rng::from_env("DOCGATE_CHAOS_SEED");
    let dir = tempfile::tempdir().expect("tempdir");
    let exchange = Exchange::setup(dir.path());
    // Retry soon after a restart, so the test spends its time on faults, not on waiting.
    exchange.set_gateway_option("axis", "retry_max_ms", "1000");
    let district = exchange.gateway("district");
    let commune = exchange.gateway("commune");
    let (district_id, commune_id) = (exchange.organ_id("district"), exchange.organ_id("commune"));

    let axis = Arc::new(Mutex::new(exchange.axis.start()));
    let district_process = Arc::new(Mutex::new(district.start()));
    let commune_process = Arc::new(Mutex::new(commune.start()));

    let posters = [
        poster(
            district.url.clone(),
            district.token.clone(),
            commune_id.clone(),
            "district",
            scaled(FROM_DISTRICT),
        ),
        poster(
            commune.url.clone(),
            commune.token.clone(),
            district_id.clone(),
            "commune",
            scaled(FROM_COMMUNE),
        ),
    ];

    // Fifteen faults at random instants over the first twenty seconds.
    let mut faults: Vec<(u64, &str)> = Vec::new();
    for target in ["axis", "district", "commune"] {
        for _ in 0..KILLS_EACH {
            faults.push((rng.below(20_000), target));
        }
    }
    faults.sort_unstable();
    let started = Instant::now();
    for (at, target) in &faults {
        let at = Duration::from_millis(*at);
        if let Some(wait) = at.checked_sub(started.elapsed()) {
            thread::sleep(wait);
        }
        let pause = Duration::from_millis(rng.below(300));
        match *target {
            "axis" => {
                let mut axis = axis.lock().expect("axis");
                axis.kill();
                thread::sleep(pause);
                *axis = exchange.axis.start();
            }
            "district" => {
                let mut process = district_process.lock().expect("district");
                process.kill();
                thread::sleep(pause);
                *process = district.start();
            }
            _ => {
                let mut process = commune_process.lock().expect("commune");
                process.kill();
                thread::sleep(pause);
                *process = commune.start();
            }
        }
        eprintln!(
            "{:>6} ms: killed and restarted the {target}",
            started.elapsed().as_millis()
        );
    }
    let [from_district, from_commune] = posters.map(|poster| poster.join().expect("poster"));

    let district_process = district_process.lock().expect("district");
    let commune_process = commune_process.lock().expect("commune");
    let converged = wait_for(Duration::from_secs(300), || {
        let arrived_commune = documents(&commune_process, "in").len();
        let arrived_district = documents(&district_process, "in").len();
        (arrived_commune >= from_district.len() && arrived_district >= from_commune.len())
            .then_some(())
    });
    assert!(
        converged.is_some(),
        "not everything arrived: commune has {} of {}, district {} of {}",
        documents(&commune_process, "in").len(),
        from_district.len(),
        documents(&district_process, "in").len(),
        from_commune.len()
    );

    check_arrivals(&district_process, &commune_process, &from_district);
    check_arrivals(&commune_process, &district_process, &from_commune);
    check_statuses_back(&district_process, &commune_id, from_district.len());
    check_statuses_back(&commune_process, &district_id, from_commune.len());
}

/// Every document the sender accepted arrived once at the receiver, byte-identical.
fn check_arrivals(sender: &common::GatewayProcess, receiver: &common::GatewayProcess, sent: &Sent) {
    let outgoing = documents(sender, "out");
    assert_eq!(
        outgoing.len(),
        sent.len(),
        "the sender holds one row per accepted document"
    );
    let arrived = documents(receiver, "in");
    assert_eq!(
        arrived.len(),
        sent.len(),
        "no duplicates and nothing missing"
    );
    let sent_ids: HashSet<&str> = outgoing
        .iter()
        .filter_map(|d| d["document_id"].as_str())
        .collect();
    let mut seen = BTreeMap::new();
    for document in &arrived {
        let document_id = document["document_id"]
            .as_str()
            .expect("incoming DocumentId");
        assert!(
            sent_ids.contains(document_id),
            "{document_id} was never sent"
        );
        assert!(
            seen.insert(document_id.to_string(), ()).is_none(),
            "{document_id} arrived twice"
        );
        let subject = document["subject"].as_str().expect("subject");
        let expected = sent
            .get(subject)
            .unwrap_or_else(|| panic!("unexpected subject {subject}"));
        let id = document["id"].as_str().expect("id");
        let (status, bytes) = receiver.get_bytes(&format!("/api/v1/documents/{id}/files/1"));
        assert_eq!(status, 200);
        assert_eq!(
            &common::sha256_hex(&bytes),
            expected,
            "{subject} changed on the way"
        );
    }
}

/// Every outgoing document is queued at the axis and carries exactly one status 01 from
/// its receiver.
fn check_statuses_back(sender: &common::GatewayProcess, receiver_organ: &str, count: usize) {
    let outgoing = documents(sender, "out");
    assert_eq!(outgoing.len(), count);
    for summary in outgoing {
        let id = summary["id"].as_str().expect("id").to_string();
        let document = wait_for(Duration::from_secs(60), || {
            let (status, document) = sender.get_json(&format!("/api/v1/documents/{id}"));
            assert_eq!(status, 200);
            let arrived = document["statuses"]
                .as_array()
                .map(|statuses| {
                    statuses
                        .iter()
                        .filter(|s| s["code"] == "01" && s["organ_id"] == receiver_organ)
                        .count()
                })
                .unwrap_or(0);
            (arrived > 0).then_some((document, arrived))
        });
        let (document, arrived) =
            document.unwrap_or_else(|| panic!("no status 01 came back for {id}"));
        assert_eq!(arrived, 1, "status 01 recorded more than once: {document}");
        assert_eq!(document["state"], "queued", "{document}");
    }
}
