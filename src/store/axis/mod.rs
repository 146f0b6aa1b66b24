//! The reference axis's own store: `axis.sqlite3` (its own migrations, through
//! `store::database`) and a content-addressed directory of packet files.
//!
//! Owns the rows of packets and deliveries and the durability of both: a packet's file is
//! published (fsync, rename, directory fsync) before the row naming it is committed, the
//! write answers only after COMMIT, and files no row names are swept on open. Enforces
//! storage facts only: one packet per (sending system, SHA-256) so a retry is replayed, one
//! *new* document per (sender organ, DocumentId), a delivery belongs to its recipient.
//! Never decides who may send what to whom (that is `axis::routing`) and never speaks HTTP.

pub mod enrolment;
mod records;
mod schema;
mod sql;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use records::{
    AcceptedPacket, DeliveryRecord, NewDelivery, NewPacket, SentRecord, StoredAnswer,
};

use super::database::Database;
use super::{BlobStore, StoreError};
use crate::vdxp::{MessageType, TransportStatus};

/// Name of the SQLite file inside the axis's state directory.
pub const AXIS_DATABASE_FILE: &str = "axis.sqlite3";

/// Why an axis write was refused.
#[derive(Debug, thiserror::Error)]
pub enum AxisStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{sender_organ} already sent a new document with DocumentId {document_id} (DocId {existing_doc_id}); a new document needs a new number, or send it as an update/replacement (BussinessDocType 2 or 3)")]
    DuplicateNewDocument {
        sender_organ: String,
        document_id: String,
        existing_doc_id: String,
    },
}

/// Handle to the axis store. Cheap to clone; all clones share one writer thread.
#[derive(Clone)]
pub struct AxisStore {
    inner: Arc<Inner>,
}

struct Inner {
    database: Database,
    blobs: BlobStore,
    scratch: PathBuf,
}

