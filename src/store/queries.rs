//! Read-side queries. Each takes a connection; none writes.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Row};

use super::records::{
    Direction, DocumentEvent, DocumentFile, DocumentIdentity, DocumentPage, DocumentRecord,
    DocumentState, DocumentSummary, IdempotencyClaim, ListFilter,
};
use super::StoreError;

/// Largest page a list returns, whatever the caller asks for.
pub const MAX_PAGE: u32 = 500;

const SUMMARY_COLUMNS: &str = "id, direction, document_id, state, subject, code_number,
     code_notation, created_at, updated_at, priority, due_date, business_status,
     incoming_number, cancelled_at IS NOT NULL";

pub(super) fn referenced_blobs(connection: &Connection) -> Result<HashSet<String>, StoreError> {
    let mut statement = connection
        .prepare("SELECT DISTINCT sha256 FROM document_files")
        .map_err(StoreError::sqlite("list referenced blobs"))?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(StoreError::sqlite("list referenced blobs"))?;
    let mut referenced: HashSet<String> = rows
        .collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("list referenced blobs"))?;
    referenced.extend(super::exchange_queries::referenced_packet_blobs(
        connection,
    )?);
    Ok(referenced)
}

pub(super) fn find_idempotency_key(
    connection: &Connection,
    key: &str,
) -> Result<Option<IdempotencyClaim>, StoreError> {
    let found: Option<(String, String)> = connection
        .query_row(
            "SELECT request_sha256, response_json FROM idempotency_keys WHERE key = ?1",
            [key],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(StoreError::sqlite("look up an idempotency key"))?;
    let Some((request_sha256, response_json)) = found else {
        return Ok(None);
    };
    let identity: DocumentIdentity = serde_json::from_str(&response_json)
        .map_err(|error| StoreError::Decode(format!("idempotency answer: {error}")))?;
    Ok(Some(IdempotencyClaim {
        request_sha256,
        identity,
    }))
}

pub(super) fn document(
    connection: &Connection,
    id: &str,
) -> Result<Option<DocumentRecord>, StoreError> {
    let found = connection
        .query_row(
            &format!("SELECT meta_json, {SUMMARY_COLUMNS} FROM documents WHERE id = ?1"),
            [id],
            |row| Ok((summary_from_row(row, 1), row.get::<_, String>(0)?)),
        )
        .optional()
        .map_err(StoreError::sqlite("read a document"))?;
    let Some((summary, meta_json)) = found else {
        return Ok(None);
    };
    let summary = summary?;
    let meta: serde_json::Value = serde_json::from_str(&meta_json)
        .map_err(|error| StoreError::Decode(format!("meta of {id}: {error}")))?;
    let business = super::business_queries::business_info(
        connection,
        id,
        summary.direction == Direction::Outgoing,
        &meta,
    )?;
    Ok(Some(DocumentRecord {
        business,
        files: files(connection, id)?,
        events: events(connection, id)?,
        exchange: super::exchange_queries::exchange_info(connection, id)?,
        statuses: super::exchange_queries::statuses(connection, id)?,
        signatures: super::exchange_queries::signatures(connection, id)?,
        summary,
        meta,
    }))
}

pub(super) fn files(connection: &Connection, id: &str) -> Result<Vec<DocumentFile>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT n, name, content_type, sha256, size FROM document_files
             WHERE document = ?1 ORDER BY n",
        )
        .map_err(StoreError::sqlite("read document files"))?;
    let rows = statement
        .query_map([id], |row| {
            Ok(DocumentFile {
                n: row.get(0)?,
                name: row.get(1)?,
                content_type: row.get(2)?,
                sha256: row.get(3)?,
                size: row.get::<_, i64>(4)?.max(0) as u64,
            })
        })
        .map_err(StoreError::sqlite("read document files"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("read document files"))
}

fn events(connection: &Connection, id: &str) -> Result<Vec<DocumentEvent>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT seq, at, kind, state, detail FROM document_events
             WHERE document = ?1 ORDER BY seq",
        )
        .map_err(StoreError::sqlite("read document events"))?;
    let rows = statement
        .query_map([id], |row| {
            Ok(DocumentEvent {
                seq: row.get(0)?,
                at: row.get(1)?,
                kind: row.get(2)?,
                state: row.get(3)?,
                detail: row.get(4)?,
            })
        })
        .map_err(StoreError::sqlite("read document events"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("read document events"))
}

