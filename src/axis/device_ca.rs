//! The provincial device CA: the axis issues each enrolled box's link certificate from a
//! PKCS#10 request, and signs configuration bundles, with the key of the CA its mutual TLS
//! already trusts for clients (`[tls] client_ca`).
//!
//! Owns reading the CA (certificate + PKCS#8 key file, checked to match), checking a CSR's
//! self-signature, and issuing: the subject is decided here (CN = the system id, O = the
//! agency's name), never taken from the request; only the request's public key is used.
//! ASN.1 goes through the RustCrypto `x509-cert` types; rcgen writes the certificate;
//! ring checks and signs. Never stores anything and never decides who may enrol.

use std::path::Path;
use std::time::Duration;

use der::{Decode, Encode};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, SigningKey,
};
use time::OffsetDateTime;
use x509_cert::request::CertReq;

pub use crate::provisioning::pem::{pem_block, pem_encode};

/// Why the device CA cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceCaError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {problem}")]
    Unusable { path: String, problem: String },
}

/// Why a certificate request was refused.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("the certificate request is not PEM/PKCS#10: {0}")]
    Malformed(String),
    #[error("the certificate request's signature does not verify (the key does not match)")]
    BadSignature,
    #[error("the certificate request's key is {0}; use ECDSA P-256/P-384, RSA 2048+ or Ed25519")]
    UnsupportedKey(String),
    #[error("cannot issue the certificate: {0}")]
    Issue(String),
}

/// A certificate the CA issued.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub pem: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    pub not_after: OffsetDateTime,
}

/// The loaded device CA.
pub struct DeviceCa {
    ca_der: Vec<u8>,
    ca_pem: String,
    issuer: rcgen::Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for DeviceCa {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DeviceCa")
            .field("fingerprint", &hex::encode(self.fingerprint()))
            .finish_non_exhaustive()
    }
}

/// The public key of a request, as rcgen writes it into the certificate.
struct RequestedKey {
    raw: Vec<u8>,
    algorithm: &'static rcgen::SignatureAlgorithm,
}

impl rcgen::PublicKeyData for RequestedKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.algorithm
    }
}

fn unusable(path: &Path, problem: impl Into<String>) -> DeviceCaError {
    DeviceCaError::Unusable {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// The rcgen algorithm and ring verifier for a public key.
fn key_algorithms(
    spki: &spki::SubjectPublicKeyInfoOwned,
) -> Option<(
    &'static rcgen::SignatureAlgorithm,
    &'static dyn ring::signature::VerificationAlgorithm,
)> {
    use crate::provisioning::key_kind::KeyKind;
    use ring::signature as sig;
    match KeyKind::of(spki)? {
        KeyKind::EcdsaP256 => Some((&rcgen::PKCS_ECDSA_P256_SHA256, &sig::ECDSA_P256_SHA256_ASN1)),
        KeyKind::EcdsaP384 => Some((&rcgen::PKCS_ECDSA_P384_SHA384, &sig::ECDSA_P384_SHA384_ASN1)),
        KeyKind::Rsa => Some((&rcgen::PKCS_RSA_SHA256, &sig::RSA_PKCS1_2048_8192_SHA256)),
        KeyKind::Ed25519 => Some((&rcgen::PKCS_ED25519, &sig::ED25519)),
    }
}

/// The ring verifier for a signature algorithm identifier of a request.
fn signature_verifier(
    oid: der::asn1::ObjectIdentifier,
) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
    use const_oid::db::rfc5912;
    use ring::signature as sig;
    match oid {
        rfc5912::ECDSA_WITH_SHA_256 => Some(&sig::ECDSA_P256_SHA256_ASN1),
        rfc5912::ECDSA_WITH_SHA_384 => Some(&sig::ECDSA_P384_SHA384_ASN1),
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => Some(&sig::RSA_PKCS1_2048_8192_SHA256),
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION => Some(&sig::RSA_PKCS1_2048_8192_SHA384),
        const_oid::db::rfc8410::ID_ED_25519 => Some(&sig::ED25519),
        _ => None,
    }
}

/// The CA's subject as rcgen writes an issuer name: each attribute with its own OID and
/// string type, in order, so the issued certificate's issuer equals the CA's subject byte
/// for byte (chain building compares them).
fn issuer_name(subject: &x509_cert::name::Name) -> Result<DistinguishedName, String> {
    use der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
    let mut name = DistinguishedName::new();
    for set in subject.0.iter() {
        for attribute in set.0.iter() {
            let arcs = attribute.oid.arcs().map(u64::from).collect();
            let value = &attribute.value;
            let value = if let Ok(text) = value.decode_as::<Utf8StringRef<'_>>() {
                DnValue::Utf8String(text.as_str().to_owned())
            } else if let Ok(text) = value.decode_as::<PrintableStringRef<'_>>() {
                DnValue::PrintableString(
                    text.as_str()
                        .try_into()
                        .map_err(|_| "a PrintableString".to_owned())?,
                )
            } else if let Ok(text) = value.decode_as::<Ia5StringRef<'_>>() {
                DnValue::Ia5String(
                    text.as_str()
                        .try_into()
                        .map_err(|_| "an IA5String".to_owned())?,
                )
            } else {
                return Err(format!(
                    "the subject attribute {} is not a string",
                    attribute.oid
                ));
            };
            name.push(DnType::CustomDnType(arcs), value);
        }
    }
    Ok(name)
}

