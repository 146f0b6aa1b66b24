//! HTTPS on the LAN side, when `[api] tls_certificate` and `tls_key` are set: the server
//! config of the local API, status page and clerk pages (TLS 1.2 and 1.3 only, no client
//! certificate: office software authenticates with its bearer token, clerks with their
//! login), and the client config `docgate status` uses to reach it — pinned to exactly the
//! configured certificate, since the console talks to `127.0.0.1`, a name no LAN
//! certificate is issued for. rustls with the `ring` provider only; owns no sockets.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::tls::{load_certificates, load_private_key, provider, TlsError};

/// The LAN server's config: the configured chain and key, HTTP/1.1.
pub fn lan_server_config(
    certificate_file: &Path,
    key_file: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            load_certificates(certificate_file)?,
            load_private_key(key_file)?,
        )
        .map_err(|error| TlsError::Config(format!("{}: {error}", certificate_file.display())))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client that accepts exactly the end-entity certificate in `certificate_file` (and
/// checks the handshake is signed by its key), whatever name it was dialled by.
pub fn pinned_client_config(certificate_file: &Path) -> Result<ClientConfig, TlsError> {
    let expected = load_certificates(certificate_file)?
        .into_iter()
        .next()
        .ok_or_else(|| TlsError::Empty {
            what: "certificate",
            path: certificate_file.to_path_buf(),
        })?;
    let provider = provider();
    let verifier = Arc::new(PinnedCertificate {
        expected,
        provider: provider.clone(),
    });
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Accepts one certificate, byte for byte; the signatures are checked by the provider.
#[derive(Debug)]
struct PinnedCertificate {
    expected: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the one in [api] tls_certificate".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