impl AxisStore {
    /// Opens (creating if needed) the store under `state_dir`: migrations, integrity check,
    /// a sweep of staging leftovers and unreferenced packet files, an empty scratch
    /// directory, and the writer thread.
    pub fn open(state_dir: &Path) -> Result<AxisStore, StoreError> {
        std::fs::create_dir_all(state_dir)
            .map_err(StoreError::io("create the axis state directory", state_dir))?;
        let scratch = state_dir.join("scratch");
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .map_err(StoreError::io("empty the scratch directory", &scratch))?;
        }
        std::fs::create_dir_all(&scratch)
            .map_err(StoreError::io("create the scratch directory", &scratch))?;
        let blobs = BlobStore::open(&state_dir.join("packets"))?;
        let database = Database::open(
            &state_dir.join(AXIS_DATABASE_FILE),
            schema::AXIS_MIGRATIONS,
            |connection| {
                let referenced = sql::referenced_blobs(connection)?;
                blobs.sweep_unreferenced(&referenced).map(|_| ())
            },
        )?;
        Ok(AxisStore {
            inner: Arc::new(Inner {
                database,
                blobs,
                scratch,
            }),
        })
    }

    /// The packet files: stream a request body in, publish it before committing its row,
    /// open one for a download.
    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    /// A directory for throw-away files (attachments extracted while checking a packet),
    /// emptied on every open.
    pub fn scratch_dir(&self) -> &Path {
        &self.inner.scratch
    }

    /// The stored packet with these bytes from this system, if any (a retry).
    pub fn find_retry(
        &self,
        sender_system: &str,
        sha256: &str,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        self.inner
            .database
            .read(|connection| sql::find_retry(connection, sender_system, sha256))
    }

    /// The DocId of the packet that issued `document_id` as a new document from
    /// `sender_organ`, if any.
    pub fn new_document_holder(
        &self,
        sender_organ: &str,
        document_id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.inner
            .database
            .read(|connection| sql::new_document_holder(connection, sender_organ, document_id))
    }

    /// Commits a packet and its deliveries in one transaction; answers after COMMIT. The
    /// same bytes from the same system answer the stored packet and write nothing; the
    /// uniqueness checks run again inside the transaction, so concurrent retries make one.
    pub async fn accept_packet(&self, packet: NewPacket) -> Result<AcceptedPacket, AxisStoreError> {
        let outcome = self
            .inner
            .database
            .write(
                move |connection| match sql::accept_packet(connection, &packet) {
                    Ok(accepted) => Ok(Ok(accepted)),
                    // A storage failure rolls the savepoint back.
                    Err(AxisStoreError::Store(error)) => Err(error),
                    // A refusal happens before anything is written.
                    Err(refused) => Ok(Err(refused)),
                },
            )
            .await?;
        outcome
    }

    /// Deliveries for `recipient_system` not yet acknowledged done/fail, oldest first.
    pub fn waiting_deliveries(
        &self,
        recipient_system: &str,
        message_type: Option<MessageType>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.inner.database.read(|connection| {
            sql::waiting_deliveries(connection, recipient_system, message_type, limit)
        })
    }

    /// How many deliveries wait for `recipient_system`.
    pub fn count_waiting(&self, recipient_system: &str) -> Result<u64, StoreError> {
        self.inner
            .database
            .read(|connection| sql::count_waiting(connection, recipient_system))
    }

    /// One delivery of `recipient_system`; `None` for an unknown id or someone else's.
    pub fn delivery(
        &self,
        recipient_system: &str,
        delivery_id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        self.inner
            .database
            .read(|connection| sql::delivery(connection, recipient_system, delivery_id))
    }

    /// Moves a delivery from `expected` to `new` (compare-and-set, answered after COMMIT);
    /// false when its state was not `expected`, so the caller re-reads and decides again.
    pub async fn set_delivery_state(
        &self,
        recipient_system: &str,
        delivery_id: &str,
        expected: TransportStatus,
        new: TransportStatus,
        at: String,
    ) -> Result<bool, StoreError> {
        let recipient_system = recipient_system.to_owned();
        let delivery_id = delivery_id.to_owned();
        self.inner
            .database
            .write(move |connection| {
                sql::set_delivery_state(
                    connection,
                    &recipient_system,
                    &delivery_id,
                    expected,
                    new,
                    &at,
                )
            })
            .await
    }

    /// The deliveries of what `sender_system` sent (of one packet when `doc_id` is given),
    /// newest packet first.
    pub fn sent_deliveries(
        &self,
        sender_system: &str,
        doc_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SentRecord>, StoreError> {
        self.inner
            .database
            .read(|connection| sql::sent_deliveries(connection, sender_system, doc_id, limit))
    }

    /// Whether `sender_system` sent a packet with this DocId.
    pub fn packet_exists(&self, sender_system: &str, doc_id: &str) -> Result<bool, StoreError> {
        self.inner
            .database
            .read(|connection| sql::packet_exists(connection, sender_system, doc_id))
    }

    /// Lets queued writes commit, then stops the writer thread.
    pub fn close(&self) {
        self.inner.database.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn publish(store: &AxisStore, content: &[u8]) -> (String, u64) {
        let mut writer = store.blobs().writer(1 << 20).expect("writer");
        writer.write_all(content).expect("write");
        let published = store
            .blobs()
            .publish(writer.finish().expect("finish"))
            .expect("publish");
        (published.sha256, published.size)
    }

    fn packet(store: &AxisStore, content: &[u8], document_id: &str) -> NewPacket {
        let (sha256, size) = publish(store, content);
        let doc_id = ulid::Ulid::new().to_string();
        NewPacket {
            answer_json: format!("{{\"DocId\":\"{doc_id}\"}}"),
            doc_id,
            sender_system: "sys-a".into(),
            sender_organ: "000.00.01.H41".into(),
            message_type: MessageType::Edoc,
            document_id: Some(document_id.into()),
            business_doc_type: Some(0),
            new_document: true,
            title: "t".into(),
            notation: "1/UBND".into(),
            sha256,
            size,
            deliveries: vec![NewDelivery {
                delivery_id: ulid::Ulid::new().to_string(),
                recipient_system: "sys-b".into(),
                recipient_organs: vec!["000.00.02.H41".into()],
            }],
            at: "2026-11-21T00:00:00.000Z".into(),
        }
    }

    #[tokio::test]
    async fn retries_replay_and_new_documents_are_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = AxisStore::open(dir.path()).expect("open");
        let first = store
            .accept_packet(packet(&store, b"one", "D1"))
            .await
            .expect("first");
        assert!(!first.replayed);
        let again = store
            .accept_packet(packet(&store, b"one", "D1"))
            .await
            .expect("again");
        assert!(again.replayed);
        assert_eq!(again.doc_id, first.doc_id);
        let duplicate = store.accept_packet(packet(&store, b"two", "D1")).await;
        assert!(matches!(
            duplicate,
            Err(AxisStoreError::DuplicateNewDocument { .. })
        ));
        let mut update = packet(&store, b"three", "D1");
        update.new_document = false;
        update.business_doc_type = Some(2);
        store
            .accept_packet(update)
            .await
            .expect("an update reuses the id");

        let waiting = store
            .waiting_deliveries("sys-b", None, 500)
            .expect("waiting");
        assert_eq!(waiting.len(), 2);
        assert_eq!(store.count_waiting("sys-b").expect("count"), 2);
        assert!(store
            .delivery("sys-a", &waiting[0].delivery_id)
            .expect("read")
            .is_none());
        let moved = store
            .set_delivery_state(
                "sys-b",
                &waiting[0].delivery_id,
                TransportStatus::Processing,
                TransportStatus::Done,
                "2026-11-21T00:00:01.000Z".into(),
            )
            .await
            .expect("update");
        assert!(moved);
        assert_eq!(store.count_waiting("sys-b").expect("count"), 1);
        assert_eq!(
            store
                .sent_deliveries("sys-a", None, 500)
                .expect("sent")
                .len(),
            2
        );
        store.close();
        drop(store);
        // The blob of the refused duplicate is unreferenced and goes on the next open.
        let store = AxisStore::open(dir.path()).expect("reopen");
        let files = count_files(&dir.path().join("packets"));
        assert_eq!(files, 2);
        store.close();
    }

    fn count_files(dir: &Path) -> usize {
        let mut count = 0;
        for shard in std::fs::read_dir(dir).expect("list").flatten() {
            if shard.path().is_dir() && shard.file_name() != "tmp" {
                count += std::fs::read_dir(shard.path()).expect("list").count();
            }
        }
        count
    }
}
