//! CMS signatures, timestamps and trust, checked by independent tools: every signature the
//! library builds must pass `openssl cms -verify`, every timestamp `openssl ts -verify`
//! (with `openssl ts` itself as the timestamp authority), and the trust judgement must tell
//! a good chain from a revoked certificate, a foreign CA, and a chain with no CRL.

mod common;

use std::process::Command;

use common::signing::openssl_cms_verify;
use common::tsa::OpensslTsa;
use docgate::demo::pki::TestCa;
use docgate::signature::cms;
use docgate::signature::timestamp::{self, TimestampRequest, TsaClient};
use docgate::signature::trust::{ChainStatus, RevocationStatus, TrustStore};
use docgate::signature::{DocumentSigner, KeyFileSigner};

struct Pki {
    ca: TestCa,
    dir: tempfile::TempDir,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", dir.path(), "ca").expect("ca");
    Pki { ca, dir }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[test]
fn openssl_verifies_a_detached_signature_the_library_built() {
    let pki = pki();
    let signer_files = pki
        .ca
        .issue_document_signer("Nguyễn Văn A", "UBND huyện", 1001, pki.dir.path(), "leader")
        .expect("signer");
    let signer = KeyFileSigner::load(&signer_files.key_file).expect("signer");
    let content = b"%PDF-1.7 the signed byte ranges of a document".repeat(100);
    let der = cms::sign_detached(&signer, &sha256(&content)).expect("sign");
    let (data, signature) = (
        pki.dir.path().join("data.bin"),
        pki.dir.path().join("sig.der"),
    );
    std::fs::write(&data, &content).expect("data");
    std::fs::write(&signature, &der).expect("signature");
    let output = openssl_cms_verify(&signature, &data, &pki.ca.certificate);
    assert!(
        output.status.success(),
        "openssl cms -verify: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The same signature over other content is refused by openssl too (the check can fail).
    std::fs::write(&data, b"other content").expect("data");
    let output = openssl_cms_verify(&signature, &data, &pki.ca.certificate);
    assert!(!output.status.success());
}

#[test]
fn trust_tells_good_revoked_foreign_and_unknown_apart() {
    let pki = pki();
    let dir = pki.dir.path();
    let good = pki
        .ca
        .issue_document_signer("Nguyễn Văn A", "UBND huyện", 1001, dir, "good")
        .expect("good");
    let revoked = pki
        .ca
        .issue_document_signer("Trần Thị B", "UBND huyện", 1002, dir, "revoked")
        .expect("revoked");
    let foreign_ca = TestCa::create("Some other CA", dir, "other-ca").expect("other ca");
    let foreign = foreign_ca
        .issue_document_signer("Lê Văn C", "Elsewhere", 7, dir, "foreign")
        .expect("foreign");
    let crl = pki.ca.revocation_list(&[1002], dir, "crl").expect("crl");
    let trust = TrustStore::load(std::slice::from_ref(&pki.ca.certificate), &[crl]).expect("trust");
    let no_crl = TrustStore::load(std::slice::from_ref(&pki.ca.certificate), &[]).expect("trust");
    let now = time::OffsetDateTime::now_utc();
    let leaf = |files: &docgate::demo::pki::SignerFiles| {
        KeyFileSigner::load(&files.key_file)
            .expect("signer")
            .chain()[0]
            .as_ref()
            .to_vec()
    };

    let report = trust.judge(&leaf(&good), &[], now);
    assert_eq!(report.status, ChainStatus::Trusted, "{report:?}");
    assert!(
        matches!(report.revocation, RevocationStatus::Good { .. }),
        "{report:?}"
    );
    assert_eq!(report.chain.len(), 2);

    let report = trust.judge(&leaf(&revoked), &[], now);
    assert_eq!(report.status, ChainStatus::Trusted);
    assert!(
        matches!(report.revocation, RevocationStatus::Revoked { .. }),
        "{report:?}"
    );

    // Signed (provably, by a timestamp) before the revocation an hour ago: still good.
    let report = trust.judge(&leaf(&revoked), &[], now - time::Duration::hours(3));
    assert!(
        matches!(report.revocation, RevocationStatus::Good { .. }),
        "{report:?}"
    );

    let report = trust.judge(&leaf(&foreign), &[], now);
    assert!(
        matches!(report.status, ChainStatus::Untrusted { .. }),
        "{report:?}"
    );

    let report = no_crl.judge(&leaf(&good), &[], now);
    assert!(
        matches!(report.revocation, RevocationStatus::Unknown { .. }),
        "{report:?}"
    );

    // Outside the certificate's validity.
    let report = trust.judge(&leaf(&good), &[], now + time::Duration::days(400));
    assert!(
        matches!(report.status, ChainStatus::Untrusted { .. }),
        "{report:?}"
    );
}

#[test]
fn a_timestamp_from_openssl_ts_is_accepted_embedded_and_verified_by_openssl() {
    let pki = pki();
    let dir = pki.dir.path();
    let tsa = OpensslTsa::new(&pki.ca, &dir.join("tsa"));
    let signer_files = pki
        .ca
        .issue_document_signer("UBND huyện", "UBND huyện", 2001, dir, "agency")
        .expect("signer");
    let signer = KeyFileSigner::load(&signer_files.key_file).expect("signer");
    let der = cms::sign_detached(&signer, &sha256(b"content")).expect("sign");
    let signature_value = cms::parse(&der).expect("parse").signature;

    let request = TimestampRequest::new(&signature_value).expect("request");
    let token = request.accept(&tsa.reply(&request.der)).expect("token");
    let stamped = cms::add_signature_timestamp(&der, &token).expect("stamp");
    let parsed = cms::parse(&stamped).expect("parse");
    assert_eq!(parsed.timestamp_token.as_deref(), Some(token.as_slice()));

    let facts = timestamp::examine(&token, &signature_value).expect("facts");
    assert!(facts.imprint_matches && facts.signature_valid, "{facts:?}");
    let age = time::OffsetDateTime::now_utc() - facts.time;
    assert!(age.whole_seconds().abs() < 120, "{facts:?}");
    let trust = TrustStore::load(std::slice::from_ref(&pki.ca.certificate), &[]).expect("trust");
    let tsa_certificate = facts.tsa_certificate.clone().expect("tsa certificate");
    assert_eq!(
        trust
            .judge(&tsa_certificate, &facts.certificates, facts.time)
            .status,
        ChainStatus::Trusted
    );
    // Over another message, the imprint does not match.
    assert!(
        !timestamp::examine(&token, b"other")
            .expect("facts")
            .imprint_matches
    );

    // openssl agrees, independently.
    let token_file = dir.join("token.der");
    std::fs::write(&token_file, &token).expect("token");
    let digest = hex::encode(sha256(&signature_value));
    let output = Command::new("openssl")
        .args(["ts", "-verify", "-token_in", "-digest", &digest, "-in"])
        .arg(&token_file)
        .arg("-CAfile")
        .arg(&pki.ca.certificate)
        .arg("-untrusted")
        .arg(tsa.certificate())
        .output()
        .expect("openssl");
    assert!(
        output.status.success(),
        "openssl ts -verify: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // A replayed answer to another request (other nonce) is refused.
    let other = TimestampRequest::new(&signature_value).expect("request");
    assert!(other.accept(&tsa.reply(&request.der)).is_err());
}

#[test]
fn the_tsa_client_talks_rfc_3161_over_http_and_reports_an_unreachable_tsa() {
    let pki = pki();
    let tsa = OpensslTsa::new(&pki.ca, &pki.dir.path().join("tsa"));
    let running = tsa.serve();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = TsaClient::new(&running.url, std::time::Duration::from_secs(10)).expect("client");
    let token = runtime
        .block_on(client.stamp(b"signature value"))
        .expect("stamp");
    let facts = timestamp::examine(&token, b"signature value").expect("facts");
    assert!(facts.imprint_matches && facts.signature_valid);

    running.set_up(false);
    // A new client: the old one would reuse its kept-alive connection.
    let client = TsaClient::new(&running.url, std::time::Duration::from_secs(10)).expect("client");
    let error = runtime
        .block_on(client.stamp(b"signature value"))
        .expect_err("unreachable");
    assert!(error.to_string().contains(&running.url), "{error}");
}
