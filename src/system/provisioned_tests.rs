use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::provisioning::bundle::tests::{ca, sample, signed};
use crate::provisioning::pem::pem_encode;

struct Issued {
    ca_pem: String,
    ca_key: rcgen::KeyPair,
    ca_der: Vec<u8>,
    certificate_pem: String,
    key_pem: String,
}

fn issued() -> Issued {
    let (ca_key, ca_der) = ca();
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.not_after = rcgen::date_time_ymd(2031, 1, 2);
    let certificate = params.self_signed(&key).expect("certificate");
    Issued {
        ca_pem: pem_encode("CERTIFICATE", &ca_der),
        ca_key,
        ca_der,
        certificate_pem: certificate.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn generation<'a>(issued: &'a Issued, bundle: &'a SignedBundle) -> NewGeneration<'a> {
    NewGeneration {
        ca_pem: &issued.ca_pem,
        certificate_pem: &issued.certificate_pem,
        key_pem: Some(&issued.key_pem),
        key_label: None,
        secret: "s3cret-s3cret-s3cret-s3cret",
        bundle,
    }
}

fn file_config(state_dir: &Path) -> GatewayConfig {
    let text = format!(
        "[gateway]\nstate_dir = {:?}\n[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"0123456789abcdef0123456789abcdef\"\n[provisioning]\n",
        state_dir.display().to_string()
    );
    GatewayConfig::parse(&text, &state_dir.join("docgate.toml")).expect("config")
}

#[test]
fn an_unenrolled_box_has_no_enrolment() {
    let state = tempfile::tempdir().expect("tmp");
    assert!(load(state.path()).expect("load").is_none());
}

#[test]
fn a_written_generation_reads_back_and_sets_who_the_box_is() {
    let state = tempfile::tempdir().expect("tmp");
    let issued = issued();
    let bundle = signed(&sample(1, "000.01.10.H41"), &issued.ca_key, &issued.ca_der);
    let written = write(state.path(), &generation(&issued, &bundle)).expect("write");
    let loaded = load(state.path()).expect("load").expect("enrolled");
    assert_eq!(loaded.generation, 1);
    assert_eq!(written.generation, 1);
    assert_eq!(loaded.bundle.agency.code, "000.01.10.H41");
    assert_eq!(loaded.certificate_not_after.year(), 2031);
    let key_path = root(state.path()).join("current/link.key");
    assert_eq!(loaded.link_key, LinkKey::File(key_path.clone()));
    let mode = |path: &Path| fs::metadata(path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&root(state.path()).join("current/axis-secret")), 0o600);

    let config = loaded.apply(&file_config(state.path()));
    assert_eq!(config.gateway.organ_id, "000.01.10.H41");
    assert_eq!(config.gateway.organ_name, "UBND xã Thử Nghiệm");
    let axis = config.axis.expect("axis");
    assert_eq!(axis.url, "https://10.0.0.1:8443");
    assert_eq!(axis.system_id, "gw-xa-1");
    assert_eq!(
        axis.secret().expect("secret"),
        "s3cret-s3cret-s3cret-s3cret"
    );
    assert_eq!(
        axis.certificate,
        root(state.path()).join("current/link.pem")
    );
}

#[test]
fn a_new_generation_replaces_the_current_one_and_old_ones_are_pruned() {
    let state = tempfile::tempdir().expect("tmp");
    let issued = issued();
    for serial in 1..=5 {
        let bundle = signed(
            &sample(serial, "000.01.10.H41"),
            &issued.ca_key,
            &issued.ca_der,
        );
        write(state.path(), &generation(&issued, &bundle)).expect("write");
    }
    let loaded = load(state.path()).expect("load").expect("enrolled");
    assert_eq!((loaded.generation, loaded.bundle.serial), (5, 5));
    let mut kept: Vec<String> = fs::read_dir(root(state.path()).join(GENERATIONS))
        .expect("dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("name")
        })
        .collect();
    kept.sort();
    assert_eq!(kept, ["3", "4", "5"]);
}

