//! What the two TLS servers offer, asked by an independent client (`openssl s_client`):
//! TLS 1.2 and 1.3 only, and in TLS 1.2 only forward-secret AEAD suites (ECDHE with
//! AES-GCM or ChaCha20-Poly1305) — every TLS 1.2 suite OpenSSL knows is tried, even those
//! it would not offer by default (`@SECLEVEL=0`). SECURITY.md, "TLS".

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::axis::{AxisDir, COMMUNE, PROVINCE};
use common::GatewayDir;
use docgate::vdxp::Operation;

/// The suites a server with an ECDSA P-256 certificate (rcgen's default key) should take.
const EXPECTED_TLS12_SUITES: [&str; 3] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
];
const TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// A client certificate to present (the axis wants one).
struct ClientCertificate {
    certificate: PathBuf,
    key: PathBuf,
}

/// Whether a handshake with `arguments` succeeds; with OpenSSL's output.
fn handshake(
    address: SocketAddr,
    client: Option<&ClientCertificate>,
    arguments: &[&str],
) -> (bool, String) {
    let mut command = Command::new("openssl");
    command
        .args(["s_client", "-connect", &address.to_string()])
        .args(["-servername", "localhost"])
        .args(arguments)
        .stdin(Stdio::null());
    if let Some(client) = client {
        command.arg("-cert").arg(&client.certificate);
        command.arg("-key").arg(&client.key);
    }
    let output = command.output().expect("run openssl s_client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The TLS 1.2 suites OpenSSL knows, weak ones included.
fn every_tls12_suite() -> Vec<String> {
    let output = Command::new("openssl")
        .args(["ciphers", "-tls1_2", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"])
        .output()
        .expect("run openssl ciphers");
    assert!(output.status.success(), "openssl ciphers failed");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .split(':')
        .filter(|name| !name.starts_with("TLS_"))
        .map(str::to_string)
        .collect()
}

/// Checks a server's whole offer.
fn check_offer(address: SocketAddr, client: Option<&ClientCertificate>) {
    for old in ["-tls1", "-tls1_1"] {
        let (accepted, output) = handshake(address, client, &[old, "-cipher", "ALL:@SECLEVEL=0"]);
        assert!(!accepted, "{old} was accepted:\n{output}");
        // rustls answers with an alert (handshake_failure); OpenSSL refusing on its own
        // side would say "no protocols available" and never reach the server.
        assert!(
            output.contains("SSL alert number") && !output.contains("no protocols available"),
            "{old} must be refused by the server's alert, not by the client:\n{output}"
        );
    }

    let suites = every_tls12_suite();
    assert!(suites.len() > 20, "OpenSSL lists few suites: {suites:?}");
    let accepted: BTreeSet<String> = suites
        .iter()
        .filter(|suite| {
            let cipher = format!("{suite}:@SECLEVEL=0");
            handshake(address, client, &["-tls1_2", "-cipher", &cipher]).0
        })
        .cloned()
        .collect();
    let expected: BTreeSet<String> = EXPECTED_TLS12_SUITES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        accepted,
        expected,
        "TLS 1.2 suites taken, of {}",
        suites.len()
    );

    for suite in TLS13_SUITES {
        let (accepted, output) = handshake(address, client, &["-tls1_3", "-ciphersuites", suite]);
        assert!(accepted, "TLS 1.3 with {suite} refused:\n{output}");
    }
}

fn socket_address(url: &str) -> SocketAddr {
    url.trim_start_matches("https://")
        .trim_start_matches("http://")
        .parse()
        .expect("a socket address")
}

/// A gateway serving its LAN side over HTTPS with a fresh self-signed certificate.
fn https_gateway(dir: &Path) -> GatewayDir {
    let gateway = GatewayDir::init(dir, &[]);
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().expect("ip")));
    let key = rcgen::KeyPair::generate().expect("key");
    let certificate = params.self_signed(&key).expect("certificate");
    std::fs::write(dir.join("lan.pem"), certificate.pem()).expect("write");
    std::fs::write(dir.join("lan-key.pem"), key.serialize_pem()).expect("write");
    let text = std::fs::read_to_string(&gateway.config).expect("config");
    let text = text.replacen(
        "[api]\n",
        "[api]\ntls_certificate = \"lan.pem\"\ntls_key = \"lan-key.pem\"\n",
        1,
    );
    std::fs::write(&gateway.config, text).expect("config");
    gateway
}

#[test]
fn the_lan_server_offers_tls_1_2_and_1_3_with_forward_secret_aead_suites_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = https_gateway(dir.path());
    let mut process = common::docgate_run(&gateway.config, &[])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("docgate run");
    let address = socket_address(&gateway.url);
    // Up once a TLS 1.3 handshake succeeds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !handshake(address, None, &["-tls1_3"]).0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the HTTPS server never came up"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    check_offer(address, None);
    let _ = process.kill();
    let _ = process.wait();
}

