//! Writes of the clerk's business layer, each in one savepoint on the writer thread: a
//! status the clerk sets (with its packet queued, the số đến taken for 03, a pending
//! request answered), a recall or update request received, and (their SQL in
//! `business_outgoing.rs`) a recall, withdrawal or update of one of our outgoing documents.
//!
//! Owns compare-and-set on the rows: every write re-reads what the caller decided on and
//! writes nothing when it changed ([`ClerkStatusCommit::Changed`], [`BusinessSend::Changed`]),
//! so two clerks racing cannot both win. Never decides which status may follow which
//! (`workflow::business`); every packet blob named here was published before the call.

use rusqlite::{Connection, OptionalExtension};

use super::business_records::{
    BusinessFacts, BusinessSend, ClerkStatusCommit, ClerkStatusOutcome, ClerkStatusWrite,
    NewReceivedRequest, RecallWrite, RequestAnswer, UpdateWrite, Withdrawal,
};
use super::exchange::{append_event, IncomingCommit};
use super::records::{DeliveryOutcome, PacketKind};
use super::{business_outgoing, business_queries, exchange_queries, incoming, Store, StoreError};

/// The incoming register's name in `register_counters` (sổ văn bản đến).
pub const INCOMING_REGISTER: &str = "in";

impl Store {
    /// What the business rules need to know about document `id`.
    pub fn business_facts(&self, id: &str) -> Result<Option<BusinessFacts>, StoreError> {
        self.inner
            .database
            .read(|connection| business_queries::facts(connection, id))
    }

    /// Outgoing document `id` (any state) with what a recall or update packet needs.
    pub fn outgoing_packable(
        &self,
        id: &str,
    ) -> Result<Option<super::records::PackableDocument>, StoreError> {
        self.inner
            .database
            .read(|connection| business_queries::packable(connection, id))
    }

    /// Our incoming document with this DocumentId from `sender`, if any.
    pub fn incoming_by_document_id(
        &self,
        document_id: &str,
        sender: &str,
    ) -> Result<Option<String>, StoreError> {
        self.inner.database.read(|connection| {
            business_queries::incoming_by_document_id(connection, document_id, sender)
        })
    }

    /// Sets a status the clerk chose on an incoming document, in one transaction: the
    /// status row, its packet in the outbox, the event, for 03 the next số đến, for 15/16
    /// the answer and what it changes. Writes nothing and answers `Changed` when the
    /// document moved since the caller read it.
    pub async fn set_clerk_status(
        &self,
        write: ClerkStatusWrite,
    ) -> Result<ClerkStatusCommit, StoreError> {
        self.inner
            .database
            .write(move |connection| set_clerk_status(connection, &write))
            .await
    }

    /// Records a recall/update packet, or the status 13 of a recall, received about one of
    /// our incoming documents: one pending request per recall, whichever of its two
    /// packets comes first. Idempotent per delivery docId.
    pub async fn record_received_request(
        &self,
        request: NewReceivedRequest,
    ) -> Result<IncomingCommit, StoreError> {
        self.inner
            .database
            .write(move |connection| record_received_request(connection, &request))
            .await
    }

    /// Cancels an outgoing document that has not been handed to the axis yet (its packet,
    /// if any, is withdrawn from the outbox), or says it is too late for that.
    pub async fn withdraw_outgoing(
        &self,
        id: String,
        reason: String,
        at: String,
    ) -> Result<Withdrawal, StoreError> {
        self.inner
            .database
            .write(move |connection| {
                business_outgoing::withdraw_outgoing(connection, &id, &reason, &at)
            })
            .await
    }

    /// Queues a recall: the BussinessDocType 1 packet, one status 13 per recipient, one
    /// sent request per recipient.
    pub async fn record_recall_sent(&self, write: RecallWrite) -> Result<BusinessSend, StoreError> {
        self.inner
            .database
            .write(move |connection| business_outgoing::record_recall_sent(connection, &write))
            .await
    }

    /// Queues an update: the BussinessDocType 2 packet, the new meta (version + 1), one
    /// sent request per recipient asked.
    pub async fn record_update_sent(&self, write: UpdateWrite) -> Result<BusinessSend, StoreError> {
        self.inner
            .database
            .write(move |connection| business_outgoing::record_update_sent(connection, &write))
            .await
    }
}

