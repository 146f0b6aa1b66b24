//! The systemd service protocol (`sd_notify(3)`, `Type=notify`): `READY=1` once the caller
//! says the gateway is up, `WATCHDOG=1` at half of `WATCHDOG_USEC` — but only while every
//! watched [`Heartbeat`] is fresh (the store's writer thread, the sync scheduler) — a
//! `STATUS=` line with the queue at a glance every few seconds, and `STOPPING=1` on
//! shutdown. Without `NOTIFY_SOCKET` (not run by systemd: a console, the tests, the demo)
//! nothing is sent and nothing fails.
//!
//! Knows no documents: the caller hands in the heartbeats and a function that writes the
//! status line ([`status_line`] formats [`StatusFacts`]). The watchdog task runs on the
//! async runtime, so a starved runtime stops the pings too.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::system::heartbeat::Heartbeat;
use crate::system::shutdown::Shutdown;

/// How often the `STATUS=` line is refreshed.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// A heartbeat older than this (or than the ping period, if longer) counts as stopped.
/// The heartbeats beat about every second, so this leaves room for a slow batch.
const MIN_STALE_LIMIT: Duration = Duration::from_secs(3);

/// A notification systemd could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("cannot tell systemd {state}: {source}; check NOTIFY_SOCKET and that the unit has NotifyAccess=main")]
pub struct NotifyError {
    state: &'static str,
    source: std::io::Error,
}

/// What the supervisor watches and reports.
pub struct Probes {
    /// Named heartbeats; the watchdog pings only while every one is fresh.
    pub liveness: Vec<(&'static str, Heartbeat)>,
    /// Writes the `STATUS=` line (blocking; run off the runtime).
    pub status: Box<dyn Fn() -> String + Send + Sync>,
}

/// Whether the link to the axis works, in the words of the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkWord {
    Up,
    Down,
    NotConfigured,
}

/// The facts of the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFacts {
    pub link: LinkWord,
    pub waiting_to_send: u64,
    pub oldest_waiting: Option<Duration>,
    pub incoming_awaiting_clerk: u64,
}

/// `link up; 3 waiting to send (oldest 2 min); 1 incoming awaiting the clerk`.
pub fn status_line(facts: &StatusFacts) -> String {
    let link = match facts.link {
        LinkWord::Up => "link up",
        LinkWord::Down => "link down",
        LinkWord::NotConfigured => "no axis configured",
    };
    let waiting = match (facts.waiting_to_send, facts.oldest_waiting) {
        (0, _) => "nothing waiting to send".to_string(),
        (count, Some(age)) => format!("{count} waiting to send (oldest {})", short_age(age)),
        (count, None) => format!("{count} waiting to send"),
    };
    let incoming = match facts.incoming_awaiting_clerk {
        0 => "no incoming awaiting the clerk".to_string(),
        count => format!("{count} incoming awaiting the clerk"),
    };
    format!("{link}; {waiting}; {incoming}")
}

/// `45 s`, `2 min`, `5 h`, `3 days`.
fn short_age(age: Duration) -> String {
    let seconds = age.as_secs();
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3_600 => format!("{} min", seconds / 60),
        3_600..172_800 => format!("{} h", seconds / 3_600),
        _ => format!("{} days", seconds / 86_400),
    }
}

/// Whether the process was started with a notification socket (by systemd).
pub fn under_systemd() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// Sends `READY=1` with a first `STATUS=` line and starts the watchdog and status task,
/// which sends `STOPPING=1` when `shutdown` triggers. Call once everything is up
/// (configuration loaded, store open, listener bound, sync started). `None` (and nothing
/// sent) when not run by systemd.
pub fn start(probes: Probes, shutdown: Shutdown) -> Option<JoinHandle<()>> {
    start_for_run(probes, shutdown.clone(), shutdown)
}

/// [`start`] for one run of a process that may run again in place (a box restarting with
/// a new enrolment): the task ends with `run`, but `STOPPING=1` is sent only when `process`
/// is stopping too; a run that follows sends `READY=1` again with its own heartbeats.
pub fn start_for_run(probes: Probes, run: Shutdown, process: Shutdown) -> Option<JoinHandle<()>> {
    if !under_systemd() {
        return None;
    }
    Some(tokio::spawn(supervise(
        probes,
        sd_notify::watchdog_enabled(),
        run,
        process,
    )))
}

