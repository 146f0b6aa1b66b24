//! The demo's tokens. With SoftHSM2 and OpenSC installed, each office's leader key and
//! agency seal are put on SoftHSM tokens of their own under `DIR/softhsm/` (labels
//! `district-leader`, `district-agency`, …; PINs in files beside them), as a real office
//! keeps them on USB tokens; without them the keys stay PEM key files, so the demo still
//! needs nothing installed. Either way `demo.json` lists them under `tokens`.
//!
//! Only runs the SoftHSM and OpenSC command-line tools; never loads the PKCS#11 module
//! itself (the gateways and `docgate sign` do, through `token`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::DemoError;

/// Where Debian installs SoftHSM2's PKCS#11 module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The environment variable SoftHSM reads its configuration from.
pub const SOFTHSM_CONF_ENV: &str = "SOFTHSM2_CONF";
/// The security officer PIN of the demo tokens (they are throw-away).
const SO_PIN: &str = "12345678";

/// A key as the demo hands it out: on a SoftHSM token, or in a key file.
#[derive(Debug, Clone)]
pub enum DemoKey {
    Token { label: String, pin_file: PathBuf },
    File(PathBuf),
}

/// The demo's SoftHSM configuration, when SoftHSM2 and OpenSC are installed.
#[derive(Debug, Clone)]
pub struct DemoSoftHsm {
    pub conf: PathBuf,
    dir: PathBuf,
}

impl DemoSoftHsm {
    /// Writes `dir/softhsm2.conf` and its token directory; `None` when the tools are missing.
    pub fn create(dir: &Path) -> Result<Option<DemoSoftHsm>, DemoError> {
        if !Path::new(SOFTHSM_MODULE).exists()
            || !on_path("softhsm2-util")
            || !on_path("pkcs11-tool")
        {
            return Ok(None);
        }
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).map_err(io(&tokens))?;
        let conf = dir.join("softhsm2.conf");
        let text = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        );
        std::fs::write(&conf, text).map_err(io(&conf))?;
        Ok(Some(DemoSoftHsm {
            conf,
            dir: dir.to_path_buf(),
        }))
    }

    /// Makes a token `label` holding the PKCS#8 key `key_pem` and its certificate
    /// `certificate_pem` (both labelled `key`, id 01); its PIN goes to a file.
    pub fn provision(
        &self,
        label: &str,
        key_pem: &Path,
        certificate_pem: &Path,
    ) -> Result<DemoKey, DemoError> {
        let pin = crate::system::config::fresh_token()
            .map_err(io(&self.dir))?
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect::<String>();
        let pin_file = self.dir.join(format!("{label}.pin"));
        super::setup::write_private(&pin_file, &pin)?;
        self.run(
            Command::new("softhsm2-util").args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                SO_PIN,
                "--pin",
                &pin,
            ]),
            "softhsm2-util --init-token",
        )?;
        self.run(
            Command::new("softhsm2-util")
                .arg("--import")
                .arg(key_pem)
                .args([
                    "--token", label, "--label", "key", "--id", "01", "--pin", &pin,
                ]),
            "softhsm2-util --import",
        )?;
        let der = certificate_der(certificate_pem)?;
        let der_file = self.dir.join(format!("{label}.der"));
        std::fs::write(&der_file, der).map_err(io(&der_file))?;
        self.run(
            Command::new("pkcs11-tool")
                .args([
                    "--module",
                    SOFTHSM_MODULE,
                    "--token-label",
                    label,
                    "--login",
                ])
                .args(["--pin", &pin, "--write-object"])
                .arg(&der_file)
                .args(["--type", "cert", "--id", "01", "--label", "key"]),
            "pkcs11-tool --write-object",
        )?;
        Ok(DemoKey::Token {
            label: label.to_owned(),
            pin_file,
        })
    }

    fn run(&self, command: &mut Command, what: &str) -> Result<(), DemoError> {
        let output = command
            .env(SOFTHSM_CONF_ENV, &self.conf)
            .output()
            .map_err(io(&self.dir))?;
        if output.status.success() {
            return Ok(());
        }
        Err(DemoError::Io {
            path: self.dir.clone(),
            source: std::io::Error::other(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        })
    }
}

impl DemoKey {
    /// Its entry in `demo.json`'s `tokens`.
    pub fn manifest_entry(&self, softhsm: Option<&DemoSoftHsm>) -> serde_json::Value {
        match (self, softhsm) {
            (DemoKey::Token { label, pin_file }, Some(softhsm)) => serde_json::json!({
                "kind": "pkcs11",
                "module": SOFTHSM_MODULE,
                "label": label,
                "pin_file": pin_file,
                "env": {SOFTHSM_CONF_ENV: softhsm.conf},
            }),
            (DemoKey::Token { label, pin_file }, None) => serde_json::json!({
                "kind": "pkcs11", "module": SOFTHSM_MODULE, "label": label, "pin_file": pin_file,
            }),
            (DemoKey::File(path), _) => serde_json::json!({"kind": "file", "key_file": path}),
        }
    }

    /// The `[signing]` lines that name this key as the gateway's seal.
    pub fn signing_keys(&self) -> String {
        match self {
            DemoKey::Token { label, pin_file } => format!(
                "token_module = \"{SOFTHSM_MODULE}\"\ntoken_label = \"{label}\"\ntoken_pin_file = \"{}\"\n",
                pin_file.display()
            ),
            DemoKey::File(path) => format!("key_file = \"{}\"\n", path.display()),
        }
    }
}

fn certificate_der(pem: &Path) -> Result<Vec<u8>, DemoError> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(pem)
        .map(|der| der.as_ref().to_vec())
        .map_err(|error| DemoError::Io {
            path: pem.to_path_buf(),
            source: std::io::Error::other(error.to_string()),
        })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    }
}
