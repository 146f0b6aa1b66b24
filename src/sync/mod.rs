//! The sync engine: axis client adapters and the scheduler that moves packets between the
//! store and the provincial axis (issue 3).
//!
//! Owns: the [`AxisClient`] interface and its classified errors (`client.rs`), the VDXP
//! adapter ([`VdxpClient`]), the retry [`Backoff`], the shared [`LinkState`], and the
//! scheduler's three tasks (packer, sender, receiver; `scheduler.rs`). Decisions about
//! packet contents and the quota come from `workflow::exchange`; rows and blobs from
//! `store`. Must never acknowledge a delivery before its commit has returned, never change
//! a packed packet's bytes, and never keep work only in memory: the database is the queue.

mod backoff;
mod client;
mod link;
mod packer;
mod receiver;
mod scheduler;
mod sealer;
mod sender;
mod vdxp_client;

pub use backoff::Backoff;
pub use client::{AxisClient, AxisError, Delivery, FetchedPacket, OutgoingPacket, SentDelivery};
pub use link::{LinkSnapshot, LinkState};
pub use scheduler::{start, SyncError, SyncHandle, SyncSettings};
pub use sealer::SealingSettings;
pub use vdxp_client::{VdxpClient, VdxpClientError};

#[cfg(test)]
mod tests;
