//! The scheduler: tokio tasks started by `gateway::run` when `[axis]` is configured — the
//! sealer (`sealer.rs`, with `[signing]` only), the packer (`packer.rs`), the sender (`sender.rs`, edoc and status packets alike), the
//! receiver (`receiver.rs`) and the agency directory's refresh (`directory.rs`). They share a context, keep [`LinkState`] current, and stop on
//! the shutdown signal. All their work is driven by rows in the store, so everything
//! resumes from the database after any restart; nothing lives only in memory.
//!
//! Never acknowledges a delivery before its commit returned; never changes a packet's bytes
//! once packed; never runs SQLite, parsing, packing or hashing on the async runtime.
//!
//! Its heartbeat (watched by the systemd watchdog) beats while every task runs and no
//! request to the axis is in flight past twice its time limit (`liveness.rs`): a task
//! blocked forever inside one request counts as dead, not as busy.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

use super::client::{AxisClient, AxisError};
use super::link::LinkState;
use super::liveness::{InFlight, Watched};
use super::{directory, packer, receiver, sealer, sender};
use crate::edxml::{EdxmlError, Limits, Organization};
use crate::store::{Store, StoreError};
use crate::system::clock::{rfc3339_utc, SharedClock};
use crate::system::heartbeat::Heartbeat;
use crate::system::shutdown::Shutdown;
use crate::workflow::exchange::PackError;

/// How often idle loops look at the database for new work.
pub(super) const IDLE_POLL: Duration = Duration::from_millis(500);

/// What the scheduler needs from the configuration.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Us, as packets name us in `From`.
    pub organ: Organization,
    pub long_poll_secs: u64,
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    pub disk_quota_bytes: u64,
    /// Limits for reading incoming packets (and the largest packet fetched).
    pub limits: Limits,
    /// `[signing]`: incoming documents get a signature verification report.
    pub signatures: Option<Arc<crate::workflow::SignaturePolicy>>,
    /// `[signing]`: outgoing documents are sealed before they are packed.
    pub sealing: Option<super::sealer::SealingSettings>,
}

/// Why one step of the scheduler failed (the loop logs it, backs off, and tries again).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Axis(#[from] AxisError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pack(#[from] PackError),
    /// Writing a packet, or reading one with a local file failing (never a bad packet:
    /// those are quarantined).
    #[error("{0}")]
    Edxml(#[from] EdxmlError),
    #[error("cannot apply the agency seal: {0}")]
    Seal(String),
    /// The timestamp authority did not answer (B-B seals wait; not a sealing failure).
    #[error("the timestamp authority did not answer: {0}")]
    Timestamp(String),
    #[error("a background task stopped unexpectedly")]
    Task,
    /// The axis's agency directory had no usable entry (the cached one is kept).
    #[error("the axis answered an empty agency directory; the cached directory is kept (ask the axis's operator to check its list of agencies)")]
    EmptyDirectory,
}

impl SyncError {
    /// A short, stable name of the kind of failure: the logs' `error_kind` field
    /// (journald `ERROR_KIND`), for counting and filtering.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Axis(AxisError::Transient { .. }) => "axis_transient",
            SyncError::Axis(AxisError::Permanent { .. }) => "axis_permanent",
            SyncError::Store(_) => "store",
            SyncError::Pack(_) => "pack",
            SyncError::Edxml(_) => "edxml",
            SyncError::Seal(_) => "seal",
            SyncError::Timestamp(_) => "tsa_unavailable",
            SyncError::Task => "task",
            SyncError::EmptyDirectory => "directory_empty",
        }
    }
}

/// Everything the tasks share.
pub(super) struct Context<C> {
    pub store: Store,
    pub client: C,
    pub link: LinkState,
    pub settings: SyncSettings,
    pub clock: SharedClock,
    pub shutdown: Shutdown,
    /// Wakes the sender when the packer or the receiver queued a packet.
    pub outbox_wake: Notify,
    /// Wakes the packer when the sealer made a document packable.
    pub packable_wake: Notify,
}

impl<C> Context<C> {
    pub fn now_text(&self) -> String {
        rfc3339_utc(self.clock.now())
    }

    /// Sleeps for `duration`, or less if shutdown comes first; `false` once shutting down.
    pub async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => !self.shutdown.is_triggered(),
            _ = self.shutdown.wait() => false,
        }
    }

    /// When a retry after `delay` is due, as text for the link state.
    pub fn due_after(&self, delay: Duration) -> Option<String> {
        let delay = time::Duration::try_from(delay).ok()?;
        Some(rfc3339_utc(self.clock.now() + delay))
    }

    /// Runs blocking work (SQLite, files, parsing, hashing) off the runtime.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, SyncError> + Send + 'static,
    ) -> Result<T, SyncError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|_| SyncError::Task)?
    }
}

