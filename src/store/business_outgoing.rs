//! Writes about our outgoing documents in the business layer, each in one savepoint on
//! the writer thread: withdrawal before sending, a recall (BussinessDocType 1 + status 13
//! per recipient), an update (BussinessDocType 2 + the new meta), and a recipient's answer
//! (15/16) to either. Compare-and-set like `business.rs`: a write finding the document
//! changed since the caller decided writes nothing. Never decides; every packet blob named
//! here was published before the call.

use rusqlite::{Connection, OptionalExtension};

use super::business::current;
use super::business_queries;
use super::business_records::{BusinessSend, RecallWrite, UpdateWrite, Withdrawal};
use super::exchange::append_event;
use super::records::PacketBlob;
use super::StoreError;

pub(super) fn withdraw_outgoing(
    connection: &Connection,
    id: &str,
    reason: &str,
    at: &str,
) -> Result<Withdrawal, StoreError> {
    let Some(row) = current(connection, id)? else {
        return Ok(Withdrawal::HandedOver);
    };
    if row.cancelled {
        return Ok(Withdrawal::AlreadyCancelled);
    }
    if !matches!(row.state.as_str(), "accepted" | "signed" | "packed") {
        return Ok(Withdrawal::HandedOver);
    }
    // A packet the sender has started on (`sent`) may already be at the axis.
    let outbox: Option<String> = connection
        .query_row(
            "SELECT state FROM outbox WHERE document = ?1 AND kind = 'edoc' AND business_type = 0",
            [id],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("read an outbox row"))?;
    if outbox.as_deref().is_some_and(|state| state != "pending") {
        return Ok(Withdrawal::HandedOver);
    }
    connection
        .execute(
            "UPDATE outbox SET state = 'refused', last_error = ?2, updated_at = ?3
             WHERE document = ?1 AND kind = 'edoc' AND business_type = 0 AND state = 'pending'",
            rusqlite::params![id, "withdrawn by the office before it was sent", at],
        )
        .map_err(StoreError::sqlite("withdraw a packet"))?;
    super::business::cancel_document(
        connection,
        id,
        at,
        reason,
        (
            "withdrawn",
            &format!("withdrawn before it was handed to the axis; nothing was sent: {reason}"),
        ),
    )?;
    Ok(Withdrawal::Withdrawn)
}

/// Queues an edoc packet of BussinessDocType `business_type` (1 recall, 2 update).
fn insert_business_edoc(
    connection: &Connection,
    document: &str,
    business_type: u8,
    priority: u8,
    packet: &PacketBlob,
    at: &str,
) -> Result<i64, StoreError> {
    connection
        .execute(
            "INSERT INTO outbox (kind, document, priority, packet_sha256, packet_size, state,
                 created_at, updated_at, business_type)
             VALUES ('edoc', ?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?6)",
            rusqlite::params![
                document,
                priority,
                packet.sha256,
                packet.size as i64,
                at,
                business_type
            ],
        )
        .map_err(StoreError::sqlite("queue a business packet"))?;
    Ok(connection.last_insert_rowid())
}

/// One row of `business_requests` for a request we send (one per recipient asked).
struct SentRequest<'a> {
    document: &'a str,
    kind: &'a str,
    recipient: &'a str,
    reason: &'a str,
    changes_json: Option<&'a str>,
    packet: &'a PacketBlob,
    at: &'a str,
}

fn insert_sent_request(
    connection: &Connection,
    request: SentRequest<'_>,
) -> Result<(), StoreError> {
    let SentRequest {
        document,
        kind,
        recipient,
        reason,
        changes_json,
        packet,
        at,
    } = request;
    connection
        .execute(
            "INSERT INTO business_requests (document, direction, kind, organ_id, reason,
                 changes_json, packet_sha256, created_at)
             VALUES (?1, 'sent', ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                document,
                kind,
                recipient,
                reason,
                changes_json,
                packet.sha256,
                at
            ],
        )
        .map_err(StoreError::sqlite("record a request sent"))?;
    Ok(())
}

