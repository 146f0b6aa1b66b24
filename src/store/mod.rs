//! The durable store: one SQLite database (WAL, `synchronous=FULL`) and a directory of
//! content-addressed blob files. This is the only module that opens SQLite or touches the
//! state directory; everything else goes through [`Store`].
//!
//! Writes go to one writer thread over a channel; it groups whatever is queued into one
//! transaction (group commit) and answers each request only after that transaction has
//! committed, so a caller that hears "ok" knows the row is on disk. Blob files are made
//! durable (temp name, fsync, rename, fsync directory) *before* the row that names them is
//! committed; blobs no row names are swept away on open. Readers use their own connections.
//!
//! The store knows rows, not rules: which state may follow which, and what a document
//! must contain, belong to `workflow`.

pub mod axis;
mod blobs;
mod business;
mod business_outgoing;
mod business_queries;
mod business_records;
#[cfg(test)]
mod business_tests;
mod database;
mod directory;
mod error;
pub mod evidence;
mod exchange;
mod exchange_queries;
#[cfg(test)]
mod exchange_tests;
mod incoming;
mod outgoing;
mod queries;
mod records;
#[cfg(test)]
mod register_tests;
pub mod registers;
mod schema;
mod sealing;
mod status;
mod writer;

use std::path::Path;
use std::sync::Arc;

use database::Database;

pub use blobs::{BlobStore, BlobWriter, PublishedBlob, StagedBlob};
pub use business::INCOMING_REGISTER;
pub use business_records::{
    BusinessFacts, BusinessInfo, BusinessRequestRecord, BusinessSend, Cancellation,
    ClerkStatusCommit, ClerkStatusOutcome, ClerkStatusWrite, MetaUpdate, NewReceivedRequest,
    PendingRequest, RecallWrite, ReceivedStatus, RecipientStatus, RecipientView, RequestAnswer,
    UpdateWrite, Withdrawal,
};
pub use directory::{AgencyEntry, DirectoryRefresh};
pub use error::{io_disk_full, StoreError};
pub use exchange::IncomingCommit;
pub use queries::MAX_PAGE;
pub use records::{
    AcceptOutcome, DeliveryOutcome, Direction, DocumentEvent, DocumentFile, DocumentIdentity,
    DocumentPage, DocumentRecord, DocumentState, DocumentStatusRecord, DocumentSummary,
    ExchangeInfo, IdempotencyClaim, ListFilter, NewFile, NewIncomingDocument, NewIncomingStatus,
    NewOutgoingDocument, NewQuarantine, NewStatusPacket, NumberingRequest, OutboxItem,
    PackableDocument, PacketBlob, PacketKind, RegisterSeries, StorageUsage,
};
pub use sealing::{SealedFile, UnstampedDocument};
pub use status::{ExchangeTotals, QueueCounts};

/// Name of the SQLite file inside the state directory.
pub const DATABASE_FILE: &str = "docgate.sqlite3";

/// Handle to the store. Cheap to clone; all clones share one writer thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    database: Database,
    blobs: BlobStore,
    /// Signalled after a new outgoing document commits, so the packer starts at once
    /// instead of at its next poll (one stored permit: a signal is never lost).
    outgoing_accepted: tokio::sync::Notify,
}