/// The row's business fields, for the compare-and-set.
pub(super) struct Current {
    pub(super) direction: String,
    pub(super) state: String,
    pub(super) business_status: Option<String>,
    pub(super) cancelled: bool,
    pub(super) version: u32,
}

pub(super) fn current(connection: &Connection, id: &str) -> Result<Option<Current>, StoreError> {
    connection
        .query_row(
            "SELECT direction, state, business_status, cancelled_at IS NOT NULL, version
             FROM documents WHERE id = ?1",
            [id],
            |row| {
                Ok(Current {
                    direction: row.get(0)?,
                    state: row.get(1)?,
                    business_status: row.get(2)?,
                    cancelled: row.get(3)?,
                    version: row.get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
                })
            },
        )
        .optional()
        .map_err(StoreError::sqlite("read a document's business fields"))
}

fn set_clerk_status(
    connection: &Connection,
    write: &ClerkStatusWrite,
) -> Result<ClerkStatusCommit, StoreError> {
    let Some(row) = current(connection, &write.document)? else {
        return Ok(ClerkStatusCommit::Changed);
    };
    let unchanged = row.direction == "in"
        && row.state == "received"
        && !row.cancelled
        && row.business_status == write.expected_status
        && row.version == write.expected_version;
    if !unchanged {
        return Ok(ClerkStatusCommit::Changed);
    }
    // The same status set again within the same second (a clerk's retry after a lost
    // answer, a double click; only a status that may follow itself, 04, gets here) makes
    // a packet byte for byte the one already queued: the axis would take it for a resend
    // of the first and deliver nothing, and we would record a status the sender never
    // gets. It is the status already recorded: answer that, and write nothing.
    if write.answer.is_none() && status_packet_queued(connection, write)? {
        return clerk_outcome(connection, &write.document).map(ClerkStatusCommit::Committed);
    }
    if let Some(answer) = &write.answer {
        if !answer_request(connection, &write.document, answer, &write.at)? {
            return Ok(ClerkStatusCommit::Changed);
        }
    }
    incoming::queue_status(
        connection,
        &write.document,
        write.priority,
        &write.status,
        &write.at,
    )?;
    if let Some(status) = &write.new_business_status {
        connection
            .execute(
                "UPDATE documents SET business_status = ?2, updated_at = ?3 WHERE id = ?1",
                rusqlite::params![write.document, status, write.at],
            )
            .map_err(StoreError::sqlite("set a business status"))?;
    }
    if let Some(year) = write.register_year {
        register_incoming(connection, &write.document, year, &write.at)?;
    }
    if let Some(answer) = &write.answer {
        apply_answer(connection, &write.document, answer, &write.at)?;
    }
    clerk_outcome(connection, &write.document).map(ClerkStatusCommit::Committed)
}

/// Whether the status packet of `write` (the same bytes) is already in the outbox for
/// its document.
fn status_packet_queued(
    connection: &Connection,
    write: &ClerkStatusWrite,
) -> Result<bool, StoreError> {
    connection
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox
                 WHERE document = ?1 AND kind = 'status' AND packet_sha256 = ?2)",
            rusqlite::params![write.document, write.status.packet.sha256],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("look up a status packet"))
}

/// The business fields a clerk's status answers with.
fn clerk_outcome(
    connection: &Connection,
    document: &str,
) -> Result<ClerkStatusOutcome, StoreError> {
    connection
        .query_row(
            "SELECT business_status, incoming_number, registered_at, cancelled_at IS NOT NULL,
                 version
             FROM documents WHERE id = ?1",
            [document],
            |row| {
                Ok(ClerkStatusOutcome {
                    business_status: row.get(0)?,
                    incoming_number: row.get(1)?,
                    registered_at: row.get(2)?,
                    cancelled: row.get(3)?,
                    version: row.get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
                })
            },
        )
        .map_err(StoreError::sqlite("read a document's business fields"))
}