pub(super) fn list_documents(
    connection: &Connection,
    filter: &ListFilter,
) -> Result<DocumentPage, StoreError> {
    let limit = filter.limit.clamp(1, MAX_PAGE);
    let mut statement = connection
        .prepare(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM documents
             WHERE (?1 IS NULL OR direction = ?1)
               AND (?2 IS NULL OR state = ?2)
               AND (?3 IS NULL OR created_at >= ?3)
               AND (?4 IS NULL OR id < ?4)
               AND (?6 IS NULL OR business_status = ?6)
               AND (?7 IS NULL OR ?7 = (direction = 'in' AND due_date IS NOT NULL
                        AND due_date < ?8 AND coalesce(business_status, '') NOT IN ('02', '06')
                        AND cancelled_at IS NULL))
               AND (?9 IS NULL OR priority >= ?9)
               AND (?10 IS NULL OR subject LIKE '%' || ?10 || '%' ESCAPE '\\')
             ORDER BY id DESC
             LIMIT ?5"
        ))
        .map_err(StoreError::sqlite("list documents"))?;
    let rows = statement
        .query_map(
            rusqlite::params![
                filter.direction.map(Direction::as_str),
                filter.state.map(DocumentState::as_str),
                filter.since,
                filter.before_id,
                i64::from(limit) + 1,
                filter.business_status,
                filter.overdue,
                filter.today,
                filter.priority_min,
                filter.subject_contains.as_deref().map(like_literal),
            ],
            |row| Ok(summary_from_row(row, 0)),
        )
        .map_err(StoreError::sqlite("list documents"))?;
    let mut documents = Vec::new();
    for row in rows {
        documents.push(row.map_err(StoreError::sqlite("list documents"))??);
    }
    let next_cursor = if documents.len() > limit as usize {
        documents.truncate(limit as usize);
        documents.last().map(|last| last.id.clone())
    } else {
        None
    };
    Ok(DocumentPage {
        documents,
        next_cursor,
    })
}

pub(super) fn count_documents(
    connection: &Connection,
) -> Result<Vec<(Direction, DocumentState, u64)>, StoreError> {
    let mut statement = connection
        .prepare("SELECT direction, state, count(*) FROM documents GROUP BY direction, state")
        .map_err(StoreError::sqlite("count documents"))?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .map_err(StoreError::sqlite("count documents"))?;
    let mut counts = Vec::new();
    for row in rows {
        let (direction, state, count) = row.map_err(StoreError::sqlite("count documents"))?;
        let direction = Direction::parse(&direction)
            .ok_or_else(|| StoreError::Decode(format!("direction {direction:?}")))?;
        let state = DocumentState::parse(&state)
            .ok_or_else(|| StoreError::Decode(format!("state {state:?}")))?;
        counts.push((direction, state, count.max(0) as u64));
    }
    Ok(counts)
}

/// `text` for a `LIKE … ESCAPE '\\'` pattern, its wildcards taken literally.
fn like_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            literal.push('\\');
        }
        literal.push(character);
    }
    literal
}

/// Maps the [`SUMMARY_COLUMNS`] of a row, which start at column `first`. The outer `Result`
/// is rusqlite's, the inner ours.
fn summary_from_row(row: &Row<'_>, first: usize) -> Result<DocumentSummary, StoreError> {
    let column = |index: usize| first + index;
    let read = |row: &Row<'_>| -> rusqlite::Result<(String, String)> {
        Ok((row.get(column(0))?, row.get(column(1))?))
    };
    let (id, direction) = read(row).map_err(StoreError::sqlite("read a document row"))?;
    let direction = Direction::parse(&direction)
        .ok_or_else(|| StoreError::Decode(format!("direction {direction:?} of {id}")))?;
    let rest = (|| -> rusqlite::Result<DocumentSummary> {
        Ok(DocumentSummary {
            id: id.clone(),
            direction,
            document_id: row.get(column(2))?,
            state: row.get(column(3))?,
            subject: row.get(column(4))?,
            code_number: row.get(column(5))?,
            code_notation: row.get(column(6))?,
            created_at: row.get(column(7))?,
            updated_at: row.get(column(8))?,
            priority: row.get::<_, i64>(column(9))?.clamp(0, 4) as u8,
            due_date: row.get(column(10))?,
            business_status: row.get(column(11))?,
            incoming_number: row
                .get::<_, Option<i64>>(column(12))?
                .and_then(|number| u32::try_from(number).ok()),
            overdue: false,
            cancelled: row.get(column(13))?,
        })
    })();
    rest.map_err(StoreError::sqlite("read a document row"))
}
