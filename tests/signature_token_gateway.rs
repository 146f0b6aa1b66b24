//! The agency seal on a real (SoftHSM2) token inside the gateway, and the token pulled out
//! in the middle of a batch: documents wait in `accepted` with the reason shown on the
//! link, nothing is lost or sealed twice, and sealing resumes by itself when the token is
//! put back. Every document then arrives at the commune exactly once, sealed. The seal
//! certificate on the token is watched for expiry like a key file's, from what the token
//! worker read when it logged in. With nothing waiting to be sealed, `/healthz` and the
//! status page still follow the token itself: present and logged in, pulled out, back,
//! and a refused PIN until the PIN file is fixed.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::exchange::{documents, set_option, wait_for, Exchange};
use common::signing::{leader_signed, seal_on_token};
use common::softhsm::{self, SoftHsm};
use common::GatewayProcess;
use common::{sample_meta, sample_pdf};

const DOCUMENTS: usize = 12;

#[test]
fn a_token_pulled_out_mid_batch_loses_nothing_and_sealing_resumes() {
    // The SoftHSM of this test process; the gateway child inherits SOFTHSM2_CONF.
    let softhsm = SoftHsm::shared();
    let pki = softhsm::pki();
    let label = softhsm::unique_label("seal");
    softhsm.provision(&label, "2468", &[(&pki.rsa, "agency-seal")]);

    let dir = tempfile::tempdir().expect("dir");
    let exchange = Exchange::setup(dir.path());
    let leader = seal_on_token(&exchange, dir.path(), &label, "2468", None);

    let _axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    let commune = exchange.gateway("commune").start();
    let mut meta = sample_meta();
    meta["to"] = serde_json::json!([exchange.organ_id("commune")]);

    let mut sent = BTreeSet::new();
    for index in 0..DOCUMENTS {
        if index == DOCUMENTS / 3 {
            softhsm.unplug(&label);
        }
        let pdf = leader_signed(
            &leader.key_file,
            &sample_pdf(&format!("document {index}")),
            dir.path(),
            &format!("doc-{index}"),
        );
        let (status, body) =
            district.post_document(&meta, &[("van-ban.pdf", "application/pdf", pdf)], None);
        assert_eq!(status, 202, "{body}");
        sent.insert(
            body["document_id"]
                .as_str()
                .expect("document_id")
                .to_owned(),
        );
    }

    // With the token out, the rest wait in `accepted` and the link says why.
    let reason = wait_for(Duration::from_secs(20), || {
        let (_, link) = district.get_json("/api/v1/link");
        link["sealing"].as_str().map(str::to_owned)
    })
    .expect("the link names the sealing problem");
    assert!(reason.contains(&label), "{reason}");
    // /healthz fails on the token, naming it.
    let health = district
        .client
        .get(format!("{}/healthz", district.url))
        .send()
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 503);
    let health: serde_json::Value = health.json().expect("json");
    let token = health["reasons"]
        .as_array()
        .and_then(|reasons| reasons.iter().find(|reason| reason["component"] == "token"))
        .unwrap_or_else(|| panic!("no token reason in {health}"));
    assert!(
        token["message"]
            .as_str()
            .is_some_and(|message| message.contains(&label)),
        "{token}"
    );
    let waiting = documents(&district, "out")
        .iter()
        .filter(|document| document["state"] == "accepted")
        .count();
    assert!(waiting > 0, "documents wait for the token");

    softhsm.replug(&label);
    let arrived = wait_for(Duration::from_secs(90), || {
        let incoming = documents(&commune, "in");
        (incoming.len() >= DOCUMENTS).then_some(incoming)
    })
    .expect("every document arrives once the token is back");
    let ids: Vec<String> = arrived
        .iter()
        .map(|document| {
            document["document_id"]
                .as_str()
                .expect("document_id")
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), DOCUMENTS, "exactly once");
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), sent);
    // Each outgoing document was sealed exactly once.
    for document in documents(&district, "out") {
        let id = document["id"].as_str().expect("id");
        let (_, record) = district.get_json(&format!("/api/v1/documents/{id}"));
        let seals = record["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|event| event["kind"] == "signed")
            .count();
        assert_eq!(seals, 1, "{record:#}");
    }
    let (_, link) = district.get_json("/api/v1/link");
    assert!(link["sealing"].is_null(), "{link}");
}

