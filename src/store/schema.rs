//! Versioned schema migrations, tracked in `PRAGMA user_version`. Each migration runs in
//! its own transaction; a database newer than this binary is refused, never touched.

use rusqlite::Connection;

use super::StoreError;

/// The migrations in order; index + 1 is the schema version each one produces.
/// Never edit a released migration: add a new one.
pub(super) const GATEWAY_MIGRATIONS: &[&str] = &[
    // 1: documents, their files, their event log, idempotency keys, register counters.
    r#"
    CREATE TABLE documents (
        id            TEXT PRIMARY KEY,               -- our ULID
        direction     TEXT NOT NULL CHECK (direction IN ('out', 'in')),
        document_id   TEXT,                            -- edXML DocumentId
        state         TEXT NOT NULL,
        subject       TEXT NOT NULL,
        code_number   INTEGER,
        code_notation TEXT,
        register_year INTEGER,
        meta_json     TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX documents_direction_document_id
        ON documents (direction, document_id) WHERE document_id IS NOT NULL;
    -- A number is unique per year with its notation (NĐ 30/2020, register rules).
    CREATE UNIQUE INDEX documents_register_number
        ON documents (direction, register_year, code_number, code_notation)
        WHERE code_number IS NOT NULL;
    CREATE INDEX documents_direction_state ON documents (direction, state);
    CREATE INDEX documents_created_at ON documents (created_at);

    CREATE TABLE document_files (
        document     TEXT NOT NULL REFERENCES documents (id),
        n            INTEGER NOT NULL CHECK (n >= 1),
        name         TEXT NOT NULL,
        content_type TEXT NOT NULL,
        sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
        size         INTEGER NOT NULL CHECK (size >= 0),
        PRIMARY KEY (document, n)
    ) STRICT;
    CREATE INDEX document_files_sha256 ON document_files (sha256);

    -- Append-only: rows are inserted, never updated or deleted.
    CREATE TABLE document_events (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        document TEXT NOT NULL REFERENCES documents (id),
        at       TEXT NOT NULL,
        kind     TEXT NOT NULL,
        state    TEXT,
        detail   TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX document_events_document ON document_events (document, seq);
    CREATE TRIGGER document_events_append_only_update BEFORE UPDATE ON document_events
        BEGIN SELECT RAISE(ABORT, 'document_events is append-only'); END;
    CREATE TRIGGER document_events_append_only_delete BEFORE DELETE ON document_events
        BEGIN SELECT RAISE(ABORT, 'document_events is append-only'); END;

    CREATE TABLE idempotency_keys (
        key            TEXT PRIMARY KEY,
        request_sha256 TEXT NOT NULL,
        document       TEXT NOT NULL REFERENCES documents (id),
        response_json  TEXT NOT NULL,                  -- the first answer, replayed verbatim
        created_at     TEXT NOT NULL
    ) STRICT;

    CREATE TABLE register_counters (
        register    TEXT NOT NULL,
        year        INTEGER NOT NULL,
        last_number INTEGER NOT NULL,
        PRIMARY KEY (register, year)
    ) STRICT;
    "#,
];

/// Brings the database up to the last of `migrations`; refuses a newer one.
pub(super) fn migrate(connection: &mut Connection, migrations: &[&str]) -> Result<(), StoreError> {
    let supported = migrations.len() as i64;
    let found: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(StoreError::sqlite("read the schema version"))?;
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    for (index, migration) in migrations.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let transaction = connection
            .transaction()
            .map_err(StoreError::sqlite("begin a migration"))?;
        transaction
            .execute_batch(migration)
            .map_err(StoreError::sqlite("apply a schema migration"))?;
        transaction
            .pragma_update(None, "user_version", version)
            .map_err(StoreError::sqlite("record the schema version"))?;
        transaction
            .commit()
            .map_err(StoreError::sqlite("commit a schema migration"))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // In-memory databases to test migrations alone.
mod tests {
    use super::*;

    #[test]
    fn migrates_a_fresh_database_and_is_idempotent() {
        let mut connection = Connection::open_in_memory().expect("in-memory database");
        migrate(&mut connection, GATEWAY_MIGRATIONS).expect("first migration");
        migrate(&mut connection, GATEWAY_MIGRATIONS).expect("second run changes nothing");
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("user_version");
        assert_eq!(version, (GATEWAY_MIGRATIONS.len() as i64));
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut connection = Connection::open_in_memory().expect("in-memory database");
        connection
            .pragma_update(None, "user_version", (GATEWAY_MIGRATIONS.len() as i64) + 1)
            .expect("set version");
        let error =
            migrate(&mut connection, GATEWAY_MIGRATIONS).expect_err("newer schema must be refused");
        assert!(matches!(error, StoreError::SchemaTooNew { .. }));
    }

    #[test]
    fn event_log_is_append_only() {
        let mut connection = Connection::open_in_memory().expect("in-memory database");
        migrate(&mut connection, GATEWAY_MIGRATIONS).expect("migration");
        connection
            .execute_batch(
                "INSERT INTO documents VALUES ('d', 'out', NULL, 'accepted', 's', NULL, NULL, NULL, '{}', 't', 't');
                 INSERT INTO document_events (document, at, kind) VALUES ('d', 't', 'accepted');",
            )
            .expect("insert");
        assert!(connection
            .execute("UPDATE document_events SET kind = 'x'", [])
            .is_err());
        assert!(connection
            .execute("DELETE FROM document_events", [])
            .is_err());
    }
}
