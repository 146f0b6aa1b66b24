//! TLS for the dedicated network, with rustls and the `ring` provider only: loading PEM
//! files, the axis's server config (mutual TLS: a client certificate issued under the
//! configured CA is required, checked against CRLs when given), the gateway's client config
//! (the axis's CA as the only root, its own certificate for client auth), and reading the
//! identity out of a peer certificate. Owns no sockets and no policy about who may do what.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// Why TLS material could not be used. Each names the file and what to check.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}: {reason}; check the path and its PEM content")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{path} holds no {what}")]
    Empty { what: &'static str, path: PathBuf },
    #[error("the TLS settings were refused: {0}")]
    Config(String),
}

/// The one crypto provider (`ring`).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file, in order.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|error| read_error("certificates", path, error))?
        .collect::<Result<_, _>>()
        .map_err(|error| read_error("certificates", path, error))?;
    if certificates.is_empty() {
        return Err(TlsError::Empty {
            what: "certificate",
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| read_error("a private key", path, error))
}

fn load_crls(paths: &[PathBuf]) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let mut crls = Vec::new();
    for path in paths {
        for crl in CertificateRevocationListDer::pem_file_iter(path)
            .map_err(|error| read_error("CRLs", path, error))?
        {
            crls.push(crl.map_err(|error| read_error("CRLs", path, error))?);
        }
    }
    Ok(crls)
}

fn roots(ca_file: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in load_certificates(ca_file)? {
        roots
            .add(certificate)
            .map_err(|error| read_error("a CA certificate", ca_file, error))?;
    }
    Ok(roots)
}

/// The axis's server config: its certificate chain and key; clients must present a
/// certificate chaining to `client_ca_file`, valid now, and not on any of `crl_files`.
/// With `allow_anonymous`, a client may also present none (a box that has not enrolled
/// yet); a certificate it does present is still checked in full.
pub fn server_config(
    certificate_file: &Path,
    key_file: &Path,
    client_ca_file: &Path,
    crl_files: &[PathBuf],
    allow_anonymous: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let builder = WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(client_ca_file)?),
        provider.clone(),
    )
    .with_crls(load_crls(crl_files)?);
    let builder = if allow_anonymous {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    let verifier = builder
        .build()
        .map_err(|error| TlsError::Config(error.to_string()))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            load_certificates(certificate_file)?,
            load_private_key(key_file)?,
        )
        .map_err(|error| TlsError::Config(format!("{}: {error}", certificate_file.display())))?;
    Ok(Arc::new(config))
}

/// The link's client certificate and key, replaceable while the link runs: a renewed
/// certificate is presented from the next handshake on, and connections already open keep
/// the one they began with (the axis accepts both until the following renewal), so a
/// renewal never drops the link.
pub struct LinkIdentity(std::sync::RwLock<Arc<CertifiedKey>>);

impl std::fmt::Debug for LinkIdentity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LinkIdentity")
            .finish_non_exhaustive()
    }
}

impl LinkIdentity {
    /// Presents `certified` until replaced.
    pub fn new(certified: CertifiedKey) -> Arc<LinkIdentity> {
        Arc::new(LinkIdentity(std::sync::RwLock::new(Arc::new(certified))))
    }

    /// The certificate chain in `certificate_file` with the key in `key_file` (PEM).
    pub fn from_files(certificate_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsError> {
        let chain = load_certificates(certificate_file)?;
        let key = provider()
            .key_provider
            .load_private_key(load_private_key(key_file)?)
            .map_err(|error| read_error("a usable private key", key_file, error))?;
        let certified = CertifiedKey::new(chain, key);
        certified.keys_match().map_err(|error| {
            TlsError::Config(format!("{}: {error}", certificate_file.display()))
        })?;
        Ok(certified)
    }

    /// From the next handshake on, presents `certified`.
    pub fn replace(&self, certified: CertifiedKey) {
        let mut current = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = Arc::new(certified);
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl rustls::client::ResolvesClientCert for LinkIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The gateway's client config: trusts only `server_ca_file`, presents its certificate.
pub fn client_config(
    server_ca_file: &Path,
    certificate_file: &Path,
    key_file: &Path,
) -> Result<ClientConfig, TlsError> {
    let identity = LinkIdentity::new(LinkIdentity::from_files(certificate_file, key_file)?);
    client_config_with_identity(server_ca_file, identity, false)
}

/// A client key held outside the process's memory (on the token).
#[derive(Debug, Clone)]
pub struct ExternalKey {
    pub key: Arc<dyn rustls::sign::SigningKey>,
    /// Limit the link to TLS 1.2 (an RSA key without RSA-PSS).
    pub tls12_only: bool,
}

/// The client config of the axis link: trusts only `server_ca_file` and presents what
/// `identity` holds at each handshake. `tls12_only` limits the versions (an RSA key on a
/// token without RSA-PSS).
pub fn client_config_with_identity(
    server_ca_file: &Path,
    identity: Arc<LinkIdentity>,
    tls12_only: bool,
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots(server_ca_file)?),
        provider.clone(),
    )
    .build()
    .map_err(|error| TlsError::Config(error.to_string()))?;
    let builder = ClientConfig::builder_with_provider(provider);
    let builder = if tls12_only {
        builder.with_protocol_versions(&[&rustls::version::TLS12])
    } else {
        builder.with_safe_default_protocol_versions()
    }
    .map_err(|error| TlsError::Config(error.to_string()))?;
    Ok(builder
        .with_webpki_verifier(verifier)
        .with_client_cert_resolver(identity))
}

/// The subject common name of a DER certificate: the system id a gateway's certificate
/// is issued for.
pub fn certificate_common_name(der: &[u8]) -> Option<String> {
    use x509_cert::der::Decode;
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    certificate
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|set| set.0.iter())
        .find(|attribute| attribute.oid == const_oid::db::rfc4519::CN)
        .and_then(|attribute| directory_string(&attribute.value))
}

/// A directory string as text (UTF8String, PrintableString or IA5String).
pub fn directory_string(value: &x509_cert::der::Any) -> Option<String> {
    use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
    value
        .decode_as::<Utf8StringRef<'_>>()
        .map(|text| text.as_str().to_owned())
        .or_else(|_| {
            value
                .decode_as::<PrintableStringRef<'_>>()
                .map(|text| text.as_str().to_owned())
        })
        .or_else(|_| {
            value
                .decode_as::<Ia5StringRef<'_>>()
                .map(|text| text.as_str().to_owned())
        })
        .ok()
}

fn read_error(what: &'static str, path: &Path, error: impl std::fmt::Display) -> TlsError {
    TlsError::Read {
        what,
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}
