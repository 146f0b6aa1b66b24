//! What can go wrong with the token, as one typed error whose message says what to do
//! next, and how a PKCS#11 return value is read: which codes mean "the PIN was refused",
//! which mean "the token went away", and the `CKR_...` name a technician can look up.
//! Owns no state and makes no decisions about retrying; `worker.rs` does that.

use std::path::PathBuf;
use std::time::Duration;

use cryptoki::error::{Error as Pkcs11Error, RvError};

/// Why the token could not do what was asked. Every message names the token and says what
/// to do about it; none ever contains the PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is not in any slot, or stopped answering. The worker keeps looking for it
    /// and carries on by itself when it is back, so callers wait and try again.
    #[error(
        "token '{label}' {reason}; is the USB token plugged in? docgate keeps looking for it \
         and signs again by itself once it is back"
    )]
    Absent { label: String, reason: String },
    /// The token refused the PIN. It is not tried again until the PIN file changes,
    /// because a real token locks itself after a few wrong PINs.
    #[error(
        "token '{label}' refused the PIN in {pin_file} ({code}); write the right PIN into \
         that file: docgate tries a new PIN once when the file changes and never repeats a \
         refused one, so the token does not lock itself"
    )]
    PinRejected {
        label: String,
        pin_file: PathBuf,
        code: String,
    },
    /// The token has locked its user PIN after too many wrong ones.
    #[error(
        "token '{label}' has locked its user PIN after too many wrong attempts; the agency's \
         security officer must unblock it with the SO PIN (the token vendor's tool) before \
         docgate can sign"
    )]
    PinLocked { label: String },
    /// The PIN file could not be read or holds no usable PIN.
    #[error(
        "cannot read the PIN for token '{label}' from {path}: {reason}; check that the file \
         exists, is readable by the docgate service user and holds the PIN"
    )]
    PinFile {
        label: String,
        path: PathBuf,
        reason: String,
    },
    /// The PKCS#11 module (the token driver's shared library) cannot be loaded or started.
    #[error(
        "cannot use the PKCS#11 module {module}: {reason}; check `module` in the token \
         configuration and that the token's driver is installed"
    )]
    ModuleUnavailable { module: PathBuf, reason: String },
    /// More than one present token carries the configured label.
    #[error(
        "{count} tokens labelled '{label}' are plugged in; unplug all but the agency's \
         signing token"
    )]
    SeveralTokens { label: String, count: usize },
    /// Logged in, but there is no private key to sign with.
    #[error(
        "token '{label}' holds no private key (none is visible after logging in); is this \
         the agency's signing token?"
    )]
    NoPrivateKey { label: String },
    /// `key_label` names no private key on the token.
    #[error(
        "token '{label}' has no private key labelled '{key_label}' (keys found: {}); fix \
         `key_label` in the token configuration",
        list(found)
    )]
    KeyNotFound {
        label: String,
        key_label: String,
        found: Vec<String>,
    },
    /// Several private keys and no `key_label` (or a label shared by several keys).
    #[error(
        "token '{label}' holds several private keys ({}); set `key_label` in the token \
         configuration to the one docgate signs with",
        list(found)
    )]
    SeveralKeys { label: String, found: Vec<String> },
    /// The key is of a kind docgate does not sign with, or the token lacks the mechanism.
    #[error(
        "key '{key_label}' on token '{label}' cannot be used: {detail}; docgate signs with \
         RSA (PKCS#1 v1.5) or EC P-256 keys"
    )]
    UnsupportedKey {
        label: String,
        key_label: String,
        detail: String,
    },
    /// The certificate that belongs to the key (same CKA_ID) is not on the token.
    #[error(
        "token '{label}' holds no certificate with the id {key_id} of key '{key_label}'; \
         import the agency's certificate onto the token with the same CKA_ID as its key"
    )]
    CertificateMissing {
        label: String,
        key_label: String,
        key_id: String,
    },
    /// The token is configured as one whose key's certificate is kept elsewhere (the link
    /// key: `certificate_on_token` is off), so docgate read no certificate from it.
    #[error(
        "docgate does not read a certificate for key '{key_label}' from token '{label}': \
         that key's certificate is kept in a file (the link certificate), not on the token"
    )]
    CertificateNotOnToken { label: String, key_label: String },
    /// `generate_link_key` found no token with the label. (The worker's `Absent` says it
    /// keeps looking; key generation looks once.)
    #[error(
        "token '{label}' {reason}; plug in the agency's USB token (the one labelled \
         '{label}'; `pkcs11-tool --list-token-slots` shows the labels) and generate the link \
         key again"
    )]
    AbsentForKeyGeneration { label: String, reason: String },
    /// `generate_link_key`'s one login was refused. (The worker's `PinRejected` says it
    /// waits for the PIN file to change; key generation tries once per call.)
    #[error(
        "token '{label}' refused the PIN in {pin_file} ({code}); write the right PIN into \
         that file before generating the link key again: each wrong attempt counts towards \
         the token locking itself"
    )]
    PinRejectedForKeyGeneration {
        label: String,
        pin_file: PathBuf,
        code: String,
    },
    /// A key label docgate will not write onto a token.
    #[error(
        "'{key_label}' cannot be the label of a key on token '{label}': {reason}; choose a \
         short label of printable characters, such as 'docgate-link'"
    )]
    InvalidKeyLabel {
        label: String,
        key_label: String,
        reason: String,
    },
    /// Keys with the label are already on the token and replacing them was not asked for.
    #[error(
        "token '{label}' already holds a key labelled '{key_label}' ({objects} key objects); \
         docgate never replaces a key unless asked: ask for the link key to be replaced \
         (the old key is destroyed only once the new one holds the label), or choose \
         another label"
    )]
    KeyExists {
        label: String,
        key_label: String,
        objects: usize,
    },
    /// Replacing was asked for, but a key holding the label has a certificate on the
    /// token, as the agency's seal key does; docgate does not destroy such a key.
    #[error(
        "token '{label}' holds a key labelled '{key_label}' with a certificate on the token \
         (CKA_ID {key_id}), as the agency's seal key has; docgate does not destroy such a \
         key: choose another label for the link key, or, if it really is an old link key, \
         delete it with the token vendor's tool first"
    )]
    KeyHasCertificate {
        label: String,
        key_label: String,
        key_id: String,
    },
    /// The token cannot make the link key (an EC P-256 key pair it signs with).
    #[error(
        "token '{label}' cannot generate the link key: {detail}; docgate needs a token that \
         makes EC P-256 key pairs (CKM_EC_KEY_PAIR_GEN) and signs with them (CKM_ECDSA)"
    )]
    CannotGenerateKey { label: String, detail: String },
    /// The token made a key pair but its public key cannot be read; the new pair is
    /// destroyed again.
    #[error(
        "token '{label}' generated key '{key_label}' but its public key is unusable: \
         {reason}; the new key was removed again (a warning is logged if that failed) and \
         the token cannot be used for the link key"
    )]
    UnusablePublicKey {
        label: String,
        key_label: String,
        reason: String,
    },
    /// Replacing a key stopped between its steps; `state` says what the token holds.
    #[error(
        "replacing key '{key_label}' on token '{label}' stopped {state} ({function} failed \
         with {code}); generate the link key again, asking to replace it, to finish"
    )]
    KeyReplaceIncomplete {
        label: String,
        key_label: String,
        state: String,
        function: String,
        code: String,
    },
    /// A PKCS#11 call failed for a reason that is neither the PIN nor a removed token.
    #[error(
        "token '{label}': {function} failed with {code}; if this repeats, unplug and replug \
         the token"
    )]
    Pkcs11 {
        label: String,
        function: String,
        code: String,
    },
    /// The token answered with a signature docgate cannot use.
    #[error("token '{label}' returned an unusable signature: {reason}")]
    BadSignature { label: String, reason: String },
    /// `wait_ready` gave up before the token was ready (and before any other error).
    #[error("token '{label}' is still not ready after {waited:?}; see the token status")]
    NotReady { label: String, waited: Duration },
    /// The worker thread is gone (it could not start, or the process is shutting down).
    #[error("the worker of token '{label}' has stopped ({reason}); restart docgate")]
    Stopped { label: String, reason: String },
}

