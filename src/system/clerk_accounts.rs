//! The clerks' accounts file: who may log in to the clerk pages (văn thư, the office's
//! records clerks), each with an Argon2id hash of their password as a PHC string. The
//! daemon reads it at each login and re-reads it when it changes; only `docgate clerk ...`
//! writes it, atomically (temporary file, fsync, rename, directory fsync), so the daemon
//! never sees half a file.
//!
//! Owns the file's format and password hashing. Sessions, lockout and CSRF belong to
//! `web::clerk`; nothing here knows about HTTP.
//!
//! ```toml
//! [[clerk]]
//! username = "vanthu"
//! name = "Nguyễn Thị Lan"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Shortest password accepted (NIST SP 800-63B asks at least 8; an office shares few
/// accounts, so a little more).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted: Argon2 takes any length, but a login form must not make
/// the box hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 256;
/// Longest username.
pub const MAX_USERNAME_CHARS: usize = 32;
/// Largest accounts file read (a few hundred accounts at most).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// What can go wrong with the accounts file or a password.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("cannot {action} {path}: {error}; check the path and that this user may write there")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the clerk accounts file {path} is not valid: {reason}; fix it or recreate it with `docgate clerk add`")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "username {0:?} is not allowed: use 1 to 32 lower-case letters, digits, '.', '_' or '-'"
    )]
    BadUsername(String),
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("the password is too long: at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    #[error(
        "a clerk named {0:?} already exists; use `docgate clerk passwd` to change the password"
    )]
    Exists(String),
    #[error("no clerk named {0:?}; `docgate clerk list` shows the accounts")]
    Unknown(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// One clerk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClerkAccount {
    pub username: String,
    /// The name shown on the pages and sent as the staff name in status packets.
    #[serde(default)]
    pub name: String,
    /// Argon2id, PHC string format.
    pub password_hash: String,
}

/// Every clerk in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClerkAccounts {
    #[serde(default, rename = "clerk")]
    accounts: Vec<ClerkAccount>,
}

impl ClerkAccounts {
    /// Reads `path`; a missing file means no accounts yet.
    pub fn load(path: &Path) -> Result<ClerkAccounts, AccountsError> {
        let text = match read_limited(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ClerkAccounts::default())
            }
            Err(error) => {
                return Err(AccountsError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    error,
                })
            }
        };
        let accounts: ClerkAccounts =
            toml::from_str(&text).map_err(|error| AccountsError::Invalid {
                path: path.to_path_buf(),
                reason: error.message().to_string(),
            })?;
        accounts.validate(path)?;
        Ok(accounts)
    }

    fn validate(&self, path: &Path) -> Result<(), AccountsError> {
        let invalid = |reason: String| AccountsError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let mut seen = std::collections::HashSet::new();
        for account in &self.accounts {
            check_username(&account.username).map_err(|error| invalid(error.to_string()))?;
            if !seen.insert(account.username.as_str()) {
                return Err(invalid(format!(
                    "clerk {:?} appears twice",
                    account.username
                )));
            }
            PasswordHash::new(&account.password_hash).map_err(|error| {
                invalid(format!(
                    "clerk {:?} has an unreadable password hash ({error})",
                    account.username
                ))
            })?;
        }
        Ok(())
    }

    /// Writes the file atomically, readable by its owner and group only.
    pub fn save(&self, path: &Path) -> Result<(), AccountsError> {
        let text = toml::to_string(self).map_err(|error| AccountsError::Invalid {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
        write_atomically(path, text.as_bytes()).map_err(|error| AccountsError::Io {
            action: "write",
            path: path.to_path_buf(),
            error,
        })
    }

    pub fn accounts(&self) -> &[ClerkAccount] {
        &self.accounts
    }

    pub fn find(&self, username: &str) -> Option<&ClerkAccount> {
        self.accounts
            .iter()
            .find(|account| account.username == username)
    }

    /// A new clerk with `password`.
    pub fn add(&mut self, username: &str, name: &str, password: &str) -> Result<(), AccountsError> {
        check_username(username)?;
        if self.find(username).is_some() {
            return Err(AccountsError::Exists(username.to_string()));
        }
        let password_hash = hash_password(password)?;
        self.accounts.push(ClerkAccount {
            username: username.to_string(),
            name: name.trim().to_string(),
            password_hash,
        });
        Ok(())
    }

    /// A new password for `username` (its sessions end: they were opened with the old one).
    pub fn set_password(&mut self, username: &str, password: &str) -> Result<(), AccountsError> {
        let password_hash = hash_password(password)?;
        let account = self
            .accounts
            .iter_mut()
            .find(|account| account.username == username)
            .ok_or_else(|| AccountsError::Unknown(username.to_string()))?;
        account.password_hash = password_hash;
        Ok(())
    }

    pub fn remove(&mut self, username: &str) -> Result<(), AccountsError> {
        let before = self.accounts.len();
        self.accounts.retain(|account| account.username != username);
        if self.accounts.len() == before {
            return Err(AccountsError::Unknown(username.to_string()));
        }
        Ok(())
    }
}

/// 1 to 32 of `a-z 0-9 . _ -`.
pub fn check_username(username: &str) -> Result<(), AccountsError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c);
    if username.is_empty()
        || username.chars().count() > MAX_USERNAME_CHARS
        || !username.chars().all(allowed)
    {
        return Err(AccountsError::BadUsername(username.to_string()));
    }
    Ok(())
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation)
/// and a 16-byte salt from the system's random source.
pub fn hash_password(password: &str) -> Result<String, AccountsError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountsError::PasswordTooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountsError::PasswordTooLong);
    }
    hash_any(password)
}

