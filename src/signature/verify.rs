//! Verification of a signed PDF: for each signature, whether the bytes it covers are intact
//! (message digest, CMS signature, the hole is exactly `/Contents`), who signed and in what
//! role (personal or agency), when (claimed, and proven by a timestamp), whether it covers
//! the whole document or bytes were added after it, its chain to the configured roots and
//! its revocation ("unknown" when that cannot be known). One verdict per signature and one
//! for the document: `valid` only when every signature is.
//!
//! Reads files through `pdf` and judges with `cms`, `timestamp` and `trust`; never fetches
//! anything and never changes the file.

use std::path::Path;

use der::Decode;
use serde::Serialize;
use time::OffsetDateTime;

use super::cms::{self, ParsedCms};
use super::pdf::{EmbeddedSignature, PdfError, PdfFile};
use super::timestamp;
use super::trust::{ChainReport, ChainStatus, RevocationStatus, TrustStore};

/// Who a signature is from, as its certificate says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureRole {
    /// A person: the competent leader (the certificate names a person in its CN and the
    /// agency in O).
    Personal,
    /// The agency's seal certificate (the CN is the organization itself).
    Agency,
}

/// The judgement of one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Valid,
    /// Something is known to be wrong (altered bytes, bad signature, untrusted, revoked).
    Invalid,
    /// Nothing is known to be wrong, but not everything could be checked (revocation).
    Indeterminate,
}

/// A signature timestamp, as verified.
#[derive(Debug, Clone, Serialize)]
pub struct TimestampReport {
    /// `genTime`; `None` when the token is unreadable.
    #[serde(with = "time::serde::rfc3339::option")]
    pub time: Option<OffsetDateTime>,
    /// The token stamps this signature and its own signature holds.
    pub intact: bool,
    pub authority: Option<String>,
    pub chain: Option<ChainReport>,
}

/// One signature of the document.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    pub field: String,
    /// The signer's subject (`CN=..., O=...`).
    pub signer: Option<String>,
    pub signer_name: Option<String>,
    pub organization: Option<String>,
    pub role: Option<SignatureRole>,
    pub sub_filter: Option<String>,
    /// `/M` (or the CMS signing-time attribute): what the signer claims.
    #[serde(with = "time::serde::rfc3339::option")]
    pub claimed_signing_time: Option<OffsetDateTime>,
    pub timestamp: Option<TimestampReport>,
    /// PAdES baseline level reached: `B-B`, or `B-T` with a valid timestamp.
    pub level: &'static str,
    /// The covered bytes and the CMS signature are intact.
    pub intact: bool,
    pub covers_whole_document: bool,
    /// Bytes in the file after this signature's range, and the revisions they form.
    pub bytes_added_after: u64,
    pub later_revisions: usize,
    pub chain: Option<ChainReport>,
    pub verdict: Verdict,
    /// Why the verdict is not `valid`, in words.
    pub problems: Vec<String>,
}

/// The whole document.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentReport {
    pub signatures: Vec<SignatureReport>,
    /// Every signature valid, and at least one.
    pub valid: bool,
    /// Bytes after the end of the last signature's range: an update no one signed.
    pub unsigned_tail_bytes: u64,
}

impl DocumentReport {
    /// The signatures made by a person (the leader's), valid ones first.
    pub fn personal(&self) -> impl Iterator<Item = &SignatureReport> {
        self.signatures
            .iter()
            .filter(|signature| signature.role == Some(SignatureRole::Personal))
    }
}

/// How strictly a leader's (personal) signature is judged before the agency seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderRule {
    /// Present and intact (no trust roots to judge it by).
    Intact,
    /// Valid: intact, trusted, not revoked, nothing added after the last signature.
    Valid,
    /// Valid, or valid but for revocation that cannot be known (an offline box whose
    /// configuration allows it).
    ValidOrUnknownRevocation,
}

impl DocumentReport {
    /// The rule for an agency signature (NĐ 30/2020): a person's signature must be there
    /// and acceptable under `rule`. `Err` says why not, in words for the office.
    pub fn check_leader_signature(&self, rule: LeaderRule) -> Result<(), String> {
        let personal: Vec<&SignatureReport> = self.personal().collect();
        if personal.is_empty() {
            return Err(if self.signatures.is_empty() {
                "the document is not signed; the competent person must sign it before the agency seal is applied".into()
            } else {
                "the document carries no personal (leader's) signature; the competent person must sign it before the agency seal is applied".into()
            });
        }
        let acceptable = |signature: &&SignatureReport| match rule {
            LeaderRule::Intact => signature.intact && self.unsigned_tail_bytes == 0,
            LeaderRule::Valid => signature.verdict == Verdict::Valid,
            LeaderRule::ValidOrUnknownRevocation => signature.verdict != Verdict::Invalid,
        };
        if personal.iter().any(acceptable) {
            return Ok(());
        }
        let problems: Vec<String> = personal
            .iter()
            .flat_map(|signature| signature.problems.iter().cloned())
            .collect();
        Err(format!(
            "the leader's signature is not valid: {}",
            problems.join("; ")
        ))
    }
}