#[test]
fn the_axis_offers_tls_1_2_and_1_3_with_forward_secret_aead_suites_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis = AxisDir::create(dir.path());
    let process = axis.start();
    let credentials = axis.credentials(COMMUNE);
    let client = ClientCertificate {
        certificate: credentials.certificate.certificate.clone(),
        key: credentials.certificate.key.clone(),
    };
    check_offer(socket_address(&process.url), Some(&client));
}

#[test]
fn a_gateway_refuses_an_axis_whose_certificate_its_ca_did_not_issue() {
    // An axis with its own PKI, listening where the gateway expects the provincial axis.
    let dir = tempfile::tempdir().expect("tempdir");
    let impostor = AxisDir::create(&dir.path().join("impostor"));
    let impostor_process = impostor.start();
    let gateway = GatewayDir::init(&dir.path().join("gateway"), &[]);
    // The gateway trusts a CA of its own (add_axis_section), not the impostor's.
    common::add_axis_section(&gateway, &impostor_process.url, "");
    let process = gateway.start();
    let (status, answer) = process.post_document(
        &common::sample_meta(),
        &[("cv.pdf", "application/pdf", common::sample_pdf("impostor"))],
        None,
    );
    assert_eq!(status, 202, "{answer}");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let link = loop {
        let (_, link) = process.get_json("/api/v1/link");
        if link["last_error"].is_string() {
            break link;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no link error: {link}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let error = link["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        error.contains("certificate"),
        "the link names the certificate: {link}"
    );
    assert_eq!(link["connected"], false, "{link}");
    let received = common::list_files(&impostor.dir.join("state/packets"));
    assert!(
        received.is_empty(),
        "the impostor received a packet: {received:?}"
    );
}

/// A system whose client certificate the axis's CRL revokes is refused at the handshake;
/// another system, whose certificate the CRL does not name, is served by the same axis.
#[test]
fn the_axis_refuses_a_revoked_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis_dir = AxisDir::create(dir.path());
    let pki = axis_dir.dir.join("pki");
    // The commune's certificate again, with a serial the CRL can name.
    axis_dir
        .ca
        .issue_client_with_serial(COMMUNE, 4242, &pki, COMMUNE)
        .expect("client certificate");
    axis_dir
        .ca
        .revocation_list(&[4242], &pki, "revoked")
        .expect("CRL");
    let config = std::fs::read_to_string(&axis_dir.config).expect("axis config");
    assert!(config.contains("crls = []"), "{config}");
    std::fs::write(
        &axis_dir.config,
        config.replace("crls = []", "crls = [\"pki/revoked.pem\"]"),
    )
    .expect("write the axis config");
    let axis = axis_dir.start();

    let revoked = axis_dir.client(&axis, COMMUNE);
    let refused = revoked.try_call(Operation::GetAgenciesList, &[], None);
    assert!(
        refused.is_err(),
        "a revoked certificate got an answer: {:?}",
        refused.map(|answer| answer.status)
    );
    let province = axis_dir.client(&axis, PROVINCE);
    let served = province
        .try_call(Operation::GetAgenciesList, &[], None)
        .expect("the province's certificate is not revoked");
    assert_eq!(served.status, 200);
}
