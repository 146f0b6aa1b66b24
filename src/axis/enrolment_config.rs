//! The axis configuration's optional `[enrolment]` section: the device CA's key (its
//! certificate is `[tls] client_ca`), the address boxes are told to use, and the policy
//! every configuration bundle carries. Validated with the rest of the file by
//! `AxisConfig::load`; never opens a socket.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[enrolment]`: this axis enrols boxes and is their device CA.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentSection {
    /// PKCS#8 PEM key of the `[tls] client_ca` certificate.
    pub ca_key: PathBuf,
    /// `https://host:port` boxes use to reach this axis (written into their bundles).
    pub public_url: String,
    /// How long a link certificate is valid.
    #[serde(default = "default_link_certificate_lifetime_secs")]
    pub link_certificate_lifetime_secs: u64,
    /// Boxes renew when less than this remains (default: a third of the lifetime).
    #[serde(default)]
    pub renew_before_secs: Option<u64>,
    /// How long a bundle holds before the box warns.
    #[serde(default = "default_bundle_lifetime_secs")]
    pub bundle_lifetime_secs: u64,
    /// How long a box keeps working past its bundle's expiry.
    #[serde(default = "default_grace_secs")]
    pub grace_secs: u64,
    /// How often boxes ask for a newer bundle.
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
    /// How long a new code is valid unless `docgate axis enroll create --expires-in` says.
    #[serde(default = "default_code_lifetime_secs")]
    pub code_lifetime_secs: u64,
    /// The long poll boxes use.
    #[serde(default = "default_long_poll_secs")]
    pub long_poll_secs: u64,
    /// RFC 3161 timestamp authority boxes use for their seals.
    #[serde(default)]
    pub tsa_url: Option<String>,
    /// PEM files of the roots document signatures must chain to.
    #[serde(default)]
    pub signature_trust_roots: Vec<PathBuf>,
    /// Boxes fetch CRLs from the certificates' distribution points.
    #[serde(default)]
    pub fetch_crls: bool,
}

fn default_link_certificate_lifetime_secs() -> u64 {
    365 * 86_400
}
fn default_bundle_lifetime_secs() -> u64 {
    30 * 86_400
}
fn default_grace_secs() -> u64 {
    7 * 86_400
}
fn default_refresh_secs() -> u64 {
    3600
}
fn default_code_lifetime_secs() -> u64 {
    7 * 86_400
}
fn default_long_poll_secs() -> u64 {
    25
}

impl EnrolmentSection {
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        self.ca_key = base.join(&self.ca_key);
        for root in &mut self.signature_trust_roots {
            *root = base.join(&*root);
        }
    }

    /// The renewal margin boxes are told.
    pub fn renew_before_secs(&self) -> u64 {
        self.renew_before_secs
            .unwrap_or(self.link_certificate_lifetime_secs / 3)
    }

    /// The first problem, as (key, problem, fix).
    pub(super) fn problem(&self) -> Option<(String, String, &'static str)> {
        let url = self.public_url.trim();
        if !url.starts_with("https://") || url.len() <= "https://".len() {
            return Some((
                "enrolment.public_url".into(),
                format!("is {:?}, not an https:// URL", self.public_url),
                "write the address boxes reach this axis at on the dedicated network, e.g. https://10.1.2.3:8443",
            ));
        }
        let bounded = [
            (
                "enrolment.link_certificate_lifetime_secs",
                self.link_certificate_lifetime_secs,
                10,
                5 * 365 * 86_400,
            ),
            (
                "enrolment.bundle_lifetime_secs",
                self.bundle_lifetime_secs,
                10,
                365 * 86_400,
            ),
            ("enrolment.refresh_secs", self.refresh_secs, 1, 86_400),
            (
                "enrolment.code_lifetime_secs",
                self.code_lifetime_secs,
                60,
                90 * 86_400,
            ),
            ("enrolment.long_poll_secs", self.long_poll_secs, 1, 300),
            ("enrolment.grace_secs", self.grace_secs, 0, 365 * 86_400),
        ];
        for (key, value, low, high) in bounded {
            if !(low..=high).contains(&value) {
                return Some((
                    key.into(),
                    format!("is {value}, outside {low}..={high}"),
                    "use the default (remove the line) or a value in range",
                ));
            }
        }
        if self.renew_before_secs() >= self.link_certificate_lifetime_secs {
            return Some((
                "enrolment.renew_before_secs".into(),
                "is not below link_certificate_lifetime_secs".into(),
                "renew some time before expiry, e.g. a third of the lifetime",
            ));
        }
        if let Some(tsa) = &self.tsa_url {
            if !(tsa.starts_with("http://") || tsa.starts_with("https://")) {
                return Some((
                    "enrolment.tsa_url".into(),
                    format!("is {tsa:?}, not an http(s) URL"),
                    "write the timestamp authority's address",
                ));
            }
        }
        None
    }

    /// The signature trust roots as PEM texts.
    pub fn trust_roots_pem(&self) -> Result<Vec<String>, (PathBuf, std::io::Error)> {
        self.signature_trust_roots
            .iter()
            .map(|path| std::fs::read_to_string(path).map_err(|error| (path.clone(), error)))
            .collect()
    }
}