/// The CA certificate's subject key identifier, so issued certificates name it as their
/// authority key identifier.
fn subject_key_identifier(certificate: &x509_cert::Certificate) -> Option<Vec<u8>> {
    use x509_cert::ext::pkix::SubjectKeyIdentifier;
    certificate
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|extension| extension.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)
        .and_then(|extension| SubjectKeyIdentifier::from_der(extension.extn_value.as_bytes()).ok())
        .map(|identifier| identifier.0.as_bytes().to_vec())
}

impl DeviceCa {
    /// Reads the CA certificate (PEM) and its PKCS#8 key (PEM) and checks they match.
    pub fn load(certificate_file: &Path, key_file: &Path) -> Result<DeviceCa, DeviceCaError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|error| DeviceCaError::Read {
                path: path.display().to_string(),
                error,
            })
        };
        let ca_text = read(certificate_file)?;
        let block = pem_block(&ca_text, "CERTIFICATE")
            .ok_or_else(|| unusable(certificate_file, "holds no PEM CERTIFICATE"))?;
        let certificate = x509_cert::Certificate::from_der(&block)
            .map_err(|error| unusable(certificate_file, error.to_string()))?;
        let key = KeyPair::from_pem(&read(key_file)?)
            .map_err(|error| unusable(key_file, format!("not a PKCS#8 key: {error}")))?;
        let spki = &certificate.tbs_certificate.subject_public_key_info;
        if spki.subject_public_key.as_bytes() != Some(key.public_key_raw()) {
            return Err(unusable(
                key_file,
                format!("is not the key of {}", certificate_file.display()),
            ));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = issuer_name(&certificate.tbs_certificate.subject)
            .map_err(|problem| unusable(certificate_file, problem))?;
        if let Some(identifier) = subject_key_identifier(&certificate) {
            params.key_identifier_method = KeyIdMethod::PreSpecified(identifier);
        }
        let ca_pem = pem_encode("CERTIFICATE", &block);
        Ok(DeviceCa {
            ca_der: block,
            ca_pem,
            issuer: rcgen::Issuer::new(params, key),
        })
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The CA certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.ca_pem
    }

    /// SHA-256 of the CA certificate: what an enrolment code pins.
    pub fn fingerprint(&self) -> [u8; 32] {
        crate::provisioning::code::fingerprint(&self.ca_der)
    }

    /// Signs `bytes` with the CA key (configuration bundles).
    pub fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        self.issuer
            .key()
            .sign(bytes)
            .map_err(|error| error.to_string())
    }

    /// Issues a client certificate for `system_id` of `agency_name`, valid `lifetime` from
    /// `now`, for the public key of `csr_pem` once its self-signature holds.
    pub fn issue(
        &self,
        csr_pem: &str,
        system_id: &str,
        agency_name: &str,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<IssuedCertificate, CsrError> {
        let key = checked_request_key(csr_pem)?;
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, system_id);
        subject.push(DnType::OrganizationName, agency_name);
        params.distinguished_name = subject;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let mut serial = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
            .map_err(|_| CsrError::Issue("the random source failed".into()))?;
        serial[0] &= 0x7f;
        serial[0] |= 0x40;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let not_after = now + lifetime;
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = not_after;
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(|error| CsrError::Issue(error.to_string()))?;
        Ok(IssuedCertificate {
            pem: certificate.pem(),
            serial: hex::encode(serial),
            not_after,
        })
    }
}