#[test]
fn the_seal_certificate_on_the_token_is_watched_for_expiry() {
    let softhsm = SoftHsm::shared();
    let dir = tempfile::tempdir().expect("dir");
    // A seal certificate that expires in ten days.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "UBND xã (sắp hết hạn)");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(355);
    params.not_after = now + time::Duration::days(10);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::ContentCommitment,
    ];
    let certificate = params.self_signed(&key).expect("certificate");
    let key_pem = dir.path().join("expiring.key");
    std::fs::write(&key_pem, key.serialize_pem()).expect("key file");
    let certificate_file = dir.path().join("expiring.der");
    std::fs::write(&certificate_file, certificate.der()).expect("certificate file");
    let expiring = softhsm::Identity {
        key_pem,
        certificate_der: certificate.der().to_vec(),
        certificate_file,
        public_key_pem: dir.path().join("unused.pub.pem"),
    };
    let label = softhsm::unique_label("expiring");
    softhsm.provision(&label, "1357", &[(&expiring, "agency-seal")]);

    let exchange = Exchange::setup(dir.path());
    seal_on_token(&exchange, dir.path(), &label, "1357", None);
    // No axis is needed: the sealer looks at the token from the start.
    let district = exchange.gateway("district").start();
    let (facts, agency) = wait_for(Duration::from_secs(30), || {
        let (_, facts) = district.get_json("/api/v1/status");
        let agency = facts["certificates"]
            .as_array()?
            .iter()
            .find(|certificate| certificate["role"] == "agency")?
            .clone();
        Some((facts, agency))
    })
    .expect("the token's seal certificate is watched");
    assert_eq!(agency["state"], "expiring", "{agency}");
    assert_eq!(agency["subject"], "UBND xã (sắp hết hạn)");
    let left = agency["seconds_left"].as_i64().expect("seconds left");
    assert!(
        (9 * 86_400..=10 * 86_400).contains(&left),
        "ten days: {left}"
    );
    let warning = facts["checks"]
        .as_array()
        .and_then(|checks| {
            checks
                .iter()
                .find(|check| check["kind"] == "certificate_expiring")
        })
        .unwrap_or_else(|| panic!("no expiry warning: {facts:#}"));
    assert_eq!(warning["severity"], "warning");
    assert!(
        warning["message"].as_str().is_some_and(
            |message| message.contains("the agency seal certificate expires in 9 days")
        ),
        "{warning}"
    );
    let metrics = district
        .client
        .get(format!("{}/metrics", district.url))
        .send()
        .and_then(|response| response.text())
        .expect("metrics");
    let gauge: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("docgate_certificate_expiry_seconds{role=\"agency\"} "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no agency expiry gauge: {metrics}"));
    assert!(
        (9.0 * 86_400.0..=10.0 * 86_400.0).contains(&gauge),
        "{gauge}"
    );
}

