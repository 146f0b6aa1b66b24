//! Read-side queries of the business layer: the facts the status rules need, the
//! requests of a document, and the per-recipient status view of an outgoing document.
//! Each takes a connection; none writes.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension};

use super::business_records::{
    BusinessFacts, BusinessInfo, BusinessRequestRecord, Cancellation, PendingRequest,
    RecipientStatus, RecipientView,
};
use super::StoreError;

fn to_u32(value: i64) -> u32 {
    value.clamp(0, i64::from(u32::MAX)) as u32
}

pub(super) fn facts(
    connection: &Connection,
    id: &str,
) -> Result<Option<BusinessFacts>, StoreError> {
    let found = connection
        .query_row(
            "SELECT id, direction, state, document_id, peer_organ, priority, business_status,
                 cancelled_at IS NOT NULL, version, meta_json, incoming_number
             FROM documents WHERE id = ?1",
            [id],
            |row| {
                Ok(BusinessFacts {
                    id: row.get(0)?,
                    direction: row.get(1)?,
                    state: row.get(2)?,
                    document_id: row.get(3)?,
                    peer_organ: row.get(4)?,
                    priority: row.get::<_, i64>(5)?.clamp(0, 255) as u8,
                    business_status: row.get(6)?,
                    cancelled: row.get(7)?,
                    version: to_u32(row.get(8)?),
                    meta_json: row.get(9)?,
                    incoming_number: row.get::<_, Option<i64>>(10)?.map(to_u32),
                    pending_request: None,
                    recall_outstanding: false,
                    outbox_state: None,
                })
            },
        )
        .optional()
        .map_err(StoreError::sqlite("read a document's business facts"))?;
    let Some(mut facts) = found else {
        return Ok(None);
    };
    facts.pending_request = connection
        .query_row(
            "SELECT id, kind, reason, changes_json FROM business_requests
             WHERE document = ?1 AND direction = 'received' AND answer IS NULL
             ORDER BY id LIMIT 1",
            [id],
            |row| {
                Ok(PendingRequest {
                    id: row.get(0)?,
                    kind: row.get(1)?,
                    reason: row.get(2)?,
                    changes_json: row.get(3)?,
                })
            },
        )
        .optional()
        .map_err(StoreError::sqlite("read a pending request"))?;
    facts.recall_outstanding = connection
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM business_requests
                 WHERE document = ?1 AND direction = 'sent' AND kind = 'recall'
                     AND (answer IS NULL OR answer = '15'))",
            [id],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("look up a recall sent"))?;
    facts.outbox_state = connection
        .query_row(
            "SELECT state FROM outbox WHERE document = ?1 AND kind = 'edoc' AND business_type = 0",
            [id],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("read an outbox row"))?;
    Ok(Some(facts))
}

pub(super) fn incoming_by_document_id(
    connection: &Connection,
    document_id: &str,
    sender: &str,
) -> Result<Option<String>, StoreError> {
    connection
        .query_row(
            "SELECT id FROM documents
             WHERE direction = 'in' AND document_id = ?1 AND peer_organ = ?2",
            [document_id, sender],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("look up an incoming document"))
}

/// The business view of document `id` (its status, số đến and due date are in the
/// summary).
pub(super) fn business_info(
    connection: &Connection,
    id: &str,
    outgoing: bool,
    meta: &serde_json::Value,
) -> Result<BusinessInfo, StoreError> {
    let mut info = connection
        .query_row(
            "SELECT registered_at, cancelled_at, cancel_reason, replaces, version,
                 (SELECT id FROM documents AS newer WHERE newer.replaces = documents.id
                  ORDER BY newer.id DESC LIMIT 1)
             FROM documents WHERE id = ?1",
            [id],
            |row| {
                let cancelled_at: Option<String> = row.get(1)?;
                let cancel_reason: Option<String> = row.get(2)?;
                Ok(BusinessInfo {
                    registered_at: row.get(0)?,
                    cancelled: cancelled_at.map(|at| Cancellation {
                        at,
                        reason: cancel_reason.unwrap_or_default(),
                    }),
                    replaces: row.get(3)?,
                    version: to_u32(row.get(4)?),
                    replaced_by: row.get(5)?,
                    ..BusinessInfo::default()
                })
            },
        )
        .map_err(StoreError::sqlite("read a document's business fields"))?;
    info.requests = requests(connection, id)?;
    if outgoing {
        info.recipients = Some(recipients(connection, id, meta, &info.requests)?);
    }
    Ok(info)
}

