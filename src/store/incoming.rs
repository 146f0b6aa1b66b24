//! Writes for what arrives from the axis: incoming documents (with their status 01 queued
//! in the same transaction), statuses about our documents, and quarantined deliveries, each
//! with its row in the `incoming_deliveries` ledger so a delivery fetched twice is
//! committed once. Runs on the writer thread; knows rows, not rules.

use rusqlite::{Connection, OptionalExtension};

use super::exchange::{append_event, insert_outbox, IncomingCommit};
use super::exchange_queries;
use super::records::{
    DeliveryOutcome, DocumentState, NewIncomingDocument, NewIncomingStatus, NewQuarantine,
    NewStatusPacket, PacketBlob, PacketKind,
};
use super::writer::is_unique_violation;
use super::StoreError;

/// One row of the incoming-delivery ledger.
pub(super) struct LedgerEntry<'a> {
    pub(super) axis_doc_id: &'a str,
    pub(super) kind: PacketKind,
    pub(super) outcome: DeliveryOutcome,
    pub(super) document: Option<&'a str>,
    pub(super) packet: Option<&'a PacketBlob>,
    pub(super) peer_organ: Option<&'a str>,
    pub(super) reason: Option<&'a str>,
    pub(super) at: &'a str,
}

pub(super) fn insert_ledger(
    connection: &Connection,
    entry: LedgerEntry<'_>,
) -> Result<(), StoreError> {
    connection
        .execute(
            "INSERT INTO incoming_deliveries (axis_doc_id, message_type, outcome, document,
                 packet_sha256, packet_size, peer_organ, reason, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![
                entry.axis_doc_id,
                entry.kind.as_str(),
                entry.outcome.as_str(),
                entry.document,
                entry.packet.map(|packet| packet.sha256.as_str()),
                entry.packet.map(|packet| packet.size as i64),
                entry.peer_organ,
                entry.reason,
                entry.at
            ],
        )
        .map_err(StoreError::sqlite("record an incoming delivery"))?;
    Ok(())
}

/// `Some(outcome)` when this delivery is already in the ledger.
fn already(
    connection: &Connection,
    axis_doc_id: &str,
) -> Result<Option<IncomingCommit>, StoreError> {
    Ok(
        exchange_queries::incoming_delivery(connection, axis_doc_id)?
            .map(IncomingCommit::AlreadyCommitted),
    )
}

