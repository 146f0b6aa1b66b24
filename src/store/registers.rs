//! The registers (sổ văn bản) as stored: the rows of the outgoing register of one year and
//! series, or of the incoming register of one year, with what their columns need; the
//! closures of past years (`register_closures`), and closing a year — the closure row and
//! its evidence record in one transaction.
//!
//! Reads work on any connection: the pooled readers, the writer's transaction when
//! closing, and a read-only connection for `docgate register export`, which may run
//! beside the daemon. Owns no rule: which columns an entry shows, the export formats and
//! the digest are `workflow::register_export`'s.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::records::RegisterSeries;
use super::{Store, StoreError};

/// Which register: the outgoing one (one series) or the incoming one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterKind {
    /// Sổ văn bản đi, one series.
    Outgoing(RegisterSeries),
    /// Sổ văn bản đến.
    Incoming,
}

impl RegisterKind {
    /// The name in `register_closures`: `out`, `out-secret` or `in`.
    pub fn name(self) -> &'static str {
        match self {
            RegisterKind::Outgoing(series) => series.register_name(),
            RegisterKind::Incoming => "in",
        }
    }

    /// The series, for the outgoing register.
    pub fn series(self) -> Option<RegisterSeries> {
        match self {
            RegisterKind::Outgoing(series) => Some(series),
            RegisterKind::Incoming => None,
        }
    }
}

/// One outgoing document of a register year and series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRegisterRow {
    pub id: String,
    pub document_id: Option<String>,
    pub code_number: Option<u32>,
    pub code_notation: Option<String>,
    pub state: String,
    pub subject: String,
    /// The validated `meta` as the office sent it (type, signer, recipients, copies…).
    pub meta_json: String,
    /// When it was committed, RFC 3339 UTC.
    pub created_at: String,
    /// When the axis first confirmed it holds the packet, RFC 3339 UTC.
    pub queued_at: Option<String>,
    pub quarantine_reason: Option<String>,
    pub cancelled_at: Option<String>,
    pub cancel_reason: Option<String>,
    /// The DocumentId of the document this one replaces.
    pub replaces: Option<String>,
    /// The DocumentIds of the documents replacing this one.
    pub replaced_by: Vec<String>,
    /// The recipients that agreed (15) to our recall of it, by time of answer.
    pub recalls_agreed: Vec<AgreedRecall>,
}

/// A recipient's agreement (status 15) to a recall of one of our outgoing documents.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgreedRecall {
    /// The recipient that agreed.
    pub organ_id: String,
    /// When its answer was recorded, RFC 3339 UTC.
    pub answered_at: Option<String>,
    /// The reason we gave for the recall.
    pub reason: String,
}

/// One incoming document holding a số đến (incoming number) of a register year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRegisterRow {
    pub id: String,
    pub incoming_number: u32,
    pub document_id: Option<String>,
    pub code_number: Option<u32>,
    pub code_notation: Option<String>,
    pub subject: String,
    /// The sender's agency code.
    pub peer_organ: Option<String>,
    /// The parsed edXML header (`From`, `PromulgationInfo`, `DocumentType`, …).
    pub meta_json: String,
    /// When it arrived, RFC 3339 UTC.
    pub received_at: String,
    /// When the clerk registered it (status 03), RFC 3339 UTC.
    pub registered_at: Option<String>,
    /// When it was passed on for handling (the first status 04 sent), RFC 3339 UTC.
    pub passed_on_at: Option<String>,
    pub due_date: Option<String>,
    pub cancelled_at: Option<String>,
    pub cancel_reason: Option<String>,
    /// The DocumentId (the sender's) of the incoming document this one replaces.
    pub replaces: Option<String>,
    /// The DocumentIds of the incoming documents replacing this one.
    pub replaced_by: Vec<String>,
}

/// The rows of one register year, in register order (by number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterRows {
    Outgoing(Vec<OutgoingRegisterRow>),
    Incoming(Vec<IncomingRegisterRow>),
}