impl Store {
    /// Opens (creating if needed) the store under `state_dir`: applies migrations, runs
    /// `PRAGMA integrity_check`, sweeps staging leftovers and unreferenced blobs, and starts
    /// the writer thread. Nothing else should run against the same directory meanwhile.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io {
            action: "create the state directory",
            path: state_dir.to_path_buf(),
            source,
        })?;
        let blobs = BlobStore::open(&state_dir.join("blobs"))?;
        let database = Database::open(
            &state_dir.join(DATABASE_FILE),
            schema::GATEWAY_MIGRATIONS,
            |connection| {
                let referenced = queries::referenced_blobs(connection)?;
                blobs.sweep_unreferenced(&referenced).map(|_| ())
            },
        )?;
        Ok(Store {
            inner: Arc::new(StoreInner {
                database,
                blobs,
                outgoing_accepted: tokio::sync::Notify::new(),
            }),
        })
    }

    /// The blob directory, for streaming files in before their row is committed.
    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    /// Path of the SQLite database (for reports and the benchmarks' baseline).
    pub fn database_path(&self) -> &Path {
        self.inner.database.path()
    }

    /// Commits a new outgoing document (state `accepted`) with its files, its first event and,
    /// when asked, the next number of its register — all in one transaction. Answers only
    /// after the commit. With an idempotency key already used by an identical request, it
    /// returns the first answer and writes nothing.
    pub async fn accept_outgoing(
        &self,
        document: NewOutgoingDocument,
    ) -> Result<AcceptOutcome, StoreError> {
        let outcome = self
            .inner
            .database
            .write(move |connection| outgoing::accept_outgoing(connection, &document))
            .await?;
        if !outcome.replayed {
            self.inner.outgoing_accepted.notify_one();
        }
        Ok(outcome)
    }

    /// Resolves once a new outgoing document has committed since the last call returned
    /// (or now, if one did meanwhile). For the one task that packs outgoing documents.
    pub async fn outgoing_accepted(&self) {
        self.inner.outgoing_accepted.notified().await;
    }

    /// Looks up an idempotency key before any work is done for a request.
    pub fn find_idempotency_key(&self, key: &str) -> Result<Option<IdempotencyClaim>, StoreError> {
        self.with_reader(|connection| queries::find_idempotency_key(connection, key))
    }

    /// The DocumentId of the outgoing document holding `number` in `year`'s `series`, if
    /// any (a cheap check before any file is published; checked again in the commit).
    pub fn outgoing_number_taken(
        &self,
        year: i32,
        series: RegisterSeries,
        number: u32,
    ) -> Result<Option<String>, StoreError> {
        self.with_reader(|connection| outgoing::number_holder(connection, year, series, number))
    }

    /// One document with its files and event log.
    pub fn document(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError> {
        self.with_reader(|connection| queries::document(connection, id))
    }

    /// Documents matching `filter`, newest first, one page.
    pub fn list_documents(&self, filter: &ListFilter) -> Result<DocumentPage, StoreError> {
        self.with_reader(|connection| queries::list_documents(connection, filter))
    }

    /// Runs `PRAGMA integrity_check` on a reader connection.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        self.with_reader(database::integrity_check)
    }

    /// Counts documents by direction and state (for health and metrics).
    pub fn count_documents(&self) -> Result<Vec<(Direction, DocumentState, u64)>, StoreError> {
        self.with_reader(queries::count_documents)
    }

    /// The writer thread's heartbeat: it beats after every batch and about every second
    /// while idle, and stops when the thread is stuck (the systemd watchdog watches it).
    pub fn writer_heartbeat(&self) -> crate::system::heartbeat::Heartbeat {
        self.inner.database.writer_heartbeat()
    }

    /// Waits until every write queued so far has committed and the writer thread has
    /// stopped. Called on shutdown; later writes fail with [`StoreError::Closed`].
    pub fn close(&self) {
        self.inner.database.close();
    }

    fn with_reader<T>(
        &self,
        query: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.inner.database.read(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(index: usize, number: Option<u32>, key: Option<&str>) -> NewOutgoingDocument {
        NewOutgoingDocument {
            id: ulid::Ulid::new().to_string(),
            subject: format!("document {index}"),
            meta_json: "{}".into(),
            files: Vec::new(),
            state: DocumentState::Accepted,
            numbering: NumberingRequest {
                series: RegisterSeries::General,
                year: 2026,
                number,
                notation: "UBND-VP".into(),
                organ_id: "000.00.01.H41".into(),
                promulgation_date: "2026/11/21".into(),
            },
            idempotency: key.map(|key| (key.to_string(), format!("request-{key}"))),
            at: "2026-11-21T00:00:00.000Z".into(),
            replaces: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_request_does_not_sink_its_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        // Many writers at once, so the writer thread groups them; every fifth one asks for
        // number 1, which only the first to commit can have.
        let mut tasks = Vec::new();
        for index in 0..60 {
            let store = store.clone();
            let number = (index % 5 == 0).then_some(1);
            tasks.push(tokio::spawn(async move {
                store.accept_outgoing(document(index, number, None)).await
            }));
        }
        let mut accepted = 0;
        let mut duplicates = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => accepted += 1,
                Err(StoreError::NumberTaken { .. }) => duplicates += 1,
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        // Number 1 goes to one request: an explicit one, or an assigned one that committed
        // first (then all twelve explicit requests are refused).
        assert_eq!(accepted + duplicates, 60);
        assert!(duplicates == 11 || duplicates == 12, "{duplicates} refused");
        let counts = store.count_documents().expect("count");
        assert_eq!(
            counts,
            vec![(
                Direction::Outgoing,
                DocumentState::Accepted,
                accepted as u64
            )]
        );
        // Assigned numbers skipped the taken one and never repeat.
        let page = store
            .list_documents(&ListFilter {
                limit: 100,
                ..ListFilter::default()
            })
            .expect("list");
        let mut numbers: Vec<u32> = page
            .documents
            .iter()
            .filter_map(|d| d.code_number)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), accepted);
        store.close();
    }

    #[tokio::test]
    async fn an_idempotency_key_replays_the_first_answer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let first = store
            .accept_outgoing(document(1, None, Some("k")))
            .await
            .expect("first");
        let again = store
            .accept_outgoing(document(2, None, Some("k")))
            .await
            .expect("again");
        assert!(!first.replayed && again.replayed);
        assert_eq!(first.identity, again.identity);
        let mut different = document(3, None, Some("k"));
        different.idempotency = Some(("k".into(), "another request".into()));
        assert!(matches!(
            store.accept_outgoing(different).await,
            Err(StoreError::IdempotencyKeyReused { .. })
        ));
        store.close();
        assert!(matches!(
            store.accept_outgoing(document(4, None, None)).await,
            Err(StoreError::Closed)
        ));
    }

    #[test]
    fn a_damaged_database_is_refused_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.close();
        drop(store);
        let path = dir.path().join(DATABASE_FILE);
        let mut bytes = std::fs::read(&path).expect("read");
        // Overwrite the middle of the file (page 2 onwards) with garbage.
        for byte in bytes.iter_mut().skip(4096).take(4096) {
            *byte = 0xA5;
        }
        std::fs::write(&path, bytes).expect("write");
        let error = Store::open(dir.path())
            .err()
            .expect("a damaged database must be refused");
        let message = error.to_string();
        assert!(
            message.contains("integrity")
                || message.contains("malformed")
                || message.contains("not a database"),
            "{message}"
        );
    }
}
