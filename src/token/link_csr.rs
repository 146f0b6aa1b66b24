//! The link key's certificate request (PKCS#10), signed on the token: `TokenCsrSigner`, an
//! rcgen signing key whose signatures the token worker makes, and `link_key_request`, the
//! one call enrolment needs (generate the key, start a worker on it, write the request).
//!
//! Owns the adapter between rcgen and a `Token` and the request's self-check; the key
//! generation is `keygen.rs`'s and every PKCS#11 call is the worker's. Knows nothing of the
//! enrolment protocol: the caller sends the PEM and installs the certificate it gets back
//! (as a file; the key's certificate is not written onto the token). Blocking: callers in
//! async code use `spawn_blocking`.
//!
//! ```no_run
//! use docgate::token::{link_key_request, TokenConfig};
//!
//! let config = TokenConfig::new("/usr/lib/softhsm/libsofthsm2.so", "agency", "/run/pin");
//! let request = link_key_request(&config, "docgate-link", false, "000.01.10.H41")?;
//! // POST request.csr_pem to the axis; then run the link with
//! // `key_label = Some("docgate-link")` and `certificate_on_token = false`.
//! # Ok::<(), docgate::token::LinkCsrError>(())
//! ```

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use der::{Decode, Encode};
use rcgen::{CertificateParams, DistinguishedName, DnType};

use super::handle::Token;
use super::keygen::{generate_link_key, GeneratedKey};
use super::status::KeyKind;
use super::{TokenConfig, TokenError};

/// How long `link_key_request` waits for its worker to log in and find the new key. The
/// key generation has just logged in, so only a very slow token comes near it.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Why no certificate request could be made.
#[derive(Debug, thiserror::Error)]
pub enum LinkCsrError {
    /// The token could not make the key or the signature (the message says what to do).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// rcgen could not assemble the request.
    #[error("cannot write the certificate request for the link key: {0}")]
    Request(String),
    /// The signed request does not verify with the generated public key: the worker signed
    /// with another key under the same label.
    #[error(
        "the certificate request signed with key '{key_label}' on token '{label}' does not \
         verify with the key just generated ({reason}); another key may hold that label: list \
         the token's keys (`pkcs11-tool --list-objects`) and generate the link key again, \
         asking to replace it"
    )]
    SelfCheck {
        label: String,
        key_label: String,
        reason: String,
    },
}

/// An rcgen signing key whose private half is on the token: `sign` goes to the worker of
/// `token`, which must select the generated key (started with `key_label` set to its
/// label; `certificate_on_token` off, since a new key has no certificate).
pub struct TokenCsrSigner {
    token: Token,
    key_label: String,
    public_point: Vec<u8>,
    /// The token's error behind the last failed `sign`: rcgen's error type cannot carry it.
    last_error: Mutex<Option<TokenError>>,
}

impl std::fmt::Debug for TokenCsrSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenCsrSigner")
            .field("token", &self.token)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

impl TokenCsrSigner {
    /// A signer for `key`, whose signatures `token` makes.
    pub fn new(token: Token, key: &GeneratedKey) -> TokenCsrSigner {
        TokenCsrSigner {
            token,
            key_label: key.key_label().to_owned(),
            public_point: key.public_point().to_vec(),
            last_error: Mutex::new(None),
        }
    }

    /// The worker that signs.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The token's error behind the last failed signature, taken.
    fn take_error(&self) -> Option<TokenError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn sign_on_token(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        match self.token.key_kind()? {
            // The worker hashes with SHA-256, signs the digest with CKM_ECDSA and returns
            // the DER Ecdsa-Sig-Value: what ecdsa-with-SHA256 carries in a request.
            KeyKind::EcP256 => self.token.sign(message),
            other => Err(TokenError::UnsupportedKey {
                label: self.token.label().to_owned(),
                key_label: self.key_label.clone(),
                detail: format!("the link key must be EC P-256, the worker found {other}"),
            }),
        }
    }
}

impl rcgen::PublicKeyData for TokenCsrSigner {
    fn der_bytes(&self) -> &[u8] {
        &self.public_point
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for TokenCsrSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_on_token(message).map_err(|error| {
            *self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(error);
            rcgen::Error::RemoteKeyError
        })
    }
}

