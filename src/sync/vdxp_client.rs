//! The first [`AxisClient`] adapter: the VDXP SDK's protocol (see `crate::vdxp`) over
//! HTTPS with mutual TLS (rustls, `ring`, the axis's CA as the only root). Every request
//! carries the signed `XroadVnpt-*` headers; packet bodies stream from their blob file and
//! `getEdoc` uses the raw extension, streamed to disk while hashing and checked against
//! `X-Content-Sha256`. A packet is never held whole in memory.
//!
//! Owns the wire shapes and the classification of failures (connection errors, 5xx and
//! hub codes 99/23 are transient; so is code 15, because bad credentials are a setup
//! problem of the whole link, not of one packet). Never logs the secret.
//!
//! Every request has a time limit in all ([`RequestTimeouts`]: connecting, the upload,
//! the wait for the answer and its body), and a body that stops arriving in the middle is
//! given up after `stall`. There is deliberately no client-wide `read_timeout`: in reqwest
//! 0.12 it runs from the start of the request to the answer's headers, upload included, so
//! a large packet on a slow link could never be sent.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use ring::digest::{Context, SHA256};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::client::{
    Agency, AxisCall, AxisClient, AxisError, Delivery, FetchedPacket, OutgoingPacket,
    RequestTimeouts, SentDelivery,
};
use crate::system::clock::SharedClock;
use crate::system::config::AxisSection;
use crate::system::tls::{self, TlsError};
use crate::vdxp::{
    header, AgencyItem, AxisAnswer, HubErrorCode, MessageType, Operation, ReceivedItem, SentItem,
    SignedRequest, TransportStatus,
};

/// Largest JSON answer read (lists are capped at 500 items by the axis).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Why a [`VdxpClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum VdxpClientError {
    #[error("axis TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot build the axis HTTP client: {0}")]
    Http(String),
}

/// The VDXP adapter.
pub struct VdxpClient {
    http: Client,
    identity: Arc<tls::LinkIdentity>,
    base: String,
    system_id: String,
    secret: Vec<u8>,
    clock: SharedClock,
    timeouts: RequestTimeouts,
}

impl std::fmt::Debug for VdxpClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("VdxpClient")
            .field("base", &self.base)
            .field("system_id", &self.system_id)
            .finish_non_exhaustive()
    }
}

impl VdxpClient {
    /// Builds the client from a validated `[axis]` section and its secret; the client key
    /// is `axis.key`, or `external` (the link key on the token). Requests get the default
    /// [`RequestTimeouts`].
    pub fn new(
        axis: &AxisSection,
        secret: String,
        clock: SharedClock,
        external: Option<tls::ExternalKey>,
    ) -> Result<VdxpClient, VdxpClientError> {
        VdxpClient::with_timeouts(axis, secret, clock, external, RequestTimeouts::default())
    }

    /// [`VdxpClient::new`] with other time limits (tests use short ones).
    pub fn with_timeouts(
        axis: &AxisSection,
        secret: String,
        clock: SharedClock,
        external: Option<tls::ExternalKey>,
        timeouts: RequestTimeouts,
    ) -> Result<VdxpClient, VdxpClientError> {
        let (certified, tls12_only) = match (&axis.key, external) {
            (_, Some(external)) => (
                rustls::sign::CertifiedKey::new(
                    tls::load_certificates(&axis.certificate)?,
                    external.key,
                ),
                external.tls12_only,
            ),
            (Some(key), None) => (
                tls::LinkIdentity::from_files(&axis.certificate, key)?,
                false,
            ),
            (None, None) => {
                return Err(VdxpClientError::Http(
                    "no client key: set axis.key or axis.token_key_label".into(),
                ))
            }
        };
        let identity = tls::LinkIdentity::new(certified);
        let tls = tls::client_config_with_identity(&axis.ca, identity.clone(), tls12_only)?;
        let http = Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(timeouts.connect)
            .user_agent(header::USER_AGENT_VALUE)
            .build()
            .map_err(|error| VdxpClientError::Http(error.to_string()))?;
        Ok(VdxpClient {
            http,
            identity,
            base: axis.url.trim().trim_end_matches('/').to_string(),
            system_id: axis.system_id.clone(),
            secret: secret.into_bytes(),
            clock,
            timeouts,
        })
    }

