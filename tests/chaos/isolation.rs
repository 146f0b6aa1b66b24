//! Private network and mount namespaces for a chaos run, so its link faults (nftables, tc)
//! and tmpfs disks touch nothing outside it. As root the harness re-executes itself under
//! `unshare --net --mount`; everything it starts is then inside. Not root (or no `unshare`):
//! it runs where it is, and the faults that need the namespaces are skipped.

use std::process::{Command, ExitCode};

/// Set in the re-executed harness.
const INSIDE: &str = "DOCGATE_CHAOS_INSIDE";

/// What the run may do to its surroundings.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// In private namespaces: link shaping and tmpfs disks are ours to change.
    pub namespaces: bool,
    /// Why not, when not.
    pub reason: String,
}

impl Isolation {
    pub fn describe(&self) -> String {
        if self.namespaces {
            "in private network and mount namespaces".into()
        } else {
            format!(
                "not isolated ({}): loss, throttling and disk-full faults skipped",
                self.reason
            )
        }
    }
}

pub enum Entered {
    /// This process started the isolated run, which ended with this code.
    Parent(ExitCode),
    /// Run here.
    Here(Isolation),
}

/// Re-executes the harness in new namespaces when it can; inside, brings loopback up.
pub fn enter(args: &[String]) -> Entered {
    if std::env::var_os(INSIDE).is_some() {
        return match bring_loopback_up() {
            Ok(()) => Entered::Here(Isolation {
                namespaces: true,
                reason: String::new(),
            }),
            Err(reason) => Entered::Here(Isolation {
                namespaces: false,
                reason,
            }),
        };
    }
    if !nix::unistd::geteuid().is_root() {
        return not_isolated("not root");
    }
    let probe = Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .status();
    if !matches!(probe, Ok(status) if status.success()) {
        return not_isolated("unshare --net --mount is refused here");
    }
    let Ok(me) = std::env::current_exe() else {
        return not_isolated("cannot find the harness's own executable");
    };
    let status = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "--"])
        .arg(me)
        .args(args)
        .env(INSIDE, "1")
        .status();
    match status {
        Ok(status) if status.success() => Entered::Parent(ExitCode::SUCCESS),
        Ok(status) => {
            eprintln!("chaos: the isolated run ended with {status}");
            Entered::Parent(ExitCode::FAILURE)
        }
        Err(error) => {
            eprintln!("chaos: cannot start the isolated run: {error}");
            Entered::Parent(ExitCode::FAILURE)
        }
    }
}

fn not_isolated(reason: &str) -> Entered {
    Entered::Here(Isolation {
        namespaces: false,
        reason: reason.into(),
    })
}

fn bring_loopback_up() -> Result<(), String> {
    run("ip", &["link", "set", "lo", "up"])
}

/// Runs a command; `Err` with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("{program}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
