//! The gateway's signature rule at intake: with `[signing]` configured, an outgoing PDF is
//! accepted only with a valid leader's signature; anything else is answered 422
//! `leader_signature_invalid` with the reason, and the store is left as it was.

mod common;

use common::signing::leader_signed;
use common::{sample_meta, sample_pdf, GatewayDir};
use docgate::demo::pki::TestCa;

#[test]
fn outgoing_pdfs_need_a_valid_leader_signature() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).expect("pki");
    let ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", &pki, "ca").expect("ca");
    let leader = ca
        .issue_document_signer("Nguyễn Văn An", "UBND xã", 21, &pki, "leader")
        .expect("leader");
    let agency = ca
        .issue_document_signer("UBND xã", "UBND xã", 22, &pki, "agency")
        .expect("agency");
    let revoked = ca
        .issue_document_signer("Trần Văn Bảy", "UBND xã", 23, &pki, "revoked")
        .expect("revoked");
    let other = TestCa::create("Another CA", &pki, "other").expect("other");
    let foreign = other
        .issue_document_signer("Lê Thị Cúc", "Elsewhere", 24, &pki, "foreign")
        .expect("foreign");
    let crl = ca.revocation_list(&[23], &pki, "crl").expect("crl");

    let gateway = GatewayDir::init(&dir.path().join("gateway"), &[]);
    let mut text = std::fs::read_to_string(&gateway.config).expect("config");
    text.push_str(&format!(
        "\n[signing]\nkey_file = {:?}\ntrust_roots = [{:?}]\ncrls = [{:?}]\n",
        agency.key_file, ca.certificate, crl
    ));
    std::fs::write(&gateway.config, text).expect("config");
    let process = gateway.start();
    let meta = sample_meta();

    let refused = [
        ("unsigned", sample_pdf("unsigned"), "not signed"),
        (
            "foreign",
            leader_signed(
                &foreign.key_file,
                &sample_pdf("foreign"),
                dir.path(),
                "foreign",
            ),
            "no trusted issuer",
        ),
        (
            "revoked",
            leader_signed(
                &revoked.key_file,
                &sample_pdf("revoked"),
                dir.path(),
                "revoked",
            ),
            "revoked",
        ),
        (
            "sealed only",
            leader_signed(
                &agency.key_file,
                &sample_pdf("agency"),
                dir.path(),
                "agency-only",
            ),
            "no personal",
        ),
    ];
    for (what, pdf, reason) in refused {
        let (status, body) =
            process.post_document(&meta, &[("van-ban.pdf", "application/pdf", pdf)], None);
        assert_eq!(status, 422, "{what}: {body}");
        assert_eq!(
            body["error"]["code"], "leader_signature_invalid",
            "{what}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{what}: {message}");
    }
    assert!(
        process.all_document_ids().is_empty(),
        "a refused request stores nothing"
    );

    let signed = leader_signed(&leader.key_file, &sample_pdf("good"), dir.path(), "good");
    let (status, body) = process.post_document(
        &meta,
        &[("van-ban.pdf", "application/pdf", signed.clone())],
        None,
    );
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().expect("id");
    let (status, stored) = process.get_bytes(&format!("/api/v1/documents/{id}/files/1"));
    assert_eq!(status, 200);
    assert_eq!(stored, signed, "the leader-signed PDF is kept as submitted");
}

#[test]
fn crls_are_fetched_from_distribution_points_cached_and_unknown_when_unreachable() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).expect("pki");
    let ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", &pki, "ca").expect("ca");
    // The CA publishes its CRL (revoking serial 52) at a distribution point.
    let crl = ca.revocation_list(&[52], &pki, "published").expect("crl");
    let server = common::http::FileServer::start(crl, "ca.crl");
    let issue = |name: &str, serial: u64, url: &str| {
        ca.issue_document_signer_with_crl(name, "UBND xã", serial, &pki, name, Some(url))
            .expect("signer")
    };
    let good = issue("good", 51, &server.url);
    let revoked = issue("revoked", 52, &server.url);
    let orphan = issue("orphan", 53, "http://127.0.0.1:9/nowhere.crl");
    let agency = ca
        .issue_document_signer("UBND xã", "UBND xã", 54, &pki, "agency")
        .expect("agency");

    // No `crls` configured: revocation comes from the distribution points.
    let gateway = GatewayDir::init(&dir.path().join("gateway"), &[]);
    let mut text = std::fs::read_to_string(&gateway.config).expect("config");
    text.push_str(&format!(
        "\n[signing]\nkey_file = {:?}\ntrust_roots = [{:?}]\n",
        agency.key_file, ca.certificate
    ));
    std::fs::write(&gateway.config, text).expect("config");
    let process = gateway.start();
    let meta = sample_meta();
    let post = |signer: &docgate::demo::pki::SignerFiles, tag: &str| {
        let pdf = leader_signed(&signer.key_file, &sample_pdf(tag), dir.path(), tag);
        process.post_document(&meta, &[("van-ban.pdf", "application/pdf", pdf)], None)
    };

    let (status, body) = post(&good, "good-1");
    assert_eq!(status, 202, "{body}");
    let (status, body) = post(&revoked, "revoked-1");
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"].to_string().contains("revoked"),
        "{body}"
    );
    let fetched = server.requests();
    assert!(fetched >= 1);

    // The CRL is cached (memory and state_dir/crl-cache): with the server down, a good
    // signature is still judged, and nothing more was fetched.
    server.set_up(false);
    let (status, body) = post(&good, "good-2");
    assert_eq!(status, 202, "{body}");
    assert_eq!(server.requests(), fetched);
    assert!(
        std::fs::read_dir(gateway.state_dir().join("crl-cache"))
            .expect("cache directory")
            .count()
            >= 1
    );

    // A distribution point that cannot be reached: revocation unknown, refused.
    let (status, body) = post(&orphan, "orphan");
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .to_string()
            .contains("revocation unknown"),
        "{body}"
    );
}