/// Takes the next số đến of `year` (continuous, in order of acceptance: the counter moves
/// in this same transaction) and writes it on the document.
fn register_incoming(
    connection: &Connection,
    document: &str,
    year: i32,
    at: &str,
) -> Result<(), StoreError> {
    let number: i64 = connection
        .query_row(
            "INSERT INTO register_counters (register, year, last_number) VALUES (?1, ?2, 1)
             ON CONFLICT (register, year) DO UPDATE SET last_number = last_number + 1
             RETURNING last_number",
            rusqlite::params![INCOMING_REGISTER, year],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("advance the incoming register"))?;
    connection
        .execute(
            "UPDATE documents SET incoming_number = ?2, register_year = ?3, registered_at = ?4
             WHERE id = ?1",
            rusqlite::params![document, number, year, at],
        )
        .map_err(StoreError::sqlite("register an incoming document"))?;
    append_event(
        connection,
        document,
        at,
        "registered",
        None,
        &format!("số đến {number} in the {year} incoming register"),
    )
}

/// Marks the pending request answered; `false` when it is no longer pending.
fn answer_request(
    connection: &Connection,
    document: &str,
    answer: &RequestAnswer,
    at: &str,
) -> Result<bool, StoreError> {
    let changed = connection
        .execute(
            "UPDATE business_requests SET answer = ?3, answered_at = ?4
             WHERE id = ?1 AND document = ?2 AND direction = 'received' AND answer IS NULL",
            rusqlite::params![answer.request_id, document, answer.answer, at],
        )
        .map_err(StoreError::sqlite("answer a request"))?;
    Ok(changed == 1)
}

/// What an agreed request changes: cancellation, or the updated meta (version + 1).
fn apply_answer(
    connection: &Connection,
    document: &str,
    answer: &RequestAnswer,
    at: &str,
) -> Result<(), StoreError> {
    if let Some(update) = &answer.update {
        connection
            .execute(
                "UPDATE documents SET subject = ?2, due_date = ?3, priority = ?4, meta_json = ?5,
                     version = version + 1, updated_at = ?6
                 WHERE id = ?1",
                rusqlite::params![
                    document,
                    update.subject,
                    update.due_date,
                    update.priority,
                    update.meta_json,
                    at
                ],
            )
            .map_err(StoreError::sqlite("apply an update"))?;
        connection
            .execute(
                "UPDATE business_requests SET changes_json = ?2 WHERE id = ?1",
                rusqlite::params![answer.request_id, update.changes_json],
            )
            .map_err(StoreError::sqlite("keep an update's previous values"))?;
        append_event(
            connection,
            document,
            at,
            "updated",
            None,
            "the sender's update was agreed (15) and applied",
        )?;
    }
    if let Some(reason) = &answer.cancel_reason {
        cancel_document(
            connection,
            document,
            at,
            reason,
            ("cancelled", &format!("cancelled in the register: {reason}")),
        )?;
    }
    if answer.update.is_none() && answer.cancel_reason.is_none() {
        append_event(
            connection,
            document,
            at,
            "request_refused",
            None,
            "the sender's request was refused (16); nothing changed",
        )?;
    }
    Ok(())
}

