//! The box's side of the enrolment protocol (`provisioning::messages`): fetch the axis's
//! device CA and check it against the fingerprint the code pins, then enrol over TLS that
//! trusts only that CA; later, renew and fetch bundles over the mutual-TLS link.
//!
//! The first request (`GET /enrol/v1/ca`) is the only one made without verifying the
//! server: its answer is worth nothing until its SHA-256 matches the code, and the
//! enrolment itself (which carries the code's secret) goes over a connection verified
//! against that CA. Nothing secret travels before then. Never writes files (that is
//! `system::provisioned`).

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::provisioning::messages::{
    BundleAnswer, CaAnswer, EnrolAnswer, EnrolRefusal, EnrolRequest, ErrorAnswer, RenewAnswer,
    RenewRequest, BUNDLE_PATH, CA_PATH, ENROL_PATH, MAX_MESSAGE_BYTES, RENEW_PATH,
};
use crate::provisioning::EnrolmentCode;
use crate::system::tls;

/// Why enrolling (or renewing) failed; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum EnrolClientError {
    #[error("the axis address {0:?} is not an https:// URL")]
    BadUrl(String),
    #[error("cannot reach the axis at {url}: {reason}; check the address and the cable to the dedicated network")]
    Unreachable { url: String, reason: String },
    #[error("the axis at {url} presented a device CA whose fingerprint does not match the code (pinned {pinned}…, got {got}); this is not your province's axis, or the code is wrong — do not continue, call provincial IT")]
    FingerprintMismatch {
        url: String,
        pinned: String,
        got: String,
    },
    #[error("the axis refused: {message} ({code})")]
    Refused { code: &'static str, message: String },
    #[error("the axis answered something unexpected: {0}")]
    Protocol(String),
    #[error("TLS set-up failed: {0}")]
    Tls(String),
}

impl EnrolClientError {
    /// The axis's refusal code, when it refused.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            EnrolClientError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Accepts any server certificate: used for the one request whose answer is checked
/// against the code's pin instead (see the module comment).
#[derive(Debug)]
struct CheckedLater(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for CheckedLater {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn base(url: &str) -> Result<String, EnrolClientError> {
    let trimmed = url.trim().trim_end_matches('/');
    if !trimmed.starts_with("https://") || trimmed.len() <= "https://".len() {
        return Err(EnrolClientError::BadUrl(url.to_owned()));
    }
    Ok(trimmed.to_owned())
}

fn http_client(config: rustls::ClientConfig) -> Result<reqwest::Client, EnrolClientError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|error| EnrolClientError::Tls(error.to_string()))
}

/// A TLS client trusting only `ca_der`, optionally presenting a client certificate.
fn pinned_config(
    ca_der: &[u8],
    identity: Option<Arc<tls::LinkIdentity>>,
) -> Result<rustls::ClientConfig, EnrolClientError> {
    let tls_error = |error: &dyn std::fmt::Display| EnrolClientError::Tls(error.to_string());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .map_err(|error| tls_error(&error))?;
    let builder = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| tls_error(&error))?
        .with_root_certificates(roots);
    Ok(match identity {
        Some(identity) => builder.with_client_cert_resolver(identity),
        None => builder.with_no_client_auth(),
    })
}

async fn read_answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, EnrolClientError> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|error| EnrolClientError::Protocol(error.to_string()))?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(EnrolClientError::Protocol("the answer is too large".into()));
    }
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|error| EnrolClientError::Protocol(error.to_string()));
    }
    match serde_json::from_slice::<ErrorAnswer>(&bytes) {
        Ok(answer) => Err(EnrolClientError::Refused {
            code: refusal_name(answer.error.code),
            message: answer.error.message,
        }),
        Err(_) => Err(EnrolClientError::Protocol(format!("HTTP {status}"))),
    }
}

fn refusal_name(refusal: EnrolRefusal) -> &'static str {
    refusal.as_str()
}

fn unreachable(url: &str, error: reqwest::Error) -> EnrolClientError {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        reason = format!("{reason}: {inner}");
        source = inner.source();
    }
    EnrolClientError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

/// Fetches the axis's device CA and checks it against the code's pin; answers its DER.
pub async fn fetch_pinned_ca(url: &str, code: &EnrolmentCode) -> Result<Vec<u8>, EnrolClientError> {
    let base = base(url)?;
    let provider = tls::provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| EnrolClientError::Tls(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CheckedLater(provider)))
        .with_no_client_auth();
    let client = http_client(config)?;
    let response = client
        .get(format!("{base}{CA_PATH}"))
        .send()
        .await
        .map_err(|error| unreachable(&base, error))?;
    let answer: CaAnswer = read_answer(response).await?;
    let der = crate::provisioning::pem::pem_block(&answer.ca_pem, "CERTIFICATE")
        .ok_or_else(|| EnrolClientError::Protocol("the CA answer holds no certificate".into()))?;
    if !code.pins(&der) {
        return Err(EnrolClientError::FingerprintMismatch {
            url: base,
            pinned: code.ca_pin_hex(),
            got: hex::encode(crate::provisioning::code::fingerprint(&der)),
        });
    }
    Ok(der)
}

/// Enrols: the code and the CSR over TLS trusting only the pinned CA.
pub async fn enrol(
    url: &str,
    ca_der: &[u8],
    request: &EnrolRequest,
) -> Result<EnrolAnswer, EnrolClientError> {
    let base = base(url)?;
    let client = http_client(pinned_config(ca_der, None)?)?;
    let response = client
        .post(format!("{base}{ENROL_PATH}"))
        .json(request)
        .send()
        .await
        .map_err(|error| unreachable(&base, error))?;
    read_answer(response).await
}

/// A mutual-TLS client of an enrolled box (renewal and bundles).
pub struct EnrolledClient {
    http: reqwest::Client,
    base: String,
}

impl EnrolledClient {
    /// Trusts only `ca_der`, presents `chain` with `key`.
    pub fn new(
        url: &str,
        ca_der: &[u8],
        chain: Vec<CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<EnrolledClient, EnrolClientError> {
        let key = tls::provider()
            .key_provider
            .load_private_key(key)
            .map_err(|error| EnrolClientError::Tls(error.to_string()))?;
        let identity = tls::LinkIdentity::new(rustls::sign::CertifiedKey::new(chain, key));
        EnrolledClient::with_identity(url, ca_der, identity)
    }

    /// Trusts only `ca_der`, presents what `identity` holds at each handshake (the link's
    /// own identity, so a renewal is used at once here too).
    pub fn with_identity(
        url: &str,
        ca_der: &[u8],
        identity: Arc<tls::LinkIdentity>,
    ) -> Result<EnrolledClient, EnrolClientError> {
        Ok(EnrolledClient {
            http: http_client(pinned_config(ca_der, Some(identity))?)?,
            base: base(url)?,
        })
    }

    /// `POST /enrol/v1/renew`.
    pub async fn renew(&self, csr_pem: &str) -> Result<RenewAnswer, EnrolClientError> {
        let response = self
            .http
            .post(format!("{}{RENEW_PATH}", self.base))
            .json(&RenewRequest {
                csr_pem: csr_pem.to_owned(),
            })
            .send()
            .await
            .map_err(|error| unreachable(&self.base, error))?;
        read_answer(response).await
    }

    /// `GET /enrol/v1/bundle`.
    pub async fn bundle(&self) -> Result<BundleAnswer, EnrolClientError> {
        let response = self
            .http
            .get(format!("{}{BUNDLE_PATH}", self.base))
            .send()
            .await
            .map_err(|error| unreachable(&self.base, error))?;
        read_answer(response).await
    }
}
