//! Signatures across the exchange: with `[signing]` on both gateways, the district accepts
//! only a leader-signed PDF, and the commune stores a verification report with the document
//! it receives (shown by the local API): the leader's signature valid, personal, intact.

mod common;

use std::time::Duration;

use common::exchange::{documents, set_option, wait_for, Exchange};
use common::signing::leader_signed;
use common::{sample_meta, sample_pdf};
use docgate::demo::pki::TestCa;

#[test]
fn the_receiver_stores_a_verification_report_with_each_document() {
    let dir = tempfile::tempdir().expect("dir");
    let exchange = Exchange::setup(dir.path());
    let pki = dir.path().join("signing-pki");
    std::fs::create_dir_all(&pki).expect("pki");
    let ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", &pki, "ca").expect("ca");
    let leader = ca
        .issue_document_signer("Nguyễn Văn An", "UBND huyện", 31, &pki, "leader")
        .expect("leader");
    let crl = ca.revocation_list(&[], &pki, "crl").expect("crl");
    for name in ["district", "commune"] {
        let seal = ca
            .issue_document_signer(
                name,
                name,
                if name == "district" { 32 } else { 33 },
                &pki,
                name,
            )
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
    let _axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    let commune = exchange.gateway("commune").start();

    let signed = leader_signed(
        &leader.key_file,
        &sample_pdf("signed across the exchange"),
        dir.path(),
        "signed",
    );
    let mut meta = sample_meta();
    meta["to"] = serde_json::json!([exchange.organ_id("commune")]);
    let (status, body) =
        district.post_document(&meta, &[("van-ban.pdf", "application/pdf", signed)], None);
    assert_eq!(status, 202, "{body}");

    let received = wait_for(Duration::from_secs(30), || {
        documents(&commune, "in").into_iter().next()
    })
    .expect("the commune receives the document");
    let id = received["id"].as_str().expect("id");
    let (status, record) = commune.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(status, 200);
    let report = &record["signatures"];
    assert_eq!(report["valid"], true, "{record:#}");
    assert_eq!(report["signatures"][0]["role"], "personal");
    assert_eq!(report["signatures"][0]["intact"], true);
    assert_eq!(
        report["signatures"][0]["chain"]["revocation"]["status"],
        "good"
    );
}