/// Why a file could not be examined at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the PDF: {0}")]
    Pdf(#[from] PdfError),
}

/// Verifies every signature of the PDF at `path` against `trust`, at time `now`.
pub fn verify_pdf(
    path: &Path,
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Result<DocumentReport, VerifyError> {
    let mut file = PdfFile::open(path)?;
    let embedded = file.signatures()?;
    let mut signatures = Vec::with_capacity(embedded.len());
    for signature in &embedded {
        signatures.push(verify_one(&mut file, signature, trust, now)?);
    }
    // Later signatures may cover what was added after an earlier one; bytes after the
    // last signature are covered by none: the document was changed after signing.
    let unsigned_tail = embedded
        .iter()
        .filter_map(|signature| signature.coverage.as_ref().ok())
        .map(|coverage| coverage.bytes_after)
        .min();
    let unsigned_tail_bytes = unsigned_tail.unwrap_or(0);
    if let Some(tail) = unsigned_tail.filter(|tail| *tail > 0) {
        for report in &mut signatures {
            report.problems.push(format!(
                "{tail} bytes were added after the last signature (the document was changed after signing)"
            ));
            report.verdict = Verdict::Invalid;
        }
    }
    let valid = !signatures.is_empty()
        && signatures
            .iter()
            .all(|report| report.verdict == Verdict::Valid);
    Ok(DocumentReport {
        signatures,
        valid,
        unsigned_tail_bytes,
    })
}

fn verify_one(
    file: &mut PdfFile,
    embedded: &EmbeddedSignature,
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Result<SignatureReport, VerifyError> {
    let mut report = SignatureReport {
        field: embedded.field_name.clone(),
        signer: None,
        signer_name: None,
        organization: None,
        role: None,
        sub_filter: embedded.sub_filter.clone(),
        claimed_signing_time: embedded.signing_time(),
        timestamp: None,
        level: "B-B",
        intact: false,
        covers_whole_document: false,
        bytes_added_after: 0,
        later_revisions: 0,
        chain: None,
        verdict: Verdict::Invalid,
        problems: Vec::new(),
    };
    let coverage = match &embedded.coverage {
        Ok(coverage) => coverage.clone(),
        Err(defect) => {
            report.problems.push(defect.to_string());
            return Ok(report);
        }
    };
    report.covers_whole_document = coverage.covers_whole_file();
    report.bytes_added_after = coverage.bytes_after;
    report.later_revisions = coverage.later_revisions;
    if !coverage.hole_is_contents {
        report
            .problems
            .push("the unsigned gap is not exactly the signature's /Contents".into());
    }
    let Some(contents) = embedded.contents.as_deref() else {
        report
            .problems
            .push("the signature has no /Contents".into());
        return Ok(report);
    };
    let parsed = match cms::parse(contents) {
        Ok(parsed) => parsed,
        Err(error) => {
            report.problems.push(error.to_string());
            return Ok(report);
        }
    };
    let digest = file.digest_signed_bytes(&coverage.byte_range, &ring::digest::SHA256)?;
    check_integrity(&parsed, digest.as_ref(), &mut report);
    if report.claimed_signing_time.is_none() {
        report.claimed_signing_time = parsed.signing_time;
    }
    let Some(certificate) = parsed.signer_certificate.as_deref() else {
        report
            .problems
            .push("the signature does not carry its signer's certificate".into());
        return Ok(report);
    };
    describe_signer(certificate, &mut report);
    if let Some(token) = &parsed.timestamp_token {
        report.timestamp = Some(examine_timestamp(token, &parsed, trust, &mut report));
    }
    let proven_time = report
        .timestamp
        .as_ref()
        .filter(|stamp| stamp.intact)
        .and_then(|stamp| stamp.time);
    let chain = trust.judge(
        certificate,
        &parsed.certificates,
        proven_time.unwrap_or(now),
    );
    match &chain.status {
        ChainStatus::Trusted => {}
        ChainStatus::Untrusted { reason } => report.problems.push(reason.clone()),
    }
    let revocation_unknown = match &chain.revocation {
        RevocationStatus::Good { .. } => false,
        RevocationStatus::Revoked {
            subject,
            revoked_at,
        } => {
            report.problems.push(format!(
                "the certificate of {subject} was revoked on {revoked_at}"
            ));
            false
        }
        RevocationStatus::Unknown { reason } => matches!(chain.status, ChainStatus::Trusted)
            .then(|| {
                report
                    .problems
                    .push(format!("revocation unknown: {reason}"))
            })
            .is_some(),
    };
    report.chain = Some(chain);
    report.verdict = if report.problems.is_empty() {
        Verdict::Valid
    } else if revocation_unknown && report.problems.len() == 1 {
        Verdict::Indeterminate
    } else {
        Verdict::Invalid
    };
    Ok(report)
}

/// The covered bytes against the signed digest, and the CMS signature itself.
fn check_integrity(parsed: &ParsedCms, digest: &[u8], report: &mut SignatureReport) {
    if !parsed.digest_is_sha256 {
        report
            .problems
            .push("the signature uses a digest other than SHA-256".into());
        return;
    }
    if parsed.message_digest.as_deref() != Some(digest) {
        report
            .problems
            .push("the document's signed bytes were changed after signing".into());
        return;
    }
    let Some(certificate) = parsed.signer_certificate.as_deref() else {
        return;
    };
    if !cms::signature_is_valid(parsed, certificate) {
        report
            .problems
            .push("the cryptographic signature does not match the signer's key".into());
        return;
    }
    if let Some(hash) = &parsed.signing_certificate_hash {
        let actual = ring::digest::digest(&ring::digest::SHA256, certificate);
        if hash.as_slice() != actual.as_ref() {
            report
                .problems
                .push("the signed signing-certificate attribute names another certificate".into());
            return;
        }
    }
    report.intact = true;
}

/// Who signed, from the certificate's subject; the role from whether the subject's CN is
/// the organization itself (an agency seal) or a person in it.
fn describe_signer(certificate_der: &[u8], report: &mut SignatureReport) {
    let Ok(certificate) = x509_cert::Certificate::from_der(certificate_der) else {
        return;
    };
    let subject = &certificate.tbs_certificate.subject;
    let text_of = |wanted| {
        subject
            .0
            .iter()
            .flat_map(|set| set.0.iter())
            .find(|attribute| attribute.oid == wanted)
            .and_then(|attribute| crate::system::tls::directory_string(&attribute.value))
    };
    let name = text_of(const_oid::db::rfc4519::CN);
    let organization = text_of(const_oid::db::rfc4519::O);
    report.role = Some(match (&name, &organization) {
        (Some(name), Some(organization))
            if name.trim().eq_ignore_ascii_case(organization.trim()) =>
        {
            SignatureRole::Agency
        }
        _ => SignatureRole::Personal,
    });
    report.signer = Some(subject.to_string());
    report.signer_name = name;
    report.organization = organization;
}

fn examine_timestamp(
    token: &[u8],
    parsed: &ParsedCms,
    trust: &TrustStore,
    report: &mut SignatureReport,
) -> TimestampReport {
    match timestamp::examine(token, &parsed.signature) {
        Ok(facts) => {
            let intact = facts.imprint_matches && facts.signature_valid;
            let chain = facts
                .tsa_certificate
                .as_deref()
                .map(|certificate| trust.judge(certificate, &facts.certificates, facts.time));
            let trusted = chain
                .as_ref()
                .is_some_and(|chain| chain.status == ChainStatus::Trusted);
            if !intact {
                report
                    .problems
                    .push("the signature timestamp does not match this signature".into());
            } else if !trusted {
                report
                    .problems
                    .push("the timestamp authority is not trusted".into());
            } else {
                report.level = "B-T";
            }
            TimestampReport {
                time: Some(facts.time),
                intact,
                authority: facts.tsa_certificate.as_deref().and_then(|der| {
                    x509_cert::Certificate::from_der(der)
                        .ok()
                        .map(|certificate| certificate.tbs_certificate.subject.to_string())
                }),
                chain,
            }
        }
        Err(error) => {
            report
                .problems
                .push(format!("the signature timestamp is unreadable: {error}"));
            TimestampReport {
                time: None,
                intact: false,
                authority: None,
                chain: None,
            }
        }
    }
}
