//! PEM in and out for the enrolment protocol's certificates and requests (rustls's PEM
//! reader, der's PEM writer). Nothing else.

/// The first PEM block with `label` (`CERTIFICATE` or `CERTIFICATE REQUEST`), decoded.
pub fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer};
    match label {
        "CERTIFICATE" => CertificateDer::from_pem_slice(text.as_bytes())
            .ok()
            .map(|der| der.to_vec()),
        "CERTIFICATE REQUEST" => CertificateSigningRequestDer::from_pem_slice(text.as_bytes())
            .ok()
            .map(|der| der.as_ref().to_vec()),
        _ => None,
    }
}

/// DER as PEM.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}
