//! The PKCS#11 conversation with one token: finding it by label across the slots, opening a
//! session and logging in, choosing the private key, its certificate and the signing
//! mechanism, and making one signature in the encoding X.509 and CMS use. Every function
//! here is one step the worker calls while holding the module's read lock; none of them
//! retries, sleeps or decides what a failure means for the token's state.

use std::path::Path;
use std::sync::Arc;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use der::Decode;

use super::config::Pin;
use super::encoding;
use super::error::{classify, code_name, function_name, Failure};
use super::{KeyKind, TokenError};

/// The named curve P-256, whose DER is a P-256 key's `CKA_EC_PARAMS`.
pub(super) const P256_OID: const_oid::ObjectIdentifier = const_oid::db::rfc5912::SECP_256_R_1;

/// How a key's signatures are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignMethod {
    /// CKM_SHA256_RSA_PKCS over the message: the token hashes.
    RsaSha256,
    /// CKM_RSA_PKCS over the DER DigestInfo of a SHA-256 computed here.
    RsaDigestInfo,
    /// CKM_ECDSA over a SHA-256 computed here; raw `r || s` converted to DER.
    EcdsaP256,
}

impl SignMethod {
    pub(super) fn mechanism_name(self) -> &'static str {
        match self {
            SignMethod::RsaSha256 => "CKM_SHA256_RSA_PKCS",
            SignMethod::RsaDigestInfo => "CKM_RSA_PKCS",
            SignMethod::EcdsaP256 => "CKM_ECDSA",
        }
    }
}

/// The token the worker is talking to: a logged-in session, the key, its certificate.
pub(super) struct Connection {
    /// The module generation the session belongs to.
    pub(super) generation: u64,
    pub(super) slot: Slot,
    session: Session,
    key: ObjectHandle,
    pub(super) key_label: String,
    pub(super) kind: KeyKind,
    pub(super) method: SignMethod,
    /// `None` when the configuration says the certificate is not on the token.
    pub(super) certificate: Option<Arc<[u8]>>,
}

/// Who is asking: for error messages.
#[derive(Clone, Copy)]
pub(super) struct Names<'a> {
    pub(super) token_label: &'a str,
    pub(super) pin_file: &'a Path,
}

impl Names<'_> {
    /// A failed PKCS#11 call as a `TokenError`: a refused PIN, a removed token, or other.
    pub(super) fn error(&self, error: &Pkcs11Error) -> TokenError {
        let label = self.token_label.to_owned();
        match classify(error) {
            Failure::PinRejected => TokenError::PinRejected {
                label,
                pin_file: self.pin_file.to_path_buf(),
                code: code_name(error),
            },
            Failure::PinLocked => TokenError::PinLocked { label },
            Failure::Removed => TokenError::Absent {
                label,
                reason: format!(
                    "went away ({} returned {})",
                    function_name(error),
                    code_name(error)
                ),
            },
            Failure::Other => TokenError::Pkcs11 {
                label,
                function: function_name(error),
                code: code_name(error),
            },
        }
    }
}

/// The slot holding the token labelled `label`, if one is present. Slots whose token does
/// not answer (a SoftHSM token whose directory vanished answers CKR_GENERAL_ERROR) are
/// passed over.
pub(super) fn find_token(pkcs11: &Pkcs11, names: Names<'_>) -> Result<Option<Slot>, TokenError> {
    let slots = pkcs11
        .get_slots_with_token()
        .map_err(|error| names.error(&error))?;
    let wanted = names.token_label.trim_end_matches(' ');
    let mut found = Vec::new();
    for slot in slots {
        match pkcs11.get_token_info(slot) {
            Ok(info) if info.label() == wanted => found.push(slot),
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(slot = slot.id(), error = %code_name(&error), "a slot's token does not answer");
            }
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        count => Err(TokenError::SeveralTokens {
            label: names.token_label.to_owned(),
            count,
        }),
    }
}

