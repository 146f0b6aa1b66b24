//! What every axis handler reaches: the store, the directory, the limits, the clock, the
//! shutdown signal and the per-system wake-ups for long polls; plus the one bridge from
//! async handlers to blocking store calls. Holds no rules and answers no requests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::config::{AxisConfig, Directory};
use super::reply::Reply;
use crate::store::axis::AxisStore;
use crate::store::StoreError;
use crate::system::clock::{rfc3339_utc, SharedClock};
use crate::system::shutdown::Shutdown;

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub(crate) struct AxisState {
    pub store: AxisStore,
    pub directory: Arc<SharedDirectory>,
    pub limits: Limits,
    pub clock: SharedClock,
    pub shutdown: Shutdown,
    pub wakeups: Arc<Wakeups>,
    /// The enrolment endpoints' state, when `[enrolment]` is set.
    pub enrolment: Option<Arc<super::enrolment::EnrolmentService>>,
}

/// The directory as it stands: the configured systems plus the enrolled devices, swapped
/// whole when the enrolment registry changes (a request sees one consistent version).
pub(crate) struct SharedDirectory(std::sync::RwLock<Arc<Directory>>);

impl SharedDirectory {
    pub(crate) fn new(directory: Directory) -> SharedDirectory {
        SharedDirectory(std::sync::RwLock::new(Arc::new(directory)))
    }

    /// The current version.
    pub(crate) fn current(&self) -> Arc<Directory> {
        match self.0.read() {
            Ok(directory) => directory.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the whole directory.
    pub(crate) fn replace(&self, directory: Directory) {
        match self.0.write() {
            Ok(mut held) => *held = Arc::new(directory),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(directory),
        }
    }
}

/// The numbers the handlers need from `[axis]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_packet_bytes: u64,
    pub max_clock_skew: Duration,
    pub long_poll_max: Duration,
}

impl Limits {
    pub(crate) fn from_config(config: &AxisConfig) -> Limits {
        Limits {
            max_packet_bytes: config.axis.max_packet_bytes,
            max_clock_skew: Duration::from_secs(config.axis.max_clock_skew_secs),
            long_poll_max: Duration::from_secs(config.axis.long_poll_max_secs),
        }
    }
}

impl AxisState {
    /// The current instant as the store writes it.
    pub(crate) fn now_text(&self) -> String {
        rfc3339_utc(self.clock.now())
    }

    /// Runs a blocking store call on a blocking thread; a failure is a 500 (code 99).
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&AxisStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Reply> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || call(&store)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Reply::internal(&error)),
            Err(_) => Err(Reply::internal(&"a store task did not finish")),
        }
    }
}

/// One wake-up channel per system: its value moves each time a delivery for that system
/// is committed, so a long poll that subscribed before counting never misses one.
/// Systems that enrol while the axis runs get their channel on first use.
pub(crate) struct Wakeups {
    channels: std::sync::Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Wakeups {
    pub(crate) fn new(directory: &Directory) -> Wakeups {
        let channels = directory
            .system_ids()
            .map(|id| (id.to_owned(), watch::Sender::new(0)))
            .collect();
        Wakeups {
            channels: std::sync::Mutex::new(channels),
        }
    }

    fn channel(&self, system_id: &str) -> Option<watch::Sender<u64>> {
        let mut channels = self.channels.lock().ok()?;
        Some(
            channels
                .entry(system_id.to_owned())
                .or_insert_with(|| watch::Sender::new(0))
                .clone(),
        )
    }

    /// Wakes the long polls of `system_id` (after a commit).
    pub(crate) fn wake(&self, system_id: &str) {
        if let Some(channel) = self.channel(system_id) {
            channel.send_modify(|generation| *generation = generation.wrapping_add(1));
        }
    }

    /// A receiver that sees every later [`Wakeups::wake`] of `system_id`.
    pub(crate) fn subscribe(&self, system_id: &str) -> Option<watch::Receiver<u64>> {
        self.channel(system_id).map(|channel| channel.subscribe())
    }
}