#[test]
fn the_link_key_can_live_on_the_token() {
    let softhsm = SoftHsm::shared();
    let pki = softhsm::pki();
    let dir = tempfile::tempdir().expect("dir");
    let exchange = Exchange::setup(dir.path());
    let district_dir = exchange.gateway("district").dir.clone();
    let link_key = district_dir.join("tls").join("gateway.key");
    let link_certificate = district_dir.join("tls").join("gateway.pem");

    // The district's link key goes onto the token beside the agency seal; the file goes.
    let certificate_der = pem_to_der(&link_certificate);
    let certificate_file = dir.path().join("link.der");
    std::fs::write(&certificate_file, &certificate_der).expect("der");
    let link = softhsm::Identity {
        key_pem: link_key.clone(),
        certificate_der,
        certificate_file,
        public_key_pem: dir.path().join("unused.pub.pem"),
    };
    let label = softhsm::unique_label("link");
    softhsm.provision(
        &label,
        "8642",
        &[(&pki.rsa, "agency-seal"), (&link, "link")],
    );
    std::fs::remove_file(&link_key).expect("remove the key file");

    let leader = seal_on_token(&exchange, dir.path(), &label, "8642", Some("agency-seal"));
    let config = &exchange.gateway("district").config;
    let text = std::fs::read_to_string(config).expect("config");
    let text: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with("key = "))
        .collect();
    std::fs::write(config, text.join("\n") + "\n").expect("config");
    set_option(config, "axis", "token_key_label", "\"link\"");

    let _axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    let commune = exchange.gateway("commune").start();
    let mut meta = sample_meta();
    meta["to"] = serde_json::json!([exchange.organ_id("commune")]);
    let pdf = leader_signed(
        &leader.key_file,
        &sample_pdf("over a token link"),
        dir.path(),
        "doc",
    );
    let (status, body) =
        district.post_document(&meta, &[("van-ban.pdf", "application/pdf", pdf)], None);
    assert_eq!(status, 202, "{body}");
    let arrived = wait_for(Duration::from_secs(30), || {
        documents(&commune, "in").into_iter().next()
    });
    let (_, link) = district.get_json("/api/v1/link");
    assert!(
        arrived.is_some(),
        "nothing arrived over the token-keyed link: {link}"
    );
    assert_eq!(link["connected"], true, "{link}");
}

fn pem_to_der(path: &std::path::Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(path)
        .expect("certificate")
        .as_ref()
        .to_vec()
}

/// `/healthz`: its status code and body.
fn health(gateway: &GatewayProcess) -> (u16, serde_json::Value) {
    let response = gateway
        .client
        .get(format!("{}/healthz", gateway.url))
        .send()
        .expect("healthz");
    let status = response.status().as_u16();
    (status, response.json().expect("healthz is JSON"))
}

