//! The signature rules of the document life cycle: an outgoing document is accepted only
//! when its PDF carries a valid signature of the competent person (NĐ 30/2020: the agency
//! seals only what the leader has signed). Holds the trust configuration the rules are
//! judged with. Decides; the PDF and CMS work is `signature`'s.

use std::path::Path;

use time::OffsetDateTime;

use std::sync::Arc;

use crate::signature::trust::{RevocationSource, TrustError, TrustStore};
use crate::signature::verify::{verify_pdf, DocumentReport, LeaderRule};
use crate::signature::{DocumentSigner, KeyFileSigner, SignatureError, TokenSigner};
use crate::system::config::SigningSection;
use crate::token::{Token, TokenConfig};

/// What outgoing documents are checked against.
#[derive(Debug, Clone)]
pub struct SignaturePolicy {
    trust: TrustStore,
    rule: LeaderRule,
}

impl SignaturePolicy {
    /// The policy `[signing]` describes (roots and CRLs are read now); `crl_source` fetches
    /// CRLs from distribution points when none is configured for an issuer.
    pub fn from_config(
        section: &SigningSection,
        crl_source: Option<Arc<dyn RevocationSource>>,
    ) -> Result<SignaturePolicy, TrustError> {
        let mut trust = TrustStore::load(&section.trust_roots, &section.crls)?;
        if let Some(source) = crl_source.filter(|_| section.fetch_crls) {
            trust = trust.with_revocation_source(source);
        }
        Ok(SignaturePolicy {
            trust,
            rule: if section.accept_unknown_revocation {
                LeaderRule::ValidOrUnknownRevocation
            } else {
                LeaderRule::Valid
            },
        })
    }

    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// Checks the leader's signature on the PDF at `path` (blocking: reads the file).
    /// `Err` is the reason, for the office software.
    pub fn check_leader_signature(
        &self,
        path: &Path,
        now: OffsetDateTime,
    ) -> Result<DocumentReport, String> {
        let report = verify_pdf(path, &self.trust, now).map_err(|error| error.to_string())?;
        report.check_leader_signature(self.rule)?;
        Ok(report)
    }
}

/// The agency's seal key: on the token in production, in a key file for the demo.
#[derive(Debug, Clone)]
pub enum AgencyKey {
    File(Arc<KeyFileSigner>),
    Token(Token),
}

impl AgencyKey {
    /// Opens what `[signing]` names. A token is started, not waited for: until it is
    /// ready, [`AgencyKey::signer`] says why not, and sealing waits.
    pub fn from_config(section: &SigningSection) -> Result<AgencyKey, SignatureError> {
        if let Some(key_file) = &section.key_file {
            return Ok(AgencyKey::File(Arc::new(KeyFileSigner::load(key_file)?)));
        }
        let (Some(module), Some(label), Some(pin_file)) = (
            &section.token_module,
            &section.token_label,
            &section.token_pin_file,
        ) else {
            return Err(SignatureError::Token(
                "[signing] names neither a key file nor a complete token".into(),
            ));
        };
        let mut config = TokenConfig::new(module, label.clone(), pin_file);
        config.key_label = section.token_key_label.clone();
        Ok(AgencyKey::Token(Token::start(config)))
    }

    /// A signer for one seal, or why the key cannot sign now (the token's state in words).
    pub fn signer(&self) -> Result<Box<dyn DocumentSigner>, SignatureError> {
        match self {
            AgencyKey::File(signer) => Ok(Box::new(SharedSigner(signer.clone()))),
            AgencyKey::Token(token) => {
                let status = token.status();
                if !status.is_ready() {
                    return Err(SignatureError::Token(status.to_string()));
                }
                Ok(Box::new(TokenSigner::new(token.clone(), Vec::new())?))
            }
        }
    }
}

/// A key-file signer shared between seals.
struct SharedSigner(Arc<KeyFileSigner>);

impl DocumentSigner for SharedSigner {
    fn chain(&self) -> &[rustls_pki_types::CertificateDer<'static>] {
        self.0.chain()
    }

    fn algorithm(&self) -> crate::signature::SignatureAlgorithm {
        self.0.algorithm()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        self.0.sign(message)
    }
}
