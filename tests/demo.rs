//! `docgate demo`, the README's first command: it must set up a test PKI, the axis and two
//! gateways, exchange a sample document each way with status 01 coming back, write a usable
//! `demo.json`, and stop on time. Then every part must run again as its own process from
//! the command `demo.json` gives it, with its state intact.

mod common;

use std::time::Duration;

use common::exchange::{documents, wait_for, Exchange};

#[test]
fn the_demo_exchanges_documents_and_its_manifest_drives_the_parts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo_dir = dir.path().join("demo");
    let output = common::docgate()
        .args(["demo", "--exit-after", "1", "--dir"])
        .arg(&demo_dir)
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.matches("accepted sample document").count(),
        2,
        "{stdout}"
    );
    assert_eq!(stdout.matches("answered 01 from").count(), 2, "{stdout}");

    // demo.json runs each part as its own process; the exchange's state survived.
    let exchange = Exchange::setup_existing(&demo_dir);
    let _axis = exchange.axis.start();
    for name in ["district", "commune"] {
        let gateway = exchange.gateway(name).start();
        let both = wait_for(Duration::from_secs(10), || {
            let (outgoing, incoming) = (documents(&gateway, "out"), documents(&gateway, "in"));
            (outgoing.len() == 1 && incoming.len() == 1).then_some(())
        });
        assert!(
            both.is_some(),
            "{name}: {} out, {} in",
            documents(&gateway, "out").len(),
            documents(&gateway, "in").len()
        );
    }
    assert_eq!(exchange.organ_id("commune"), "001.01.10.H41");

    // The demo signs: each received sample carries the leader's signature and the sending
    // agency's seal, verified on arrival; demo.json lists the keys; unsigned PDFs are refused.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(demo_dir.join("demo.json")).expect("demo.json"))
            .expect("manifest");
    // SoftHSM2 and OpenSC are installed here (tools/test.sh), so the keys are on tokens.
    for token in [
        "district-leader",
        "district-agency",
        "commune-leader",
        "commune-agency",
    ] {
        let entry = &manifest["tokens"][token];
        assert_eq!(entry["kind"], "pkcs11", "{token}: {entry}");
        assert_eq!(entry["label"], token);
        let pin_file = entry["pin_file"].as_str().expect("pin_file");
        assert!(std::path::Path::new(pin_file).exists());
    }
    // A leader's station can sign with the demo's leader token, as `demo.json` describes it.
    let leader = &manifest["tokens"]["commune-leader"];
    let text = |key: &str| leader[key].as_str().expect(key).to_owned();
    let input = dir.path().join("to-sign.pdf");
    std::fs::write(&input, common::sample_pdf("signed on the demo token")).expect("pdf");
    let signed = dir.path().join("signed-on-token.pdf");
    let output = common::docgate()
        .args([
            "sign",
            "--token-label",
            &text("label"),
            "--module",
            &text("module"),
        ])
        .args(["--pin-file", &text("pin_file"), "--role", "leader"])
        .arg(&input)
        .arg(&signed)
        .env(
            "SOFTHSM2_CONF",
            leader["env"]["SOFTHSM2_CONF"].as_str().expect("conf"),
        )
        .output()
        .expect("sign");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let commune = exchange.gateway("commune").start();
    let incoming = documents(&commune, "in");
    let id = incoming[0]["id"].as_str().expect("id");
    let (_, record) = commune.get_json(&format!("/api/v1/documents/{id}"));
    let report = &record["signatures"];
    assert_eq!(report["valid"], true, "{record:#}");
    assert_eq!(report["signatures"][0]["role"], "personal");
    assert_eq!(report["signatures"][1]["role"], "agency");
    // To the district, which the axis's directory knows (an unknown code would be
    // refused before any signature is looked at).
    let mut meta = common::sample_meta();
    meta["to"] = serde_json::json!(["001.00.10.H41"]);
    let (status, body) = commune.post_document(
        &meta,
        &[(
            "unsigned.pdf",
            "application/pdf",
            common::sample_pdf("unsigned"),
        )],
        None,
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "leader_signature_invalid");
}
