//! A loaded PKCS#11 module, shared by every token worker of the process that uses the same
//! library. A module is a process-wide singleton in C (one `C_Initialize` per process; a
//! second answers CKR_CRYPTOKI_ALREADY_INITIALIZED), so two workers on one library share
//! its state, and one worker's `C_Finalize` closes the other's sessions. This file makes
//! that safe: every PKCS#11 call runs under a read lock; re-initialising (finalize +
//! initialize, to make a module such as SoftHSM see tokens that appeared since) takes the
//! write lock and bumps a generation number, and a worker whose session belongs to an
//! older generation opens a new one instead of using a dead handle. Loaded libraries are
//! never unloaded (many modules misbehave when dlclosed while initialised).
//! Does not know tokens, keys or PINs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};

use super::error::code_name;
use super::TokenError;

/// Every module loaded in this process, by canonical path.
static MODULES: Mutex<Vec<Arc<Module>>> = Mutex::new(Vec::new());

pub(super) struct Module {
    path: PathBuf,
    state: RwLock<ModuleState>,
}

/// The module as PKCS#11 callers see it, under the read lock.
pub(super) struct ModuleState {
    pkcs11: Pkcs11,
    /// Whether the last `C_Initialize` succeeded.
    initialized: Result<(), String>,
    generation: u64,
    initialized_at: Instant,
}

impl ModuleState {
    /// The initialised module, or why it is not.
    pub(super) fn pkcs11(&self, module: &Path) -> Result<&Pkcs11, TokenError> {
        match &self.initialized {
            Ok(()) => Ok(&self.pkcs11),
            Err(reason) => Err(TokenError::ModuleUnavailable {
                module: module.to_path_buf(),
                reason: reason.clone(),
            }),
        }
    }

    /// Changes whenever the module is re-initialised; sessions of an older generation
    /// are gone.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }
}

/// Loads (once per process) and initialises the module at `path`.
pub(super) fn load(path: &Path) -> Result<Arc<Module>, TokenError> {
    // The same library under another name (a symlink) is the same C state.
    let canonical = std::fs::canonicalize(path).map_err(|error| TokenError::ModuleUnavailable {
        module: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(module) = modules.iter().find(|module| module.path == canonical) {
        return Ok(module.clone());
    }
    let pkcs11 = Pkcs11::new(&canonical).map_err(|error| TokenError::ModuleUnavailable {
        module: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    initialize(&pkcs11).map_err(|reason| TokenError::ModuleUnavailable {
        module: path.to_path_buf(),
        reason,
    })?;
    let module = Arc::new(Module {
        path: canonical,
        state: RwLock::new(ModuleState {
            pkcs11,
            initialized: Ok(()),
            generation: 0,
            initialized_at: Instant::now(),
        }),
    });
    modules.push(module.clone());
    tracing::debug!(module = %path.display(), "PKCS#11 module loaded");
    Ok(module)
}

fn initialize(pkcs11: &Pkcs11) -> Result<(), String> {
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Someone else in the process initialised it; that is the state we share.
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(error) => Err(format!("C_Initialize failed with {}", code_name(&error))),
    }
}

impl Module {
    /// The module for PKCS#11 calls. Hold the guard for the whole call, never across a
    /// second `read` on the same thread (a waiting re-initialisation would deadlock it).
    pub(super) fn read(&self) -> RwLockReadGuard<'_, ModuleState> {
        // The state is replaced whole under the lock; a panic cannot leave it torn.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Finalizes and initialises the module again, so it enumerates its slots and tokens
    /// afresh, unless that already happened since the caller's `seen_generation` or less
    /// than `min_spacing` ago (several workers looking for absent tokens share one
    /// re-initialisation per interval). Every session of the module is closed by it.
    pub(super) fn reinitialize(&self, seen_generation: u64, min_spacing: Duration) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let failed_before = state.initialized.is_err();
        if !failed_before
            && (state.generation != seen_generation || state.initialized_at.elapsed() < min_spacing)
        {
            return;
        }
        if !failed_before {
            if let Err(error) = state.pkcs11.clone().finalize() {
                tracing::debug!(error = %code_name(&error), "C_Finalize failed; initialising anyway");
            }
        }
        state.initialized = initialize(&state.pkcs11);
        state.generation += 1;
        state.initialized_at = Instant::now();
        tracing::debug!(
            module = %self.path.display(),
            generation = state.generation,
            ok = state.initialized.is_ok(),
            "PKCS#11 module re-initialised to rescan its slots"
        );
    }
}
