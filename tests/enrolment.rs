//! Enrolment at the reference axis, end to end over real TLS with the real `docgate axis`
//! process and `docgate axis enroll`: a box fetches the device CA pinned by its code,
//! enrols with a CSR, gets a certificate OpenSSL-compatible with the CA, a shared secret
//! and a signed bundle, and can speak VDXP at once; every refusal (wrong, expired, used,
//! revoked code; a CA that does not match the pin; a bad CSR) is tested; renewal over the
//! mutual-TLS link and decommissioning are seen by the live directory.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::axis::{AxisClient, AxisDir, Credentials};
use docgate::demo::pki::IssuedFiles;
use docgate::provisioning::code::{fingerprint, SECRET_BYTES};
use docgate::provisioning::messages::EnrolRequest;
use docgate::provisioning::EnrolmentCode;
use docgate::sync::enrol_client::{self, EnrolClientError, EnrolledClient};
use docgate::vdxp::Operation;

const BOX_AGENCY: &str = "000.01.20.H41";

fn enroll_cli(config: &Path, args: &[&str]) -> std::process::Output {
    common::docgate()
        .args(["axis", "enroll"])
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("docgate axis enroll")
}

fn create_code(config: &Path, agency: &str, expires_in: &str) -> (String, String) {
    let output = enroll_cli(
        config,
        &[
            "create",
            "--agency",
            agency,
            "--name",
            "UBND xã Mới",
            "--expires-in",
            expires_in,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    (field("id:"), field("code:"))
}

fn csr(key: &rcgen::KeyPair) -> String {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "box");
    params
        .serialize_request(key)
        .expect("csr")
        .pem()
        .expect("pem")
}

fn request(code: &str, csr: String) -> EnrolRequest {
    EnrolRequest {
        code: code.to_owned(),
        csr_pem: csr,
        device: "test box".into(),
        enrolled_agency: None,
    }
}

fn with_enrolment(axis: &AxisDir) {
    axis.ca
        .write_key(&axis.dir.join("pki/ca.key"))
        .expect("CA key");
    let mut text = std::fs::read_to_string(&axis.config).expect("config");
    text.push_str(
        "\n[enrolment]\nca_key = \"pki/ca.key\"\npublic_url = \"https://127.0.0.1:8443\"\nlink_certificate_lifetime_secs = 86400\n",
    );
    std::fs::write(&axis.config, text).expect("config");
}

#[test]
fn a_box_enrols_with_a_code_and_every_bad_code_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let axis = AxisDir::create(dir.path());
    with_enrolment(&axis);
    let process = axis.start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ca_der = std::fs::read_to_string(axis.ca_certificate()).expect("ca");
    let ca_der = docgate::provisioning::pem::pem_block(&ca_der, "CERTIFICATE").expect("der");

    // Enrol.
    let (_, code_text) = create_code(&axis.config, BOX_AGENCY, "1h");
    let code = EnrolmentCode::parse(&code_text).expect("code");
    let pinned = runtime
        .block_on(enrol_client::fetch_pinned_ca(&process.url, &code))
        .expect("pinned CA");
    assert_eq!(pinned, ca_der);
    let key = rcgen::KeyPair::generate().expect("key");
    let answer = runtime
        .block_on(enrol_client::enrol(
            &process.url,
            &pinned,
            &request(&code_text, csr(&key)),
        ))
        .expect("enrolled");
    assert_eq!(answer.system_id, BOX_AGENCY);
    let bundle = answer.bundle.verify(&ca_der).expect("bundle verifies");
    assert_eq!(bundle.agency.code, BOX_AGENCY);
    assert_eq!(bundle.serial, 1);
    assert!(!bundle.decommissioned);

    // The certificate chains for OpenSSL, and the box speaks VDXP at once.
    let box_dir = dir.path().join("box");
    std::fs::create_dir_all(&box_dir).expect("box dir");
    let certificate = box_dir.join("link.pem");
    std::fs::write(&certificate, &answer.certificate_pem).expect("cert");
    std::fs::write(box_dir.join("link.key"), key.serialize_pem()).expect("key");
    let verify = Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(axis.ca_certificate())
        .arg(&certificate)
        .output()
        .expect("openssl");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let credentials = Credentials {
        system_id: answer.system_id.clone(),
        secret: answer.secret.clone(),
        certificate: IssuedFiles {
            certificate: certificate.clone(),
            key: box_dir.join("link.key"),
        },
    };
    let client = AxisClient::new(&process.url, &axis.ca_certificate(), credentials.clone());
    let agencies = client.call(Operation::GetAgenciesList, &[], None).answer();
    assert_eq!(agencies.status, "OK", "{agencies:?}");
    let listed = serde_json::to_string(&agencies.data).expect("json");
    assert!(listed.contains(BOX_AGENCY), "{listed}");

    // Refusals.
    let refusal = |code_text: &str| {
        runtime
            .block_on(enrol_client::enrol(
                &process.url,
                &pinned,
                &request(code_text, csr(&rcgen::KeyPair::generate().expect("key"))),
            ))
            .expect_err("refused")
            .refusal()
    };
    assert_eq!(refusal(&code_text), Some("code_used"));
    let unknown = EnrolmentCode::new([9; SECRET_BYTES], &fingerprint(&ca_der)).to_text();
    assert_eq!(refusal(&unknown), Some("code_unknown"));
    let (revoked_id, revoked) = create_code(&axis.config, "000.01.21.H41", "1h");
    let output = enroll_cli(&axis.config, &["revoke", &revoked_id]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(refusal(&revoked), Some("code_revoked"));
    let (_, expired) = create_code(&axis.config, "000.01.22.H41", "1s");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(refusal(&expired), Some("code_expired"));
    let (_, fresh) = create_code(&axis.config, "000.01.23.H41", "1h");
    let bad_csr = runtime
        .block_on(enrol_client::enrol(
            &process.url,
            &pinned,
            &request(
                &fresh,
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
                    .into(),
            ),
        ))
        .expect_err("bad csr");
    assert_eq!(bad_csr.refusal(), Some("csr_invalid"));

    // A code pinning another CA: the box stops before sending anything secret.
    let other =
        docgate::demo::pki::TestCa::create("Another CA", dir.path(), "other").expect("other");
    let other_der = docgate::provisioning::pem::pem_block(
        &std::fs::read_to_string(&other.certificate).expect("other"),
        "CERTIFICATE",
    )
    .expect("der");
    let mismatched = EnrolmentCode::new([1; SECRET_BYTES], &fingerprint(&other_der));
    let error = runtime
        .block_on(enrol_client::fetch_pinned_ca(&process.url, &mismatched))
        .expect_err("mismatch");
    assert!(
        matches!(error, EnrolClientError::FingerprintMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("call provincial IT"), "{error}");

    // Renewal over the mutual-TLS link: a new serial; the old certificate still works
    // until it expires, so the link has no gap.
    let enrolled = EnrolledClient::new(
        &process.url,
        &ca_der,
        vec![rustls::pki_types::CertificateDer::from(
            docgate::provisioning::pem::pem_block(&answer.certificate_pem, "CERTIFICATE")
                .expect("der"),
        )],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der"),
    )
    .expect("enrolled client");
    let new_key = rcgen::KeyPair::generate().expect("key");
    let renewed = runtime
        .block_on(enrolled.renew(&csr(&new_key)))
        .expect("renewed");
    assert_ne!(renewed.certificate_pem, answer.certificate_pem);
    std::thread::sleep(Duration::from_millis(1500));
    let still = client.call(Operation::GetAgenciesList, &[], None).answer();
    assert_eq!(
        still.status, "OK",
        "the previous certificate stays valid: {still:?}"
    );

    // Decommissioning: the live directory drops the box within a second or so, and its
    // bundle says so.
    let output = enroll_cli(&axis.config, &["decommission", BOX_AGENCY]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::thread::sleep(Duration::from_millis(2500));
    let fresh_client = AxisClient::new(&process.url, &axis.ca_certificate(), credentials);
    let refused = fresh_client
        .try_call(Operation::GetAgenciesList, &[], None)
        .expect("answer");
    assert_eq!(refused.status, 401, "a decommissioned box is refused");
    let notice = runtime.block_on(enrolled.bundle()).expect("bundle");
    assert!(
        notice
            .bundle
            .verify(&ca_der)
            .expect("verifies")
            .decommissioned
    );

    // The audit log has every step.
    let output = enroll_cli(&axis.config, &["audit"]);
    let audit = String::from_utf8_lossy(&output.stdout);
    for action in [
        "code_created",
        "enrolled",
        "enrol_refused",
        "code_revoked",
        "renewed",
        "decommissioned",
    ] {
        assert!(
            audit.contains(&format!("\"action\":\"{action}\"")),
            "{action} missing: {audit}"
        );
    }
    let devices =
        String::from_utf8_lossy(&enroll_cli(&axis.config, &["devices"]).stdout).into_owned();
    assert!(devices.contains("decommissioned"), "{devices}");
}
