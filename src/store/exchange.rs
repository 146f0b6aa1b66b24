//! Writes for the exchange with the axis: packing, the outbox's life (sent, queued,
//! refused), incoming documents, statuses and quarantine. Each runs on the writer thread in
//! its own savepoint, so everything one call writes commits together or not at all.
//!
//! Owns the rows; never decides. Which document to pack, when to send, what a packet
//! means, and whether a delivery may be acknowledged are the `sync` scheduler's business.
//! Every packet blob named here must have been published before the call (see `blobs.rs`).

use rusqlite::Connection;

use super::records::{
    DeliveryOutcome, DocumentState, NewIncomingDocument, NewIncomingStatus, NewQuarantine,
    OutboxItem, PackableDocument, PacketBlob, PacketKind, StorageUsage,
};
use super::{exchange_queries, incoming, Store, StoreError};

/// What [`Store::commit_incoming`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncomingCommit {
    /// Newly committed now.
    Committed,
    /// This delivery was committed before (a re-fetch after a lost acknowledgement).
    AlreadyCommitted(DeliveryOutcome),
}

impl Store {
    /// Outgoing documents in `state` waiting to be sealed or packed: the most urgent first
    /// (priority 4, 3, 2, 1, 0), each priority oldest first.
    pub fn packable_documents(
        &self,
        state: DocumentState,
        b_b_sealed_before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PackableDocument>, StoreError> {
        self.inner.database.read(|connection| {
            exchange_queries::packable_documents(connection, state, b_b_sealed_before, limit)
        })
    }

    /// Records the packet of an outgoing document (state → `packed`, one `edoc` row in the
    /// outbox). Answers `false` and writes nothing when the document is no longer in
    /// `from_state` (packed already by an earlier run).
    pub async fn mark_packed(
        &self,
        id: String,
        from_state: DocumentState,
        packet: PacketBlob,
        priority: u8,
        at: String,
    ) -> Result<bool, StoreError> {
        self.inner
            .database
            .write(move |connection| {
                mark_packed(connection, &id, from_state, &packet, priority, &at)
            })
            .await
    }

    /// The next packets to send: highest priority first (3/4 express), then oldest.
    pub fn next_outbox_batch(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        self.inner
            .database
            .read(|connection| exchange_queries::next_outbox_batch(connection, limit))
    }

    /// Packets not yet confirmed by the axis.
    pub fn outbox_depth(&self) -> Result<u64, StoreError> {
        self.inner.database.read(exchange_queries::outbox_depth)
    }

    /// Commits that a packet is about to be handed to the axis (before the request):
    /// outbox `sent`, attempts + 1; an edoc's document moves to `sent` the first time.
    /// `false` (nothing written): the row no longer waits (the office withdrew the
    /// document), so it must not be sent.
    pub async fn mark_sending(&self, outbox_id: i64, at: String) -> Result<bool, StoreError> {
        self.inner
            .database
            .write(move |connection| mark_sending(connection, outbox_id, &at))
            .await
    }

    /// The axis holds the packet under `axis_doc_id`: outbox `queued`; an edoc's document
    /// moves to `queued` and keeps the DocId.
    pub async fn mark_queued(
        &self,
        outbox_id: i64,
        axis_doc_id: String,
        at: String,
    ) -> Result<(), StoreError> {
        self.inner
            .database
            .write(move |connection| mark_queued(connection, outbox_id, &axis_doc_id, &at))
            .await
    }

    /// The axis refused the packet for good: outbox `refused` (never retried); an edoc's
    /// document moves to `quarantined` with the reason; the event log says why.
    pub async fn record_refusal(
        &self,
        outbox_id: i64,
        reason: String,
        at: String,
    ) -> Result<(), StoreError> {
        self.inner
            .database
            .write(move |connection| record_refusal(connection, outbox_id, &reason, &at))
            .await
    }

    /// Notes a passing failure on an outbox row (it stays waiting and is retried).
    pub async fn record_send_error(
        &self,
        outbox_id: i64,
        error: String,
        at: String,
    ) -> Result<(), StoreError> {
        self.inner
            .database
            .write(move |connection| {
                connection
                    .execute(
                        "UPDATE outbox SET last_error = ?2, updated_at = ?3 WHERE id = ?1",
                        rusqlite::params![outbox_id, error, at],
                    )
                    .map_err(StoreError::sqlite("note a send error"))
                    .map(|_| ())
            })
            .await
    }

    /// Whether an incoming delivery was already committed, and as what.
    pub fn incoming_delivery(
        &self,
        axis_doc_id: &str,
    ) -> Result<Option<DeliveryOutcome>, StoreError> {
        self.inner
            .database
            .read(|connection| exchange_queries::incoming_delivery(connection, axis_doc_id))
    }

    /// Our outgoing document with this edXML DocumentId (ULID), if any.
    pub fn outgoing_by_document_id(&self, document_id: &str) -> Result<Option<String>, StoreError> {
        self.inner
            .database
            .read(|connection| exchange_queries::outgoing_by_document_id(connection, document_id))
    }

    /// Commits an incoming document in ONE transaction: the row (`received`), its files,
    /// its event, the delivery ledger entry, and its status-01 packet in the outbox with
    /// the matching `sent` status. Idempotent per delivery docId.
    pub async fn commit_incoming(
        &self,
        document: NewIncomingDocument,
    ) -> Result<IncomingCommit, StoreError> {
        self.inner
            .database
            .write(move |connection| incoming::commit_incoming(connection, &document))
            .await
    }

    /// Records a status received about one of our outgoing documents, with its ledger
    /// entry. Idempotent per delivery docId.
    pub async fn record_incoming_status(
        &self,
        status: NewIncomingStatus,
    ) -> Result<IncomingCommit, StoreError> {
        self.inner
            .database
            .write(move |connection| incoming::record_incoming_status(connection, &status))
            .await
    }

    /// Keeps an unusable delivery with its reason (and its packet when there is one).
    /// Idempotent per delivery docId.
    pub async fn commit_quarantined(
        &self,
        quarantine: NewQuarantine,
    ) -> Result<IncomingCommit, StoreError> {
        self.inner
            .database
            .write(move |connection| incoming::commit_quarantined(connection, &quarantine))
            .await
    }

    /// Bytes used by the state directory: published blobs (tracked in memory) plus the
    /// database files (two `stat` calls). Staging files of requests in flight are not
    /// counted; callers add what they are about to store.
    pub fn storage_usage(&self) -> StorageUsage {
        let database = self.inner.database.path();
        let mut database_bytes = 0u64;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            database_bytes += std::fs::metadata(&name).map(|meta| meta.len()).unwrap_or(0);
        }
        StorageUsage {
            blob_bytes: self.inner.blobs.published_bytes(),
            database_bytes,
        }
    }
}

