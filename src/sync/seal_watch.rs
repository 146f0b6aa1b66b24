//! What the sealer saw, for the status facts and `/metrics`: when the timestamp authority
//! last answered and last failed (and why), the agency token's own state (present and
//! logged in, absent, PIN refused, … — [`TokenReport`]), the seal certificate on the token
//! once the token is logged in (its expiry is watched like a key file's), and how long
//! each signature with the agency key took (the `docgate_sign_seconds` histogram).
//!
//! [`SealWatch`] is the shared record, reached through `LinkState::seal_watch` so that
//! `web` reads it without importing the sealer; the sealer feeds it with the instruments
//! here: [`TimedSigner`] around the agency key, [`observed_stamper`] around the TSA, and
//! [`SealWatch::publish_token`], which copies the token worker's board (every second,
//! from the sealer; the worker itself checks a ready token every 5 s). Never asks the
//! token or the TSA anything itself (no PKCS#11 call), never blocks (a mutex held for a
//! copy), and holds no secret (a certificate is public, a PIN file is named, never read).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;

use crate::signature::timestamp::{TimestampError, TsaClient};
use crate::signature::{DocumentSigner, SignatureAlgorithm, SignatureError};
use crate::system::clock::{rfc3339_utc, SharedClock};
use crate::token::{TokenError, TokenStatus};
use crate::workflow::AgencyKey;

/// Upper bounds of the `docgate_sign_seconds` buckets, in seconds: a key file signs in a
/// few milliseconds, a USB token in tens to hundreds, a struggling token in seconds.
pub const SIGN_SECONDS_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0];

/// The timestamp authority as the sealer's requests found it (RFC 3339 UTC instants).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TsaContact {
    /// When it last answered with a usable timestamp.
    pub last_success: Option<String>,
    /// When it last failed, and why.
    pub last_failure: Option<String>,
    pub last_error: Option<String>,
    /// Whether the last request was answered; `None` before the first.
    pub answered_last: Option<bool>,
}

/// The agency token as its worker last found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TokenPresence {
    /// The worker has not finished its first look.
    Starting,
    /// Present, logged in, key and certificate found.
    Ready,
    /// Not in the slot list, or stopped answering; `reason` is what the worker saw
    /// (`not found in slot list`, `stopped answering (C_GetTokenInfo returned …)`).
    Absent { reason: String },
    /// Present, but it refused the PIN in `pin_file` (PKCS#11 `code`); not tried again
    /// until that file changes.
    PinRefused { pin_file: String, code: String },
    /// Present, but its user PIN is locked after too many wrong ones.
    PinLocked,
    /// Present (or not known to be absent) but unusable as configured: the module, the
    /// PIN file, the key, the certificate; `reason` is the worker's message.
    Unusable { reason: String },
}

/// The token's state with its label and since when (RFC 3339 UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenReport {
    pub label: String,
    #[serde(flatten)]
    pub presence: TokenPresence,
    pub since: String,
}

impl TokenReport {
    /// What the board of the worker of token `label` says.
    pub fn from_status(
        label: &str,
        status: &TokenStatus,
        error: Option<&TokenError>,
    ) -> TokenReport {
        let presence = match (status, error) {
            (TokenStatus::Starting { .. }, _) => TokenPresence::Starting,
            (TokenStatus::Ready { .. }, _) => TokenPresence::Ready,
            (_, Some(TokenError::Absent { reason, .. })) => TokenPresence::Absent {
                reason: reason.clone(),
            },
            (_, Some(TokenError::PinRejected { pin_file, code, .. })) => {
                TokenPresence::PinRefused {
                    pin_file: pin_file.display().to_string(),
                    code: code.clone(),
                }
            }
            (_, Some(TokenError::PinLocked { .. })) => TokenPresence::PinLocked,
            (_, Some(error)) => TokenPresence::Unusable {
                reason: error.to_string(),
            },
            (status, None) => TokenPresence::Unusable {
                reason: status.to_string(),
            },
        };
        TokenReport {
            label: label.to_owned(),
            presence,
            since: rfc3339_utc(status.since()),
        }
    }

