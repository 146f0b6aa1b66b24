//! The cached agency directory (migration 10): the agencies the axis's `getAgenciesList`
//! last answered, and when that was. The whole set is replaced in one savepoint at each
//! successful refresh, so a reader sees either the old directory or the new one, never a
//! mix; an empty set is refused (an empty answer must not wipe a good cache). Reads run on
//! pooled readers: one agency by code, all of them, and the last refresh (a one-row
//! table, so the status facts never count the directory).
//!
//! Owns the rows only: what the axis answered, and which recipients must be in it, are
//! decided in `sync::directory` and `workflow::directory`.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::{Store, StoreError};

/// One agency of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgencyEntry {
    /// Mã định danh, e.g. `000.00.00.H41`.
    pub code: String,
    pub name: String,
    /// The system that receives this agency's packets, as the axis says (may be empty).
    pub system_id: String,
}

/// The last successful refresh of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryRefresh {
    /// RFC 3339 UTC.
    pub refreshed_at: String,
    /// How many agencies it holds.
    pub agencies: u64,
}

impl Store {
    /// Replaces the whole directory with `entries`, refreshed at `refreshed_at`, in one
    /// transaction. Refuses an empty set and a set naming one code twice, writing nothing.
    /// Answers how many agencies the directory now holds.
    pub async fn replace_agency_directory(
        &self,
        entries: Vec<AgencyEntry>,
        refreshed_at: String,
    ) -> Result<u64, StoreError> {
        if entries.is_empty() {
            return Err(StoreError::EmptyAgencyDirectory);
        }
        self.inner
            .database
            .write(move |connection| replace(connection, &entries, &refreshed_at))
            .await
    }

    /// Every agency, by code.
    pub fn agency_directory(&self) -> Result<Vec<AgencyEntry>, StoreError> {
        self.inner.database.read(all_agencies)
    }

    /// The agency with `code`, if the directory holds it.
    pub fn agency(&self, code: &str) -> Result<Option<AgencyEntry>, StoreError> {
        self.inner
            .database
            .read(|connection| agency(connection, code))
    }

    /// The last successful refresh; `None` when the directory was never refreshed.
    pub fn agency_directory_refresh(&self) -> Result<Option<DirectoryRefresh>, StoreError> {
        self.inner.database.read(last_refresh)
    }
}

fn replace(
    connection: &Connection,
    entries: &[AgencyEntry],
    refreshed_at: &str,
) -> Result<u64, StoreError> {
    let action = "replace the agency directory";
    connection
        .execute("DELETE FROM agency_directory", [])
        .map_err(StoreError::sqlite(action))?;
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO agency_directory (code, name, system_id, refreshed_at)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(StoreError::sqlite(action))?;
    for entry in entries {
        insert
            .execute(rusqlite::params![
                entry.code,
                entry.name,
                entry.system_id,
                refreshed_at
            ])
            .map_err(StoreError::sqlite(action))?;
    }
    let agencies = entries.len() as u64;
    connection
        .execute(
            "INSERT INTO agency_directory_refresh (id, refreshed_at, agencies) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET refreshed_at = excluded.refreshed_at,
                 agencies = excluded.agencies",
            rusqlite::params![refreshed_at, agencies as i64],
        )
        .map_err(StoreError::sqlite(action))?;
    Ok(agencies)
}

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AgencyEntry> {
    Ok(AgencyEntry {
        code: row.get(0)?,
        name: row.get(1)?,
        system_id: row.get(2)?,
    })
}

fn all_agencies(connection: &Connection) -> Result<Vec<AgencyEntry>, StoreError> {
    let action = "read the agency directory";
    let mut statement = connection
        .prepare_cached("SELECT code, name, system_id FROM agency_directory ORDER BY code")
        .map_err(StoreError::sqlite(action))?;
    let rows = statement
        .query_map([], entry_from_row)
        .map_err(StoreError::sqlite(action))?;
    rows.collect::<Result<_, _>>()
        .map_err(StoreError::sqlite(action))
}

