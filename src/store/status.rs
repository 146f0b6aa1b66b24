//! Read-side counts for the status page, `/healthz`, `/metrics` and `docgate status`: how
//! many documents wait where, the oldest waiting, and the totals of what went through.
//! Counts and states only, never a document's content. They are read on every request, so
//! each is answered from a small covering index or a totals table (migration 9's), never by
//! reading every document, packet or delivery: over a million documents the whole status
//! page answers in about a millisecond (`benches/status_page.rs`). A test below holds every
//! query to that with `EXPLAIN QUERY PLAN`.

use rusqlite::Connection;
use serde::Serialize;

use super::{Store, StoreError};

/// The counts behind the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Outgoing documents committed but not yet confirmed by the axis (accepted, signed,
    /// packed, sent).
    pub waiting_to_send: u64,
    /// When the oldest of them was committed (RFC 3339 UTC).
    pub oldest_waiting_since: Option<String>,
    /// Packets handed to the axis and not yet confirmed (outbox `sent`).
    pub sent_unconfirmed: u64,
    /// Outgoing documents the axis refused for good, or that could not be packed
    /// (quarantined, with a reason each).
    pub failed_outgoing: u64,
    /// Incoming packets kept in quarantine (unreadable or unacceptable).
    pub quarantined_incoming: u64,
    /// Incoming documents the clerk has not accepted or refused yet (status 01).
    pub awaiting_clerk: u64,
    /// Incoming documents past their due date and still open.
    pub overdue: u64,
    /// Secret documents registered and kept (never sent).
    pub registered_only: u64,
}

/// Totals since the store was created (for counters in `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExchangeTotals {
    /// Packets the axis confirmed, by kind (`edoc`, `status`).
    pub sent: Vec<(String, u64)>,
    /// Packets the axis refused for good, by kind.
    pub refused: Vec<(String, u64)>,
    /// Incoming deliveries committed, by outcome (`document`, `status`, `quarantined`).
    pub received: Vec<(String, u64)>,
}

impl Store {
    /// The queue counts; `today` (`YYYY-MM-DD`, Vietnam time) decides what is overdue.
    pub fn queue_counts(&self, today: &str) -> Result<QueueCounts, StoreError> {
        let today = today.to_string();
        self.inner
            .database
            .read(move |connection| queue_counts(connection, &today))
    }

    /// When the newest document was recorded (RFC 3339 UTC), for the clock check.
    pub fn newest_record_time(&self) -> Result<Option<String>, StoreError> {
        self.inner.database.read(|connection| {
            connection
                .query_row(NEWEST_RECORD, [], |row| row.get::<_, Option<String>>(0))
                .map_err(StoreError::sqlite("find the newest document"))
        })
    }

    /// The exchange totals.
    pub fn exchange_totals(&self) -> Result<ExchangeTotals, StoreError> {
        self.inner.database.read(exchange_totals)
    }
}

fn count(connection: &Connection, sql: &str, today: Option<&str>) -> Result<u64, StoreError> {
    let value: i64 = match today {
        Some(today) => connection.query_row(sql, [today], |row| row.get(0)),
        None => connection.query_row(sql, [], |row| row.get(0)),
    }
    .map_err(StoreError::sqlite("count documents for the status page"))?;
    Ok(value.max(0) as u64)
}

/// Outgoing documents committed and not yet confirmed by the axis, and the oldest of them
/// (by migration 9's partial index, which holds only them).
const WAITING_TO_SEND: &str = "SELECT count(*), min(created_at) FROM documents
     INDEXED BY documents_waiting_to_send
     WHERE direction = 'out' AND state IN ('accepted', 'signed', 'packed', 'sent')
       AND cancelled_at IS NULL";

/// Packets handed to the axis and not confirmed (migration 9's totals).
const SENT_UNCONFIRMED: &str =
    "SELECT coalesce(sum(packets), 0) FROM outbox_totals WHERE state = 'sent'";

/// Outgoing documents refused for good (the direction/state index).
const FAILED_OUTGOING: &str =
    "SELECT count(*) FROM documents WHERE direction = 'out' AND state = 'quarantined'";

/// Incoming deliveries kept in quarantine (migration 9's totals).
const QUARANTINED_INCOMING: &str = "SELECT coalesce(sum(deliveries), 0)
     FROM incoming_delivery_totals WHERE outcome = 'quarantined'";

/// Incoming documents the clerk has not answered (by migration 9's partial index, which
/// holds only them; named, so that the count never falls back to a scan).
const AWAITING_CLERK: &str = "SELECT count(*) FROM documents
     INDEXED BY documents_awaiting_clerk
     WHERE direction = 'in' AND state = 'received' AND cancelled_at IS NULL
       AND business_status = '01'";

