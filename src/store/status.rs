//! Read-side counts for the status page, `/healthz`, `/metrics` and `docgate status`: how
//! many documents wait where, the oldest waiting, and the totals of what went through.
//! Counts and states only, never a document's content. Each query uses an index or a
//! small table, so the page stays fast with a million documents.

use rusqlite::{Connection, OptionalExtension};
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
                .query_row("SELECT max(created_at) FROM documents", [], |row| {
                    row.get::<_, Option<String>>(0)
                })
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

/// Incoming documents the clerk has not answered (by migration 8's partial index; named,
/// so that the count never falls back to scanning every incoming document).
const AWAITING_CLERK: &str = "SELECT count(*) FROM documents
     INDEXED BY documents_incoming_open_status
     WHERE direction = 'in' AND cancelled_at IS NULL AND business_status = '01'
       AND state = 'received'";

/// Incoming documents past their due date and still open (by migration 8's partial index).
const OVERDUE: &str = "SELECT count(*) FROM documents
     INDEXED BY documents_incoming_open_due
     WHERE direction = 'in' AND cancelled_at IS NULL AND due_date IS NOT NULL
       AND coalesce(business_status, '') NOT IN ('02', '06') AND due_date < ?1";

fn queue_counts(connection: &Connection, today: &str) -> Result<QueueCounts, StoreError> {
    const WAITING: &str = "direction = 'out' AND state IN ('accepted', 'signed', 'packed', 'sent')
         AND cancelled_at IS NULL";
    let oldest_waiting_since = connection
        .query_row(
            &format!("SELECT min(created_at) FROM documents WHERE {WAITING}"),
            [],
            |row| row.get::<_, Option<String>>(0),
        )
        .optional()
        .map_err(StoreError::sqlite("find the oldest waiting document"))?
        .flatten();
    Ok(QueueCounts {
        waiting_to_send: count(
            connection,
            &format!("SELECT count(*) FROM documents WHERE {WAITING}"),
            None,
        )?,
        oldest_waiting_since,
        sent_unconfirmed: count(
            connection,
            "SELECT count(*) FROM outbox WHERE state = 'sent'",
            None,
        )?,
        failed_outgoing: count(
            connection,
            "SELECT count(*) FROM documents WHERE direction = 'out' AND state = 'quarantined'",
            None,
        )?,
        quarantined_incoming: count(
            connection,
            "SELECT count(*) FROM incoming_deliveries WHERE outcome = 'quarantined'",
            None,
        )?,
        awaiting_clerk: count(connection, AWAITING_CLERK, None)?,
        overdue: count(connection, OVERDUE, Some(today))?,
        registered_only: count(
            connection,
            "SELECT count(*) FROM documents WHERE direction = 'out' AND state = 'registered'",
            None,
        )?,
    })
}

fn grouped(connection: &Connection, sql: &str) -> Result<Vec<(String, u64)>, StoreError> {
    let mut statement = connection
        .prepare(sql)
        .map_err(StoreError::sqlite("total the exchange"))?;
    let rows = statement
        .query_map([], |row| {
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
        sent: grouped(
            connection,
            "SELECT kind, count(*) FROM outbox WHERE state = 'queued' GROUP BY kind ORDER BY kind",
        )?,
        refused: grouped(
            connection,
            "SELECT kind, count(*) FROM outbox WHERE state = 'refused' GROUP BY kind ORDER BY kind",
        )?,
        received: grouped(
            connection,
            "SELECT outcome, count(*) FROM incoming_deliveries GROUP BY outcome ORDER BY outcome",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::exchange_tests::{incoming, outgoing};

    /// The page's counts of open incoming documents use the partial indexes, not a scan of
    /// every incoming document.
    #[test]
    fn open_counts_use_their_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for (query, index) in [
            (AWAITING_CLERK, "documents_incoming_open_status"),
            (OVERDUE, "documents_incoming_open_due"),
        ] {
            let plan: String = store
                .inner
                .database
                .read(|connection| {
                    let mut statement = connection
                        .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
                        .map_err(StoreError::sqlite("plan"))?;
                    let parameters = if query.contains("?1") { 1 } else { 0 };
                    let values =
                        rusqlite::params_from_iter(std::iter::repeat_n("2026-11-22", parameters));
                    let details = statement
                        .query_map(values, |row| row.get::<_, String>(3))
                        .map_err(StoreError::sqlite("plan"))?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(StoreError::sqlite("plan"))?;
                    Ok(details.join("; "))
                })
                .expect("plan");
            assert!(plan.contains(index), "{query}: {plan}");
        }
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
