//! What the token is doing, for people and for callers: `TokenStatus` (a serialisable
//! snapshot with plain-language next steps, for the status page and `/healthz`), `KeyKind`,
//! and the board the worker writes it on: a mutex and condvar shared with every `Token`
//! handle, which also keeps the error that explains a non-ready state (so requests fail
//! fast with it) and logs one line per change of state. Does not decide the state.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::TokenError;

/// The kind of key the token signs with, which fixes the signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum KeyKind {
    /// RSA, PKCS#1 v1.5 with SHA-256 (`sha256WithRSAEncryption`). `modulus_bits` is 0 when
    /// the token does not reveal the modulus.
    Rsa { modulus_bits: u32 },
    /// ECDSA on P-256 with SHA-256 (`ecdsa-with-SHA256`), DER `Ecdsa-Sig-Value`.
    EcP256,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa { modulus_bits: 0 } => formatter.write_str("RSA"),
            KeyKind::Rsa { modulus_bits } => write!(formatter, "RSA {modulus_bits}"),
            KeyKind::EcP256 => formatter.write_str("EC P-256"),
        }
    }
}

/// A snapshot of the token's state. `reason` is the full message of the error behind a
/// non-ready state, with what to do about it; `since` is when the state began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TokenStatus {
    /// The worker has not finished its first look for the token.
    Starting {
        token_label: String,
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// Logged in, key found (and its certificate, when it is on the token): signatures
    /// are made.
    Ready {
        token_label: String,
        key_label: String,
        key: KeyKind,
        /// The PKCS#11 mechanism used, e.g. `CKM_SHA256_RSA_PKCS`.
        mechanism: String,
        /// The slot the token was found in this time (informative only; it changes).
        slot_id: u64,
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// Not plugged in, or pulled out; the worker keeps looking.
    Absent {
        token_label: String,
        reason: String,
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// The PIN was refused (or is locked); nothing is tried until the PIN file changes.
    PinRejected {
        token_label: String,
        reason: String,
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// The PKCS#11 module cannot be loaded or initialised.
    ModuleUnavailable {
        module: String,
        reason: String,
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// Present, but not usable as configured: PIN file unreadable, key missing or
    /// ambiguous, certificate missing, or a PKCS#11 failure. Looked at again every rescan.
    Unusable {
        token_label: String,
        reason: String,
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// The worker thread is gone.
    Stopped {
        token_label: String,
        reason: String,
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
}

impl TokenStatus {
    pub fn is_ready(&self) -> bool {
        matches!(self, TokenStatus::Ready { .. })
    }

    /// When the current state began.
    pub fn since(&self) -> OffsetDateTime {
        match self {
            TokenStatus::Starting { since, .. }
            | TokenStatus::Ready { since, .. }
            | TokenStatus::Absent { since, .. }
            | TokenStatus::PinRejected { since, .. }
            | TokenStatus::ModuleUnavailable { since, .. }
            | TokenStatus::Unusable { since, .. }
            | TokenStatus::Stopped { since, .. } => *since,
        }
    }

    /// The status an error leaves the token in.
    fn from_error(token_label: &str, error: &TokenError, since: OffsetDateTime) -> TokenStatus {
        let token_label = token_label.to_owned();
        let reason = error.to_string();
        match error {
            TokenError::Absent { .. } => TokenStatus::Absent {
                token_label,
                reason,
                since,
            },
            TokenError::PinRejected { .. } | TokenError::PinLocked { .. } => {
                TokenStatus::PinRejected {
                    token_label,
                    reason,
                    since,
                }
            }
            TokenError::ModuleUnavailable { module, .. } => TokenStatus::ModuleUnavailable {
                module: module.display().to_string(),
                reason,
                since,
            },
            TokenError::Stopped { .. } => TokenStatus::Stopped {
                token_label,
                reason,
                since,
            },
            _ => TokenStatus::Unusable {
                token_label,
                reason,
                since,
            },
        }
    }

    fn same_state(&self, other: &TokenStatus) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self
            .since()
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.since().unix_timestamp().to_string());
        match self {
            TokenStatus::Starting { token_label, .. } => {
                write!(
                    formatter,
                    "token '{token_label}': looking for it (since {since})"
                )
            }
            TokenStatus::Ready {
                token_label,
                key_label,
                key,
                ..
            } => write!(
                formatter,
                "token '{token_label}' is ready: signing with key '{key_label}' ({key}) \
                 (since {since})"
            ),
            TokenStatus::Absent { reason, .. }
            | TokenStatus::PinRejected { reason, .. }
            | TokenStatus::ModuleUnavailable { reason, .. }
            | TokenStatus::Unusable { reason, .. }
            | TokenStatus::Stopped { reason, .. } => write!(formatter, "{reason} (since {since})"),
        }
    }
}

/// What a ready token has that requests need without asking the worker.
#[derive(Debug, Clone)]
pub(super) struct ReadyToken {
    pub(super) key_label: String,
    pub(super) key: KeyKind,
    pub(super) mechanism: &'static str,
    pub(super) slot_id: u64,
    /// `None` when the configuration says the certificate is not on the token.
    pub(super) certificate: Option<Arc<[u8]>>,
}

struct Board {
    status: TokenStatus,
    /// The error behind a non-ready status.
    error: Option<TokenError>,
    ready: Option<ReadyToken>,
    /// Whether the token was ever ready, to log "recovered" rather than "ready".
    was_ready: bool,
}

/// The shared state: written by the worker, read by every handle.
pub(super) struct StatusBoard {
    token_label: String,
    board: Mutex<Board>,
    changed: Condvar,
}

impl StatusBoard {
    pub(super) fn new(token_label: &str) -> StatusBoard {
        StatusBoard {
            token_label: token_label.to_owned(),
            board: Mutex::new(Board {
                status: TokenStatus::Starting {
                    token_label: token_label.to_owned(),
                    since: OffsetDateTime::now_utc(),
                },
                error: None,
                ready: None,
                was_ready: false,
            }),
            changed: Condvar::new(),
        }
    }

    pub(super) fn token_label(&self) -> &str {
        &self.token_label
    }

    fn lock(&self) -> MutexGuard<'_, Board> {
        // The board is plain data replaced whole; a panic elsewhere cannot leave it torn.
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn status(&self) -> TokenStatus {
        self.lock().status.clone()
    }

    /// The status and the error behind a non-ready one, under one lock.
    pub(super) fn status_with_error(&self) -> (TokenStatus, Option<TokenError>) {
        let board = self.lock();
        (board.status.clone(), board.error.clone())
    }

    /// The ready token, or the error that explains why it is not ready.
    pub(super) fn ready(&self) -> Result<ReadyToken, TokenError> {
        let board = self.lock();
        match (&board.ready, &board.error) {
            (Some(ready), _) => Ok(ready.clone()),
            (None, Some(error)) => Err(error.clone()),
            (None, None) => Err(TokenError::NotReady {
                label: self.token_label.clone(),
                waited: Duration::ZERO,
            }),
        }
    }

    /// The error a request gets while the token is not ready.
    pub(super) fn current_error(&self) -> TokenError {
        match self.ready() {
            Err(error) => error,
            Ok(_) => TokenError::NotReady {
                label: self.token_label.clone(),
                waited: Duration::ZERO,
            },
        }
    }

    pub(super) fn set_ready(&self, ready: ReadyToken) {
        let mut board = self.lock();
        let since = match &board.status {
            TokenStatus::Ready { since, .. } => *since,
            _ => OffsetDateTime::now_utc(),
        };
        let status = TokenStatus::Ready {
            token_label: self.token_label.clone(),
            key_label: ready.key_label.clone(),
            key: ready.key,
            mechanism: ready.mechanism.to_owned(),
            slot_id: ready.slot_id,
            since,
        };
        if !status.same_state(&board.status) {
            if board.was_ready {
                tracing::info!(
                    token = %self.token_label,
                    key = %ready.key_label,
                    kind = %ready.key,
                    slot = ready.slot_id,
                    "token recovered; signing again"
                );
            } else {
                tracing::info!(
                    token = %self.token_label,
                    key = %ready.key_label,
                    kind = %ready.key,
                    mechanism = ready.mechanism,
                    slot = ready.slot_id,
                    "token ready"
                );
            }
        }
        board.status = status;
        board.error = None;
        board.ready = Some(ready);
        board.was_ready = true;
        self.changed.notify_all();
    }

    pub(super) fn set_failed(&self, error: TokenError) {
        let mut board = self.lock();
        let mut status = TokenStatus::from_error(&self.token_label, &error, board.status.since());
        if !status.same_state(&board.status) {
            status = TokenStatus::from_error(&self.token_label, &error, OffsetDateTime::now_utc());
            log_failure(&self.token_label, &status, &error);
        }
        board.status = status;
        board.error = Some(error);
        board.ready = None;
        self.changed.notify_all();
    }

    /// Waits until the token is ready, or `timeout` passes; then the ready token or the
    /// error that explains the current state.
    pub(super) fn wait_ready(&self, timeout: Duration) -> Result<ReadyToken, TokenError> {
        let deadline = Instant::now() + timeout;
        let mut board = self.lock();
        loop {
            if let Some(ready) = &board.ready {
                return Ok(ready.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(board.error.clone().unwrap_or(TokenError::NotReady {
                    label: self.token_label.clone(),
                    waited: timeout,
                }));
            }
            board = self
                .changed
                .wait_timeout(board, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn log_failure(token_label: &str, status: &TokenStatus, error: &TokenError) {
    match status {
        TokenStatus::Absent { .. } => {
            tracing::warn!(token = %token_label, reason = %error, error_kind = "token_absent", "token absent")
        }
        TokenStatus::PinRejected { .. } => {
            tracing::error!(token = %token_label, reason = %error, error_kind = "token_pin_rejected", "token PIN rejected")
        }
        TokenStatus::ModuleUnavailable { .. } => {
            tracing::error!(token = %token_label, reason = %error, error_kind = "token_module", "PKCS#11 module unavailable")
        }
        _ => {
            tracing::error!(token = %token_label, reason = %error, error_kind = "token_unusable", "token unusable")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> OffsetDateTime {
        time::macros::datetime!(2026-11-21 09:30:00 UTC)
    }

    #[test]
    fn statuses_read_as_plain_next_steps() {
        let absent = TokenStatus::from_error(
            "agency-seal",
            &TokenError::Absent {
                label: "agency-seal".into(),
                reason: "not found in slot list".into(),
            },
            at(),
        );
        let text = absent.to_string();
        assert!(
            text.starts_with(
                "token 'agency-seal' not found in slot list; is the USB token plugged in?"
            ),
            "{text}"
        );
        assert!(text.ends_with("(since 2026-11-21T09:30:00Z)"), "{text}");

        let module = TokenStatus::from_error(
            "agency-seal",
            &TokenError::ModuleUnavailable {
                module: "/opt/vendor/libp11.so".into(),
                reason: "not found".into(),
            },
            at(),
        );
        assert!(matches!(module, TokenStatus::ModuleUnavailable { .. }));
        assert!(module.to_string().contains("/opt/vendor/libp11.so"));

        let ready = TokenStatus::Ready {
            token_label: "agency-seal".into(),
            key_label: "seal".into(),
            key: KeyKind::Rsa { modulus_bits: 2048 },
            mechanism: "CKM_SHA256_RSA_PKCS".into(),
            slot_id: 7,
            since: at(),
        };
        assert_eq!(
            ready.to_string(),
            "token 'agency-seal' is ready: signing with key 'seal' (RSA 2048) (since \
             2026-11-21T09:30:00Z)"
        );
    }

    #[test]
    fn statuses_serialise_for_the_status_page() {
        let ready = TokenStatus::Ready {
            token_label: "agency-seal".into(),
            key_label: "seal".into(),
            key: KeyKind::EcP256,
            mechanism: "CKM_ECDSA".into(),
            slot_id: 7,
            since: at(),
        };
        let json = serde_json::to_value(&ready).expect("serialise");
        assert_eq!(json["state"], "ready");
        assert_eq!(json["key"]["algorithm"], "ec_p256");
        assert_eq!(json["since"], "2026-11-21T09:30:00Z");
        let rejected = TokenStatus::from_error(
            "agency-seal",
            &TokenError::PinLocked {
                label: "agency-seal".into(),
            },
            at(),
        );
        let json = serde_json::to_value(&rejected).expect("serialise");
        assert_eq!(json["state"], "pin_rejected");
    }

    #[test]
    fn a_repeated_failure_keeps_its_since_and_requests_get_the_error() {
        let board = StatusBoard::new("agency-seal");
        let absent = TokenError::Absent {
            label: "agency-seal".into(),
            reason: "not found in slot list".into(),
        };
        board.set_failed(absent.clone());
        let first = board.status().since();
        std::thread::sleep(Duration::from_millis(5));
        board.set_failed(absent.clone());
        assert_eq!(board.status().since(), first);
        assert_eq!(board.current_error(), absent);
        assert_eq!(
            board.wait_ready(Duration::from_millis(10)).map(|_| ()),
            Err(absent)
        );
    }
}
