//! The one writer thread. Requests arrive over a bounded channel; the thread takes the
//! first, then whatever else is already queued (up to a batch limit), runs each inside its
//! own savepoint of one transaction, commits once, and only then answers every caller.
//! A request that fails rolls back its savepoint alone; the rest of the batch still commits.
//!
//! The thread beats a [`Heartbeat`] after every batch and at least every
//! [`HEARTBEAT_TICK`] while idle, so a watcher (the systemd watchdog) can tell a live writer
//! from one stuck inside a batch.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use std::any::Any;

use rusqlite::{Connection, Transaction};
use tokio::sync::oneshot;

use super::StoreError;
use crate::system::heartbeat::Heartbeat;

/// Most requests folded into one transaction. Each request's savepoint journal lives in
/// memory (`temp_store = MEMORY`, set in `spawn`), about 70 KiB per document, so this also
/// bounds the writer's memory (~4.5 MiB).
const MAX_BATCH: usize = 64;

/// How often an idle writer wakes to beat its heartbeat.
pub(crate) const HEARTBEAT_TICK: Duration = Duration::from_secs(1);

/// A write: runs on the writer thread inside its own savepoint, and produces a value that
/// is handed to the caller only after the transaction commits.
pub(super) type WriteFn =
    Box<dyn FnOnce(&Connection) -> Result<Box<dyn Any + Send>, StoreError> + Send>;

struct WriteRequest {
    op: WriteFn,
    reply: oneshot::Sender<Result<Box<dyn Any + Send>, StoreError>>,
}

/// The sending side, shared by every clone of the store.
pub(super) struct WriterHandle {
    sender: Mutex<Option<SyncSender<WriteRequest>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    heartbeat: Heartbeat,
}

pub(super) fn spawn(connection: Connection, depth: usize) -> Result<WriterHandle, StoreError> {
    // Savepoint journals in memory: otherwise SQLite writes them to a temporary file in
    // /var/tmp for every batch (most of the writer's writes, measured with strace), which
    // costs CPU and fails under a sandbox without a writable /var/tmp.
    connection
        .execute_batch("PRAGMA temp_store = MEMORY;")
        .map_err(StoreError::sqlite("keep temporary tables in memory"))?;
    let (sender, receiver) = mpsc::sync_channel(depth);
    let heartbeat = Heartbeat::new();
    let beats = heartbeat.clone();
    let thread = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || run(connection, receiver, &beats))
        .map_err(StoreError::io(
            "start the store writer thread",
            "store-writer",
        ))?;
    Ok(WriterHandle {
        sender: Mutex::new(Some(sender)),
        thread: Mutex::new(Some(thread)),
        heartbeat,
    })
}

impl WriterHandle {
    /// The writer thread's heartbeat (beaten after each batch and on idle ticks).
    pub(super) fn heartbeat(&self) -> Heartbeat {
        self.heartbeat.clone()
    }

