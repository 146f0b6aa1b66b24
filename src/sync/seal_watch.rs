//! What the sealer saw, for the status facts and `/metrics`: when the timestamp authority
//! last answered and last failed (and why), the seal certificate on the token once the
//! token is logged in (its expiry is watched like a key file's), and how long each
//! signature with the agency key took (the `docgate_sign_seconds` histogram).
//!
//! [`SealWatch`] is the shared record, reached through `LinkState::seal_watch` so that
//! `web` reads it without importing the sealer; the sealer feeds it with the instruments
//! here: [`TimedSigner`] around the agency key and [`observed_stamper`] around the TSA.
//! Never asks the token or the TSA anything itself, never blocks (a mutex held for a
//! copy), and holds no secret (a certificate is public).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;

use crate::signature::timestamp::{TimestampError, TsaClient};
use crate::signature::{DocumentSigner, SignatureAlgorithm, SignatureError};
use crate::system::clock::{rfc3339_utc, SharedClock};
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

#[derive(Debug, Default)]
struct Seen {
    tsa: TsaContact,
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

    /// With the key on a token that is logged in: records its certificate. Reads the
    /// token worker's board; no PKCS#11 call.
    pub fn publish_token_certificate(&self, key: &AgencyKey) {
        if let AgencyKey::Token(token) = key {
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
