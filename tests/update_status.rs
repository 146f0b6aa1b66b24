//! Signed updates with a real RAUC (Debian's `rauc` + `rauc-service`, its own D-Bus bus,
//! file-backed slots A and B; see `tests/common/rauc.rs`) and what the gateway shows of
//! them: a bundle signed by provincial IT's key is installed into the other slot and made
//! the next boot's; one signed by another key is refused and writes nothing; the running
//! `docgate run` reads the updater's status file and shows both slots' versions in
//! `/api/v1/status`, on the status page and in `docgate status`; an update that failed to
//! come up (marked bad, the boot back on A) becomes an `update_rolled_back` warning.
//! Booting the slots is the appliance image's test (`tools/image-test`).

mod common;

use common::rauc::{self, Rauc};
use common::GatewayDir;

#[test]
fn a_signed_update_is_installed_and_the_box_shows_both_slots() {
    assert!(
        rauc::available(),
        "rauc, rauc-service, dbus-daemon and squashfs-tools are needed; tools/test.sh installs them"
    );
    let dir = tempfile::tempdir().expect("dir");
    let provincial_it = rauc::signer(dir.path(), "provincial-it");
    let impostor = rauc::signer(dir.path(), "impostor");
    let system = Rauc::start(
        &dir.path().join("rauc"),
        &provincial_it.certificate,
        8 << 20,
    );

    // Another key's bundle: refused, slot B untouched, the next boot still A.
    let forged_image = vec![0xEE; 1 << 20];
    let forged = system.bundle("6.6.6", &forged_image, &impostor);
    let output = system.rauc(&["install", forged.to_str().expect("path")]);
    assert!(
        !output.status.success(),
        "a bundle of another key is refused"
    );
    assert!(!system.slot_b_starts_with(&forged_image[..4096]));
    assert_eq!(system.primary(), "A");

    // Provincial IT's bundle: written into B, which boots next.
    let image: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let bundle = system.bundle("0.2.0", &image, &provincial_it);
    let output = system.rauc(&["install", bundle.to_str().expect("path")]);
    assert!(output.status.success(), "{output:?}");
    assert!(system.slot_b_starts_with(&image), "slot B holds the image");
    assert_eq!(system.primary(), "B");

    // The gateway shows it, from the file the image's unit writes.
    // Its own directory, as /run/docgate on the box: the daemon's sandbox grants reading it.
    std::fs::create_dir_all(dir.path().join("run")).expect("run");
    let status_file = dir.path().join("run/update-status.json");
    system.write_status(&status_file);
    let gateway = GatewayDir::init(&dir.path().join("gw"), &[]);
    common::exchange::set_option(
        &gateway.config,
        "gateway",
        "update_status_file",
        &format!("{status_file:?}"),
    );
    let process = gateway.start();
    let (_, facts) = process.get_json("/api/v1/status");
    let update = &facts["update"];
    assert_eq!(update["running"]["slot"], "A", "{facts:#}");
    assert_eq!(update["running"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(update["other"]["slot"], "B");
    assert_eq!(update["other"]["version"], "0.2.0");
    assert_eq!(update["next_boot"], "B");
    let kinds: Vec<&str> = facts["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|check| check["component"] == "update")
        .filter_map(|check| check["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["update_running", "update_pending"]);
    let page = process
        .client
        .get(format!("{}/?lang=en", process.url))
        .send()
        .and_then(|response| response.text())
        .expect("status page");
    assert!(page.contains("an update waits for a reboot"), "{page}");

    // B failed to come up: the boot loader marked it bad and went back to A.
    let output = system.rauc(&["status", "mark-bad", "other"]);
    assert!(output.status.success(), "{output:?}");
    let output = system.rauc(&["status", "mark-active", "booted"]);
    assert!(output.status.success(), "{output:?}");
    system.write_status(&status_file);
    let (_, facts) = process.get_json("/api/v1/status");
    assert_eq!(facts["update"]["next_boot"], "A", "{facts:#}");
    assert_eq!(facts["update"]["other"]["boot_status"], "bad");
    let rolled_back = facts["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|check| check["kind"] == "update_rolled_back")
        .unwrap_or_else(|| panic!("no rollback warning: {facts:#}"));
    assert_eq!(rolled_back["severity"], "warning");
    let status = common::docgate()
        .args(["status", "--config"])
        .arg(&gateway.config)
        .output()
        .expect("docgate status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("slot B has 0.2.0 (failed to come up); next boot A"),
        "{text}"
    );
}

#[test]
fn boot_check_passes_once_the_daemon_answers_and_fails_when_it_never_does() {
    let dir = tempfile::tempdir().expect("dir");
    let gateway = GatewayDir::init(dir.path(), &[]);
    let boot_check = |timeout: &str| {
        common::docgate()
            .args(["boot-check", "--timeout", timeout, "--config"])
            .arg(&gateway.config)
            .output()
            .expect("docgate boot-check")
    };
    let never = boot_check("2");
    assert_eq!(never.status.code(), Some(1));
    let said = String::from_utf8_lossy(&never.stderr);
    assert!(said.contains("did not come up within 2 s"), "{said}");

    let mut process = gateway.start();
    let up = boot_check("30");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(String::from_utf8_lossy(&up.stdout).contains("docgate came up"));
    process.kill();
}
