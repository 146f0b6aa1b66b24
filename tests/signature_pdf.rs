//! `docgate sign` and `docgate verify` end to end, with independent verifiers: the leader
//! signs, the agency seals over it with a timestamp from `openssl ts`; `pdfsig` must call
//! both signatures valid, `openssl cms -verify` must accept each CMS over its byte range,
//! and `openssl ts -verify` the timestamp. Then the refusals the issue lists: no leader
//! signature, an untrusted CA, a revoked certificate, a PDF changed after signing, a corrupt
//! PDF, a token with the wrong PIN. Also signing on a SoftHSM token.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::docgate;
use common::signing::{openssl_cms_verify, pdfsig};
use common::softhsm::{self, SoftHsm};
use common::tsa::OpensslTsa;
use docgate::demo::pki::{SignerFiles, TestCa};
use docgate::signature::pdf::PdfFile;
use serde_json::Value;

struct Setup {
    dir: tempfile::TempDir,
    ca: TestCa,
    leader: SignerFiles,
    agency: SignerFiles,
    revoked: SignerFiles,
    foreign: SignerFiles,
    crl: PathBuf,
    tsa: OpensslTsa,
    unsigned: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_path_buf();
    let ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", &path, "ca").expect("ca");
    let leader = ca
        .issue_document_signer(
            "Nguyễn Văn An",
            "UBND huyện Thử Nghiệm",
            11,
            &path,
            "leader",
        )
        .expect("leader");
    let agency = ca
        .issue_document_signer(
            "UBND huyện Thử Nghiệm",
            "UBND huyện Thử Nghiệm",
            12,
            &path,
            "agency",
        )
        .expect("agency");
    let revoked = ca
        .issue_document_signer(
            "Trần Thị Bình",
            "UBND huyện Thử Nghiệm",
            13,
            &path,
            "revoked",
        )
        .expect("revoked");
    let other = TestCa::create("Not the government CA", &path, "other-ca").expect("other");
    let foreign = other
        .issue_document_signer("Lê Văn Cường", "Elsewhere", 14, &path, "foreign")
        .expect("foreign");
    let crl = ca.revocation_list(&[13], &path, "crl").expect("crl");
    let tsa = OpensslTsa::new(&ca, &path.join("tsa"));
    let unsigned = path.join("unsigned.pdf");
    std::fs::write(
        &unsigned,
        docgate::demo::sample_pdf("Công văn số 1").expect("pdf"),
    )
    .expect("write");
    Setup {
        dir,
        ca,
        leader,
        agency,
        revoked,
        foreign,
        crl,
        tsa,
        unsigned,
    }
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn sign(
        &self,
        signer: &SignerFiles,
        role: &str,
        input: &Path,
        output: &Path,
        tsa: Option<&str>,
    ) -> Output {
        let mut command = docgate();
        command
            .arg("sign")
            .arg("--key-file")
            .arg(&signer.key_file)
            .args(["--role", role])
            .arg("--trust")
            .arg(&self.ca.certificate)
            .arg("--crl")
            .arg(&self.crl);
        if let Some(url) = tsa {
            command.args(["--tsa", url]);
        }
        command
            .arg(input)
            .arg(output)
            .output()
            .expect("docgate sign")
    }

    fn verify(&self, file: &Path) -> (bool, Value) {
        let output = docgate()
            .arg("verify")
            .arg(file)
            .arg("--json")
            .arg("--trust")
            .arg(&self.ca.certificate)
            .arg("--crl")
            .arg(&self.crl)
            .output()
            .expect("docgate verify");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "verify --json printed no JSON ({error}): {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.success(), report)
    }