    /// Whether the token is present and logged in.
    pub fn is_ready(&self) -> bool {
        self.presence == TokenPresence::Ready
    }
}

#[derive(Debug, Default)]
struct Seen {
    tsa: TsaContact,
    token: Option<TokenReport>,
    token_certificate: Option<Arc<[u8]>>,
}

/// The shared record. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub struct SealWatch {
    seen: Arc<Mutex<Seen>>,
    sign_seconds: Histogram,
}

impl Default for SealWatch {
    fn default() -> Self {
        SealWatch {
            seen: Arc::default(),
            sign_seconds: Histogram::new(SIGN_SECONDS_BUCKETS),
        }
    }
}

impl SealWatch {
    fn lock(&self) -> MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The timestamp authority's last answer and failure.
    pub fn tsa(&self) -> TsaContact {
        self.lock().tsa.clone()
    }

    /// The TSA answered at `at`.
    pub fn tsa_answered(&self, at: String) {
        let tsa = &mut self.lock().tsa;
        tsa.last_success = Some(at);
        tsa.answered_last = Some(true);
    }

    /// The TSA failed at `at` with `error`.
    pub fn tsa_failed(&self, at: String, error: String) {
        let tsa = &mut self.lock().tsa;
        tsa.last_failure = Some(at);
        tsa.last_error = Some(error);
        tsa.answered_last = Some(false);
    }

    /// The DER seal certificate read from the token, once the token has been logged in
    /// (the last one seen while it is out).
    pub fn token_certificate(&self) -> Option<Arc<[u8]>> {
        self.lock().token_certificate.clone()
    }

    /// Records the certificate the token holds (kept when it is the same).
    pub fn set_token_certificate(&self, der: &[u8]) {
        let mut seen = self.lock();
        if seen.token_certificate.as_deref() != Some(der) {
            seen.token_certificate = Some(Arc::from(der));
        }
    }

    /// One signature with the agency key took `took`.
    pub fn observe_signature(&self, took: Duration) {
        self.sign_seconds.observe(took.as_secs_f64());
    }

    /// The sign-latency histogram (shared: registering it in a registry shows the
    /// observations so far).
    pub fn sign_seconds(&self) -> Histogram {
        self.sign_seconds.clone()
    }

    /// The agency token's state as the sealer last copied it; `None` with a key file, or
    /// before the first copy.
    pub fn token(&self) -> Option<TokenReport> {
        self.lock().token.clone()
    }

    /// Records the token's state.
    pub fn set_token(&self, report: TokenReport) {
        self.lock().token = Some(report);
    }

    /// With the key on a token: records its state and, once it is logged in, its
    /// certificate. Reads the token worker's board; no PKCS#11 call.
    pub fn publish_token(&self, key: &AgencyKey) {
        if let AgencyKey::Token(token) = key {
            let (status, error) = token.status_with_error();
            self.set_token(TokenReport::from_status(
                token.label(),
                &status,
                error.as_ref(),
            ));
            if let Ok(der) = token.certificate() {
                self.set_token_certificate(&der);
            }
        }
    }
}

/// A signer whose successful signatures are timed into a [`SealWatch`].
pub struct TimedSigner {
    inner: Box<dyn DocumentSigner>,
    watch: SealWatch,
}

impl TimedSigner {
    pub fn new(inner: Box<dyn DocumentSigner>, watch: SealWatch) -> TimedSigner {
        TimedSigner { inner, watch }
    }
}

impl DocumentSigner for TimedSigner {
    fn chain(&self) -> &[rustls_pki_types::CertificateDer<'static>] {
        self.inner.chain()
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.inner.algorithm()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let started = Instant::now();
        let signature = self.inner.sign(message)?;
        // A refusal (token out) answers at once and says nothing about signing speed.
        self.watch.observe_signature(started.elapsed());
        Ok(signature)
    }
}