/// Hashes without the length rules (the dummy hash unknown usernames are checked against).
pub fn hash_any(password: &str) -> Result<String, AccountsError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| AccountsError::Hash("the system random source failed".into()))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|error| AccountsError::Hash(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AccountsError::Hash(error.to_string()))
}

/// Whether `password` matches `hash` (the parameters are read from the hash). Slow on
/// purpose: call it off the async runtime.
pub fn verify_password(hash: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// The accounts file next to a configuration file, when the configuration does not name one.
pub fn default_path(config_file: &Path) -> PathBuf {
    match config_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join("clerks.toml"),
        _ => PathBuf::from("clerks.toml"),
    }
}

fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(text)
}

/// Run as root (`sudo docgate clerk add`), the new file gets the owner and group of the
/// one it replaces, or else its directory's group (`/etc/docgate` is root:docgate): the
/// daemon, which runs as the service user, keeps reading it. Otherwise nothing changes.
fn keep_ownership(file: &std::fs::File, path: &Path, directory: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let (uid, gid) = match std::fs::metadata(path) {
        Ok(old) => (old.uid(), old.gid()),
        Err(_) => (0, std::fs::metadata(directory)?.gid()),
    };
    std::os::unix::fs::fchown(file, Some(uid), Some(gid))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temporary = directory.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("clerks.toml")
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .open(&temporary)?;
    file.write_all(bytes)?;
    keep_ownership(&file, path, directory)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_and_a_wrong_one_does_not() {
        let hash = hash_password("đúng mật khẩu 123").expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(&hash, "đúng mật khẩu 123"));
        assert!(!verify_password(&hash, "đúng mật khẩu 124"));
        assert!(!verify_password("not a hash", "đúng mật khẩu 123"));
        assert_ne!(
            hash,
            hash_password("đúng mật khẩu 123").expect("hash"),
            "salted"
        );
    }

    #[test]
    fn weak_or_huge_passwords_and_odd_usernames_are_refused() {
        assert!(matches!(
            hash_password("short"),
            Err(AccountsError::PasswordTooShort)
        ));
        assert!(matches!(
            hash_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(AccountsError::PasswordTooLong)
        ));
        for bad in ["", "Admin", "a b", "../x", "văn", &"a".repeat(33)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        check_username("van.thu-01_a").expect("allowed");
    }

    #[test]
    fn the_file_round_trips_and_refuses_duplicates_and_bad_hashes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clerks.toml");
        assert_eq!(
            ClerkAccounts::load(&path).expect("missing is empty"),
            ClerkAccounts::default()
        );
        let mut accounts = ClerkAccounts::default();
        accounts
            .add("vanthu", "Nguyễn Thị Lan", "mật khẩu dài đủ")
            .expect("add");
        assert!(matches!(
            accounts.add("vanthu", "", "mật khẩu dài đủ"),
            Err(AccountsError::Exists(_))
        ));
        accounts.save(&path).expect("save");
        let loaded = ClerkAccounts::load(&path).expect("load");
        assert_eq!(loaded, accounts);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o007, 0, "not readable by others");

        let twice = "[[clerk]]\nusername='a'\npassword_hash='$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA'\n".repeat(2);
        std::fs::write(&path, twice).expect("write");
        assert!(matches!(
            ClerkAccounts::load(&path),
            Err(AccountsError::Invalid { .. })
        ));
        std::fs::write(&path, "[[clerk]]\nusername='a'\npassword_hash='plain'\n").expect("write");
        assert!(matches!(
            ClerkAccounts::load(&path),
            Err(AccountsError::Invalid { .. })
        ));
        std::fs::write(
            &path,
            "[[clerk]]\nusername='a'\npassword_hash='x'\nrole='admin'\n",
        )
        .expect("write");
        assert!(matches!(
            ClerkAccounts::load(&path),
            Err(AccountsError::Invalid { .. })
        ));
    }
}
