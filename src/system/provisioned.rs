//! The box's enrolment as kept on disk: what the axis issued it (link certificate, shared
//! secret, signed configuration bundle, the device CA), in numbered generations under
//! `<state_dir>/provisioning/`, and the configuration that results from it.
//!
//! A generation is written whole into a temporary directory, each file and the directory
//! synced, then renamed into place; the `current` symlink is then replaced by a rename. A
//! crash at any instant leaves either the old generation or the new one current, never a
//! mixture (`tests` in this file kill the write at each step). Loading checks the bundle's
//! signature against the CA the box pinned at its first enrolment, so a file edited on disk
//! is refused as a bundle from elsewhere would be.
//!
//! Owns the layout, the atomic switch and [`Provisioned::apply`] (file configuration +
//! bundle = the configuration the daemon runs). Never talks to the network and never
//! decides whether a bundle may replace another (`ConfigBundle::accepts_successor`, called
//! by `enrolment`).
//!
//! ```text
//! <state_dir>/provisioning/
//!   pinned-ca.sha256          hex SHA-256 of the device CA, written at the first enrolment
//!   current -> generations/7  symlink, replaced atomically
//!   generations/7/
//!     bundle.json             the signed bundle, as received
//!     link-ca.pem             the device CA (the only root the link trusts)
//!     link.pem                the link certificate
//!     link.key                its private key (0600), absent when the key is on the token
//!     link-key-label          the key's label on the token, when it is there
//!     axis-secret             the signed headers' shared secret (0600)
//!     trust-roots.pem         the bundle's signature trust roots
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::provisioning::bundle::{BundleError, ConfigBundle, SignedBundle};
use crate::provisioning::code::fingerprint;
use crate::provisioning::pem::pem_block;
use crate::system::config::{AxisSection, GatewayConfig};

/// The directory under the state directory.
pub const DIRECTORY: &str = "provisioning";
const GENERATIONS: &str = "generations";
const CURRENT: &str = "current";
const PIN_FILE: &str = "pinned-ca.sha256";
const BUNDLE_FILE: &str = "bundle.json";
const CA_FILE: &str = "link-ca.pem";
const CERTIFICATE_FILE: &str = "link.pem";
const KEY_FILE: &str = "link.key";
const KEY_LABEL_FILE: &str = "link-key-label";
const SECRET_FILE: &str = "axis-secret";
const TRUST_ROOTS_FILE: &str = "trust-roots.pem";
/// Generations kept besides the current one (for an auditor; never read back).
const KEEP_PREVIOUS: usize = 2;

/// Why the enrolment on disk cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionedError {
    #[error("{path}: {source}; check that the docgate user owns the state directory")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the enrolment in {path} is damaged: {problem}; enrol the box again (docgate enroll) with a new code")]
    Damaged { path: PathBuf, problem: String },
    #[error("the enrolment in {path} was issued by another axis (device CA {found}, pinned {pinned}); a box stays with the axis it first enrolled with unless it is reset (docgate reset)")]
    OtherCa {
        path: PathBuf,
        found: String,
        pinned: String,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// Where the link's private key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKey {
    /// PEM, PKCS#8, in the generation's directory.
    File(PathBuf),
    /// On the `[signing]` token, under this label.
    Token(String),
}

/// A generation to write: everything the axis issued, as received.
#[derive(Debug, Clone)]
pub struct NewGeneration<'a> {
    pub ca_pem: &'a str,
    pub certificate_pem: &'a str,
    /// The private key, PEM; `None` when the key is on the token.
    pub key_pem: Option<&'a str>,
    /// The key's label on the token, when it is there.
    pub key_label: Option<&'a str>,
    pub secret: &'a str,
    pub bundle: &'a SignedBundle,
}

/// The current enrolment, read and checked.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub generation: u64,
    /// `<state_dir>/provisioning/current`: paths through it follow a renewal at once.
    pub directory: PathBuf,
    pub bundle: ConfigBundle,
    pub signed_bundle: SignedBundle,
    pub ca_der: Vec<u8>,
    pub certificate_not_after: OffsetDateTime,
    pub link_key: LinkKey,
}

