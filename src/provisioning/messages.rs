//! The enrolment protocol between a box and its axis: paths and JSON bodies. Plain data;
//! the axis serves it (`axis::enrolment`), the box calls it (`sync::enrol_client`).
//!
//! - `GET  /enrol/v1/ca`: the device CA certificate (anyone may ask; the box checks its
//!   fingerprint against the code before trusting it, then re-connects verifying the axis
//!   with it).
//! - `POST /enrol/v1/enrol`: code + CSR → link certificate, shared secret, signed bundle.
//!   No client certificate (the box has none yet); the one-time code is the credential.
//! - `POST /enrol/v1/renew`: CSR → a new link certificate; over the existing mutual TLS.
//! - `GET  /enrol/v1/bundle`: the current signed bundle; over mutual TLS.
//!
//! Errors are `{"error": {"code", "message"}}` with a fitting HTTP status, as on the LAN
//! side.

use serde::{Deserialize, Serialize};

use super::bundle::SignedBundle;

pub const CA_PATH: &str = "/enrol/v1/ca";
pub const ENROL_PATH: &str = "/enrol/v1/enrol";
pub const RENEW_PATH: &str = "/enrol/v1/renew";
pub const BUNDLE_PATH: &str = "/enrol/v1/bundle";

/// Largest enrolment request or answer read (a CSR and a bundle with a few roots).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// `GET /enrol/v1/ca`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaAnswer {
    pub ca_pem: String,
}

/// `POST /enrol/v1/enrol`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The code as typed (the axis reads it the same way the box did).
    pub code: String,
    /// PKCS#10 request for the link key, PEM.
    pub csr_pem: String,
    /// Free text for the audit log: the box's software version and host name.
    #[serde(default)]
    pub device: String,
    /// The agency the box is enrolled for already, when it re-enrols (its certificate
    /// lapsed while offline): the axis refuses a code for another agency without using it
    /// up, since moving a box to another agency needs a deliberate reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_agency: Option<String>,
}

/// The answer to an enrolment: who the box is, its certificate and secret, its bundle.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolAnswer {
    pub system_id: String,
    /// The link certificate (PEM), issued by the device CA.
    pub certificate_pem: String,
    /// The shared secret of the signed `XroadVnpt-*` headers.
    pub secret: String,
    pub bundle: SignedBundle,
}

impl std::fmt::Debug for EnrolAnswer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EnrolAnswer")
            .field("system_id", &self.system_id)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `POST /enrol/v1/renew`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    pub csr_pem: String,
}

/// The answer to a renewal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewAnswer {
    pub certificate_pem: String,
    pub bundle: SignedBundle,
}

/// `GET /enrol/v1/bundle`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleAnswer {
    pub bundle: SignedBundle,
}

/// Why the axis refused an enrolment request; `code` is stable for scripts and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrolRefusal {
    /// No such code (or a typo the check byte missed).
    CodeUnknown,
    CodeExpired,
    CodeUsed,
    CodeRevoked,
    /// The box is enrolled for another agency than the code's (the code stays usable).
    AgencyMismatch,
    /// The CSR cannot be read or its signature does not hold.
    CsrInvalid,
    /// Too many attempts from this address; wait.
    TooManyAttempts,
    /// The client certificate names no enrolled device, or a decommissioned one.
    DeviceUnknown,
    Decommissioned,
    /// Enrolment is not set up on this axis.
    NotOffered,
    Internal,
}

impl EnrolRefusal {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EnrolRefusal::CodeUnknown => "code_unknown",
            EnrolRefusal::CodeExpired => "code_expired",
            EnrolRefusal::CodeUsed => "code_used",
            EnrolRefusal::CodeRevoked => "code_revoked",
            EnrolRefusal::AgencyMismatch => "agency_mismatch",
            EnrolRefusal::CsrInvalid => "csr_invalid",
            EnrolRefusal::TooManyAttempts => "too_many_attempts",
            EnrolRefusal::DeviceUnknown => "device_unknown",
            EnrolRefusal::Decommissioned => "decommissioned",
            EnrolRefusal::NotOffered => "not_offered",
            EnrolRefusal::Internal => "internal",
        }
    }
}

/// The error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: ErrorDetail,
}

/// Inside [`ErrorAnswer`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: EnrolRefusal,
    pub message: String,
}
