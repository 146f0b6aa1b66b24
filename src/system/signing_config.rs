//! The optional `[signing]` section of the gateway's configuration: the agency's key (a
//! PKCS#11 token in production, a key file for the demo and tests), the trust roots and
//! CRLs signatures are judged against, the timestamp authority, how strict to be, and the
//! optional visible seal picture (checked here only as a readable file; the sealer decodes
//! it when the gateway starts).
//! Validated with the rest of the file by `GatewayConfig::load` (errors name the key and
//! the fix). Never reads the PIN.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::ConfigError;

/// `[signing]`: signatures on outgoing documents and checks on incoming ones. Absent: the
/// gateway neither checks nor applies signatures (a stand-alone or test set-up).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SigningSection {
    /// The PKCS#11 module of the agency's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_module: Option<PathBuf>,
    /// The token's label (never a slot number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_label: Option<String>,
    /// A file holding the token's user PIN (a systemd credential on the appliance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_pin_file: Option<PathBuf>,
    /// Which key on the token, when it holds several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_key_label: Option<String>,
    /// Instead of a token: a PEM file with the PKCS#8 key, the seal certificate and any
    /// intermediates (demo and tests; no hardware).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// PEM files of the roots signatures must chain to (the Government Cipher Committee's
    /// CA in production).
    pub trust_roots: Vec<PathBuf>,
    /// CRL files (PEM or DER). Without a current CRL for an issuer, revocation is unknown.
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// Fetch CRLs from the distribution points certificates name (and cache them under the
    /// state directory) when `crls` has none for an issuer.
    #[serde(default = "default_fetch_crls")]
    pub fetch_crls: bool,
    /// Accept a leader's signature whose revocation cannot be known (no current CRL), so an
    /// office keeps working offline. Off by default: unknown is not valid.
    #[serde(default)]
    pub accept_unknown_revocation: bool,
    /// RFC 3161 timestamp authority (`http(s)://…`). Without it, seals are PAdES B-B.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa_url: Option<String>,
    /// How long one timestamp request may take, in seconds.
    #[serde(default = "default_tsa_timeout_secs")]
    pub tsa_timeout_secs: u64,
    /// With a TSA configured: how long a sealed document waits for its timestamp before it
    /// is sent as B-B anyway. Absent: it waits for B-T however long it takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_without_timestamp_after_secs: Option<u64>,
    /// A PNG of the agency's seal (red, on a transparent background) to show on the last
    /// page of each sealed document, at its size on paper, over the left third of the
    /// leader's visible signature. Absent: the seal is invisible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_image: Option<PathBuf>,
    /// Where the seal picture's lower-left corner goes when the leader's signature is not
    /// visible, as `[x, y]` millimetres from the page's lower-left corner. Absent: the
    /// bottom right of the page (20 mm from the right edge, 25 mm above the bottom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_position: Option<[f64; 2]>,
}

fn default_fetch_crls() -> bool {
    true
}

fn default_tsa_timeout_secs() -> u64 {
    15
}

impl SigningSection {
    /// Makes relative paths relative to the configuration file's directory.
    pub(crate) fn anchor(&mut self, base: &Path) {
        for path in [
            &mut self.token_module,
            &mut self.token_pin_file,
            &mut self.key_file,
            &mut self.seal_image,
        ]
        .into_iter()
        .flatten()
        {
            *path = base.join(&*path);
        }
        for path in self.trust_roots.iter_mut().chain(self.crls.iter_mut()) {
            *path = base.join(&*path);
        }
    }

