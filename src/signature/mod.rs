//! Signatures on documents (issue 4): PAdES signing of outgoing PDFs as an incremental
//! update, CMS (RFC 5652) SignedData built for PAdES B-B and B-T, RFC 3161 timestamps, and
//! verification against the configured trust roots with revocation.
//!
//! Owns: the PDF structure reader and incremental writer (`pdf/`), the CMS builder and
//! reader (`cms`), signers (`signer`: the [`DocumentSigner`] interface, key files),
//! PAdES signing (`pades`), RFC 3161 timestamps (`timestamp`), trust roots, chains and
//! CRLs (`trust`), the verification report (`verify`) and the `docgate sign`/`verify`
//! helpers (`command`). Does not own the token (`token`, used through a signer) and never
//! talks to the axis.

pub mod batch;
pub mod cms;
pub mod command;
pub mod crl_cache;
mod error;
pub mod ocsp;
pub mod pades;
pub mod pdf;
pub mod signer;
pub mod timestamp;
pub mod trust;
pub mod verify;

pub use error::SignatureError;
pub use signer::{DocumentSigner, KeyFileSigner, SignatureAlgorithm, TokenSigner};
