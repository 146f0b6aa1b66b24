//! `docgate demo`: a whole exchange on loopback for someone who has just cloned the repo —
//! no root, no hardware. [`setup`] writes a test PKI, the reference axis's config and two
//! gateway configs (a district and a commune) plus `demo.json`; [`run`] starts the three in
//! this process, sends a sample document each way through the real local APIs, waits for
//! the receivers' status 01 to come back, prints where to look, and serves until Ctrl-C.
//!
//! The demo only uses public interfaces: the files it writes are ones `docgate axis` and
//! `docgate run` accept, and it talks to the gateways over HTTP, so a script can run every
//! part as its own process from `demo.json` instead.

pub mod pki;
mod run;
mod sample_pdf;
mod setup;
pub mod tokens;

pub use run::run;
pub use sample_pdf::sample_pdf;
pub use setup::{setup, DemoOffice, COMMUNE, DISTRICT, PROVINCE_ORGAN_ID};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::gateway::GatewayError;
use crate::system::config;

/// `demo.json`: everything a script needs to drive the demo as separate processes.
#[derive(Debug, Serialize, Deserialize)]
pub struct DemoManifest {
    pub axis: Option<DemoProcess>,
    pub gateways: std::collections::BTreeMap<String, DemoProcess>,
    pub tokens: std::collections::BTreeMap<String, serde_json::Value>,
}

/// One process of the demo.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct DemoProcess {
    /// Its configuration file.
    pub config: PathBuf,
    /// The gateway's local API, or the axis's endpoint.
    pub url: String,
    /// The local API's bearer token (gateways only; the axis authenticates systems by
    /// client certificate and shared secret, both named in its config).
    pub api_token: Option<String>,
    /// The agency code it serves.
    pub organ_id: String,
    /// The command line that runs it.
    pub command: Vec<String>,
    /// Environment it needs (`SOFTHSM2_CONF` when its keys are on the demo's SoftHSM).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    /// A clerk account of the gateway's clerk pages (`URL/clerk/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clerk: Option<DemoClerk>,
}

/// A demo clerk's login.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct DemoClerk {
    pub username: String,
    pub password: String,
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot prepare the demo directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} already holds a demo; remove it or choose another --dir")]
    Exists { path: PathBuf },
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("the axis failed: {0}")]
    Axis(String),
    #[error("the sample document could not be made: {0}")]
    Sample(String),
    #[error("the gateway refused the sample document: {0}")]
    Submit(String),
}

/// Reads the `demo.json` a previous [`setup`] wrote, if there is one.
pub fn load(dir: &Path) -> Result<Option<DemoManifest>, DemoError> {
    let path = dir.join("demo.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read(&path).map_err(|source| DemoError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|error| DemoError::Io {
            path,
            source: std::io::Error::other(error),
        })
}
