//! The interface between the scheduler and an axis: what the gateway needs from any axis
//! (send a packet, list and fetch what waits for us, acknowledge, wait for news), and how
//! failures are classified. Owns the [`AxisClient`] trait and its plain data types; knows
//! nothing of a particular protocol (VDXP headers, bearer tokens, JSON shapes), so another
//! adapter (a provincial API with OAuth2) fits beside [`super::VdxpClient`].
//!
//! Must never decide what a packet means or touch the store.

use std::future::Future;
use std::path::{Path, PathBuf};

use crate::vdxp::{MessageType, TransportStatus};

/// Why an axis call failed, classified for the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AxisError {
    /// Worth retrying later: the axis is unreachable, overloaded or failed internally, or
    /// the answer was garbled in transit.
    #[error("{operation}: {reason} (will retry)")]
    Transient {
        operation: &'static str,
        reason: String,
    },
    /// The axis refused this request for good (for a packet: it must not be sent again).
    #[error("{operation}: refused by the axis (code {code}): {reason}")]
    Permanent {
        operation: &'static str,
        code: String,
        reason: String,
    },
}

impl AxisError {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, AxisError::Transient { .. })
    }

    pub(crate) fn transient(operation: &'static str, reason: impl Into<String>) -> AxisError {
        AxisError::Transient {
            operation,
            reason: reason.into(),
        }
    }
}

/// A packet to hand to the axis: a complete file whose bytes never change once packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingPacket {
    /// Where the packet is (a published blob), streamed from disk, never read whole.
    pub path: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    pub kind: MessageType,
}

/// One delivery waiting for us at the axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The axis's id of the delivery (for fetch and acknowledge).
    pub id: String,
    pub kind: MessageType,
    /// The sending agency or system, as the axis reports it.
    pub from: String,
    /// Packet size in bytes, when the axis says (for the quota check before fetching).
    pub size: Option<u64>,
}

/// A packet fetched to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPacket {
    pub size: u64,
    /// Lowercase hex SHA-256 of what was written (already checked against the axis's).
    pub sha256: String,
}

/// One recipient's state of something we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentDelivery {
    pub doc_id: String,
    pub to: String,
    pub send_status: String,
    pub receive_status: String,
}

/// What the scheduler needs from an axis. Every method is one request; retries and
/// backoff are the scheduler's.
pub trait AxisClient: Send + Sync + 'static {
    /// Hands a packet to the axis; answers the axis's DocId. Sending the same bytes again
    /// must be safe (the axis answers the first DocId again).
    fn send_packet(
        &self,
        packet: &OutgoingPacket,
    ) -> impl Future<Output = Result<String, AxisError>> + Send;

    /// Deliveries of `kind` waiting for us, oldest first.
    fn list_received(
        &self,
        kind: MessageType,
    ) -> impl Future<Output = Result<Vec<Delivery>, AxisError>> + Send;

    /// Streams one delivery's packet into `destination` (a new file), refusing more than
    /// `max_bytes`, and checks its integrity.
    fn fetch(
        &self,
        delivery_id: &str,
        destination: &Path,
        max_bytes: u64,
    ) -> impl Future<Output = Result<FetchedPacket, AxisError>> + Send;

    /// The transport acknowledgement of a delivery (only after it is committed).
    fn acknowledge(
        &self,
        delivery_id: &str,
        status: TransportStatus,
    ) -> impl Future<Output = Result<(), AxisError>> + Send;

    /// Waits up to `seconds` for deliveries; answers how many wait (0 on timeout).
    fn wait_for(&self, seconds: u64) -> impl Future<Output = Result<u64, AxisError>> + Send;

    /// Per-recipient state of what we sent (all of it, or one DocId).
    fn list_sent(
        &self,
        doc_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<SentDelivery>, AxisError>> + Send;
}
