//! Who signs: the [`DocumentSigner`] interface the CMS builder calls, the two key kinds we
//! sign with ([`SignatureAlgorithm`]), and [`KeyFileSigner`], a signer whose key is a PEM
//! file (leaders' stations without a token, tests, the demo). The token-backed signer sits
//! beside it once the token worker is wired in. Does not build CMS and does not verify.

use std::path::{Path, PathBuf};

use der::Decode;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use spki::AlgorithmIdentifierOwned;

use super::error::SignatureError;

/// The signature schemes documents are signed with (SHA-256 throughout, as the standard
/// asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256: what the Government Cipher Committee's tokens hold.
    RsaPkcs1Sha256,
    /// ECDSA on P-256 with SHA-256, DER-encoded signature values.
    EcdsaP256Sha256,
}

impl SignatureAlgorithm {
    /// The scheme a certificate's public key implies.
    pub fn of_certificate(certificate_der: &[u8]) -> Result<SignatureAlgorithm, SignatureError> {
        let certificate = x509_cert::Certificate::from_der(certificate_der)
            .map_err(|error| SignatureError::certificate("the signing certificate", error))?;
        let key = &certificate.tbs_certificate.subject_public_key_info;
        match key.algorithm.oid {
            oid::RSA_ENCRYPTION => Ok(SignatureAlgorithm::RsaPkcs1Sha256),
            oid::ID_EC_PUBLIC_KEY => {
                let curve = key.algorithm.parameters.as_ref().and_then(|parameters| {
                    parameters.decode_as::<der::asn1::ObjectIdentifier>().ok()
                });
                if curve == Some(oid::SECP_256_R_1) {
                    Ok(SignatureAlgorithm::EcdsaP256Sha256)
                } else {
                    Err(SignatureError::UnsupportedKey {
                        what: "an EC key on a curve other than P-256".into(),
                    })
                }
            }
            other => Err(SignatureError::UnsupportedKey {
                what: format!("a key of algorithm {other}"),
            }),
        }
    }

    /// The CMS `signatureAlgorithm` for this scheme.
    pub(crate) fn cms_identifier(self) -> AlgorithmIdentifierOwned {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => AlgorithmIdentifierOwned {
                oid: oid::SHA_256_WITH_RSA_ENCRYPTION,
                parameters: Some(der::asn1::Null.into()),
            },
            SignatureAlgorithm::EcdsaP256Sha256 => AlgorithmIdentifierOwned {
                oid: oid::ECDSA_WITH_SHA_256,
                parameters: None,
            },
        }
    }

    /// The `ring` verification algorithm for this scheme.
    pub(crate) fn verification(self) -> &'static dyn ring::signature::VerificationAlgorithm {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => &RSA_PKCS1_2048_8192_SHA256,
            SignatureAlgorithm::EcdsaP256Sha256 => &ECDSA_P256_SHA256_ASN1,
        }
    }
}

