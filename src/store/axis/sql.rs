//! The axis store's SQL: the one write that commits a packet with its deliveries, the
//! compare-and-set of a delivery's transport state, and the read queries. Each function
//! takes a connection (the writer's savepoint or a pooled reader); none decides anything
//! beyond storage facts (uniqueness, which rows belong to whom).

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Row};

use super::records::{AcceptedPacket, DeliveryRecord, NewPacket, SentRecord, StoredAnswer};
use super::AxisStoreError;
use crate::store::writer::is_unique_violation;
use crate::store::StoreError;
use crate::vdxp::{MessageType, TransportStatus};

/// Separator of the agency codes in `deliveries.recipient_organs` (never in a code).
const ORGAN_SEPARATOR: &str = ";";

pub(super) fn referenced_blobs(connection: &Connection) -> Result<HashSet<String>, StoreError> {
    let mut statement = connection
        .prepare("SELECT DISTINCT sha256 FROM packets")
        .map_err(StoreError::sqlite("list referenced packet files"))?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(StoreError::sqlite("list referenced packet files"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("list referenced packet files"))
}

pub(super) fn find_retry(
    connection: &Connection,
    sender_system: &str,
    sha256: &str,
) -> Result<Option<StoredAnswer>, StoreError> {
    connection
        .query_row(
            "SELECT doc_id, answer_json FROM packets WHERE sender_system = ?1 AND sha256 = ?2",
            [sender_system, sha256],
            |row| {
                Ok(StoredAnswer {
                    doc_id: row.get(0)?,
                    answer_json: row.get(1)?,
                })
            },
        )
        .optional()
        .map_err(StoreError::sqlite("look up a retried packet"))
}

pub(super) fn new_document_holder(
    connection: &Connection,
    sender_organ: &str,
    document_id: &str,
) -> Result<Option<String>, StoreError> {
    connection
        .query_row(
            "SELECT doc_id FROM packets
             WHERE sender_organ = ?1 AND document_id = ?2 AND new_document = 1",
            [sender_organ, document_id],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("look up a DocumentId"))
}

/// Inserts the packet and its deliveries, unless the same bytes from the same system are
/// already stored (then answers the stored packet) or the DocumentId was already issued as
/// a new document by this sender organ.
pub(super) fn accept_packet(
    connection: &Connection,
    packet: &NewPacket,
) -> Result<AcceptedPacket, AxisStoreError> {
    if let Some(stored) = find_retry(connection, &packet.sender_system, &packet.sha256)? {
        return Ok(AcceptedPacket {
            doc_id: stored.doc_id,
            answer_json: stored.answer_json,
            replayed: true,
        });
    }
    if packet.new_document {
        if let Some(document_id) = &packet.document_id {
            if let Some(existing) =
                new_document_holder(connection, &packet.sender_organ, document_id)?
            {
                return Err(AxisStoreError::DuplicateNewDocument {
                    sender_organ: packet.sender_organ.clone(),
                    document_id: document_id.clone(),
                    existing_doc_id: existing,
                });
            }
        }
    }
    let inserted = connection.execute(
        "INSERT INTO packets (doc_id, sender_system, sender_organ, message_type, document_id,
             business_doc_type, new_document, title, notation, sha256, size, answer_json,
             created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        rusqlite::params![
            packet.doc_id,
            packet.sender_system,
            packet.sender_organ,
            packet.message_type.as_str(),
            packet.document_id,
            packet.business_doc_type,
            packet.new_document,
            packet.title,
            packet.notation,
            packet.sha256,
            packet.size as i64,
            packet.answer_json,
            packet.at,
        ],
    );
    if let Err(source) = inserted {
        // The checks above ran in this same transaction, so a uniqueness failure here means
        // a bug, not a race; report it as what it is.
        return Err(if is_unique_violation(&source) {
            AxisStoreError::Store(StoreError::Decode(format!(
                "packet {} collides with a stored one: {source}",
                packet.doc_id
            )))
        } else {
            AxisStoreError::Store(StoreError::Sqlite {
                action: "insert a packet",
                source,
            })
        });
    }
    for delivery in &packet.deliveries {
        connection
            .execute(
                "INSERT INTO deliveries (delivery_id, packet, recipient_system, recipient_organs,
                     state, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'processing', ?5, ?5)",
                rusqlite::params![
                    delivery.delivery_id,
                    packet.doc_id,
                    delivery.recipient_system,
                    delivery.recipient_organs.join(ORGAN_SEPARATOR),
                    packet.at,
                ],
            )
            .map_err(StoreError::sqlite("insert a delivery"))?;
    }
    Ok(AcceptedPacket {
        doc_id: packet.doc_id.clone(),
        answer_json: packet.answer_json.clone(),
        replayed: false,
    })
}

/// Moves a delivery from `expected` to `new`; false when it is not in `expected` (any more).
pub(super) fn set_delivery_state(
    connection: &Connection,
    recipient_system: &str,
    delivery_id: &str,
    expected: TransportStatus,
    new: TransportStatus,
    at: &str,
) -> Result<bool, StoreError> {
    let changed = connection
        .execute(
            "UPDATE deliveries SET state = ?1, updated_at = ?2
             WHERE delivery_id = ?3 AND recipient_system = ?4 AND state = ?5",
            rusqlite::params![
                new.as_str(),
                at,
                delivery_id,
                recipient_system,
                expected.as_str()
            ],
        )
        .map_err(StoreError::sqlite("update a delivery"))?;
    Ok(changed == 1)
}