impl RegisterRows {
    pub fn len(&self) -> usize {
        match self {
            RegisterRows::Outgoing(rows) => rows.len(),
            RegisterRows::Incoming(rows) => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A register year closed: how many entries it had and the digest of its export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterClosure {
    #[serde(skip)]
    pub register: String,
    #[serde(skip)]
    pub year: i32,
    /// When it was closed, RFC 3339 UTC.
    pub at: String,
    /// SHA-256 (hex) of the canonical CSV export.
    pub digest: String,
    pub entries: u32,
}

/// What the digest of a register's rows came to (made by the caller, inside the commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterDigest {
    pub digest: String,
    pub entries: u32,
}

/// What closing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    /// Closed now; the closure and its evidence record are committed.
    Closed(RegisterClosure),
    /// Closed before, and the register is unchanged since: the first closure.
    AlreadyClosed(RegisterClosure),
}

// The replacements and the agreed recalls are grouped once (a join, not a subquery per
// row: `replaces` has no index, and a register year may hold tens of thousands of
// documents). A recall is answered per recipient, so an outgoing document is not cancelled
// by it: each recipient's agreement is noted.
const OUTGOING_ROWS: &str = "
    WITH replacements AS (
        SELECT replaces AS original,
               group_concat(coalesce(document_id, id), char(10)) AS list
        FROM documents WHERE replaces IS NOT NULL AND (?3 IS NULL OR created_at <= ?3)
        GROUP BY replaces),
    agreed_recalls AS (
        SELECT document,
               json_group_array(json_object('organ_id', organ_id, 'answered_at', answered_at,
                                            'reason', reason)) AS list
        FROM business_requests
        WHERE direction = 'sent' AND kind = 'recall' AND answer = '15'
          AND (?3 IS NULL OR answered_at <= ?3)
        GROUP BY document)
    SELECT d.id, d.document_id, d.code_number, d.code_notation, d.state, d.subject, d.meta_json,
           d.created_at,
           (SELECT min(e.at) FROM document_events e WHERE e.document = d.id AND e.kind = 'queued'
                AND (?3 IS NULL OR e.at <= ?3)),
           d.quarantine_reason,
           CASE WHEN ?3 IS NULL OR d.cancelled_at <= ?3 THEN d.cancelled_at END,
           CASE WHEN ?3 IS NULL OR d.cancelled_at <= ?3 THEN d.cancel_reason END,
           (SELECT coalesce(r.document_id, r.id) FROM documents r WHERE r.id = d.replaces),
           replacements.list, agreed_recalls.list
    FROM documents d LEFT JOIN replacements ON replacements.original = d.id
        LEFT JOIN agreed_recalls ON agreed_recalls.document = d.id
    WHERE d.direction = 'out' AND d.register_year = ?1 AND d.register_series = ?2
      AND d.code_number IS NOT NULL
    ORDER BY d.code_number, d.id";

const INCOMING_ROWS: &str = "
    WITH replacements AS (
        SELECT replaces AS original,
               group_concat(coalesce(document_id, id), char(10)) AS list
        FROM documents WHERE replaces IS NOT NULL AND (?2 IS NULL OR created_at <= ?2)
        GROUP BY replaces)
    SELECT d.id, d.incoming_number, d.document_id, d.code_number, d.code_notation, d.subject,
           d.peer_organ, d.meta_json, d.created_at, d.registered_at,
           (SELECT min(s.recorded_at) FROM document_statuses s
                WHERE s.document = d.id AND s.direction = 'sent' AND s.code = '04'
                  AND (?2 IS NULL OR s.recorded_at <= ?2)),
           d.due_date,
           CASE WHEN ?2 IS NULL OR d.cancelled_at <= ?2 THEN d.cancelled_at END,
           CASE WHEN ?2 IS NULL OR d.cancelled_at <= ?2 THEN d.cancel_reason END,
           (SELECT coalesce(r.document_id, r.id) FROM documents r WHERE r.id = d.replaces),
           replacements.list
    FROM documents d LEFT JOIN replacements ON replacements.original = d.id
    WHERE d.direction = 'in' AND d.register_year = ?1 AND d.incoming_number IS NOT NULL
    ORDER BY d.incoming_number, d.id";

/// A `group_concat(…, char(10))` list, sorted (the order of `group_concat` is not defined,
/// and the CSV export must be the same bytes every time).
fn sorted_list(list: Option<String>) -> Vec<String> {
    let mut items: Vec<String> = list
        .map(|list| list.split('\n').map(str::to_string).collect())
        .unwrap_or_default();
    items.sort();
    items
}

fn outgoing_row(row: &Row<'_>) -> rusqlite::Result<OutgoingRegisterRow> {
    let replaced_by: Option<String> = row.get(13)?;
    let recalls: Option<String> = row.get(14)?;
    let mut recalls_agreed: Vec<AgreedRecall> = match recalls {
        Some(list) => serde_json::from_str(&list).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                14,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })?,
        None => Vec::new(),
    };
    recalls_agreed
        .sort_by(|a, b| (&a.answered_at, &a.organ_id).cmp(&(&b.answered_at, &b.organ_id)));
    Ok(OutgoingRegisterRow {
        id: row.get(0)?,
        document_id: row.get(1)?,
        code_number: row.get(2)?,
        code_notation: row.get(3)?,
        state: row.get(4)?,
        subject: row.get(5)?,
        meta_json: row.get(6)?,
        created_at: row.get(7)?,
        queued_at: row.get(8)?,
        quarantine_reason: row.get(9)?,
        cancelled_at: row.get(10)?,
        cancel_reason: row.get(11)?,
        replaces: row.get(12)?,
        replaced_by: sorted_list(replaced_by),
        recalls_agreed,
    })
}

