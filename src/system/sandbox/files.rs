//! The Landlock half of the sandbox: which paths the daemon may read, which it may
//! change, and enforcing that on the running kernel as well as it allows.
//!
//! Rules are given on directories rather than on single files wherever a file may be
//! replaced by rename while the daemon runs (the clerks' file, a CRL or certificate an
//! administrator updates, a renewed link certificate): Landlock ties a rule to the inode
//! it was given, so a rule on the old file would not cover the new one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use landlock::{
    make_bitflags, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus,
    PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::SandboxError;
use crate::system::config::GatewayConfig;

/// The newest Landlock ABI this policy was written and tested for (Linux 6.15). Newer
/// kernels are held to exactly these rights; older ones to those they know (best effort).
/// ABI 8 and later add rights this policy does not name yet (connecting to named UNIX
/// sockets, UDP); raising this needs a look at the journal, systemd notification and
/// pcscd sockets the daemon reaches.
const TARGET_ABI: ABI = ABI::V7;

/// What a read-only path allows: opening files for reading and listing directories.
/// Never executing: the daemon starts no program.
fn read_only() -> BitFlags<AccessFs> {
    make_bitflags!(AccessFs::{ReadFile | ReadDir})
}

/// What a read-write path allows: everything SQLite, the blob store and the enrolment's
/// generations do (create, write, truncate, rename across directories, remove, and the
/// `current` symlink). Not executing, not device nodes, sockets or pipes, not ioctls.
fn read_write() -> BitFlags<AccessFs> {
    make_bitflags!(AccessFs::{
        ReadFile | ReadDir | WriteFile | Truncate | MakeReg | MakeDir | MakeSym
            | RemoveFile | RemoveDir | Refer
    })
}

/// One path the sandbox lets through, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub path: PathBuf,
    pub writable: bool,
    pub why: &'static str,
}

/// The environment variables that change what the daemon needs: read once, so tests can
/// hand in their own.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `SOFTHSM2_CONF`: SoftHSM2's configuration (tests, the demo), when the token
    /// module is SoftHSM2.
    pub softhsm2_conf: Option<PathBuf>,
    /// `CREDENTIALS_DIRECTORY`: systemd's credentials (the token PIN, the API token).
    pub credentials_directory: Option<PathBuf>,
    /// `NOTIFY_SOCKET`: systemd's notification socket (`@…` is an abstract socket).
    pub notify_socket: Option<OsString>,
    /// Files the `fault-injection` hooks read (their directories are granted).
    pub fault_files: Vec<PathBuf>,
}

impl Environment {
    /// This process's environment.
    pub fn from_process() -> Environment {
        Environment::from_lookup(|name| std::env::var_os(name))
    }

    /// The environment `lookup` describes (a child's, in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Environment {
        let fault_files = if cfg!(feature = "fault-injection") {
            super::FAULT_FILE_VARIABLES
                .iter()
                .filter_map(|name| lookup(name))
                .map(PathBuf::from)
                .collect()
        } else {
            Vec::new()
        };
        Environment {
            softhsm2_conf: lookup("SOFTHSM2_CONF").map(PathBuf::from),
            credentials_directory: lookup("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            notify_socket: lookup("NOTIFY_SOCKET"),
            fault_files,
        }
    }

    /// Whether systemd's notification socket is an abstract one (`@name`), which an
    /// abstract-socket scope would cut off.
    fn notify_socket_is_abstract(&self) -> bool {
        self.notify_socket
            .as_ref()
            .is_some_and(|socket| socket.as_encoded_bytes().starts_with(b"@"))
    }
}