async fn supervise(
    probes: Probes,
    watchdog: Option<Duration>,
    shutdown: Shutdown,
    process: Shutdown,
) {
    let probes = std::sync::Arc::new(probes);
    let mut notifier = Notifier::default();
    let first = status_of(&probes).await;
    notifier.send("READY=1", &[sd_notify::NotifyState::Ready, status(&first)]);
    // Half the interval, as sd_watchdog_enabled(3) advises (never zero: a timer needs a period).
    let ping_period = watchdog.map(|interval| (interval / 2).max(Duration::from_millis(10)));
    let mut ping = tokio::time::interval(ping_period.unwrap_or(STATUS_INTERVAL));
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut report = tokio::time::interval(STATUS_INTERVAL);
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    report.tick().await; // the first tick is immediate, and the first line went with READY
    let stale_limit = ping_period.map_or(MIN_STALE_LIMIT, |period| period.max(MIN_STALE_LIMIT));
    let mut watch = Watch::default();
    loop {
        tokio::select! {
            _ = ping.tick(), if ping_period.is_some() => {
                if watch.all_alive(&probes.liveness, stale_limit) {
                    notifier.send("WATCHDOG=1", &[sd_notify::NotifyState::Watchdog]);
                }
            }
            _ = report.tick() => {
                let line = status_of(&probes).await;
                notifier.send("STATUS", &[status(&line)]);
            }
            _ = shutdown.wait() => break,
        }
    }
    if !process.is_triggered() {
        notifier.send(
            "STATUS",
            &[status(
                "restarting with a new enrolment or configuration bundle",
            )],
        );
        return;
    }
    notifier.send(
        "STOPPING=1",
        &[
            sd_notify::NotifyState::Stopping,
            sd_notify::NotifyState::Status("stopping: finishing requests and closing the store"),
        ],
    );
}

fn status(line: &str) -> sd_notify::NotifyState<'_> {
    sd_notify::NotifyState::Status(line)
}

/// The status line, computed on a blocking thread (it reads the store).
async fn status_of(probes: &std::sync::Arc<Probes>) -> String {
    let probes = probes.clone();
    tokio::task::spawn_blocking(move || (probes.status)())
        .await
        .unwrap_or_else(|_| "status unknown (the status query failed)".to_string())
}

/// Sends notifications; logs the first failure and stays quiet about repeats.
#[derive(Default)]
struct Notifier {
    failing: bool,
}

impl Notifier {
    fn send(&mut self, what: &'static str, states: &[sd_notify::NotifyState<'_>]) {
        match sd_notify::notify(states) {
            Ok(()) => self.failing = false,
            Err(source) => {
                if !self.failing {
                    let error = NotifyError {
                        state: what,
                        source,
                    };
                    tracing::warn!(%error, error_kind = "systemd_notify", "systemd notification failed");
                }
                self.failing = true;
            }
        }
    }
}

/// Remembers which heartbeat stopped, to log a change once rather than at every tick.
#[derive(Default)]
struct Watch {
    stopped: Option<&'static str>,
}

impl Watch {
    fn all_alive(&mut self, liveness: &[(&'static str, Heartbeat)], stale_limit: Duration) -> bool {
        let stopped = liveness
            .iter()
            .find(|(_, heartbeat)| heartbeat.age() > stale_limit);
        match (stopped, self.stopped) {
            (Some((name, heartbeat)), None) => {
                tracing::error!(
                    part = *name,
                    silent_ms = u64::try_from(heartbeat.age().as_millis()).unwrap_or(u64::MAX),
                    error_kind = "watchdog",
                    "a part of the gateway stopped answering; not pinging the systemd watchdog, which will restart the service"
                );
                self.stopped = Some(*name);
            }
            (None, Some(name)) => {
                tracing::info!(
                    part = name,
                    "the part answers again; pinging the systemd watchdog"
                );
                self.stopped = None;
            }
            _ => {}
        }
        stopped.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(link: LinkWord, waiting: u64, oldest: Option<u64>, incoming: u64) -> StatusFacts {
        StatusFacts {
            link,
            waiting_to_send: waiting,
            oldest_waiting: oldest.map(Duration::from_secs),
            incoming_awaiting_clerk: incoming,
        }
    }

    #[test]
    fn the_status_line_reads_as_a_sentence() {
        let cases = [
            (
                facts(LinkWord::Up, 3, Some(150), 1),
                "link up; 3 waiting to send (oldest 2 min); 1 incoming awaiting the clerk",
            ),
            (
                facts(LinkWord::Down, 1, Some(7_300), 0),
                "link down; 1 waiting to send (oldest 2 h); no incoming awaiting the clerk",
            ),
            (
                facts(LinkWord::NotConfigured, 0, None, 2),
                "no axis configured; nothing waiting to send; 2 incoming awaiting the clerk",
            ),
            (
                facts(LinkWord::Up, 5, Some(3 * 86_400), 0),
                "link up; 5 waiting to send (oldest 3 days); no incoming awaiting the clerk",
            ),
            (
                facts(LinkWord::Up, 1, Some(12), 0),
                "link up; 1 waiting to send (oldest 12 s); no incoming awaiting the clerk",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(status_line(&input), expected);
        }
    }

    #[test]
    fn a_stale_heartbeat_stops_the_pings_and_a_fresh_one_resumes_them() {
        let writer = Heartbeat::new();
        let liveness = vec![("store writer", writer.clone())];
        let mut watch = Watch::default();
        assert!(watch.all_alive(&liveness, Duration::from_millis(50)));
        std::thread::sleep(Duration::from_millis(80));
        assert!(!watch.all_alive(&liveness, Duration::from_millis(50)));
        writer.beat();
        assert!(watch.all_alive(&liveness, Duration::from_millis(50)));
    }
}
