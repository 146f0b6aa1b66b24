//! The store's one error type. Each message says what failed and what to look at.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}; check that the state directory exists and belongs to the docgate user")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database error while trying to {action}: {source}")]
    Sqlite {
        action: &'static str,
        source: rusqlite::Error,
    },
    #[error("cannot {action} at {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the database failed its integrity check ({report}); stop the service and restore the state directory from backup")]
    Corrupt { report: String },
    #[error("the database schema is version {found}, newer than this docgate understands ({supported}); install the newer docgate or restore a backup")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("an outgoing document with DocumentId {document_id} already exists; use another number or leave code_number empty to have one assigned")]
    DuplicateDocumentId { document_id: String },
    #[error("number {number:02} is already used in the {series} series of the {year} outgoing register (by {document_id}); choose a number not yet used this year, or send code_number null to have the next free number assigned")]
    NumberTaken {
        year: i32,
        series: &'static str,
        number: u32,
        document_id: String,
    },
    #[error("the register {register} for {year} was closed with digest {closed_digest}, and its content has changed since (digest now {current_digest}); a closed register must not change: find what changed in the documents of that year and tell IT")]
    RegisterChangedSinceClosing {
        register: String,
        year: i32,
        closed_digest: String,
        current_digest: String,
    },
    #[error("the Idempotency-Key {key} was already used for a different request; use a new key for a new document")]
    IdempotencyKeyReused { key: String },
    #[error("the referenced file {sha256} is not in the blob store; it must be published before the row is committed")]
    MissingBlob { sha256: String },
    #[error("the register {register} for {year} has run out of numbers")]
    NumberingExhausted { register: String, year: i32 },
    #[error(
        "database error while trying to {action}: {reason}; nothing of this request was stored"
    )]
    BatchFailed {
        action: &'static str,
        reason: String,
    },
    #[error("the store is shutting down; retry once the service is back")]
    Closed,
    #[error("the agency directory from the axis is empty; the cached directory was kept (ask the axis's operator to check its list of agencies)")]
    EmptyAgencyDirectory,
    #[error("stored data is not what this version expects: {0}")]
    Decode(String),
}

impl StoreError {
    /// Whether this failed because the disk (or the service's quota of it) is full: SQLite's
    /// SQLITE_FULL, or ENOSPC/EDQUOT from a file write. Nothing of the request was stored;
    /// it can be tried again once there is room.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => io_disk_full(source),
            StoreError::Open { source, .. } | StoreError::Sqlite { source, .. } => matches!(
                source,
                rusqlite::Error::SqliteFailure(failure, _)
                    if failure.code == rusqlite::ErrorCode::DiskFull
            ),
            _ => false,
        }
    }

    /// Builds a mapper from a rusqlite error, naming the action that failed.
    pub(crate) fn sqlite(action: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sqlite { action, source }
    }

    /// Builds a mapper from an I/O error, naming the action and the path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    }
}

/// Whether an I/O error means the disk (or the user's quota on it) is full.
pub fn io_disk_full(error: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    error.kind() == std::io::ErrorKind::StorageFull
        || error.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(error.raw_os_error(), Some(ENOSPC | EDQUOT))
}

#[cfg(test)]
mod disk_full_tests {
    use super::*;

    #[test]
    fn enospc_and_sqlite_full_are_disk_full_and_other_failures_are_not() {
        let io = |code| StoreError::Io {
            action: "write a blob",
            path: "/state/blobs".into(),
            source: std::io::Error::from_raw_os_error(code),
        };
        assert!(io(28).is_disk_full());
        assert!(io(122).is_disk_full());
        assert!(!io(13).is_disk_full(), "EACCES is not a full disk");
        let sqlite = |code| StoreError::Sqlite {
            action: "commit a document",
            source: rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None),
        };
        assert!(sqlite(rusqlite::ffi::SQLITE_FULL).is_disk_full());
        assert!(!sqlite(rusqlite::ffi::SQLITE_CORRUPT).is_disk_full());
    }
}
