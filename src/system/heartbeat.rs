//! A liveness beat: a loop calls [`Heartbeat::beat`] each time round, and a watcher asks
//! how long ago that was. Used by the systemd watchdog (`systemd.rs`), which pings only
//! while the store's writer thread and the sync scheduler keep beating. Lock-free (one
//! atomic), so a beat costs nothing and a wedged loop cannot block its watcher.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The process-wide origin of beat times (a monotonic clock: wall-clock jumps do not
/// make a live loop look dead).
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now_millis() -> u64 {
    u64::try_from(origin().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Cloneable: the loop keeps one clone to beat, the watcher another to read.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    last_beat_millis: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

impl Heartbeat {
    /// A heartbeat that has just beaten.
    pub fn new() -> Heartbeat {
        Heartbeat {
            last_beat_millis: Arc::new(AtomicU64::new(now_millis())),
        }
    }

    /// Records that the loop is alive now.
    pub fn beat(&self) {
        self.last_beat_millis.store(now_millis(), Ordering::Relaxed);
    }

    /// How long ago the last beat was.
    pub fn age(&self) -> Duration {
        let last = self.last_beat_millis.load(Ordering::Relaxed);
        Duration::from_millis(now_millis().saturating_sub(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_grows_until_the_next_beat() {
        let heartbeat = Heartbeat::new();
        let watcher = heartbeat.clone();
        std::thread::sleep(Duration::from_millis(30));
        assert!(watcher.age() >= Duration::from_millis(30));
        heartbeat.beat();
        assert!(watcher.age() < Duration::from_millis(30));
    }
}