impl Provisioned {
    /// The configuration the daemon runs: the file's, with who the box is, the axis link
    /// and the signature policy taken from the enrolment. A file with `[signing]` keeps its
    /// own seal key; the bundle's trust roots are added to the file's, and its TSA and CRL
    /// policy replace the file's.
    pub fn apply(&self, file: &GatewayConfig) -> GatewayConfig {
        let mut config = file.clone();
        config.gateway.organ_id = self.bundle.agency.code.clone();
        config.gateway.organ_name = self.bundle.agency.name.clone();
        let (key, token_key_label) = match &self.link_key {
            LinkKey::File(path) => (Some(path.clone()), None),
            LinkKey::Token(label) => (None, Some(label.clone())),
        };
        config.axis = Some(AxisSection {
            url: self.bundle.axis.url.clone(),
            system_id: self.bundle.system_id.clone(),
            secret: None,
            secret_file: Some(self.directory.join(SECRET_FILE)),
            ca: self.directory.join(CA_FILE),
            certificate: self.directory.join(CERTIFICATE_FILE),
            key,
            token_key_label,
            long_poll_secs: self.bundle.axis.long_poll_secs,
            retry_min_ms: self.bundle.axis.retry_min_ms,
            retry_max_ms: self.bundle.axis.retry_max_ms,
        });
        if let Some(signing) = &mut config.signing {
            if !self.bundle.signing.trust_roots_pem.is_empty() {
                signing
                    .trust_roots
                    .push(self.directory.join(TRUST_ROOTS_FILE));
            }
            if self.bundle.signing.tsa_url.is_some() {
                signing.tsa_url = self.bundle.signing.tsa_url.clone();
            }
            signing.fetch_crls = self.bundle.signing.fetch_crls;
        }
        config
    }

    /// The link certificate's file (through `current`).
    pub fn certificate_path(&self) -> PathBuf {
        self.directory.join(CERTIFICATE_FILE)
    }

    /// The link CA's file (through `current`).
    pub fn ca_path(&self) -> PathBuf {
        self.directory.join(CA_FILE)
    }
}

/// What a renewal or a newer bundle changes; everything else is carried over from the
/// current generation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Change<'a> {
    pub certificate_pem: Option<&'a str>,
    /// A new private key (PEM); only with a key kept in a file.
    pub key_pem: Option<&'a str>,
    /// A new key label on the token; only with a key kept there.
    pub key_label: Option<&'a str>,
    pub bundle: Option<&'a SignedBundle>,
}

/// Writes the generation after `current` with `change` applied, atomically, as [`write`].
pub fn write_successor(
    state_dir: &Path,
    current: &Provisioned,
    change: &Change<'_>,
) -> Result<Provisioned, ProvisionedError> {
    let directory = &current.directory;
    let ca_pem = read_text(&directory.join(CA_FILE))?;
    let certificate_pem = match change.certificate_pem {
        Some(pem) => pem.to_owned(),
        None => read_text(&directory.join(CERTIFICATE_FILE))?,
    };
    let key_pem = match (&current.link_key, change.key_pem) {
        (LinkKey::File(_), Some(pem)) => Some(pem.to_owned()),
        (LinkKey::File(path), None) => Some(read_text(path)?),
        (LinkKey::Token(_), _) => None,
    };
    let key_label = match &current.link_key {
        LinkKey::Token(label) => Some(change.key_label.unwrap_or(label.as_str())),
        LinkKey::File(_) => None,
    };
    let secret = read_text(&directory.join(SECRET_FILE))?;
    write(
        state_dir,
        &NewGeneration {
            ca_pem: &ca_pem,
            certificate_pem: &certificate_pem,
            key_pem: key_pem.as_deref(),
            key_label,
            secret: &secret,
            bundle: change.bundle.unwrap_or(&current.signed_bundle),
        },
    )
}

/// `<state_dir>/provisioning`.
pub fn root(state_dir: &Path) -> PathBuf {
    state_dir.join(DIRECTORY)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ProvisionedError + '_ {
    move |source| ProvisionedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn damaged(path: &Path, problem: impl Into<String>) -> ProvisionedError {
    ProvisionedError::Damaged {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// The current enrolment, or `None` when the box was never enrolled (or was reset).
pub fn load(state_dir: &Path) -> Result<Option<Provisioned>, ProvisionedError> {
    let root = root(state_dir);
    let current = root.join(CURRENT);
    let target = match fs::read_link(&current) {
        Ok(target) => target,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(&current)(error)),
    };
    let generation = target
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse::<u64>().ok())
        .ok_or_else(|| damaged(&current, format!("points to {}", target.display())))?;
    read_generation(&root, &current, generation).map(Some)
}

fn read_text(path: &Path) -> Result<String, ProvisionedError> {
    fs::read_to_string(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => damaged(path, "the file is missing"),
        _ => io(path)(error),
    })
}

