//! The in-process sandbox of `docgate run`, applied once, after the configuration is
//! loaded and the listener bound and before the async runtime or any other thread starts:
//!
//! - who runs (`privileges.rs`): the daemon refuses root and capabilities; started as root
//!   with `--drop-to USER` it binds its port, then becomes USER with no groups, no
//!   capabilities and `PR_SET_NO_NEW_PRIVS`, and checks it cannot become root again;
//! - what it may touch (`files.rs`, Landlock): read the configuration and the files it
//!   names, the system paths libraries, DNS and the PKCS#11 module need; read and write
//!   only the state directory (and SoftHSM2's token directory); execute nothing, bind no
//!   new TCP port, signal no other process;
//! - what it may ask of the kernel (`syscalls.rs` and `syscalls.json`, seccomp): an
//!   allow-list of the system calls it makes, measured, everything else `EPERM`.
//!
//! Owns those three and the order they happen in. Does not decide which files the
//! configuration names (`system::config` and its sections) and does not sandbox the other
//! subcommands (`axis`, `demo`, the console commands), which are not the gateway daemon.
//! `systemd/docgate.service` applies its own, overlapping limits from outside.

mod files;
mod privileges;
#[cfg(feature = "fault-injection")]
pub mod probe;
pub mod syscalls;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use files::{gateway_grants, named_files, Environment, FilesOutcome, Grant};
pub use privileges::{drop_to, plan, Dropped, Plan, Privileges};

use crate::system::config::GatewayConfig;

/// Environment variables naming files the `fault-injection` hooks read while the daemon
/// runs (their directories are granted read access; compiled in only with the feature).
pub const FAULT_FILE_VARIABLES: &[&str] = &[
    "DOCGATE_FAULT_CLOCK_OFFSET_FILE",
    "DOCGATE_FAULT_WEDGE_WRITER",
];

/// Why the daemon will not start, or could not be sandboxed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("docgate run refuses to run {0}: the daemon reads packets and PDFs from the network, and must not own the box if one of them ever took it over. Run it as the docgate user (the systemd unit does: User=docgate), or start it as root with `--drop-to docgate`: it then binds its port and becomes that user before it reads anything from outside")]
    Privileged(String),
    #[error("--drop-to {user}: only root can become another user, and this process runs as uid {uid} (or holds capabilities); leave --drop-to out, or start it as root")]
    DropNeedsRoot { user: String, uid: u32 },
    #[error("--drop-to {0}: there is no such user; create it (`systemd-sysusers` makes `docgate` from sysusers.d/docgate.conf) or name another one")]
    UnknownUser(String),
    #[error("--drop-to {0}: that user is root (uid 0); name an unprivileged user such as docgate")]
    DropToRoot(String),
    #[error("cannot become user {user}: {step} failed: {detail}")]
    Drop {
        user: String,
        step: &'static str,
        detail: String,
    },
    #[error("after becoming {user} the process could still {what}; refusing to run")]
    StillPrivileged { user: String, what: String },
    #[error("cannot read this process's capabilities: {0}")]
    Capabilities(String),
    #[error("the sandbox must be applied before any thread starts, but this process already runs {0} threads (a bug: report it)")]
    Threads(usize),
    #[error("cannot create the state directory {path}: {source}; create it, owned by the user the daemon runs as")]
    StateDirectory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot restrict file access with Landlock: {0}")]
    Landlock(String),
    #[error("cannot install the system-call filter (seccomp): {0}; the kernel needs CONFIG_SECCOMP_FILTER")]
    Seccomp(String),
}

impl SandboxError {
    /// Whether this is about who runs the daemon (root, capabilities, `--drop-to`): the
    /// command line or the service's user must change, not the machine.
    pub fn is_about_privileges(&self) -> bool {
        matches!(
            self,
            SandboxError::Privileged(_)
                | SandboxError::DropNeedsRoot { .. }
                | SandboxError::UnknownUser(_)
                | SandboxError::DropToRoot(_)
                | SandboxError::Drop { .. }
                | SandboxError::StillPrivileged { .. }
        )
    }
}

/// What [`confine_gateway`] put in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    pub files: FilesOutcome,
    /// How many system calls the allow-list names; `None` when this architecture has no
    /// measured list and no filter was installed.
    pub syscalls_allowed: Option<usize>,
}

/// Confines this process for `docgate run` with `config`: Landlock with the gateway's
/// grants, then the seccomp allow-list. Must run while the process has one thread, so
/// that every thread started later inherits both. Logs what was enforced: at INFO the
/// Landlock ABI, at WARN when the kernel enforces no Landlock at all.
pub fn confine_gateway(config: &GatewayConfig) -> Result<Confinement, SandboxError> {
    let threads = thread_count();
    if threads > 1 {
        return Err(SandboxError::Threads(threads));
    }
    let state_dir = &config.gateway.state_dir;
    std::fs::create_dir_all(state_dir).map_err(|source| SandboxError::StateDirectory {
        path: state_dir.clone(),
        source,
    })?;
    let environment = Environment::from_process();
    let grants = gateway_grants(config, &environment);
    let confinement = confine(&grants, &environment)?;
    let syscalls = match confinement.syscalls_allowed {
        Some(count) => format!("seccomp allow-list of {count} system calls in force"),
        None => format!(
            "NO seccomp filter (the allow-list is measured on {}, this is {})",
            syscalls::MEASURED_ARCH,
            std::env::consts::ARCH
        ),
    };
    match (&confinement.files, confinement.syscalls_allowed) {
        (FilesOutcome::Enforced { abi, fully }, Some(_)) => tracing::info!(
            landlock_abi = abi,
            "sandbox: Landlock ABI {abi} enforced ({}), {syscalls}",
            if *fully {
                "fully"
            } else {
                "partly: this kernel lacks some of it"
            },
        ),
        (FilesOutcome::Enforced { abi, .. }, None) => tracing::warn!(
            landlock_abi = abi,
            "sandbox: Landlock ABI {abi} enforced, {syscalls}"
        ),
        (FilesOutcome::NotEnforced { reason }, _) => {
            tracing::warn!("sandbox: NO Landlock file restrictions ({reason}); {syscalls}")
        }
    }
    Ok(confinement)
}

/// Applies `grants` with Landlock and then the seccomp allow-list to this thread and the
/// threads it starts afterwards (seccomp to every thread of the process). The parts of
/// [`confine_gateway`] that do not depend on the gateway, for tests.
pub fn confine(grants: &[Grant], environment: &Environment) -> Result<Confinement, SandboxError> {
    let files = files::restrict(grants, environment)?;
    let syscalls_allowed = syscalls::restrict()?;
    Ok(Confinement {
        files,
        syscalls_allowed,
    })
}

/// The process's thread count (`Threads:` in /proc/self/status); 1 when unreadable, which
/// only loses this early check (the filters still go on every thread).
fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("Threads:")
                    .and_then(|count| count.trim().parse().ok())
            })
        })
        .unwrap_or(1)
}