/// A PEM certificate request for the signer's key, subject `CN=common_name`, signed on the
/// token and checked to verify with the signer's public key before it is returned. (The
/// device CA decides the certificate's subject itself; the name only helps people reading
/// the request.)
pub fn link_csr_pem(signer: &TokenCsrSigner, common_name: &str) -> Result<String, LinkCsrError> {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    // A failure here is a rcgen error after a signature failed, or an rcgen error alone.
    signer.take_error();
    let request = params
        .serialize_request(signer)
        .map_err(|error| match signer.take_error() {
            Some(token_error) => LinkCsrError::Token(token_error),
            None => LinkCsrError::Request(error.to_string()),
        })?;
    self_check(signer, request.der()).map_err(|reason| LinkCsrError::SelfCheck {
        label: signer.token.label().to_owned(),
        key_label: signer.key_label.clone(),
        reason,
    })?;
    request
        .pem()
        .map_err(|error| LinkCsrError::Request(error.to_string()))
}

/// Whether the request's signature verifies with the signer's public key (ring), and the
/// request carries that key.
fn self_check(signer: &TokenCsrSigner, request_der: &[u8]) -> Result<(), String> {
    use rcgen::PublicKeyData;
    let request = x509_cert::request::CertReq::from_der(request_der)
        .map_err(|error| format!("rcgen wrote an unreadable request: {error}"))?;
    let carried = request
        .info
        .public_key
        .to_der()
        .map_err(|error| error.to_string())?;
    if carried != signer.subject_public_key_info() {
        return Err("the request carries another public key".to_owned());
    }
    let signed = request.info.to_der().map_err(|error| error.to_string())?;
    let signature = request
        .signature
        .as_bytes()
        .ok_or("the signature is not whole bytes")?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        &signer.public_point,
    )
    .verify(&signed, signature)
    .map_err(|_| "the signature does not verify".to_owned())
}

/// A new link key and the certificate request for it.
#[derive(Debug, Clone)]
pub struct LinkKeyRequest {
    pub key: GeneratedKey,
    /// PKCS#10, PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    pub csr_pem: String,
}

/// What enrolment calls: generates the link key labelled `label` on the token `config`
/// names ([`generate_link_key`], with its `replace` rule), starts a worker selecting it,
/// and returns the key with a certificate request signed by it for `common_name`. The
/// worker stops when this returns. Blocks for the token's work.
pub fn link_key_request(
    config: &TokenConfig,
    label: &str,
    replace: bool,
    common_name: &str,
) -> Result<LinkKeyRequest, LinkCsrError> {
    let key = generate_link_key(config, label, replace)?;
    let token = Token::start(link_key_config(config, label));
    token.wait_ready(READY_TIMEOUT)?;
    let signer = TokenCsrSigner::new(token, &key);
    let csr_pem = link_csr_pem(&signer, common_name)?;
    Ok(LinkKeyRequest { key, csr_pem })
}

/// `config` for a worker that signs with the link key labelled `label`: that key, and no
/// certificate on the token (the link certificate is a file). What the link's TLS key
/// (`TokenTlsKey`) needs too.
pub fn link_key_config(config: &TokenConfig, label: &str) -> TokenConfig {
    let mut link = config.clone();
    link.key_label = Some(label.to_owned());
    link.certificate_on_token = false;
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_key_worker_selects_the_key_and_wants_no_certificate_on_the_token() {
        let seal = TokenConfig::new("/usr/lib/softhsm/libsofthsm2.so", "agency", "/run/pin");
        let link = link_key_config(&seal, "docgate-link");
        assert_eq!(link.key_label.as_deref(), Some("docgate-link"));
        assert!(!link.certificate_on_token);
        assert_eq!(link.token_label, seal.token_label);
        assert_eq!(link.pin_file, seal.pin_file);
        assert!(seal.certificate_on_token);
    }

    #[test]
    fn self_check_errors_read_as_next_steps() {
        let error = LinkCsrError::SelfCheck {
            label: "agency".into(),
            key_label: "docgate-link".into(),
            reason: "the signature does not verify".into(),
        };
        let text = error.to_string();
        assert!(text.contains("'docgate-link' on token 'agency'"), "{text}");
        assert!(text.contains("pkcs11-tool --list-objects"), "{text}");
        let token = LinkCsrError::from(TokenError::PinLocked {
            label: "agency".into(),
        });
        assert!(token.to_string().starts_with("token 'agency' has locked"));
    }
}