/// Incoming documents past their due date and still open (by migration 9's partial index of
/// the open ones with a due date).
const OVERDUE: &str = "SELECT count(*) FROM documents
     INDEXED BY documents_open_due
     WHERE direction = 'in' AND cancelled_at IS NULL AND due_date IS NOT NULL
       AND coalesce(business_status, '') NOT IN ('02', '06') AND due_date < ?1";

/// Secret documents registered and kept (the direction/state index).
const REGISTERED_ONLY: &str =
    "SELECT count(*) FROM documents WHERE direction = 'out' AND state = 'registered'";

/// The newest document's time (the `created_at` index).
const NEWEST_RECORD: &str = "SELECT max(created_at) FROM documents";

/// Packets the axis confirmed (`queued`) or refused, by kind (migration 9's totals).
const OUTBOX_BY_KIND: &str = "SELECT kind, packets FROM outbox_totals
     WHERE state = ?1 AND packets > 0 ORDER BY kind";

/// Incoming deliveries by outcome (migration 9's totals).
const DELIVERIES_BY_OUTCOME: &str = "SELECT outcome, deliveries FROM incoming_delivery_totals
     WHERE deliveries > 0 ORDER BY outcome";

fn queue_counts(connection: &Connection, today: &str) -> Result<QueueCounts, StoreError> {
    let (waiting_to_send, oldest_waiting_since) = connection
        .query_row(WAITING_TO_SEND, [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<String>>(1)?))
        })
        .map_err(StoreError::sqlite("count the documents waiting to be sent"))?;
    Ok(QueueCounts {
        waiting_to_send: waiting_to_send.max(0) as u64,
        oldest_waiting_since,
        sent_unconfirmed: count(connection, SENT_UNCONFIRMED, None)?,
        failed_outgoing: count(connection, FAILED_OUTGOING, None)?,
        quarantined_incoming: count(connection, QUARANTINED_INCOMING, None)?,
        awaiting_clerk: count(connection, AWAITING_CLERK, None)?,
        overdue: count(connection, OVERDUE, Some(today))?,
        registered_only: count(connection, REGISTERED_ONLY, None)?,
    })
}

fn grouped(
    connection: &Connection,
    sql: &str,
    parameter: Option<&str>,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut statement = connection
        .prepare(sql)
        .map_err(StoreError::sqlite("total the exchange"))?;
    let parameters = rusqlite::params_from_iter(parameter);
    let rows = statement
        .query_map(parameters, |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?.max(0) as u64,
            ))
        })
        .map_err(StoreError::sqlite("total the exchange"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("total the exchange"))
}

