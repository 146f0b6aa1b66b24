//! The queue at a glance, for the systemd `STATUS=` line: how many outgoing documents wait
//! to reach the axis (and since when), and how many incoming ones wait for the clerk. Two
//! small indexed queries on a pooled reader, cheap enough to run every few seconds.

use rusqlite::Connection;

use super::{Store, StoreError};
use crate::system::heartbeat::Heartbeat;

/// Counts for a one-line summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSummary {
    /// Outgoing documents not yet confirmed by the axis (`accepted` … `sent`), withdrawn
    /// ones left out. Secret (`registered`) documents never travel, so never wait.
    pub waiting_to_send: u64,
    /// When the oldest of those was accepted (RFC 3339, UTC).
    pub oldest_waiting_since: Option<String>,
    /// Incoming documents with only the automatic status 01: the clerk has neither
    /// accepted (03) nor refused (02) them.
    pub incoming_awaiting_clerk: u64,
}

impl Store {
    /// The queue at a glance (see [`QueueSummary`]).
    pub fn queue_summary(&self) -> Result<QueueSummary, StoreError> {
        self.inner.database.read(queue_summary)
    }

    /// The writer thread's heartbeat: it beats after every batch and about every second
    /// while idle, and stops when the thread is stuck (the systemd watchdog watches it).
    pub fn writer_heartbeat(&self) -> Heartbeat {
        self.inner.database.writer_heartbeat()
    }
}

fn queue_summary(connection: &Connection) -> Result<QueueSummary, StoreError> {
    let (waiting_to_send, oldest_waiting_since) = connection
        .query_row(
            "SELECT count(*), min(created_at) FROM documents
             WHERE direction = 'out' AND state IN ('accepted', 'signed', 'packed', 'sent')
               AND cancelled_at IS NULL",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Option<String>>(1)?)),
        )
        .map_err(StoreError::sqlite("count the documents waiting to be sent"))?;
    let incoming_awaiting_clerk = connection
        .query_row(
            "SELECT count(*) FROM documents
             WHERE direction = 'in' AND state = 'received' AND business_status = '01'
               AND cancelled_at IS NULL",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map_err(StoreError::sqlite(
            "count the incoming documents awaiting the clerk",
        ))?;
    Ok(QueueSummary {
        waiting_to_send: waiting_to_send.max(0) as u64,
        oldest_waiting_since,
        incoming_awaiting_clerk: incoming_awaiting_clerk.max(0) as u64,
    })
}