/// The system paths every gateway reads, and why. Each is skipped when missing.
const SYSTEM_READ_ONLY: &[(&str, &str)] = &[
    (
        "/usr",
        "programs and shared libraries (the PKCS#11 module's dependencies, glibc's name-service modules), time zones",
    ),
    ("/lib", "shared libraries (a link into /usr on merged-/usr systems)"),
    ("/lib64", "the dynamic loader (a link into /usr on merged-/usr systems)"),
    (
        "/etc/ld.so.cache",
        "where the dynamic loader finds the libraries a PKCS#11 module needs",
    ),
    ("/etc/resolv.conf", "DNS servers (the axis, TSA and CRL host names)"),
    ("/etc/hosts", "host names without DNS"),
    ("/etc/nsswitch.conf", "how glibc resolves host names"),
    ("/etc/host.conf", "glibc resolver options"),
    ("/etc/gai.conf", "glibc's address ordering for getaddrinfo"),
    ("/etc/localtime", "the local time zone (log timestamps)"),
    ("/etc/opensc", "OpenSC's configuration (PKCS#11 for smart-card tokens)"),
    ("/etc/opensc.conf", "OpenSC's configuration on some systems"),
    (
        "/proc/self",
        "the process's own facts (threads, memory, the CPU limit tokio sizes its pool by)",
    ),
    (
        "/sys/fs/cgroup",
        "the CPU limit of the service's control group (tokio's pool size)",
    ),
    (
        "/sys/devices/system/cpu",
        "how many CPUs are online (glibc, tokio)",
    ),
    ("/dev/urandom", "randomness for SQLite and the PKCS#11 module"),
    ("/dev/random", "randomness for the PKCS#11 module"),
];

/// The paths `docgate run` with `config` needs, with their reasons.
pub fn gateway_grants(config: &GatewayConfig, environment: &Environment) -> Vec<Grant> {
    let mut grants = Vec::new();
    let mut read = |path: &Path, why: &'static str| {
        grants.push(Grant {
            path: path.to_path_buf(),
            writable: false,
            why,
        })
    };
    if let Some(directory) = config.source.as_deref().and_then(Path::parent) {
        read(
            non_empty(directory),
            "the configuration and what sits beside it (clerks' accounts, token files)",
        );
    }
    for file in named_files(config) {
        if let Some(directory) = file.parent() {
            read(
                non_empty(directory),
                "the directory of a file the configuration names",
            );
        }
    }
    if let Some(directory) = config.gateway.update_status_file().parent() {
        read(
            non_empty(directory),
            "the appliance's update slots, written by a root unit (update_status_file)",
        );
    }
    for (path, why) in SYSTEM_READ_ONLY {
        read(Path::new(path), why);
    }
    if let Some(credentials) = &environment.credentials_directory {
        read(credentials, "systemd credentials (the token PIN)");
    }
    for file in &environment.fault_files {
        if let Some(directory) = file.parent() {
            read(non_empty(directory), "a fault-injection test file");
        }
    }
    grants.push(Grant {
        path: config.gateway.state_dir.clone(),
        writable: true,
        why: "the state directory: database, blobs, enrolment, CRL cache",
    });
    if uses_softhsm(config) {
        let conf = environment
            .softhsm2_conf
            .clone()
            .unwrap_or_else(|| PathBuf::from(SOFTHSM2_DEFAULT_CONF));
        if let Some(token_dir) = softhsm_token_dir(&conf) {
            grants.push(Grant {
                path: token_dir,
                writable: true,
                why: "SoftHSM2's token directory (keys made on the token are written there)",
            });
        }
        grants.push(Grant {
            path: conf,
            writable: false,
            why: "SoftHSM2's configuration (SOFTHSM2_CONF, or Debian's default)",
        });
    }
    grants.push(Grant {
        path: PathBuf::from("/dev/null"),
        writable: true,
        why: "the null device",
    });
    grants
}

/// `Path::parent` of a bare file name is `""`: the current directory.
fn non_empty(directory: &Path) -> &Path {
    if directory.as_os_str().is_empty() {
        Path::new(".")
    } else {
        directory
    }
}