fn agency(connection: &Connection, code: &str) -> Result<Option<AgencyEntry>, StoreError> {
    connection
        .query_row(
            "SELECT code, name, system_id FROM agency_directory WHERE code = ?1",
            [code],
            entry_from_row,
        )
        .optional()
        .map_err(StoreError::sqlite("look up an agency in the directory"))
}

fn last_refresh(connection: &Connection) -> Result<Option<DirectoryRefresh>, StoreError> {
    connection
        .query_row(
            "SELECT refreshed_at, agencies FROM agency_directory_refresh WHERE id = 1",
            [],
            |row| {
                Ok(DirectoryRefresh {
                    refreshed_at: row.get(0)?,
                    agencies: row.get::<_, i64>(1)?.max(0) as u64,
                })
            },
        )
        .optional()
        .map_err(StoreError::sqlite(
            "read the agency directory's last refresh",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: &str, name: &str) -> AgencyEntry {
        AgencyEntry {
            code: code.into(),
            name: name.into(),
            system_id: code.into(),
        }
    }

    fn codes(store: &Store) -> Vec<String> {
        store
            .agency_directory()
            .expect("read")
            .into_iter()
            .map(|entry| entry.code)
            .collect()
    }

    #[tokio::test]
    async fn a_refresh_replaces_the_whole_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(store.agency_directory_refresh().expect("read"), None);
        assert!(store.agency_directory().expect("read").is_empty());
        let first = vec![
            entry("001.01.10.H41", "UBND xã Thử Nghiệm"),
            entry("001.00.10.H41", "UBND huyện Thử Nghiệm"),
        ];
        let held = store
            .replace_agency_directory(first, "2026-11-20T00:00:00.000Z".into())
            .await
            .expect("first refresh");
        assert_eq!(held, 2);
        assert_eq!(codes(&store), ["001.00.10.H41", "001.01.10.H41"]);
        let second = vec![
            entry("001.00.10.H41", "UBND huyện Thử Nghiệm (mới)"),
            entry("000.00.00.H41", "UBND tỉnh Thử Nghiệm"),
        ];
        store
            .replace_agency_directory(second, "2026-11-21T00:00:00.000Z".into())
            .await
            .expect("second refresh");
        assert_eq!(codes(&store), ["000.00.00.H41", "001.00.10.H41"]);
        assert_eq!(store.agency("001.01.10.H41").expect("read"), None);
        assert_eq!(
            store
                .agency("001.00.10.H41")
                .expect("read")
                .map(|entry| entry.name),
            Some("UBND huyện Thử Nghiệm (mới)".to_string())
        );
        assert_eq!(
            store.agency_directory_refresh().expect("read"),
            Some(DirectoryRefresh {
                refreshed_at: "2026-11-21T00:00:00.000Z".into(),
                agencies: 2
            })
        );
        store.close();
    }

    #[tokio::test]
    async fn an_empty_or_broken_answer_keeps_the_cached_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let good = vec![entry("001.01.10.H41", "UBND xã Thử Nghiệm")];
        store
            .replace_agency_directory(good, "2026-11-20T00:00:00.000Z".into())
            .await
            .expect("refresh");
        let before = (
            store.agency_directory().expect("read"),
            store.agency_directory_refresh().expect("read"),
        );
        assert!(matches!(
            store
                .replace_agency_directory(Vec::new(), "2026-11-21T00:00:00.000Z".into())
                .await,
            Err(StoreError::EmptyAgencyDirectory)
        ));
        // A code twice fails the insert half-way: the savepoint takes the delete back too.
        let broken = vec![
            entry("000.00.00.H41", "UBND tỉnh Thử Nghiệm"),
            entry("001.00.10.H41", "UBND huyện Thử Nghiệm"),
            entry("000.00.00.H41", "again"),
        ];
        assert!(store
            .replace_agency_directory(broken, "2026-11-22T00:00:00.000Z".into())
            .await
            .is_err());
        let after = (
            store.agency_directory().expect("read"),
            store.agency_directory_refresh().expect("read"),
        );
        assert_eq!(before, after);
        store.close();
    }
}
