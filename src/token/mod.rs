//! The PKCS#11 token worker: the agency's USB token, used through one worker thread per
//! token that owns its session. The only code in docgate that calls PKCS#11 (through the
//! `cryptoki` crate). It signs bytes, hands out the token's certificate and generates the
//! link key (with its certificate request) for enrolment; it knows nothing of PDFs, CMS,
//! documents or the enrolment protocol (`signature` and `sync` build those and call this
//! module, never the other way round).
//!
//! - `handle.rs`: `Token`, the cheap handle (`start`, `status`, `status_with_error`,
//!   `sign`, `sign_async`, `certificate`, `key_kind`, `wait_ready`).
//! - `worker.rs`: the worker thread, its state machine and its retry rules.
//! - `session.rs`: the PKCS#11 steps: token by label, login, key, certificate, signature.
//! - `module.rs`: a loaded PKCS#11 library, shared by the workers of the process.
//! - `status.rs`: `TokenStatus`, `KeyKind`, and the board the worker writes them on.
//! - `config.rs`: `TokenConfig`, and the PIN read from its file.
//! - `error.rs`: `TokenError`, and reading PKCS#11 return values.
//! - `encoding.rs`: SHA-256, the DigestInfo, raw ECDSA to DER.
//! - `keygen.rs`: `generate_link_key`: the link key made on the token (EC P-256,
//!   never extractable), and replacing the keys under a label without ever leaving none.
//! - `link_csr.rs`: `TokenCsrSigner` and `link_key_request`: the link key's PKCS#10
//!   request, signed by the worker.
//! - `tls_key.rs`: `TokenTlsKey`, the token's key as a rustls client key.
//!
//! # Rules
//!
//! - The token is found by its label across every slot with a token present, never by slot
//!   number (slot numbers change with the USB port, and SoftHSM derives them from a
//!   token's serial number).
//! - One login attempt per PIN: a refused PIN is not tried again until the PIN file's
//!   content changes (a real token locks itself after a few wrong PINs), and a token that
//!   reports its PIN locked is not tried at all. (`generate_link_key`, asked once by a
//!   person, makes one attempt per call, and its error says that each one counts.)
//! - A signature that failed is never retried. While the token is not ready, requests fail
//!   at once with the reason (`TokenError::Absent` while it is unplugged) and the worker
//!   looks for it again every `rescan_interval` (1 s), recovering by itself. A ready
//!   token is checked every `check_interval` (5 s: one `C_GetTokenInfo`), so the status
//!   board notices an unplugged token even when nothing is being signed.
//! - The PIN never appears in logs, errors or `Debug` output.
//! - A key is never destroyed unless its replacement was asked for, then only once the new
//!   key holds its label, and never a key with a certificate on the token (`keygen.rs`).
//!
//! # What SoftHSM 2.6 does when a token is "unplugged"
//!
//! Found by experiment (moving a token's directory out of the tokendir and back, with a
//! session open and logged in):
//!
//! - Tokens are enumerated only in `C_Initialize`: a token created (or moved back) later
//!   is not in `C_GetSlotList` until the module is finalized and initialised again.
//! - After removal, the slot stays in the list with "token present" set, but
//!   `C_GetTokenInfo` on it answers CKR_GENERAL_ERROR, `C_FindObjects` finds nothing and
//!   `C_Sign` with the old key handle answers CKR_OBJECT_HANDLE_INVALID (not
//!   CKR_DEVICE_REMOVED). Moving the directory back does not bring the token back; only a
//!   re-initialisation does.
//! - A token keeps the PIN state read in `C_Initialize`: one enumerated before its user
//!   PIN was set answers CKR_USER_PIN_NOT_INITIALIZED to every `C_Login` until the module
//!   is re-initialised, however long ago another process set the PIN. (Objects added by
//!   another process, such as an imported certificate, are seen without that.)
//! - After `C_Finalize` + `C_Initialize`, session handle numbers start again at 1, so a
//!   stale session closed later would close someone else's new session.
//!
//! So after a failed `C_Sign` the worker asks `C_GetTokenInfo` whether the token still
//! answers to its label (a removal code alone is also enough); an absent token's worker
//! re-initialises the module when the label is not in the slot list; and a worker whose
//! last login attempt failed re-initialises before the next one. A module that notices
//! hot-plugging by itself finds the label without that. Because the module is one C
//! state per process, re-initialisation is coordinated in `module.rs`: at most once per
//! interval, under a write lock, with a generation number so that other workers open a
//! new session rather than use (or close) a dead handle; sessions are opened without
//! close-on-drop for the same reason.

mod config;
mod encoding;
mod error;
mod handle;
mod keygen;
mod link_csr;
mod module;
mod session;
mod status;
mod tls_key;
mod worker;

pub use config::{TokenConfig, DEFAULT_CHECK_INTERVAL, DEFAULT_RESCAN_INTERVAL};
pub use error::TokenError;
pub use handle::Token;
pub use keygen::{generate_link_key, GeneratedKey, STAGING_SUFFIX};
pub use link_csr::{
    link_csr_pem, link_key_config, link_key_request, LinkCsrError, LinkKeyRequest, TokenCsrSigner,
};
pub use status::{KeyKind, TokenStatus};
pub use tls_key::{TlsKeyError, TokenTlsKey};
