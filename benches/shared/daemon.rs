//! A benchmark's `docgate run` child: started as every benchmark starts it, and stopped the
//! way systemd would (SIGTERM first so the gateway closes its store cleanly, SIGKILL if it
//! lingers). Shared by the benchmarks that run a daemon
//! (`#[path = "shared/daemon.rs"] mod daemon;`, beside `mod common;`).
#![allow(dead_code)] // Each benchmark uses a different subset.

use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, GatewayDir};

/// `binary` (a `docgate`) set up to `run` `gateway`: its environment, info logs to
/// `<gateway dir>/docgate.log`, nothing on stdin or stdout. As root it drops to the test
/// user, as the tests do; the directory is handed over here, so build the command before
/// any clock starts.
pub fn run_command(mut binary: Command, gateway: &GatewayDir) -> Command {
    let log = File::create(gateway.dir.join("docgate.log")).expect("create the gateway log");
    binary
        .args(common::run_args(&gateway.config, &gateway.env))
        .envs(gateway.env.iter().map(|(name, value)| (name, value)))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    binary
}

/// Sends SIGTERM to `child` and waits up to `limit` for it to exit; kills it after that.
pub fn stop(child: &mut Child, limit: Duration) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
