//! `Token`: the cheap handle the rest of docgate holds. Clones share one worker thread
//! (started by `Token::start`) through a channel, and one status board. Signing blocks
//! (`sign`) or awaits a tokio oneshot (`sign_async`, which never blocks the runtime); the
//! status, key kind and certificate are read from the board without asking the worker.
//! Owns no PKCS#11 state.

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::status::StatusBoard;
use super::worker::{Reply, Request, Worker};
use super::{KeyKind, TokenConfig, TokenError, TokenStatus};

/// A handle to the token worker. `Clone + Send + Sync`; the worker stops when the last
/// clone is dropped.
#[derive(Clone)]
pub struct Token {
    token_label: Arc<str>,
    /// Unbounded: every queued request has a caller waiting for its answer, so the queue
    /// never holds more than the callers in flight.
    requests: mpsc::Sender<Request>,
    board: Arc<StatusBoard>,
    /// Last: when the last clone drops, `requests` is gone first, so the worker stops, and
    /// then this waits for it (see [`WorkerThread`]).
    _worker: Arc<WorkerThread>,
}

/// The worker thread, waited for when the last handle drops: a process that exits while the
/// worker is still inside the PKCS#11 module (closing its session) runs the module's exit
/// destructors under it, which crashed SoftHSM (a segfault after `docgate sign` had written
/// its output, so the command failed although it had signed).
struct WorkerThread {
    finished: Mutex<Option<mpsc::Receiver<()>>>,
}

/// How long dropping the last handle waits for the worker to close its session: a token
/// hung inside the module must not hang the process's shutdown for ever.
const WORKER_STOP_WAIT: Duration = Duration::from_secs(5);

impl Drop for WorkerThread {
    fn drop(&mut self) {
        let finished = self
            .finished
            .get_mut()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        if let Some(finished) = finished {
            // Disconnected (the thread ended and dropped its sender) or a message: done.
            if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(WORKER_STOP_WAIT) {
                tracing::warn!("the token worker did not stop in time; leaving it");
            }
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Token")
            .field("token_label", &self.token_label)
            .field("status", &self.board.status())
            .finish()
    }
}

impl Token {
    /// Starts the worker. Never fails because the token is absent or misconfigured: the
    /// worker keeps trying every `rescan_interval` and `status` says what is wrong.
    pub fn start(config: TokenConfig) -> Token {
        let token_label: Arc<str> = Arc::from(config.token_label.as_str());
        let board = Arc::new(StatusBoard::new(&config.token_label));
        let (requests, receiver) = mpsc::channel();
        let worker = Worker::new(config, board.clone());
        let worker_board = board.clone();
        let (finished_sender, finished) = mpsc::channel::<()>();
        let started = std::thread::Builder::new()
            .name("token-worker".into())
            .spawn(move || {
                // Dropped when the thread ends, whichever way: that is the signal.
                let _finished = finished_sender;
                // Release builds abort on panic; elsewhere, say so instead of a stale status.
                let run = std::panic::AssertUnwindSafe(|| worker.run(receiver));
                if std::panic::catch_unwind(run).is_err() {
                    worker_board.set_failed(TokenError::Stopped {
                        label: worker_board.token_label().to_owned(),
                        reason: "the worker thread panicked".to_owned(),
                    });
                }
            });
        if let Err(error) = started {
            // The receiver went down with the closure, so requests fail with `Stopped`.
            board.set_failed(TokenError::Stopped {
                label: token_label.to_string(),
                reason: format!("the worker thread could not start: {error}"),
            });
        }
        Token {
            token_label,
            requests,
            board,
            _worker: Arc::new(WorkerThread {
                finished: Mutex::new(Some(finished)),
            }),
        }
    }

    /// The label the token is found by.
    pub fn label(&self) -> &str {
        &self.token_label
    }

    /// A snapshot of the token's state, for the status page and health checks.
    pub fn status(&self) -> TokenStatus {
        self.board.status()
    }

    /// The status and, when the token is not ready, the error behind it (its parts: the
    /// PIN file, the PKCS#11 code), read together from the board: no PKCS#11 call, so it
    /// may be asked as often as wanted.
    pub fn status_with_error(&self) -> (TokenStatus, Option<TokenError>) {
        self.board.status_with_error()
    }

    /// Signs `message`: SHA-256, then PKCS#1 v1.5 (RSA) or DER ECDSA (P-256), the
    /// encodings X.509 and CMS use. Blocks until the token answers; fails at once with the
    /// reason when the token is not ready (`TokenError::Absent` while it is unplugged).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.submit(message, Reply::Blocking(reply))?;
        answer.recv().map_err(|_| self.stopped())?
    }

    /// `sign` for async code: the worker does the blocking; this only awaits its answer.
    pub async fn sign_async(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let (reply, answer) = oneshot::channel();
        self.submit(message, Reply::Async(reply))?;
        answer.await.map_err(|_| self.stopped())?
    }

    /// The DER certificate on the token with the signing key's CKA_ID. A token configured
    /// without `certificate_on_token` (the link key) answers
    /// `TokenError::CertificateNotOnToken`.
    pub fn certificate(&self) -> Result<Vec<u8>, TokenError> {
        let ready = self.board.ready()?;
        match &ready.certificate {
            Some(certificate) => Ok(certificate.as_ref().to_vec()),
            None => Err(TokenError::CertificateNotOnToken {
                label: self.token_label.to_string(),
                key_label: ready.key_label,
            }),
        }
    }

    /// The kind of the signing key, which fixes the signature algorithm.
    pub fn key_kind(&self) -> Result<KeyKind, TokenError> {
        self.board.ready().map(|ready| ready.key)
    }

    /// Waits up to `timeout` for the token to be ready; then its key kind, or the error
    /// that explains why it is not.
    pub fn wait_ready(&self, timeout: Duration) -> Result<KeyKind, TokenError> {
        self.board.wait_ready(timeout).map(|ready| ready.key)
    }

    fn submit(&self, message: &[u8], reply: Reply) -> Result<(), TokenError> {
        self.requests
            .send(Request::Sign {
                message: message.to_vec(),
                reply,
            })
            .map_err(|_| self.stopped())
    }

    fn stopped(&self) -> TokenError {
        match self.board.current_error() {
            stopped @ TokenError::Stopped { .. } => stopped,
            _ => TokenError::Stopped {
                label: self.token_label.to_string(),
                reason: "the worker thread ended".to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}

    #[test]
    fn token_is_a_cheap_shareable_handle() {
        assert_shareable::<Token>();
    }
}