fn read_generation(
    root: &Path,
    directory: &Path,
    generation: u64,
) -> Result<Provisioned, ProvisionedError> {
    let ca_pem = read_text(&directory.join(CA_FILE))?;
    let ca_der = pem_block(&ca_pem, "CERTIFICATE")
        .ok_or_else(|| damaged(&directory.join(CA_FILE), "holds no certificate"))?;
    check_pin(root, &ca_der)?;
    let bundle_path = directory.join(BUNDLE_FILE);
    let signed_bundle: SignedBundle = serde_json::from_str(&read_text(&bundle_path)?)
        .map_err(|error| damaged(&bundle_path, error.to_string()))?;
    let bundle = signed_bundle.verify(&ca_der)?;
    let certificate_path = directory.join(CERTIFICATE_FILE);
    let certificate_der = pem_block(&read_text(&certificate_path)?, "CERTIFICATE")
        .ok_or_else(|| damaged(&certificate_path, "holds no certificate"))?;
    let certificate_not_after = not_after(&certificate_der)
        .ok_or_else(|| damaged(&certificate_path, "the certificate cannot be read"))?;
    let link_key = if directory.join(KEY_LABEL_FILE).exists() {
        LinkKey::Token(
            read_text(&directory.join(KEY_LABEL_FILE))?
                .trim()
                .to_owned(),
        )
    } else if directory.join(KEY_FILE).exists() {
        LinkKey::File(directory.join(KEY_FILE))
    } else {
        return Err(damaged(
            directory,
            "the link key is neither in a file nor named on the token",
        ));
    };
    if !directory.join(SECRET_FILE).exists() {
        return Err(damaged(&directory.join(SECRET_FILE), "the file is missing"));
    }
    Ok(Provisioned {
        generation,
        directory: directory.to_path_buf(),
        bundle,
        signed_bundle,
        ca_der,
        certificate_not_after,
        link_key,
    })
}

/// A certificate's `notAfter`.
pub fn not_after(der: &[u8]) -> Option<OffsetDateTime> {
    use x509_cert::der::Decode;
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    let seconds = certificate
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).ok()?).ok()
}

/// Refuses a CA other than the pinned one; pins nothing (see [`write`]).
fn check_pin(root: &Path, ca_der: &[u8]) -> Result<(), ProvisionedError> {
    let pin_path = root.join(PIN_FILE);
    let found = hex::encode(fingerprint(ca_der));
    match fs::read_to_string(&pin_path) {
        Ok(pinned) if pinned.trim() == found => Ok(()),
        Ok(pinned) => Err(ProvisionedError::OtherCa {
            path: root.to_path_buf(),
            found,
            pinned: pinned.trim().to_owned(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(damaged(&pin_path, "the pinned CA fingerprint is missing"))
        }
        Err(error) => Err(io(&pin_path)(error)),
    }
}

/// Writes `new` as the next generation and makes it current, atomically. The bundle must
/// verify against `new.ca_pem`, and that CA must be the pinned one (the first write pins
/// it). Answers the enrolment as it now stands.
pub fn write(state_dir: &Path, new: &NewGeneration<'_>) -> Result<Provisioned, ProvisionedError> {
    let root = root(state_dir);
    let generations = root.join(GENERATIONS);
    let owner = Owner::of_state(state_dir);
    fs::create_dir_all(&generations).map_err(io(&generations))?;
    owner.hand_over(&[&root, &generations])?;
    let ca_der = pem_block(new.ca_pem, "CERTIFICATE")
        .ok_or_else(|| damaged(&root, "the device CA answer holds no certificate"))?;
    let bundle = new.bundle.verify(&ca_der)?;
    pin_once(&root, &ca_der, &owner)?;
    check_pin(&root, &ca_der)?;
    let number = next_generation(&generations)?;
    let staging = generations.join(format!("{number}.tmp"));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    fs::create_dir(&staging).map_err(io(&staging))?;
    write_files(&staging, new, &bundle)?;
    owner.hand_over_tree(&staging)?;
    sync_directory(&staging)?;
    let final_directory = generations.join(number.to_string());
    fs::rename(&staging, &final_directory).map_err(io(&final_directory))?;
    sync_directory(&generations)?;
    point_current(&root, number)?;
    remove_old(&generations, number);
    read_generation(&root, &root.join(CURRENT), number)
}

fn write_files(
    directory: &Path,
    new: &NewGeneration<'_>,
    bundle: &ConfigBundle,
) -> Result<(), ProvisionedError> {
    let signed = serde_json::to_string_pretty(new.bundle)
        .map_err(|error| damaged(directory, error.to_string()))?;
    write_file(&directory.join(BUNDLE_FILE), signed.as_bytes(), false)?;
    write_file(&directory.join(CA_FILE), new.ca_pem.as_bytes(), false)?;
    write_file(
        &directory.join(CERTIFICATE_FILE),
        new.certificate_pem.as_bytes(),
        false,
    )?;
    if let Some(key) = new.key_pem {
        write_file(&directory.join(KEY_FILE), key.as_bytes(), true)?;
    }
    if let Some(label) = new.key_label {
        write_file(&directory.join(KEY_LABEL_FILE), label.as_bytes(), false)?;
    }
    write_file(&directory.join(SECRET_FILE), new.secret.as_bytes(), true)?;
    let roots = bundle.signing.trust_roots_pem.join("\n");
    write_file(&directory.join(TRUST_ROOTS_FILE), roots.as_bytes(), false)
}

/// Creates `path` with `bytes` (0600 when `secret`), synced.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), ProvisionedError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Who what an enrolment writes must belong to. `docgate enroll` may run as root from a
/// console while the daemon runs as the service user (`User=docgate`, or `docgate run
/// --drop-to`): then every file and directory it makes is handed to the state
/// directory's owner before it becomes current, so the daemon can read its key and later
/// write its renewals. Nothing changes when not root, or when root owns the state.
struct Owner(Option<(u32, u32)>);

impl Owner {
    fn of_state(state_dir: &Path) -> Owner {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            return Owner(None);
        }
        Owner(
            fs::metadata(state_dir)
                .ok()
                .filter(|metadata| metadata.uid() != 0)
                .map(|metadata| (metadata.uid(), metadata.gid())),
        )
    }

    fn hand_over(&self, paths: &[&Path]) -> Result<(), ProvisionedError> {
        let Some((uid, gid)) = self.0 else {
            return Ok(());
        };
        for path in paths {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io(path))?;
        }
        Ok(())
    }

    fn hand_over_tree(&self, directory: &Path) -> Result<(), ProvisionedError> {
        if self.0.is_none() {
            return Ok(());
        }
        self.hand_over(&[directory])?;
        for entry in fs::read_dir(directory).map_err(io(directory))? {
            let path = entry.map_err(io(directory))?.path();
            self.hand_over(&[&path])?;
        }
        Ok(())
    }
}

