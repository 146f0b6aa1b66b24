//! The axis's enrolment registry: `enrolment.sqlite3` beside `axis.sqlite3`, kept apart so
//! `docgate axis enroll ...` can write it while the axis runs without ever opening the
//! packet store (whose open sweeps files). Codes (only the SHA-256 of each secret), the
//! enrolled devices with their link certificate serials and shared secrets, the bundle
//! serial per device, and an append-only audit log (trigger-enforced).
//!
//! Storage facts only: a code is redeemed at most once (checked inside the transaction
//! that records the device), one device per agency code. Never decides who may enrol
//! (`axis::enrolment`) and never issues certificates.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::database::open_connection;
use crate::store::schema::migrate;
use crate::store::StoreError;

/// Name of the registry's SQLite file inside the axis's state directory.
pub const ENROLMENT_DATABASE_FILE: &str = "enrolment.sqlite3";

const MIGRATIONS: &[&str] = &["
CREATE TABLE codes (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,
    agency_code TEXT NOT NULL,
    agency_name TEXT NOT NULL,
    preset_json TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by TEXT,
    revoked_at TEXT
);
CREATE TABLE devices (
    system_id TEXT PRIMARY KEY,
    agency_code TEXT NOT NULL UNIQUE,
    agency_name TEXT NOT NULL,
    secret TEXT NOT NULL,
    certificate_serial TEXT NOT NULL,
    previous_serial TEXT,
    certificate_not_after TEXT NOT NULL,
    preset_json TEXT,
    enrolled_at TEXT NOT NULL,
    renewed_at TEXT,
    decommissioned_at TEXT,
    bundle_serial INTEGER NOT NULL DEFAULT 0,
    bundle_digest TEXT,
    bundle_issued_at TEXT
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    code_id TEXT,
    system_id TEXT,
    agency_code TEXT,
    remote TEXT,
    detail TEXT
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the enrolment audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the enrolment audit log is append-only'); END;
CREATE TABLE generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT INTO generation (id, value) VALUES (1, 0);
"];

/// One enrolment code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub id: String,
    pub agency_code: String,
    pub agency_name: String,
    pub preset_json: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub used_by: Option<String>,
    pub revoked_at: Option<String>,
}

/// A new code.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub id: String,
    pub secret_sha256: String,
    pub agency_code: String,
    pub agency_name: String,
    pub preset_json: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

/// One enrolled device.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub system_id: String,
    pub agency_code: String,
    pub agency_name: String,
    pub secret: String,
    pub certificate_serial: String,
    /// The serial before the last renewal, still accepted until it expires.
    pub previous_serial: Option<String>,
    pub certificate_not_after: String,
    pub preset_json: Option<String>,
    pub enrolled_at: String,
    pub renewed_at: Option<String>,
    pub decommissioned_at: Option<String>,
    pub bundle_serial: u64,
}

impl std::fmt::Debug for DeviceRecord {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DeviceRecord")
            .field("system_id", &self.system_id)
            .field("agency_code", &self.agency_code)
            .field("secret", &"<redacted>")
            .field("certificate_serial", &self.certificate_serial)
            .field("decommissioned_at", &self.decommissioned_at)
            .finish_non_exhaustive()
    }
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: String,
    pub action: String,
    pub code_id: Option<String>,
    pub system_id: Option<String>,
    pub agency_code: Option<String>,
    pub remote: Option<String>,
    pub detail: Option<String>,
}

/// What to append to the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry<'a> {
    pub action: &'a str,
    pub code_id: Option<&'a str>,
    pub system_id: Option<&'a str>,
    pub agency_code: Option<&'a str>,
    pub remote: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// Why a code cannot be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    Unknown,
    Expired,
    Used,
    Revoked,
}

/// The registry.
pub struct EnrolmentRegistry {
    connection: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for EnrolmentRegistry {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EnrolmentRegistry")
            .field("path", &self.path)
            .finish()
    }
}

const DEVICE_COLUMNS: &str = "system_id, agency_code, agency_name, secret, certificate_serial, \
     previous_serial, certificate_not_after, preset_json, enrolled_at, renewed_at, \
     decommissioned_at, bundle_serial";

fn device_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        system_id: row.get(0)?,
        agency_code: row.get(1)?,
        agency_name: row.get(2)?,
        secret: row.get(3)?,
        certificate_serial: row.get(4)?,
        previous_serial: row.get(5)?,
        certificate_not_after: row.get(6)?,
        preset_json: row.get(7)?,
        enrolled_at: row.get(8)?,
        renewed_at: row.get(9)?,
        decommissioned_at: row.get(10)?,
        bundle_serial: row.get::<_, i64>(11)?.max(0) as u64,
    })
}