    /// The certificate and key the link presents; replacing them (a renewed certificate)
    /// takes effect from the next connection on.
    pub fn identity(&self) -> Arc<tls::LinkIdentity> {
        self.identity.clone()
    }

    /// A POST to `operation` with the signed headers for `logical` (name, value) pairs,
    /// limited to the time `call` may take.
    fn request(
        &self,
        operation: Operation,
        call: AxisCall,
        logical: &[(&str, &str)],
    ) -> RequestBuilder {
        let mut signed = SignedRequest::new(&self.system_id, self.clock.now());
        for (name, value) in logical {
            signed = signed.with(name, value);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in signed.sign(&self.secret) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
        self.http
            .post(format!("{}/{}", self.base, operation.path()))
            .headers(headers)
            .timeout(self.timeouts.of(call))
    }

    /// Sends a request expecting a JSON answer, and classifies the outcome.
    async fn call(
        &self,
        operation: Operation,
        request: RequestBuilder,
    ) -> Result<AxisAnswer, AxisError> {
        let name = operation.path();
        let response = request
            .send()
            .await
            .map_err(|error| connection_error(name, &error))?;
        read_answer(name, response, self.timeouts.stall).await
    }
}

/// The next chunk of an answer's body, or a transient error when nothing came for `stall`.
async fn next_chunk<S, T>(
    operation: &'static str,
    stream: &mut S,
    stall: Duration,
) -> Result<Option<T>, AxisError>
where
    S: futures_util::Stream<Item = Result<T, reqwest::Error>> + Unpin,
{
    match tokio::time::timeout(stall, stream.next()).await {
        Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
        Ok(Some(Err(error))) => Err(connection_error(operation, &error)),
        Ok(None) => Ok(None),
        Err(_) => Err(AxisError::transient(
            operation,
            format!(
                "the axis stopped sending in the middle of its answer (nothing for {} s)",
                stall.as_secs()
            ),
        )),
    }
}

fn connection_error(operation: &'static str, error: &reqwest::Error) -> AxisError {
    if error.is_timeout() {
        return AxisError::transient(
            operation,
            "no answer from the axis within the time limit (timeout); check the network path to the axis",
        );
    }
    // The chain carries the useful part (refused, TLS alert, timeout); no secret is in it.
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        reason.push_str(": ");
        reason.push_str(&inner.to_string());
        source = inner.source();
    }
    AxisError::transient(operation, format!("cannot reach the axis ({reason})"))
}

/// Reads and classifies a JSON answer.
async fn read_answer(
    operation: &'static str,
    response: Response,
    stall: Duration,
) -> Result<AxisAnswer, AxisError> {
    let status = response.status();
    let body = read_limited(operation, response, stall).await?;
    let answer: Option<AxisAnswer> = serde_json::from_slice(&body).ok();
    classify(operation, status, answer)
}

fn classify(
    operation: &'static str,
    status: StatusCode,
    answer: Option<AxisAnswer>,
) -> Result<AxisAnswer, AxisError> {
    match answer {
        Some(answer) if answer.is_ok() && status.is_success() => Ok(answer),
        Some(answer) if !answer.is_ok() => {
            let code = answer.error_code.trim().to_string();
            let transient = status.is_server_error()
                || matches!(
                    answer.hub_error(),
                    Some(HubErrorCode::Internal | HubErrorCode::RecipientLocked)
                )
                || answer.hub_error() == Some(HubErrorCode::BadCredentials);
            let reason = match answer.hub_error() {
                Some(HubErrorCode::BadCredentials) => format!(
                    "{} (check axis.system_id, axis.secret_file and the client certificate)",
                    answer.error_desc
                ),
                _ => answer.error_desc,
            };
            if transient {
                Err(AxisError::transient(
                    operation,
                    format!("the axis answered code {code}: {reason}"),
                ))
            } else {
                Err(AxisError::Permanent {
                    operation,
                    code,
                    reason,
                })
            }
        }
        _ if status.is_server_error() || status.is_success() => Err(AxisError::transient(
            operation,
            format!("the axis answered HTTP {status} without a usable answer"),
        )),
        _ => Err(AxisError::Permanent {
            operation,
            code: status.as_u16().to_string(),
            reason: format!("the axis answered HTTP {status}"),
        }),
    }
}

