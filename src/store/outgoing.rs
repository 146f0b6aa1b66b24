//! Writes for outgoing documents as the office hands them in: the row, its files, its first
//! event, its number from the register and its idempotency key, in one savepoint. Runs on
//! the writer thread (see `writer.rs`); knows storage facts, not workflow rules.

use rusqlite::{Connection, OptionalExtension};

use super::records::{
    AcceptOutcome, DocumentIdentity, DocumentState, NewFile, NewOutgoingDocument, RegisterSeries,
};
use super::writer::is_unique_violation;
use super::StoreError;

pub(super) fn accept_outgoing(
    connection: &Connection,
    document: &NewOutgoingDocument,
) -> Result<AcceptOutcome, StoreError> {
    if let Some((key, request_sha256)) = &document.idempotency {
        if let Some(outcome) = replay_idempotent(connection, key, request_sha256)? {
            return Ok(outcome);
        }
    }
    let (number, document_id) = assign_number(connection, document)?;
    let state = document.state.as_str();
    let inserted = connection.execute(
        "INSERT INTO documents (id, direction, document_id, state, subject, code_number,
             code_notation, register_year, meta_json, created_at, updated_at, register_series,
             replaces)
         VALUES (?1, 'out', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
        rusqlite::params![
            document.id,
            document_id,
            state,
            document.subject,
            number,
            document.numbering.notation,
            document.numbering.year,
            document.meta_json,
            document.at,
            document.numbering.series.as_str(),
            document.replaces,
        ],
    );
    if let Err(error) = inserted {
        return Err(if is_unique_violation(&error) {
            StoreError::DuplicateDocumentId {
                document_id: document_id.unwrap_or_else(|| document.id.clone()),
            }
        } else {
            StoreError::Sqlite {
                action: "insert a document",
                source: error,
            }
        });
    }
    insert_files(connection, &document.id, &document.files)?;
    copy_meta_columns(connection, &document.id)?;
    connection
        .execute(
            "INSERT INTO document_events (document, at, kind, state, detail)
             VALUES (?1, ?2, ?3, ?3, ?4)",
            rusqlite::params![
                document.id,
                document.at,
                state,
                format!(
                    "received; number {number:02} {} in the {} series{}",
                    match document.numbering.number {
                        Some(_) => "chosen by the office",
                        None => "assigned from the register",
                    },
                    document.numbering.series.as_str(),
                    match document.state {
                        DocumentState::Registered =>
                            "; a secret document: recorded in the register, never sent",
                        _ => "",
                    },
                ),
            ],
        )
        .map_err(StoreError::sqlite("append a document event"))?;
    let identity = DocumentIdentity {
        id: document.id.clone(),
        document_id,
        state: state.to_string(),
    };
    if let Some((key, request_sha256)) = &document.idempotency {
        let response_json = serde_json::to_string(&identity)
            .map_err(|error| StoreError::Decode(error.to_string()))?;
        connection
            .execute(
                "INSERT INTO idempotency_keys (key, request_sha256, document, response_json, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![key, request_sha256, document.id, response_json, document.at],
            )
            .map_err(StoreError::sqlite("record an idempotency key"))?;
    }
    Ok(AcceptOutcome {
        identity,
        replayed: false,
    })
}

/// Copies the fields the queues and lists sort and filter on (priority, due date) from the
/// stored meta, the one source of truth, into their indexed columns.
fn copy_meta_columns(connection: &Connection, id: &str) -> Result<(), StoreError> {
    connection
        .execute(
            "UPDATE documents
                 SET priority = coalesce(json_extract(meta_json, '$.priority'), 0),
                     due_date = json_extract(meta_json, '$.due_date')
             WHERE id = ?1",
            [id],
        )
        .map_err(StoreError::sqlite(
            "index a document's priority and due date",
        ))?;
    Ok(())
}

