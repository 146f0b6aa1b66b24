//! Trust: the configured roots (the Government Cipher Committee's CA in production, the test
//! PKI in tests), chain building from a signer's certificate through the intermediates a
//! signature carries, and revocation from configured CRLs. Reports "unknown" rather than
//! "good" whenever revocation cannot be known, as the standard asks.
//!
//! Does not parse PDFs or CMS, and never fetches anything from the network (fetching and
//! caching CRLs, and OCSP, feed this module with data; they are not in it).

use std::path::{Path, PathBuf};

use der::{Decode, Encode};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use serde::Serialize;
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

use super::signer::oid;

/// Longest chain we follow (signer, intermediates, root).
const MAX_CHAIN: usize = 8;

/// Why the trust configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read trust roots from {path}: {reason}")]
    Roots { path: PathBuf, reason: String },
    #[error("cannot read the CRL {path}: {reason}")]
    Crl { path: PathBuf, reason: String },
}

/// Where CRLs named by certificates (their CRL distribution points) come from when none is
/// configured: in the gateway, an HTTP fetch with an on-disk cache (`crl_cache`). Returns
/// the DER of a CRL, or `None` when it cannot be had now.
pub trait RevocationSource: Send + Sync + std::fmt::Debug {
    /// The DER of the CRL at `url`.
    fn fetch(&self, url: &str) -> Option<Vec<u8>>;
    /// The DER answer of the OCSP responder at `url` to `request`.
    fn query_ocsp(&self, url: &str, request: &[u8]) -> Option<Vec<u8>> {
        let _ = (url, request);
        None
    }
}

/// The roots and revocation lists signatures are judged against.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    roots: Vec<Certificate>,
    crls: Vec<CertificateList>,
    source: Option<std::sync::Arc<dyn RevocationSource>>,
}

/// Whether a certificate chains to a configured root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChainStatus {
    Trusted,
    Untrusted { reason: String },
}

/// Whether the certificates of a chain were revoked, as far as can be known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RevocationStatus {
    /// Every certificate below the root is on a current CRL of its issuer, not revoked.
    Good { source: String },
    Revoked {
        subject: String,
        #[serde(with = "time::serde::rfc3339")]
        revoked_at: OffsetDateTime,
    },
    /// No current revocation data for some certificate.
    Unknown { reason: String },
}

/// The judgement of one certificate chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    /// Subjects from the signer up to the root (as far as the chain was built).
    pub chain: Vec<String>,
    pub status: ChainStatus,
    pub revocation: RevocationStatus,
}

impl TrustStore {
    /// Loads PEM roots (each file may hold several) and PEM or DER CRLs.
    pub fn load(root_files: &[PathBuf], crl_files: &[PathBuf]) -> Result<TrustStore, TrustError> {
        let mut store = TrustStore::default();
        for path in root_files {
            let roots_error = |reason: String| TrustError::Roots {
                path: path.clone(),
                reason,
            };
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|error| roots_error(error.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| roots_error(error.to_string()))?;
            if certificates.is_empty() {
                return Err(roots_error("no CERTIFICATE block".into()));
            }
            for der in certificates {
                let certificate =
                    Certificate::from_der(&der).map_err(|error| roots_error(error.to_string()))?;
                store.roots.push(certificate);
            }
        }
        for path in crl_files {
            store.crls.push(load_crl(path)?);
        }
        Ok(store)
    }

    /// Adds a root (DER).
    pub fn add_root(&mut self, der: &[u8]) -> Result<(), der::Error> {
        self.roots.push(Certificate::from_der(der)?);
        Ok(())
    }

    /// Adds a CRL (DER).
    pub fn add_crl(&mut self, der: &[u8]) -> Result<(), der::Error> {
        self.crls.push(CertificateList::from_der(der)?);
        Ok(())
    }

    /// Fetches CRLs from the distribution points certificates name when no configured CRL
    /// covers their issuer.
    pub fn with_revocation_source(
        mut self,
        source: std::sync::Arc<dyn RevocationSource>,
    ) -> TrustStore {
        self.source = Some(source);
        self
    }

