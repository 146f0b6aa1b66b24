//! The scheduler: tokio tasks started by `gateway::run` when `[axis]` is configured — the
//! sealer (`sealer.rs`, with `[signing]` only), the packer (`packer.rs`), the sender (`sender.rs`, edoc and status packets alike) and the
//! receiver (`receiver.rs`). They share a context, keep [`LinkState`] current, and stop on
//! the shutdown signal. All their work is driven by rows in the store, so everything
//! resumes from the database after any restart; nothing lives only in memory.
//!
//! Never acknowledges a delivery before its commit returned; never changes a packet's bytes
//! once packed; never runs SQLite, parsing, packing or hashing on the async runtime.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

use super::client::{AxisClient, AxisError};
use super::link::LinkState;
use super::{packer, receiver, sealer, sender};
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
    #[error("cannot write a packet: {0}")]
    Edxml(#[from] EdxmlError),
    #[error("cannot apply the agency seal: {0}")]
    Seal(String),
    #[error("a background task stopped unexpectedly")]
    Task,
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
            SyncError::Task => "task",
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
}

/// How often the scheduler's heartbeat beats while every task runs.
const HEARTBEAT_TICK: Duration = Duration::from_secs(1);

impl SyncHandle {
    /// Beats about every second while the sealer, packer, sender and receiver tasks are
    /// all still running and the runtime still schedules work; stops when one of them has
    /// ended (returned or panicked) or the runtime is starved. The systemd watchdog
    /// watches it.
    pub fn heartbeat(&self) -> Heartbeat {
        self.heartbeat.clone()
    }

    /// Waits for the tasks to finish (after shutdown was triggered).
    pub async fn join(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the packer, the sender and the receiver.
pub fn start<C: AxisClient>(
    store: Store,
    client: C,
    link: LinkState,
    settings: SyncSettings,
    clock: SharedClock,
    shutdown: Shutdown,
) -> SyncHandle {
    let context = Arc::new(Context {
        store,
        client,
        link,
        settings,
        clock,
        shutdown,
        outbox_wake: Notify::new(),
        packable_wake: Notify::new(),
    });
    let shutdown = context.shutdown.clone();
    let mut tasks = vec![
        tokio::spawn(sealer::run(context.clone())),
        tokio::spawn(packer::run(context.clone())),
        tokio::spawn(sender::run(context.clone())),
        tokio::spawn(receiver::run(context)),
    ];
    let heartbeat = Heartbeat::new();
    let watched = tasks.iter().map(JoinHandle::abort_handle).collect();
    tasks.push(tokio::spawn(beat_while_running(
        watched,
        heartbeat.clone(),
        shutdown,
    )));
    SyncHandle { tasks, heartbeat }
}

/// Beats `heartbeat` every tick while none of `tasks` has ended, until shutdown.
async fn beat_while_running(tasks: Vec<AbortHandle>, heartbeat: Heartbeat, shutdown: Shutdown) {
    loop {
        if tasks.iter().all(|task| !task.is_finished()) {
            heartbeat.beat();
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT_TICK) => {}
            _ = shutdown.wait() => return,
        }
    }
}
