//! The token's key as a rustls client key, for the mutual-TLS link to the axis: the
//! handshake's signature is made by the token worker, so the private key never leaves the
//! token. EC P-256 keys sign `ecdsa_secp256r1_sha256` (TLS 1.2 and 1.3); RSA keys sign
//! `rsa_pkcs1_sha256`, which TLS 1.3 does not allow for handshakes (it wants RSA-PSS, which
//! this worker does not offer), so an RSA link key needs TLS 1.2 ([`TokenTlsKey::tls12_only`]).
//!
//! A signature blocks the calling thread for one token operation (milliseconds on SoftHSM,
//! up to hundreds on a USB token), once per new connection; the link keeps its connections
//! alive, so this is rare. Owns only the adapter; never sees the PIN.

use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use super::handle::Token;
use super::status::KeyKind;

/// Why the link certificate cannot go with a key on the token.
#[derive(Debug, thiserror::Error)]
#[error("the link certificate cannot be used with a key on the token: {0}")]
pub struct TlsKeyError(String);

/// A rustls signing key backed by the token worker.
#[derive(Debug, Clone)]
pub struct TokenTlsKey {
    token: Token,
    scheme: SignatureScheme,
    algorithm: SignatureAlgorithm,
}

impl TokenTlsKey {
    /// Wraps the token's key whose certificate is `certificate_der` (the link certificate,
    /// from its file). The token need not be ready yet: until it is, handshakes fail and the
    /// link retries. A key with no certificate object on the token (one made by
    /// `generate_link_key`) needs its worker started with `certificate_on_token` off
    /// ([`link_key_config`](super::link_key_config)), or the worker waits for one.
    pub fn new(token: Token, certificate_der: &[u8]) -> Result<TokenTlsKey, TlsKeyError> {
        use der::Decode;
        let certificate = x509_cert::Certificate::from_der(certificate_der)
            .map_err(|error| TlsKeyError(format!("it is unreadable: {error}")))?;
        let algorithm = certificate
            .tbs_certificate
            .subject_public_key_info
            .algorithm
            .oid;
        let (scheme, algorithm) = if algorithm == const_oid::db::rfc5912::ID_EC_PUBLIC_KEY {
            (
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SignatureAlgorithm::ECDSA,
            )
        } else if algorithm == const_oid::db::rfc5912::RSA_ENCRYPTION {
            (SignatureScheme::RSA_PKCS1_SHA256, SignatureAlgorithm::RSA)
        } else {
            return Err(TlsKeyError(format!(
                "its key is of algorithm {algorithm}; use EC P-256 or RSA"
            )));
        };
        Ok(TokenTlsKey {
            token,
            scheme,
            algorithm,
        })
    }

    /// Whether the link must be limited to TLS 1.2 (an RSA key: see the module comment).
    pub fn tls12_only(&self) -> bool {
        self.algorithm == SignatureAlgorithm::RSA
    }
}

impl SigningKey for TokenTlsKey {
    /// Offers the certificate's scheme whenever the server accepts it, ready token or not:
    /// a token that is not ready (or holds a key of another kind) fails the signature, so
    /// the handshake fails and the link retries. Declining here instead would make rustls
    /// send no certificate at all, and the axis would accept that connection as one
    /// without a client certificate — which the HTTP client then keeps and reuses.
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered.contains(&self.scheme).then(|| {
            Box::new(TokenTlsSigner {
                token: self.token.clone(),
                scheme: self.scheme,
                algorithm: self.algorithm,
            }) as Box<dyn Signer>
        })
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }
}

#[derive(Debug)]
struct TokenTlsSigner {
    token: Token,
    scheme: SignatureScheme,
    algorithm: SignatureAlgorithm,
}

impl TokenTlsSigner {
    /// Whether the token's key is of the certificate's kind (an error when it is not ready).
    fn check_key(&self) -> Result<(), rustls::Error> {
        let matches = match self.token.key_kind() {
            Ok(KeyKind::EcP256) => self.algorithm == SignatureAlgorithm::ECDSA,
            Ok(KeyKind::Rsa { .. }) => self.algorithm == SignatureAlgorithm::RSA,
            Err(error) => {
                tracing::warn!(%error, error_kind = "token", "the link key on the token is not available");
                return Err(rustls::Error::General(format!(
                    "the link key on the token is not available: {error}"
                )));
            }
        };
        if matches {
            Ok(())
        } else {
            Err(rustls::Error::General(
                "the link key on the token is not of the link certificate's kind".into(),
            ))
        }
    }
}

impl Signer for TokenTlsSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.check_key()?;
        // The worker hashes with SHA-256 and returns PKCS#1 v1.5 or a DER ECDSA signature:
        // exactly what these two schemes carry.
        self.token
            .sign(message)
            .map_err(|error| rustls::Error::General(format!("the link key on the token: {error}")))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}
