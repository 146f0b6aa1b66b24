//! The sync engine: axis client adapters and the scheduler that moves packets between the
//! store and the provincial axis (issue 3).
//!
//! Owns: the [`AxisClient`] interface, its classified errors and the requests' time
//! limits ([`RequestTimeouts`], `client.rs`), the VDXP adapter ([`VdxpClient`]), the retry
//! [`Backoff`], the shared [`LinkState`] with the sealer's [`SealWatch`], the requests in
//! flight for the scheduler's liveness ([`InFlight`], `liveness.rs`), and the scheduler's
//! tasks (sealer, packer, sender, receiver, and the agency directory's refresh in
//! `directory.rs`; `scheduler.rs`). Decisions about
//! packet contents and the quota come from `workflow::exchange`; rows and blobs from
//! `store`. Must never acknowledge a delivery before its commit has returned, never change
//! a packed packet's bytes, and never keep work only in memory: the database is the queue.

mod backoff;
mod client;
mod directory;
pub mod enrol_client;
mod link;
mod liveness;
mod packer;
mod receiver;
mod scheduler;
mod seal_watch;
mod sealer;
mod sender;
mod vdxp_client;

pub use backoff::Backoff;
pub use client::{
    Agency, AxisCall, AxisClient, AxisError, Delivery, FetchedPacket, OutgoingPacket,
    RequestTimeouts, SentDelivery,
};
pub use link::{LinkSnapshot, LinkState};
pub use liveness::{InFlight, Overdue};
pub use scheduler::{start, SyncError, SyncHandle, SyncSettings};
pub use seal_watch::{SealWatch, TokenPresence, TokenReport, TsaContact, SIGN_SECONDS_BUCKETS};
pub use sealer::SealingSettings;
pub use vdxp_client::{VdxpClient, VdxpClientError};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod timeout_tests;