/// Something that can sign a document: a certificate chain and a private key operation.
/// Implementations may be slow (a token takes hundreds of milliseconds): call from a
/// blocking context.
pub trait DocumentSigner: Send + Sync {
    /// DER certificates, the signing certificate first, then any intermediates.
    fn chain(&self) -> &[CertificateDer<'static>];
    /// The scheme `sign` produces.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// Signs `message` (SHA-256 is applied by the signer): PKCS#1 v1.5 bytes for RSA, a
    /// DER `Ecdsa-Sig-Value` for ECDSA.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError>;
}

/// The private key of a key file.
enum FileKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A signer whose key and certificates come from one PEM file: a PKCS#8 `PRIVATE KEY`, then
/// the signing certificate, then any intermediates.
pub struct KeyFileSigner {
    key: FileKey,
    chain: Vec<CertificateDer<'static>>,
    algorithm: SignatureAlgorithm,
    path: PathBuf,
}

impl std::fmt::Debug for KeyFileSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KeyFileSigner")
            .field("path", &self.path)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl KeyFileSigner {
    /// Loads the key file and checks that its key matches its first certificate.
    pub fn load(path: &Path) -> Result<KeyFileSigner, SignatureError> {
        let unreadable = |reason: String| SignatureError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let key = PrivateKeyDer::from_pem_file(path)
            .map_err(|error| unreadable(format!("no PKCS#8 private key: {error}")))?;
        let PrivateKeyDer::Pkcs8(pkcs8) = key else {
            return Err(unreadable(
                "the private key is not PKCS#8 (convert it with `openssl pkcs8 -topk8 -nocrypt`)"
                    .into(),
            ));
        };
        let chain = CertificateDer::pem_file_iter(path)
            .map_err(|error| unreadable(format!("cannot read certificates: {error}")))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| unreadable(format!("cannot read certificates: {error}")))?;
        let Some(first) = chain.first() else {
            return Err(unreadable(
                "no CERTIFICATE block (the signing certificate must follow the key)".into(),
            ));
        };
        let algorithm = SignatureAlgorithm::of_certificate(first)?;
        let key = match algorithm {
            SignatureAlgorithm::RsaPkcs1Sha256 => RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der())
                .map(FileKey::Rsa)
                .map_err(|error| unreadable(format!("the RSA key is not usable: {error}")))?,
            SignatureAlgorithm::EcdsaP256Sha256 => EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_ASN1_SIGNING,
                pkcs8.secret_pkcs8_der(),
                &SystemRandom::new(),
            )
            .map(FileKey::Ecdsa)
            .map_err(|error| unreadable(format!("the EC key is not usable: {error}")))?,
        };
        let public_key = match &key {
            FileKey::Rsa(pair) => pair.public_key().as_ref().to_vec(),
            FileKey::Ecdsa(pair) => pair.public_key().as_ref().to_vec(),
        };
        if public_key != certificate_public_key(first)? {
            return Err(unreadable(
                "the private key does not belong to the first certificate".into(),
            ));
        }
        Ok(KeyFileSigner {
            key,
            chain,
            algorithm,
            path: path.to_path_buf(),
        })
    }
}

impl DocumentSigner for KeyFileSigner {
    fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let random = SystemRandom::new();
        match &self.key {
            FileKey::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &random, message, &mut signature)
                    .map_err(|_| SignatureError::Signing {
                        reason: format!("the RSA key in {} refused to sign", self.path.display()),
                    })?;
                Ok(signature)
            }
            FileKey::Ecdsa(pair) => pair
                .sign(&random, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| SignatureError::Signing {
                    reason: format!("the EC key in {} refused to sign", self.path.display()),
                }),
        }
    }
}

/// The raw public key of a certificate, in the form `ring` verifies with (the content of
/// the SubjectPublicKeyInfo bit string).
pub(crate) fn certificate_public_key(certificate_der: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let certificate = x509_cert::Certificate::from_der(certificate_der)
        .map_err(|error| SignatureError::certificate("a certificate", error))?;
    Ok(certificate
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec())
}

/// Object identifiers used across the signature module.
pub(crate) mod oid {
    use der::asn1::ObjectIdentifier;

    pub use const_oid::db::rfc5911::{
        ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
        ID_SIGNING_TIME,
    };
    pub use const_oid::db::rfc5912::{
        ECDSA_WITH_SHA_256, ID_EC_PUBLIC_KEY, ID_SHA_256, RSA_ENCRYPTION, SECP_256_R_1,
        SHA_256_WITH_RSA_ENCRYPTION,
    };

    /// id-aa-signatureTimeStampToken (RFC 3161 appendix A).
    pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
    /// id-ct-TSTInfo (RFC 3161).
    pub const ID_CT_TST_INFO: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
}

/// A signer whose key lives on the PKCS#11 token (the agency's seal in production). The
/// certificate is read from the token; intermediates may be added from a file.
pub struct TokenSigner {
    token: crate::token::Token,
    chain: Vec<CertificateDer<'static>>,
    algorithm: SignatureAlgorithm,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenSigner")
            .field("token", &self.token)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// Reads the certificate from a ready token and appends `intermediates`.
    pub fn new(
        token: crate::token::Token,
        intermediates: Vec<CertificateDer<'static>>,
    ) -> Result<TokenSigner, SignatureError> {
        let certificate = token
            .certificate()
            .map_err(|error| SignatureError::Signing {
                reason: error.to_string(),
            })?;
        let algorithm = SignatureAlgorithm::of_certificate(&certificate)?;
        let mut chain = vec![CertificateDer::from(certificate)];
        chain.extend(intermediates);
        Ok(TokenSigner {
            token,
            chain,
            algorithm,
        })
    }

    pub fn token(&self) -> &crate::token::Token {
        &self.token
    }
}

impl DocumentSigner for TokenSigner {
    fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        self.token
            .sign(message)
            .map_err(|error| SignatureError::Token(error.to_string()))
    }
}
