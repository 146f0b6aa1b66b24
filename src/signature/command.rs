//! The helpers behind `docgate sign` and `docgate verify`: sign a PDF as a leader or as the
//! agency (the agency only over a document a person has already signed, as NĐ 30/2020
//! requires), invisibly or with a visible seal picture, and print a signatures report as
//! text or JSON. Does not parse the command line (`main.rs` does).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::pades::{self, PadesError, SignatureDetails, SignedPdf, VisibleSeal};
use super::pdf::{SealImage, SealImageError};
use super::signer::DocumentSigner;
use super::timestamp::{TimestampError, TsaClient};
use super::trust::{ChainStatus, RevocationStatus, TrustError, TrustStore};
use super::verify::{verify_pdf, DocumentReport, LeaderRule, SignatureRole, Verdict, VerifyError};

/// Whose signature `docgate sign` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningRole {
    /// The competent person (a leader's station).
    Leader,
    /// The agency's seal, over a document the leader has signed.
    Agency,
}

/// Why `docgate sign` or `docgate verify` failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Pades(#[from] PadesError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
    #[error(transparent)]
    SealImage(#[from] SealImageError),
    #[error("{path}: {reason}")]
    Refused { path: PathBuf, reason: String },
}

/// What `docgate sign` needs besides the signer.
#[derive(Debug, Clone)]
pub struct SignOptions {
    pub role: SigningRole,
    /// Roots (and CRLs) the leader's signature is checked against before an agency
    /// signature; without roots only its presence and integrity are checked.
    pub trust_roots: Vec<PathBuf>,
    pub crls: Vec<PathBuf>,
    /// A timestamp authority (RFC 3161 over HTTP) for B-T.
    pub tsa_url: Option<String>,
    /// A PNG to show as the signature on the last page (the agency's seal, or a leader's
    /// signature image); invisible when `None`.
    pub seal_image: Option<PathBuf>,
    /// Where the picture goes, in millimetres from the page's lower-left corner, when it
    /// does not go over a leader's signature; the bottom right of the page when `None`.
    pub seal_position_mm: Option<(f64, f64)>,
}

/// Signs `input` into `output`. For the agency role, refuses unless the document already
/// carries a person's signature that is intact (and trusted, when roots are given). A seal
/// image is decoded first, so an unusable one is refused before anything is written; the
/// agency's seal goes over the left third of the leader's visible signature when there is
/// one.
pub fn sign(
    input: &Path,
    output: &Path,
    signer: &dyn DocumentSigner,
    options: &SignOptions,
) -> Result<SignedPdf, CommandError> {
    let visible_seal = match &options.seal_image {
        Some(path) => Some(VisibleSeal {
            image: Arc::new(SealImage::load(path)?),
            over_leaders_signature: options.role == SigningRole::Agency,
            position_mm: options.seal_position_mm,
        }),
        None => None,
    };
    if options.role == SigningRole::Agency {
        let trust = TrustStore::load(&options.trust_roots, &options.crls)?;
        let report = verify_pdf(input, &trust, OffsetDateTime::now_utc())?;
        let rule = if trust.has_roots() {
            LeaderRule::Valid
        } else {
            LeaderRule::Intact
        };
        report
            .check_leader_signature(rule)
            .map_err(|reason| CommandError::Refused {
                path: input.to_path_buf(),
                reason,
            })?;
    }
    let details = SignatureDetails {
        signer_name: None,
        reason: Some(
            match options.role {
                SigningRole::Leader => "Ký duyệt (approved by the competent person)",
                SigningRole::Agency => "Đóng dấu cơ quan (agency seal)",
            }
            .to_owned(),
        ),
        location: None,
        visible_seal,
    };
    let stamper_client = match &options.tsa_url {
        Some(url) => Some(TsaClient::new(url, Duration::from_secs(15))?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| TimestampError::Unreachable {
            url: options.tsa_url.clone().unwrap_or_default(),
            reason: error.to_string(),
        })?;
    let stamp = |message: &[u8]| match &stamper_client {
        Some(client) => runtime.block_on(client.stamp(message)),
        None => Err(TimestampError::Request {
            reason: "no timestamp authority configured".into(),
        }),
    };
    let stamper: Option<pades::Stamper<'_>> = stamper_client.as_ref().map(|_| &stamp as _);
    Ok(pades::sign_pdf(
        input,
        output,
        signer,
        OffsetDateTime::now_utc(),
        &details,
        stamper,
    )?)
}

/// Verifies `path` against the given roots and CRLs.
pub fn verify(
    path: &Path,
    trust_roots: &[PathBuf],
    crls: &[PathBuf],
    crl_cache: Option<&Path>,
) -> Result<DocumentReport, CommandError> {
    let mut trust = TrustStore::load(trust_roots, crls)?;
    // Fetching needs a runtime whose own threads drive the HTTP requests.
    let runtime = match crl_cache {
        Some(_) => Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|error| CommandError::Refused {
                    path: path.to_path_buf(),
                    reason: format!("cannot start the HTTP runtime: {error}"),
                })?,
        ),
        None => None,
    };
    if let (Some(dir), Some(runtime)) = (crl_cache, &runtime) {
        let cache = super::crl_cache::HttpRevocationSource::new(
            dir.to_path_buf(),
            Duration::from_secs(10),
            runtime.handle().clone(),
        )
        .map_err(|error| CommandError::Refused {
            path: path.to_path_buf(),
            reason: format!("cannot set up CRL fetching: {error}"),
        })?;
        trust = trust.with_revocation_source(std::sync::Arc::new(cache));
    }
    Ok(verify_pdf(path, &trust, OffsetDateTime::now_utc())?)
}