pub(super) fn commit_incoming(
    connection: &Connection,
    document: &NewIncomingDocument,
) -> Result<IncomingCommit, StoreError> {
    if let Some(done) = already(connection, &document.axis_doc_id)? {
        return Ok(done);
    }
    let received = DocumentState::Received.as_str();
    // A replacement (BussinessDocType 3) links the document it replaces when we hold it
    // (from the same sender); the business status starts at 01, sent below.
    let inserted = connection.execute(
        "INSERT INTO documents (id, direction, document_id, state, subject, code_number,
             code_notation, register_year, meta_json, created_at, updated_at, priority,
             packet_sha256, packet_size, axis_doc_id, peer_organ, signatures_json,
             business_status, due_date, replaces)
         VALUES (?1, 'in', ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
             '01', ?15,
             (SELECT id FROM documents WHERE direction = 'in' AND document_id = ?16
                  AND peer_organ = ?13))",
        rusqlite::params![
            document.id,
            document.document_id,
            received,
            document.subject,
            document.code_number,
            document.code_notation,
            document.meta_json,
            document.at,
            document.priority,
            document.packet.sha256,
            document.packet.size as i64,
            document.axis_doc_id,
            document.peer_organ,
            document.signatures_json,
            document.due_date,
            document.replaces_document_id,
        ],
    );
    if let Err(error) = inserted {
        return Err(if is_unique_violation(&error) {
            StoreError::DuplicateDocumentId {
                document_id: document.document_id.clone().unwrap_or_default(),
            }
        } else {
            StoreError::Sqlite {
                action: "insert an incoming document",
                source: error,
            }
        });
    }
    super::outgoing::insert_files(connection, &document.id, &document.files)?;
    let detail = if document.note.is_empty() {
        format!("fetched from the axis as docId {}", document.axis_doc_id)
    } else {
        format!(
            "fetched from the axis as docId {}; {}",
            document.axis_doc_id, document.note
        )
    };
    append_event(
        connection,
        &document.id,
        &document.at,
        "received",
        Some(received),
        &detail,
    )?;
    link_replaced(connection, &document.id, &document.at)?;
    insert_ledger(
        connection,
        LedgerEntry {
            axis_doc_id: &document.axis_doc_id,
            kind: PacketKind::Edoc,
            outcome: DeliveryOutcome::Document,
            document: Some(&document.id),
            packet: Some(&document.packet),
            peer_organ: Some(&document.peer_organ),
            reason: None,
            at: &document.at,
        },
    )?;
    queue_status(
        connection,
        &document.id,
        document.priority,
        &document.status,
        &document.at,
    )?;
    let signatures_valid = document
        .signatures_json
        .as_deref()
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .and_then(|report| report["valid"].as_bool());
    super::evidence::append_evidence(
        connection,
        &document.at,
        "received",
        &document.id,
        &serde_json::json!({
            "document": document.id,
            "document_id": document.document_id,
            "from": document.peer_organ,
            "delivery": document.axis_doc_id,
            "packet_sha256": document.packet.sha256,
            "packet_size": document.packet.size,
            "files": document.files.iter().map(|file| &file.sha256).collect::<Vec<_>>(),
            "signatures_valid": signatures_valid,
        }),
    )?;
    Ok(IncomingCommit::Committed)
}

/// Notes on both documents that a newly committed one replaces an earlier one.
fn link_replaced(connection: &Connection, id: &str, at: &str) -> Result<(), StoreError> {
    let replaced: Option<(String, Option<String>)> = connection
        .query_row(
            "SELECT old.id, old.document_id FROM documents AS new
                 JOIN documents AS old ON old.id = new.replaces
             WHERE new.id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sqlite("look up a replaced document"))?;
    let Some((old, old_document_id)) = replaced else {
        return Ok(());
    };
    append_event(
        connection,
        id,
        at,
        "replaces",
        None,
        &format!(
            "replaces {old} ({})",
            old_document_id.as_deref().unwrap_or("no DocumentId")
        ),
    )?;
    append_event(
        connection,
        &old,
        at,
        "replaced",
        None,
        &format!("replaced by {id}"),
    )
}

/// Queues a status packet we send about an incoming document, and records the status.
pub(super) fn queue_status(
    connection: &Connection,
    document: &str,
    priority: u8,
    status: &NewStatusPacket,
    at: &str,
) -> Result<(), StoreError> {
    let outbox = insert_outbox(
        connection,
        PacketKind::Status,
        document,
        priority,
        &status.packet,
        at,
    )?;
    connection
        .execute(
            "INSERT INTO document_statuses (document, direction, organ_id, code, description,
                 packet_timestamp, outbox, recorded_at)
             VALUES (?1, 'sent', ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                document,
                status.organ_id,
                status.code,
                status.description,
                status.packet_timestamp,
                outbox,
                at
            ],
        )
        .map_err(StoreError::sqlite("record a status sent"))?;
    append_event(
        connection,
        document,
        at,
        "status_sent",
        None,
        &format!("status {} queued for the sender", status.code),
    )
}

/// A status received from a recipient (or a sender's 13), as one `document_statuses` row.
pub(super) struct ReceivedStatusRow<'a> {
    pub document: &'a str,
    pub organ_id: &'a str,
    pub code: &'a str,
    pub description: &'a str,
    pub packet_timestamp: Option<&'a str>,
    pub axis_doc_id: &'a str,
    pub at: &'a str,
}

