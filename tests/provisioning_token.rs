//! The link key on the token, through enrolment and renewal, with the real binaries and a
//! SoftHSM2 token that also holds the agency seal: a box with `[provisioning] link_key =
//! "token"` enrols with a code (the key is made on the token and never leaves it; the
//! enrolment on disk names its label and holds no key file), seals and sends a document over
//! mutual TLS signed on the token, then renews under an injected clock onto the other label
//! of the pair with no gap in the link and no restart, and still seals and sends.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::axis::PROVINCE;
use common::enrolled::{self, EnrolmentAxis};
use common::exchange::{set_option, wait_for};
use common::signing::leader_signed;
use common::softhsm::{self, SoftHsm, MODULE};
use common::GatewayDir;
use docgate::demo::pki::{SignerFiles, TestCa};
use serde_json::Value;

const COMMUNE: &str = "000.01.23.H41";
const PIN: &str = "1357";
const SEAL_LABEL: &str = "agency-seal";
const LINK_LABEL: &str = "docgate-link";

/// `[signing]` on the token labelled `token_label` (seal key `agency-seal`) and
/// `[provisioning] link_key = "token"`; returns the leader whose signature intake wants.
fn link_key_on_token(gateway: &GatewayDir, token_label: &str) -> SignerFiles {
    let dir = &gateway.dir;
    let pin_file = dir.join("token-pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).expect("pin");
    let token_ca = dir.join("token-ca.pem");
    std::fs::write(&token_ca, softhsm::pki().ca_certificate_pem()).expect("token CA");
    let leaders = dir.join("leaders");
    std::fs::create_dir_all(&leaders).expect("leaders");
    let leader_ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", &leaders, "ca").expect("CA");
    let leader = leader_ca
        .issue_document_signer("Nguyễn Văn An", "UBND xã", 41, &leaders, "leader")
        .expect("leader");
    let config = &gateway.config;
    set_option(config, "provisioning", "link_key", "\"token\"");
    set_option(config, "signing", "token_module", &format!("{MODULE:?}"));
    set_option(
        config,
        "signing",
        "token_label",
        &format!("{token_label:?}"),
    );
    set_option(
        config,
        "signing",
        "token_pin_file",
        &format!("{pin_file:?}"),
    );
    set_option(
        config,
        "signing",
        "token_key_label",
        &format!("{SEAL_LABEL:?}"),
    );
    let roots = format!("[{:?}, {:?}]", leader_ca.certificate, token_ca);
    set_option(config, "signing", "trust_roots", &roots);
    set_option(config, "signing", "accept_unknown_revocation", "true");
    leader
}

/// The private keys on the token: `(label, access flags line)`.
fn private_keys(token_label: &str) -> Vec<(String, String)> {
    let mut command = SoftHsm::shared().command("pkcs11-tool");
    command.args(["--module", MODULE, "--token-label", token_label]);
    command.args([
        "--login",
        "--pin",
        PIN,
        "--list-objects",
        "--type",
        "privkey",
    ]);
    let listing = softhsm::run(command, "pkcs11-tool --list-objects");
    let mut keys: Vec<(String, String)> = Vec::new();
    for line in listing.lines().map(str::trim) {
        if let Some(label) = line.strip_prefix("label:") {
            keys.push((label.trim().to_owned(), String::new()));
        } else if let Some(access) = line.strip_prefix("Access:") {
            if let Some(last) = keys.last_mut() {
                last.1 = access.trim().to_owned();
            }
        }
    }
    keys.sort();
    keys
}

/// What the current generation holds: its label file and whether a key file is there.
fn current_key(gateway: &GatewayDir) -> (Option<String>, bool) {
    let current = enrolled::provisioning_dir(gateway).join("current");
    let label = std::fs::read_to_string(current.join("link-key-label"))
        .ok()
        .map(|label| label.trim().to_owned());
    (label, current.join("link.key").exists())
}

fn send_sealed(process: &common::GatewayProcess, leader: &SignerFiles, dir: &Path, tag: &str) {
    let mut meta = common::sample_meta();
    meta["to"] = serde_json::json!([PROVINCE]);
    let pdf = leader_signed(&leader.key_file, &common::sample_pdf(tag), dir, tag);
    let (status, body) = process.post_document(&meta, &[("vb.pdf", "application/pdf", pdf)], None);
    assert_eq!(status, 202, "{body}");
}

fn link_of(process: &common::GatewayProcess) -> Value {
    let (_, facts) = process.get_json("/api/v1/status");
    facts["link"].clone()
}

#[test]
fn a_box_enrols_and_renews_with_its_link_key_on_the_token() {
    let softhsm = SoftHsm::shared();
    let token_label = softhsm::unique_label("link");
    softhsm.provision(&token_label, PIN, &[(&softhsm::pki().rsa, SEAL_LABEL)]);
    let dir = tempfile::tempdir().expect("dir");
    let axis = EnrolmentAxis::create(&dir.path().join("axis"), 3_600, 1_200);
    let axis_process = axis.start();
    let box_a = enrolled::provisioned_box(&dir.path().join("a"), None);
    let leader = link_key_on_token(&box_a, &token_label);
    let a = enrolled::start_box(&box_a);

    enrolled::enroll_and_wait(&box_a, &a, &axis.url, &axis.code(COMMUNE, "UBND xã C"));
    assert_eq!(
        current_key(&box_a),
        (Some(LINK_LABEL.to_owned()), false),
        "the enrolment names the key on the token and holds no key file"
    );
    let keys = private_keys(&token_label);
    let labels: Vec<&str> = keys.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(labels, [SEAL_LABEL, LINK_LABEL], "{keys:?}");
    let link_access = &keys[1].1;
    assert!(
        link_access.contains("sensitive") && link_access.contains("never extractable"),
        "{link_access}"
    );

    // A sealed document over the token-signed mutual TLS.
    let province = axis.axis.client(&axis_process, PROVINCE);
    send_sealed(&a, &leader, dir.path(), "before-renewal");
    let received = wait_for(Duration::from_secs(60), || {
        let ids = province.received_ids(None);
        (ids.len() == 1).then_some(ids)
    });
    assert!(received.is_some(), "the first document arrived");
    let up = wait_for(Duration::from_secs(30), || {
        (link_of(&a)["connected"] == true).then_some(())
    });
    assert!(up.is_some(), "the link is up");

    // 41 minutes on: the renewal makes the next key on the token, under the other label.
    let pid = a.pid();
    std::fs::write(enrolled::clock_file(&box_a), "2460").expect("clock");
    let started = Instant::now();
    let renewed = loop {
        let link = link_of(&a);
        assert_eq!(link["connected"], true, "the link dropped: {link:#}");
        if enrolled::generation(&box_a) == Some(2) {
            break true;
        }
        if started.elapsed() > Duration::from_secs(60) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::fs::write(enrolled::clock_file(&box_a), "0").expect("clock");
    assert!(renewed, "no renewal within 60 s");
    assert_eq!(
        current_key(&box_a),
        (Some(format!("{LINK_LABEL}.next")), false)
    );
    let labels: Vec<String> = private_keys(&token_label)
        .into_iter()
        .map(|(label, _)| label)
        .collect();
    assert_eq!(
        labels,
        [
            SEAL_LABEL.to_owned(),
            LINK_LABEL.to_owned(),
            format!("{LINK_LABEL}.next")
        ],
        "the old key is kept until the next renewal replaces it"
    );

    // Still sealing and sending, in the same process.
    send_sealed(&a, &leader, dir.path(), "after-renewal");
    let received = wait_for(Duration::from_secs(60), || {
        let ids = province.received_ids(None);
        (ids.len() == 2).then_some(ids)
    });
    assert!(
        received.is_some(),
        "the document sent after the renewal arrived"
    );
    assert_eq!(a.pid(), pid, "no restart");
    let (_, facts) = a.get_json("/api/v1/status");
    assert_eq!(facts["provisioning"]["standing"], "enrolled", "{facts:#}");
    assert_eq!(facts["provisioning"]["generation"], 2, "{facts:#}");
}