pub(super) fn append_event(
    connection: &Connection,
    document: &str,
    at: &str,
    kind: &str,
    state: Option<&str>,
    detail: &str,
) -> Result<(), StoreError> {
    connection
        .execute(
            "INSERT INTO document_events (document, at, kind, state, detail)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![document, at, kind, state, detail],
        )
        .map_err(StoreError::sqlite("append a document event"))?;
    Ok(())
}

fn mark_packed(
    connection: &Connection,
    id: &str,
    from_state: DocumentState,
    packet: &PacketBlob,
    priority: u8,
    at: &str,
) -> Result<bool, StoreError> {
    let packed = DocumentState::Packed.as_str();
    let changed = connection
        .execute(
            "UPDATE documents SET state = ?2, packet_sha256 = ?3, packet_size = ?4,
                 priority = ?5, updated_at = ?6
             WHERE id = ?1 AND direction = 'out' AND state = ?7 AND cancelled_at IS NULL",
            rusqlite::params![
                id,
                packed,
                packet.sha256,
                packet.size as i64,
                priority,
                at,
                from_state.as_str()
            ],
        )
        .map_err(StoreError::sqlite("mark a document packed"))?;
    if changed == 0 {
        return Ok(false);
    }
    insert_outbox(connection, PacketKind::Edoc, id, priority, packet, at)?;
    append_event(
        connection,
        id,
        at,
        "packed",
        Some(packed),
        &format!("edXML packet {} ({} bytes)", packet.sha256, packet.size),
    )?;
    Ok(true)
}

pub(super) fn insert_outbox(
    connection: &Connection,
    kind: PacketKind,
    document: &str,
    priority: u8,
    packet: &PacketBlob,
    at: &str,
) -> Result<i64, StoreError> {
    connection
        .execute(
            "INSERT INTO outbox (kind, document, priority, packet_sha256, packet_size, state,
                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
            rusqlite::params![
                kind.as_str(),
                document,
                priority,
                packet.sha256,
                packet.size as i64,
                at
            ],
        )
        .map_err(StoreError::sqlite("queue a packet in the outbox"))?;
    Ok(connection.last_insert_rowid())
}

