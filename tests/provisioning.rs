//! Provisioning end to end with the real binaries: boxes with `[provisioning]` start "not
//! provisioned", are enrolled with `docgate enroll` while they run (no file copied by
//! hand), and exchange documents; a renewal under an injected clock keeps the link up; a
//! box whose certificate expired while offline recovers with a new code, its queue intact;
//! `docgate reset` refuses while documents wait.

mod common;

use std::time::{Duration, Instant};

use common::axis::PROVINCE;
use common::enrolled::{self, EnrolmentAxis};
use common::exchange::{documents, wait_for};
use serde_json::Value;

const COMMUNE_A: &str = "000.01.21.H41";
const COMMUNE_B: &str = "000.01.22.H41";

fn meta_to(recipient: &str) -> Value {
    let mut meta = common::sample_meta();
    meta["to"] = serde_json::json!([recipient]);
    meta
}

fn post(process: &common::GatewayProcess, recipient: &str, tag: &str) -> String {
    let (status, body) = process.post_document(
        &meta_to(recipient),
        &[("vb.pdf", "application/pdf", common::sample_pdf(tag))],
        None,
    );
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

#[test]
fn fresh_boxes_enrol_with_codes_and_exchange_a_document() {
    let dir = tempfile::tempdir().expect("dir");
    let axis = EnrolmentAxis::create(&dir.path().join("axis"), 86_400, 3_600);
    let _axis_process = axis.start();
    let box_a = enrolled::provisioned_box(&dir.path().join("a"), None);
    let box_b = enrolled::provisioned_box(&dir.path().join("b"), None);
    let a = enrolled::start_box(&box_a);
    let b = enrolled::start_box(&box_b);
    assert_eq!(enrolled::health(&a), 503, "not provisioned yet");
    let status = enrolled::status_cli(&box_a);
    assert_eq!(status.status.code(), Some(1), "not provisioned: exit 1");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("NOT PROVISIONED"), "{text}");
    assert!(
        text.contains("docgate enroll --axis URL --code CODE"),
        "{text}"
    );

    // A mistyped code changes nothing.
    let typo = enrolled::enroll(&box_b, &axis.url, "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH");
    assert!(!typo.status.success());
    assert!(String::from_utf8_lossy(&typo.stderr).contains("code"));
    assert_eq!(enrolled::generation(&box_b), None);

    let code_b = axis.code(COMMUNE_B, "UBND xã B");
    enrolled::enroll_and_wait(&box_b, &b, &axis.url, &code_b);
    enrolled::enroll_and_wait(&box_a, &a, &axis.url, &axis.code(COMMUNE_A, "UBND xã A"));

    // The same code twice is refused, and the box keeps running as enrolled.
    let again = enrolled::enroll(&box_b, &axis.url, &code_b);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("code_used"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(enrolled::generation(&box_b), Some(1));

    let id = post(&a, COMMUNE_B, "provisioned-exchange");
    let arrived = wait_for(Duration::from_secs(60), || {
        let incoming = documents(&b, "in");
        (!incoming.is_empty()).then_some(incoming)
    })
    .expect("the document reached box B");
    assert_eq!(arrived.len(), 1);
    let (_, facts) = a.get_json("/api/v1/status");
    assert_eq!(facts["agency"]["organ_id"], COMMUNE_A, "{facts:#}");
    let status = enrolled::status_cli(&box_a);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&format!("provisioning: enrolled as {COMMUNE_A}")),
        "{text}"
    );
    let (status, _) = a.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(status, 200);

    // The axis lists both boxes as enrolled devices.
    let devices = axis.enroll_cli(&["devices"]);
    assert!(
        devices.contains(COMMUNE_A) && devices.contains(COMMUNE_B),
        "{devices}"
    );
}

/// The link as the box's status facts show it.
fn link_of(process: &common::GatewayProcess) -> Value {
    let (_, facts) = process.get_json("/api/v1/status");
    facts["link"].clone()
}