/// Whether the token in `slot` is still the one labelled `label` and answering.
pub(super) fn check_present(
    pkcs11: &Pkcs11,
    slot: Slot,
    names: Names<'_>,
) -> Result<(), TokenError> {
    match pkcs11.get_token_info(slot) {
        Ok(info) if info.label() == names.token_label.trim_end_matches(' ') => Ok(()),
        Ok(info) => Err(TokenError::Absent {
            label: names.token_label.to_owned(),
            reason: format!("was replaced by token '{}' in its slot", info.label()),
        }),
        Err(error) => Err(TokenError::Absent {
            label: names.token_label.to_owned(),
            reason: format!(
                "stopped answering (C_GetTokenInfo returned {})",
                code_name(&error)
            ),
        }),
    }
}

/// Refuses a token that reports its user PIN locked (so a locked token is never tried), and
/// warns when the token says one more wrong PIN locks it.
pub(super) fn check_pin_state(
    pkcs11: &Pkcs11,
    slot: Slot,
    names: Names<'_>,
) -> Result<(), TokenError> {
    let info = pkcs11
        .get_token_info(slot)
        .map_err(|error| names.error(&error))?;
    if info.user_pin_locked() {
        return Err(TokenError::PinLocked {
            label: names.token_label.to_owned(),
        });
    }
    if info.user_pin_final_try() {
        tracing::warn!(
            token = %names.token_label,
            "the token says one more wrong PIN locks it; trying the PIN file's PIN once"
        );
    }
    Ok(())
}

/// Logs the user in with `pin`: one `C_Login`, never repeated here. Login is per
/// application and token, so "already logged in" (another session of this process is)
/// counts as done. Nothing ever logs out: `C_Logout` would end the login of every session
/// of the process on that token, the workers' included.
pub(super) fn login(session: &Session, names: Names<'_>, pin: &Pin) -> Result<(), TokenError> {
    tracing::debug!(token = %names.token_label, "logging in to the token (C_Login)");
    match session.login_with_raw(UserType::User, &pin.to_login()) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(error) => Err(names.error(&error)),
    }
}

/// What a logged-in session found: the key and how to use it.
struct Prepared {
    key: FoundKey,
    kind: KeyKind,
    method: SignMethod,
    certificate: Option<Arc<[u8]>>,
}

/// A private key found on the token, before choosing.
struct FoundKey {
    handle: ObjectHandle,
    label: String,
    id: Vec<u8>,
    key_type: Option<KeyType>,
    modulus: Option<Vec<u8>>,
    ec_params: Option<Vec<u8>>,
}

impl Connection {
    /// Opens a session on `slot`, logs in with `pin` (one attempt), and finds the key,
    /// the mechanism and, when `certificate_on_token`, the certificate. On failure the
    /// session is closed again.
    pub(super) fn open(
        pkcs11: &Pkcs11,
        generation: u64,
        slot: Slot,
        names: Names<'_>,
        key_label: Option<&str>,
        certificate_on_token: bool,
        pin: &Pin,
    ) -> Result<Connection, TokenError> {
        check_pin_state(pkcs11, slot, names)?;
        // A session that is not closed on drop: after a re-initialisation its handle
        // number may belong to another worker's new session. `close` decides.
        let session = pkcs11
            .open_ro_session_no_drop(slot)
            .map_err(|error| names.error(&error))?;
        let prepared = Connection::prepare(
            pkcs11,
            &session,
            slot,
            names,
            key_label,
            certificate_on_token,
            pin,
        );
        match prepared {
            Ok(prepared) => Ok(Connection {
                generation,
                slot,
                session,
                key: prepared.key.handle,
                key_label: prepared.key.label,
                kind: prepared.kind,
                method: prepared.method,
                certificate: prepared.certificate,
            }),
            Err(error) => {
                if let Err(close_error) = session.close() {
                    tracing::debug!(error = %code_name(&close_error), "closing a failed session");
                }
                Err(error)
            }
        }
    }

    fn prepare(
        pkcs11: &Pkcs11,
        session: &Session,
        slot: Slot,
        names: Names<'_>,
        key_label: Option<&str>,
        certificate_on_token: bool,
        pin: &Pin,
    ) -> Result<Prepared, TokenError> {
        login(session, names, pin)?;
        let key = choose_key(find_private_keys(session, names)?, names, key_label)?;
        let (kind, method) = key_method(pkcs11, slot, &key, names)?;
        let certificate = if certificate_on_token {
            Some(find_certificate(session, &key, names)?)
        } else {
            None
        };
        Ok(Prepared {
            key,
            kind,
            method,
            certificate,
        })
    }