const CODE_COLUMNS: &str = "id, agency_code, agency_name, preset_json, created_at, expires_at, \
     used_at, used_by, revoked_at";

fn code_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CodeRecord> {
    Ok(CodeRecord {
        id: row.get(0)?,
        agency_code: row.get(1)?,
        agency_name: row.get(2)?,
        preset_json: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        used_at: row.get(6)?,
        used_by: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

fn append_audit(connection: &Connection, at: &str, entry: &AuditEntry<'_>) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO audit (at, action, code_id, system_id, agency_code, remote, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            at,
            entry.action,
            entry.code_id,
            entry.system_id,
            entry.agency_code,
            entry.remote,
            entry.detail
        ],
    )?;
    Ok(())
}

fn bump_generation(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute("UPDATE generation SET value = value + 1 WHERE id = 1", [])?;
    Ok(())
}

impl EnrolmentRegistry {
    /// Opens (creating and migrating) the registry in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<EnrolmentRegistry, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io {
            action: "create the axis state directory",
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(ENROLMENT_DATABASE_FILE);
        let mut connection = open_connection(&path, false)?;
        migrate(&mut connection, MIGRATIONS)?;
        Ok(EnrolmentRegistry {
            connection: Mutex::new(connection),
            path,
        })
    }

    fn with<T>(
        &self,
        what: &'static str,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.lock().map_err(|_| StoreError::Closed)?;
        work(&mut connection).map_err(StoreError::sqlite(what))
    }

    /// A counter that moves with every change to devices (the axis re-reads its directory
    /// when it moves, including after a `docgate axis enroll` command).
    pub fn generation(&self) -> Result<i64, StoreError> {
        self.with("read the registry generation", |connection| {
            connection.query_row("SELECT value FROM generation WHERE id = 1", [], |row| {
                row.get(0)
            })
        })
    }

    /// Records a new code and its audit line.
    pub fn create_code(&self, code: &NewCode, by: &str) -> Result<(), StoreError> {
        self.with("record an enrolment code", |connection| {
            let transaction = connection.transaction()?;
            transaction.execute(
                "INSERT INTO codes (id, secret_sha256, agency_code, agency_name, preset_json, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    code.id,
                    code.secret_sha256,
                    code.agency_code,
                    code.agency_name,
                    code.preset_json,
                    code.created_at,
                    code.expires_at
                ],
            )?;
            append_audit(
                &transaction,
                &code.created_at,
                &AuditEntry {
                    action: "code_created",
                    code_id: Some(&code.id),
                    agency_code: Some(&code.agency_code),
                    detail: Some(&format!("expires {}; by {by}", code.expires_at)),
                    ..AuditEntry::default()
                },
            )?;
            transaction.commit()
        })
    }

    /// Every code, newest first.
    pub fn codes(&self) -> Result<Vec<CodeRecord>, StoreError> {
        self.with("list enrolment codes", |connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT {CODE_COLUMNS} FROM codes ORDER BY created_at DESC, id"
            ))?;
            let rows = statement.query_map([], code_row)?.collect();
            rows
        })
    }

    /// Revokes an unused code; answers whether it did.
    pub fn revoke_code(&self, id: &str, at: &str) -> Result<bool, StoreError> {
        self.with("revoke an enrolment code", |connection| {
            let transaction = connection.transaction()?;
            let changed = transaction.execute(
                "UPDATE codes SET revoked_at = ?2 WHERE id = ?1 AND used_at IS NULL AND revoked_at IS NULL",
                params![id, at],
            )?;
            if changed == 1 {
                append_audit(
                    &transaction,
                    at,
                    &AuditEntry {
                        action: "code_revoked",
                        code_id: Some(id),
                        ..AuditEntry::default()
                    },
                )?;
            }
            transaction.commit()?;
            Ok(changed == 1)
        })
    }

    /// Redeems the code whose secret hashes to `secret_sha256` at `now` (RFC 3339): when it
    /// is usable, `issue` makes the device (certificate, secret) and the device row, the
    /// code's use and the audit line commit together. Otherwise answers why not and
    /// changes nothing but an audit line.
    pub fn redeem<E>(
        &self,
        secret_sha256: &str,
        now: &str,
        remote: &str,
        issue: impl FnOnce(&CodeRecord) -> Result<DeviceRecord, E>,
    ) -> Result<Result<DeviceRecord, RedeemRefusal<E>>, StoreError> {
        self.with("redeem an enrolment code", |connection| {
            let transaction = connection.transaction()?;
            let code = transaction
                .query_row(
                    &format!("SELECT {CODE_COLUMNS} FROM codes WHERE secret_sha256 = ?1"),
                    [secret_sha256],
                    code_row,
                )
                .optional()?;
            let state = match &code {
                None => Some(CodeState::Unknown),
                Some(code) if code.revoked_at.is_some() => Some(CodeState::Revoked),
                Some(code) if code.used_at.is_some() => Some(CodeState::Used),
                Some(code) if code.expires_at.as_str() <= now => Some(CodeState::Expired),
                Some(_) => None,
            };
            let refuse = |transaction: rusqlite::Transaction<'_>, detail: String| {
                append_audit(
                    &transaction,
                    now,
                    &AuditEntry {
                        action: "enrol_refused",
                        code_id: code.as_ref().map(|code| code.id.as_str()),
                        agency_code: code.as_ref().map(|code| code.agency_code.as_str()),
                        remote: Some(remote),
                        detail: Some(&detail),
                        ..AuditEntry::default()
                    },
                )?;
                transaction.commit()
            };
            if let Some(state) = state {
                refuse(transaction, format!("{state:?}"))?;
                return Ok(Err(RedeemRefusal::Code(state)));
            }
            let Some(code) = code.clone() else {
                return Ok(Err(RedeemRefusal::Code(CodeState::Unknown)));
            };
            let device = match issue(&code) {
                Ok(device) => device,
                Err(error) => {
                    refuse(transaction, "the request was refused".into())?;
                    return Ok(Err(RedeemRefusal::Issue(error)));
                }
            };
            let previous_bundle_serial: Option<i64> = transaction
                .query_row(
                    "SELECT bundle_serial FROM devices WHERE agency_code = ?1",
                    [&device.agency_code],
                    |row| row.get(0),
                )
                .optional()?;
            transaction.execute("DELETE FROM devices WHERE agency_code = ?1", [&device.agency_code])?;
            transaction.execute(
                &format!(
                    "INSERT INTO devices ({DEVICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, NULL, NULL, ?9)"
                ),
                params![
                    device.system_id,
                    device.agency_code,
                    device.agency_name,
                    device.secret,
                    device.certificate_serial,
                    device.certificate_not_after,
                    device.preset_json,
                    device.enrolled_at,
                    previous_bundle_serial.unwrap_or(0)
                ],
            )?;
            let used = transaction.execute(
                "UPDATE codes SET used_at = ?2, used_by = ?3 WHERE id = ?1 AND used_at IS NULL AND revoked_at IS NULL",
                params![code.id, now, device.system_id],
            )?;
            if used != 1 {
                // Lost a race with another redemption: nothing of this one stays.
                drop(transaction);
                return Ok(Err(RedeemRefusal::Code(CodeState::Used)));
            }
            append_audit(
                &transaction,
                now,
                &AuditEntry {
                    action: "enrolled",
                    code_id: Some(&code.id),
                    system_id: Some(&device.system_id),
                    agency_code: Some(&device.agency_code),
                    remote: Some(remote),
                    detail: Some(&format!("certificate serial {}", device.certificate_serial)),
                },
            )?;
            bump_generation(&transaction)?;
            transaction.commit()?;
            Ok(Ok(device))
        })
    }

    /// Every enrolled device (decommissioned ones too), by system id.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.with("list enrolled devices", |connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY system_id"
            ))?;
            let rows = statement.query_map([], device_row)?.collect();
            rows
        })
    }

    /// One device.
    pub fn device(&self, system_id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.with("read an enrolled device", |connection| {
            connection
                .query_row(
                    &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE system_id = ?1"),
                    [system_id],
                    device_row,
                )
                .optional()
        })
    }

    /// Records a renewed certificate; the old serial stays accepted until it expires.
    pub fn record_renewal(
        &self,
        system_id: &str,
        serial: &str,
        not_after: &str,
        at: &str,
        remote: &str,
    ) -> Result<(), StoreError> {
        self.with("record a renewal", |connection| {
            let transaction = connection.transaction()?;
            transaction.execute(
                "UPDATE devices SET previous_serial = certificate_serial, certificate_serial = ?2,
                     certificate_not_after = ?3, renewed_at = ?4
                 WHERE system_id = ?1 AND decommissioned_at IS NULL",
                params![system_id, serial, not_after, at],
            )?;
            append_audit(
                &transaction,
                at,
                &AuditEntry {
                    action: "renewed",
                    system_id: Some(system_id),
                    remote: Some(remote),
                    detail: Some(&format!("certificate serial {serial}, until {not_after}")),
                    ..AuditEntry::default()
                },
            )?;
            bump_generation(&transaction)?;
            transaction.commit()
        })
    }

    /// Decommissions a device; answers whether it was active.
    pub fn decommission(&self, system_id: &str, at: &str, by: &str) -> Result<bool, StoreError> {
        self.with("decommission a device", |connection| {
            let transaction = connection.transaction()?;
            let changed = transaction.execute(
                "UPDATE devices SET decommissioned_at = ?2 WHERE system_id = ?1 AND decommissioned_at IS NULL",
                params![system_id, at],
            )?;
            if changed == 1 {
                append_audit(
                    &transaction,
                    at,
                    &AuditEntry {
                        action: "decommissioned",
                        system_id: Some(system_id),
                        detail: Some(&format!("by {by}")),
                        ..AuditEntry::default()
                    },
                )?;
                bump_generation(&transaction)?;
            }
            transaction.commit()?;
            Ok(changed == 1)
        })
    }

    /// The bundle serial and issue instant for a device whose bundle content hashes to
    /// `digest`: the same while the content stays and the last one was issued after
    /// `reissue_before`; otherwise one more, issued `now`.
    pub fn bundle_serial(
        &self,
        system_id: &str,
        digest: &str,
        now: &str,
        reissue_before: &str,
    ) -> Result<(u64, String), StoreError> {
        self.with("number a bundle", |connection| {
            let transaction = connection.transaction()?;
            let (serial, held, issued): (i64, Option<String>, Option<String>) = transaction
                .query_row(
                    "SELECT bundle_serial, bundle_digest, bundle_issued_at FROM devices WHERE system_id = ?1",
                    [system_id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )?;
            let answer = match issued {
                Some(issued) if held.as_deref() == Some(digest) && issued.as_str() > reissue_before => {
                    (serial, issued)
                }
                _ => {
                    let next = serial + 1;
                    transaction.execute(
                        "UPDATE devices SET bundle_serial = ?2, bundle_digest = ?3, bundle_issued_at = ?4 WHERE system_id = ?1",
                        params![system_id, next, digest, now],
                    )?;
                    append_audit(
                        &transaction,
                        now,
                        &AuditEntry {
                            action: "bundle_issued",
                            system_id: Some(system_id),
                            detail: Some(&format!("serial {next}")),
                            ..AuditEntry::default()
                        },
                    )?;
                    (next, now.to_owned())
                }
            };
            transaction.commit()?;
            Ok((answer.0.max(0) as u64, answer.1))
        })
    }

    /// Appends one audit line on its own.
    pub fn audit(&self, at: &str, entry: &AuditEntry<'_>) -> Result<(), StoreError> {
        self.with("append to the audit log", |connection| {
            append_audit(connection, at, entry)
        })
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.with("read the audit log", |connection| {
            let mut statement = connection.prepare(
                "SELECT id, at, action, code_id, system_id, agency_code, remote, detail FROM audit ORDER BY id",
            )?;
            let rows = statement
                .query_map([], |row| {
                    Ok(AuditRecord {
                        id: row.get(0)?,
                        at: row.get(1)?,
                        action: row.get(2)?,
                        code_id: row.get(3)?,
                        system_id: row.get(4)?,
                        agency_code: row.get(5)?,
                        remote: row.get(6)?,
                        detail: row.get(7)?,
                    })
                })?
                .collect();
            rows
        })
    }
}