fn incoming_row(row: &Row<'_>) -> rusqlite::Result<IncomingRegisterRow> {
    Ok(IncomingRegisterRow {
        id: row.get(0)?,
        incoming_number: row.get(1)?,
        document_id: row.get(2)?,
        code_number: row.get(3)?,
        code_notation: row.get(4)?,
        subject: row.get(5)?,
        peer_organ: row.get(6)?,
        meta_json: row.get(7)?,
        received_at: row.get(8)?,
        registered_at: row.get(9)?,
        passed_on_at: row.get(10)?,
        due_date: row.get(11)?,
        cancelled_at: row.get(12)?,
        cancel_reason: row.get(13)?,
        replaces: row.get(14)?,
        replaced_by: sorted_list(row.get(15)?),
    })
}

/// The rows of `kind`'s register for `year`, in register order. A closed year's rows are
/// as they stood when it was closed: what happens to its documents later (a first 04, an
/// agreed recall, a replacement) does not change a closed register, so its digest holds.
pub(super) fn register_rows(
    connection: &Connection,
    kind: RegisterKind,
    year: i32,
) -> Result<RegisterRows, StoreError> {
    let action = "read a register";
    let as_of = closure(connection, kind, year)?.map(|closed| closed.at);
    match kind {
        RegisterKind::Outgoing(series) => {
            let mut statement = connection
                .prepare_cached(OUTGOING_ROWS)
                .map_err(StoreError::sqlite(action))?;
            let rows = statement
                .query_map(
                    rusqlite::params![year, series.as_str(), as_of],
                    outgoing_row,
                )
                .map_err(StoreError::sqlite(action))?
                .collect::<Result<_, _>>()
                .map_err(StoreError::sqlite(action))?;
            Ok(RegisterRows::Outgoing(rows))
        }
        RegisterKind::Incoming => {
            let mut statement = connection
                .prepare_cached(INCOMING_ROWS)
                .map_err(StoreError::sqlite(action))?;
            let rows = statement
                .query_map(rusqlite::params![year, as_of], incoming_row)
                .map_err(StoreError::sqlite(action))?
                .collect::<Result<_, _>>()
                .map_err(StoreError::sqlite(action))?;
            Ok(RegisterRows::Incoming(rows))
        }
    }
}

/// The closure of `kind`'s register for `year`, if it was closed.
pub(super) fn closure(
    connection: &Connection,
    kind: RegisterKind,
    year: i32,
) -> Result<Option<RegisterClosure>, StoreError> {
    connection
        .query_row(
            "SELECT register, year, closed_at, digest, entries FROM register_closures
             WHERE register = ?1 AND year = ?2",
            rusqlite::params![kind.name(), year],
            |row| {
                Ok(RegisterClosure {
                    register: row.get(0)?,
                    year: row.get(1)?,
                    at: row.get(2)?,
                    digest: row.get(3)?,
                    entries: row.get(4)?,
                })
            },
        )
        .optional()
        .map_err(StoreError::sqlite("read a register closure"))
}

/// Outgoing documents of `year`'s `series` that have not left yet (neither queued at the
/// axis, nor refused, nor final as secret documents): while there are some, the register's
/// "date sent" column can still change.
pub(super) fn unsent_outgoing(
    connection: &Connection,
    series: RegisterSeries,
    year: i32,
) -> Result<u32, StoreError> {
    connection
        .query_row(
            "SELECT count(*) FROM documents
             WHERE direction = 'out' AND register_year = ?1 AND register_series = ?2
               AND state IN ('accepted', 'signed', 'packed', 'sent')",
            rusqlite::params![year, series.as_str()],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("count unsent documents"))
}

