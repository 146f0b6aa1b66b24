//! The evidence log: for every packet sent (the axis's answer) and every packet received,
//! one append-only record — the packet's hash and size, the document, the axis's DocId or
//! delivery id, the signature facts — written in the same transaction as the state change
//! it proves, and chained: each record's hash covers the previous record's hash, so no
//! record can be changed, removed or reordered without breaking every hash after it.
//! Batches of records are signed with the agency key as a Merkle tree over their hashes
//! (one token operation per batch; `signature::batch`), stored here with each record's
//! inclusion proof.
//!
//! Owns the log's format ([`chain_hash`]) and its tables. Does not sign or verify
//! signatures (`signature`), and never rewrites a record (triggers forbid it).

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::error::StoreError;
use super::Store;

/// The hash before the first record.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// `SHA-256(previous hash ‖ record JSON)`: the chain link of one record.
pub fn chain_hash(previous: &[u8; 32], record_json: &str) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(previous);
    context.update(record_json.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceRecord {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub document: String,
    pub record_json: String,
    /// Hex.
    pub hash: String,
}

/// A signed batch as stored: the records `first_seq..=last_seq`, the Merkle root over their
/// hashes, and the root's detached CMS signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceBatch {
    pub id: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub root: String,
    pub signature: Vec<u8>,
    pub at: String,
}

/// A batch ready to store, with each record's inclusion proof (JSON) in order.
#[derive(Debug, Clone)]
pub struct NewEvidenceBatch {
    pub first_seq: i64,
    pub last_seq: i64,
    pub root: String,
    pub signature: Vec<u8>,
    pub proofs: Vec<String>,
    pub at: String,
}

/// Appends one record inside the caller's transaction.
pub(super) fn append_evidence(
    connection: &Connection,
    at: &str,
    kind: &str,
    document: &str,
    record: &impl Serialize,
) -> Result<(), StoreError> {
    let record_json =
        serde_json::to_string(record).map_err(|error| StoreError::Decode(error.to_string()))?;
    let previous: Option<String> = connection
        .query_row(
            "SELECT hash FROM evidence ORDER BY seq DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("read the evidence chain"))?;
    let previous = match previous {
        Some(hex_hash) => decode_hash(&hex_hash)?,
        None => GENESIS,
    };
    let hash = chain_hash(&previous, &record_json);
    connection
        .execute(
            "INSERT INTO evidence (at, kind, document, record_json, hash)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![at, kind, document, record_json, hex::encode(hash)],
        )
        .map_err(StoreError::sqlite("append an evidence record"))?;
    Ok(())
}

/// A stored hex hash as bytes.
pub fn decode_hash(text: &str) -> Result<[u8; 32], StoreError> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| StoreError::Decode(format!("{text:?} is not a SHA-256 hash")))
}

impl Store {
    /// Records after the last signed batch, oldest first (at most `limit`).
    pub fn unbatched_evidence(&self, limit: u32) -> Result<Vec<EvidenceRecord>, StoreError> {
        self.inner.database.read(|connection| {
            records(
                connection,
                "WHERE seq > (SELECT coalesce(max(last_seq), 0) FROM evidence_batches)
                 ORDER BY seq LIMIT ?1",
                rusqlite::params![limit],
            )
        })
    }

    /// Stores a signed batch and its proofs. `false` when the batch no longer starts right
    /// after the last one (another batch was stored meanwhile).
    pub async fn record_evidence_batch(&self, batch: NewEvidenceBatch) -> Result<bool, StoreError> {
        self.inner
            .database
            .write(move |connection| record_batch(connection, &batch))
            .await
    }
}

fn record_batch(connection: &Connection, batch: &NewEvidenceBatch) -> Result<bool, StoreError> {
    let next: i64 = connection
        .query_row(
            "SELECT coalesce(max(last_seq), 0) + 1 FROM evidence_batches",
            [],
            |row| row.get(0),
        )
        .map_err(StoreError::sqlite("read the evidence batches"))?;
    if next != batch.first_seq {
        return Ok(false);
    }
    connection
        .execute(
            "INSERT INTO evidence_batches (first_seq, last_seq, root, signature, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                batch.first_seq,
                batch.last_seq,
                batch.root,
                batch.signature,
                batch.at
            ],
        )
        .map_err(StoreError::sqlite("store an evidence batch"))?;
    let id = connection.last_insert_rowid();
    for (offset, proof) in batch.proofs.iter().enumerate() {
        connection
            .execute(
                "INSERT INTO evidence_proofs (seq, batch, proof_json) VALUES (?1, ?2, ?3)",
                rusqlite::params![batch.first_seq + offset as i64, id, proof],
            )
            .map_err(StoreError::sqlite("store an evidence proof"))?;
    }
    Ok(true)
}

fn records(
    connection: &Connection,
    clause: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<EvidenceRecord>, StoreError> {
    let mut statement = connection
        .prepare(&format!(
            "SELECT seq, at, kind, document, record_json, hash FROM evidence {clause}"
        ))
        .map_err(StoreError::sqlite("read the evidence log"))?;
    let rows = statement
        .query_map(params, |row| {
            Ok(EvidenceRecord {
                seq: row.get(0)?,
                at: row.get(1)?,
                kind: row.get(2)?,
                document: row.get(3)?,
                record_json: row.get(4)?,
                hash: row.get(5)?,
            })
        })
        .map_err(StoreError::sqlite("read the evidence log"))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("read the evidence log"))
}

/// The whole evidence log of a gateway database.
#[derive(Debug, Clone)]
pub struct EvidenceLog {
    pub records: Vec<EvidenceRecord>,
    /// Each batch with its records' proofs (JSON), in record order.
    pub batches: Vec<(EvidenceBatch, Vec<String>)>,
}

/// The whole log of a gateway database, read-only (for `docgate verify --evidence`, which
/// may run beside the daemon): every record and every batch with its proofs.
pub fn read_log(database: &std::path::Path) -> Result<EvidenceLog, StoreError> {
    let connection = super::database::open_connection(database, true)?;
    let all = records(&connection, "ORDER BY seq", [])?;
    let mut statement = connection
        .prepare(
            "SELECT id, first_seq, last_seq, root, signature, at FROM evidence_batches ORDER BY id",
        )
        .map_err(StoreError::sqlite("read the evidence batches"))?;
    let batches: Vec<EvidenceBatch> = statement
        .query_map([], |row| {
            Ok(EvidenceBatch {
                id: row.get(0)?,
                first_seq: row.get(1)?,
                last_seq: row.get(2)?,
                root: row.get(3)?,
                signature: row.get(4)?,
                at: row.get(5)?,
            })
        })
        .map_err(StoreError::sqlite("read the evidence batches"))?
        .collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("read the evidence batches"))?;
    let mut with_proofs = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut statement = connection
            .prepare("SELECT proof_json FROM evidence_proofs WHERE batch = ?1 ORDER BY seq")
            .map_err(StoreError::sqlite("read the evidence proofs"))?;
        let proofs: Vec<String> = statement
            .query_map([batch.id], |row| row.get(0))
            .map_err(StoreError::sqlite("read the evidence proofs"))?
            .collect::<Result<_, _>>()
            .map_err(StoreError::sqlite("read the evidence proofs"))?;
        with_proofs.push((batch, proofs));
    }
    Ok(EvidenceLog {
        records: all,
        batches: with_proofs,
    })
}