fn requests(connection: &Connection, id: &str) -> Result<Vec<BusinessRequestRecord>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT id, direction, kind, organ_id, reason, changes_json, answer, answered_at,
                 created_at
             FROM business_requests WHERE document = ?1 ORDER BY id",
        )
        .map_err(StoreError::sqlite("read requests"))?;
    let rows = statement
        .query_map([id], |row| {
            let changes: Option<String> = row.get(5)?;
            Ok(BusinessRequestRecord {
                id: row.get(0)?,
                direction: row.get(1)?,
                kind: row.get(2)?,
                organ_id: row.get(3)?,
                reason: row.get(4)?,
                changes: changes.and_then(|text| serde_json::from_str(&text).ok()),
                answer: row.get(6)?,
                answered_at: row.get(7)?,
                created_at: row.get(8)?,
            })
        })
        .map_err(StoreError::sqlite("read requests"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("read requests"))
}

/// One entry per recipient: those in `meta.to` first (in that order), then any other
/// organ that sent a status or was removed by an update. Statuses are in the order their
/// packets were stamped (`yyyy/MM/dd HH:mm:ss` sorts as text), then as recorded: packets
/// travel a few at a time, so arrival order alone can swap two close statuses.
fn recipients(
    connection: &Connection,
    id: &str,
    meta: &serde_json::Value,
    requests: &[BusinessRequestRecord],
) -> Result<Vec<RecipientView>, StoreError> {
    let mut order: Vec<String> = meta["to"]
        .as_array()
        .map(|to| {
            to.iter()
                .filter_map(|organ| organ.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut statuses: BTreeMap<String, Vec<RecipientStatus>> = BTreeMap::new();
    let mut statement = connection
        .prepare(
            "SELECT organ_id, code, description, packet_timestamp, recorded_at
             FROM document_statuses WHERE document = ?1 AND direction = 'received'
             ORDER BY packet_timestamp, seq",
        )
        .map_err(StoreError::sqlite("read recipient statuses"))?;
    let rows = statement
        .query_map([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                RecipientStatus {
                    code: row.get(1)?,
                    description: row.get(2)?,
                    packet_timestamp: row.get(3)?,
                    recorded_at: row.get(4)?,
                },
            ))
        })
        .map_err(StoreError::sqlite("read recipient statuses"))?;
    for row in rows {
        let (organ, status) = row.map_err(StoreError::sqlite("read recipient statuses"))?;
        statuses.entry(organ).or_default().push(status);
    }
    let removed: Vec<String> = requests
        .iter()
        .filter(|request| request.kind == "update")
        .filter_map(|request| request.changes.as_ref())
        .flat_map(|changes| {
            changes["removed_recipients"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|organ| organ.as_str().map(str::to_string))
        .filter(|organ| !order.contains(organ))
        .collect();
    for organ in statuses.keys().chain(removed.iter()) {
        if !order.contains(organ) {
            order.push(organ.clone());
        }
    }
    Ok(order
        .into_iter()
        .map(|organ| {
            let statuses = statuses.remove(&organ).unwrap_or_default();
            let recalled = requests.iter().any(|request| {
                request.direction == "sent"
                    && request.kind == "recall"
                    && request.organ_id == organ
                    && request.answer.as_deref() == Some("15")
            });
            RecipientView {
                removed: removed.contains(&organ),
                latest_code: statuses.last().map(|status| status.code.clone()),
                organ_id: organ,
                statuses,
                recalled,
            }
        })
        .collect())
}

/// An outgoing document in any state, with what a packet about it needs.
pub(super) fn packable(
    connection: &Connection,
    id: &str,
) -> Result<Option<super::records::PackableDocument>, StoreError> {
    let found = connection
        .query_row(
            &format!(
                "SELECT {} FROM documents WHERE id = ?1 AND direction = 'out'",
                super::exchange_queries::PACKABLE_COLUMNS
            ),
            [id],
            super::exchange_queries::packable_row,
        )
        .optional()
        .map_err(StoreError::sqlite("read an outgoing document"))?;
    let Some(mut document) = found else {
        return Ok(None);
    };
    document.files = super::queries::files(connection, id)?;
    Ok(Some(document))
}
