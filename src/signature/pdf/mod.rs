//! PDF structure for signatures: reading a PDF's cross-reference chain and the few objects
//! a signature needs, on demand; appending a signature as an incremental update; finding
//! the signatures already in a file.
//!
//! Owns: the on-demand reader ([`PdfFile`]: seeks, never the whole file in memory), the
//! object model ([`PdfObject`]), the signatures already in a file
//! ([`PdfFile::signatures`], with where their widgets show) and the incremental signature
//! update ([`prepare`] → [`PreparedSignature::digest`] → [`PreparedSignature::embed`]),
//! invisible or with a visible seal picture ([`SignatureAppearance`], [`SealImage`]). Does not own CMS (built and
//! verified above this layer), the token, or any decision about whether a signature is
//! acceptable: it reports facts ([`SignatureCoverage`]) and the verifier judges.
//!
//! # Reading rules
//!
//! * Every input is hostile. Sizes, depths, counts and the total work per file are bounded
//!   by [`Limits`]; each failure is a [`PdfError`] naming what and, where the file is at
//!   fault, the byte offset. Nothing panics on input.
//! * The cross-reference chain is followed from `startxref` through `/Prev` (a loop is an
//!   error), newest section first; classic tables, cross-reference streams and hybrid
//!   files (`/XRefStm`) are read. Objects are read when asked for, from the file or from an
//!   object stream; a reference to a free or absent object reads as `null`.
//! * Encrypted files are refused when opened.
//! * Only object streams and cross-reference streams are ever decoded (Flate, PNG and TIFF
//!   predictors); page content and images never are. (A seal's PNG is decoded, bounded by
//!   its own limits, but it is an input of the signer, not part of the file read.)
//!
//! # Writing rules
//!
//! * The input is copied unchanged; one revision is appended, with a classic table when
//!   the newest section is a table (or hybrid) and an uncompressed cross-reference stream
//!   when it is a stream. Rewritten objects keep their numbers; new ones start at `/Size`.
//! * `/ByteRange` is written as a fixed-width placeholder and filled in before the single
//!   sequential write; `/Contents` is `<00…>` with room for `contents_capacity` bytes.
//!
//! ```no_run
//! use docgate::signature::pdf::{prepare, SignatureRequest};
//! # fn sign(digest: &[u8]) -> Vec<u8> { Vec::new() }
//! # fn main() -> Result<(), docgate::signature::pdf::PdfError> {
//! let request = SignatureRequest::new(time::OffsetDateTime::now_utc(), 16 * 1024);
//! let prepared = prepare("in.pdf".as_ref(), "out.pdf".as_ref(), &request)?;
//! let digest = prepared.digest(&ring::digest::SHA256)?;
//! let cms_der = sign(digest.as_ref());
//! prepared.embed(&cms_der)?;
//! # Ok(())
//! # }
//! ```

mod acroform;
mod appearance;
mod error;
mod filters;
mod incremental;
mod lexer;
mod limits;
mod object;
mod pages;
mod parser;
mod prepared;
mod reader;
mod revision_writer;
mod seal_image;
mod signatures;
mod source;
mod text;
mod xref;

pub use appearance::{
    SealPlacement, SignatureAppearance, DEFAULT_BOTTOM_MARGIN_MM, DEFAULT_RIGHT_MARGIN_MM,
};
pub use error::PdfError;
pub use incremental::{prepare, prepare_with_limits, SignatureRequest, SubFilter};
pub use limits::Limits;
pub use object::{Dictionary, Name, ObjectId, PdfObject, PdfString, StreamHeader, StringForm};
pub use pages::{find_page, PageRef};
pub use prepared::PreparedSignature;
pub use reader::{PdfFile, Trailer};
pub use seal_image::{
    SealImage, SealImageError, DEFAULT_WIDTH_MM, MAX_SEAL_DECODED_BYTES, MAX_SEAL_PIXELS,
    POINTS_PER_MM,
};
pub use signatures::{
    ByteRange, ByteRangeDefect, EmbeddedSignature, SignatureCoverage, SignatureWidget,
};
pub use source::{PdfSource, CHUNK_BYTES};
pub use text::{decode_text, encode_text, format_pdf_date, parse_pdf_date};
pub use xref::{Revision, XrefForm};