/// Every file the configuration names (already made absolute by `GatewayConfig::load`).
pub fn named_files(config: &GatewayConfig) -> Vec<PathBuf> {
    let api = &config.api;
    let mut files: Vec<PathBuf> = [
        &api.token_file,
        &api.clerks_file,
        &api.tls_certificate,
        &api.tls_key,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    if let Some(axis) = &config.axis {
        files.extend([axis.ca.clone(), axis.certificate.clone()]);
        files.extend(axis.key.iter().chain(&axis.secret_file).cloned());
    }
    if let Some(signing) = &config.signing {
        files.extend(
            [
                &signing.token_module,
                &signing.token_pin_file,
                &signing.key_file,
                &signing.seal_image,
            ]
            .into_iter()
            .flatten()
            .cloned(),
        );
        files.extend(signing.trust_roots.iter().chain(&signing.crls).cloned());
    }
    files
}

/// Where SoftHSM2 reads its configuration without `SOFTHSM2_CONF` (Debian).
const SOFTHSM2_DEFAULT_CONF: &str = "/etc/softhsm/softhsm2.conf";

/// Whether the `[signing]` token is SoftHSM2 (tests, the demo), which keeps its tokens
/// as files the daemon must be able to write.
fn uses_softhsm(config: &GatewayConfig) -> bool {
    config
        .signing
        .as_ref()
        .and_then(|signing| signing.token_module.as_deref())
        .and_then(Path::file_name)
        .is_some_and(|name| name.to_string_lossy().contains("softhsm"))
}

/// `directories.tokendir` of a SoftHSM2 configuration file, if it can be read.
fn softhsm_token_dir(conf: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(conf).ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "directories.tokendir").then(|| PathBuf::from(value.trim()))
    })
}

/// What Landlock did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesOutcome {
    /// Enforced at this ABI (the lower of the kernel's and [`TARGET_ABI`]); `fully` when
    /// every requested restriction is in force.
    Enforced { abi: i32, fully: bool },
    /// The kernel has no Landlock (or it is off): nothing is restricted by it.
    NotEnforced { reason: String },
}

/// Restricts this thread (and every thread it starts afterwards) to `grants`: reading
/// anything outside them, writing outside the writable ones, executing anything, binding
/// a TCP port and signalling another process all fail. Grants whose path does not exist
/// are skipped. `environment` decides whether abstract UNIX sockets stay reachable.
pub fn restrict(grants: &[Grant], environment: &Environment) -> Result<FilesOutcome, SandboxError> {
    let landlock_error = |error: landlock::RulesetError| SandboxError::Landlock(error.to_string());
    let mut scopes: BitFlags<Scope> = Scope::Signal.into();
    if !environment.notify_socket_is_abstract() {
        scopes |= Scope::AbstractUnixSocket;
    }
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .map_err(landlock_error)?
        // Handled with no rule: after the sandbox the daemon binds no TCP port at all (its
        // one listener was bound before). Connections are not restricted: the axis, TSA,
        // CRL and OCSP ports come from certificates and enrolment bundles at run time.
        .handle_access(AccessNet::BindTcp)
        .map_err(landlock_error)?
        .scope(scopes)
        .map_err(landlock_error)?
        .create()
        .map_err(landlock_error)?;
    for grant in grants {
        let Ok(fd) = PathFd::new(&grant.path) else {
            tracing::debug!(path = %grant.path.display(), "sandbox: no such path; not granted");
            continue;
        };
        let mut access = if grant.writable {
            read_write()
        } else {
            read_only()
        };
        if !grant.path.is_dir() {
            // A file takes only the rights that apply to files (no listing, no creating).
            access &= AccessFs::from_file(TARGET_ABI);
        }
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(landlock_error)?;
    }
    let status = ruleset.restrict_self().map_err(landlock_error)?;
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => {
            (effective_abi as i32).min(TARGET_ABI as i32)
        }
        LandlockStatus::NotEnabled => {
            return Ok(FilesOutcome::NotEnforced {
                reason: "Landlock is built into the kernel but not enabled (add `lsm=landlock,…` to the kernel command line)".into(),
            })
        }
        LandlockStatus::NotImplemented => {
            return Ok(FilesOutcome::NotEnforced {
                reason: "the kernel has no Landlock (Linux 5.13 or later with CONFIG_SECURITY_LANDLOCK)".into(),
            })
        }
    };
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => FilesOutcome::Enforced { abi, fully: true },
        RulesetStatus::PartiallyEnforced => FilesOutcome::Enforced { abi, fully: false },
        RulesetStatus::NotEnforced => FilesOutcome::NotEnforced {
            reason: format!("the kernel's Landlock (ABI {abi}) cannot enforce this policy"),
        },
    })
}
