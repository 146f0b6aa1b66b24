//! The seccomp half of the sandbox: the system calls the daemon makes, as reviewed data
//! (`syscalls.json`, one entry and one reason per call, argument checks where a call can
//! do something the daemon never needs), compiled to BPF by seccompiler.
//!
//! Anything else fails with `EPERM` rather than killing the process: a PKCS#11 vendor
//! module that probes for a feature gets an error it can handle, the daemon keeps serving
//! (and logging what failed), and an attacker who took over the process still cannot make
//! the call. systemd's unit answers its own filter the same way (`SystemCallErrorNumber=EPERM`).
//!
//! How the list was made, and how to remake it: README.md, "The sandbox".

use std::collections::HashMap;

use seccompiler::{BpfProgram, TargetArch};

use super::SandboxError;

/// The allow-list (`docgate`) and the `clone3` refusal (`no_clone3`), as seccompiler's
/// JSON: `default_action` for calls not listed, `filter_action` for those listed.
pub const POLICY_JSON: &str = include_str!("syscalls.json");

/// The compiled filters, in the order they are installed.
pub struct Filters {
    pub allow_list: BpfProgram,
    pub no_clone3: BpfProgram,
}

/// The architecture the list was measured on. Other architectures name some calls
/// differently (aarch64 has no `open`, `rename` or `poll`, only their `*at` forms), so the
/// list is not applied there until it is measured there too.
pub const MEASURED_ARCH: &str = "x86_64";

/// Compiles `syscalls.json` for [`MEASURED_ARCH`].
pub fn compile() -> Result<Filters, SandboxError> {
    let arch = TargetArch::try_from(MEASURED_ARCH)
        .map_err(|error| SandboxError::Seccomp(format!("no system-call table: {error}")))?;
    let mut filters: HashMap<String, BpfProgram> =
        seccompiler::compile_from_json(POLICY_JSON.as_bytes(), arch)
            .map_err(|error| SandboxError::Seccomp(format!("syscalls.json: {error}")))?;
    let mut take = |name: &str| {
        filters
            .remove(name)
            .ok_or_else(|| SandboxError::Seccomp(format!("syscalls.json has no `{name}` filter")))
    };
    Ok(Filters {
        allow_list: take("docgate")?,
        no_clone3: take("no_clone3")?,
    })
}

/// Installs both filters on every thread of the process (`SECCOMP_FILTER_FLAG_TSYNC`;
/// the daemon has only one when it calls this). `no_clone3` goes first, the allow-list
/// last: once the allow-list is in, neither `seccomp` nor `prctl(PR_SET_NO_NEW_PRIVS)`
/// may be called any more. The kernel runs both for every call and keeps the strictest
/// answer, so `clone3` (listed in the allow-list) gets `no_clone3`'s `ENOSYS`, and glibc
/// then starts threads with `clone`, whose flags the allow-list can check, where
/// `clone3`'s are out of a filter's reach.
/// `None` on an architecture the list was not measured on (nothing installed).
pub fn restrict() -> Result<Option<usize>, SandboxError> {
    if std::env::consts::ARCH != MEASURED_ARCH {
        return Ok(None);
    }
    let filters = compile()?;
    let install = |program: &BpfProgram| {
        seccompiler::apply_filter_all_threads(program)
            .map_err(|error| SandboxError::Seccomp(error.to_string()))
    };
    install(&filters.no_clone3)?;
    install(&filters.allow_list)?;
    Ok(Some(allowed_names().len()))
}

/// The names of the calls the allow-list lets through (for the log and the tests).
pub fn allowed_names() -> Vec<String> {
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(POLICY_JSON) else {
        return Vec::new();
    };
    let mut names: Vec<String> = policy["docgate"]["filter"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|rule| rule["syscall"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}