    /// One signature over `message` (SHA-256; PKCS#1 v1.5 or DER ECDSA).
    pub(super) fn sign(&self, message: &[u8], names: Names<'_>) -> Result<Vec<u8>, SignError> {
        match self.method {
            SignMethod::RsaSha256 => self
                .session
                .sign(&Mechanism::Sha256RsaPkcs, self.key, message)
                .map_err(SignError::Pkcs11),
            SignMethod::RsaDigestInfo => {
                let digest_info = encoding::sha256_digest_info(&encoding::sha256(message))
                    .map_err(|error| SignError::Encoding(bad(names, error)))?;
                self.session
                    .sign(&Mechanism::RsaPkcs, self.key, &digest_info)
                    .map_err(SignError::Pkcs11)
            }
            SignMethod::EcdsaP256 => {
                let raw = self
                    .session
                    .sign(&Mechanism::Ecdsa, self.key, &encoding::sha256(message))
                    .map_err(SignError::Pkcs11)?;
                encoding::ecdsa_p256_raw_to_der(&raw)
                    .map_err(|error| SignError::Encoding(bad(names, error)))
            }
        }
    }

    /// Ends the session if it still belongs to the module's `current_generation`; a
    /// session of an older generation is already gone and its handle may be reused.
    pub(super) fn close(self, current_generation: u64) {
        if self.generation == current_generation {
            if let Err(error) = self.session.close() {
                tracing::debug!(error = %code_name(&error), "closing the token session");
            }
        }
    }
}

/// Why one signature failed.
pub(super) enum SignError {
    Pkcs11(Pkcs11Error),
    Encoding(TokenError),
}

fn bad(names: Names<'_>, reason: impl std::fmt::Display) -> TokenError {
    TokenError::BadSignature {
        label: names.token_label.to_owned(),
        reason: reason.to_string(),
    }
}

