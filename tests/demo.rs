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
}
