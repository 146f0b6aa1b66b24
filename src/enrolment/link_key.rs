//! The link key an enrolment or a renewal asks a certificate for, and its CSR: a fresh
//! ECDSA P-256 key in memory (written to disk only with the generation that holds its
//! certificate), or the key on the agency's token, which never leaves it. The CSR's
//! subject is a placeholder: the axis decides the certificate's names.

use crate::system::config::{GatewayConfig, LinkKeyPlace, ProvisioningSection};

/// The subject common name the CSR carries (the axis replaces it with the system id).
const CSR_NAME: &str = "docgate-box";

/// Why no link key could be made.
#[derive(Debug, thiserror::Error)]
pub enum LinkKeyError {
    #[error("cannot make the link key: {0}")]
    Generate(String),
    #[error("cannot make the link key on the token: {0}")]
    Token(String),
}

/// A link key and the request for its certificate.
#[derive(Clone)]
pub struct NewLinkKey {
    /// PKCS#10, PEM.
    pub csr_pem: String,
    /// The key's SubjectPublicKeyInfo (DER), to check the certificate against.
    pub public_key_der: Vec<u8>,
    /// The private key (PKCS#8 PEM) when it is kept in a file.
    pub key_pem: Option<String>,
    /// The key's label when it is on the token.
    pub token_label: Option<String>,
}

impl std::fmt::Debug for NewLinkKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NewLinkKey")
            .field("token_label", &self.token_label)
            .finish_non_exhaustive()
    }
}

/// A CSR for `key`.
fn csr_for(key: &impl rcgen::SigningKey) -> Result<String, rcgen::Error> {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, CSR_NAME);
    params.serialize_request(key)?.pem()
}

/// A fresh key in memory, for a file.
pub fn in_file() -> Result<NewLinkKey, LinkKeyError> {
    let generate = |error: rcgen::Error| LinkKeyError::Generate(error.to_string());
    let key = rcgen::KeyPair::generate().map_err(generate)?;
    use rcgen::PublicKeyData;
    Ok(NewLinkKey {
        csr_pem: csr_for(&key).map_err(generate)?,
        public_key_der: key.subject_public_key_info(),
        key_pem: Some(key.serialize_pem()),
        token_label: None,
    })
}

/// The link key for a first enrolment (or a re-enrolment), where `[provisioning]` says.
/// On the token, a key already under the label is replaced (an enrolment starts afresh).
pub async fn make(
    config: &GatewayConfig,
    provisioning: &ProvisioningSection,
) -> Result<NewLinkKey, LinkKeyError> {
    match provisioning.link_key {
        LinkKeyPlace::File => in_file(),
        LinkKeyPlace::Token => {
            on_token(config, &provisioning.link_key_label, TokenKeyUse::Replace).await
        }
    }
}

/// Whether to make a new key on the token or ask for a certificate for the one there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKeyUse {
    /// A new key pair replaces the one under the label.
    Replace,
    /// The key under the label stays; only a new CSR is signed (renewal).
    Keep,
}

/// The link key on the `[signing]` token.
pub async fn on_token(
    config: &GatewayConfig,
    label: &str,
    key_use: TokenKeyUse,
) -> Result<NewLinkKey, LinkKeyError> {
    let _ = (config, label, key_use);
    Err(LinkKeyError::Token(
        "not wired yet (token key generation lands with the token module's keygen)".into(),
    ))
}
