//! Link faults between the gateways and the axis, through a fault-injecting TCP proxy (real
//! TLS sessions broken mid-flight): added latency, connections cut again and again, the link
//! down for seconds, and a 50 MB document whose upload and whose download are each cut in
//! the middle. Everything must still arrive exactly once, byte-identical.

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use common::exchange::{documents, large_pdf, post_until_accepted, wait_for, Exchange};
use common::proxy::FaultProxy;
use serde_json::json;

const SMALL_DOCUMENTS: usize = 40;
const LARGE_BYTES: usize = 50 * 1024 * 1024;

#[test]
fn drops_delays_and_a_cut_mid_transfer_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exchange = Exchange::setup(dir.path());
    let proxy = FaultProxy::start(exchange.axis.address);
    exchange.point_gateways_at(&proxy.url());
    exchange.set_gateway_option("axis", "retry_max_ms", "1000");
    let _axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    let commune = exchange.gateway("commune").start();
    let commune_id = exchange.organ_id("commune");
    let client = common::client();
    let meta = |subject: &str| {
        json!({
            "to": [commune_id.as_str()], "subject": subject,
            "type": {"code": 1, "name": "Công văn"}, "code_number": null,
            "code_notation": "UBND-VP",
            "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
            "priority": 0
        })
    };

    // Small documents under latency, repeated cuts, and a two-second outage.
    proxy.set_delay(Duration::from_millis(5));
    let mut expected = Vec::new();
    for index in 0..SMALL_DOCUMENTS {
        let subject = format!("link faults #{index}");
        let pdf = common::sample_pdf(&subject);
        post_until_accepted(
            &client,
            &district.url,
            &district.token,
            &meta(&subject),
            ("a.pdf", &pdf),
            &subject.replace([' ', '#', ':'], "-"),
        );
        expected.push((subject, common::sha256_hex(&pdf)));
        match index % 10 {
            3 => proxy.cut_all(),
            7 => {
                proxy.set_down(true);
                thread::sleep(Duration::from_millis(if index == 17 { 2000 } else { 300 }));
                proxy.set_down(false);
            }
            _ => {}
        }
    }
    proxy.set_delay(Duration::ZERO);

    // A 50 MB document: the upload to the axis is cut half-way, then the download too.
    proxy.cut_once_after_upstream_bytes(LARGE_BYTES as u64 / 2);
    proxy.cut_once_after_downstream_bytes(LARGE_BYTES as u64 / 2);
    let large = large_pdf(LARGE_BYTES, 7);
    let subject = "link faults: 50 MB".to_string();
    post_until_accepted(
        &client,
        &district.url,
        &district.token,
        &meta(&subject),
        ("lon.pdf", &large),
        "large",
    );
    expected.push((subject, common::sha256_hex(&large)));
    drop(large);

    let arrived = wait_for(Duration::from_secs(180), || {
        let arrived = documents(&commune, "in");
        (arrived.len() >= expected.len()).then_some(arrived)
    })
    .unwrap_or_else(|| {
        panic!(
            "only {} of {} arrived",
            documents(&commune, "in").len(),
            expected.len()
        )
    });
    assert_eq!(arrived.len(), expected.len(), "nothing duplicated");
    assert_eq!(
        proxy.cuts_done(),
        2,
        "both planned mid-transfer cuts happened"
    );
    let mut seen = HashSet::new();
    for document in &arrived {
        let subject = document["subject"].as_str().expect("subject");
        assert!(seen.insert(subject.to_string()), "{subject} arrived twice");
        let (_, sha) = expected
            .iter()
            .find(|(expected, _)| expected == subject)
            .unwrap_or_else(|| panic!("unexpected {subject}"));
        let id = document["id"].as_str().expect("id");
        let (status, bytes) = commune.get_bytes(&format!("/api/v1/documents/{id}/files/1"));
        assert_eq!(status, 200);
        assert_eq!(
            &common::sha256_hex(&bytes),
            sha,
            "{subject} changed on the way"
        );
    }
    assert_eq!(documents(&district, "out").len(), expected.len());
}
