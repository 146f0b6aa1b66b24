//! The worker thread: the one place a token's session lives. It looks for the token every
//! rescan interval while it is not ready (re-initialising the module when the label is
//! not in the slot list, see `mod.rs` for why), checks a ready token is still there every
//! check interval (one `C_GetTokenInfo`; 5 s by default, so a slow token is not kept busy
//! between signatures), and answers sign requests one at a time, in order. Its board
//! therefore says within seconds that the token went, with no request needed; the
//! sealer copies it to the status facts. The rules it keeps:
//!
//! - one `C_Login` per PIN: a refused PIN is remembered by fingerprint and not tried again
//!   until the PIN file holds something else;
//! - a failed signature is never retried (so nothing is signed twice); if the token is
//!   gone, the request and every queued one fail at once with `TokenError::Absent`;
//! - while not ready, requests are answered at once with the error behind the status.
//!
//! Owns the session and the state machine; the PKCS#11 steps are in `session.rs`.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::config::{Pin, PinFingerprint};
use super::module::{self, Module};
use super::session::{self, Connection, Names, SignError};
use super::status::{ReadyToken, StatusBoard};
use super::{TokenConfig, TokenError};

/// A request to the worker.
pub(super) enum Request {
    Sign { message: Vec<u8>, reply: Reply },
}

/// Where an answer goes: a blocked thread or an awaiting task.
pub(super) enum Reply {
    Blocking(SyncSender<Result<Vec<u8>, TokenError>>),
    Async(oneshot::Sender<Result<Vec<u8>, TokenError>>),
}

impl Reply {
    fn send(self, result: Result<Vec<u8>, TokenError>) {
        // A caller that stopped waiting (a timeout, a dropped future) needs no answer.
        match self {
            Reply::Blocking(sender) => {
                let _ = sender.send(result);
            }
            Reply::Async(sender) => {
                let _ = sender.send(result);
            }
        }
    }
}

pub(super) struct Worker {
    config: TokenConfig,
    board: Arc<StatusBoard>,
    module: Option<Arc<Module>>,
    connection: Option<Connection>,
    /// The PIN the token refused, and the error it gave, until the PIN file changes.
    rejected_pin: Option<(PinFingerprint, TokenError)>,
    /// The module generation in which the last login attempt failed, if it did.
    failed_generation: Option<u64>,
}

impl Worker {
    pub(super) fn new(config: TokenConfig, board: Arc<StatusBoard>) -> Worker {
        Worker {
            config,
            board,
            module: None,
            connection: None,
            rejected_pin: None,
            failed_generation: None,
        }
    }

