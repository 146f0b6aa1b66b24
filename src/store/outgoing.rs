//! Writes for outgoing documents as the office hands them in: the row, its files, its first
//! event, its number from the register and its idempotency key, in one savepoint. Runs on
//! the writer thread (see `writer.rs`); knows storage facts, not workflow rules.

use rusqlite::{Connection, OptionalExtension};

use super::records::{
    AcceptOutcome, DocumentIdentity, DocumentState, NewFile, NewOutgoingDocument,
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
    let state = DocumentState::Accepted.as_str();
    let inserted = connection.execute(
        "INSERT INTO documents (id, direction, document_id, state, subject, code_number,
             code_notation, register_year, meta_json, created_at, updated_at, register_series,
             replaces)
         VALUES (?1, 'out', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, 'general', ?10)",
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
            document.replaces,
        ],
    );
    if let Err(error) = inserted {
        return Err(if is_unique_violation(&error) {
            StoreError::DuplicateDocumentId { document_id }
        } else {
            StoreError::Sqlite {
                action: "insert a document",
                source: error,
            }
        });
    }
    insert_files(connection, &document.id, &document.files)?;
    connection
        .execute(
            "INSERT INTO document_events (document, at, kind, state, detail)
             VALUES (?1, ?2, 'accepted', ?3, ?4)",
            rusqlite::params![
                document.id,
                document.at,
                state,
                match document.numbering.number {
                    Some(_) => format!("received; number {number:02} chosen by the office"),
                    None => format!("received; number {number:02} assigned from the register"),
                },
            ],
        )
        .map_err(StoreError::sqlite("append a document event"))?;
    let identity = DocumentIdentity {
        id: document.id.clone(),
        document_id: Some(document_id),
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

/// Takes the office's number or the register's next one, and keeps the counter ahead of
/// every number used so the register never hands out one twice.
fn assign_number(
    connection: &Connection,
    document: &NewOutgoingDocument,
) -> Result<(u32, String), StoreError> {
    let numbering = &document.numbering;
    let last: Option<i64> = connection
        .query_row(
            "SELECT last_number FROM register_counters WHERE register = ?1 AND year = ?2",
            rusqlite::params![numbering.register, numbering.year],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("read a register counter"))?;
    let last = last.unwrap_or(0);
    let number = match numbering.number {
        Some(number) => number,
        None => u32::try_from(last + 1).map_err(|_| StoreError::NumberingExhausted {
            register: numbering.register.clone(),
            year: numbering.year,
        })?,
    };
    connection
        .execute(
            "INSERT INTO register_counters (register, year, last_number) VALUES (?1, ?2, ?3)
             ON CONFLICT (register, year) DO UPDATE
                 SET last_number = max(last_number, excluded.last_number)",
            rusqlite::params![numbering.register, numbering.year, number],
        )
        .map_err(StoreError::sqlite("advance a register counter"))?;
    Ok((number, numbering.document_id(number)))
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