/// The first answer for a key already used by the same request, or an error for a
/// different request under the same key.
fn replay_idempotent(
    connection: &Connection,
    key: &str,
    request_sha256: &str,
) -> Result<Option<AcceptOutcome>, StoreError> {
    let Some(claim) = super::queries::find_idempotency_key(connection, key)? else {
        return Ok(None);
    };
    if claim.request_sha256 != request_sha256 {
        return Err(StoreError::IdempotencyKeyReused {
            key: key.to_string(),
        });
    }
    Ok(Some(AcceptOutcome {
        identity: claim.identity,
        replayed: true,
    }))
}

/// Takes the office's number (refused when its series already holds it this year) or the
/// register's next one, inside the caller's savepoint, so a crash can neither skip nor
/// reuse a number.
///
/// The counter (`register_counters.last_number`) is the last number the register itself
/// handed out; an office-chosen number never moves it. The next assigned number is the
/// smallest one above the counter that no document holds yet, so the register steps over
/// numbers the office took ahead of it and 01..N stays free of gaps and duplicates.
fn assign_number(
    connection: &Connection,
    document: &NewOutgoingDocument,
) -> Result<(u32, Option<String>), StoreError> {
    let numbering = &document.numbering;
    let (year, series) = (numbering.year, numbering.series);
    if let Some(number) = numbering.number {
        if let Some(document_id) = number_holder(connection, year, series, number)? {
            return Err(StoreError::NumberTaken {
                year,
                series: series.as_str(),
                number,
                document_id,
            });
        }
        return Ok((number, numbering.document_id(number)));
    }
    let register = series.register_name();
    let last: i64 = connection
        .query_row(
            "SELECT last_number FROM register_counters WHERE register = ?1 AND year = ?2",
            rusqlite::params![register, year],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("read a register counter"))?
        .unwrap_or(0);
    // The candidates are last + 1 and every number just above one already held: the
    // smallest candidate nobody holds is the first free number above the counter.
    let next: i64 = connection
        .query_row(
            "SELECT min(candidate) FROM (
                 SELECT ?3 + 1 AS candidate
                 UNION ALL
                 SELECT code_number + 1 FROM documents
                     WHERE direction = 'out' AND register_year = ?1 AND register_series = ?2
                       AND code_number > ?3
             ) WHERE NOT EXISTS (
                 SELECT 1 FROM documents
                     WHERE direction = 'out' AND register_year = ?1 AND register_series = ?2
                       AND code_number = candidate)",
            rusqlite::params![year, series.as_str(), last],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("find the next free register number"))?;
    let number = u32::try_from(next).map_err(|_| StoreError::NumberingExhausted {
        register: register.to_string(),
        year,
    })?;
    connection
        .execute(
            "INSERT INTO register_counters (register, year, last_number) VALUES (?1, ?2, ?3)
             ON CONFLICT (register, year) DO UPDATE
                 SET last_number = max(last_number, excluded.last_number)",
            rusqlite::params![register, year, number],
        )
        .map_err(StoreError::sqlite("advance a register counter"))?;
    Ok((number, numbering.document_id(number)))
}

/// The DocumentId of the outgoing document holding `number` in `year`'s `series`, if any.
pub(super) fn number_holder(
    connection: &Connection,
    year: i32,
    series: RegisterSeries,
    number: u32,
) -> Result<Option<String>, StoreError> {
    connection
        .query_row(
            "SELECT coalesce(document_id, id) FROM documents
             WHERE direction = 'out' AND register_year = ?1 AND register_series = ?2
               AND code_number = ?3",
            rusqlite::params![year, series.as_str(), number],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("look up a register number"))
}

/// The rows of a document's files, numbered from 1 in the order given.
pub(super) fn insert_files(
    connection: &Connection,
    document_id: &str,
    files: &[NewFile],
) -> Result<(), StoreError> {
    for (index, file) in files.iter().enumerate() {
        connection
            .execute(
                "INSERT INTO document_files (document, n, name, content_type, sha256, size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    document_id,
                    index as i64 + 1,
                    file.name,
                    file.content_type,
                    file.sha256,
                    file.size as i64,
                ],
            )
            .map_err(StoreError::sqlite("insert a document file"))?;
    }
    Ok(())
}