    /// Leader-signed, then agency-sealed with a timestamp.
    fn signed_twice(&self, tsa_url: &str) -> PathBuf {
        let leader_signed = self.path("leader-signed.pdf");
        let output = self.sign(&self.leader, "leader", &self.unsigned, &leader_signed, None);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let sealed = self.path("sealed.pdf");
        let output = self.sign(
            &self.agency,
            "agency",
            &leader_signed,
            &sealed,
            Some(tsa_url),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("B-T"));
        sealed
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_leader_and_an_agency_signature_pass_pdfsig_openssl_cms_and_openssl_ts() {
    let setup = setup();
    let running = setup.tsa.serve();
    let sealed = setup.signed_twice(&running.url);

    // pdfsig: both signatures valid; the agency's covers the whole document.
    let output = Command::new("pdfsig")
        .arg(&sealed)
        .output()
        .expect("pdfsig");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        text.matches("Signature Validation: Signature is Valid.")
            .count(),
        2,
        "{text}"
    );
    assert!(text.contains("Total document signed"), "{text}");

    // Our own report agrees, with roles, level and coverage.
    let (valid, report) = setup.verify(&sealed);
    assert!(valid, "{report:#}");
    let signatures = report["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 2);
    assert_eq!(signatures[0]["role"], "personal");
    assert_eq!(signatures[0]["level"], "B-B");
    assert_eq!(signatures[0]["covers_whole_document"], false);
    assert_eq!(signatures[0]["later_revisions"], 1);
    assert_eq!(signatures[1]["role"], "agency");
    assert_eq!(signatures[1]["level"], "B-T");
    assert_eq!(signatures[1]["covers_whole_document"], true);
    assert_eq!(signatures[1]["chain"]["revocation"]["status"], "good");

    // openssl cms -verify over each signature's byte range; openssl ts -verify the token.
    let mut file = PdfFile::open(&sealed).expect("open");
    for (index, signature) in file.signatures().expect("signatures").iter().enumerate() {
        let coverage = signature.coverage.clone().expect("coverage");
        let mut content = Vec::new();
        PdfFile::open(&sealed)
            .expect("open")
            .feed_signed_bytes(&coverage.byte_range, |chunk| {
                content.extend_from_slice(chunk)
            })
            .expect("ranges");
        let der = signature.cms_der().expect("cms");
        let (data, cms) = (
            setup.path(&format!("ranges-{index}")),
            setup.path(&format!("cms-{index}.der")),
        );
        std::fs::write(&data, &content).expect("data");
        std::fs::write(&cms, der).expect("cms");
        let output = openssl_cms_verify(&cms, &data, &setup.ca.certificate);
        assert!(
            output.status.success(),
            "signature {index}: {}",
            stderr(&output)
        );
    }
    let agency = &file.signatures().expect("signatures")[1];
    let parsed =
        docgate::signature::cms::parse(agency.contents.as_deref().expect("contents")).expect("cms");
    let token = setup.path("token.der");
    std::fs::write(&token, parsed.timestamp_token.expect("token")).expect("token");
    let digest = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &parsed.signature,
    ));
    let output = Command::new("openssl")
        .args(["ts", "-verify", "-token_in", "-digest", &digest, "-in"])
        .arg(&token)
        .arg("-CAfile")
        .arg(&setup.ca.certificate)
        .arg("-untrusted")
        .arg(setup.tsa.certificate())
        .output()
        .expect("openssl ts");
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn the_agency_seal_is_refused_without_a_valid_leader_signature() {
    let setup = setup();
    let sealed = setup.path("sealed.pdf");

    // No signature at all.
    let output = setup.sign(&setup.agency, "agency", &setup.unsigned, &sealed, None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not signed"),
        "{}",
        stderr(&output)
    );
    assert!(!sealed.exists(), "a refused request writes nothing");

    // A leader from another CA, and a revoked leader.
    for (signer, expected) in [
        (&setup.foreign, "no trusted issuer"),
        (&setup.revoked, "revoked"),
    ] {
        let leader_signed = setup.path("leader.pdf");
        let output = setup.sign(signer, "leader", &setup.unsigned, &leader_signed, None);
        assert!(output.status.success(), "{}", stderr(&output));
        let output = setup.sign(&setup.agency, "agency", &leader_signed, &sealed, None);
        assert!(!output.status.success());
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
        let (valid, report) = setup.verify(&leader_signed);
        assert!(!valid, "{report:#}");
        assert_eq!(report["signatures"][0]["verdict"], "invalid");
    }
    assert!(!sealed.exists());
}

#[test]
fn a_pdf_changed_after_signing_or_corrupt_is_reported_and_refused() {
    let setup = setup();
    let leader_signed = setup.path("leader.pdf");
    let output = setup.sign(
        &setup.leader,
        "leader",
        &setup.unsigned,
        &leader_signed,
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (valid, _) = setup.verify(&leader_signed);
    assert!(valid);

    // One byte changed inside the signed range.
    let mut bytes = std::fs::read(&leader_signed).expect("read");
    let at = bytes
        .windows(7)
        .position(|window| window == b"Cong van" || window == b"/Type /")
        .unwrap_or(20);
    bytes[at + 1] ^= 0x01;
    let altered = setup.path("altered.pdf");
    std::fs::write(&altered, &bytes).expect("write");
    let (valid, report) = setup.verify(&altered);
    assert!(!valid);
    let problems = report["signatures"][0]["problems"].to_string();
    assert!(problems.contains("changed after signing"), "{report:#}");

    // Bytes appended after the signature (an update nobody signed).
    let mut appended = std::fs::read(&leader_signed).expect("read");
    appended.extend_from_slice(b"\n% added later\n");
    let appended_file = setup.path("appended.pdf");
    std::fs::write(&appended_file, &appended).expect("write");
    let output = setup.sign(
        &setup.agency,
        "agency",
        &appended_file,
        &setup.path("x.pdf"),
        None,
    );
    let (_, report) = setup.verify(&appended_file);
    assert_eq!(
        report["signatures"][0]["covers_whole_document"], false,
        "{report:#}"
    );
    assert!(report["signatures"][0]["bytes_added_after"].as_u64() > Some(0));
    let _ = output;

    // A corrupt PDF: one clear line, non-zero exit.
    let corrupt = setup.path("corrupt.pdf");
    std::fs::write(
        &corrupt,
        &std::fs::read(&leader_signed).expect("read")[..300],
    )
    .expect("write");
    let output = docgate()
        .arg("verify")
        .arg(&corrupt)
        .output()
        .expect("verify");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot read the PDF"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn signing_on_a_softhsm_token_and_a_wrong_pin_fails_once_with_a_clear_error() {
    let softhsm = SoftHsm::shared();
    let pki = softhsm::pki();
    let label = softhsm::unique_label("cli");
    softhsm.provision(&label, "1234", &[(&pki.rsa, "seal")]);
    let dir = tempfile::tempdir().expect("dir");
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "1234\n").expect("pin");
    let input = dir.path().join("in.pdf");
    std::fs::write(&input, docgate::demo::sample_pdf("token").expect("pdf")).expect("pdf");
    let output_pdf = dir.path().join("out.pdf");
    let sign_on_token = |output: &Path| {
        softhsm
            .command(env!("CARGO_BIN_EXE_docgate"))
            .args(["sign", "--token-label", &label, "--module", softhsm::MODULE])
            .arg("--pin-file")
            .arg(&pin)
            .args(["--role", "leader"])
            .arg(&input)
            .arg(output)
            .output()
            .expect("sign")
    };
    let output = sign_on_token(&output_pdf);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = pdfsig(&output_pdf);
    assert!(text.contains("Signature is Valid"), "{text}");

    std::fs::write(&pin, "9999\n").expect("pin");
    let started = std::time::Instant::now();
    let output = sign_on_token(&dir.path().join("never.pdf"));
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.to_lowercase().contains("pin"), "{message}");
    assert!(
        !message.contains("9999"),
        "the PIN must never be printed: {message}"
    );
    assert!(!dir.path().join("never.pdf").exists());
    // It stops after the one failure (no retry loop that would lock a real token); it
    // does not wait out the whole 10 s readiness timeout either way.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn a_seal_made_offline_is_raised_to_b_t_later_without_touching_the_signed_bytes() {
    use docgate::signature::pades;
    use docgate::signature::timestamp::TimestampRequest;
    let setup = setup();
    let leader_signed = setup.path("leader.pdf");
    let output = setup.sign(
        &setup.leader,
        "leader",
        &setup.unsigned,
        &leader_signed,
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // The TSA is unreachable: the seal is applied as B-B, and the command says so.
    let sealed = setup.path("sealed.pdf");
    let output = setup.sign(
        &setup.agency,
        "agency",
        &leader_signed,
        &sealed,
        Some("http://127.0.0.1:9/tsa"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("B-B"));
    assert!(
        stderr(&output).contains("no timestamp"),
        "{}",
        stderr(&output)
    );
    let (valid, report) = setup.verify(&sealed);
    assert!(valid, "{report:#}");
    assert_eq!(report["signatures"][1]["level"], "B-B");
    let field = report["signatures"][1]["field"]
        .as_str()
        .expect("field")
        .to_owned();

    let before = std::fs::read(&sealed).expect("read");
    let stamper = |message: &[u8]| {
        let request = TimestampRequest::new(message)?;
        request.accept(&setup.tsa.reply(&request.der))
    };
    pades::add_timestamp(&sealed, Some(&field), &stamper).expect("timestamp");
    let after = std::fs::read(&sealed).expect("read");
    assert_eq!(
        before.len(),
        after.len(),
        "the timestamp goes into the existing hole"
    );

    let (valid, report) = setup.verify(&sealed);
    assert!(valid, "{report:#}");
    assert_eq!(report["signatures"][1]["level"], "B-T");
    let text = pdfsig(&sealed);
    assert_eq!(text.matches("Signature is Valid").count(), 2, "{text}");
}

#[test]
fn verify_fetches_the_crls_certificates_name_when_asked() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path();
    let ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", path, "ca").expect("ca");
    let crl = ca.revocation_list(&[72], path, "published").expect("crl");
    let server = common::http::FileServer::start(crl, "ca.crl");
    let good = ca
        .issue_document_signer_with_crl("An", "UBND", 71, path, "good", Some(&server.url))
        .expect("good");
    let revoked = ca
        .issue_document_signer_with_crl("Bình", "UBND", 72, path, "revoked", Some(&server.url))
        .expect("revoked");
    let unsigned = path.join("unsigned.pdf");
    std::fs::write(&unsigned, docgate::demo::sample_pdf("crl").expect("pdf")).expect("pdf");
    let cache = path.join("crl-cache");
    let verify = |file: &Path| {
        let output = docgate()
            .arg("verify")
            .arg(file)
            .arg("--json")
            .arg("--trust")
            .arg(&ca.certificate)
            .arg("--crl-cache")
            .arg(&cache)
            .output()
            .expect("verify");
        let report: Value = serde_json::from_slice(&output.stdout).expect("json");
        (output.status.success(), report)
    };
    for (signer, name, valid, status) in [
        (&good, "good.pdf", true, "good"),
        (&revoked, "revoked.pdf", false, "revoked"),
    ] {
        let signed = path.join(name);
        let output =
            common::signing::sign_with_key_file(&signer.key_file, "leader", &unsigned, &signed);
        assert!(output.status.success(), "{}", stderr(&output));
        let (ok, report) = verify(&signed);
        assert_eq!(ok, valid, "{report:#}");
        assert_eq!(
            report["signatures"][0]["chain"]["revocation"]["status"], status,
            "{report:#}"
        );
    }
    assert!(std::fs::read_dir(&cache).expect("cache").count() >= 1);
}

#[test]
fn verify_asks_the_ocsp_responder_a_certificate_names() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path();
    let ca = TestCa::create("Ban Cơ yếu Chính phủ (test)", path, "ca").expect("ca");
    let responder = common::ocsp::OcspResponder::start(&path.join("ocsp"), &ca, &[81], &[82]);
    let issue = |name: &str, serial: u64, url: &str| {
        ca.issue_document_signer_with_ocsp(name, "UBND", serial, path, name, url)
            .expect("signer")
    };
    let good = issue("good", 81, &responder.url);
    let revoked = issue("revoked", 82, &responder.url);
    let unlisted = issue("unlisted", 83, &responder.url);
    let unreachable = issue("unreachable", 84, "http://127.0.0.1:9/");
    let unsigned = path.join("unsigned.pdf");
    std::fs::write(&unsigned, docgate::demo::sample_pdf("ocsp").expect("pdf")).expect("pdf");
    for (signer, name, valid, status, words) in [
        (&good, "good", true, "good", "OCSP answer"),
        (&revoked, "revoked", false, "revoked", ""),
        (&unlisted, "unlisted", false, "unknown", "does not know"),
        (
            &unreachable,
            "unreachable",
            false,
            "unknown",
            "no OCSP responder answered",
        ),
    ] {
        let signed = path.join(format!("{name}.pdf"));
        let output =
            common::signing::sign_with_key_file(&signer.key_file, "leader", &unsigned, &signed);
        assert!(output.status.success(), "{}", stderr(&output));
        let output = docgate()
            .arg("verify")
            .arg(&signed)
            .arg("--json")
            .arg("--trust")
            .arg(&ca.certificate)
            .arg("--crl-cache")
            .arg(path.join("cache"))
            .output()
            .expect("verify");
        let report: Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(
            output.status.success(),
            valid,
            "{name}: {report:#}\nresponder: {}\nstderr: {}",
            std::fs::read_to_string(path.join("ocsp").join("responder.log")).unwrap_or_default(),
            stderr(&output)
        );
        let revocation = &report["signatures"][0]["chain"]["revocation"];
        assert_eq!(revocation["status"], status, "{name}: {report:#}");
        assert!(revocation.to_string().contains(words), "{name}: {report:#}");
    }
}
