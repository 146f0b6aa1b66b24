//! The interface between the scheduler and an axis: what the gateway needs from any axis
//! (send a packet, list and fetch what waits for us, acknowledge, wait for news, the
//! directory of agencies), and how
//! failures are classified. Owns the [`AxisClient`] trait and its plain data types; knows
//! nothing of a particular protocol (VDXP headers, bearer tokens, JSON shapes), so another
//! adapter (a provincial API with OAuth2) fits beside [`super::VdxpClient`].
//!
//! Must never decide what a packet means or touch the store.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// One agency of the axis's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agency {
    /// Mã định danh, e.g. `000.00.00.H41`.
    pub code: String,
    pub name: String,
    /// The system that receives the agency's packets, when the axis says.
    pub system_id: String,
}

/// One kind of request to the axis, as far as its time limit is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisCall {
    /// Hands over a packet of this many bytes.
    Send { bytes: u64 },
    /// Fetches a packet of (about) this many bytes.
    Fetch { bytes: u64 },
    /// A long poll that waits up to this many seconds for news.
    WaitFor { seconds: u64 },
    /// A list or an acknowledgement: a small question with a small answer.
    Small,
}

impl AxisCall {
    /// Fetching `delivery`: the size the axis announced (at most `max_bytes`), or
    /// `max_bytes` when it announced none.
    pub fn fetch_of(delivery: &Delivery, max_bytes: u64) -> AxisCall {
        AxisCall::Fetch {
            bytes: delivery.size.map_or(max_bytes, |size| size.min(max_bytes)),
        }
    }

    /// What the request does, in words for logs.
    pub fn describe(self) -> &'static str {
        match self {
            AxisCall::Send { .. } => "send a packet",
            AxisCall::Fetch { .. } => "fetch a delivery",
            AxisCall::WaitFor { .. } => "wait for deliveries (long poll)",
            AxisCall::Small => "list or acknowledge",
        }
    }
}

/// How long requests to the axis may take. Every request has a limit in all (connecting,
/// sending, waiting and reading the answer), so a silent or trickling axis cannot hold a
/// task forever; the scheduler's liveness counts a request still in flight after twice its
/// limit as a stuck loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeouts {
    /// Connecting, TLS handshake included.
    pub connect: Duration,
    /// A small request in all; also the fixed part of a transfer's limit.
    pub small: Duration,
    /// Added to a long poll's own wait.
    pub long_poll_grace: Duration,
    /// The slowest transfer still waited for, in bytes per second: a packet of `n` bytes
    /// may take `small + n / min_bytes_per_sec`.
    pub min_bytes_per_sec: u64,
    /// The longest silence in the middle of an answer's body.
    pub stall: Duration,
}

impl Default for RequestTimeouts {
    /// 10 s to connect, 60 s for a small request, a long poll's wait + 30 s, transfers at
    /// 64 KiB/s at worst (a 50 MB packet may take about 14 minutes), 60 s of silence.
    fn default() -> Self {
        RequestTimeouts {
            connect: Duration::from_secs(10),
            small: Duration::from_secs(60),
            long_poll_grace: Duration::from_secs(30),
            min_bytes_per_sec: 64 * 1024,
            stall: Duration::from_secs(60),
        }
    }
}

impl RequestTimeouts {
    /// The limit of one request of kind `call`, in all.
    pub fn of(&self, call: AxisCall) -> Duration {
        match call {
            AxisCall::Small => self.small,
            AxisCall::WaitFor { seconds } => {
                Duration::from_secs(seconds).saturating_add(self.long_poll_grace)
            }
            AxisCall::Send { bytes } | AxisCall::Fetch { bytes } => {
                let transfer = bytes / self.min_bytes_per_sec.max(1);
                self.small.saturating_add(Duration::from_secs(transfer))
            }
        }
    }
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
        delivery: &Delivery,
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

    /// The directory of agencies reachable through the axis (a small request).
    fn list_agencies(&self) -> impl Future<Output = Result<Vec<Agency>, AxisError>> + Send;

    /// How long this adapter lets one request of kind `call` take in all before it gives
    /// up with a transient error. The scheduler counts a request still in flight after
    /// twice this as a stuck loop, and the systemd watchdog then restarts the service.
    fn timeout(&self, call: AxisCall) -> Duration {
        RequestTimeouts::default().of(call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_has_a_limit_that_grows_with_its_size() {
        let timeouts = RequestTimeouts::default();
        assert_eq!(timeouts.of(AxisCall::Small), Duration::from_secs(60));
        assert_eq!(
            timeouts.of(AxisCall::WaitFor { seconds: 25 }),
            Duration::from_secs(55)
        );
        let fifty_megabytes = timeouts.of(AxisCall::Send {
            bytes: 50 * 1024 * 1024,
        });
        assert_eq!(fifty_megabytes, Duration::from_secs(60 + 800));
        assert_eq!(
            timeouts.of(AxisCall::Fetch { bytes: 0 }),
            timeouts.of(AxisCall::Small)
        );
    }
}
