//! The signed configuration bundle: everything provincial IT decides about one box (its
//! agency identity, the axis and sync policy, the signature trust roots, the TSA and CRL
//! addresses, how long the bundle holds and the grace after it), signed with the device
//! CA's key so a box can check it against the CA it pinned at enrolment.
//!
//! Owns the bundle's JSON shape, signing and verification (ring does the arithmetic;
//! the CA's key type picks the algorithm), and the rule for accepting a successor (same
//! device, same agency, higher serial). Never touches files or sockets: the box's copy on
//! disk is `system::provisioned`, the axis's issuing is `axis::enrolment`.

use base64::Engine;
use der::Decode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The `format` every bundle carries.
pub const BUNDLE_FORMAT: &str = "docgate-config-bundle/1";

/// What provincial IT decided for one box. Times are RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBundle {
    pub format: String,
    /// Grows with every change; a box applies only a higher serial than the one it holds.
    pub serial: u64,
    pub issued_at: String,
    /// After this instant the bundle is stale: the box warns, and keeps working until
    /// `grace_secs` more have passed.
    pub expires_at: String,
    pub grace_secs: u64,
    /// The system id at the axis (= the link certificate's CN).
    pub system_id: String,
    pub agency: AgencyIdentity,
    pub axis: AxisPolicy,
    pub signing: SigningPolicy,
    /// Provincial IT retired this box: it sends nothing more and says so.
    #[serde(default)]
    pub decommissioned: bool,
}

/// Who the box speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyIdentity {
    /// Mã định danh, e.g. `000.01.10.H41`.
    pub code: String,
    pub name: String,
}

/// How the box talks to the axis and keeps itself current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisPolicy {
    /// `https://host:port` of the axis on the dedicated network.
    pub url: String,
    pub long_poll_secs: u64,
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    /// How often the box asks for a newer bundle.
    pub refresh_secs: u64,
    /// Renew the link certificate when less than this remains of it.
    pub renew_before_secs: u64,
}

/// Signature checks and the seal's timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SigningPolicy {
    /// PEM certificates signatures must chain to (the Government Cipher Committee's roots).
    #[serde(default)]
    pub trust_roots_pem: Vec<String>,
    /// RFC 3161 timestamp authority.
    #[serde(default)]
    pub tsa_url: Option<String>,
    /// Fetch CRLs from the distribution points certificates name.
    #[serde(default)]
    pub fetch_crls: bool,
}

/// The bundle as it travels and as the box keeps it: the exact payload bytes, their
/// signature, and the algorithm's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedBundle {
    /// Base64 of the bundle's JSON bytes (signed as they are, never re-serialised).
    pub payload: String,
    /// Base64 of the signature.
    pub signature: String,
    /// `ecdsa-p256-sha256`, `ecdsa-p384-sha384`, `rsa-pkcs1-sha256` or `ed25519`.
    pub algorithm: String,
}

/// Why a bundle was refused; nothing of it is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("the configuration bundle is not well formed: {0}")]
    Malformed(String),
    #[error("the configuration bundle's signature does not verify against the pinned device CA; it was not issued by this province's axis")]
    BadSignature,
    #[error("the device CA certificate cannot be used to check bundles: {0}")]
    UnusableCa(String),
    #[error("the configuration bundle has serial {offered}, not above the {held} this box holds; an old bundle is never applied again")]
    NotNewer { offered: u64, held: u64 },
    #[error("the configuration bundle is for agency {offered:?}, but this box serves {held:?}; re-provisioning for another agency needs `docgate reset` first")]
    OtherAgency { offered: String, held: String },
    #[error("the configuration bundle is for system {offered:?}, but this box is {held:?}")]
    OtherSystem { offered: String, held: String },
}

/// How a box stands with its bundle at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleStanding {
    Current,
    /// Past `expires_at`, within the grace period: work on, warn.
    InGrace {
        ends: OffsetDateTime,
    },
    /// Past the grace period: the link stops until a fresh bundle arrives.
    Lapsed,
}

fn parse_instant(text: &str) -> Result<OffsetDateTime, BundleError> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|error| BundleError::Malformed(format!("instant {text:?}: {error}")))
}

impl ConfigBundle {
    /// Checks the fields a box relies on.
    pub fn validate(&self) -> Result<(), BundleError> {
        let malformed = |what: &str| Err(BundleError::Malformed(what.to_owned()));
        if self.format != BUNDLE_FORMAT {
            return malformed("unknown format; this box understands docgate-config-bundle/1");
        }
        parse_instant(&self.issued_at)?;
        parse_instant(&self.expires_at)?;
        if self.system_id.is_empty() || self.agency.code.is_empty() || self.agency.name.is_empty() {
            return malformed("the system id, agency code or agency name is empty");
        }
        if !self.axis.url.starts_with("https://") {
            return malformed("the axis URL is not https://");
        }
        if self.axis.refresh_secs == 0 || self.axis.long_poll_secs == 0 {
            return malformed("refresh_secs and long_poll_secs must be above 0");
        }
        Ok(())
    }