fn sync_directory(path: &Path) -> Result<(), ProvisionedError> {
    fs::File::open(path)
        .and_then(|directory| directory.sync_all())
        .map_err(io(path))
}

/// Writes the pin file when there is none yet (the box's first enrolment).
fn pin_once(root: &Path, ca_der: &[u8], owner: &Owner) -> Result<(), ProvisionedError> {
    let pin_path = root.join(PIN_FILE);
    if pin_path.exists() {
        return Ok(());
    }
    let staging = root.join(format!("{PIN_FILE}.tmp"));
    let _ = fs::remove_file(&staging);
    write_file(&staging, hex::encode(fingerprint(ca_der)).as_bytes(), false)?;
    owner.hand_over(&[&staging])?;
    fs::rename(&staging, &pin_path).map_err(io(&pin_path))?;
    sync_directory(root)
}

/// One more than the highest generation ever written (finished or not).
fn next_generation(generations: &Path) -> Result<u64, ProvisionedError> {
    let mut highest = 0;
    for entry in fs::read_dir(generations).map_err(io(generations))? {
        let entry = entry.map_err(io(generations))?;
        let name = entry.file_name();
        let number = name
            .to_str()
            .map(|name| name.trim_end_matches(".tmp"))
            .and_then(|name| name.parse::<u64>().ok());
        if let Some(number) = number {
            highest = highest.max(number);
        }
    }
    Ok(highest + 1)
}

/// Replaces the `current` symlink by a rename (atomic on POSIX file systems).
fn point_current(root: &Path, number: u64) -> Result<(), ProvisionedError> {
    let staging = root.join(format!("{CURRENT}.tmp"));
    let _ = fs::remove_file(&staging);
    let target = Path::new(GENERATIONS).join(number.to_string());
    std::os::unix::fs::symlink(&target, &staging).map_err(io(&staging))?;
    let current = root.join(CURRENT);
    fs::rename(&staging, &current).map_err(io(&current))?;
    sync_directory(root)
}

/// Removes unfinished generations and all but the newest [`KEEP_PREVIOUS`] older ones.
/// Best effort: a leftover directory is harmless.
fn remove_old(generations: &Path, current: u64) {
    let Ok(entries) = fs::read_dir(generations) else {
        return;
    };
    let mut finished = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            let _ = fs::remove_dir_all(entry.path());
        } else if let Ok(number) = name.parse::<u64>() {
            if number != current {
                finished.push(number);
            }
        }
    }
    finished.sort_unstable_by(|a, b| b.cmp(a));
    for number in finished.into_iter().skip(KEEP_PREVIOUS) {
        let _ = fs::remove_dir_all(generations.join(number.to_string()));
    }
}

/// Forgets the enrolment (factory reset or re-provisioning for another agency): the
/// `current` link goes first, so a crash half-way leaves an unenrolled box, never a
/// half-enrolled one.
pub fn remove(state_dir: &Path) -> Result<(), ProvisionedError> {
    let root = root(state_dir);
    let current = root.join(CURRENT);
    match fs::remove_file(&current) {
        Ok(()) => sync_directory(&root)?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io(&current)(error)),
    }
    match fs::remove_dir_all(&root) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io(&root)(error)),
    }
}

#[cfg(test)]
#[path = "provisioned_tests.rs"]
mod tests;