/// Closes `kind`'s register for `year` inside the writer's transaction: the digest of the
/// rows as they are now (made by `digest_of`), then either a new closure with its evidence
/// record, or the earlier closure when its digest is the same (the rows of a closed year
/// are read as of its closing), or a refusal when the register changed since it was closed
/// — which only tampering with what was recorded before the closing can do.
fn close(
    connection: &Connection,
    kind: RegisterKind,
    year: i32,
    at: &str,
    digest: &RegisterDigest,
) -> Result<CloseOutcome, StoreError> {
    if let Some(earlier) = closure(connection, kind, year)? {
        if earlier.digest == digest.digest && earlier.entries == digest.entries {
            return Ok(CloseOutcome::AlreadyClosed(earlier));
        }
        return Err(StoreError::RegisterChangedSinceClosing {
            register: kind.name().to_string(),
            year,
            closed_digest: earlier.digest,
            current_digest: digest.digest.clone(),
        });
    }
    connection
        .execute(
            "INSERT INTO register_closures (register, year, entries, digest, closed_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![kind.name(), year, digest.entries, digest.digest, at],
        )
        .map_err(StoreError::sqlite("record a register closure"))?;
    super::evidence::append_evidence(
        connection,
        at,
        "register_closed",
        &format!("register:{}:{year}", kind.name()),
        &serde_json::json!({
            "register": kind.name(),
            "year": year,
            "series": kind.series().map(RegisterSeries::as_str),
            "entries": digest.entries,
            "digest": digest.digest,
            "digest_of": "the CSV export (UTF-8 with BOM)",
            "closed_at": at,
        }),
    )?;
    Ok(CloseOutcome::Closed(RegisterClosure {
        register: kind.name().to_string(),
        year,
        at: at.to_string(),
        digest: digest.digest.clone(),
        entries: digest.entries,
    }))
}

impl Store {
    /// The rows of `kind`'s register for `year`, in register order.
    pub fn register_rows(&self, kind: RegisterKind, year: i32) -> Result<RegisterRows, StoreError> {
        self.with_reader(|connection| register_rows(connection, kind, year))
    }

    /// The closure of `kind`'s register for `year`, if it was closed.
    pub fn register_closure(
        &self,
        kind: RegisterKind,
        year: i32,
    ) -> Result<Option<RegisterClosure>, StoreError> {
        self.with_reader(|connection| closure(connection, kind, year))
    }

    /// How many outgoing documents of `year`'s `series` have not left yet.
    pub fn unsent_outgoing(&self, series: RegisterSeries, year: i32) -> Result<u32, StoreError> {
        self.with_reader(|connection| unsent_outgoing(connection, series, year))
    }

    /// Closes `kind`'s register for `year` (see [`CloseOutcome`]). `digest_of` makes the
    /// digest of the rows read inside the same transaction, so nothing can change between
    /// the digest and the record; its own error comes back as the inner `Err`, with
    /// nothing written.
    pub async fn close_register<E: Send + 'static>(
        &self,
        kind: RegisterKind,
        year: i32,
        at: String,
        digest_of: impl FnOnce(&RegisterRows) -> Result<RegisterDigest, E> + Send + 'static,
    ) -> Result<Result<CloseOutcome, E>, StoreError> {
        self.inner
            .database
            .write(move |connection| {
                let rows = register_rows(connection, kind, year)?;
                match digest_of(&rows) {
                    Ok(digest) => close(connection, kind, year, &at, &digest).map(Ok),
                    Err(error) => Ok(Err(error)),
                }
            })
            .await
    }
}

/// A read-only view of a gateway database's registers, for `docgate register export`:
/// safe beside the running daemon (WAL readers never block the writer), never migrates,
/// never sweeps blobs.
pub struct RegisterReader {
    connection: Connection,
}

impl RegisterReader {
    /// Opens the database at `path` read-only; it must exist.
    pub fn open(path: &Path) -> Result<RegisterReader, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Io {
                action: "find the gateway database",
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no database there; check gateway.state_dir in the configuration",
                ),
            });
        }
        Ok(RegisterReader {
            connection: super::database::open_connection(path, true)?,
        })
    }

    /// The rows of `kind`'s register for `year`, in register order.
    pub fn rows(&self, kind: RegisterKind, year: i32) -> Result<RegisterRows, StoreError> {
        register_rows(&self.connection, kind, year)
    }

    /// The closure of `kind`'s register for `year`, if it was closed.
    pub fn closure(
        &self,
        kind: RegisterKind,
        year: i32,
    ) -> Result<Option<RegisterClosure>, StoreError> {
        closure(&self.connection, kind, year)
    }
}