/// The outbox row's kind and document. A recall or update packet (BussinessDocType 1/2)
/// travels for a document already sent: it reads as a status-like packet here, so it never
/// moves the document's own state.
fn outbox_row(connection: &Connection, outbox_id: i64) -> Result<(PacketKind, String), StoreError> {
    let (kind, document, business_type): (String, String, i64) = connection
        .query_row(
            "SELECT kind, document, business_type FROM outbox WHERE id = ?1",
            [outbox_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(StoreError::sqlite("read an outbox row"))?;
    let kind = PacketKind::parse(&kind)
        .ok_or_else(|| StoreError::Decode(format!("outbox kind {kind:?}")))?;
    let kind = if kind == PacketKind::Edoc && business_type != 0 {
        PacketKind::Status
    } else {
        kind
    };
    Ok((kind, document))
}

/// `false` when the row is no longer waiting (withdrawn by the office): do not send it.
fn mark_sending(connection: &Connection, outbox_id: i64, at: &str) -> Result<bool, StoreError> {
    let waiting = connection
        .execute(
            "UPDATE outbox SET state = 'sent', attempts = attempts + 1, updated_at = ?2
             WHERE id = ?1 AND state IN ('pending', 'sent')",
            rusqlite::params![outbox_id, at],
        )
        .map_err(StoreError::sqlite("mark a packet sent"))?;
    if waiting == 0 {
        return Ok(false);
    }
    let (kind, document) = outbox_row(connection, outbox_id)?;
    if kind == PacketKind::Edoc {
        let sent = DocumentState::Sent.as_str();
        let changed = connection
            .execute(
                "UPDATE documents SET state = ?2, updated_at = ?3 WHERE id = ?1 AND state = 'packed'",
                rusqlite::params![document, sent, at],
            )
            .map_err(StoreError::sqlite("mark a document sent"))?;
        if changed > 0 {
            append_event(
                connection,
                &document,
                at,
                "sent",
                Some(sent),
                "handed to the axis",
            )?;
        }
    }
    Ok(true)
}

fn mark_queued(
    connection: &Connection,
    outbox_id: i64,
    axis_doc_id: &str,
    at: &str,
) -> Result<(), StoreError> {
    let first_answer: bool = connection
        .query_row(
            "SELECT state != 'queued' FROM outbox WHERE id = ?1",
            [outbox_id],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("read an outbox row"))?;
    connection
        .execute(
            "UPDATE outbox SET state = 'queued', axis_doc_id = ?2, last_error = NULL,
                 updated_at = ?3
             WHERE id = ?1",
            rusqlite::params![outbox_id, axis_doc_id, at],
        )
        .map_err(StoreError::sqlite("mark a packet queued"))?;
    let (kind, document) = outbox_row(connection, outbox_id)?;
    let (event_state, detail) = match kind {
        PacketKind::Edoc => {
            let queued = DocumentState::Queued.as_str();
            connection
                .execute(
                    "UPDATE documents SET state = ?2, axis_doc_id = ?3, updated_at = ?4
                     WHERE id = ?1 AND state IN ('packed', 'sent')",
                    rusqlite::params![document, queued, axis_doc_id, at],
                )
                .map_err(StoreError::sqlite("mark a document queued"))?;
            (
                Some(queued),
                format!("the axis holds the packet as DocId {axis_doc_id}"),
            )
        }
        PacketKind::Status => (
            None,
            format!("status packet accepted by the axis as DocId {axis_doc_id}"),
        ),
    };
    let kind_name = match kind {
        PacketKind::Edoc => "queued",
        PacketKind::Status => "status_queued",
    };
    if first_answer {
        let (packet_sha256, packet_size): (String, i64) = connection
            .query_row(
                "SELECT packet_sha256, packet_size FROM outbox WHERE id = ?1",
                [outbox_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(StoreError::sqlite("read an outbox row"))?;
        super::evidence::append_evidence(
            connection,
            at,
            kind_name,
            &document,
            &serde_json::json!({
                "document": document,
                "packet_sha256": packet_sha256,
                "packet_size": packet_size,
                "axis_answer": {"doc_id": axis_doc_id},
            }),
        )?;
    }
    append_event(connection, &document, at, kind_name, event_state, &detail)
}

fn record_refusal(
    connection: &Connection,
    outbox_id: i64,
    reason: &str,
    at: &str,
) -> Result<(), StoreError> {
    connection
        .execute(
            "UPDATE outbox SET state = 'refused', last_error = ?2, updated_at = ?3 WHERE id = ?1",
            rusqlite::params![outbox_id, reason, at],
        )
        .map_err(StoreError::sqlite("record a refusal"))?;
    let (kind, document) = outbox_row(connection, outbox_id)?;
    match kind {
        PacketKind::Edoc => {
            let quarantined = DocumentState::Quarantined.as_str();
            connection
                .execute(
                    "UPDATE documents SET state = ?2, quarantine_reason = ?3, updated_at = ?4
                     WHERE id = ?1",
                    rusqlite::params![document, quarantined, reason, at],
                )
                .map_err(StoreError::sqlite("quarantine a refused document"))?;
            append_event(
                connection,
                &document,
                at,
                "refused",
                Some(quarantined),
                &format!("the axis refused the packet: {reason}"),
            )
        }
        PacketKind::Status => append_event(
            connection,
            &document,
            at,
            "status_refused",
            None,
            &format!("the axis refused a status packet: {reason}"),
        ),
    }
}