pub(super) fn record_recall_sent(
    connection: &Connection,
    write: &RecallWrite,
) -> Result<BusinessSend, StoreError> {
    let Some(facts) = business_queries::facts(connection, &write.document)? else {
        return Ok(BusinessSend::Changed);
    };
    if facts.direction != "out" || facts.cancelled || facts.recall_outstanding {
        return Ok(BusinessSend::Changed);
    }
    insert_business_edoc(
        connection,
        &write.document,
        1,
        write.priority,
        &write.edoc,
        &write.at,
    )?;
    for (recipient, status) in &write.statuses {
        super::incoming::queue_status(
            connection,
            &write.document,
            write.priority,
            status,
            &write.at,
        )?;
        insert_sent_request(
            connection,
            SentRequest {
                document: &write.document,
                kind: "recall",
                recipient,
                reason: &write.reason,
                changes_json: None,
                packet: &write.edoc,
                at: &write.at,
            },
        )?;
    }
    append_event(
        connection,
        &write.document,
        &write.at,
        "recall_sent",
        None,
        &format!(
            "recall (BussinessDocType 1 and status 13) queued for {}: {}",
            write
                .statuses
                .iter()
                .map(|(recipient, _)| recipient.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            write.reason
        ),
    )?;
    Ok(BusinessSend::Queued)
}

pub(super) fn record_update_sent(
    connection: &Connection,
    write: &UpdateWrite,
) -> Result<BusinessSend, StoreError> {
    let Some(facts) = business_queries::facts(connection, &write.document)? else {
        return Ok(BusinessSend::Changed);
    };
    if facts.direction != "out"
        || facts.cancelled
        || facts.recall_outstanding
        || facts.version != write.expected_version
    {
        return Ok(BusinessSend::Changed);
    }
    connection
        .execute(
            "UPDATE documents SET subject = ?2, due_date = ?3, priority = ?4, meta_json = ?5,
                 version = version + 1, updated_at = ?6
             WHERE id = ?1",
            rusqlite::params![
                write.document,
                write.subject,
                write.due_date,
                write.priority,
                write.meta_json,
                write.at
            ],
        )
        .map_err(StoreError::sqlite("update an outgoing document"))?;
    insert_business_edoc(
        connection,
        &write.document,
        2,
        write.priority,
        &write.edoc,
        &write.at,
    )?;
    for recipient in &write.asked {
        insert_sent_request(
            connection,
            SentRequest {
                document: &write.document,
                kind: "update",
                recipient,
                reason: &write.reason,
                changes_json: Some(&write.changes_json),
                packet: &write.edoc,
                at: &write.at,
            },
        )?;
    }
    append_event(
        connection,
        &write.document,
        &write.at,
        "update_sent",
        None,
        &format!(
            "update (BussinessDocType 2) queued, version {}: {}",
            write.expected_version + 1,
            write.reason
        ),
    )?;
    Ok(BusinessSend::Queued)
}

/// A status 15/16 from `organ` about our outgoing `document` answers the oldest request
/// still pending for that recipient; an agreed recall recalls the document for it.
pub(super) fn record_answer_received(
    connection: &Connection,
    document: &str,
    organ: &str,
    code: &str,
    at: &str,
) -> Result<(), StoreError> {
    if code != "15" && code != "16" {
        return Ok(());
    }
    let pending: Option<(i64, String)> = connection
        .query_row(
            "SELECT id, kind FROM business_requests
             WHERE document = ?1 AND direction = 'sent' AND organ_id = ?2 AND answer IS NULL
             ORDER BY id LIMIT 1",
            [document, organ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sqlite("look up a request sent"))?;
    let Some((id, kind)) = pending else {
        return Ok(());
    };
    connection
        .execute(
            "UPDATE business_requests SET answer = ?2, answered_at = ?3 WHERE id = ?1",
            rusqlite::params![id, code, at],
        )
        .map_err(StoreError::sqlite("record an answer"))?;
    let detail = match (kind.as_str(), code) {
        ("recall", "15") => {
            format!("{organ} agreed to the recall: the document is recalled for it")
        }
        (kind, "15") => format!("{organ} agreed to the {kind}"),
        (kind, _) => format!("{organ} refused the {kind}"),
    };
    append_event(connection, document, at, "request_answered", None, &detail)
}
