//! The axis database's migrations (`PRAGMA user_version`, applied by
//! `store::database`). Never edit a released migration: add a new one.

/// The migrations in order; index + 1 is the schema version each one produces.
pub(super) const AXIS_MIGRATIONS: &[&str] = &[
    // 1: packets as received from a sending system, and one delivery per recipient system.
    r#"
    CREATE TABLE packets (
        doc_id            TEXT PRIMARY KEY,             -- ULID, the sender's DocId
        sender_system     TEXT NOT NULL,
        sender_organ      TEXT NOT NULL,                -- From.OrganId
        message_type      TEXT NOT NULL CHECK (message_type IN ('edoc', 'status')),
        document_id       TEXT,                         -- edXML DocumentId (status: ResponseFor's)
        business_doc_type INTEGER,                      -- 0..3 for edoc packets, NULL for status
        new_document      INTEGER NOT NULL CHECK (new_document IN (0, 1)),
        title             TEXT NOT NULL DEFAULT '',
        notation          TEXT NOT NULL DEFAULT '',
        sha256            TEXT NOT NULL CHECK (length(sha256) = 64),
        size              INTEGER NOT NULL CHECK (size >= 0),
        answer_json       TEXT NOT NULL,                -- the first answer, replayed to retries
        created_at        TEXT NOT NULL
    ) STRICT;
    -- A retry of the same bytes by the same system is the same packet.
    CREATE UNIQUE INDEX packets_retry ON packets (sender_system, sha256);
    -- A sender issues a DocumentId once as a new document (recall/update/replace reuse it).
    CREATE UNIQUE INDEX packets_new_document ON packets (sender_organ, document_id)
        WHERE new_document = 1 AND document_id IS NOT NULL;
    CREATE INDEX packets_sha256 ON packets (sha256);

    CREATE TABLE deliveries (
        delivery_id       TEXT PRIMARY KEY,             -- ULID, the receiver's docId
        packet            TEXT NOT NULL REFERENCES packets (doc_id),
        recipient_system  TEXT NOT NULL,
        recipient_organs  TEXT NOT NULL,                -- the To codes this system serves, ';'-joined
        state             TEXT NOT NULL CHECK (state IN ('processing', 'done', 'fail')),
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL,
        UNIQUE (packet, recipient_system)
    ) STRICT;
    CREATE INDEX deliveries_waiting ON deliveries (recipient_system, state, delivery_id);
    CREATE INDEX deliveries_packet ON deliveries (packet);
    "#,
];