/// Why a redemption gave no device.
#[derive(Debug)]
pub enum RedeemRefusal<E> {
    Code(CodeState),
    Issue(E),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(id: &str, digest: &str, expires_at: &str) -> NewCode {
        NewCode {
            id: id.into(),
            secret_sha256: digest.into(),
            agency_code: "000.01.10.H41".into(),
            agency_name: "UBND xã".into(),
            preset_json: None,
            created_at: "2026-11-01T00:00:00Z".into(),
            expires_at: expires_at.into(),
        }
    }

    fn device(code: &CodeRecord, serial: &str) -> Result<DeviceRecord, String> {
        Ok(DeviceRecord {
            system_id: code.agency_code.clone(),
            agency_code: code.agency_code.clone(),
            agency_name: code.agency_name.clone(),
            secret: "s".repeat(32),
            certificate_serial: serial.into(),
            previous_serial: None,
            certificate_not_after: "2027-11-01T00:00:00Z".into(),
            preset_json: None,
            enrolled_at: "2026-11-02T00:00:00Z".into(),
            renewed_at: None,
            decommissioned_at: None,
            bundle_serial: 0,
        })
    }

    fn state(result: Result<DeviceRecord, RedeemRefusal<String>>) -> Option<CodeState> {
        match result {
            Ok(_) => None,
            Err(RedeemRefusal::Code(state)) => Some(state),
            Err(RedeemRefusal::Issue(error)) => panic!("issue failed: {error}"),
        }
    }