const DELIVERY_COLUMNS: &str = "d.delivery_id, d.packet, p.sender_system, p.sender_organ,
     p.message_type, d.recipient_organs, d.state, p.sha256, p.size, d.created_at, d.updated_at";

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        delivery_id: row.get(0)?,
        packet_doc_id: row.get(1)?,
        sender_system: row.get(2)?,
        sender_organ: row.get(3)?,
        message_type: message_type(row, 4)?,
        recipient_organs: organs(&row.get::<_, String>(5)?),
        state: transport_status(row, 6)?,
        sha256: row.get(7)?,
        size: row.get::<_, i64>(8)?.max(0) as u64,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

pub(super) fn waiting_deliveries(
    connection: &Connection,
    recipient_system: &str,
    message_type: Option<MessageType>,
    limit: u32,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN packets p ON p.doc_id = d.packet
         WHERE d.recipient_system = ?1 AND d.state = 'processing'
           AND (?2 IS NULL OR p.message_type = ?2)
         ORDER BY d.created_at, d.delivery_id LIMIT ?3"
    );
    let mut statement = connection
        .prepare(&sql)
        .map_err(StoreError::sqlite("list waiting deliveries"))?;
    let rows = statement
        .query_map(
            rusqlite::params![
                recipient_system,
                message_type.map(MessageType::as_str),
                limit
            ],
            delivery_from_row,
        )
        .map_err(StoreError::sqlite("list waiting deliveries"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("list waiting deliveries"))
}

pub(super) fn count_waiting(
    connection: &Connection,
    recipient_system: &str,
) -> Result<u64, StoreError> {
    connection
        .query_row(
            "SELECT count(*) FROM deliveries WHERE recipient_system = ?1 AND state = 'processing'",
            [recipient_system],
            |row| row.get::<_, i64>(0),
        )
        .map(|count| count.max(0) as u64)
        .map_err(StoreError::sqlite("count waiting deliveries"))
}

pub(super) fn delivery(
    connection: &Connection,
    recipient_system: &str,
    delivery_id: &str,
) -> Result<Option<DeliveryRecord>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN packets p ON p.doc_id = d.packet
         WHERE d.delivery_id = ?1 AND d.recipient_system = ?2"
    );
    connection
        .query_row(&sql, [delivery_id, recipient_system], delivery_from_row)
        .optional()
        .map_err(StoreError::sqlite("read a delivery"))
}

pub(super) fn sent_deliveries(
    connection: &Connection,
    sender_system: &str,
    doc_id: Option<&str>,
    limit: u32,
) -> Result<Vec<SentRecord>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT p.doc_id, d.delivery_id, p.sender_organ, d.recipient_organs, d.state,
                    p.title, p.notation, p.created_at, d.updated_at
             FROM packets p JOIN deliveries d ON d.packet = p.doc_id
             WHERE p.sender_system = ?1 AND (?2 IS NULL OR p.doc_id = ?2)
             ORDER BY p.created_at DESC, p.doc_id DESC, d.delivery_id LIMIT ?3",
        )
        .map_err(StoreError::sqlite("list sent deliveries"))?;
    let rows = statement
        .query_map(rusqlite::params![sender_system, doc_id, limit], |row| {
            Ok(SentRecord {
                packet_doc_id: row.get(0)?,
                delivery_id: row.get(1)?,
                sender_organ: row.get(2)?,
                recipient_organs: organs(&row.get::<_, String>(3)?),
                state: transport_status(row, 4)?,
                title: row.get(5)?,
                notation: row.get(6)?,
                sent_at: row.get(7)?,
                updated_at: row.get(8)?,
            })
        })
        .map_err(StoreError::sqlite("list sent deliveries"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("list sent deliveries"))
}

pub(super) fn packet_exists(
    connection: &Connection,
    sender_system: &str,
    doc_id: &str,
) -> Result<bool, StoreError> {
    connection
        .query_row(
            "SELECT 1 FROM packets WHERE doc_id = ?1 AND sender_system = ?2",
            [doc_id, sender_system],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
        .map_err(StoreError::sqlite("look up a sent packet"))
}

fn organs(joined: &str) -> Vec<String> {
    joined
        .split(ORGAN_SEPARATOR)
        .filter(|code| !code.is_empty())
        .map(str::to_owned)
        .collect()
}

fn message_type(row: &Row<'_>, index: usize) -> rusqlite::Result<MessageType> {
    let text: String = row.get(index)?;
    MessageType::parse(&text).ok_or_else(|| decode_error(index, "message type", &text))
}

fn transport_status(row: &Row<'_>, index: usize) -> rusqlite::Result<TransportStatus> {
    let text: String = row.get(index)?;
    TransportStatus::parse(&text).ok_or_else(|| decode_error(index, "transport state", &text))
}

fn decode_error(index: usize, what: &str, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("unknown {what} {text:?}").into(),
    )
}