fn find_private_keys(session: &Session, names: Names<'_>) -> Result<Vec<FoundKey>, TokenError> {
    let handles = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .map_err(|error| names.error(&error))?;
    let mut keys = Vec::with_capacity(handles.len());
    for handle in handles {
        let attributes = session
            .get_attributes(
                handle,
                &[
                    AttributeType::Label,
                    AttributeType::Id,
                    AttributeType::KeyType,
                    AttributeType::Modulus,
                    AttributeType::EcParams,
                ],
            )
            .map_err(|error| names.error(&error))?;
        let mut key = FoundKey {
            handle,
            label: String::new(),
            id: Vec::new(),
            key_type: None,
            modulus: None,
            ec_params: None,
        };
        for attribute in attributes {
            match attribute {
                Attribute::Label(bytes) => key.label = String::from_utf8_lossy(&bytes).into_owned(),
                Attribute::Id(bytes) => key.id = bytes,
                Attribute::KeyType(key_type) => key.key_type = Some(key_type),
                Attribute::Modulus(bytes) => key.modulus = Some(bytes),
                Attribute::EcParams(bytes) => key.ec_params = Some(bytes),
                _ => {}
            }
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The one key to sign with: the one labelled `key_label`, or the only one.
fn choose_key(
    mut keys: Vec<FoundKey>,
    names: Names<'_>,
    key_label: Option<&str>,
) -> Result<FoundKey, TokenError> {
    let label = names.token_label.to_owned();
    let all_labels = |keys: &[FoundKey]| keys.iter().map(|key| key.label.clone()).collect();
    match key_label {
        Some(wanted) => {
            let matching = keys.iter().filter(|key| key.label == wanted).count();
            match matching {
                1 => keys
                    .into_iter()
                    .find(|key| key.label == wanted)
                    .ok_or(TokenError::NoPrivateKey { label }),
                0 => Err(TokenError::KeyNotFound {
                    label,
                    key_label: wanted.to_owned(),
                    found: all_labels(&keys),
                }),
                _ => Err(TokenError::SeveralKeys {
                    label,
                    found: all_labels(&keys),
                }),
            }
        }
        None => match keys.len() {
            0 => Err(TokenError::NoPrivateKey { label }),
            1 => keys.pop().ok_or(TokenError::NoPrivateKey { label }),
            _ => Err(TokenError::SeveralKeys {
                label,
                found: all_labels(&keys),
            }),
        },
    }
}

/// The key's kind and how to sign with it on this token.
fn key_method(
    pkcs11: &Pkcs11,
    slot: Slot,
    key: &FoundKey,
    names: Names<'_>,
) -> Result<(KeyKind, SignMethod), TokenError> {
    let unsupported = |detail: String| TokenError::UnsupportedKey {
        label: names.token_label.to_owned(),
        key_label: key.label.clone(),
        detail,
    };
    let mechanisms = pkcs11
        .get_mechanism_list(slot)
        .map_err(|error| names.error(&error))?;
    let offers = |mechanism: MechanismType| mechanisms.contains(&mechanism);
    match key.key_type {
        Some(KeyType::RSA) => {
            let modulus_bits = key.modulus.as_deref().map(bit_length).unwrap_or(0);
            let kind = KeyKind::Rsa { modulus_bits };
            if offers(MechanismType::SHA256_RSA_PKCS) {
                Ok((kind, SignMethod::RsaSha256))
            } else if offers(MechanismType::RSA_PKCS) {
                Ok((kind, SignMethod::RsaDigestInfo))
            } else {
                Err(unsupported(
                    "an RSA key, but the token offers neither CKM_SHA256_RSA_PKCS nor \
                     CKM_RSA_PKCS"
                        .to_owned(),
                ))
            }
        }
        Some(KeyType::EC) => {
            let curve = key
                .ec_params
                .as_deref()
                .and_then(|params| const_oid::ObjectIdentifier::from_der(params).ok());
            if curve != Some(P256_OID) {
                let named =
                    curve.map_or_else(|| "an unnamed curve".to_owned(), |oid| oid.to_string());
                return Err(unsupported(format!("an EC key on {named}, not P-256")));
            }
            if !offers(MechanismType::ECDSA) {
                return Err(unsupported(
                    "an EC P-256 key, but the token does not offer CKM_ECDSA".to_owned(),
                ));
            }
            Ok((KeyKind::EcP256, SignMethod::EcdsaP256))
        }
        Some(other) => Err(unsupported(format!("a {other} key"))),
        None => Err(unsupported(
            "a key whose type the token does not tell".to_owned(),
        )),
    }
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> u32 {
    let significant: Vec<&u8> = bytes.iter().skip_while(|byte| **byte == 0).collect();
    match significant.first() {
        None => 0,
        Some(first) => (significant.len() as u32 - 1) * 8 + (8 - first.leading_zeros()),
    }
}

/// The DER of the certificate with the key's CKA_ID.
fn find_certificate(
    session: &Session,
    key: &FoundKey,
    names: Names<'_>,
) -> Result<Arc<[u8]>, TokenError> {
    let missing = || TokenError::CertificateMissing {
        label: names.token_label.to_owned(),
        key_label: key.label.clone(),
        key_id: if key.id.is_empty() {
            "(none: the key has no CKA_ID)".to_owned()
        } else {
            hex::encode(&key.id)
        },
    };
    if key.id.is_empty() {
        return Err(missing());
    }
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::Id(key.id.clone()),
        ])
        .map_err(|error| names.error(&error))?;
    let Some(handle) = handles.first() else {
        return Err(missing());
    };
    let attributes = session
        .get_attributes(*handle, &[AttributeType::Value])
        .map_err(|error| names.error(&error))?;
    attributes
        .into_iter()
        .find_map(|attribute| match attribute {
            Attribute::Value(der) if !der.is_empty() => Some(Arc::from(der)),
            _ => None,
        })
        .ok_or_else(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths_of_moduli() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        let mut modulus = vec![0xC3u8; 256];
        assert_eq!(bit_length(&modulus), 2048);
        modulus.insert(0, 0);
        assert_eq!(bit_length(&modulus), 2048);
    }

    #[test]
    fn the_p256_oid_is_what_tokens_store_in_ec_params() {
        let params = hex::decode("06082a8648ce3d030107").expect("hex");
        assert_eq!(
            const_oid::ObjectIdentifier::from_der(&params).expect("oid"),
            P256_OID
        );
    }
}