async fn read_limited(
    operation: &'static str,
    response: Response,
    stall: Duration,
) -> Result<Vec<u8>, AxisError> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = next_chunk(operation, &mut stream, stall).await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(AxisError::transient(operation, "the answer is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl AxisClient for VdxpClient {
    async fn send_packet(&self, packet: &OutgoingPacket) -> Result<String, AxisError> {
        let operation = Operation::SendEdoc;
        let name = operation.path();
        let file = tokio::fs::File::open(&packet.path).await.map_err(|error| {
            AxisError::transient(
                name,
                format!("cannot open the packet {}: {error}", packet.path.display()),
            )
        })?;
        let body = reqwest::Body::wrap_stream(ReaderStream::with_capacity(file, 256 * 1024));
        let request = self
            .request(
                operation,
                AxisCall::Send { bytes: packet.size },
                &[
                    (header::FROM, &self.system_id),
                    (header::SERVICE_TYPE, header::SERVICE_TYPE_EDOC),
                    (header::MESSAGE_TYPE, packet.kind.as_str()),
                    (header::HASH_FILE, &packet.sha256),
                ],
            )
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, packet.size)
            .body(body);
        let answer = self.call(operation, request).await?;
        answer
            .doc_id
            .filter(|doc_id| !doc_id.trim().is_empty())
            .ok_or_else(|| AxisError::transient(name, "the axis said OK without a DocId"))
    }

    async fn list_received(&self, kind: MessageType) -> Result<Vec<Delivery>, AxisError> {
        let operation = Operation::GetReceivedEdocList;
        let request = self.request(
            operation,
            AxisCall::Small,
            &[(header::MESSAGE_TYPE, kind.as_str())],
        );
        let answer = self.call(operation, request).await?;
        let items: Vec<ReceivedItem> = list_items(operation, answer.data)?;
        Ok(items
            .into_iter()
            .map(|item| Delivery {
                kind: MessageType::parse(&item.message_type).unwrap_or(kind),
                id: item.doc_id,
                from: item.from,
                size: item.size,
            })
            .collect())
    }

    async fn fetch(
        &self,
        delivery: &Delivery,
        destination: &Path,
        max_bytes: u64,
    ) -> Result<FetchedPacket, AxisError> {
        let operation = Operation::GetEdoc;
        let name = operation.path();
        let request = self.request(
            operation,
            AxisCall::fetch_of(delivery, max_bytes),
            &[
                (header::DOC_ID, &delivery.id),
                (header::FORMAT, header::FORMAT_RAW),
            ],
        );
        let response = request
            .send()
            .await
            .map_err(|error| connection_error(name, &error))?;
        let is_raw = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/octet-stream"));
        if !response.status().is_success() || !is_raw {
            // A refusal comes back as JSON.
            let answer = read_answer(name, response, self.timeouts.stall).await?;
            return Err(AxisError::transient(
                name,
                format!(
                    "expected the raw packet, got a JSON answer ({})",
                    answer.status
                ),
            ));
        }
        let expected = response
            .headers()
            .get("x-content-sha256")
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().to_ascii_lowercase())
            .ok_or_else(|| AxisError::transient(name, "the answer has no X-Content-Sha256"))?;
        let local = |error: std::io::Error| {
            AxisError::transient(
                name,
                format!("cannot write {}: {error}", destination.display()),
            )
        };
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(destination)
            .await
            .map_err(local)?;
        let mut digest = Context::new(&SHA256);
        let mut size = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = next_chunk(name, &mut stream, self.timeouts.stall).await? {
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(AxisError::Permanent {
                    operation: name,
                    code: "size".into(),
                    reason: format!("the packet is larger than the limit of {max_bytes} bytes"),
                });
            }
            digest.update(&chunk);
            file.write_all(&chunk).await.map_err(local)?;
        }
        file.flush().await.map_err(local)?;
        file.sync_all().await.map_err(local)?;
        let sha256 = hex::encode(digest.finish().as_ref());
        if sha256 != expected {
            return Err(AxisError::transient(
                name,
                format!("the packet arrived damaged (SHA-256 {sha256}, the axis says {expected})"),
            ));
        }
        Ok(FetchedPacket { size, sha256 })
    }

    async fn acknowledge(
        &self,
        delivery_id: &str,
        status: TransportStatus,
    ) -> Result<(), AxisError> {
        let operation = Operation::UpdateStatus;
        let request = self.request(
            operation,
            AxisCall::Small,
            &[
                (header::DOC_ID, delivery_id),
                (header::STATUS, status.as_str()),
            ],
        );
        self.call(operation, request).await.map(|_| ())
    }

    async fn wait_for(&self, seconds: u64) -> Result<u64, AxisError> {
        let operation = Operation::WaitForEdoc;
        let wait = seconds.to_string();
        let request = self.request(
            operation,
            AxisCall::WaitFor { seconds },
            &[(header::WAIT, &wait)],
        );
        let answer = self.call(operation, request).await?;
        Ok(answer.count.unwrap_or(0))
    }

    async fn list_sent(&self, doc_id: Option<&str>) -> Result<Vec<SentDelivery>, AxisError> {
        let operation = Operation::GetSentEdocList;
        let logical: Vec<(&str, &str)> = doc_id
            .map(|doc_id| vec![(header::DOC_ID, doc_id)])
            .unwrap_or_default();
        let request = self.request(operation, AxisCall::Small, &logical);
        let answer = self.call(operation, request).await?;
        let items: Vec<SentItem> = list_items(operation, answer.data)?;
        Ok(items
            .into_iter()
            .map(|item| SentDelivery {
                doc_id: item.sender_doc_id,
                to: item.to_code,
                send_status: item.send_status,
                receive_status: item.receive_status,
            })
            .collect())
    }

    async fn list_agencies(&self) -> Result<Vec<Agency>, AxisError> {
        let operation = Operation::GetAgenciesList;
        let request = self.request(operation, AxisCall::Small, &[]);
        let answer = self.call(operation, request).await?;
        let items: Vec<AgencyItem> = list_items(operation, answer.data)?;
        Ok(items
            .into_iter()
            .map(|item| Agency {
                code: item.code,
                name: item.name,
                system_id: item.system_id,
            })
            .collect())
    }

    fn timeout(&self, call: AxisCall) -> Duration {
        self.timeouts.of(call)
    }
}

