//! Runs the demo's axis and gateways in this process, sends a sample document each way
//! through the real local APIs, waits until each sender sees the receiver's status 01, and
//! serves until Ctrl-C or `exit_after`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{sample_pdf, DemoError, DemoManifest, DemoProcess};
use crate::axis::{self, AxisConfig};
use crate::gateway;
use crate::system::config::GatewayConfig;
use crate::system::shutdown::Shutdown;

/// How long the demo waits for the exchange to complete before saying so.
const EXCHANGE_WAIT: Duration = Duration::from_secs(30);

/// Runs everything in `manifest` until Ctrl-C or `exit_after`.
pub async fn run(manifest: &DemoManifest, exit_after: Option<Duration>) -> Result<(), DemoError> {
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let mut servers = Vec::new();
    if let Some(process) = &manifest.axis {
        let config = AxisConfig::load(&process.config)
            .map_err(|error| DemoError::Axis(error.to_string()))?;
        let listener = axis::bind(&config)
            .await
            .map_err(|error| DemoError::Axis(error.to_string()))?;
        let shutdown = shutdown.clone();
        servers.push(tokio::spawn(async move {
            axis::run(&config, listener, shutdown, |_| {})
                .await
                .map_err(|error| DemoError::Axis(error.to_string()))
        }));
    }
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
            result.map_err(DemoError::from)
        }));
    }
    exchange_samples(manifest).await?;
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
            return Err(error);
        }
    }
    Ok(())
}

/// Each gateway sends a sample to every other one; then waits for delivery and status 01.
async fn exchange_samples(manifest: &DemoManifest) -> Result<(), DemoError> {
    if let Some(axis) = &manifest.axis {
        println!(
            "axis: {} (mutual TLS; systems in {})",
            axis.url,
            axis.config.display()
        );
    }
    println!("signing keys: {}", keys_line(manifest));
    let mut sent = Vec::new();
    for (name, process) in &manifest.gateways {
        let recipients: Vec<&str> = manifest
            .gateways
            .values()
            .filter(|other| other.organ_id != process.organ_id)
            .map(|other| other.organ_id.as_str())
            .collect();
        let leader_key = manifest.tokens.get(&format!("{name}-leader")).cloned();
        let answer = submit_sample(name, process, &recipients, leader_key).await?;
        println!("gateway {name} ({}): {}", process.organ_id, process.url);
        println!("  accepted sample document: {answer}");
        if let Some(token) = &process.api_token {
            println!(
                "  try: curl -H 'Authorization: Bearer {token}' {}/api/v1/documents",
                process.url
            );
        }
        if let Some(clerk) = &process.clerk {
            println!(
                "  clerk pages: {}/clerk/ (user {}, password {})",
                process.url, clerk.username, clerk.password
            );
        }
        let id = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|value| value["id"].as_str().map(str::to_owned));
        if let Some(id) = id {
            sent.push((name.clone(), process.clone(), id));
        }
    }
    if manifest.axis.is_none() {
        return Ok(());
    }
    let deadline = Instant::now() + EXCHANGE_WAIT;
    for (name, process, id) in sent {
        match wait_for_status(&process, &id, deadline).await {
            Some(document) => println!(
                "gateway {name}: {} is {}; receivers answered {}",
                document["document_id"].as_str().unwrap_or(&id),
                document["state"].as_str().unwrap_or("?"),
                statuses_line(&document)
            ),
            None => println!(
                "gateway {name}: no status back for {id} within {}s yet; see GET {}/api/v1/link",
                EXCHANGE_WAIT.as_secs(),
                process.url
            ),
        }
    }
    Ok(())
}

/// Where the demo's signing keys live, in words: on SoftHSM tokens, or in key files.
fn keys_line(manifest: &DemoManifest) -> String {
    let on_tokens = manifest
        .tokens
        .values()
        .any(|key| key.get("kind").and_then(Value::as_str) == Some("pkcs11"));
    if on_tokens {
        "on SoftHSM tokens (PKCS#11), as on a real box's USB token".to_owned()
    } else {
        "in key files (install softhsm2 and opensc to put them on SoftHSM tokens)".to_owned()
    }
}