    pub fn has_roots(&self) -> bool {
        !self.roots.is_empty()
    }

    /// Builds and judges the chain of `leaf` through `intermediates`, at time `at` (the
    /// signing time a timestamp proves, or now). Revocation is judged with the CRLs loaded.
    pub fn judge(&self, leaf: &[u8], intermediates: &[Vec<u8>], at: OffsetDateTime) -> ChainReport {
        let leaf = match Certificate::from_der(leaf) {
            Ok(leaf) => leaf,
            Err(error) => {
                return ChainReport {
                    chain: Vec::new(),
                    status: ChainStatus::Untrusted {
                        reason: format!("the signer's certificate is unreadable: {error}"),
                    },
                    revocation: RevocationStatus::Unknown {
                        reason: "no readable certificate".into(),
                    },
                }
            }
        };
        let pool: Vec<Certificate> = intermediates
            .iter()
            .filter_map(|der| Certificate::from_der(der).ok())
            .collect();
        let (chain, status) = self.build(leaf, &pool, at);
        let revocation = match status {
            ChainStatus::Trusted => self.revocation(&chain, at),
            ChainStatus::Untrusted { .. } => RevocationStatus::Unknown {
                reason: "the chain is not trusted, so revocation was not checked".into(),
            },
        };
        ChainReport {
            chain: chain.iter().map(subject_text).collect(),
            status,
            revocation,
        }
    }

    /// Follows issuers until a configured root; returns the chain (leaf first, root last
    /// when trusted) and the verdict.
    fn build(
        &self,
        leaf: Certificate,
        pool: &[Certificate],
        at: OffsetDateTime,
    ) -> (Vec<Certificate>, ChainStatus) {
        let mut chain = vec![leaf];
        while let Some(current) = chain.last() {
            if let Err(reason) = valid_at(current, at) {
                return (chain, ChainStatus::Untrusted { reason });
            }
            if self.roots.iter().any(|root| root == current) {
                return (chain, ChainStatus::Trusted);
            }
            if chain.len() >= MAX_CHAIN {
                break;
            }
            let issuer = self
                .roots
                .iter()
                .chain(pool.iter())
                .filter(|candidate| *candidate != current)
                .find(|candidate| {
                    candidate.tbs_certificate.subject == current.tbs_certificate.issuer
                        && is_ca(candidate)
                        && signed_by(current, candidate)
                })
                .cloned();
            match issuer {
                Some(issuer) => chain.push(issuer),
                None => {
                    let reason = format!(
                        "no trusted issuer for \"{}\" (issued by \"{}\")",
                        subject_text(current),
                        current.tbs_certificate.issuer
                    );
                    return (chain, ChainStatus::Untrusted { reason });
                }
            }
        }
        let reason = format!("no trusted root within {MAX_CHAIN} certificates");
        (chain, ChainStatus::Untrusted { reason })
    }