pub(super) fn insert_received_status(
    connection: &Connection,
    row: ReceivedStatusRow<'_>,
) -> Result<(), StoreError> {
    connection
        .execute(
            "INSERT INTO document_statuses (document, direction, organ_id, code, description,
                 packet_timestamp, axis_doc_id, recorded_at)
             VALUES (?1, 'received', ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                row.document,
                row.organ_id,
                row.code,
                row.description,
                row.packet_timestamp,
                row.axis_doc_id,
                row.at
            ],
        )
        .map_err(StoreError::sqlite("record a status received"))?;
    Ok(())
}

pub(super) fn record_incoming_status(
    connection: &Connection,
    status: &NewIncomingStatus,
) -> Result<IncomingCommit, StoreError> {
    if let Some(done) = already(connection, &status.axis_doc_id)? {
        return Ok(done);
    }
    insert_received_status(
        connection,
        ReceivedStatusRow {
            document: &status.document,
            organ_id: &status.organ_id,
            code: &status.code,
            description: &status.description,
            packet_timestamp: status.packet_timestamp.as_deref(),
            axis_doc_id: &status.axis_doc_id,
            at: &status.at,
        },
    )?;
    super::business_outgoing::record_answer_received(
        connection,
        &status.document,
        &status.organ_id,
        &status.code,
        &status.at,
    )?;
    append_event(
        connection,
        &status.document,
        &status.at,
        "status_received",
        None,
        &format!(
            "status {} from {}: {}",
            status.code, status.organ_id, status.description
        ),
    )?;
    insert_ledger(
        connection,
        LedgerEntry {
            axis_doc_id: &status.axis_doc_id,
            kind: PacketKind::Status,
            outcome: DeliveryOutcome::Status,
            document: Some(&status.document),
            packet: Some(&status.packet),
            peer_organ: Some(&status.organ_id),
            reason: None,
            at: &status.at,
        },
    )?;
    Ok(IncomingCommit::Committed)
}

pub(super) fn commit_quarantined(
    connection: &Connection,
    quarantine: &NewQuarantine,
) -> Result<IncomingCommit, StoreError> {
    if let Some(done) = already(connection, &quarantine.axis_doc_id)? {
        return Ok(done);
    }
    let document =
        match &quarantine.document_row {
            Some(id) => {
                let quarantined = DocumentState::Quarantined.as_str();
                connection
                .execute(
                    "INSERT INTO documents (id, direction, document_id, state, subject, meta_json,
                         created_at, updated_at, packet_sha256, packet_size, axis_doc_id,
                         peer_organ, quarantine_reason)
                     VALUES (?1, 'in', NULL, ?2, '(unusable packet from the axis)', '{}', ?3, ?3,
                         ?4, ?5, ?6, ?7, ?8)",
                    rusqlite::params![
                        id,
                        quarantined,
                        quarantine.at,
                        quarantine.packet.as_ref().map(|packet| packet.sha256.as_str()),
                        quarantine.packet.as_ref().map(|packet| packet.size as i64),
                        quarantine.axis_doc_id,
                        quarantine.peer_organ,
                        quarantine.reason
                    ],
                )
                .map_err(StoreError::sqlite("insert a quarantined document"))?;
                append_event(
                    connection,
                    id,
                    &quarantine.at,
                    "quarantined",
                    Some(quarantined),
                    &quarantine.reason,
                )?;
                Some(id.as_str())
            }
            None => None,
        };
    insert_ledger(
        connection,
        LedgerEntry {
            axis_doc_id: &quarantine.axis_doc_id,
            kind: quarantine.kind,
            outcome: DeliveryOutcome::Quarantined,
            document,
            packet: quarantine.packet.as_ref(),
            peer_organ: quarantine.peer_organ.as_deref(),
            reason: Some(&quarantine.reason),
            at: &quarantine.at,
        },
    )?;
    Ok(IncomingCommit::Committed)
}