    pub(crate) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: String, fix| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
            fix,
        };
        let token = self.token_label.is_some();
        match (token, self.key_file.is_some()) {
            (true, true) => {
                return Err(invalid(
                    "signing.key_file",
                    "and signing.token_label are both set".into(),
                    "keep the token (production) or the key file (demo), not both",
                ))
            }
            (false, false) => {
                return Err(invalid(
                    "signing.token_label",
                    "is missing".into(),
                    "name the agency's token by its label (with token_module and token_pin_file), or give key_file",
                ))
            }
            _ => {}
        }
        if token && (self.token_module.is_none() || self.token_pin_file.is_none()) {
            return Err(invalid(
                "signing.token_pin_file",
                "or signing.token_module is missing".into(),
                "set token_module to the token's PKCS#11 library and token_pin_file to the file holding its PIN",
            ));
        }
        if self.trust_roots.is_empty() {
            return Err(invalid(
                "signing.trust_roots",
                "is empty".into(),
                "list the PEM file(s) of the CA that issues leaders' and agencies' certificates",
            ));
        }
        let files = [
            ("signing.key_file", self.key_file.as_ref()),
            ("signing.token_pin_file", self.token_pin_file.as_ref()),
            ("signing.token_module", self.token_module.as_ref()),
            ("signing.seal_image", self.seal_image.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, file)| file.map(|file| (key, file)))
        .chain(
            self.trust_roots
                .iter()
                .map(|file| ("signing.trust_roots", file)),
        )
        .chain(self.crls.iter().map(|file| ("signing.crls", file)));
        for (key, file) in files {
            if !file.is_file() {
                return Err(invalid(
                    key,
                    format!("names {}, which is not a readable file", file.display()),
                    "point it at the file (relative paths are relative to this config file)",
                ));
            }
        }
        if let Some(url) = &self.tsa_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    "signing.tsa_url",
                    format!("is {url:?}, not an http(s) URL"),
                    "write the timestamp authority's address, e.g. http://tsa.example.gov.vn/",
                ));
            }
        }
        if let Some(position) = self.seal_position {
            if self.seal_image.is_none() {
                return Err(invalid(
                    "signing.seal_position",
                    "is set without signing.seal_image".into(),
                    "name the seal's PNG in seal_image, or remove seal_position",
                ));
            }
            if !position.iter().all(|mm| (0.0..=1000.0).contains(mm)) {
                return Err(invalid(
                    "signing.seal_position",
                    format!("is {position:?}"),
                    "give [x, y] in millimetres from the page's lower-left corner, e.g. [120, 40]",
                ));
            }
        }
        if self.tsa_timeout_secs == 0 || self.tsa_timeout_secs > 300 {
            return Err(invalid(
                "signing.tsa_timeout_secs",
                format!("is {}", self.tsa_timeout_secs),
                "use 1 to 300 seconds",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses and validates `text` as if in a directory holding every file it names.
    fn section(text: &str) -> Result<SigningSection, String> {
        let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        for name in [
            "seal.pem",
            "k",
            "c",
            "ca.pem",
            "credentials/pin",
            "trust/ca.pem",
            "seal.png",
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap_or(dir.path()))
                .map_err(|error| error.to_string())?;
            std::fs::write(path, "x").map_err(|error| error.to_string())?;
        }
        let mut section: SigningSection =
            toml::from_str(text).map_err(|error| error.to_string())?;
        section.anchor(dir.path());
        section
            .validate(&dir.path().join("docgate.toml"))
            .map_err(|error| error.to_string())?;
        Ok(section)
    }

    #[test]
    fn a_key_file_or_a_token_with_its_module_and_pin() {
        let key_file =
            section("key_file = \"seal.pem\"\ntrust_roots = [\"trust/ca.pem\"]").expect("ok");
        assert!(key_file
            .key_file
            .is_some_and(|path| path.is_absolute() && path.ends_with("seal.pem")));
        assert!(key_file.trust_roots[0].ends_with("trust/ca.pem"));
        section(
            "token_label = \"agency-seal\"\ntoken_module = \"k\"\n\
             token_pin_file = \"credentials/pin\"\ntrust_roots = [\"ca.pem\"]",
        )
        .expect("ok");

        let with_seal = section(
            "key_file = \"k\"\ntrust_roots = [\"c\"]\nseal_image = \"seal.png\"\nseal_position = [120, 40.5]",
        )
        .expect("ok");
        assert!(with_seal
            .seal_image
            .is_some_and(|path| path.is_absolute() && path.ends_with("seal.png")));
        assert_eq!(with_seal.seal_position, Some([120.0, 40.5]));

        for (text, key) in [
            ("trust_roots = [\"ca.pem\"]", "signing.token_label"),
            (
                "key_file = \"k\"\ntoken_label = \"t\"\ntrust_roots = [\"ca.pem\"]",
                "signing.key_file",
            ),
            (
                "token_label = \"t\"\ntrust_roots = [\"ca.pem\"]",
                "signing.token_pin_file",
            ),
            ("key_file = \"k\"\ntrust_roots = []", "signing.trust_roots"),
            (
                "key_file = \"k\"\ntrust_roots = [\"c\"]\ntsa_url = \"ftp://x\"",
                "signing.tsa_url",
            ),
            (
                "key_file = \"k\"\ntrust_roots = [\"missing.pem\"]",
                "signing.trust_roots",
            ),
            (
                "key_file = \"k\"\ntrust_roots = [\"c\"]\nseal_image = \"missing.png\"",
                "signing.seal_image",
            ),
            (
                "key_file = \"k\"\ntrust_roots = [\"c\"]\nseal_position = [120, 40]",
                "signing.seal_position",
            ),
            (
                "key_file = \"k\"\ntrust_roots = [\"c\"]\nseal_image = \"seal.png\"\nseal_position = [-1, 40]",
                "signing.seal_position",
            ),
        ] {
            let error = section(text).expect_err(text);
            assert!(error.contains(key), "{text}: {error}");
        }
    }
}
