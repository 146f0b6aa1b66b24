//! The optional `[axis]` section of the gateway's configuration: where the provincial axis
//! is, who we are to it, and how to retry. Validated with the rest of the file by
//! `GatewayConfig::load` (errors name the key and the fix). Never logs the secret.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::ConfigError;

/// `[axis]`: how to reach the provincial axis (mutual TLS + the SDK's signed headers).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AxisSection {
    /// `https://host:port` of the axis.
    pub url: String,
    /// Our system id at the axis (= our client certificate's CN).
    pub system_id: String,
    /// The shared secret for the signed headers. Prefer `secret_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A file holding the shared secret (readable only by the docgate user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// The axis's CA certificate (the only trusted root).
    pub ca: PathBuf,
    /// Our client certificate (PEM).
    pub certificate: PathBuf,
    /// Its private key (PEM), when the key is in a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Instead of `key`: the label of the link key on the agency's token (the token named in
    /// `[signing]`); the handshake is signed there and the key never leaves the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_key_label: Option<String>,
    /// How long one `waitForEdoc` long poll may last, in seconds.
    #[serde(default = "default_long_poll_secs")]
    pub long_poll_secs: u64,
    /// Shortest wait before retrying after a failure, in milliseconds.
    #[serde(default = "default_retry_min_ms")]
    pub retry_min_ms: u64,
    /// Longest wait before retrying after failures, in milliseconds.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
}

fn default_long_poll_secs() -> u64 {
    25
}

fn default_retry_min_ms() -> u64 {
    200
}

fn default_retry_max_ms() -> u64 {
    30_000
}

/// Shortest axis secret accepted (characters), as the axis requires.
const MIN_SECRET_LENGTH: usize = 24;

impl AxisSection {
    /// The shared secret, read from `secret` or `secret_file`. Never log it.
    pub fn secret(&self) -> Result<String, ConfigError> {
        if let Some(secret) = &self.secret {
            return Ok(secret.clone());
        }
        let Some(path) = &self.secret_file else {
            return Ok(String::new());
        };
        let secret = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(secret.trim().to_string())
    }
}

impl AxisSection {
    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: String, fix| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
            fix,
        };
        let url = self.url.trim();
        let host = url.strip_prefix("https://").unwrap_or("");
        if host.is_empty() || host.starts_with('/') || url.chars().any(char::is_whitespace) {
            return Err(invalid(
                "axis.url",
                format!("is {:?}, not an https:// URL", self.url),
                "write the axis address issued by provincial IT, e.g. https://10.1.2.3:8443",
            ));
        }
        if self.system_id.trim().is_empty() || self.system_id.chars().any(|c| !c.is_ascii_graphic())
        {
            return Err(invalid(
                "axis.system_id",
                "is empty or has spaces or non-ASCII characters".into(),
                "write the system id provincial IT registered (the CN of the client certificate)",
            ));
        }
        match (&self.secret, &self.secret_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "axis.secret",
                    "and axis.secret_file are both set".into(),
                    "keep only one of them (secret_file is preferred)",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "axis.secret_file",
                    "is missing".into(),
                    "set axis.secret_file to a file holding the shared secret provincial IT issued",
                ))
            }
            _ => {}
        }
        if self.secret()?.len() < MIN_SECRET_LENGTH {
            return Err(invalid(
                "axis.secret",
                format!("is shorter than {MIN_SECRET_LENGTH} characters"),
                "use the full shared secret provincial IT issued",
            ));
        }
        match (&self.key, &self.token_key_label) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "axis.key",
                    "and axis.token_key_label are both set".into(),
                    "keep the key file or the key on the token, not both",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "axis.key",
                    "is missing".into(),
                    "name the client certificate's private key file, or set token_key_label to use a key on the token",
                ))
            }
            _ => {}
        }
        for (key, file) in [
            ("axis.ca", Some(&self.ca)),
            ("axis.certificate", Some(&self.certificate)),
            ("axis.key", self.key.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, file)| file.map(|file| (key, file)))
        {
            if !file.is_file() {
                return Err(invalid(
                    key,
                    format!("names {}, which is not a readable file", file.display()),
                    "point it at the PEM file provincial IT issued (relative paths are relative to this config file)",
                ));
            }
        }
        if self.long_poll_secs == 0 || self.long_poll_secs > 300 {
            return Err(invalid(
                "axis.long_poll_secs",
                format!("is {}, outside 1..=300", self.long_poll_secs),
                "use a value such as 25",
            ));
        }
        if self.retry_min_ms == 0 || self.retry_min_ms > self.retry_max_ms {
            return Err(invalid(
                "axis.retry_min_ms",
                "must be above 0 and at most axis.retry_max_ms".into(),
                "use e.g. retry_min_ms = 200 and retry_max_ms = 30000",
            ));
        }
        if self.retry_max_ms > 3_600_000 {
            return Err(invalid(
                "axis.retry_max_ms",
                "is more than an hour".into(),
                "use a value such as 30000",
            ));
        }
        Ok(())
    }
}