    /// Revocation of every certificate below the root.
    fn revocation(&self, chain: &[Certificate], at: OffsetDateTime) -> RevocationStatus {
        let now = OffsetDateTime::now_utc().max(at);
        let mut sources = Vec::new();
        for pair in chain.windows(2) {
            let [certificate, issuer] = pair else {
                continue;
            };
            let issued_by = |crl: &CertificateList| {
                crl.tbs_cert_list.issuer == issuer.tbs_certificate.subject
                    && crl_signed_by(crl, issuer)
            };
            let fetched;
            let crl = match self.crls.iter().find(|crl| issued_by(crl)) {
                Some(crl) => Some(crl),
                None => {
                    fetched = self.fetch_crl(certificate, &issued_by, now);
                    fetched.as_ref()
                }
            };
            let Some(crl) = crl else {
                // No CRL: ask the OCSP responder the certificate names, if any.
                match self.ocsp(certificate, issuer, now) {
                    Some(super::ocsp::OcspVerdict::Good { produced_at }) => {
                        sources.push(format!(
                            "OCSP answer for \"{}\" of {produced_at}",
                            subject_text(certificate)
                        ));
                        continue;
                    }
                    Some(super::ocsp::OcspVerdict::Revoked { at: revoked_at })
                        if revoked_at <= at =>
                    {
                        return RevocationStatus::Revoked {
                            subject: subject_text(certificate),
                            revoked_at,
                        };
                    }
                    Some(super::ocsp::OcspVerdict::Revoked { at: revoked_at }) => {
                        sources.push(format!(
                            "\"{}\" was revoked on {revoked_at}, after the proven signing time (OCSP)",
                            subject_text(certificate)
                        ));
                        continue;
                    }
                    Some(super::ocsp::OcspVerdict::Unknown { reason }) => {
                        return RevocationStatus::Unknown {
                            reason: format!("OCSP for \"{}\": {reason}", subject_text(certificate)),
                        };
                    }
                    None => {
                        return RevocationStatus::Unknown {
                            reason: format!(
                                "no current CRL from \"{}\" is configured, cached or reachable, and no OCSP responder answered",
                                subject_text(issuer)
                            ),
                        };
                    }
                }
            };
            let next_update = crl.tbs_cert_list.next_update.map(to_offset);
            if next_update.is_some_and(|next| next < now) {
                return RevocationStatus::Unknown {
                    reason: format!(
                        "the CRL from \"{}\" is out of date (next update was due {})",
                        subject_text(issuer),
                        next_update.map(|next| next.to_string()).unwrap_or_default()
                    ),
                };
            }
            let revoked = crl
                .tbs_cert_list
                .revoked_certificates
                .iter()
                .flatten()
                .find(|entry| entry.serial_number == certificate.tbs_certificate.serial_number);
            if let Some(entry) = revoked {
                let revoked_at = to_offset(entry.revocation_date);
                if revoked_at <= at {
                    return RevocationStatus::Revoked {
                        subject: subject_text(certificate),
                        revoked_at,
                    };
                }
                // Revoked only after the signing time a timestamp proves: the signature
                // was made while the certificate was good.
                sources.push(format!(
                    "\"{}\" was revoked on {revoked_at}, after the proven signing time",
                    subject_text(certificate)
                ));
            }
            sources.push(format!(
                "CRL from \"{}\" of {}",
                subject_text(issuer),
                to_offset(crl.tbs_cert_list.this_update)
            ));
        }
        RevocationStatus::Good {
            source: sources.join("; "),
        }
    }
}

impl TrustStore {
    /// The first OCSP answer from the responders `certificate` names, through the source.
    fn ocsp(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        now: OffsetDateTime,
    ) -> Option<super::ocsp::OcspVerdict> {
        let source = self.source.as_ref()?;
        let id = super::ocsp::cert_id(certificate, issuer).ok()?;
        let request = super::ocsp::request(&id).ok()?;
        super::ocsp::responder_urls(certificate)
            .iter()
            .filter_map(|url| source.query_ocsp(url, &request))
            .map(|answer| super::ocsp::judge(&answer, &id, issuer, now))
            .next()
    }

    /// A current CRL from one of `certificate`'s distribution points, through the source.
    fn fetch_crl(
        &self,
        certificate: &Certificate,
        issued_by: &dyn Fn(&CertificateList) -> bool,
        now: OffsetDateTime,
    ) -> Option<CertificateList> {
        let source = self.source.as_ref()?;
        distribution_points(certificate)
            .iter()
            .filter_map(|url| source.fetch(url))
            .filter_map(|der| CertificateList::from_der(&der).ok())
            .find(|crl| {
                issued_by(crl)
                    && crl
                        .tbs_cert_list
                        .next_update
                        .is_none_or(|next| to_offset(next) >= now)
            })
    }
}

