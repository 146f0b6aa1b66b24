//! One SQLite database as this program uses it: opened with the durability pragmas,
//! migrated, checked, one writer thread with group commit, and a pool of read-only
//! connections. The gateway's [`super::Store`] and the axis's store each own one; this file
//! knows no tables.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use super::{schema, writer, StoreError};

/// What the writer thread may hold before callers wait (back-pressure, not a limit on data).
const WRITE_QUEUE_DEPTH: usize = 1024;

/// An open database: one writer thread, pooled readers.
pub(crate) struct Database {
    path: PathBuf,
    writer: writer::WriterHandle,
    readers: Mutex<Vec<Connection>>,
}

impl Database {
    /// Opens (creating if needed) the database at `path`, applies `migrations`, runs
    /// `PRAGMA integrity_check`, lets `prepare` look at it (sweeps, recovery) and starts the
    /// writer thread.
    pub(crate) fn open(
        path: &Path,
        migrations: &[&str],
        prepare: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<Database, StoreError> {
        let mut connection = open_connection(path, false)?;
        schema::migrate(&mut connection, migrations)?;
        integrity_check(&connection)?;
        prepare(&connection)?;
        let writer = writer::spawn(connection, WRITE_QUEUE_DEPTH)?;
        Ok(Database {
            path: path.to_path_buf(),
            writer,
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Path of the database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `op` on the writer thread in its own savepoint; answers after the commit.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.submit(op).await
    }

    /// Runs a query on a pooled read-only connection (blocking; call from a blocking
    /// thread in async code).
    pub(crate) fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.take_reader()?;
        let result = query(&pooled);
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(pooled);
        }
        result
    }

    /// The writer thread's heartbeat, for the systemd watchdog.
    pub(crate) fn writer_heartbeat(&self) -> crate::system::heartbeat::Heartbeat {
        self.writer.heartbeat()
    }

    /// Lets queued writes commit, then stops the writer thread.
    pub(crate) fn close(&self) {
        self.writer.close();
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        let pooled = match self.readers.lock() {
            Ok(mut readers) => readers.pop(),
            Err(_) => None,
        };
        match pooled {
            Some(connection) => Ok(connection),
            None => open_connection(&self.path, true),
        }
    }
}

/// Opens a connection with the pragmas every connection needs. Readers are `query_only`.
/// The one place in the program that opens SQLite.
#[allow(clippy::disallowed_methods)]
pub(super) fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection =
        Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    connection
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(StoreError::sqlite("set the busy timeout"))?;
    // Temporary tables and sorts stay in memory (they are small here): SQLite's default
    // would put them in /var/tmp or /tmp, which the gateway's sandbox does not let it write.
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(StoreError::sqlite("set the durability pragmas"))?;
    if read_only {
        connection
            .execute_batch("PRAGMA query_only = ON;")
            .map_err(StoreError::sqlite("make a reader connection read-only"))?;
    }
    Ok(connection)
}

/// `PRAGMA integrity_check`; anything but `ok` is [`StoreError::Corrupt`].
pub(crate) fn integrity_check(connection: &Connection) -> Result<(), StoreError> {
    let mut statement = connection
        .prepare("PRAGMA integrity_check")
        .map_err(StoreError::sqlite("run integrity_check"))?;
    let lines: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .map_err(StoreError::sqlite("run integrity_check"))?
        .collect::<Result<_, _>>()
        .map_err(StoreError::sqlite("read integrity_check"))?;
    if lines.len() == 1 && lines[0] == "ok" {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            report: lines.join("; "),
        })
    }
}
