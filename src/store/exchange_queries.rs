//! Read-side queries for the exchange: documents waiting to be packed, the outbox in send
//! order, the incoming-delivery ledger, and a document's exchange fields and statuses.
//! Each takes a connection; none writes.

use rusqlite::{Connection, OptionalExtension};

use super::records::{
    DeliveryOutcome, DocumentState, DocumentStatusRecord, ExchangeInfo, OutboxItem,
    PackableDocument, PacketBlob, PacketKind,
};
use super::StoreError;

/// The columns [`packable_row`] reads, in its order.
pub(super) const PACKABLE_COLUMNS: &str =
    "id, document_id, subject, code_number, code_notation, meta_json, created_at,
     (SELECT old.document_id FROM documents AS old WHERE old.id = documents.replaces)";

/// A row of [`PACKABLE_COLUMNS`], its files left for the caller to read.
pub(super) fn packable_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PackableDocument> {
    Ok(PackableDocument {
        id: row.get(0)?,
        document_id: row.get(1)?,
        subject: row.get(2)?,
        code_number: row.get(3)?,
        code_notation: row.get(4)?,
        meta_json: row.get(5)?,
        created_at: row.get(6)?,
        files: Vec::new(),
        replaces_document_id: row.get(7)?,
    })
}

pub(super) fn packable_documents(
    connection: &Connection,
    state: DocumentState,
    b_b_sealed_before: Option<&str>,
    limit: u32,
) -> Result<Vec<PackableDocument>, StoreError> {
    // A sealed document waits for its timestamp: it is packable at B-T, or at B-B once
    // sealed before the cut-off (`None`: no seal rule applies). Express documents first
    // (priority 3 hỏa tốc, 4 at a set time; then 2, 1), each level oldest first.
    let mut statement = connection
        .prepare(&format!(
            "SELECT {PACKABLE_COLUMNS}
             FROM documents WHERE direction = 'out' AND state = ?1 AND cancelled_at IS NULL
                 AND (?3 IS NULL OR signature_level IS NULL OR signature_level = 'B-T'
                      OR sealed_at <= ?3)
             ORDER BY priority DESC, id LIMIT ?2"
        ))
        .map_err(StoreError::sqlite("list documents to pack"))?;
    let rows = statement
        .query_map(
            rusqlite::params![state.as_str(), limit, b_b_sealed_before],
            packable_row,
        )
        .map_err(StoreError::sqlite("list documents to pack"))?;
    let mut documents: Vec<PackableDocument> = rows
        .collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("list documents to pack"))?;
    for document in &mut documents {
        document.files = super::queries::files(connection, &document.id)?;
    }
    Ok(documents)
}

pub(super) fn next_outbox_batch(
    connection: &Connection,
    limit: u32,
) -> Result<Vec<OutboxItem>, StoreError> {
    // Express (hỏa tốc, 3 and 4) before very urgent before urgent before normal; within a
    // priority, the oldest first (ids grow with time).
    let mut statement = connection
        .prepare(
            "SELECT id, kind, document, priority, packet_sha256, packet_size, attempts
             FROM outbox WHERE state IN ('pending', 'sent')
             ORDER BY priority DESC, id LIMIT ?1",
        )
        .map_err(StoreError::sqlite("read the outbox"))?;
    let rows = statement
        .query_map([limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, i64>(6)?,
            ))
        })
        .map_err(StoreError::sqlite("read the outbox"))?;
    let mut items = Vec::new();
    for row in rows {
        let (id, kind, document, priority, sha256, size, attempts) =
            row.map_err(StoreError::sqlite("read the outbox"))?;
        let kind = PacketKind::parse(&kind)
            .ok_or_else(|| StoreError::Decode(format!("outbox kind {kind:?}")))?;
        items.push(OutboxItem {
            id,
            kind,
            document,
            priority: priority.clamp(0, 255) as u8,
            packet: PacketBlob {
                sha256,
                size: size.max(0) as u64,
            },
            attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
        });
    }
    Ok(items)
}

pub(super) fn outbox_depth(connection: &Connection) -> Result<u64, StoreError> {
    connection
        .query_row(
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(|count| count.max(0) as u64)
        .map_err(StoreError::sqlite("count the outbox"))
}

pub(super) fn incoming_delivery(
    connection: &Connection,
    axis_doc_id: &str,
) -> Result<Option<DeliveryOutcome>, StoreError> {
    let outcome: Option<String> = connection
        .query_row(
            "SELECT outcome FROM incoming_deliveries WHERE axis_doc_id = ?1",
            [axis_doc_id],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("look up an incoming delivery"))?;
    outcome
        .map(|outcome| {
            DeliveryOutcome::parse(&outcome)
                .ok_or_else(|| StoreError::Decode(format!("delivery outcome {outcome:?}")))
        })
        .transpose()
}

pub(super) fn outgoing_by_document_id(
    connection: &Connection,
    document_id: &str,
) -> Result<Option<String>, StoreError> {
    connection
        .query_row(
            "SELECT id FROM documents WHERE direction = 'out' AND document_id = ?1",
            [document_id],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("look up an outgoing document"))
}

pub(super) fn exchange_info(connection: &Connection, id: &str) -> Result<ExchangeInfo, StoreError> {
    connection
        .query_row(
            "SELECT priority, packet_sha256, packet_size, axis_doc_id, peer_organ,
                 quarantine_reason
             FROM documents WHERE id = ?1",
            [id],
            |row| {
                Ok(ExchangeInfo {
                    priority: row.get::<_, i64>(0)?.clamp(0, 255) as u8,
                    packet_sha256: row.get(1)?,
                    packet_size: row.get::<_, Option<i64>>(2)?.map(|size| size.max(0) as u64),
                    axis_doc_id: row.get(3)?,
                    peer_organ: row.get(4)?,
                    quarantine_reason: row.get(5)?,
                })
            },
        )
        .map_err(StoreError::sqlite("read a document's exchange fields"))
}

/// The stored signature verification report, if any.
pub(super) fn signatures(
    connection: &Connection,
    id: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let text: Option<String> = connection
        .query_row(
            "SELECT signatures_json FROM documents WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("read a document's signature report"))?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|error| StoreError::Decode(error.to_string()))
    })
    .transpose()
}

pub(super) fn statuses(
    connection: &Connection,
    id: &str,
) -> Result<Vec<DocumentStatusRecord>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT direction, organ_id, code, description, packet_timestamp, recorded_at
             FROM document_statuses WHERE document = ?1 ORDER BY seq",
        )
        .map_err(StoreError::sqlite("read document statuses"))?;
    let rows = statement
        .query_map([id], |row| {
            Ok(DocumentStatusRecord {
                direction: row.get(0)?,
                organ_id: row.get(1)?,
                code: row.get(2)?,
                description: row.get(3)?,
                packet_timestamp: row.get(4)?,
                recorded_at: row.get(5)?,
            })
        })
        .map_err(StoreError::sqlite("read document statuses"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("read document statuses"))
}

/// Every blob a row names: document files and packet blobs (documents, outbox, ledger).
pub(super) fn referenced_packet_blobs(connection: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT packet_sha256 FROM documents WHERE packet_sha256 IS NOT NULL
             UNION SELECT packet_sha256 FROM outbox
             UNION SELECT packet_sha256 FROM incoming_deliveries WHERE packet_sha256 IS NOT NULL",
        )
        .map_err(StoreError::sqlite("list referenced packet blobs"))?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(StoreError::sqlite("list referenced packet blobs"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("list referenced packet blobs"))
}
