//! The link key made on a real SoftHSM2 token (no mocks): `generate_link_key` and
//! `link_key_request`. The request verifies with `openssl req -verify` (OpenSSL is the
//! independent verifier); `pkcs11-tool`, another process, lists what is on the token (the
//! private key sensitive and never extractable, the objects under each label); a second
//! generation without `replace` is refused and changes nothing, with `replace` the old key
//! goes and one key holds the label, and the seal key (its certificate on the token) is
//! never replaced; an absent token, a wrong PIN and a bad label are told apart. Finally a
//! rustls handshake with client authentication, the client's signature made on the token
//! through `TokenTlsKey`, with a certificate the device CA issued for the request.
//!
//! Every test shares the process's one SoftHSM configuration (`SoftHsm::shared`) and makes
//! its own uniquely labelled tokens.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::softhsm::{pki, unique_label, SoftHsm, MODULE};
use docgate::token::{
    generate_link_key, link_key_config, link_key_request, GeneratedKey, Token, TokenConfig,
    TokenError, TokenTlsKey, STAGING_SUFFIX,
};
use x509_cert::der::{Decode, Encode};

/// The user PIN of the test tokens.
const PIN: &str = "135790";
/// The link key's label in these tests.
const LINK: &str = "docgate-link";

// --- Harness -------------------------------------------------------------------------

/// A PIN file holding `pin` and a newline, in the SoftHSM directory.
fn pin_file(name: &str, pin: &str) -> PathBuf {
    let path = SoftHsm::shared().dir.join(format!("{name}.pin"));
    std::fs::write(&path, format!("{pin}\n")).expect("write the PIN file");
    path
}

fn config(token_label: &str, pin_file: &Path) -> TokenConfig {
    let mut config = TokenConfig::new(MODULE, token_label, pin_file);
    config.rescan_interval = Duration::from_millis(100);
    config
}

/// A new empty token (user PIN set, no objects) plugged in, and its configuration.
fn empty_token(prefix: &str) -> (String, TokenConfig) {
    let hsm = SoftHsm::shared();
    let label = unique_label(prefix);
    hsm.provision(&label, PIN, &[]);
    let config = config(&label, &pin_file(&label, PIN));
    (label, config)
}

/// One object as `pkcs11-tool --list-objects` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    /// "Private Key Object; EC", "Public Key Object; EC ...", "Certificate Object; ...".
    kind: String,
    label: String,
    id: String,
    usage: Vec<String>,
    access: Vec<String>,
}

impl Listed {
    fn is(&self, kind: &str, label: &str) -> bool {
        self.kind.starts_with(kind) && self.label == label
    }
}

/// Every object on the token, as another process (`pkcs11-tool`, logged in) sees it.
fn objects(token_label: &str) -> Vec<Listed> {
    let mut command = SoftHsm::shared().command("pkcs11-tool");
    command.args(["--module", MODULE, "--token-label", token_label]);
    command.args(["--login", "--pin", PIN, "--list-objects"]);
    let listing = common::softhsm::run(command, "pkcs11-tool --list-objects");
    let mut objects: Vec<Listed> = Vec::new();
    for line in listing.lines() {
        if !line.starts_with(' ') && line.contains("Object;") {
            objects.push(Listed {
                kind: line.trim().to_owned(),
                label: String::new(),
                id: String::new(),
                usage: Vec::new(),
                access: Vec::new(),
            });
            continue;
        }
        let (Some(object), Some((name, value))) = (objects.last_mut(), line.split_once(':')) else {
            continue;
        };
        let value = value.trim().to_owned();
        let items = || value.split(", ").map(str::to_owned).collect();
        match name.trim() {
            "label" => object.label = value.clone(),
            "ID" => object.id = value.clone(),
            "Usage" => object.usage = items(),
            "Access" => object.access = items(),
            _ => {}
        }
    }
    objects
}

fn count(objects: &[Listed], kind: &str, label: &str) -> usize {
    objects
        .iter()
        .filter(|object| object.is(kind, label))
        .count()
}

