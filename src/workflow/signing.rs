//! The signature rules of the document life cycle: an outgoing document is accepted only
//! when its PDF carries a valid signature of the competent person (NĐ 30/2020: the agency
//! seals only what the leader has signed). Holds the trust configuration the rules are
//! judged with. Decides; the PDF and CMS work is `signature`'s.

use std::path::Path;

use time::OffsetDateTime;

use crate::signature::trust::{TrustError, TrustStore};
use crate::signature::verify::{verify_pdf, DocumentReport, LeaderRule};
use crate::system::config::SigningSection;

/// What outgoing documents are checked against.
#[derive(Debug, Clone)]
pub struct SignaturePolicy {
    trust: TrustStore,
    rule: LeaderRule,
}

impl SignaturePolicy {
    /// The policy `[signing]` describes (roots and CRLs are read now).
    pub fn from_config(section: &SigningSection) -> Result<SignaturePolicy, TrustError> {
        Ok(SignaturePolicy {
            trust: TrustStore::load(&section.trust_roots, &section.crls)?,
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