/// The `http(s)` URLs of a certificate's CRL distribution points.
pub fn distribution_points(certificate: &Certificate) -> Vec<String> {
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    use x509_cert::ext::pkix::CrlDistributionPoints;
    certificate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|extension| {
            extension.extn_id == const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS
        })
        .filter_map(|extension| {
            CrlDistributionPoints::from_der(extension.extn_value.as_bytes()).ok()
        })
        .flat_map(|points| points.0)
        .filter_map(|point| match point.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|name| match name {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            _ => None,
        })
        .filter(|uri| uri.starts_with("http://") || uri.starts_with("https://"))
        .collect()
}

fn load_crl(path: &Path) -> Result<CertificateList, TrustError> {
    let failed = |reason: String| TrustError::Crl {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|error| failed(error.to_string()))?;
    let der = if bytes.starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::from_pem_slice(&bytes)
            .map_err(|error| failed(error.to_string()))?
            .as_ref()
            .to_vec()
    } else {
        bytes
    };
    CertificateList::from_der(&der).map_err(|error| failed(error.to_string()))
}

fn to_offset(time: x509_cert::time::Time) -> OffsetDateTime {
    let seconds = i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The subject as text, `CN=..., O=...` as `x509-cert` prints it.
pub fn subject_text(certificate: &Certificate) -> String {
    certificate.tbs_certificate.subject.to_string()
}

fn valid_at(certificate: &Certificate, at: OffsetDateTime) -> Result<(), String> {
    let validity = &certificate.tbs_certificate.validity;
    let (not_before, not_after) = (
        to_offset(validity.not_before),
        to_offset(validity.not_after),
    );
    if at < not_before || at > not_after {
        return Err(format!(
            "\"{}\" is not valid at {at} (valid {not_before} to {not_after})",
            subject_text(certificate)
        ));
    }
    Ok(())
}

fn is_ca(certificate: &Certificate) -> bool {
    certificate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|extension| extension.extn_id == const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS)
        .any(|extension| {
            BasicConstraints::from_der(extension.extn_value.as_bytes())
                .is_ok_and(|constraints| constraints.ca)
        })
}

/// Whether `issuer`'s key signed `certificate`.
pub(crate) fn signed_by(certificate: &Certificate, issuer: &Certificate) -> bool {
    let Ok(tbs) = certificate.tbs_certificate.to_der() else {
        return false;
    };
    let Some(signature) = certificate.signature.as_bytes() else {
        return false;
    };
    verify_with(
        issuer,
        &certificate.signature_algorithm.oid,
        &tbs,
        signature,
    )
}

fn crl_signed_by(crl: &CertificateList, issuer: &Certificate) -> bool {
    let Ok(tbs) = crl.tbs_cert_list.to_der() else {
        return false;
    };
    let Some(signature) = crl.signature.as_bytes() else {
        return false;
    };
    verify_with(issuer, &crl.signature_algorithm.oid, &tbs, signature)
}

pub(crate) fn verify_with(
    issuer: &Certificate,
    algorithm: &der::asn1::ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> bool {
    use ring::signature as sig;
    let verification: &dyn sig::VerificationAlgorithm = match *algorithm {
        oid::SHA_256_WITH_RSA_ENCRYPTION => &sig::RSA_PKCS1_2048_8192_SHA256,
        const_oid::db::rfc5912::SHA_384_WITH_RSA_ENCRYPTION => &sig::RSA_PKCS1_2048_8192_SHA384,
        const_oid::db::rfc5912::SHA_512_WITH_RSA_ENCRYPTION => &sig::RSA_PKCS1_2048_8192_SHA512,
        oid::ECDSA_WITH_SHA_256 => &sig::ECDSA_P256_SHA256_ASN1,
        const_oid::db::rfc5912::ECDSA_WITH_SHA_384 => &sig::ECDSA_P384_SHA384_ASN1,
        _ => return false,
    };
    let Some(key) = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .as_bytes()
    else {
        return false;
    };
    sig::UnparsedPublicKey::new(verification, key)
        .verify(message, signature)
        .is_ok()
}