#[test]
fn the_link_certificate_is_renewed_before_expiry_without_a_gap_in_the_link() {
    let dir = tempfile::tempdir().expect("dir");
    let axis = EnrolmentAxis::create(&dir.path().join("axis"), 3_600, 1_200);
    let axis_process = axis.start();
    let box_a = enrolled::provisioned_box(&dir.path().join("a"), None);
    let a = enrolled::start_box(&box_a);
    enrolled::enroll_and_wait(&box_a, &a, &axis.url, &axis.code(COMMUNE_A, "UBND xã A"));
    let before = std::fs::read_to_string(box_a.state_dir().join("provisioning/current/link.pem"))
        .expect("certificate");
    let up = wait_for(Duration::from_secs(30), || {
        (link_of(&a)["connected"] == true).then_some(())
    });
    assert!(up.is_some(), "the link came up");

    // 41 minutes later by the box's clock: inside the renewal window (20 minutes before
    // the hour-long certificate ends).
    std::fs::write(enrolled::clock_file(&box_a), "2460").expect("clock");
    let started = Instant::now();
    let mut polls = 0;
    let renewed = loop {
        let link = link_of(&a);
        assert_eq!(
            link["connected"], true,
            "the link dropped during renewal: {link:#}"
        );
        polls += 1;
        if enrolled::generation(&box_a) == Some(2) {
            break true;
        }
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::fs::write(enrolled::clock_file(&box_a), "0").expect("clock");
    assert!(renewed, "no renewal within 30 s");
    assert!(polls > 1);
    let after = std::fs::read_to_string(box_a.state_dir().join("provisioning/current/link.pem"))
        .expect("certificate");
    assert_ne!(before, after, "a new certificate");

    // The renewed link still carries documents, with no restart in between (same pid).
    let pid = a.pid();
    post(&a, PROVINCE, "after-renewal");
    let province = axis.axis.client(&axis_process, PROVINCE);
    let received = wait_for(Duration::from_secs(30), || {
        let ids = province.received_ids(None);
        (!ids.is_empty()).then_some(ids)
    });
    assert!(
        received.is_some(),
        "the document sent after the renewal arrived"
    );
    assert_eq!(a.pid(), pid);
    let link = link_of(&a);
    assert_eq!(link["connected"], true, "{link:#}");
    let audit = axis.enroll_cli(&["audit"]);
    assert!(audit.contains("renew"), "{audit}");
}

#[test]
fn a_box_offline_past_its_certificate_recovers_by_re_enrolment_with_its_queue_intact() {
    let dir = tempfile::tempdir().expect("dir");
    // Certificates of 20 s, renewed in their last 5 s: the axis goes away before then.
    let axis = EnrolmentAxis::create(&dir.path().join("axis"), 20, 5);
    let mut axis_process = axis.start();
    let box_a = enrolled::provisioned_box(&dir.path().join("a"), None);
    let a = enrolled::start_box(&box_a);
    enrolled::enroll_and_wait(&box_a, &a, &axis.url, &axis.code(COMMUNE_A, "UBND xã A"));
    let enrolled_at = Instant::now();
    axis_process.kill();

    // Offline: the office keeps writing; the documents wait.
    let queued: Vec<String> = (0..2)
        .map(|n| post(&a, PROVINCE, &format!("offline-{n}")))
        .collect();
    let expired_by = Duration::from_secs(23);
    if let Some(rest) = expired_by.checked_sub(enrolled_at.elapsed()) {
        std::thread::sleep(rest);
    }
    let axis_process = axis.start();
    let province = axis.axis.client(&axis_process, PROVINCE);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        province.received_ids(None).is_empty(),
        "an expired certificate sends nothing"
    );

    // Reset refuses while the documents wait (and while the daemon runs).
    let reset = common::docgate()
        .args(["reset", "--config"])
        .arg(&box_a.config)
        .output()
        .expect("reset");
    assert!(!reset.status.success());

    // A new code from provincial IT; the box re-enrols for the same agency.
    enrolled::enroll_and_wait(&box_a, &a, &axis.url, &axis.code(COMMUNE_A, "UBND xã A"));
    let received = wait_for(Duration::from_secs(60), || {
        let ids = province.received_ids(None);
        (ids.len() >= queued.len()).then_some(ids)
    })
    .expect("the queued documents arrived after re-enrolment");
    assert_eq!(received.len(), queued.len());
}