    /// Where this bundle stands at `now`.
    pub fn standing(&self, now: OffsetDateTime) -> BundleStanding {
        let Ok(expires) = parse_instant(&self.expires_at) else {
            return BundleStanding::Lapsed;
        };
        if now < expires {
            return BundleStanding::Current;
        }
        let ends = expires + time::Duration::seconds(self.grace_secs.min(i64::MAX as u64) as i64);
        if now < ends {
            BundleStanding::InGrace { ends }
        } else {
            BundleStanding::Lapsed
        }
    }

    /// Whether `offered` may replace this bundle: same system and agency, higher serial.
    pub fn accepts_successor(&self, offered: &ConfigBundle) -> Result<(), BundleError> {
        if offered.agency.code != self.agency.code {
            return Err(BundleError::OtherAgency {
                offered: offered.agency.code.clone(),
                held: self.agency.code.clone(),
            });
        }
        if offered.system_id != self.system_id {
            return Err(BundleError::OtherSystem {
                offered: offered.system_id.clone(),
                held: self.system_id.clone(),
            });
        }
        if offered.serial <= self.serial {
            return Err(BundleError::NotNewer {
                offered: offered.serial,
                held: self.serial,
            });
        }
        Ok(())
    }
}

/// The verification algorithm a CA certificate's key implies, with its name.
fn verification_for(
    ca_der: &[u8],
) -> Result<
    (
        &'static str,
        &'static dyn ring::signature::VerificationAlgorithm,
        Vec<u8>,
    ),
    BundleError,
> {
    use super::key_kind::KeyKind;
    use ring::signature as sig;
    let certificate = x509_cert::Certificate::from_der(ca_der)
        .map_err(|error| BundleError::UnusableCa(error.to_string()))?;
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| BundleError::UnusableCa("the public key is not whole bytes".into()))?
        .to_vec();
    match KeyKind::of(spki) {
        Some(KeyKind::EcdsaP256) => Ok(("ecdsa-p256-sha256", &sig::ECDSA_P256_SHA256_ASN1, key)),
        Some(KeyKind::EcdsaP384) => Ok(("ecdsa-p384-sha384", &sig::ECDSA_P384_SHA384_ASN1, key)),
        Some(KeyKind::Rsa) => Ok(("rsa-pkcs1-sha256", &sig::RSA_PKCS1_2048_8192_SHA256, key)),
        Some(KeyKind::Ed25519) => Ok(("ed25519", &sig::ED25519, key)),
        None => Err(BundleError::UnusableCa(format!(
            "key algorithm {}",
            spki.algorithm.oid
        ))),
    }
}

