//! Fault injection for tests/sandbox.rs, compiled in only with the `fault-injection`
//! feature: once the sandbox is in force, `DOCGATE_FAULT_SANDBOX_PROBE` lists actions the
//! daemon tries once, each logged at WARN as `sandbox probe ACTION: allowed` or
//! `sandbox probe ACTION: denied (ERROR)`, so a test sees what the real daemon, with its
//! real policy, may and may not do. Actions, separated by `;`:
//!
//! - `read:PATH`, `write:PATH` (create or append), `exec:PATH` (run it, no arguments);
//! - `resolve:HOST`: a host-name lookup through glibc (`getaddrinfo`, as reqwest does);
//! - `personality`, `setuid0`, `packet-socket`, `inet-socket`: one system call each
//!   (`personality(0xffffffff)`, `setuid(0)`, `socket(AF_PACKET)`, `socket(AF_INET)`).

use std::io::Write;

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType};

/// Runs the probes `DOCGATE_FAULT_SANDBOX_PROBE` lists, if any.
pub fn run_from_env() {
    let Ok(spec) = std::env::var("DOCGATE_FAULT_SANDBOX_PROBE") else {
        return;
    };
    for action in spec.split(';').filter(|action| !action.is_empty()) {
        let outcome = match try_action(action) {
            Ok(()) => "allowed".to_owned(),
            Err(error) => format!("denied ({error})"),
        };
        tracing::warn!("sandbox probe {action}: {outcome}");
    }
}

fn try_action(action: &str) -> Result<(), String> {
    let text = |error: &dyn std::fmt::Display| error.to_string();
    let (verb, path) = action.split_once(':').unwrap_or((action, ""));
    match verb {
        "read" => std::fs::read(path).map(drop).map_err(|e| text(&e)),
        "write" => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(b"probe\n"))
            .map_err(|e| text(&e)),
        "resolve" => std::net::ToSocketAddrs::to_socket_addrs(&(path, 443))
            .map(drop)
            .map_err(|e| text(&e)),
        "exec" => std::process::Command::new(path)
            .status()
            .map(drop)
            .map_err(|e| text(&e)),
        "personality" => nix::sys::personality::get().map(drop).map_err(|e| text(&e)),
        "setuid0" => nix::unistd::setuid(nix::unistd::Uid::from_raw(0)).map_err(|e| text(&e)),
        "packet-socket" => socket::socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map(drop)
        .map_err(|e| text(&e)),
        "inet-socket" => socket::socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map(drop)
        .map_err(|e| text(&e)),
        _ => Err(format!("unknown probe {verb:?}")),
    }
}