/// The stamper the PAdES code calls (blocking, off the runtime): asks `tsa` on the
/// runtime behind `handle` and records the outcome in `watch`.
pub fn observed_stamper<'a>(
    tsa: &'a TsaClient,
    watch: &'a SealWatch,
    clock: &'a SharedClock,
    handle: &'a tokio::runtime::Handle,
) -> impl Fn(&[u8]) -> Result<Vec<u8>, TimestampError> + 'a {
    move |message: &[u8]| {
        let answer = handle.block_on(tsa.stamp(message));
        let at = rfc3339_utc(clock.now());
        match &answer {
            Ok(_) => watch.tsa_answered(at),
            Err(error) => watch.tsa_failed(at, error.to_string()),
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_tsa_outcome_wins_and_both_times_are_kept() {
        let watch = SealWatch::default();
        assert_eq!(watch.tsa().answered_last, None, "not tried yet");
        watch.tsa_answered("2026-11-22T08:00:00.000Z".into());
        watch.tsa_failed("2026-11-22T09:00:00.000Z".into(), "refused".into());
        let tsa = watch.tsa();
        assert_eq!(tsa.answered_last, Some(false));
        assert_eq!(
            tsa.last_success.as_deref(),
            Some("2026-11-22T08:00:00.000Z")
        );
        assert_eq!(tsa.last_error.as_deref(), Some("refused"));
        watch.tsa_answered("2026-11-22T10:00:00.000Z".into());
        assert_eq!(watch.tsa().answered_last, Some(true));
    }

    #[test]
    fn the_token_report_keeps_what_the_worker_saw() {
        let since = time::macros::datetime!(2026-11-22 08:00 UTC);
        let absent_error = TokenError::Absent {
            label: "agency-seal".into(),
            reason: "not found in slot list".into(),
        };
        let absent = TokenStatus::Absent {
            token_label: "agency-seal".into(),
            reason: absent_error.to_string(),
            since,
        };
        let report = TokenReport::from_status("agency-seal", &absent, Some(&absent_error));
        assert_eq!(
            report.presence,
            TokenPresence::Absent {
                reason: "not found in slot list".into()
            }
        );
        assert!(!report.is_ready());
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["state"], "absent");
        assert_eq!(json["label"], "agency-seal");
        assert_eq!(json["since"], "2026-11-22T08:00:00.000Z");

        let refused_error = TokenError::PinRejected {
            label: "agency-seal".into(),
            pin_file: "/run/credentials/docgate.service/token-pin".into(),
            code: "CKR_PIN_INCORRECT".into(),
        };
        let refused = TokenStatus::PinRejected {
            token_label: "agency-seal".into(),
            reason: refused_error.to_string(),
            since,
        };
        let report = TokenReport::from_status("agency-seal", &refused, Some(&refused_error));
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["state"], "pin_refused");
        assert_eq!(json["code"], "CKR_PIN_INCORRECT");

        let module = TokenStatus::ModuleUnavailable {
            module: "/opt/vendor.so".into(),
            reason: "cannot load".into(),
            since,
        };
        let report = TokenReport::from_status("agency-seal", &module, None);
        assert!(matches!(report.presence, TokenPresence::Unusable { .. }));
        assert_eq!(report.label, "agency-seal");
    }

    #[test]
    fn signatures_land_in_the_histogram_buckets() {
        use prometheus_client::encoding::text::encode;
        let watch = SealWatch::default();
        watch.observe_signature(Duration::from_millis(4));
        watch.observe_signature(Duration::from_millis(300));
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("sign_seconds", "test", watch.sign_seconds());
        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        assert!(text.contains("sign_seconds_count 2"), "{text}");
        assert!(
            text.contains("sign_seconds_bucket{le=\"0.01\"} 1"),
            "{text}"
        );
        assert!(text.contains("sign_seconds_bucket{le=\"0.5\"} 2"), "{text}");
    }
}