impl SignedBundle {
    /// Signs `bundle` with the device CA's key (`sign` is the key's operation; `ca_der` is
    /// the CA certificate, which names the algorithm).
    pub fn sign(
        bundle: &ConfigBundle,
        ca_der: &[u8],
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<SignedBundle, BundleError> {
        let (algorithm, _, _) = verification_for(ca_der)?;
        let payload = serde_json::to_vec(bundle)
            .map_err(|error| BundleError::Malformed(error.to_string()))?;
        let signature = sign(&payload).map_err(BundleError::UnusableCa)?;
        let engine = base64::engine::general_purpose::STANDARD;
        Ok(SignedBundle {
            payload: engine.encode(&payload),
            signature: engine.encode(signature),
            algorithm: algorithm.to_owned(),
        })
    }

    /// Verifies the signature against the pinned CA and reads the bundle. Nothing in the
    /// payload is looked at before the signature holds.
    pub fn verify(&self, ca_der: &[u8]) -> Result<ConfigBundle, BundleError> {
        let (algorithm, verification, key) = verification_for(ca_der)?;
        if self.algorithm != algorithm {
            return Err(BundleError::BadSignature);
        }
        let engine = base64::engine::general_purpose::STANDARD;
        let payload = engine
            .decode(&self.payload)
            .map_err(|_| BundleError::Malformed("the payload is not base64".into()))?;
        let signature = engine
            .decode(&self.signature)
            .map_err(|_| BundleError::Malformed("the signature is not base64".into()))?;
        ring::signature::UnparsedPublicKey::new(verification, key)
            .verify(&payload, &signature)
            .map_err(|_| BundleError::BadSignature)?;
        let bundle: ConfigBundle = serde_json::from_slice(&payload)
            .map_err(|error| BundleError::Malformed(error.to_string()))?;
        bundle.validate()?;
        Ok(bundle)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(serial: u64, agency: &str) -> ConfigBundle {
        ConfigBundle {
            format: BUNDLE_FORMAT.into(),
            serial,
            issued_at: "2026-11-01T00:00:00Z".into(),
            expires_at: "2026-12-01T00:00:00Z".into(),
            grace_secs: 7 * 86_400,
            system_id: "gw-xa-1".into(),
            agency: AgencyIdentity {
                code: agency.into(),
                name: "UBND xã Thử Nghiệm".into(),
            },
            axis: AxisPolicy {
                url: "https://10.0.0.1:8443".into(),
                long_poll_secs: 25,
                retry_min_ms: 200,
                retry_max_ms: 30_000,
                refresh_secs: 3600,
                renew_before_secs: 30 * 86_400,
            },
            signing: SigningPolicy::default(),
            decommissioned: false,
        }
    }

    pub(crate) fn ca() -> (rcgen::KeyPair, Vec<u8>) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let certificate = params.self_signed(&key).expect("ca");
        (key, certificate.der().to_vec())
    }

    pub(crate) fn signed(bundle: &ConfigBundle, key: &rcgen::KeyPair, ca: &[u8]) -> SignedBundle {
        use rcgen::SigningKey;
        SignedBundle::sign(bundle, ca, |bytes| {
            key.sign(bytes).map_err(|e| e.to_string())
        })
        .expect("sign")
    }

    #[test]
    fn a_signed_bundle_verifies_against_its_ca_only() {
        let (key, ca) = ca();
        let (_, other_ca) = self::ca();
        let bundle = sample(1, "000.01.10.H41");
        let envelope = signed(&bundle, &key, &ca);
        assert_eq!(envelope.verify(&ca), Ok(bundle));
        assert_eq!(envelope.verify(&other_ca), Err(BundleError::BadSignature));
    }

    #[test]
    fn any_change_to_the_payload_breaks_the_signature() {
        let (key, ca) = ca();
        let envelope = signed(&sample(1, "000.01.10.H41"), &key, &ca);
        let engine = base64::engine::general_purpose::STANDARD;
        let mut payload = engine.decode(&envelope.payload).expect("b64");
        let text = String::from_utf8(payload.clone()).expect("utf8");
        payload = text.replace("000.01.10.H41", "000.01.11.H41").into_bytes();
        let forged = SignedBundle {
            payload: engine.encode(payload),
            ..envelope.clone()
        };
        assert_eq!(forged.verify(&ca), Err(BundleError::BadSignature));
        let renamed = SignedBundle {
            algorithm: "rsa-pkcs1-sha256".into(),
            ..envelope
        };
        assert_eq!(renamed.verify(&ca), Err(BundleError::BadSignature));
    }

    #[test]
    fn a_successor_needs_the_same_agency_and_a_higher_serial() {
        let held = sample(5, "000.01.10.H41");
        assert!(held.accepts_successor(&sample(6, "000.01.10.H41")).is_ok());
        assert!(matches!(
            held.accepts_successor(&sample(5, "000.01.10.H41")),
            Err(BundleError::NotNewer {
                offered: 5,
                held: 5
            })
        ));
        assert!(matches!(
            held.accepts_successor(&sample(4, "000.01.10.H41")),
            Err(BundleError::NotNewer { .. })
        ));
        assert!(matches!(
            held.accepts_successor(&sample(9, "000.01.11.H41")),
            Err(BundleError::OtherAgency { .. })
        ));
    }

    #[test]
    fn standing_runs_current_then_grace_then_lapsed() {
        use time::macros::datetime;
        let bundle = sample(1, "000.01.10.H41");
        assert_eq!(
            bundle.standing(datetime!(2026-11-20 0:00 UTC)),
            BundleStanding::Current
        );
        assert!(matches!(
            bundle.standing(datetime!(2026-12-03 0:00 UTC)),
            BundleStanding::InGrace { .. }
        ));
        assert_eq!(
            bundle.standing(datetime!(2026-12-09 0:00 UTC)),
            BundleStanding::Lapsed
        );
    }

    #[test]
    fn malformed_envelopes_are_refused_without_panicking() {
        let (_, ca) = ca();
        for (payload, signature) in [("!!", "AA=="), ("e30=", "!!"), ("", "")] {
            let envelope = SignedBundle {
                payload: payload.into(),
                signature: signature.into(),
                algorithm: "ecdsa-p256-sha256".into(),
            };
            assert!(envelope.verify(&ca).is_err());
        }
        assert!(matches!(
            SignedBundle {
                payload: String::new(),
                signature: String::new(),
                algorithm: String::new()
            }
            .verify(b"not a certificate"),
            Err(BundleError::UnusableCa(_))
        ));
    }
}
