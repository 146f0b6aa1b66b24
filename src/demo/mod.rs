//! `docgate demo`: a whole exchange on loopback for someone who has just cloned the repo —
//! no root, no hardware. Writes configs and `demo.json` under a directory, starts what
//! exists, submits a sample document through the real local API, and prints where to look.
//!
//! Today that is one gateway; the reference axis and the second gateway join as their
//! modules land (see the issues). The demo only uses public interfaces: the config files it
//! writes are ones `docgate run` accepts, and it talks to the gateway over HTTP.

pub mod pki;
mod sample_pdf;

pub use sample_pdf::sample_pdf;

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gateway::{self, GatewayError};
use crate::system::config::{self, GatewayConfig, InitOptions};
use crate::system::shutdown::Shutdown;

/// The demo's gateway: a commune office.
const COMMUNE_ORGAN_ID: &str = "001.01.10.H41";
const COMMUNE_NAME: &str = "UBND xã Thử Nghiệm";
/// Where the sample document goes: the province.
const PROVINCE_ORGAN_ID: &str = "000.00.00.H41";

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
    pub config: PathBuf,
    pub url: String,
    pub api_token: String,
    pub organ_id: String,
    pub command: Vec<String>,
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
    Gateway(#[from] GatewayError),
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

/// Writes the configs and `demo.json` under `dir`.
pub fn setup(dir: &Path) -> Result<DemoManifest, DemoError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Io { path, source }
    };
    let manifest_path = dir.join("demo.json");
    if manifest_path.exists() {
        return Err(DemoError::Exists {
            path: manifest_path,
        });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let dir = dir.canonicalize().map_err(io(dir))?;
    let commune_dir = dir.join("gateway-commune");
    let listen = free_loopback_port().map_err(io(&commune_dir))?;
    let init = config::write_initial(&InitOptions {
        dir: commune_dir,
        listen,
        organ_id: COMMUNE_ORGAN_ID.into(),
        organ_name: COMMUNE_NAME.into(),
    })?;
    let executable = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "docgate".into());
    let commune = DemoProcess {
        url: format!("http://{listen}"),
        api_token: init.api_token,
        organ_id: COMMUNE_ORGAN_ID.into(),
        command: vec![
            executable,
            "run".into(),
            "--config".into(),
            init.config_path.display().to_string(),
        ],
        config: init.config_path,
    };
    let manifest = DemoManifest {
        axis: None,
        gateways: [("commune".to_string(), commune)].into_iter().collect(),
        tokens: Default::default(),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|error| DemoError::Io {
        path: manifest_path.clone(),
        source: std::io::Error::other(error),
    })?;
    std::fs::write(&manifest_path, json).map_err(io(&manifest_path))?;
    Ok(manifest)
}

/// Runs the demo's gateway in this process, submits a sample document, prints the URLs,
/// and serves until Ctrl-C or `exit_after`.
pub async fn run(manifest: &DemoManifest, exit_after: Option<Duration>) -> Result<(), DemoError> {
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let mut servers = Vec::new();
    for (name, process) in &manifest.gateways {
        let config = GatewayConfig::load(&process.config)?;
        let listener = gateway::bind(&config).await?;
        let shutdown = shutdown.clone();
        let name = name.clone();
        servers.push(tokio::spawn(async move {
            let result = gateway::run(&config, listener, shutdown, |_| {}).await;
            if let Err(error) = &result {
                tracing::error!(gateway = %name, %error, "demo gateway stopped");
            }
            result
        }));
    }
    for (name, process) in &manifest.gateways {
        let answer = submit_sample(process).await?;
        println!("gateway {name}: {} (api token in demo.json)", process.url);
        println!("  accepted sample document: {answer}");
        println!(
            "  try: curl -H 'Authorization: Bearer {}' {}/api/v1/documents",
            process.api_token, process.url
        );
    }
    println!("demo running; press Ctrl-C to stop");
    match exit_after {
        Some(after) => {
            tokio::select! {
                _ = tokio::time::sleep(after) => shutdown.trigger(),
                _ = shutdown.wait() => {}
            }
        }
        None => shutdown.wait().await,
    }
    for server in servers {
        if let Ok(Err(error)) = server.await {
            return Err(error.into());
        }
    }
    Ok(())
}

/// Sends one sample document through the gateway's real local API.
async fn submit_sample(process: &DemoProcess) -> Result<String, DemoError> {
    let pdf = sample_pdf("UBND xa Thu Nghiem - Cong van mau")
        .map_err(|error| DemoError::Sample(error.to_string()))?;
    let meta = serde_json::json!({
        "to": [PROVINCE_ORGAN_ID],
        "subject": "Về việc báo cáo tình hình thử nghiệm cổng trao đổi văn bản",
        "type": {"code": 1, "name": "Công văn"},
        "code_number": null,
        "code_notation": "UBND-VP",
        "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn Mẫu"},
        "priority": 0,
        "due_date": "2026-12-31"
    });
    let file = reqwest::multipart::Part::bytes(pdf)
        .file_name("cong-van-mau.pdf")
        .mime_str("application/pdf")
        .map_err(|error| DemoError::Submit(error.to_string()))?;
    let form = reqwest::multipart::Form::new()
        .text("meta", meta.to_string())
        .part("file", file);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/documents", process.url))
        .bearer_auth(&process.api_token)
        .header("Idempotency-Key", "demo-sample-1")
        .multipart(form)
        .send()
        .await
        .map_err(|error| DemoError::Submit(error.to_string()))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|error| DemoError::Submit(error.to_string()))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(DemoError::Submit(format!("{status}: {body}")))
    }
}

/// A loopback port nothing listens on right now (bind port 0, note it, let it go).
fn free_loopback_port() -> std::io::Result<SocketAddr> {
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}
