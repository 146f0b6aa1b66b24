//! The one writer thread. Requests arrive over a bounded channel; the thread takes the
//! first, then whatever else is already queued (up to a batch limit), runs each inside its
//! own savepoint of one transaction, commits once, and only then answers every caller.
//! A request that fails rolls back its savepoint alone; the rest of the batch still commits.

use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{Connection, OptionalExtension, Transaction};
use tokio::sync::oneshot;

use super::records::{AcceptOutcome, DocumentIdentity, DocumentState, NewOutgoingDocument};
use super::StoreError;

/// Most requests folded into one transaction. Each request's savepoint journal lives in
/// memory (`temp_store = MEMORY`, set in `spawn`), about 70 KiB per document, so this also
/// bounds the writer's memory (~4.5 MiB).
const MAX_BATCH: usize = 64;

/// A write the thread knows how to do.
pub(super) enum WriteOp {
    AcceptOutgoing(Box<NewOutgoingDocument>),
}

/// What a write produced.
pub(super) enum WriteOutcome {
    Accepted(AcceptOutcome),
}

struct WriteRequest {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
}

/// The sending side, shared by every clone of the store.
pub(super) struct WriterHandle {
    sender: Mutex<Option<SyncSender<WriteRequest>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

pub(super) fn spawn(connection: Connection, depth: usize) -> Result<WriterHandle, StoreError> {
    // Savepoint journals in memory: otherwise SQLite writes them to a temporary file in
    // /var/tmp for every batch (most of the writer's writes, measured with strace), which
    // costs CPU and fails under a sandbox without a writable /var/tmp.
    connection
        .execute_batch("PRAGMA temp_store = MEMORY;")
        .map_err(StoreError::sqlite("keep temporary tables in memory"))?;
    let (sender, receiver) = mpsc::sync_channel(depth);
    let thread = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || run(connection, receiver))
        .map_err(StoreError::io(
            "start the store writer thread",
            "store-writer",
        ))?;
    Ok(WriterHandle {
        sender: Mutex::new(Some(sender)),
        thread: Mutex::new(Some(thread)),
    })
}

impl WriterHandle {
    /// Queues a write and waits for its commit.
    pub(super) async fn submit(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
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
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops accepting writes, lets the thread commit what it holds, and joins it.
    pub(super) fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut thread| thread.take());
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the store writer thread panicked");
            }
        }
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(mut connection: Connection, receiver: Receiver<WriteRequest>) {
    while let Ok(first) = receiver.recv() {
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
            tracing::error!(error = %source, "a write transaction failed to commit");
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
    op: WriteOp,
) -> Result<WriteOutcome, StoreError> {
    let mut savepoint = transaction
        .savepoint()
        .map_err(StoreError::sqlite("open a savepoint"))?;
    let result = match op {
        WriteOp::AcceptOutgoing(document) => {
            accept_outgoing(&savepoint, &document).map(WriteOutcome::Accepted)
        }
    };
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

fn accept_outgoing(
    connection: &Connection,
    document: &NewOutgoingDocument,
) -> Result<AcceptOutcome, StoreError> {
    if let Some((key, request_sha256)) = &document.idempotency {
        if let Some(outcome) = replay_idempotent(connection, key, request_sha256)? {
            return Ok(outcome);
        }
    }
    let (number, document_id) = assign_number(connection, document)?;
    let state = DocumentState::Accepted.as_str();
    let inserted = connection.execute(
        "INSERT INTO documents (id, direction, document_id, state, subject, code_number,
             code_notation, register_year, meta_json, created_at, updated_at)
         VALUES (?1, 'out', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        rusqlite::params![
            document.id,
            document_id,
            state,
            document.subject,
            number,
            document.numbering.notation,
            document.numbering.year,
            document.meta_json,
            document.at,
        ],
    );
    if let Err(error) = inserted {
        return Err(if is_unique_violation(&error) {
            StoreError::DuplicateDocumentId { document_id }
        } else {
            StoreError::Sqlite {
                action: "insert a document",
                source: error,
            }
        });
    }
    for (index, file) in document.files.iter().enumerate() {
        connection
            .execute(
                "INSERT INTO document_files (document, n, name, content_type, sha256, size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    document.id,
                    index as i64 + 1,
                    file.name,
                    file.content_type,
                    file.sha256,
                    file.size as i64,
                ],
            )
            .map_err(StoreError::sqlite("insert a document file"))?;
    }
    connection
        .execute(
            "INSERT INTO document_events (document, at, kind, state, detail)
             VALUES (?1, ?2, 'accepted', ?3, ?4)",
            rusqlite::params![
                document.id,
                document.at,
                state,
                match document.numbering.number {
                    Some(_) => format!("received; number {number:02} chosen by the office"),
                    None => format!("received; number {number:02} assigned from the register"),
                },
            ],
        )
        .map_err(StoreError::sqlite("append a document event"))?;
    let identity = DocumentIdentity {
        id: document.id.clone(),
        document_id: Some(document_id),
        state: state.to_string(),
    };
    if let Some((key, request_sha256)) = &document.idempotency {
        let response_json = serde_json::to_string(&identity)
            .map_err(|error| StoreError::Decode(error.to_string()))?;
        connection
            .execute(
                "INSERT INTO idempotency_keys (key, request_sha256, document, response_json, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![key, request_sha256, document.id, response_json, document.at],
            )
            .map_err(StoreError::sqlite("record an idempotency key"))?;
    }
    Ok(AcceptOutcome {
        identity,
        replayed: false,
    })
}

/// The first answer for a key already used by the same request, or an error for a
/// different request under the same key.
fn replay_idempotent(
    connection: &Connection,
    key: &str,
    request_sha256: &str,
) -> Result<Option<AcceptOutcome>, StoreError> {
    let Some(claim) = super::queries::find_idempotency_key(connection, key)? else {
        return Ok(None);
    };
    if claim.request_sha256 != request_sha256 {
        return Err(StoreError::IdempotencyKeyReused {
            key: key.to_string(),
        });
    }
    Ok(Some(AcceptOutcome {
        identity: claim.identity,
        replayed: true,
    }))
}

/// Takes the office's number or the register's next one, and keeps the counter ahead of
/// every number used so the register never hands out one twice.
fn assign_number(
    connection: &Connection,
    document: &NewOutgoingDocument,
) -> Result<(u32, String), StoreError> {
    let numbering = &document.numbering;
    let last: Option<i64> = connection
        .query_row(
            "SELECT last_number FROM register_counters WHERE register = ?1 AND year = ?2",
            rusqlite::params![numbering.register, numbering.year],
            |row| row.get(0),
        )
        .optional()
        .map_err(StoreError::sqlite("read a register counter"))?;
    let last = last.unwrap_or(0);
    let number = match numbering.number {
        Some(number) => number,
        None => u32::try_from(last + 1).map_err(|_| StoreError::NumberingExhausted {
            register: numbering.register.clone(),
            year: numbering.year,
        })?,
    };
    connection
        .execute(
            "INSERT INTO register_counters (register, year, last_number) VALUES (?1, ?2, ?3)
             ON CONFLICT (register, year) DO UPDATE
                 SET last_number = max(last_number, excluded.last_number)",
            rusqlite::params![numbering.register, numbering.year, number],
        )
        .map_err(StoreError::sqlite("advance a register counter"))?;
    Ok((number, numbering.document_id(number)))
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}