fn record_received_request(
    connection: &Connection,
    request: &NewReceivedRequest,
) -> Result<IncomingCommit, StoreError> {
    if let Some(outcome) = exchange_queries::incoming_delivery(connection, &request.axis_doc_id)? {
        return Ok(IncomingCommit::AlreadyCommitted(outcome));
    }
    let is_status = request.status.is_some();
    let unpaired_recall = if request.kind == "recall" {
        unpaired_recall(connection, request, is_status)?
    } else {
        None
    };
    match unpaired_recall {
        // The recall's other packet came first: the request exists; complete it.
        Some(id) if !is_status => {
            connection
                .execute(
                    "UPDATE business_requests SET packet_sha256 = ?2, axis_doc_id = ?3,
                         reason = CASE WHEN reason = '' THEN ?4 ELSE reason END
                     WHERE id = ?1",
                    rusqlite::params![
                        id,
                        request.packet.sha256,
                        request.axis_doc_id,
                        request.reason
                    ],
                )
                .map_err(StoreError::sqlite("complete a recall request"))?;
        }
        Some(_) => {}
        None => {
            connection
                .execute(
                    "INSERT INTO business_requests (document, direction, kind, organ_id, reason,
                         changes_json, packet_sha256, axis_doc_id, created_at)
                     VALUES (?1, 'received', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    rusqlite::params![
                        request.document,
                        request.kind,
                        request.organ_id,
                        request.reason,
                        request.changes_json,
                        (!is_status).then_some(&request.packet.sha256),
                        (!is_status).then_some(&request.axis_doc_id),
                        request.at
                    ],
                )
                .map_err(StoreError::sqlite("record a request received"))?;
            append_event(
                connection,
                &request.document,
                &request.at,
                &format!("{}_requested", request.kind),
                None,
                &format!(
                    "{} asks to {} the document: {}; answer with status 15 (agree) or 16 (refuse)",
                    request.organ_id, request.kind, request.reason
                ),
            )?;
        }
    }
    if let Some(status) = &request.status {
        incoming::insert_received_status(
            connection,
            incoming::ReceivedStatusRow {
                document: &request.document,
                organ_id: &request.organ_id,
                code: &status.code,
                description: &status.description,
                packet_timestamp: status.packet_timestamp.as_deref(),
                axis_doc_id: &request.axis_doc_id,
                at: &request.at,
            },
        )?;
    }
    let (kind, outcome) = if is_status {
        (PacketKind::Status, DeliveryOutcome::Status)
    } else {
        (PacketKind::Edoc, DeliveryOutcome::Document)
    };
    incoming::insert_ledger(
        connection,
        incoming::LedgerEntry {
            axis_doc_id: &request.axis_doc_id,
            kind,
            outcome,
            document: Some(&request.document),
            packet: Some(&request.packet),
            peer_organ: Some(&request.organ_id),
            reason: None,
            at: &request.at,
        },
    )?;
    Ok(IncomingCommit::Committed)
}

/// The recall request from the same sender that still waits for this packet's half: a
/// recall travels as two packets (BussinessDocType 1 and status 13), in either order and
/// possibly far apart, and the clerk may answer after the first. The BussinessDocType 1
/// packet completes the request that has no packet yet; the status 13 belongs to a request
/// when the sender's recall requests outnumber its 13s. Answered or not: a late half must
/// not open a second request (found by tools/chaos: a 15 given between the two packets
/// left a second request on a cancelled document, which no clerk could answer).
fn unpaired_recall(
    connection: &Connection,
    request: &NewReceivedRequest,
    is_status: bool,
) -> Result<Option<i64>, StoreError> {
    let params = rusqlite::params![request.document, request.organ_id];
    if !is_status {
        return connection
            .query_row(
                "SELECT id FROM business_requests
                 WHERE document = ?1 AND organ_id = ?2 AND direction = 'received'
                     AND kind = 'recall' AND axis_doc_id IS NULL
                 ORDER BY id LIMIT 1",
                params,
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::sqlite(
                "look up a recall request without its packet",
            ));
    }
    let (requests, statuses, latest): (i64, i64, Option<i64>) = connection
        .query_row(
            "SELECT (SELECT count(*) FROM business_requests
                      WHERE document = ?1 AND organ_id = ?2 AND direction = 'received'
                          AND kind = 'recall'),
                    (SELECT count(*) FROM document_statuses
                      WHERE document = ?1 AND organ_id = ?2 AND direction = 'received'
                          AND code = '13'),
                    (SELECT max(id) FROM business_requests
                      WHERE document = ?1 AND organ_id = ?2 AND direction = 'received'
                          AND kind = 'recall')",
            params,
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(StoreError::sqlite(
            "look up a recall request without its status 13",
        ))?;
    Ok(latest.filter(|_| requests > statuses))
}

/// Marks a document cancelled (kept for the record, with the reason) and logs `event`
/// (`(kind, detail)`).
pub(super) fn cancel_document(
    connection: &Connection,
    id: &str,
    at: &str,
    reason: &str,
    event: (&str, &str),
) -> Result<(), StoreError> {
    connection
        .execute(
            "UPDATE documents SET cancelled_at = ?2, cancel_reason = ?3, updated_at = ?2
             WHERE id = ?1",
            rusqlite::params![id, at, reason],
        )
        .map_err(StoreError::sqlite("cancel a document"))?;
    append_event(connection, id, at, event.0, None, event.1)
}
