//! What can go wrong while signing or reading signatures, said so that the person at the
//! other end (a clerk, an office's software, provincial IT) can act on it. Owns only the
//! error type; verification *findings* (an untrusted chain, a revoked certificate) are not
//! errors but part of the report (`verify`).

use std::path::PathBuf;

/// Why a signature could not be made or a signature structure could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("cannot use the key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("{what} is not a readable X.509 certificate: {reason}")]
    Certificate { what: &'static str, reason: String },
    #[error("cannot sign with {what}: only RSA and EC P-256 keys are supported")]
    UnsupportedKey { what: String },
    #[error("signing failed: {reason}")]
    Signing { reason: String },
    #[error("the token cannot sign: {0}")]
    Token(String),
    #[error("the signature is not a readable CMS SignedData: {reason}")]
    Cms { reason: String },
    #[error("cannot build the CMS signature: {reason}")]
    Build { reason: String },
}

impl SignatureError {
    pub(crate) fn certificate(what: &'static str, error: impl std::fmt::Display) -> SignatureError {
        SignatureError::Certificate {
            what,
            reason: error.to_string(),
        }
    }

    pub(crate) fn cms(reason: impl std::fmt::Display) -> SignatureError {
        SignatureError::Cms {
            reason: reason.to_string(),
        }
    }

    pub(crate) fn build(reason: impl std::fmt::Display) -> SignatureError {
        SignatureError::Build {
            reason: reason.to_string(),
        }
    }
}