/// Runs `work` over `items` with at most `limit` in flight, starting them in order. After
/// the first `Err` no new item is started; those already in flight finish (each is safe to
/// stop at any point, but finishing them keeps their progress). Returns the first error.
pub(super) async fn in_flight<T, E, F>(
    items: impl IntoIterator<Item = T>,
    limit: usize,
    work: impl Fn(T) -> F,
) -> Result<(), E>
where
    F: Future<Output = Result<(), E>>,
{
    let mut items = items.into_iter();
    let mut running = FuturesUnordered::new();
    let mut first_error = None;
    loop {
        while first_error.is_none() && running.len() < limit.max(1) {
            match items.next() {
                Some(item) => running.push(work(item)),
                None => break,
            }
        }
        match running.next().await {
            Some(Err(error)) if first_error.is_none() => first_error = Some(error),
            Some(_) => {}
            None => break,
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The running scheduler.
pub struct SyncHandle {
    tasks: Vec<JoinHandle<()>>,
    heartbeat: Heartbeat,
    in_flight: InFlight,
}

/// How often the scheduler's heartbeat beats while every task runs.
const HEARTBEAT_TICK: Duration = Duration::from_secs(1);

impl SyncHandle {
    /// Beats about every second while the sealer (with `[signing]`), packer, sender,
    /// receiver and directory tasks are all still running, no request to the axis is in flight past twice its time limit,
    /// and the runtime still schedules work; stops when one of them has ended (returned or
    /// panicked), a request is stuck, or the runtime is starved. The systemd watchdog
    /// watches it.
    pub fn heartbeat(&self) -> Heartbeat {
        self.heartbeat.clone()
    }

    /// The requests to the axis in flight now.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// Waits for the tasks to finish (after shutdown was triggered).
    pub async fn join(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the sealer (with `[signing]`), the packer, the sender, the receiver and the
/// agency directory's refresh.
pub fn start<C: AxisClient>(
    store: Store,
    client: C,
    link: LinkState,
    settings: SyncSettings,
    clock: SharedClock,
    shutdown: Shutdown,
) -> SyncHandle {
    let in_flight = InFlight::default();
    let context = Arc::new(Context {
        store,
        client: Watched::new(client, in_flight.clone()),
        link,
        settings,
        clock,
        shutdown,
        outbox_wake: Notify::new(),
        packable_wake: Notify::new(),
    });
    let shutdown = context.shutdown.clone();
    // The sealer only with `[signing]`: a task that ended at once would read as dead.
    let mut tasks = Vec::new();
    if context.settings.sealing.is_some() {
        tasks.push(tokio::spawn(sealer::run(context.clone())));
    }
    tasks.push(tokio::spawn(packer::run(context.clone())));
    tasks.push(tokio::spawn(sender::run(context.clone())));
    tasks.push(tokio::spawn(receiver::run(context.clone())));
    // Sleeps between refreshes, so it stays alive (and watched) like the others.
    tasks.push(tokio::spawn(directory::run(context)));
    let heartbeat = Heartbeat::new();
    let watched = tasks.iter().map(JoinHandle::abort_handle).collect();
    tasks.push(tokio::spawn(beat_while_running(
        watched,
        in_flight.clone(),
        heartbeat.clone(),
        shutdown,
    )));
    SyncHandle {
        tasks,
        heartbeat,
        in_flight,
    }
}

/// Beats `heartbeat` every tick while none of `tasks` has ended and no request in
/// `in_flight` is past its bound, until shutdown.
async fn beat_while_running(
    tasks: Vec<AbortHandle>,
    in_flight: InFlight,
    heartbeat: Heartbeat,
    shutdown: Shutdown,
) {
    let mut reported = false;
    loop {
        let running = tasks.iter().all(|task| !task.is_finished());
        match in_flight.overdue() {
            Some(stuck) => {
                if !reported {
                    tracing::error!(
                        request = stuck.what,
                        in_flight_secs = stuck.age.as_secs(),
                        bound_secs = stuck.bound.as_secs(),
                        error_kind = "request_stuck",
                        "a request to the axis is in flight past twice its time limit; the sync loop counts as stuck (under systemd the watchdog restarts the service)"
                    );
                    reported = true;
                }
            }
            None => {
                reported = false;
                if running {
                    heartbeat.beat();
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT_TICK) => {}
            _ = shutdown.wait() => return,
        }
    }
}