/// The `token` check in a `/healthz` body.
fn token_check(health: &serde_json::Value) -> serde_json::Value {
    health["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["component"] == "token"))
        .cloned()
        .unwrap_or_else(|| panic!("no token check in {health}"))
}

/// Polls `/healthz` until it answers `status` with the token check of `kind`; that body.
fn wait_for_token(gateway: &GatewayProcess, status: u16, kind: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    wait_for(Duration::from_secs(30), || {
        let (code, body) = health(gateway);
        let found = code == status && token_check(&body)["kind"] == kind;
        last = body.clone();
        found.then_some(body)
    })
    .unwrap_or_else(|| panic!("no {status} with token check {kind}: {last:#}"))
}

/// The status page in Vietnamese (the default).
fn status_page(gateway: &GatewayProcess) -> String {
    gateway
        .client
        .get(format!("{}/", gateway.url))
        .send()
        .and_then(|response| response.text())
        .expect("status page")
}

/// The failing `token` reason of a 503 `/healthz` body.
fn token_reason(health: &serde_json::Value) -> String {
    health["reasons"]
        .as_array()
        .and_then(|reasons| reasons.iter().find(|reason| reason["component"] == "token"))
        .and_then(|reason| reason["message"].as_str())
        .unwrap_or_else(|| panic!("no token reason in {health}"))
        .to_owned()
}

#[test]
fn health_follows_the_token_itself_with_nothing_waiting() {
    let softhsm = SoftHsm::shared();
    let pki = softhsm::pki();
    let label = softhsm::unique_label("health");
    softhsm.provision(&label, "1593", &[(&pki.rsa, "agency-seal")]);
    let dir = tempfile::tempdir().expect("dir");
    let exchange = Exchange::setup(dir.path());
    seal_on_token(&exchange, dir.path(), &label, "1593", None);
    let _axis = exchange.axis.start();
    let district = exchange.gateway("district").start();

    // Present and logged in: all well, the check names the token.
    let healthy = wait_for_token(&district, 200, "token_answers");
    let check = token_check(&healthy);
    assert_eq!(check["severity"], "ok");
    assert_eq!(
        check["message"],
        format!("token '{label}' is present and logged in")
    );
    let (_, facts) = district.get_json("/api/v1/status");
    assert_eq!(facts["seal"]["token"]["state"], "ready", "{facts:#}");
    assert_eq!(facts["seal"]["token"]["label"], label.as_str());
    assert!(documents(&district, "out").is_empty(), "nothing to seal");

    // Pulled out with nothing to seal: /healthz fails on the token within seconds.
    softhsm.unplug(&label);
    let pulled = std::time::Instant::now();
    let unhealthy = wait_for_token(&district, 503, "token_absent");
    eprintln!("token absent noticed after {:?}", pulled.elapsed());
    let reason = token_reason(&unhealthy);
    assert!(reason.starts_with(&format!("token '{label}' ")), "{reason}");
    assert!(
        reason.contains("; is the USB token plugged in? — plug the agency's USB token in"),
        "{reason}"
    );
    let (_, link) = district.get_json("/api/v1/link");
    assert!(link["sealing"].is_null(), "no seal failed: {link}");
    let (_, facts) = district.get_json("/api/v1/status");
    assert_eq!(facts["seal"]["token"]["state"], "absent", "{facts:#}");
    // The status page says it in Vietnamese, with what to do.
    let page = wait_for(Duration::from_secs(10), || {
        let page = status_page(&district);
        page.contains("data-kind=\"token_absent\"").then_some(page)
    })
    .expect("the status page shows the token finding");
    assert!(page.contains("Không tìm thấy USB token"), "{page}");
    assert!(page.contains(&label), "{page}");
    assert!(
        page.contains("Cắm USB token của cơ quan vào thiết bị"),
        "{page}"
    );
    assert!(page.contains("không tìm thấy (chưa cắm?)"), "{page}");

    // Put back: well again, by itself.
    softhsm.replug(&label);
    let back = std::time::Instant::now();
    let healthy = wait_for_token(&district, 200, "token_answers");
    eprintln!("token back noticed after {:?}", back.elapsed());
    assert!(healthy["reasons"].as_array().is_some_and(Vec::is_empty));
    let page = status_page(&district);
    assert!(!page.contains("data-kind=\"token_absent\""), "{page}");
    assert!(page.contains("đã cắm, đã đăng nhập"), "{page}");
}

#[test]
fn a_refused_pin_fails_the_token_check_until_the_pin_file_is_fixed() {
    let softhsm = SoftHsm::shared();
    let pki = softhsm::pki();
    let label = softhsm::unique_label("pin");
    softhsm.provision(&label, "7531", &[(&pki.rsa, "agency-seal")]);
    let dir = tempfile::tempdir().expect("dir");
    let exchange = Exchange::setup(dir.path());
    seal_on_token(&exchange, dir.path(), &label, "7531", None);
    let pin_file = dir.path().join("token-pin");
    let _axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    wait_for_token(&district, 200, "token_answers");

    // A wrong PIN in the file, and the token replugged so the worker logs in again.
    std::fs::write(&pin_file, "0000\n").expect("wrong pin");
    softhsm.unplug(&label);
    wait_for_token(&district, 503, "token_absent");
    softhsm.replug(&label);
    let refused = wait_for_token(&district, 503, "token_pin_refused");
    let reason = token_reason(&refused);
    assert!(
        reason.starts_with(&format!("token '{label}' refused the PIN in ")),
        "{reason}"
    );
    assert!(reason.contains("CKR_PIN_INCORRECT"), "{reason}");
    assert!(!reason.contains("0000"), "no PIN in the message: {reason}");
    let page = status_page(&district);
    assert!(page.contains("data-kind=\"token_pin_refused\""), "{page}");
    assert!(page.contains("từ chối mã PIN"), "{page}");
    assert!(page.contains("Ghi đúng mã PIN vào tệp này"), "{page}");

    std::fs::write(&pin_file, "7531\n").expect("right pin");
    wait_for_token(&district, 200, "token_answers");
}