#[test]
fn a_bundle_edited_on_disk_is_refused() {
    let state = tempfile::tempdir().expect("tmp");
    let issued = issued();
    let bundle = signed(&sample(1, "000.01.10.H41"), &issued.ca_key, &issued.ca_der);
    write(state.path(), &generation(&issued, &bundle)).expect("write");
    let mut other = sample(1, "000.99.99.H41");
    other.serial = 9;
    let mut forged = bundle.clone();
    forged.payload = signed(&other, &issued.ca_key, &issued.ca_der).payload;
    let path = root(state.path()).join("current").join(BUNDLE_FILE);
    let mut permissions = fs::metadata(&path).expect("meta").permissions();
    permissions.set_mode(0o644);
    fs::set_permissions(&path, permissions).expect("chmod");
    fs::write(&path, serde_json::to_string(&forged).expect("json")).expect("edit");
    let error = load(state.path()).expect_err("refused");
    assert!(
        matches!(error, ProvisionedError::Bundle(BundleError::BadSignature)),
        "{error}"
    );
}

#[test]
fn a_generation_from_another_ca_is_refused_and_changes_nothing() {
    let state = tempfile::tempdir().expect("tmp");
    let first = issued();
    let bundle = signed(&sample(1, "000.01.10.H41"), &first.ca_key, &first.ca_der);
    write(state.path(), &generation(&first, &bundle)).expect("write");
    let stranger = issued();
    let foreign = signed(
        &sample(2, "000.01.10.H41"),
        &stranger.ca_key,
        &stranger.ca_der,
    );
    let error = write(state.path(), &generation(&stranger, &foreign)).expect_err("refused");
    assert!(matches!(error, ProvisionedError::OtherCa { .. }), "{error}");
    assert_eq!(
        load(state.path())
            .expect("load")
            .expect("kept")
            .bundle
            .serial,
        1
    );
}

#[test]
fn a_bundle_that_does_not_verify_is_never_written() {
    let state = tempfile::tempdir().expect("tmp");
    let issued = issued();
    let stranger = self::issued();
    let bundle = signed(
        &sample(1, "000.01.10.H41"),
        &stranger.ca_key,
        &stranger.ca_der,
    );
    let error = write(state.path(), &generation(&issued, &bundle)).expect_err("refused");
    assert!(matches!(
        error,
        ProvisionedError::Bundle(BundleError::BadSignature)
    ));
    assert!(load(state.path()).expect("load").is_none());
    assert!(!root(state.path()).join(PIN_FILE).exists());
}

/// A crash before the rename leaves a staging directory; a crash after it but before the
/// symlink swap leaves an unreferenced generation. Either way the previous one is current,
/// whole, and the next write carries on past them.
#[test]
fn a_crash_at_any_step_of_a_write_leaves_the_previous_generation_current() {
    let state = tempfile::tempdir().expect("tmp");
    let issued = issued();
    let first = signed(&sample(1, "000.01.10.H41"), &issued.ca_key, &issued.ca_der);
    write(state.path(), &generation(&issued, &first)).expect("write");
    let generations = root(state.path()).join(GENERATIONS);
    // Killed while writing files: half a staging directory.
    fs::create_dir(generations.join("2.tmp")).expect("staging");
    fs::write(generations.join("2.tmp").join(BUNDLE_FILE), b"{\"payl").expect("half");
    // Killed after the rename, before the symlink: a whole but unreferenced generation.
    fs::create_dir(generations.join("3")).expect("orphan");
    fs::write(root(state.path()).join("current.tmp"), b"").expect("half symlink");
    assert_eq!(
        load(state.path()).expect("load").expect("kept").generation,
        1
    );

    let second = signed(&sample(2, "000.01.10.H41"), &issued.ca_key, &issued.ca_der);
    let written = write(state.path(), &generation(&issued, &second)).expect("write");
    assert_eq!((written.generation, written.bundle.serial), (4, 2));
    assert!(!generations.join("2.tmp").exists());
}

#[test]
fn removing_the_enrolment_leaves_an_unenrolled_box() {
    let state = tempfile::tempdir().expect("tmp");
    let issued = issued();
    let bundle = signed(&sample(1, "000.01.10.H41"), &issued.ca_key, &issued.ca_der);
    write(state.path(), &generation(&issued, &bundle)).expect("write");
    remove(state.path()).expect("remove");
    assert!(load(state.path()).expect("load").is_none());
    remove(state.path()).expect("removing twice is fine");
}