    fn names(&self) -> Names<'_> {
        Names {
            token_label: &self.config.token_label,
            pin_file: &self.config.pin_file,
        }
    }

    /// Serves requests until every `Token` handle is gone. A ready token is checked every
    /// `check_interval`; one that is not ready is looked for every `rescan_interval`.
    pub(super) fn run(mut self, requests: Receiver<Request>) {
        let mut next_scan = Instant::now();
        loop {
            if Instant::now() >= next_scan {
                self.scan();
                next_scan = Instant::now() + self.scan_interval();
            }
            let wait = next_scan.saturating_duration_since(Instant::now());
            match requests.recv_timeout(wait) {
                Ok(Request::Sign { message, reply }) => {
                    reply.send(self.sign(&message));
                    // A signature that lost the token: look for it again at the rescan pace.
                    next_scan = next_scan.min(Instant::now() + self.scan_interval());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.disconnect();
        tracing::debug!(token = %self.config.token_label, "token worker stopped");
    }

    /// Until the next periodic look: `check_interval` while connected, else
    /// `rescan_interval`.
    fn scan_interval(&self) -> Duration {
        if self.connection.is_some() {
            self.config.check_interval
        } else {
            self.config.rescan_interval
        }
    }

    /// The periodic look: connect if not connected, else check the token is still there.
    fn scan(&mut self) {
        if self.connection.is_some() {
            self.check_connection();
        } else {
            self.connect();
        }
    }

    fn connect(&mut self) {
        match self.try_connect() {
            Ok(connection) => {
                self.board.set_ready(ReadyToken {
                    key_label: connection.key_label.clone(),
                    key: connection.kind,
                    mechanism: connection.method.mechanism_name(),
                    slot_id: connection.slot.id(),
                    certificate: connection.certificate.clone(),
                });
                self.connection = Some(connection);
            }
            Err(error) => self.board.set_failed(error),
        }
    }

    fn module(&mut self) -> Result<Arc<Module>, TokenError> {
        if let Some(module) = &self.module {
            return Ok(module.clone());
        }
        let module = module::load(&self.config.module)?;
        self.module = Some(module.clone());
        Ok(module)
    }

    fn try_connect(&mut self) -> Result<Connection, TokenError> {
        let module = self.module()?;
        locate(
            &module,
            &self.config.module,
            self.names(),
            self.config.rescan_interval,
        )?;
        let pin = Pin::read(&self.config.pin_file, &self.config.token_label)?;
        let fingerprint = pin.fingerprint();
        if let Some((refused, error)) = &self.rejected_pin {
            if *refused == fingerprint {
                return Err(error.clone());
            }
            tracing::info!(token = %self.config.token_label, "the PIN file changed; trying the new PIN once");
        }
        if let Some(failed) = self.failed_generation {
            // The last attempt reached the token and failed. A module may keep the token
            // state it read in C_Initialize (SoftHSM keeps the PIN state), so what IT
            // changed with other tools since is only seen after a re-initialisation.
            module.reinitialize(failed, self.config.rescan_interval);
        }
        let names = self.names();
        let state = module.read();
        let pkcs11 = state.pkcs11(&self.config.module)?;
        let slot = session::find_token(pkcs11, names)?.ok_or_else(|| not_found(names))?;
        let opened = Connection::open(
            pkcs11,
            state.generation(),
            slot,
            names,
            self.config.key_label.as_deref(),
            self.config.certificate_on_token,
            &pin,
        );
        self.failed_generation = opened.as_ref().err().map(|_| state.generation());
        // Only a refused PIN is remembered. A locked PIN cannot get more locked, and a
        // token that reports the lock in its flags is not even tried (`Connection::open`),
        // so after the security officer unblocks it the worker carries on by itself.
        match &opened {
            Ok(_) => self.rejected_pin = None,
            Err(error @ TokenError::PinRejected { .. }) => {
                self.rejected_pin = Some((fingerprint, error.clone()));
            }
            Err(_) => {}
        }
        opened
    }

    /// Every rescan while ready: is the token still there, is our session still alive?
    fn check_connection(&mut self) {
        let Some(module) = self.module.clone() else {
            return;
        };
        let Some(connection) = &self.connection else {
            return;
        };
        let state = module.read();
        if state.generation() != connection.generation {
            drop(state);
            self.reconnect();
            return;
        }
        let checked = state
            .pkcs11(&self.config.module)
            .and_then(|pkcs11| session::check_present(pkcs11, connection.slot, self.names()));
        let generation = state.generation();
        drop(state);
        if let Err(error) = checked {
            self.lose_connection(generation);
            self.board.set_failed(error);
        }
    }

    /// Another worker re-initialised the module, which closed our session: open a new one.
    /// The status stays `Ready` if that works, so this logs nothing by itself.
    fn reconnect(&mut self) {
        tracing::debug!(token = %self.config.token_label, "module re-initialised; opening a new session");
        // The old session is gone with the old generation; nothing to close.
        self.connection = None;
        self.connect();
    }

    fn lose_connection(&mut self, current_generation: u64) {
        if let Some(connection) = self.connection.take() {
            connection.close(current_generation);
        }
    }

    fn disconnect(&mut self) {
        if let (Some(module), Some(connection)) = (&self.module, self.connection.take()) {
            let generation = module.read().generation();
            connection.close(generation);
        }
    }

    /// One signature. Never retried once `C_Sign` ran: a failure is answered as it is.
    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        if self.connection.is_none() {
            return Err(self.board.current_error());
        }
        if let Some(delay) = self.config.sign_delay {
            std::thread::sleep(delay);
        }
        let module = self.module()?;
        // A session from an older module generation is re-opened before signing (at most
        // twice, should re-initialisations race with us).
        for _ in 0..3 {
            let state = module.read();
            let Some(connection) = &self.connection else {
                return Err(self.board.current_error());
            };
            if state.generation() != connection.generation {
                drop(state);
                self.reconnect();
                continue;
            }
            let generation = state.generation();
            let names = self.names();
            let signed = connection.sign(message, names);
            let error = match signed {
                Ok(signature) => return Ok(signature),
                Err(SignError::Encoding(error)) => return Err(error),
                Err(SignError::Pkcs11(error)) => error,
            };
            // Did the token go away, or did only this request fail?
            let present = state
                .pkcs11(&self.config.module)
                .and_then(|pkcs11| session::check_present(pkcs11, connection.slot, names));
            drop(state);
            let failure = names.error(&error);
            return match (failure, present) {
                (absent @ TokenError::Absent { .. }, _) | (_, Err(absent)) => {
                    self.lose_connection(generation);
                    self.board.set_failed(absent.clone());
                    Err(absent)
                }
                (failure, Ok(())) => {
                    // The token is there but the session may not be (a handle the token
                    // forgot): start afresh for the next request.
                    self.lose_connection(generation);
                    self.connect();
                    Err(failure)
                }
            };
        }
        Err(self.board.current_error())
    }
}

/// Whether the token's label is in the slot list of `module` (loaded from `module_path`);
/// if it is not, the module is re-initialised (at most once per `min_spacing` for all
/// callers in the process) and asked again, as some modules (SoftHSM among them)
/// enumerate tokens only in C_Initialize. Also used by `keygen.rs`, which looks once.
pub(super) fn locate(
    module: &Module,
    module_path: &Path,
    names: Names<'_>,
    min_spacing: Duration,
) -> Result<(), TokenError> {
    let generation = {
        let state = module.read();
        let pkcs11 = state.pkcs11(module_path)?;
        if session::find_token(pkcs11, names)?.is_some() {
            return Ok(());
        }
        state.generation()
    };
    module.reinitialize(generation, min_spacing);
    let state = module.read();
    let pkcs11 = state.pkcs11(module_path)?;
    match session::find_token(pkcs11, names)? {
        Some(_) => Ok(()),
        None => Err(not_found(names)),
    }
}

/// The error of a token whose label is in no slot.
pub(super) fn not_found(names: Names<'_>) -> TokenError {
    TokenError::Absent {
        label: names.token_label.to_owned(),
        reason: "not found in slot list".to_owned(),
    }
}
