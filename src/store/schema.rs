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
    // 2: the exchange with the axis. Per-document exchange fields; business statuses
    // received and sent; the outbox of packets to send; the ledger of incoming deliveries
    // (one row per axis docId ever committed, so a re-fetch after a lost acknowledgement
    // records nothing twice).
    r#"
    ALTER TABLE documents ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE documents ADD COLUMN packet_sha256 TEXT;        -- the edXML packet blob
    ALTER TABLE documents ADD COLUMN packet_size INTEGER;
    ALTER TABLE documents ADD COLUMN axis_doc_id TEXT;           -- out: the axis's DocId; in: the delivery docId
    ALTER TABLE documents ADD COLUMN peer_organ TEXT;            -- in: the sender's OrganId
    ALTER TABLE documents ADD COLUMN quarantine_reason TEXT;
    CREATE UNIQUE INDEX documents_incoming_axis_doc_id
        ON documents (axis_doc_id) WHERE direction = 'in' AND axis_doc_id IS NOT NULL;
    CREATE INDEX documents_packet_sha256 ON documents (packet_sha256)
        WHERE packet_sha256 IS NOT NULL;

    CREATE TABLE outbox (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        kind          TEXT NOT NULL CHECK (kind IN ('edoc', 'status')),
        document      TEXT NOT NULL REFERENCES documents (id),
        priority      INTEGER NOT NULL DEFAULT 0,
        packet_sha256 TEXT NOT NULL CHECK (length(packet_sha256) = 64),
        packet_size   INTEGER NOT NULL CHECK (packet_size >= 0),
        state         TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'queued', 'refused')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        axis_doc_id   TEXT,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX outbox_waiting ON outbox (priority DESC, id) WHERE state IN ('pending', 'sent');
    CREATE INDEX outbox_packet_sha256 ON outbox (packet_sha256);
    -- One edoc packet per document.
    CREATE UNIQUE INDEX outbox_one_edoc ON outbox (document) WHERE kind = 'edoc';

    CREATE TABLE document_statuses (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
        document         TEXT NOT NULL REFERENCES documents (id),
        direction        TEXT NOT NULL CHECK (direction IN ('received', 'sent')),
        organ_id         TEXT NOT NULL,                -- who set the status
        code             TEXT NOT NULL,                -- 01…16
        description      TEXT NOT NULL DEFAULT '',
        packet_timestamp TEXT,                         -- as the packet says (Vietnam local)
        axis_doc_id      TEXT,                         -- received: the delivery docId
        outbox           INTEGER REFERENCES outbox (id), -- sent: the packet carrying it
        recorded_at      TEXT NOT NULL
    ) STRICT;
    CREATE INDEX document_statuses_document ON document_statuses (document, seq);
    CREATE UNIQUE INDEX document_statuses_axis_doc_id
        ON document_statuses (axis_doc_id) WHERE axis_doc_id IS NOT NULL;

    CREATE TABLE incoming_deliveries (
        axis_doc_id   TEXT PRIMARY KEY,
        message_type  TEXT NOT NULL CHECK (message_type IN ('edoc', 'status')),
        outcome       TEXT NOT NULL CHECK (outcome IN ('document', 'status', 'quarantined')),
        document      TEXT REFERENCES documents (id),
        packet_sha256 TEXT,
        packet_size   INTEGER,
        peer_organ    TEXT,
        reason        TEXT,
        received_at   TEXT NOT NULL
    ) STRICT;
    CREATE INDEX incoming_deliveries_packet_sha256 ON incoming_deliveries (packet_sha256)
        WHERE packet_sha256 IS NOT NULL;
    "#,
    // 3: signatures. The verification report of a document's signatures, as JSON: stored
    // with every incoming document (and, for outgoing ones, the leader's signature as
    // checked at intake).
    r#"
    ALTER TABLE documents ADD COLUMN signatures_json TEXT;
    "#,
    // 4: the agency seal on outgoing documents: the PAdES level reached (`B-B`, `B-T`)
    // and when the seal was applied (a B-B document waits for its timestamp until then
    // plus the configured delay).
    r#"
    ALTER TABLE documents ADD COLUMN signature_level TEXT;
    ALTER TABLE documents ADD COLUMN sealed_at TEXT;
    "#,
    // 5: the evidence log (`evidence.rs`): hash-chained records of every packet sent and
    // received, append-only; signed batches over them and each record's inclusion proof.
    r#"
    CREATE TABLE evidence (
        seq         INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        kind        TEXT NOT NULL,
        document    TEXT NOT NULL,
        record_json TEXT NOT NULL,
        hash        TEXT NOT NULL CHECK (length(hash) = 64)
    ) STRICT;
    CREATE TRIGGER evidence_append_only_update BEFORE UPDATE ON evidence
        BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
    CREATE TRIGGER evidence_append_only_delete BEFORE DELETE ON evidence
        BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
    CREATE TABLE evidence_batches (
        id        INTEGER PRIMARY KEY,
        first_seq INTEGER NOT NULL,
        last_seq  INTEGER NOT NULL,
        root      TEXT NOT NULL CHECK (length(root) = 64),
        signature BLOB NOT NULL,
        at        TEXT NOT NULL
    ) STRICT;
    CREATE TABLE evidence_proofs (
        seq        INTEGER PRIMARY KEY REFERENCES evidence (seq),
        batch      INTEGER NOT NULL REFERENCES evidence_batches (id),
        proof_json TEXT NOT NULL
    ) STRICT;
    "#,
    // 6: the clerk's work (NĐ 30/2020): registers, business statuses, recall, update and
    // replacement.
    //
    // Outgoing numbers come from a series (`general`, or `secret` for secret documents) and
    // are unique per (year, series); rows from before this migration keep their series
    // empty when their number was used twice. Incoming documents get their số đến
    // (`incoming_number`, per `register_year`) when the clerk accepts them (status 03).
    // `business_status` is the last status this office set on an incoming document (01…06);
    // `cancelled_at` marks a document cancelled in the register by an agreed recall (kept for
    // the record); `replaces` links a replacement to the document it replaces; `version`
    // counts agreed updates. `business_requests` holds recall/update/replace requests sent
    // or received, with the receiver's answer (15 agrees, 16 refuses). Outbox rows carry the
    // BussinessDocType of their edoc packet (0 new; 1, 2, 3 travel for an existing
    // document, so only type 0 is one per document). `register_closures` records the digest
    // of a register closed at year end.
    r#"
    ALTER TABLE documents ADD COLUMN register_series TEXT;
    UPDATE documents SET register_series = 'general'
        WHERE direction = 'out' AND code_number IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM documents AS earlier
                          WHERE earlier.direction = 'out'
                            AND earlier.register_year = documents.register_year
                            AND earlier.code_number = documents.code_number
                            AND earlier.rowid < documents.rowid);
    CREATE UNIQUE INDEX documents_outgoing_register_number
        ON documents (register_year, register_series, code_number)
        WHERE direction = 'out' AND code_number IS NOT NULL AND register_series IS NOT NULL;

    ALTER TABLE documents ADD COLUMN incoming_number INTEGER;
    ALTER TABLE documents ADD COLUMN registered_at TEXT;
    CREATE UNIQUE INDEX documents_incoming_register_number
        ON documents (register_year, incoming_number)
        WHERE direction = 'in' AND incoming_number IS NOT NULL;

    ALTER TABLE documents ADD COLUMN business_status TEXT;
    UPDATE documents SET business_status = '01' WHERE direction = 'in' AND state = 'received';
    ALTER TABLE documents ADD COLUMN due_date TEXT;                 -- YYYY-MM-DD
    UPDATE documents SET due_date = json_extract(meta_json, '$.due_date')
        WHERE direction = 'out' AND json_valid(meta_json);
    UPDATE documents SET due_date = replace(json_extract(meta_json, '$.due_date'), '/', '-')
        WHERE direction = 'in' AND json_valid(meta_json);
    CREATE INDEX documents_due_date ON documents (due_date) WHERE due_date IS NOT NULL;
    ALTER TABLE documents ADD COLUMN cancelled_at TEXT;
    ALTER TABLE documents ADD COLUMN cancel_reason TEXT;
    ALTER TABLE documents ADD COLUMN replaces TEXT REFERENCES documents (id);
    ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

    CREATE TABLE business_requests (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        document      TEXT NOT NULL REFERENCES documents (id),
        direction     TEXT NOT NULL CHECK (direction IN ('sent', 'received')),
        kind          TEXT NOT NULL CHECK (kind IN ('recall', 'update', 'replace')),
        organ_id      TEXT NOT NULL,                 -- who asks (received) / us (sent)
        reason        TEXT NOT NULL DEFAULT '',
        changes_json  TEXT,                          -- update: the new fields and receiver changes
        packet_sha256 TEXT,                          -- the edoc packet carrying it
        axis_doc_id   TEXT,                          -- received: the delivery it came in
        answer        TEXT CHECK (answer IN ('15', '16')),
        answered_at   TEXT,
        created_at    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX business_requests_document ON business_requests (document, id);
    CREATE UNIQUE INDEX business_requests_axis_doc_id
        ON business_requests (axis_doc_id) WHERE axis_doc_id IS NOT NULL;

    ALTER TABLE outbox ADD COLUMN business_type INTEGER NOT NULL DEFAULT 0
        CHECK (business_type BETWEEN 0 AND 3);
    DROP INDEX outbox_one_edoc;
    CREATE UNIQUE INDEX outbox_one_new_edoc ON outbox (document)
        WHERE kind = 'edoc' AND business_type = 0;

    CREATE TABLE register_closures (
        register  TEXT NOT NULL,                     -- `out`, `out-secret`, `in`
        year      INTEGER NOT NULL,
        entries   INTEGER NOT NULL,
        digest    TEXT NOT NULL CHECK (length(digest) = 64),  -- SHA-256 of the CSV export
        closed_at TEXT NOT NULL,
        PRIMARY KEY (register, year)
    ) STRICT;
    "#,
    // 7: outgoing numbers are unique per (year, series) since migration 6, so the first
    // migration's uniqueness of (direction, year, number, notation) goes: it made a secret
    // document's number collide with the same number of the general series, and it would
    // make two incoming documents from different senders with the same number and notation
    // collide once registered in the same year. DocumentIds stay unique per direction.
    r#"
    DROP INDEX documents_register_number;
    "#,
    // 8: the status page counts what is open — incoming documents awaiting the clerk, and
    // those overdue — every time it is shown; these partial indexes hold only open incoming
    // documents, so the counts stay small with a million documents stored.
    r#"
    CREATE INDEX documents_incoming_open_status ON documents (business_status, state)
        WHERE direction = 'in' AND cancelled_at IS NULL;
    CREATE INDEX documents_incoming_open_due ON documents (due_date)
        WHERE direction = 'in' AND cancelled_at IS NULL AND due_date IS NOT NULL
          AND coalesce(business_status, '') NOT IN ('02', '06');
    "#,
    // 9: every count the status page, `/healthz`, `/api/v1/status` and `/metrics` show is
    // read on every request, so with a million documents each must touch only what it
    // counts (`benches/status_page.rs`). Two of the page's counts read every packet and
    // every delivery ever recorded (`outbox` by state, `incoming_deliveries` by outcome:
    // 2.6 million rows each in that store), and `/metrics` totalled both tables per scrape.
    //
    // Totals kept by trigger: packets by (kind, state) and deliveries by outcome, counted
    // from the rows already there, then moved by every insert, change and delete in the same
    // transaction (a rolled-back savepoint takes its counts back with it). Rows at zero stay.
    //
    // The open documents' counts get partial indexes holding only the documents they count
    // and every column their WHERE reads, so each count is answered from the index alone
    // (looking rows up costs one random read per document counted): outgoing documents
    // waiting to be sent, incoming ones awaiting the clerk, open incoming ones with a due
    // date. They replace migration 8's two (one of which held every incoming document not
    // cancelled) and are named by the counts with INDEXED BY (`status.rs`).
    r#"
    CREATE TABLE outbox_totals (
        kind    TEXT NOT NULL,
        state   TEXT NOT NULL,
        packets INTEGER NOT NULL,
        PRIMARY KEY (kind, state)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO outbox_totals (kind, state, packets)
        SELECT kind, state, count(*) FROM outbox GROUP BY kind, state;
    CREATE TRIGGER outbox_totals_insert AFTER INSERT ON outbox BEGIN
        INSERT INTO outbox_totals (kind, state, packets) VALUES (new.kind, new.state, 1)
            ON CONFLICT (kind, state) DO UPDATE SET packets = packets + 1;
    END;
    CREATE TRIGGER outbox_totals_update AFTER UPDATE OF kind, state ON outbox
        WHEN old.kind IS NOT new.kind OR old.state IS NOT new.state BEGIN
        UPDATE outbox_totals SET packets = packets - 1
            WHERE kind = old.kind AND state = old.state;
        INSERT INTO outbox_totals (kind, state, packets) VALUES (new.kind, new.state, 1)
            ON CONFLICT (kind, state) DO UPDATE SET packets = packets + 1;
    END;
    CREATE TRIGGER outbox_totals_delete AFTER DELETE ON outbox BEGIN
        UPDATE outbox_totals SET packets = packets - 1
            WHERE kind = old.kind AND state = old.state;
    END;

    CREATE TABLE incoming_delivery_totals (
        outcome    TEXT PRIMARY KEY,
        deliveries INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO incoming_delivery_totals (outcome, deliveries)
        SELECT outcome, count(*) FROM incoming_deliveries GROUP BY outcome;
    CREATE TRIGGER incoming_delivery_totals_insert AFTER INSERT ON incoming_deliveries BEGIN
        INSERT INTO incoming_delivery_totals (outcome, deliveries) VALUES (new.outcome, 1)
            ON CONFLICT (outcome) DO UPDATE SET deliveries = deliveries + 1;
    END;
    CREATE TRIGGER incoming_delivery_totals_update AFTER UPDATE OF outcome ON incoming_deliveries
        WHEN old.outcome IS NOT new.outcome BEGIN
        UPDATE incoming_delivery_totals SET deliveries = deliveries - 1
            WHERE outcome = old.outcome;
        INSERT INTO incoming_delivery_totals (outcome, deliveries) VALUES (new.outcome, 1)
            ON CONFLICT (outcome) DO UPDATE SET deliveries = deliveries + 1;
    END;
    CREATE TRIGGER incoming_delivery_totals_delete AFTER DELETE ON incoming_deliveries BEGIN
        UPDATE incoming_delivery_totals SET deliveries = deliveries - 1
            WHERE outcome = old.outcome;
    END;

    DROP INDEX documents_incoming_open_status;
    DROP INDEX documents_incoming_open_due;
    CREATE INDEX documents_waiting_to_send
        ON documents (direction, state, cancelled_at, created_at)
        WHERE direction = 'out' AND state IN ('accepted', 'signed', 'packed', 'sent')
          AND cancelled_at IS NULL;
    CREATE INDEX documents_awaiting_clerk
        ON documents (direction, state, cancelled_at, business_status)
        WHERE direction = 'in' AND state = 'received' AND cancelled_at IS NULL
          AND business_status = '01';
    CREATE INDEX documents_open_due
        ON documents (due_date, direction, cancelled_at, business_status)
        WHERE direction = 'in' AND cancelled_at IS NULL AND due_date IS NOT NULL
          AND coalesce(business_status, '') NOT IN ('02', '06');
    "#,
    // 10: the agency directory (`getAgenciesList`), cached so that outgoing recipients can
    // be checked against it (`directory.rs`). The whole set is replaced at each successful
    // refresh; `agency_directory_refresh` is its one row saying when that last happened and
    // how many agencies it held, so the status facts never count the table. No row means
    // never refreshed: recipients are then not checked at all.
    r#"
    CREATE TABLE agency_directory (
        code         TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        system_id    TEXT NOT NULL,
        refreshed_at TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE agency_directory_refresh (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        refreshed_at TEXT NOT NULL,
        agencies     INTEGER NOT NULL CHECK (agencies > 0)
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
    fn numbers_used_twice_before_migration_6_keep_no_series() {
        let mut connection = Connection::open_in_memory().expect("in-memory database");
        migrate(&mut connection, &GATEWAY_MIGRATIONS[..5]).expect("up to 5");
        connection
            .execute_batch(
                "INSERT INTO documents (id, direction, document_id, state, subject, code_number, code_notation, register_year, meta_json, created_at, updated_at)
                     VALUES ('a', 'out', 'x,1', 'queued', 's', 7, 'UBND-VP', 2026, '{\"due_date\": \"2026-12-31\"}', 't', 't'),
                            ('b', 'out', 'x,2', 'queued', 's', 7, 'QĐ-UBND', 2026, '{}', 't', 't'),
                            ('c', 'out', 'x,3', 'queued', 's', 8, 'UBND-VP', 2026, 'not json', 't', 't');",
            )
            .expect("insert");
        migrate(&mut connection, GATEWAY_MIGRATIONS).expect("migration 6");
        let series: Vec<(String, Option<String>, Option<String>)> = connection
            .prepare("SELECT id, register_series, due_date FROM documents ORDER BY id")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect()
            })
            .expect("read back");
        assert_eq!(
            series,
            vec![
                (
                    "a".into(),
                    Some("general".into()),
                    Some("2026-12-31".into())
                ),
                ("b".into(), None, None),
                ("c".into(), Some("general".into()), None),
            ]
        );
    }

    #[test]
    fn two_senders_may_use_the_same_number_in_one_register_year() {
        let mut connection = Connection::open_in_memory().expect("in-memory database");
        migrate(&mut connection, GATEWAY_MIGRATIONS).expect("migration");
        let insert = "INSERT INTO documents (id, direction, document_id, state, subject, code_number, code_notation, register_year, meta_json, created_at, updated_at, incoming_number)
                      VALUES (?1, 'in', ?2, 'received', 's', 1, 'UBND-VP', 2026, '{}', 't', 't', ?3)";
        connection
            .execute(insert, rusqlite::params!["a", "x,1", 1])
            .expect("first");
        connection
            .execute(insert, rusqlite::params!["b", "y,1", 2])
            .expect("another sender's 01/UBND-VP");
        assert!(
            connection
                .execute(insert, rusqlite::params!["c", "z,1", 2])
                .is_err(),
            "a số đến is still unique per year"
        );
    }

    /// A row of `outbox_totals`: kind, state, packets.
    type OutboxTotal = (String, String, i64);
    /// A row of `incoming_delivery_totals`: outcome, deliveries.
    type DeliveryTotal = (String, i64);

    #[test]
    fn migration_9_counts_the_existing_packets_and_deliveries_then_follows_them() {
        let mut connection = Connection::open_in_memory().expect("in-memory database");
        migrate(&mut connection, &GATEWAY_MIGRATIONS[..8]).expect("up to 8");
        let sha = "a".repeat(64);
        connection
            .execute_batch(&format!(
                "INSERT INTO documents (id, direction, state, subject, meta_json, created_at, updated_at)
                     VALUES ('d', 'out', 'queued', 's', '{{}}', 't', 't');
                 INSERT INTO outbox (kind, document, packet_sha256, packet_size, state, created_at, updated_at)
                     VALUES ('edoc', 'd', '{sha}', 1, 'queued', 't', 't'),
                            ('status', 'd', '{sha}', 1, 'queued', 't', 't'),
                            ('status', 'd', '{sha}', 1, 'sent', 't', 't');
                 INSERT INTO incoming_deliveries (axis_doc_id, message_type, outcome, received_at)
                     VALUES ('a', 'edoc', 'document', 't'), ('b', 'status', 'quarantined', 't'),
                            ('c', 'status', 'status', 't'), ('e', 'status', 'status', 't');"
            ))
            .expect("rows before migration 9");
        migrate(&mut connection, GATEWAY_MIGRATIONS).expect("migration 9");
        let totals = |connection: &Connection| -> (Vec<OutboxTotal>, Vec<DeliveryTotal>) {
            let outbox = connection
                .prepare("SELECT kind, state, packets FROM outbox_totals WHERE packets > 0 ORDER BY 1, 2")
                .and_then(|mut statement| {
                    statement
                        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                        .collect()
                })
                .expect("outbox totals");
            let deliveries = connection
                .prepare("SELECT outcome, deliveries FROM incoming_delivery_totals WHERE deliveries > 0 ORDER BY 1")
                .and_then(|mut statement| {
                    statement
                        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                        .collect()
                })
                .expect("delivery totals");
            (outbox, deliveries)
        };
        let row = |kind: &str, state: &str, packets| (kind.to_string(), state.to_string(), packets);
        let outcome = |outcome: &str, deliveries| (outcome.to_string(), deliveries);
        assert_eq!(
            totals(&connection),
            (
                vec![
                    row("edoc", "queued", 1),
                    row("status", "queued", 1),
                    row("status", "sent", 1)
                ],
                vec![
                    outcome("document", 1),
                    outcome("quarantined", 1),
                    outcome("status", 2)
                ]
            )
        );
        connection
            .execute_batch(&format!(
                "UPDATE outbox SET state = 'queued' WHERE state = 'sent';
                 UPDATE outbox SET attempts = 2;
                 DELETE FROM outbox WHERE kind = 'edoc' AND state = 'queued';
                 INSERT INTO outbox (kind, document, packet_sha256, packet_size, state, created_at, updated_at)
                     VALUES ('edoc', 'd', '{sha}', 1, 'pending', 't', 't');
                 UPDATE outbox SET state = 'refused' WHERE state = 'pending';
                 DELETE FROM incoming_deliveries WHERE axis_doc_id = 'c';
                 UPDATE incoming_deliveries SET outcome = 'status' WHERE axis_doc_id = 'b';"
            ))
            .expect("later writes");
        assert_eq!(
            totals(&connection),
            (
                vec![row("edoc", "refused", 1), row("status", "queued", 2)],
                vec![outcome("document", 1), outcome("status", 2)]
            )
        );
    }

    #[test]
    fn event_log_is_append_only() {
        let mut connection = Connection::open_in_memory().expect("in-memory database");
        migrate(&mut connection, GATEWAY_MIGRATIONS).expect("migration");
        connection
            .execute_batch(
                "INSERT INTO documents (id, direction, document_id, state, subject, code_number, code_notation, register_year, meta_json, created_at, updated_at)
                     VALUES ('d', 'out', NULL, 'accepted', 's', NULL, NULL, NULL, '{}', 't', 't');
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