    /// Queues a write and waits for its commit; answers what `op` produced.
    pub(super) async fn submit<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let op: WriteFn = Box::new(move |connection| {
            op(connection).map(|value| Box::new(value) as Box<dyn Any + Send>)
        });
        let (reply, answer) = oneshot::channel();
        let sender = self
            .sender
            .lock()
            .ok()
            .and_then(|sender| sender.clone())
            .ok_or(StoreError::Closed)?;
        // The channel is bounded; a full queue blocks, so hand the send to a blocking thread.
        let request = WriteRequest { op, reply };
        match sender.try_send(request) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(request)) => {
                tokio::task::spawn_blocking(move || sender.send(request))
                    .await
                    .map_err(|_| StoreError::Closed)?
                    .map_err(|_| StoreError::Closed)?;
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
        let produced = answer.await.map_err(|_| StoreError::Closed)??;
        produced
            .downcast::<T>()
            .map(|value| *value)
            .map_err(|_| StoreError::Decode("a write answered with an unexpected type".into()))
    }

    /// Stops accepting writes, lets the thread commit what it holds, and joins it.
    pub(super) fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut thread| thread.take());
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!(
                    error_kind = "store_writer_panic",
                    "the store writer thread panicked"
                );
            }
        }
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(mut connection: Connection, receiver: Receiver<WriteRequest>, heartbeat: &Heartbeat) {
    let fault = fault::WedgeTrigger::from_env();
    loop {
        heartbeat.beat();
        fault.wedge_if_triggered();
        let first = match receiver.recv_timeout(HEARTBEAT_TICK) {
            Ok(request) => request,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        commit_batch(&mut connection, batch);
    }
}

/// Fault injection for the systemd tests, compiled in only with the `fault-injection`
/// feature: when `DOCGATE_FAULT_WEDGE_WRITER` names a file and that file exists, the
/// writer thread stops for good at its next turn, as a writer stuck in a hung `fsync`
/// would; its heartbeat stops with it. Without the feature this is an empty type and no
/// environment variable is read.
mod fault {
    #[cfg(feature = "fault-injection")]
    pub(super) struct WedgeTrigger(Option<std::path::PathBuf>);

    #[cfg(feature = "fault-injection")]
    impl WedgeTrigger {
        pub(super) fn from_env() -> WedgeTrigger {
            WedgeTrigger(std::env::var_os("DOCGATE_FAULT_WEDGE_WRITER").map(Into::into))
        }

        pub(super) fn wedge_if_triggered(&self) {
            if self.0.as_deref().is_some_and(std::path::Path::exists) {
                tracing::warn!("fault injection: the store writer thread is wedged on purpose");
                loop {
                    std::thread::park();
                }
            }
        }
    }

    #[cfg(not(feature = "fault-injection"))]
    pub(super) struct WedgeTrigger;

    #[cfg(not(feature = "fault-injection"))]
    impl WedgeTrigger {
        pub(super) fn from_env() -> WedgeTrigger {
            WedgeTrigger
        }

        pub(super) fn wedge_if_triggered(&self) {}
    }
}

/// Runs a batch in one transaction and answers each caller after the commit.
fn commit_batch(connection: &mut Connection, batch: Vec<WriteRequest>) {
    let transaction = match connection.transaction() {
        Ok(transaction) => transaction,
        Err(source) => {
            for request in batch {
                let _ = request.reply.send(Err(StoreError::BatchFailed {
                    action: "begin a write transaction",
                    reason: source.to_string(),
                }));
            }
            return;
        }
    };
    let mut transaction = transaction;
    let mut results = Vec::with_capacity(batch.len());
    for request in batch {
        let result = apply_in_savepoint(&mut transaction, request.op);
        results.push((request.reply, result));
    }
    match transaction.commit() {
        Ok(()) => {
            for (reply, result) in results {
                let _ = reply.send(result);
            }
        }
        Err(source) => {
            tracing::error!(error = %source, error_kind = "store_commit", "a write transaction failed to commit");
            for (reply, _) in results {
                let _ = reply.send(Err(StoreError::BatchFailed {
                    action: "commit a write transaction",
                    reason: source.to_string(),
                }));
            }
        }
    }
}

fn apply_in_savepoint(
    transaction: &mut Transaction<'_>,
    op: WriteFn,
) -> Result<Box<dyn Any + Send>, StoreError> {
    let mut savepoint = transaction
        .savepoint()
        .map_err(StoreError::sqlite("open a savepoint"))?;
    let result = op(&savepoint);
    match result {
        Ok(outcome) => {
            savepoint
                .commit()
                .map_err(StoreError::sqlite("release a savepoint"))?;
            Ok(outcome)
        }
        Err(error) => {
            savepoint
                .rollback()
                .map_err(StoreError::sqlite("roll back a savepoint"))?;
            Err(error)
        }
    }
}

pub(super) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}
