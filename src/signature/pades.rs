//! PAdES signing of a PDF: one incremental update (every earlier byte, the leader's
//! signature included, stays untouched) holding a CAdES-detached CMS over the new byte
//! range — baseline B-B — and, when a timestamp authority answers, its RFC 3161 token over
//! the signature value as an unsigned attribute — B-T. A B-B file can be raised to B-T later
//! ([`add_timestamp`]): the token goes into the same `/Contents` hole, which lies outside
//! the signed bytes, so nothing signed changes.
//!
//! The signature is invisible unless a [`VisibleSeal`] is given: then its widget shows the
//! seal picture at its size on paper with the signing time (ISO 8601, Vietnam time) under
//! it — over the left third of the leader's visible signature when there is one on the page
//! (exchange.md §5), else at the position asked for, else at the bottom right of the page.
//!
//! Does not decide whether a document may be signed (the caller checks the leader's
//! signature first with `verify`), and does not know where the key lives (`signer`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use super::cms;
use super::error::SignatureError;
use super::pdf::{
    self, find_page, PdfError, PdfFile, PreparedSignature, SealImage, SealPlacement,
    SignatureAppearance, SignatureRequest, POINTS_PER_MM,
};
use super::signer::DocumentSigner;
use super::timestamp::TimestampError;
use super::trust::TrustStore;
use super::verify::{verify_pdf, SignatureRole, VerifyError};
use crate::system::clock::VIETNAM;

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

/// What to write in the signature dictionary, and how the signature shows.
#[derive(Debug, Clone, Default)]
pub struct SignatureDetails {
    pub signer_name: Option<String>,
    pub reason: Option<String>,
    pub location: Option<String>,
    /// A visible seal on the last page; invisible when `None`.
    pub visible_seal: Option<VisibleSeal>,
}

/// A signature that shows on the page: a picture (the agency's red seal, or a leader's
/// signature image) at its size on paper, with the signing time under it.
#[derive(Debug, Clone)]
pub struct VisibleSeal {
    /// Decoded once; shared by every document signed with it.
    pub image: Arc<SealImage>,
    /// Put the picture over the left third of the newest visible personal (leader's)
    /// signature on the page, vertically centred on it, when there is one: the agency seal.
    pub over_leaders_signature: bool,
    /// Otherwise: the picture's lower-left corner, in millimetres right of and above the
    /// page's lower-left corner; `None` for the bottom right of the page (20 mm from the
    /// right edge, 25 mm above the bottom edge).
    pub position_mm: Option<(f64, f64)>,
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
    if let Some(seal) = &details.visible_seal {
        request.appearance = seal_appearance(input, seal, request.page, signing_time)?;
    }
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

/// The widget of a visible seal: where it goes (see [`VisibleSeal`]) and its caption.
fn seal_appearance(
    input: &Path,
    seal: &VisibleSeal,
    page: Option<u32>,
    signing_time: OffsetDateTime,
) -> Result<SignatureAppearance, PadesError> {
    let leaders_widget = if seal.over_leaders_signature {
        leaders_visible_widget(input, page, signing_time)?
    } else {
        None
    };
    let placement = match (leaders_widget, seal.position_mm) {
        (Some(rect), _) => SealPlacement::OverlapLeftThird { rect },
        (None, Some((x, y))) => SealPlacement::At {
            x: x * POINTS_PER_MM,
            y: y * POINTS_PER_MM,
        },
        (None, None) => SealPlacement::BottomRight,
    };
    Ok(SignatureAppearance::Seal {
        image: seal.image.clone(),
        placement,
        caption: Some(iso8601_vietnam(signing_time)),
    })
}

/// The `/Rect` of the newest personal (leader's) signature visible on the target page.
/// Roles are the verifier's (from each signer's certificate); the verification runs only
/// when some signature widget is visible there, so an invisibly signed document costs a
/// look at its form and nothing more.
fn leaders_visible_widget(
    input: &Path,
    page: Option<u32>,
    at: OffsetDateTime,
) -> Result<Option<[f64; 4]>, PadesError> {
    let mut file = PdfFile::open(input)?;
    let page = find_page(&mut file, page)?;
    let mut visible: Vec<(u64, String, [f64; 4])> = file
        .signatures()?
        .into_iter()
        .filter_map(|signature| {
            let rect = signature.widget?.visible_rect_on(page.id)?;
            let end = signature
                .coverage
                .as_ref()
                .map_or(0, |c| c.byte_range.end());
            Some((end, signature.field_name, rect))
        })
        .collect();
    drop(file);
    if visible.is_empty() {
        return Ok(None);
    }
    let report = verify_pdf(input, &TrustStore::default(), at).map_err(|error| match error {
        VerifyError::Pdf(error) => PadesError::Pdf(error),
    })?;
    visible.sort_by_key(|(end, _, _)| std::cmp::Reverse(*end));
    Ok(visible.into_iter().find_map(|(_, field, rect)| {
        report
            .signatures
            .iter()
            .any(|signature| {
                signature.field == field && signature.role == Some(SignatureRole::Personal)
            })
            .then_some(rect)
    }))
}

/// `2026-03-02T09:30:00+07:00`: the instant in Vietnam time, ISO 8601, ASCII only.
pub fn iso8601_vietnam(instant: OffsetDateTime) -> String {
    let local = instant.to_offset(VIETNAM);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+07:00",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_caption_is_iso_8601_in_vietnam_time() {
        assert_eq!(
            iso8601_vietnam(datetime!(2026-03-02 02:30:05 UTC)),
            "2026-03-02T09:30:05+07:00"
        );
        assert_eq!(
            iso8601_vietnam(datetime!(2025-12-31 20:00 UTC)),
            "2026-01-01T03:00:00+07:00"
        );
    }
}