/// The key of a request whose self-signature holds.
fn checked_request_key(csr_pem: &str) -> Result<RequestedKey, CsrError> {
    let der = pem_block(csr_pem, "CERTIFICATE REQUEST")
        .ok_or_else(|| CsrError::Malformed("no PEM CERTIFICATE REQUEST block".into()))?;
    let request =
        CertReq::from_der(&der).map_err(|error| CsrError::Malformed(error.to_string()))?;
    let info = request
        .info
        .to_der()
        .map_err(|error| CsrError::Malformed(error.to_string()))?;
    // ring refuses a key that does not fit the stated algorithm (an RSA key under ECDSA,
    // a P-256 key under P-384), so the stated algorithm is checked by verifying with it.
    let (algorithm, _) = key_algorithms(&request.info.public_key).ok_or_else(|| {
        CsrError::UnsupportedKey(request.info.public_key.algorithm.oid.to_string())
    })?;
    let signed_with = signature_verifier(request.algorithm.oid)
        .ok_or_else(|| CsrError::UnsupportedKey(request.algorithm.oid.to_string()))?;
    let raw = request
        .info
        .public_key
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| CsrError::Malformed("the public key is not whole bytes".into()))?
        .to_vec();
    let signature = request
        .signature
        .as_bytes()
        .ok_or_else(|| CsrError::Malformed("the signature is not whole bytes".into()))?;
    ring::signature::UnparsedPublicKey::new(signed_with, &raw)
        .verify(&info, signature)
        .map_err(|_| CsrError::BadSignature)?;
    Ok(RequestedKey { raw, algorithm })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(dir: &Path) -> DeviceCa {
        let test_ca = crate::demo::pki::TestCa::create("Device CA Tỉnh", dir, "ca").expect("ca");
        test_ca.write_key(&dir.join("ca.key")).expect("key");
        DeviceCa::load(&dir.join("ca.pem"), &dir.join("ca.key")).expect("load")
    }

    fn request(key: &KeyPair, cn: &str) -> String {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .serialize_request(key)
            .expect("csr")
            .pem()
            .expect("pem")
    }

    #[test]
    fn an_issued_certificate_chains_to_the_ca_for_openssl_and_names_the_system() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = ca(dir.path());
        let key = KeyPair::generate().expect("key");
        let now = OffsetDateTime::now_utc();
        let issued = ca
            .issue(
                &request(&key, "what the box asked for"),
                "000.01.10.H41",
                "UBND xã Thử Nghiệm",
                now,
                Duration::from_secs(86_400),
            )
            .expect("issue");
        std::fs::write(dir.path().join("leaf.pem"), &issued.pem).expect("write");
        let verify = std::process::Command::new("openssl")
            .args(["verify", "-purpose", "sslclient", "-CAfile"])
            .arg(dir.path().join("ca.pem"))
            .arg(dir.path().join("leaf.pem"))
            .output()
            .expect("openssl");
        assert!(
            verify.status.success(),
            "{}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        let der = pem_block(&issued.pem, "CERTIFICATE").expect("der");
        assert_eq!(
            crate::system::tls::certificate_common_name(&der).as_deref(),
            Some("000.01.10.H41"),
            "the subject is the axis's decision, not the request's"
        );
        assert_eq!(issued.serial.len(), 32);
        assert!(issued.not_after > now);
    }

    #[test]
    fn a_tampered_or_foreign_request_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = ca(dir.path());
        let now = OffsetDateTime::now_utc();
        let lifetime = Duration::from_secs(60);
        let issue = |pem: &str| ca.issue(pem, "x", "y", now, lifetime);
        assert!(matches!(issue("not pem"), Err(CsrError::Malformed(_))));
        let good = request(&KeyPair::generate().expect("key"), "box");
        let der = pem_block(&good, "CERTIFICATE REQUEST").expect("der");
        let mut tampered = der.clone();
        // Flip a byte inside the subject (the CN's last character).
        let at = tampered
            .windows(3)
            .position(|window| window == b"box")
            .expect("cn");
        tampered[at] ^= 0x01;
        assert!(matches!(
            issue(&pem_encode("CERTIFICATE REQUEST", &tampered)),
            Err(CsrError::BadSignature)
        ));
        let mut truncated = der;
        truncated.truncate(truncated.len() / 2);
        assert!(matches!(
            issue(&pem_encode("CERTIFICATE REQUEST", &truncated)),
            Err(CsrError::Malformed(_))
        ));
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        crate::demo::pki::TestCa::create("A", dir.path(), "a").expect("a");
        let other = crate::demo::pki::TestCa::create("B", dir.path(), "b").expect("b");
        other.write_key(&dir.path().join("b.key")).expect("key");
        let error = DeviceCa::load(&dir.path().join("a.pem"), &dir.path().join("b.key"))
            .expect_err("mismatch");
        assert!(error.to_string().contains("is not the key of"), "{error}");
    }

    #[test]
    fn bundles_signed_by_the_ca_verify_with_its_certificate() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = ca(dir.path());
        let bundle = crate::provisioning::bundle::tests::sample(1, "000.01.10.H41");
        let signed =
            crate::provisioning::SignedBundle::sign(&bundle, ca.certificate_der(), |bytes| {
                ca.sign(bytes)
            })
            .expect("sign");
        assert_eq!(signed.verify(ca.certificate_der()), Ok(bundle));
    }
}