fn list(labels: &[String]) -> String {
    if labels.is_empty() {
        return "none".to_owned();
    }
    labels
        .iter()
        .map(|label| format!("'{label}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a failed PKCS#11 call means for the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// The PIN was refused; never retry it.
    PinRejected,
    /// The PIN is locked; do not try at all.
    PinLocked,
    /// The token (or our session on it) is gone.
    Removed,
    /// Anything else.
    Other,
}

/// Reads a PKCS#11 error.
pub(super) fn classify(error: &Pkcs11Error) -> Failure {
    let Pkcs11Error::Pkcs11(code, _) = error else {
        return Failure::Other;
    };
    match code {
        RvError::PinIncorrect
        | RvError::PinInvalid
        | RvError::PinLenRange
        | RvError::PinExpired => Failure::PinRejected,
        RvError::PinLocked => Failure::PinLocked,
        RvError::DeviceRemoved
        | RvError::DeviceError
        | RvError::TokenNotPresent
        | RvError::TokenNotRecognized
        | RvError::SessionHandleInvalid
        | RvError::SessionClosed
        | RvError::SlotIdInvalid => Failure::Removed,
        _ => Failure::Other,
    }
}

/// `C_Sign`, `C_Login`, ...: the PKCS#11 function a cryptoki error came from.
pub(super) fn function_name(error: &Pkcs11Error) -> String {
    match error {
        Pkcs11Error::Pkcs11(_, function) => format!("C_{function:?}"),
        Pkcs11Error::LibraryLoading(_) => "loading the module".to_owned(),
        _ => "a PKCS#11 call".to_owned(),
    }
}

/// `CKR_PIN_INCORRECT`, ...: the name under which the PKCS#11 standard and every token
/// vendor's documentation list a return value; other cryptoki errors as their text.
pub(super) fn code_name(error: &Pkcs11Error) -> String {
    match error {
        Pkcs11Error::Pkcs11(code, _) => ckr_name(code),
        other => other.to_string(),
    }
}

fn ckr_name(code: &RvError) -> String {
    match code {
        RvError::VendorDefined(value) => format!("CKR_VENDOR_DEFINED (0x{value:08x})"),
        RvError::UnknownErrorCode(value) => format!("unknown return value 0x{value:08x}"),
        // The variant names are the standard's names in CamelCase; spell them as C does.
        named => {
            let camel = format!("{named:?}");
            let mut name = String::from("CKR");
            for character in camel.chars() {
                if character.is_ascii_uppercase() {
                    name.push('_');
                }
                name.push(character.to_ascii_uppercase());
            }
            name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    fn failed(code: RvError, function: Function) -> Pkcs11Error {
        Pkcs11Error::Pkcs11(code, function)
    }

    #[test]
    fn return_values_are_named_as_in_the_standard() {
        let cases = [
            (RvError::PinIncorrect, "CKR_PIN_INCORRECT"),
            (RvError::PinLenRange, "CKR_PIN_LEN_RANGE"),
            (RvError::DeviceRemoved, "CKR_DEVICE_REMOVED"),
            (RvError::SessionHandleInvalid, "CKR_SESSION_HANDLE_INVALID"),
            (RvError::GeneralError, "CKR_GENERAL_ERROR"),
            (
                RvError::VendorDefined(0x8000_0001),
                "CKR_VENDOR_DEFINED (0x80000001)",
            ),
        ];
        for (code, expected) in cases {
            assert_eq!(code_name(&failed(code, Function::Sign)), expected);
        }
        assert_eq!(
            function_name(&failed(RvError::PinIncorrect, Function::Login)),
            "C_Login"
        );
    }

    #[test]
    fn pin_and_removal_codes_are_told_apart() {
        let cases = [
            (RvError::PinIncorrect, Failure::PinRejected),
            (RvError::PinLenRange, Failure::PinRejected),
            (RvError::PinLocked, Failure::PinLocked),
            (RvError::DeviceRemoved, Failure::Removed),
            (RvError::TokenNotPresent, Failure::Removed),
            (RvError::SessionHandleInvalid, Failure::Removed),
            (RvError::DeviceError, Failure::Removed),
            (RvError::DataLenRange, Failure::Other),
            (RvError::ObjectHandleInvalid, Failure::Other),
        ];
        for (code, expected) in cases {
            assert_eq!(
                classify(&failed(code, Function::Sign)),
                expected,
                "{code:?}"
            );
        }
        assert_eq!(classify(&Pkcs11Error::NotSupported), Failure::Other);
    }

    #[test]
    fn messages_say_what_to_do_next() {
        let absent = TokenError::Absent {
            label: "agency-seal".into(),
            reason: "not found in slot list".into(),
        };
        assert!(absent.to_string().starts_with(
            "token 'agency-seal' not found in slot list; is the USB token plugged in?"
        ));
        let rejected = TokenError::PinRejected {
            label: "agency-seal".into(),
            pin_file: "/run/credentials/docgate/token-pin".into(),
            code: "CKR_PIN_INCORRECT".into(),
        };
        let text = rejected.to_string();
        assert!(
            text.contains("/run/credentials/docgate/token-pin"),
            "{text}"
        );
        assert!(text.contains("CKR_PIN_INCORRECT"), "{text}");
        assert!(text.contains("once when the file changes"), "{text}");
        let several = TokenError::SeveralKeys {
            label: "agency-seal".into(),
            found: vec!["seal-2025".into(), "seal-2026".into()],
        };
        assert!(several
            .to_string()
            .contains("('seal-2025', 'seal-2026'); set `key_label`"));
        let missing = TokenError::KeyNotFound {
            label: "agency-seal".into(),
            key_label: "seal".into(),
            found: vec![],
        };
        assert!(missing.to_string().contains("(keys found: none)"));
        let module = TokenError::ModuleUnavailable {
            module: "/usr/lib/vendor/libtoken.so".into(),
            reason: "no such file".into(),
        };
        assert!(module.to_string().contains("/usr/lib/vendor/libtoken.so"));
    }
}