/// The `data` list of a list operation (absent means empty).
fn list_items<T: serde::de::DeserializeOwned>(
    operation: Operation,
    data: Option<serde_json::Value>,
) -> Result<Vec<T>, AxisError> {
    match data {
        Some(data) => serde_json::from_value(data).map_err(|error| {
            AxisError::transient(operation.path(), format!("unreadable list: {error}"))
        }),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(code: HubErrorCode) -> Option<AxisAnswer> {
        Some(AxisAnswer::fail(code, "why"))
    }

    #[test]
    fn failures_are_classified() {
        let op = "sendEdoc";
        let transient = |status: u16, answer| {
            classify(op, StatusCode::from_u16(status).expect("status"), answer)
                .expect_err("a failure")
                .is_transient()
        };
        assert!(transient(200, fail(HubErrorCode::Internal)));
        assert!(transient(200, fail(HubErrorCode::RecipientLocked)));
        assert!(transient(500, fail(HubErrorCode::Internal)));
        assert!(transient(401, fail(HubErrorCode::BadCredentials)));
        assert!(transient(502, None));
        assert!(!transient(200, fail(HubErrorCode::UnknownRecipient)));
        assert!(!transient(200, fail(HubErrorCode::NotStandard)));
        assert!(!transient(413, fail(HubErrorCode::InvalidFile)));
        assert!(!transient(404, None));
        let mut ok = AxisAnswer::ok();
        ok.doc_id = Some("01J".into());
        assert!(classify(op, StatusCode::OK, Some(ok)).is_ok());
    }
}