/// Polls the sender's API until a status came back for its document.
async fn wait_for_status(process: &DemoProcess, id: &str, deadline: Instant) -> Option<Value> {
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        let mut request = client.get(format!("{}/api/v1/documents/{id}", process.url));
        if let Some(token) = &process.api_token {
            request = request.bearer_auth(token);
        }
        if let Ok(response) = request.send().await {
            if let Ok(document) = response.json::<Value>().await {
                let has_status = document["statuses"]
                    .as_array()
                    .is_some_and(|statuses| !statuses.is_empty());
                if has_status {
                    return Some(document);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn statuses_line(document: &Value) -> String {
    let Some(statuses) = document["statuses"].as_array() else {
        return "nothing yet".into();
    };
    statuses
        .iter()
        .map(|status| {
            format!(
                "{} from {}",
                status["code"].as_str().unwrap_or("?"),
                status["organ_id"].as_str().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The leader's signer from its `demo.json` entry: a key file, or a SoftHSM token (the
/// demo process has `SOFTHSM2_CONF` set for it).
fn leader_signer(
    entry: &serde_json::Value,
) -> Result<Box<dyn crate::signature::DocumentSigner>, DemoError> {
    let failed = |error: &dyn std::fmt::Display| DemoError::Sample(error.to_string());
    let text = |key: &str| {
        entry[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DemoError::Sample(format!("the leader's token entry has no {key}")))
    };
    if entry["kind"] == "file" {
        let signer =
            crate::signature::KeyFileSigner::load(std::path::Path::new(&text("key_file")?))
                .map_err(|e| failed(&e))?;
        return Ok(Box::new(signer));
    }
    let token = crate::token::Token::start(crate::token::TokenConfig::new(
        text("module")?,
        text("label")?,
        text("pin_file")?,
    ));
    token
        .wait_ready(std::time::Duration::from_secs(10))
        .map_err(|error| failed(&format!("{error}: {}", token.status())))?;
    let signer = crate::signature::TokenSigner::new(token, Vec::new()).map_err(|e| failed(&e))?;
    Ok(Box::new(signer))
}

/// `pdf` signed by the leader (PAdES, as a leader's station would).
fn leader_signed(entry: &serde_json::Value, pdf: &[u8]) -> Result<Vec<u8>, DemoError> {
    use crate::signature::pades::{sign_pdf, SignatureDetails};
    let failed = |error: &dyn std::fmt::Display| DemoError::Sample(error.to_string());
    let signer = leader_signer(entry)?;
    let dir = tempfile::tempdir().map_err(|e| failed(&e))?;
    let (input, output) = (dir.path().join("in.pdf"), dir.path().join("signed.pdf"));
    std::fs::write(&input, pdf).map_err(|e| failed(&e))?;
    let details = SignatureDetails {
        reason: Some("Ký duyệt (approved by the competent person)".into()),
        ..SignatureDetails::default()
    };
    sign_pdf(
        &input,
        &output,
        signer.as_ref(),
        time::OffsetDateTime::now_utc(),
        &details,
        None,
    )
    .map_err(|e| failed(&e))?;
    std::fs::read(&output).map_err(|e| failed(&e))
}

/// Sends one sample document through the gateway's real local API, signed by the office's
/// leader when the demo has a key for them (its gateways refuse unsigned PDFs).
async fn submit_sample(
    name: &str,
    process: &DemoProcess,
    recipients: &[&str],
    leader_key: Option<serde_json::Value>,
) -> Result<String, DemoError> {
    let pdf = sample_pdf(&format!("docgate demo - cong van mau tu {name}"))
        .map_err(|error| DemoError::Sample(error.to_string()))?;
    let pdf = match leader_key {
        Some(key) => tokio::task::spawn_blocking(move || leader_signed(&key, &pdf))
            .await
            .map_err(|error| DemoError::Sample(error.to_string()))??,
        None => pdf,
    };
    let recipients: Vec<&str> = if recipients.is_empty() {
        vec![super::PROVINCE_ORGAN_ID]
    } else {
        recipients.to_vec()
    };
    let meta = serde_json::json!({
        "to": recipients,
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
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1/documents", process.url))
        .header("Idempotency-Key", format!("demo-sample-{name}"))
        .multipart(form);
    if let Some(token) = &process.api_token {
        request = request.bearer_auth(token);
    }
    let response = request
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