    #[test]
    fn a_code_is_redeemed_once_and_every_refusal_is_audited() {
        let dir = tempfile::tempdir().expect("dir");
        let registry = EnrolmentRegistry::open(dir.path()).expect("open");
        registry
            .create_code(&code("c1", "d1", "2026-12-01T00:00:00Z"), "test")
            .expect("c1");
        registry
            .create_code(&code("c2", "d2", "2026-11-02T00:00:00Z"), "test")
            .expect("c2");
        registry
            .create_code(&code("c3", "d3", "2026-12-01T00:00:00Z"), "test")
            .expect("c3");
        assert!(registry
            .revoke_code("c3", "2026-11-03T00:00:00Z")
            .expect("revoke"));
        let now = "2026-11-05T00:00:00Z";
        let redeem = |digest: &str| {
            state(
                registry
                    .redeem(digest, now, "10.0.0.9", |code| device(code, "aa"))
                    .expect("redeem"),
            )
        };
        let before = registry.generation().expect("generation");
        assert_eq!(redeem("nope"), Some(CodeState::Unknown));
        assert_eq!(redeem("d2"), Some(CodeState::Expired));
        assert_eq!(redeem("d3"), Some(CodeState::Revoked));
        assert_eq!(
            registry.generation().expect("generation"),
            before,
            "refusals change nothing"
        );
        assert_eq!(redeem("d1"), None);
        assert_eq!(redeem("d1"), Some(CodeState::Used));
        assert!(registry.generation().expect("generation") > before);
        let devices = registry.devices().expect("devices");
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].certificate_serial, "aa");
        let actions: Vec<String> = registry
            .audit_log()
            .expect("audit")
            .into_iter()
            .map(|line| line.action)
            .collect();
        assert_eq!(
            actions,
            [
                "code_created",
                "code_created",
                "code_created",
                "code_revoked",
                "enrol_refused",
                "enrol_refused",
                "enrol_refused",
                "enrolled",
                "enrol_refused"
            ]
        );
        assert!(!registry
            .revoke_code("c1", now)
            .expect("used codes stay used"));
    }

    #[test]
    fn the_audit_log_cannot_be_rewritten_and_renewal_keeps_the_old_serial() {
        let dir = tempfile::tempdir().expect("dir");
        let registry = EnrolmentRegistry::open(dir.path()).expect("open");
        registry
            .create_code(&code("c1", "d1", "2026-12-01T00:00:00Z"), "test")
            .expect("c1");
        let now = "2026-11-05T00:00:00Z";
        let _ = registry
            .redeem("d1", now, "x", |code| device(code, "aa"))
            .expect("redeem");
        registry
            .record_renewal("000.01.10.H41", "bb", "2028-01-01T00:00:00Z", now, "x")
            .expect("renew");
        let device = registry
            .device("000.01.10.H41")
            .expect("read")
            .expect("device");
        assert_eq!(device.certificate_serial, "bb");
        assert_eq!(device.previous_serial.as_deref(), Some("aa"));
        let old = "2026-10-01T00:00:00Z";
        let serial = |digest: &str, reissue_before: &str| {
            registry
                .bundle_serial("000.01.10.H41", digest, now, reissue_before)
                .expect("serial")
                .0
        };
        assert_eq!(serial("x1", old), 1);
        assert_eq!(serial("x1", old), 1, "same content, still fresh");
        assert_eq!(serial("x2", old), 2, "new content");
        assert_eq!(
            serial("x2", "2026-12-01T00:00:00Z"),
            3,
            "same content, getting old"
        );
        assert!(registry
            .decommission("000.01.10.H41", now, "test")
            .expect("decommission"));
        assert!(!registry
            .decommission("000.01.10.H41", now, "test")
            .expect("again"));
        let connection = registry.connection.lock().expect("lock");
        assert!(connection.execute("DELETE FROM audit", []).is_err());
        assert!(connection
            .execute("UPDATE audit SET action = 'x'", [])
            .is_err());
    }
}