/// Runs `openssl` with `args`; its status and its stdout + stderr.
fn openssl(args: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (is it installed?)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The SubjectPublicKeyInfo a PEM certificate request carries.
fn request_public_key(csr_pem: &str) -> Vec<u8> {
    let (label, der) = pem_rfc7468_decode(csr_pem);
    assert_eq!(label, "CERTIFICATE REQUEST");
    let request = x509_cert::request::CertReq::from_der(&der).expect("a PKCS#10 request");
    request.info.public_key.to_der().expect("encode")
}

fn pem_rfc7468_decode(pem: &str) -> (String, Vec<u8>) {
    let (label, der) = x509_cert::der::pem::decode_vec(pem.as_bytes()).expect("PEM");
    (label.to_owned(), der)
}

/// Checks a DER ECDSA signature over `message` with the generated key's public key.
fn verifies(key: &GeneratedKey, message: &[u8], signature: &[u8]) -> bool {
    let info = spki::SubjectPublicKeyInfoRef::from_der(key.subject_public_key_info_der())
        .expect("SubjectPublicKeyInfo");
    let point = info.subject_public_key.raw_bytes();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(message, signature)
        .is_ok()
}

// --- The key and its request -----------------------------------------------------------

#[test]
fn the_key_stays_on_the_token_and_its_request_verifies_with_openssl() {
    let (label, config) = empty_token("link");
    let request = link_key_request(&config, LINK, false, "000.01.10.H41").expect("request");
    let key = &request.key;
    assert_eq!(key.token_label(), label);
    assert_eq!(key.key_label(), LINK);
    assert_eq!(key.key_id().len(), 16);

    // OpenSSL checks the request's self-signature and reads it as P-256 / ECDSA-SHA256.
    let csr = SoftHsm::shared().dir.join(format!("{label}.csr.pem"));
    std::fs::write(&csr, &request.csr_pem).expect("write the request");
    let csr = csr.display().to_string();
    let (ok, text) = openssl(&["req", "-in", &csr, "-verify", "-noout"]);
    assert!(ok && text.contains("verify OK"), "{text}");
    let (ok, text) = openssl(&["req", "-in", &csr, "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(text.contains("prime256v1"), "{text}");
    assert!(text.contains("ecdsa-with-SHA256"), "{text}");
    assert!(text.contains("CN=000.01.10.H41") || text.contains("CN = 000.01.10.H41"));
    assert_eq!(
        request_public_key(&request.csr_pem),
        key.subject_public_key_info_der()
    );

    // What another process sees: one pair under the label, sharing the random id, the
    // private half sensitive and never extractable; no certificate.
    let objects = objects(&label);
    assert_eq!(objects.len(), 2, "{objects:#?}");
    let private = objects
        .iter()
        .find(|object| object.is("Private Key Object; EC", LINK))
        .expect("the private key");
    let public = objects
        .iter()
        .find(|object| object.is("Public Key Object; EC", LINK))
        .expect("the public key");
    assert_eq!(private.id, hex::encode(key.key_id()));
    assert_eq!(public.id, private.id);
    for wanted in [
        "sensitive",
        "always sensitive",
        "never extractable",
        "local",
    ] {
        assert!(
            private.access.iter().any(|item| item == wanted),
            "{private:?}"
        );
    }
    assert!(
        !private.access.iter().any(|item| item == "extractable"),
        "CKA_EXTRACTABLE is false: {private:?}"
    );
    assert!(
        private.usage.iter().any(|item| item == "sign"),
        "{private:?}"
    );
    assert!(
        !private.usage.iter().any(|item| item == "derive"),
        "{private:?}"
    );
}

#[test]
fn generating_again_without_replace_is_refused_and_changes_nothing() {
    let (label, config) = empty_token("again");
    let first = generate_link_key(&config, LINK, false).expect("generate");
    let before = objects(&label);

    let error = generate_link_key(&config, LINK, false).expect_err("refused");
    assert!(
        matches!(&error, TokenError::KeyExists { objects: 2, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "token '{label}' already holds a key labelled '{LINK}'"
        )),
        "{text}"
    );
    assert!(
        text.contains("ask for the link key to be replaced"),
        "{text}"
    );
    assert_eq!(objects(&label), before);

    // The key is still the one the worker signs with.
    let token = Token::start(link_key_config(&config, LINK));
    token.wait_ready(Duration::from_secs(5)).expect("ready");
    let signature = token.sign(b"still the first key").expect("sign");
    assert!(verifies(&first, b"still the first key", &signature));
}

#[test]
fn replacing_leaves_exactly_the_new_key_under_the_label() {
    let (label, config) = empty_token("replace");
    let old = generate_link_key(&config, LINK, false).expect("generate");
    let other = generate_link_key(&config, "another-key", false).expect("generate");

    let new = generate_link_key(&config, LINK, true).expect("replace");
    assert_ne!(new.key_id(), old.key_id());
    assert_ne!(
        new.subject_public_key_info_der(),
        old.subject_public_key_info_der()
    );
    let objects = objects(&label);
    assert_eq!(
        count(&objects, "Private Key Object", LINK),
        1,
        "{objects:#?}"
    );
    assert_eq!(
        count(&objects, "Public Key Object", LINK),
        1,
        "{objects:#?}"
    );
    let old_id = hex::encode(old.key_id());
    assert!(
        objects.iter().all(|object| object.id != old_id),
        "{objects:#?}"
    );
    assert!(objects
        .iter()
        .filter(|object| object.label == LINK)
        .all(|object| object.id == hex::encode(new.key_id())));
    // Another label is not touched; nothing is left under the staging label.
    assert_eq!(count(&objects, "Private Key Object", "another-key"), 1);
    assert!(objects
        .iter()
        .any(|object| object.id == hex::encode(other.key_id())));
    assert!(!objects
        .iter()
        .any(|object| object.label.ends_with(STAGING_SUFFIX.trim_start())));

    // The worker now signs with the new key.
    let token = Token::start(link_key_config(&config, LINK));
    token.wait_ready(Duration::from_secs(5)).expect("ready");
    let signature = token.sign(b"the new key").expect("sign");
    assert!(verifies(&new, b"the new key", &signature));
    assert!(!verifies(&old, b"the new key", &signature));
}

/// `pkcs11-tool --keypairgen`: an EC P-256 pair made by another tool, labelled `label`.
fn foreign_key_pair(token_label: &str, label: &str, id_hex: &str) {
    let mut command = SoftHsm::shared().command("pkcs11-tool");
    command.args(["--module", MODULE, "--token-label", token_label]);
    command.args(["--login", "--pin", PIN, "--keypairgen"]);
    command.args([
        "--key-type",
        "EC:prime256v1",
        "--label",
        label,
        "--id",
        id_hex,
    ]);
    common::softhsm::run(command, "pkcs11-tool --keypairgen");
}

#[test]
fn an_interrupted_replacement_is_finished_by_asking_again() {
    // Stopped after step 1: a staging pair beside the old key. Stopped after step 2: two
    // pairs under the label, which the worker refuses to choose between.
    let (label, config) = empty_token("resume");
    generate_link_key(&config, LINK, false).expect("generate");
    foreign_key_pair(&label, &format!("{LINK}{STAGING_SUFFIX}"), "5a01");
    foreign_key_pair(&label, LINK, "5a02");
    let token = Token::start(link_key_config(&config, LINK));
    let error = token
        .wait_ready(Duration::from_secs(2))
        .expect_err("two keys");
    assert!(matches!(error, TokenError::SeveralKeys { .. }), "{error}");
    drop(token);

    let new = generate_link_key(&config, LINK, true).expect("replace");
    let objects = objects(&label);
    assert_eq!(objects.len(), 2, "{objects:#?}");
    assert!(objects
        .iter()
        .all(|object| object.label == LINK && object.id == hex::encode(new.key_id())));
}

#[test]
fn a_key_with_its_certificate_on_the_token_is_never_replaced() {
    // The agency's seal key: imported with its certificate, as IT sets a token up.
    let hsm = SoftHsm::shared();
    let label = unique_label("sealed");
    hsm.provision(&label, PIN, &[(&pki().ec, "agency-seal")]);
    let config = config(&label, &pin_file(&label, PIN));
    let before = objects(&label);

    let error = generate_link_key(&config, "agency-seal", true).expect_err("refused");
    assert!(
        matches!(error, TokenError::KeyHasCertificate { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("docgate does not destroy such a key"),
        "{text}"
    );
    assert!(text.contains("(CKA_ID 01)"), "{text}");
    assert_eq!(objects(&label), before);
}

// --- What goes wrong ---------------------------------------------------------------------

#[test]
fn an_absent_token_a_wrong_pin_and_a_bad_label_say_what_to_do() {
    let hsm = SoftHsm::shared();

    let nowhere = unique_label("nowhere");
    let error = generate_link_key(&config(&nowhere, &pin_file(&nowhere, PIN)), LINK, false)
        .expect_err("absent");
    assert!(
        matches!(error, TokenError::AbsentForKeyGeneration { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "token '{nowhere}' not found in slot list; plug in the agency's USB token"
        )),
        "{text}"
    );

    let (label, _) = empty_token("wrongpin");
    let wrong = pin_file(&format!("{label}-wrong"), "000000");
    let error = generate_link_key(&config(&label, &wrong), LINK, false).expect_err("wrong PIN");
    assert!(
        matches!(error, TokenError::PinRejectedForKeyGeneration { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains(&wrong.display().to_string()), "{text}");
    assert!(text.contains("CKR_PIN_INCORRECT"), "{text}");
    assert!(!text.contains("000000"), "the PIN is never shown: {text}");
    assert!(objects(&label).is_empty(), "nothing was generated");

    let missing = hsm.dir.join(format!("{label}-absent.pin"));
    let error = generate_link_key(&config(&label, &missing), LINK, false).expect_err("no file");
    assert!(matches!(error, TokenError::PinFile { .. }), "{error:?}");
    assert!(error.to_string().contains(&missing.display().to_string()));

    let error = generate_link_key(&config(&label, &pin_file(&label, PIN)), " ", false)
        .expect_err("bad label");
    assert!(
        matches!(error, TokenError::InvalidKeyLabel { .. }),
        "{error:?}"
    );

    let mut no_module = config(&label, &pin_file(&label, PIN));
    no_module.module = "/nonexistent/docgate/libvendor-pkcs11.so".into();
    let error = generate_link_key(&no_module, LINK, false).expect_err("no module");
    assert!(
        matches!(error, TokenError::ModuleUnavailable { .. }),
        "{error:?}"
    );
    assert!(error
        .to_string()
        .contains("/nonexistent/docgate/libvendor-pkcs11.so"));
    assert!(objects(&label).is_empty());
}

// --- The key on the link -----------------------------------------------------------------

#[test]
fn a_tls_handshake_with_client_auth_is_signed_by_the_key_on_the_token() {
    let (label, config) = empty_token("tls");
    let dir = tempfile::tempdir().expect("tempdir");
    let request = link_key_request(&config, LINK, false, "000.01.10.H41").expect("request");

    // The device CA issues the link certificate for the request, as at enrolment; it is
    // kept in a file, never written onto the token.
    let ca =
        docgate::demo::pki::TestCa::create("Device CA Tỉnh Thử", dir.path(), "ca").expect("CA");
    ca.write_key(&dir.path().join("ca.key")).expect("CA key");
    let device_ca =
        docgate::axis::device_ca::DeviceCa::load(&ca.certificate, &dir.path().join("ca.key"))
            .expect("device CA");
    let issued = device_ca
        .issue(
            &request.csr_pem,
            "000.01.10.H41",
            "UBND xã Thử Nghiệm",
            time::OffsetDateTime::now_utc(),
            Duration::from_secs(86_400),
        )
        .expect("issue");
    let link_certificate = dir.path().join("link.pem");
    std::fs::write(&link_certificate, &issued.pem).expect("write");
    let (_, link_der) = pem_rfc7468_decode(&issued.pem);
    let server = ca
        .issue_server("axis.test", dir.path(), "server")
        .expect("server certificate");

    // The seal's default (the certificate on the token) cannot use this key: the worker
    // waits for a certificate. The link's configuration wants none.
    let mut seal_style = config.clone();
    seal_style.key_label = Some(LINK.to_owned());
    let seal_style = Token::start(seal_style);
    let error = seal_style
        .wait_ready(Duration::from_secs(2))
        .expect_err("no certificate on the token");
    assert!(
        matches!(error, TokenError::CertificateMissing { .. }),
        "{error}"
    );
    drop(seal_style);
    let token = Token::start(link_key_config(&config, LINK));
    token.wait_ready(Duration::from_secs(5)).expect("ready");
    let error = token.certificate().expect_err("not read from the token");
    assert!(
        matches!(error, TokenError::CertificateNotOnToken { .. }),
        "{error}"
    );

    let server_config = docgate::system::tls::server_config(
        &server.certificate,
        &server.key,
        &ca.certificate,
        &[],
        false,
    )
    .expect("server config");
    for tls12_only in [false, true] {
        let key = TokenTlsKey::new(token.clone(), &link_der).expect("TLS key");
        let chain = docgate::system::tls::load_certificates(&link_certificate).expect("chain");
        let identity = docgate::system::tls::LinkIdentity::new(rustls::sign::CertifiedKey::new(
            chain,
            Arc::new(key),
        ));
        let client_config = docgate::system::tls::client_config_with_identity(
            &ca.certificate,
            identity,
            tls12_only,
        )
        .expect("client config");
        let (version, presented) = handshake(server_config.clone(), client_config);
        let expected = if tls12_only {
            rustls::ProtocolVersion::TLSv1_2
        } else {
            rustls::ProtocolVersion::TLSv1_3
        };
        assert_eq!(version, expected, "{label}");
        assert_eq!(presented, link_der, "the server saw the link certificate");
    }

    // A token that is not plugged in: the handshake fails, rather than going on without a
    // client certificate (which a server with optional client auth would accept, and an
    // HTTP client would then keep and reuse after the token is back).
    let mut unplugged = config.clone();
    unplugged.token_label = "not-plugged-in".into();
    let unplugged = Token::start(link_key_config(&unplugged, LINK));
    let key = TokenTlsKey::new(unplugged, &link_der).expect("TLS key");
    let chain = docgate::system::tls::load_certificates(&link_certificate).expect("chain");
    let identity = docgate::system::tls::LinkIdentity::new(rustls::sign::CertifiedKey::new(
        chain,
        Arc::new(key),
    ));
    let client_config =
        docgate::system::tls::client_config_with_identity(&ca.certificate, identity, false)
            .expect("client config");
    let error = failed_handshake(server_config, client_config);
    assert!(
        error.contains("the link key on the token is not available"),
        "{error}"
    );
}

/// One connection that must fail on the client's side; returns the client's error.
fn failed_handshake(
    server_config: Arc<rustls::ServerConfig>,
    client_config: rustls::ClientConfig,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let connection = rustls::ServerConnection::new(server_config).expect("server");
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        let mut ping = [0u8; 4];
        stream.read_exact(&mut ping).is_ok()
    });
    let mut stream = connect(address, client_config);
    let error = stream
        .write_all(b"ping")
        .and_then(|()| stream.flush())
        .and_then(|()| {
            let mut pong = [0u8; 4];
            stream.read_exact(&mut pong)
        })
        .expect_err("the handshake fails");
    drop(stream);
    assert!(
        !server.join().expect("the server thread"),
        "the server got no data"
    );
    error.to_string()
}

/// One connection over loopback: the client sends "ping", the server answers "pong".
/// Returns the version negotiated and the client certificate the server verified.
fn handshake(
    server_config: Arc<rustls::ServerConfig>,
    client_config: rustls::ClientConfig,
) -> (rustls::ProtocolVersion, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let connection = rustls::ServerConnection::new(server_config).expect("server");
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        let mut ping = [0u8; 4];
        stream.read_exact(&mut ping).expect("read ping");
        assert_eq!(&ping, b"ping");
        stream.write_all(b"pong").expect("write pong");
        stream.flush().expect("flush");
        let presented = stream
            .conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|certificate| certificate.as_ref().to_vec())
            .expect("a client certificate");
        let version = stream.conn.protocol_version().expect("a version");
        stream.conn.send_close_notify();
        let _ = stream.flush();
        (version, presented)
    });
    let mut stream = connect(address, client_config);
    stream.write_all(b"ping").expect("write ping");
    stream.flush().expect("flush");
    let mut pong = [0u8; 4];
    stream.read_exact(&mut pong).expect("read pong");
    assert_eq!(&pong, b"pong");
    server.join().expect("the server thread")
}

/// A client TLS stream to `address` as `localhost` (the handshake happens on first use).
fn connect(
    address: std::net::SocketAddr,
    client_config: rustls::ClientConfig,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(address).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connection = rustls::ClientConnection::new(Arc::new(client_config), name).expect("client");
    rustls::StreamOwned::new(connection, tcp)
}