/// The report as text, one signature per paragraph.
pub fn report_text(report: &DocumentReport) -> String {
    let mut text = String::new();
    if report.signatures.is_empty() {
        text.push_str("no signatures\n");
    }
    for (index, signature) in report.signatures.iter().enumerate() {
        let _ = writeln!(
            text,
            "signature {} ({}): {}",
            index + 1,
            signature.field,
            match signature.verdict {
                Verdict::Valid => "VALID",
                Verdict::Invalid => "INVALID",
                Verdict::Indeterminate => "INDETERMINATE",
            }
        );
        let _ = writeln!(
            text,
            "  signer: {} ({})",
            signature.signer.as_deref().unwrap_or("unknown"),
            match signature.role {
                Some(SignatureRole::Personal) => "personal",
                Some(SignatureRole::Agency) => "agency",
                None => "unknown role",
            }
        );
        if let Some(time) = signature.claimed_signing_time {
            let _ = writeln!(text, "  claimed signing time: {time}");
        }
        match &signature.timestamp {
            Some(stamp) => {
                let _ = writeln!(
                    text,
                    "  timestamp: {} by {} ({})",
                    stamp.time.map(|time| time.to_string()).unwrap_or_default(),
                    stamp.authority.as_deref().unwrap_or("unknown authority"),
                    if stamp.intact { "intact" } else { "NOT intact" }
                );
            }
            None => text.push_str("  timestamp: none\n"),
        }
        let _ = writeln!(
            text,
            "  level: {}; intact: {}; covers the whole document: {}; bytes added after it: {} in {} later revision(s)",
            signature.level,
            if signature.intact { "yes" } else { "no" },
            if signature.covers_whole_document { "yes" } else { "no" },
            signature.bytes_added_after,
            signature.later_revisions
        );
        if let Some(chain) = &signature.chain {
            let _ = writeln!(
                text,
                "  chain: {} ({})",
                match &chain.status {
                    ChainStatus::Trusted => "trusted".to_owned(),
                    ChainStatus::Untrusted { reason } => format!("untrusted: {reason}"),
                },
                chain.chain.join(" → ")
            );
            let _ = writeln!(
                text,
                "  revocation: {}",
                match &chain.revocation {
                    RevocationStatus::Good { source } => format!("good ({source})"),
                    RevocationStatus::Revoked {
                        subject,
                        revoked_at,
                    } => format!("REVOKED: {subject} on {revoked_at}"),
                    RevocationStatus::Unknown { reason } => format!("unknown ({reason})"),
                }
            );
        }
        for problem in &signature.problems {
            let _ = writeln!(text, "  problem: {problem}");
        }
    }
    let _ = writeln!(
        text,
        "document: {}",
        if report.valid { "VALID" } else { "NOT VALID" }
    );
    text
}