fn exchange_totals(connection: &Connection) -> Result<ExchangeTotals, StoreError> {
    Ok(ExchangeTotals {
        sent: grouped(connection, OUTBOX_BY_KIND, Some("queued"))?,
        refused: grouped(connection, OUTBOX_BY_KIND, Some("refused"))?,
        received: grouped(connection, DELIVERIES_BY_OUTCOME, None)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::exchange_tests::{blob, incoming, outgoing};

    /// `EXPLAIN QUERY PLAN` of `query` (its `?1`, if any, bound to a date), one detail each.
    fn plan(store: &Store, query: &str) -> Vec<String> {
        store
            .inner
            .database
            .read(|connection| {
                let mut statement = connection
                    .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
                    .map_err(StoreError::sqlite("plan"))?;
                let parameters = usize::from(query.contains("?1"));
                let values = rusqlite::params_from_iter(std::iter::repeat_n("queued", parameters));
                let details = statement
                    .query_map(values, |row| row.get::<_, String>(3))
                    .map_err(StoreError::sqlite("plan"))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(StoreError::sqlite("plan"))?;
                Ok(details)
            })
            .expect("plan")
    }

    /// Every count is answered from an index alone or from a totals table: none reads every
    /// document, packet or delivery, and none looks the counted rows up one by one (a
    /// non-covering index), which with a million documents is what made the page slow.
    #[test]
    fn every_count_reads_only_an_index_or_a_total() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for (query, expected) in [
            (WAITING_TO_SEND, "COVERING INDEX documents_waiting_to_send"),
            (SENT_UNCONFIRMED, "outbox_totals"),
            (FAILED_OUTGOING, "COVERING INDEX documents_direction_state"),
            (QUARANTINED_INCOMING, "incoming_delivery_totals"),
            (AWAITING_CLERK, "COVERING INDEX documents_awaiting_clerk"),
            (OVERDUE, "COVERING INDEX documents_open_due"),
            (REGISTERED_ONLY, "COVERING INDEX documents_direction_state"),
            (NEWEST_RECORD, "COVERING INDEX documents_created_at"),
            (OUTBOX_BY_KIND, "outbox_totals"),
            (DELIVERIES_BY_OUTCOME, "incoming_delivery_totals"),
        ] {
            let details = plan(&store, query);
            assert!(
                details.iter().any(|detail| detail.contains(expected)),
                "{query}: {details:?}"
            );
            for detail in &details {
                let scanned = detail
                    .strip_prefix("SCAN ")
                    .and_then(|rest| rest.split_whitespace().next());
                assert!(
                    scanned.is_none_or(|table| table.ends_with("_totals")),
                    "{query}: only a totals table may be scanned: {details:?}"
                );
                assert!(
                    !detail.contains("USING INDEX"),
                    "{query}: the index must cover the query: {details:?}"
                );
            }
        }
        store.close();
    }

    /// The totals tables agree with the rows they total after every kind of write.
    #[tokio::test]
    async fn the_totals_follow_the_packets_and_deliveries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let counted = |store: &Store| -> ExchangeTotals {
            store
                .inner
                .database
                .read(|connection| {
                    let by_kind = "SELECT kind, count(*) FROM outbox WHERE state = ?1
                         GROUP BY kind ORDER BY kind";
                    Ok(ExchangeTotals {
                        sent: grouped(connection, by_kind, Some("queued"))?,
                        refused: grouped(connection, by_kind, Some("refused"))?,
                        received: grouped(
                            connection,
                            "SELECT outcome, count(*) FROM incoming_deliveries
                             GROUP BY outcome ORDER BY outcome",
                            None,
                        )?,
                    })
                })
                .expect("count the rows")
        };
        let mut outbox = Vec::new();
        for index in 0..3 {
            let accepted = store
                .accept_outgoing(outgoing(index))
                .await
                .expect("accept");
            let packet = blob(&store, format!("packet {index}").as_bytes());
            store
                .mark_packed(
                    accepted.identity.id,
                    crate::store::DocumentState::Accepted,
                    packet,
                    0,
                    "t".into(),
                )
                .await
                .expect("pack");
        }
        store
            .commit_incoming(incoming(&store, "D1", "000.00.00.H41,2026/11/20,01/UBND"))
            .await
            .expect("incoming");
        outbox.extend(store.next_outbox_batch(10).expect("outbox"));
        assert_eq!(outbox.len(), 4);
        assert_eq!(
            store
                .queue_counts("2026-11-22")
                .expect("counts")
                .sent_unconfirmed,
            0
        );
        for item in &outbox {
            store
                .mark_sending(item.id, "t1".into())
                .await
                .expect("sending");
        }
        assert_eq!(
            store
                .queue_counts("2026-11-22")
                .expect("counts")
                .sent_unconfirmed,
            4
        );
        store
            .mark_queued(outbox[0].id, "AXIS-1".into(), "t2".into())
            .await
            .expect("queued");
        store
            .mark_queued(outbox[3].id, "AXIS-2".into(), "t2".into())
            .await
            .expect("queued");
        store
            .record_refusal(outbox[1].id, "code 18".into(), "t3".into())
            .await
            .expect("refused");
        store
            .commit_quarantined(crate::store::NewQuarantine {
                axis_doc_id: "D2".into(),
                kind: crate::store::PacketKind::Status,
                reason: "unreadable".into(),
                packet: None,
                peer_organ: None,
                document_row: None,
                at: "t4".into(),
            })
            .await
            .expect("quarantine");
        let totals = store.exchange_totals().expect("totals");
        assert_eq!(totals, counted(&store));
        assert_eq!(
            totals.sent,
            vec![("edoc".to_string(), 1), ("status".to_string(), 1)]
        );
        assert_eq!(totals.refused, vec![("edoc".to_string(), 1)]);
        assert_eq!(
            totals.received,
            vec![("document".to_string(), 1), ("quarantined".to_string(), 1)]
        );
        let counts = store.queue_counts("2026-11-22").expect("counts");
        assert_eq!(
            (counts.sent_unconfirmed, counts.quarantined_incoming),
            (1, 1)
        );
        store.close();
    }

    #[tokio::test]
    async fn counts_follow_the_documents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for index in 0..3 {
            store
                .accept_outgoing(outgoing(index))
                .await
                .expect("accept");
        }
        let mut late = incoming(&store, "D1", "000.00.00.H41,2026/11/20,01/UBND");
        late.due_date = Some("2026-11-01".into());
        store.commit_incoming(late).await.expect("incoming");
        let counts = store.queue_counts("2026-11-22").expect("counts");
        assert_eq!(counts.waiting_to_send, 3);
        assert_eq!(
            counts.oldest_waiting_since.as_deref(),
            Some("2026-11-21T00:00:00.000Z")
        );
        assert_eq!(counts.awaiting_clerk, 1);
        assert_eq!(counts.overdue, 1);
        assert_eq!(store.queue_counts("2026-10-01").expect("counts").overdue, 0);
        let totals = store.exchange_totals().expect("totals");
        assert_eq!(totals.received, vec![("document".to_string(), 1)]);
        // The status 01 is queued, not yet confirmed.
        assert!(totals.sent.is_empty());
    }
}
