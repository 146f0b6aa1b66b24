//! Signatures on documents (issue 4): PAdES signing of outgoing PDFs as an incremental
//! update, CMS (RFC 5652) SignedData built for PAdES B-B and B-T, RFC 3161 timestamps, and
//! verification against the configured trust roots with revocation.
//!
//! Owns: the PDF structure reader and incremental writer (`pdf/`). Does not own the token
//! (`token`, which it uses through a signer) and never talks to the axis.

pub mod cms;
mod error;
pub mod pdf;
pub mod signer;
pub mod timestamp;
pub mod trust;

pub use error::SignatureError;
pub use signer::{DocumentSigner, KeyFileSigner, SignatureAlgorithm};
