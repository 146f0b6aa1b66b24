//! Store side of the agency seal on outgoing documents: recording a sealed PDF in place of
//! the submitted one (state `accepted` → `signed`, the submitted file's hash kept in the
//! event log, the PAdES level and the seal time on the row), raising a B-B seal to B-T, and
//! listing what waits for a timestamp. One transaction each; the sealed PDF is a blob
//! published before the commit, like every file.

use rusqlite::Connection;

use super::error::StoreError;
use super::exchange::append_event;
use super::records::{DocumentState, PacketBlob};
use super::Store;

/// A sealed PDF ready to replace file 1 of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFile {
    pub file: PacketBlob,
    /// `B-B` or `B-T`.
    pub level: String,
    /// The verification report of the sealed PDF, as JSON.
    pub report_json: String,
}

/// A sealed document still waiting for its timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnstampedDocument {
    pub id: String,
    pub file_sha256: String,
    pub file_size: u64,
    pub sealed_at: String,
}

impl Store {
    /// Records the agency seal: file 1 becomes `sealed.file`, the document `signed`.
    /// `false` (nothing written) when the document is no longer `accepted`.
    pub async fn record_seal(
        &self,
        id: String,
        sealed: SealedFile,
        at: String,
    ) -> Result<bool, StoreError> {
        self.inner
            .database
            .write(move |connection| record_seal(connection, &id, &sealed, &at))
            .await
    }

    /// Replaces a B-B seal with its B-T version (same signed bytes, the timestamp in the
    /// signature). `false` when the document is no longer a B-B `signed` one.
    pub async fn record_timestamp(
        &self,
        id: String,
        stamped: PacketBlob,
        at: String,
    ) -> Result<bool, StoreError> {
        self.inner
            .database
            .write(move |connection| record_timestamp(connection, &id, &stamped, &at))
            .await
    }

    /// Sealed documents at B-B, oldest first.
    pub fn unstamped_documents(&self, limit: u32) -> Result<Vec<UnstampedDocument>, StoreError> {
        self.inner
            .database
            .read(|connection| unstamped_documents(connection, limit))
    }
}

fn record_seal(
    connection: &Connection,
    id: &str,
    sealed: &SealedFile,
    at: &str,
) -> Result<bool, StoreError> {
    let signed = DocumentState::Signed.as_str();
    let changed = connection
        .execute(
            "UPDATE documents SET state = ?2, signature_level = ?3, sealed_at = ?4,
                 signatures_json = ?5, updated_at = ?4
             WHERE id = ?1 AND direction = 'out' AND state = ?6",
            rusqlite::params![
                id,
                signed,
                sealed.level,
                at,
                sealed.report_json,
                DocumentState::Accepted.as_str()
            ],
        )
        .map_err(StoreError::sqlite("record the agency seal"))?;
    if changed == 0 {
        return Ok(false);
    }
    let submitted = replace_main_file(connection, id, &sealed.file)?;
    append_event(
        connection,
        id,
        at,
        "signed",
        Some(signed),
        &format!(
            "agency seal applied (PAdES {}); submitted file {submitted}, sealed file {} ({} bytes)",
            sealed.level, sealed.file.sha256, sealed.file.size
        ),
    )?;
    Ok(true)
}

fn record_timestamp(
    connection: &Connection,
    id: &str,
    stamped: &PacketBlob,
    at: &str,
) -> Result<bool, StoreError> {
    let changed = connection
        .execute(
            "UPDATE documents SET signature_level = 'B-T', updated_at = ?2
             WHERE id = ?1 AND direction = 'out' AND state = ?3 AND signature_level = 'B-B'",
            rusqlite::params![id, at, DocumentState::Signed.as_str()],
        )
        .map_err(StoreError::sqlite("record a seal's timestamp"))?;
    if changed == 0 {
        return Ok(false);
    }
    let previous = replace_main_file(connection, id, stamped)?;
    append_event(
        connection,
        id,
        at,
        "timestamped",
        None,
        &format!(
            "signature timestamp added (PAdES B-T); file {previous} → {} ({} bytes)",
            stamped.sha256, stamped.size
        ),
    )?;
    Ok(true)
}

/// Points file 1 at `file`; returns the hash it pointed at before.
fn replace_main_file(
    connection: &Connection,
    id: &str,
    file: &PacketBlob,
) -> Result<String, StoreError> {
    let previous: String = connection
        .query_row(
            "SELECT sha256 FROM document_files WHERE document = ?1 AND n = 1",
            [id],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("read a document's main file"))?;
    connection
        .execute(
            "UPDATE document_files SET sha256 = ?2, size = ?3 WHERE document = ?1 AND n = 1",
            rusqlite::params![id, file.sha256, file.size as i64],
        )
        .map_err(StoreError::sqlite("replace a document's main file"))?;
    Ok(previous)
}

fn unstamped_documents(
    connection: &Connection,
    limit: u32,
) -> Result<Vec<UnstampedDocument>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT d.id, f.sha256, f.size, d.sealed_at FROM documents d
             JOIN document_files f ON f.document = d.id AND f.n = 1
             WHERE d.direction = 'out' AND d.state = ?1 AND d.signature_level = 'B-B'
             ORDER BY d.sealed_at LIMIT ?2",
        )
        .map_err(StoreError::sqlite("list seals waiting for a timestamp"))?;
    let rows = statement
        .query_map(
            rusqlite::params![DocumentState::Signed.as_str(), limit],
            |row| {
                Ok(UnstampedDocument {
                    id: row.get(0)?,
                    file_sha256: row.get(1)?,
                    file_size: row.get::<_, i64>(2)?.max(0) as u64,
                    sealed_at: row.get(3)?,
                })
            },
        )
        .map_err(StoreError::sqlite("list seals waiting for a timestamp"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("list seals waiting for a timestamp"))
}
