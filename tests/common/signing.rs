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