#[test]
fn a_code_for_another_agency_is_refused_unused_and_reset_guards_unsent_documents() {
    let dir = tempfile::tempdir().expect("dir");
    let axis = EnrolmentAxis::create(&dir.path().join("axis"), 86_400, 3_600);
    let mut axis_process = axis.start();
    let box_a = enrolled::provisioned_box(&dir.path().join("a"), None);
    let mut a = enrolled::start_box(&box_a);
    enrolled::enroll_and_wait(&box_a, &a, &axis.url, &axis.code(COMMUNE_A, "UBND xã A"));

    let other = axis.code(COMMUNE_B, "UBND xã B");
    let refused = enrolled::enroll(&box_a, &axis.url, &other);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("agency_mismatch") && stderr.contains("docgate reset"),
        "{stderr}"
    );
    assert_eq!(enrolled::generation(&box_a), Some(1));
    let codes = axis.enroll_cli(&["list"]);
    assert!(codes.contains(COMMUNE_B), "{codes}");

    // A document waits (the axis is away); the daemon stops.
    axis_process.kill();
    post(&a, PROVINCE, "waiting");
    assert_eq!(a.terminate(), Some(0));
    let reset = |extra: &[&str]| {
        common::docgate()
            .args(["reset", "--config"])
            .arg(&box_a.config)
            .args(extra)
            .output()
            .expect("reset")
    };
    let refused = reset(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("1 document(s) are still waiting"),
        "{stderr}"
    );
    assert_eq!(enrolled::generation(&box_a), Some(1), "nothing changed");

    let forced = reset(&["--force", "--wipe-state"]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_eq!(enrolled::generation(&box_a), None);
    assert!(!box_a.database().exists());

    // Now the other agency's (still unused) code enrols it.
    let _axis_process = axis.start();
    let b = enrolled::start_box(&box_a);
    enrolled::enroll_and_wait(&box_a, &b, &axis.url, &other);
    let (_, facts) = b.get_json("/api/v1/status");
    assert_eq!(facts["agency"]["organ_id"], COMMUNE_B, "{facts:#}");
}

#[test]
fn a_lapsed_box_stops_exchanging_and_comes_back_by_itself_once_its_bundle_is_current() {
    let dir = tempfile::tempdir().expect("dir");
    // Year-long certificates; bundles of 30 days with 7 days' grace (the axis's defaults).
    let axis = EnrolmentAxis::create(&dir.path().join("axis"), 31_536_000, 86_400);
    let _axis_process = axis.start();
    let box_a = enrolled::provisioned_box(&dir.path().join("a"), None);
    let a = enrolled::start_box(&box_a);
    enrolled::enroll_and_wait(&box_a, &a, &axis.url, &axis.code(COMMUNE_A, "UBND xã A"));
    let connected = |process: &common::GatewayProcess| link_of(process)["connected"] == true;
    assert!(wait_for(Duration::from_secs(30), || connected(&a).then_some(())).is_some());

    // 40 days on by the box's clock: past the bundle's expiry and its grace.
    std::fs::write(enrolled::clock_file(&box_a), "3456000").expect("clock");
    let off = wait_for(Duration::from_secs(30), || {
        (link_of(&a)["configured"] == false).then_some(())
    });
    assert!(off.is_some(), "a lapsed box keeps its link off");

    // The keeper still runs in the lapsed turn: once the bundle is current again (here the
    // clock returns; in the field a fresh bundle arrives) the link comes back unaided.
    std::fs::write(enrolled::clock_file(&box_a), "0").expect("clock");
    let back = wait_for(Duration::from_secs(30), || connected(&a).then_some(()));
    assert!(
        back.is_some(),
        "the box came back by itself: {:#}",
        link_of(&a)
    );
}
