//! Signing helpers shared by the signature tests: `docgate sign` with a key file, the
//! independent `openssl cms -verify` of a detached signature, and `pdfsig`'s verdicts.

use std::path::Path;
use std::process::{Command, Output};

use super::docgate;

/// `docgate sign --key-file KEY --role ROLE INPUT OUTPUT` (no trust check, no TSA).
pub fn sign_with_key_file(key_file: &Path, role: &str, input: &Path, output: &Path) -> Output {
    docgate()
        .arg("sign")
        .arg("--key-file")
        .arg(key_file)
        .args(["--role", role])
        .arg(input)
        .arg(output)
        .output()
        .expect("docgate sign")
}

/// `pdf` signed by `key_file` as a leader, through the command line; the signed bytes.
pub fn leader_signed(key_file: &Path, pdf: &[u8], dir: &Path, name: &str) -> Vec<u8> {
    let (source, target) = (
        dir.join(format!("{name}.in.pdf")),
        dir.join(format!("{name}.pdf")),
    );
    std::fs::write(&source, pdf).expect("write the PDF to sign");
    let output = sign_with_key_file(key_file, "leader", &source, &target);
    assert!(
        output.status.success(),
        "docgate sign: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(&target).expect("read the signed PDF")
}

/// `openssl cms -verify` of the DER detached signature `cms` over `content`, trusting `ca`.
pub fn openssl_cms_verify(cms: &Path, content: &Path, ca: &Path) -> Output {
    Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in",
        ])
        .arg(cms)
        .arg("-content")
        .arg(content)
        .arg("-CAfile")
        .arg(ca)
        .args(["-out", "/dev/null"])
        .output()
        .expect("openssl cms")
}

/// What `pdfsig` prints about a file.
pub fn pdfsig(file: &Path) -> String {
    let output = Command::new("pdfsig").arg(file).output().expect("pdfsig");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Points the district's `[signing]` at the SoftHSM token `label` (PIN `pin`; the seal
/// key `key_label` when it holds several) and trusts the token's CA and a leaders' CA,
/// whose leader it returns. No CRLs: these tests are about the token, so unknown
/// revocation is accepted.
pub fn seal_on_token(
    exchange: &super::exchange::Exchange,
    dir: &std::path::Path,
    label: &str,
    pin: &str,
    key_label: Option<&str>,
) -> docgate::demo::pki::SignerFiles {
    let pin_file = dir.join("token-pin");
    std::fs::write(&pin_file, format!("{pin}\n")).expect("pin");
    let token_ca = dir.join("token-ca.pem");
    std::fs::write(&token_ca, super::softhsm::pki().ca_certificate_pem()).expect("token ca");
    let leaders = dir.join("leaders");
    std::fs::create_dir_all(&leaders).expect("leaders");
    let leader_ca =
        docgate::demo::pki::TestCa::create("Ban Cơ yếu Chính phủ (test)", &leaders, "ca")
            .expect("ca");
    let leader = leader_ca
        .issue_document_signer("Nguyễn Văn An", "UBND huyện", 41, &leaders, "leader")
        .expect("leader");
    let config = &exchange.gateway("district").config;
    let module = format!("{:?}", super::softhsm::MODULE);
    super::exchange::set_option(config, "signing", "token_module", &module);
    super::exchange::set_option(config, "signing", "token_label", &format!("{label:?}"));
    super::exchange::set_option(
        config,
        "signing",
        "token_pin_file",
        &format!("{pin_file:?}"),
    );
    if let Some(key_label) = key_label {
        super::exchange::set_option(
            config,
            "signing",
            "token_key_label",
            &format!("{key_label:?}"),
        );
    }
    let roots = format!("[{:?}, {:?}]", leader_ca.certificate, token_ca);
    super::exchange::set_option(config, "signing", "trust_roots", &roots);
    super::exchange::set_option(config, "signing", "accept_unknown_revocation", "true");
    leader
}
