//! The token worker against a real SoftHSM2 token (no mocks): finding the token by label,
//! RSA and EC P-256 signatures checked with ring and independently with `openssl dgst`,
//! the certificate, one login per PIN, a token pulled out while requests are in flight
//! and plugged back in, unknown labels and modules, and 200 concurrent signatures.
//!
//! Every test shares the process's one SoftHSM configuration (`SoftHsm::shared`) and makes
//! its own uniquely labelled tokens. Log lines of the whole process are captured, to count
//! login attempts and to check that no PIN is ever logged.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::softhsm::{pki, unique_label, Identity, SoftHsm, EXTRA_CONF_ENV, MODULE};
use docgate::token::{KeyKind, Token, TokenConfig, TokenError, TokenStatus};
use ring::signature;
use x509_cert::der::Decode;

/// The rescan interval of these tests: short, so recovery is quick to observe.
const RESCAN: Duration = Duration::from_millis(100);
/// The user PIN of most test tokens.
const PIN: &str = "246813";

// --- Harness -------------------------------------------------------------------------

/// Log lines of this process, captured from the first `setup` on.
#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("the log buffer")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

fn captured_logs() -> &'static Capture {
    static LOGS: OnceLock<Capture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let capture = Capture(Arc::new(Mutex::new(Vec::new())));
        tracing_subscriber::fmt()
            .with_env_filter("docgate::token=debug")
            .with_ansi(false)
            .with_writer(capture.clone())
            .init();
        capture
    })
}

fn logs() -> String {
    String::from_utf8_lossy(&captured_logs().0.lock().expect("the log buffer")).into_owned()
}

/// `C_Login` calls the worker made for the token labelled `label`.
fn login_attempts(label: &str) -> usize {
    let field = format!("token={label}");
    logs()
        .lines()
        .filter(|line| line.contains("logging in to the token"))
        .filter(|line| line.split_whitespace().any(|word| word == field))
        .count()
}

/// The shared SoftHSM (its configuration set before any module loads) and log capture.
fn setup() -> &'static SoftHsm {
    captured_logs();
    SoftHsm::shared()
}

/// A PIN file holding `pin` and a newline, in the SoftHSM directory.
fn pin_file(label: &str, pin: &str) -> PathBuf {
    let path = SoftHsm::shared().dir.join(format!("{label}.pin"));
    std::fs::write(&path, format!("{pin}\n")).expect("write the PIN file");
    path
}

fn config(label: &str, pin_file: &Path) -> TokenConfig {
    let mut config = TokenConfig::new(MODULE, label, pin_file);
    config.rescan_interval = RESCAN;
    config
}

/// Polls `condition` every 10 ms for up to `timeout`.
fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for the worker to reach the token and fail, and returns the error requests get.
/// (`wait_ready` would wait out its whole timeout, as a failed token may still recover.)
/// A token plugged in just now can be `Absent` for an interval or two first: the shared
/// module is re-initialised at most once per interval.
fn failure(token: &Token) -> TokenError {
    eventually(Duration::from_secs(5), "a verdict", || {
        !matches!(
            token.status(),
            TokenStatus::Starting { .. } | TokenStatus::Ready { .. } | TokenStatus::Absent { .. }
        )
    });
    token.key_kind().expect_err("not ready")
}

fn verify_with_ring(identity: &Identity, kind: KeyKind, message: &[u8], signature_der: &[u8]) {
    let certificate =
        x509_cert::Certificate::from_der(&identity.certificate_der).expect("parse certificate");
    let public_key = certificate
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let algorithm: &dyn signature::VerificationAlgorithm = match kind {
        KeyKind::Rsa { .. } => &signature::RSA_PKCS1_2048_8192_SHA256,
        KeyKind::EcP256 => &signature::ECDSA_P256_SHA256_ASN1,
    };
    signature::UnparsedPublicKey::new(algorithm, public_key)
        .verify(message, signature_der)
        .expect("the signature verifies with ring against the certificate's key");
}

