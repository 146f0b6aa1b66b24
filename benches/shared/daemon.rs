//! Stopping a benchmark's `docgate run` child the way systemd would: SIGTERM first so the
//! gateway closes its store cleanly, SIGKILL if it lingers. Shared by the benchmarks
//! (`#[path = "shared/daemon.rs"] mod daemon;`).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

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
