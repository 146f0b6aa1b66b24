//! The state of the link to the axis, shared between the scheduler (which writes it) and
//! the local API (`GET /api/v1/link`, `/healthz`), which reads snapshots. Owns only that
//! small struct; never blocks (a plain mutex held for a copy) and never holds secrets.
//! It also carries the sealer's [`SealWatch`] (the TSA's last answer, the token's seal
//! certificate, sign latency), so that the status facts reach it the same way.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::seal_watch::SealWatch;

/// What `GET /api/v1/link` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LinkSnapshot {
    /// Whether an `[axis]` section is configured at all.
    pub configured: bool,
    /// The axis URL, when configured.
    pub url: Option<String>,
    /// Whether the last request to the axis succeeded.
    pub connected: bool,
    /// RFC 3339 UTC instants.
    pub last_success: Option<String>,
    pub last_attempt: Option<String>,
    /// When the next retry is due after a failure.
    pub next_try: Option<String>,
    /// The last failure, in words an operator can act on (cleared on success).
    pub last_error: Option<String>,
    /// Packets waiting to be confirmed by the axis.
    pub outbox_depth: u64,
    /// Why incoming packets are being left on the axis (storage quota), when they are.
    pub incoming_paused: Option<String>,
    /// Why outgoing documents are waiting for the agency seal (token absent, PIN
    /// refused, …), when they are.
    pub sealing: Option<String>,
}

/// The shared link state. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LinkState {
    inner: Arc<Mutex<LinkSnapshot>>,
    seal: SealWatch,
}

impl LinkState {
    /// A stand-alone gateway: no axis.
    pub fn unconfigured() -> LinkState {
        LinkState::default()
    }

    /// A gateway with an axis at `url`, not yet contacted.
    pub fn configured(url: &str) -> LinkState {
        let state = LinkState::default();
        state.update(|link| {
            link.configured = true;
            link.url = Some(url.to_string());
        });
        state
    }

    /// What the sealer saw (empty without `[signing]`).
    pub fn seal_watch(&self) -> &SealWatch {
        &self.seal
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> LinkSnapshot {
        match self.inner.lock() {
            Ok(link) => link.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes the state under the lock.
    pub fn update(&self, change: impl FnOnce(&mut LinkSnapshot)) {
        let mut link = match self.inner.lock() {
            Ok(link) => link,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut link);
    }

    /// A request succeeded at `at`.
    pub fn succeeded(&self, at: &str) {
        self.update(|link| {
            link.connected = true;
            link.last_attempt = Some(at.to_string());
            link.last_success = Some(at.to_string());
            link.last_error = None;
            link.next_try = None;
        });
    }

    /// A request failed at `at`; the next try is due at `next_try`.
    pub fn failed(&self, at: &str, error: &str, next_try: Option<String>) {
        self.update(|link| {
            link.connected = false;
            link.last_attempt = Some(at.to_string());
            link.last_error = Some(error.to_string());
            link.next_try = next_try;
        });
    }

    /// Whether the link is configured and not known to work: `/healthz` reports it.
    pub fn problem(&self) -> Option<String> {
        let link = self.snapshot();
        if !link.configured || link.connected {
            return None;
        }
        Some(match link.last_error {
            Some(error) => format!("axis link down: {error}"),
            None => "axis link not yet established".to_string(),
        })
    }
}