fn verify_with_openssl(identity: &Identity, message: &[u8], signature_der: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data.bin");
    let signature_file = dir.path().join("sig.bin");
    std::fs::write(&data, message).expect("write data");
    std::fs::write(&signature_file, signature_der).expect("write signature");
    let mut command = std::process::Command::new("openssl");
    command.args(["dgst", "-sha256", "-verify"]);
    command
        .arg(&identity.public_key_pem)
        .arg("-signature")
        .arg(&signature_file)
        .arg(&data);
    let output = common::softhsm::run(command, "openssl dgst -verify");
    assert!(output.contains("Verified OK"), "openssl says: {output}");
}

// --- Finding the token and signing ---------------------------------------------------

#[test]
fn finds_the_token_by_label_when_another_token_is_in_the_first_slot_and_signs_rsa() {
    let hsm = setup();
    let pki = pki();
    hsm.provision(&unique_label("decoy"), "11112222", &[]);
    let label = unique_label("rsa");
    hsm.provision(&label, PIN, &[(&pki.rsa, "agency-seal")]);
    // SoftHSM lists slots by slot id, which it derives from a token's random serial
    // number; make a new token until ours is not the first.
    let mut attempts = 1;
    while hsm.slot_labels().first() == Some(&label) {
        hsm.delete_token(&label);
        hsm.provision(&label, PIN, &[(&pki.rsa, "agency-seal")]);
        attempts += 1;
        assert!(
            attempts < 20,
            "cannot get another token listed before '{label}'"
        );
    }
    let listed = hsm.slot_labels();
    let position = listed.iter().position(|listed| *listed == label);
    assert!(matches!(position, Some(index) if index > 0), "{listed:?}");

    let token = Token::start(config(&label, &pin_file(&label, PIN)));
    let kind = token.wait_ready(Duration::from_secs(5)).expect("ready");
    assert_eq!(kind, KeyKind::Rsa { modulus_bits: 2048 });
    match token.status() {
        TokenStatus::Ready {
            token_label,
            key_label,
            mechanism,
            ..
        } => {
            assert_eq!(token_label, label);
            assert_eq!(key_label, "agency-seal");
            assert_eq!(mechanism, "CKM_SHA256_RSA_PKCS");
        }
        other => panic!("not ready: {other}"),
    }

    let message = "Công văn số 12/UBND-VP: chữ ký của cơ quan".as_bytes();
    let signature_der = token.sign(message).expect("sign");
    assert_eq!(signature_der.len(), 256);
    verify_with_ring(&pki.rsa, kind, message, &signature_der);
    verify_with_openssl(&pki.rsa, message, &signature_der);
    assert_eq!(
        token.certificate().expect("certificate"),
        pki.rsa.certificate_der
    );
}

#[test]
fn signs_with_an_ec_p256_key_as_der_ecdsa() {
    let hsm = setup();
    let pki = pki();
    let label = unique_label("ec");
    hsm.provision(&label, PIN, &[(&pki.ec, "agency-seal-ec")]);
    let token = Token::start(config(&label, &pin_file(&label, PIN)));
    let kind = token.wait_ready(Duration::from_secs(5)).expect("ready");
    assert_eq!(kind, KeyKind::EcP256);
    assert_eq!(token.key_kind().expect("key kind"), KeyKind::EcP256);
    let status = serde_json::to_value(token.status()).expect("serialise the status");
    assert_eq!(status["state"], "ready");
    assert_eq!(status["mechanism"], "CKM_ECDSA");

    for message in [&b""[..], b"x", &[0xA5u8; 100_000][..]] {
        let signature_der = token.sign(message).expect("sign");
        assert_eq!(signature_der[0], 0x30, "a DER SEQUENCE");
        verify_with_ring(&pki.ec, kind, message, &signature_der);
        verify_with_openssl(&pki.ec, message, &signature_der);
    }
    assert_eq!(
        token.certificate().expect("certificate"),
        pki.ec.certificate_der
    );
}

