//! The VDXP wire protocol: what goes over the dedicated network between a gateway and an
//! axis, shared by the reference axis (`axis`, the server) and the gateway's adapter
//! (`sync`, the client) so that neither imports the other.
//!
//! Owns: the operation names and paths ([`Operation`]), the SDK's `XroadVnpt-*` signed
//! headers and their HMAC-SHA256 check ([`auth`]), the JSON answers and their list items
//! ([`messages`]), and the hub error codes ([`HubErrorCode`]). Does not own transport (TLS,
//! HTTP clients and servers), storage, or what a packet means.
//!
//! Two extensions beyond the national SDK, both opt-in so an SDK client never sees them:
//! `waitForEdoc` (a long poll: answers as soon as something waits for the caller, or after
//! `XroadVnpt-wait` seconds) and `getEdoc` with `XroadVnpt-format: raw` (the packet bytes
//! as `application/octet-stream` instead of base64 inside JSON, so a 200 MB packet streams
//! instead of growing by a third and sitting in a JSON string).

pub mod auth;
pub mod messages;

pub use auth::{AuthError, SignedRequest, VerifiedHeaders};
pub use messages::{
    AgencyItem, AxisAnswer, HubErrorCode, MessageType, ReceivedItem, SentItem, TransportStatus,
};

/// The operations of an axis, each at `{endpoint}/{path}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// POST the raw `.edxml`; answers `DocId`.
    SendEdoc,
    /// Packets waiting for the caller (`messagetype` edoc or status).
    GetReceivedEdocList,
    /// One packet by `docId`.
    GetEdoc,
    /// Transport acknowledgement of a received packet: processing / done / fail.
    UpdateStatus,
    /// Per-recipient delivery state of what the caller sent.
    GetSentEdocList,
    /// The directory of agency codes.
    GetAgenciesList,
    /// Extension: long poll until something waits for the caller.
    WaitForEdoc,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 7] = [
        Operation::SendEdoc,
        Operation::GetReceivedEdocList,
        Operation::GetEdoc,
        Operation::UpdateStatus,
        Operation::GetSentEdocList,
        Operation::GetAgenciesList,
        Operation::WaitForEdoc,
    ];

    /// The path segment after the endpoint.
    pub fn path(self) -> &'static str {
        match self {
            Operation::SendEdoc => "sendEdoc",
            Operation::GetReceivedEdocList => "getReceivedEdocList",
            Operation::GetEdoc => "getEdoc",
            Operation::UpdateStatus => "updateStatus",
            Operation::GetSentEdocList => "getSentEdocList",
            Operation::GetAgenciesList => "getAgenciesList",
            Operation::WaitForEdoc => "waitForEdoc",
        }
    }
}

/// Logical header names (sent as `XroadVnpt-<name>`).
pub mod header {
    pub const PREFIX: &str = "XroadVnpt-";
    pub const SYSTEM_ID: &str = "systemid";
    pub const TIMESTAMP: &str = "timestamp";
    pub const CONTENT_TYPE: &str = "Content-Type";
    pub const FROM: &str = "from";
    pub const SERVICE_TYPE: &str = "servicetype";
    pub const MESSAGE_TYPE: &str = "messagetype";
    pub const HASH_FILE: &str = "hash-file";
    pub const DOC_ID: &str = "docId";
    pub const STATUS: &str = "status";
    /// Extension: seconds a `waitForEdoc` may hold the request.
    pub const WAIT: &str = "wait";
    /// Extension: `raw` asks `getEdoc` for the packet bytes instead of JSON.
    pub const FORMAT: &str = "format";
    /// The signed map, verbatim.
    pub const SIGN_HEADER: &str = "XroadVnpt-sign-header";
    /// The signed names joined with `;`.
    pub const SIGN_HEADER_KEY: &str = "XroadVnpt-sign-header-key";
    /// Lowercase hex HMAC-SHA256 of the sign-header string.
    pub const HASH_HEADER: &str = "XroadVnpt-hash-header";
    pub const VERSION: &str = "XroadVnpt-version";
    /// The version string the SDK sends.
    pub const VERSION_VALUE: &str = "3.0.201608";
    /// The SDK's user agent.
    pub const USER_AGENT_VALUE: &str = "JAVASDKAgent/1.0.0 XRoad/VPCP";
    /// `servicetype` of every document exchange call.
    pub const SERVICE_TYPE_EDOC: &str = "eDoc";
    /// `format` value of the raw `getEdoc` extension.
    pub const FORMAT_RAW: &str = "raw";
}

/// Whether a `hash-file` header names these SHA-256 bytes, in lowercase or uppercase hex,
/// zero-padded or written the SDK's way (each byte without its leading zero: `0x0a` → `a`).
pub fn hash_file_matches(header_value: &str, sha256: &[u8; 32]) -> bool {
    let value = header_value.trim().to_ascii_lowercase();
    let padded: String = sha256.iter().map(|byte| format!("{byte:02x}")).collect();
    let unpadded: String = sha256.iter().map(|byte| format!("{byte:x}")).collect();
    value == padded || value == unpadded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_file_accepts_padded_and_sdk_forms() {
        let mut digest = [0u8; 32];
        digest[0] = 0x0a;
        digest[1] = 0xff;
        let padded = format!("0aff{}", "00".repeat(30));
        let sdk = format!("aff{}", "0".repeat(30));
        assert!(hash_file_matches(&padded, &digest));
        assert!(hash_file_matches(&padded.to_uppercase(), &digest));
        assert!(hash_file_matches(&sdk, &digest));
        assert!(!hash_file_matches("0bff", &digest));
        assert!(!hash_file_matches("", &digest));
    }

    #[test]
    fn operation_paths_are_distinct() {
        let mut paths: Vec<&str> = Operation::ALL.iter().map(|op| op.path()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), Operation::ALL.len());
    }
}
