//! PAdES signing of a PDF: one incremental update (every earlier byte, the leader's
//! signature included, stays untouched) holding a CAdES-detached CMS over the new byte
//! range — baseline B-B — and, when a timestamp authority answers, its RFC 3161 token over
//! the signature value as an unsigned attribute — B-T. A B-B file can be raised to B-T later
//! ([`add_timestamp`]): the token goes into the same `/Contents` hole, which lies outside
//! the signed bytes, so nothing signed changes.
//!
//! Does not decide whether a document may be signed (the caller checks the leader's
//! signature first with `verify`), and does not know where the key lives (`signer`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use super::cms;
use super::error::SignatureError;
use super::pdf::{self, PdfError, PdfFile, PreparedSignature, SignatureRequest};
use super::signer::DocumentSigner;
use super::timestamp::TimestampError;

/// Room reserved in `/Contents` for the CMS: the signature, a chain of a few certificates
/// and a timestamp token with the TSA's chain fit in well under this.
pub const CONTENTS_CAPACITY: usize = 24 * 1024;

/// Why a PDF could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum PadesError {
    #[error(transparent)]
    Pdf(#[from] PdfError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("{path} has no signature {field:?} to timestamp")]
    NoSuchSignature { path: PathBuf, field: String },
}

/// The PAdES baseline level a signature reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PadesLevel {
    #[serde(rename = "B-B")]
    BB,
    #[serde(rename = "B-T")]
    BT,
}

/// What signing produced.
#[derive(Debug, Clone)]
pub struct SignedPdf {
    pub field_name: String,
    pub level: PadesLevel,
    /// Why there is no timestamp, when one was asked for and not had.
    pub timestamp_error: Option<String>,
}

/// What to write in the signature dictionary.
#[derive(Debug, Clone, Default)]
pub struct SignatureDetails {
    pub signer_name: Option<String>,
    pub reason: Option<String>,
    pub location: Option<String>,
}

/// Asks a timestamp authority for a token over a signature value (blocking).
pub type Stamper<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, TimestampError>;

/// Signs `input` into `output` (a new file) with `signer`, at `signing_time`. With a
/// `stamper`, adds a signature timestamp; if the TSA fails, the file is still signed (B-B)
/// and the error is returned in [`SignedPdf::timestamp_error`].
pub fn sign_pdf(
    input: &Path,
    output: &Path,
    signer: &dyn DocumentSigner,
    signing_time: OffsetDateTime,
    details: &SignatureDetails,
    stamper: Option<Stamper<'_>>,
) -> Result<SignedPdf, PadesError> {
    let mut request = SignatureRequest::new(signing_time, CONTENTS_CAPACITY);
    request.signer_name = details.signer_name.clone();
    request.reason = details.reason.clone();
    request.location = details.location.clone();
    let prepared = pdf::prepare(input, output, &request)?;
    let digest = prepared.digest(&ring::digest::SHA256)?;
    let mut digest_bytes = [0u8; 32];
    digest_bytes.copy_from_slice(digest.as_ref());
    let signed = cms::sign_detached(signer, &digest_bytes)?;
    let (der, level, timestamp_error) = match stamper {
        None => (signed, PadesLevel::BB, None),
        Some(stamp) => match stamp_cms(&signed, stamp) {
            Ok(stamped) => (stamped, PadesLevel::BT, None),
            Err(error) => (signed, PadesLevel::BB, Some(error.to_string())),
        },
    };
    prepared.embed(&der)?;
    Ok(SignedPdf {
        field_name: prepared.field_name.clone(),
        level,
        timestamp_error,
    })
}

fn stamp_cms(cms_der: &[u8], stamp: Stamper<'_>) -> Result<Vec<u8>, SignatureError> {
    let parsed = cms::parse(cms_der)?;
    let token = stamp(&parsed.signature).map_err(|error| SignatureError::Signing {
        reason: error.to_string(),
    })?;
    cms::add_signature_timestamp(cms_der, &token)
}

/// Raises the B-B signature in field `field` (the newest signature when `None`) of the file
/// at `path` to B-T, in place: the token is written into the signature's `/Contents` hole
/// (outside the signed bytes).
pub fn add_timestamp(
    path: &Path,
    field: Option<&str>,
    stamp: Stamper<'_>,
) -> Result<(), PadesError> {
    let mut file = PdfFile::open(path)?;
    let signatures = file.signatures()?;
    let missing = || PadesError::NoSuchSignature {
        path: path.to_path_buf(),
        field: field.unwrap_or("(the newest)").to_owned(),
    };
    let signature = match field {
        Some(field) => signatures
            .iter()
            .find(|signature| signature.field_name == field),
        None => signatures.iter().max_by_key(|signature| {
            signature
                .coverage
                .as_ref()
                .map(|coverage| coverage.byte_range.end())
                .unwrap_or(0)
        }),
    }
    .ok_or_else(missing)?;
    let field = signature.field_name.clone();
    let coverage = signature.coverage.clone().map_err(|_| missing())?;
    let contents = signature.contents.as_deref().ok_or_else(missing)?;
    let stamped = stamp_cms(contents, stamp)?;
    let hole = coverage.contents_hole;
    // The hole is `<` + hex + `>`.
    let capacity = usize::try_from((hole.end - hole.start).saturating_sub(2) / 2).unwrap_or(0);
    let prepared = PreparedSignature {
        output: path.to_path_buf(),
        byte_range: coverage.byte_range,
        contents_capacity: capacity,
        field_name: field,
        signature_dictionary: signature.signature_dictionary.ok_or_else(missing)?,
        page_number: 0,
    };
    drop(file);
    prepared.embed(&stamped)?;
    Ok(())
}