#[test]
fn a_token_without_sha256_rsa_pkcs_signs_a_digest_info_with_rsa_pkcs() {
    // SoftHSM reads its mechanism list once per process, so this runs the child test
    // below in a fresh copy of this binary whose SoftHSM offers only CKM_RSA_PKCS and
    // CKM_ECDSA.
    setup();
    let output = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "rsa_pkcs_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(EXTRA_CONF_ENV, "slots.mechanisms = CKM_RSA_PKCS,CKM_ECDSA")
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("RSA_PKCS_CHILD_OK"),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs only as the child of the test above (does nothing in an ordinary run).
#[test]
fn rsa_pkcs_child() {
    if std::env::var_os(EXTRA_CONF_ENV).is_none() {
        return;
    }
    let hsm = setup();
    let pki = pki();
    let label = unique_label("rsa-pkcs");
    hsm.provision(&label, PIN, &[(&pki.rsa, "agency-seal")]);
    let token = Token::start(config(&label, &pin_file(&label, PIN)));
    let kind = token.wait_ready(Duration::from_secs(5)).expect("ready");
    match token.status() {
        TokenStatus::Ready { mechanism, .. } => assert_eq!(mechanism, "CKM_RSA_PKCS"),
        other => panic!("not ready: {other}"),
    }
    let message = b"signed over a DigestInfo computed by docgate";
    let signature_der = token.sign(message).expect("sign");
    verify_with_ring(&pki.rsa, kind, message, &signature_der);
    verify_with_openssl(&pki.rsa, message, &signature_der);
    println!("RSA_PKCS_CHILD_OK");
}

#[test]
fn several_keys_need_a_key_label() {
    let hsm = setup();
    let pki = pki();
    let label = unique_label("two-keys");
    hsm.provision(&label, PIN, &[(&pki.rsa, "seal-rsa"), (&pki.ec, "seal-ec")]);
    let pins = pin_file(&label, PIN);

    let unlabelled = Token::start(config(&label, &pins));
    let error = failure(&unlabelled);
    let text = error.to_string();
    assert!(matches!(error, TokenError::SeveralKeys { .. }), "{text}");
    assert!(
        text.contains("'seal-rsa'") && text.contains("'seal-ec'"),
        "{text}"
    );
    assert!(text.contains("set `key_label`"), "{text}");
    assert!(matches!(unlabelled.status(), TokenStatus::Unusable { .. }));

    let mut wrong = config(&label, &pins);
    wrong.key_label = Some("seal-2019".into());
    let error = failure(&Token::start(wrong));
    assert!(matches!(error, TokenError::KeyNotFound { .. }), "{error}");
    assert!(error.to_string().contains("'seal-2019'"), "{error}");

    let mut chosen = config(&label, &pins);
    chosen.key_label = Some("seal-ec".into());
    let token = Token::start(chosen);
    assert_eq!(
        token.wait_ready(Duration::from_secs(5)).expect("ready"),
        KeyKind::EcP256
    );
    let signature_der = token.sign(b"chosen key").expect("sign");
    verify_with_ring(&pki.ec, KeyKind::EcP256, b"chosen key", &signature_der);
    assert_eq!(
        token.certificate().expect("certificate"),
        pki.ec.certificate_der
    );
}

#[tokio::test(flavor = "current_thread")]
async fn sign_async_does_not_block_the_runtime() {
    let hsm = setup();
    let pki = pki();
    let label = unique_label("async");
    hsm.provision(&label, PIN, &[(&pki.ec, "agency-seal")]);
    let mut slow = config(&label, &pin_file(&label, PIN));
    slow.sign_delay = Some(Duration::from_millis(300));
    let token = Token::start(slow);
    let waiter = token.clone();
    tokio::task::spawn_blocking(move || waiter.wait_ready(Duration::from_secs(5)))
        .await
        .expect("join")
        .expect("ready");

    // One runtime thread: the ticker only runs if signing leaves the thread free.
    let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let signature_der = token.sign_async(b"async").await.expect("sign");
    ticker.abort();
    verify_with_ring(&pki.ec, KeyKind::EcP256, b"async", &signature_der);
    let ticked = ticks.load(Ordering::Relaxed);
    assert!(
        ticked >= 10,
        "the runtime was blocked: {ticked} ticks in 300 ms"
    );
}

// --- The PIN -------------------------------------------------------------------------

#[test]
fn a_wrong_pin_is_tried_once_and_a_new_one_only_when_the_pin_file_changes() {
    let hsm = setup();
    let pki = pki();
    let label = unique_label("pin");
    let right = "73019446";
    hsm.provision(&label, right, &[(&pki.rsa, "agency-seal")]);
    let pins = pin_file(&label, "73019999");
    let token = Token::start(config(&label, &pins));

    eventually(Duration::from_secs(5), "PinRejected", || {
        matches!(token.status(), TokenStatus::PinRejected { .. })
    });
    let rejected_since = token.status().since();
    // Six rescans later: still rejected, same episode, still one attempt.
    std::thread::sleep(RESCAN * 6);
    let status = token.status();
    assert!(
        matches!(status, TokenStatus::PinRejected { .. }),
        "{status}"
    );
    assert_eq!(status.since(), rejected_since);
    assert_eq!(login_attempts(&label), 1, "a refused PIN was tried again");
    let text = status.to_string();
    assert!(
        text.contains("refused the PIN") && text.contains("CKR_PIN_INCORRECT"),
        "{text}"
    );
    assert!(text.contains(&pins.display().to_string()), "{text}");

    // Requests fail at once with the PIN error.
    let asked = Instant::now();
    let error = token
        .sign(b"x")
        .expect_err("no signature with a refused PIN");
    assert!(matches!(error, TokenError::PinRejected { .. }), "{error}");
    assert!(
        asked.elapsed() < Duration::from_millis(50),
        "{:?}",
        asked.elapsed()
    );

    // Another wrong PIN in the file: exactly one more attempt.
    std::fs::write(&pins, "73010000\n").expect("write");
    eventually(Duration::from_secs(3), "a second attempt", || {
        login_attempts(&label) == 2
    });
    std::thread::sleep(RESCAN * 4);
    assert_eq!(login_attempts(&label), 2);
    assert!(matches!(token.status(), TokenStatus::PinRejected { .. }));

    // The right PIN: recovers by itself.
    std::fs::write(&pins, format!("{right}\n")).expect("write");
    let kind = token.wait_ready(Duration::from_secs(3)).expect("recovers");
    assert!(login_attempts(&label) >= 3);
    let signature_der = token.sign(b"after the PIN fix").expect("sign");
    verify_with_ring(&pki.rsa, kind, b"after the PIN fix", &signature_der);
}

#[test]
fn the_pin_never_appears_in_errors_statuses_config_or_logs() {
    let hsm = setup();
    let pki = pki();
    let label = unique_label("secret");
    let right = "58203317";
    let wrong = "58209924";
    hsm.provision(&label, right, &[(&pki.ec, "agency-seal")]);
    let pins = pin_file(&label, wrong);
    let config = config(&label, &pins);
    let mut shown = vec![format!("{config:?}")];

    let token = Token::start(config);
    let error = failure(&token);
    assert!(matches!(error, TokenError::PinRejected { .. }), "{error}");
    let status = token.status();
    let sign_error = token.sign(b"x").expect_err("refused");
    shown.extend([
        error.to_string(),
        format!("{error:?}"),
        format!("{status}"),
        format!("{status:?}"),
        serde_json::to_string(&status).expect("json"),
        sign_error.to_string(),
        format!("{sign_error:?}"),
        format!("{token:?}"),
    ]);

    std::fs::write(&pins, format!("{right}\n")).expect("write");
    token.wait_ready(Duration::from_secs(3)).expect("ready");
    let status = token.status();
    shown.extend([
        format!("{status}"),
        format!("{status:?}"),
        format!("{token:?}"),
    ]);
    drop(token);
    shown.push(logs());
    assert!(
        login_attempts(&label) >= 2,
        "the capture sees this token's logins"
    );

    for text in shown {
        assert!(!text.contains(right), "the PIN shows in: {text}");
        assert!(!text.contains(wrong), "the refused PIN shows in: {text}");
    }
}

#[test]
fn a_missing_pin_file_is_named_in_the_status() {
    let hsm = setup();
    let pki = pki();
    let label = unique_label("no-pin-file");
    hsm.provision(&label, PIN, &[(&pki.ec, "agency-seal")]);
    let missing = hsm.dir.join(format!("{label}.absent-pin"));
    let token = Token::start(config(&label, &missing));
    let error = failure(&token);
    assert!(matches!(error, TokenError::PinFile { .. }), "{error}");
    let status = token.status();
    assert!(matches!(status, TokenStatus::Unusable { .. }), "{status}");
    assert!(status.to_string().contains(&missing.display().to_string()));

    // Written later: picked up by the next rescan.
    std::fs::write(&missing, PIN).expect("write");
    token.wait_ready(Duration::from_secs(3)).expect("ready");
}

// --- Absent and unplugged tokens -----------------------------------------------------

#[test]
fn an_unknown_label_says_to_plug_the_token_in() {
    setup();
    let label = unique_label("nowhere");
    let token = Token::start(config(&label, &pin_file(&label, PIN)));
    eventually(Duration::from_secs(5), "Absent", || {
        matches!(token.status(), TokenStatus::Absent { .. })
    });
    let text = token.status().to_string();
    assert!(
        text.starts_with(&format!(
            "token '{label}' not found in slot list; is the USB token plugged in?"
        )),
        "{text}"
    );
    let asked = Instant::now();
    let error = token.sign(b"x").expect_err("absent");
    assert!(matches!(error, TokenError::Absent { .. }), "{error}");
    assert!(asked.elapsed() < Duration::from_millis(50));
    assert!(token.certificate().is_err());
}

#[test]
fn a_token_plugged_in_after_start_is_found_by_itself() {
    let hsm = setup();
    let pki = pki();
    let label = unique_label("late");
    let token = Token::start(config(&label, &pin_file(&label, PIN)));
    eventually(Duration::from_secs(5), "Absent", || {
        matches!(token.status(), TokenStatus::Absent { .. })
    });
    hsm.provision(&label, PIN, &[(&pki.rsa, "agency-seal")]);
    token
        .wait_ready(Duration::from_secs(3))
        .expect("found without a restart");
    token.sign(b"late").expect("sign");
}

#[test]
fn a_token_set_up_while_docgate_runs_is_picked_up_by_itself() {
    // The token is plugged in before its user PIN, key and certificate exist, and IT sets
    // them up with other tools while the worker keeps looking.
    let hsm = setup();
    let pki = pki();
    let label = unique_label("fresh");
    let workshop = hsm.workshop();
    workshop.init_token_without_user_pin(&label);
    hsm.insert(&workshop, &label);
    let token = Token::start(config(&label, &pin_file(&label, PIN)));
    let error = failure(&token);
    assert!(
        error.to_string().contains("CKR_USER_PIN_NOT_INITIALIZED"),
        "{error}"
    );
    assert!(matches!(token.status(), TokenStatus::Unusable { .. }));

    hsm.init_user_pin(&label, PIN);
    hsm.import_identities(&label, PIN, &[(&pki.rsa, "agency-seal")]);
    token
        .wait_ready(Duration::from_secs(3))
        .expect("ready without a restart");
    let signature_der = token.sign(b"fresh").expect("sign");
    verify_with_ring(
        &pki.rsa,
        KeyKind::Rsa { modulus_bits: 2048 },
        b"fresh",
        &signature_der,
    );
}

#[test]
fn a_missing_module_is_reported_with_its_path() {
    setup();
    let module = "/nonexistent/docgate/libvendor-pkcs11.so";
    let mut config = TokenConfig::new(module, "agency-seal", "/nonexistent/pin");
    config.rescan_interval = RESCAN;
    let token = Token::start(config);
    let error = failure(&token);
    assert!(
        matches!(error, TokenError::ModuleUnavailable { .. }),
        "{error}"
    );
    let status = token.status();
    assert!(
        matches!(status, TokenStatus::ModuleUnavailable { .. }),
        "{status}"
    );
    assert!(status.to_string().contains(module), "{status}");
    let error = token.sign(b"x").expect_err("no module");
    assert!(
        matches!(error, TokenError::ModuleUnavailable { .. }),
        "{error}"
    );
}

/// One sign call of the unplug test: its message, its one result, how long it took.
struct Call {
    message: Vec<u8>,
    result: Result<Vec<u8>, TokenError>,
    took: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unplugging_fails_requests_in_flight_fast_and_replugging_recovers_by_itself() {
    let hsm = setup();
    let pki = pki();
    let label = unique_label("unplug");
    hsm.provision(&label, PIN, &[(&pki.rsa, "agency-seal")]);
    let mut slow = config(&label, &pin_file(&label, PIN));
    // Like a slow real token, so several requests are queued when it goes.
    slow.sign_delay = Some(Duration::from_millis(20));
    let token = Token::start(slow);
    let waiter = token.clone();
    tokio::task::spawn_blocking(move || waiter.wait_ready(Duration::from_secs(5)))
        .await
        .expect("join")
        .expect("ready");

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..8 {
        let token = token.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut calls = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let message = format!("task {task} call {}", calls.len()).into_bytes();
                let started = Instant::now();
                let result =
                    tokio::time::timeout(Duration::from_secs(5), token.sign_async(&message))
                        .await
                        .expect("no sign request hangs");
                calls.push(Call {
                    message,
                    result,
                    took: started.elapsed(),
                });
                // Absent answers come at once; do not spin on them.
                if calls.last().is_some_and(|call| call.result.is_err()) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            calls
        }));
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    hsm.unplug(&label);
    let unplugged = Instant::now();
    let watcher = token.clone();
    tokio::task::spawn_blocking(move || {
        eventually(Duration::from_secs(3), "Absent", || {
            matches!(watcher.status(), TokenStatus::Absent { .. })
        })
    })
    .await
    .expect("join");
    let noticed = unplugged.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = token.status();
    assert!(matches!(status, TokenStatus::Absent { .. }), "{status}");
    assert!(
        status.to_string().contains("is the USB token plugged in?"),
        "{status}"
    );
    stop.store(true, Ordering::Relaxed);

    let mut signed = 0;
    let mut absent = 0;
    let mut messages = std::collections::HashSet::new();
    for task in tasks {
        for call in task.await.expect("join") {
            // One record per call, made when its one answer came.
            assert!(
                messages.insert(call.message.clone()),
                "each call has exactly one record"
            );
            match &call.result {
                Ok(signature_der) => {
                    verify_with_ring(
                        &pki.rsa,
                        KeyKind::Rsa { modulus_bits: 2048 },
                        &call.message,
                        signature_der,
                    );
                    signed += 1;
                }
                Err(TokenError::Absent { .. }) => {
                    // Failing fast: queued behind at most one signature in progress.
                    assert!(
                        call.took < Duration::from_millis(500),
                        "an Absent answer took {:?}",
                        call.took
                    );
                    absent += 1;
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
    }
    assert!(signed >= 8, "signatures before the unplug: {signed}");
    assert!(absent >= 8, "Absent answers after the unplug: {absent}");
    eprintln!("unplug: {signed} signed, {absent} absent, noticed after {noticed:?}");

    hsm.replug(&label);
    let replugged = Instant::now();
    let waiter = token.clone();
    tokio::task::spawn_blocking(move || waiter.wait_ready(RESCAN * 10))
        .await
        .expect("join")
        .expect("recovers by itself after the replug");
    eprintln!("replug: ready again after {:?}", replugged.elapsed());
    let signature_der = token.sign_async(b"after the replug").await.expect("sign");
    verify_with_ring(
        &pki.rsa,
        KeyKind::Rsa { modulus_bits: 2048 },
        b"after the replug",
        &signature_der,
    );
    verify_with_openssl(&pki.rsa, b"after the replug", &signature_der);
}

// --- Load ----------------------------------------------------------------------------

#[test]
fn two_hundred_concurrent_signatures_from_eight_threads_all_verify() {
    let hsm = setup();
    let pki = pki();
    let label = unique_label("load");
    hsm.provision(&label, PIN, &[(&pki.rsa, "agency-seal")]);
    let token = Token::start(config(&label, &pin_file(&label, PIN)));
    let kind = token.wait_ready(Duration::from_secs(5)).expect("ready");
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let token = token.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|call| {
                        let message = format!("thread {thread} document {call}").into_bytes();
                        let signature_der = token.sign(&message).expect("sign");
                        (message, signature_der)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut results = Vec::new();
    for thread in threads {
        results.extend(thread.join().expect("a signing thread"));
    }
    eprintln!("200 signatures in {:?}", started.elapsed());
    assert_eq!(results.len(), 200);
    for (message, signature_der) in &results {
        verify_with_ring(&pki.rsa, kind, message, signature_der);
    }
}
