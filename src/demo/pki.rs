//! A throw-away test PKI (rcgen, `ring`), for the demo and the tests: a CA, a server
//! certificate for the axis, client certificates for gateways (the common name is the
//! system id), and the odd ones the security tests need (expired, from another CA). Every
//! key is generated fresh and written with mode 0600. Never for production: provincial IT
//! issues the real certificates (see `docgate enroll`, a later issue).

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// Why the test PKI could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate a test certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot encode a certificate extension: {0}")]
    Encode(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A certificate and key written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// Where a certificate says its revocation can be checked.
struct RevocationLocations<'a> {
    crl_url: Option<&'a str>,
    ocsp_url: Option<&'a str>,
}

/// A document signer's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerFiles {
    pub issued: IssuedFiles,
    /// Key, certificate and CA in one PEM file (`docgate sign --key-file`).
    pub key_file: PathBuf,
    pub serial: u64,
}

/// A test certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Where its own certificate is written.
    pub certificate: PathBuf,
}

impl TestCa {
    /// Makes a CA named `name` and writes its certificate to `dir/{stem}.pem`.
    pub fn create(name: &str, dir: &Path, stem: &str) -> Result<TestCa, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = distinguished_name(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let certificate = dir.join(format!("{stem}.pem"));
        write_file(&certificate, issuer.pem().as_bytes(), 0o644)?;
        Ok(TestCa {
            issuer,
            certificate,
        })
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn issue_server(
        &self,
        name: &str,
        dir: &Path,
        stem: &str,
    ) -> Result<IssuedFiles, PkiError> {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params.distinguished_name = distinguished_name(name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, dir, stem, None)
    }

    /// A client certificate whose common name is `system_id`. `validity` overrides the
    /// default (yesterday to a year ahead), e.g. to make an expired one.
    pub fn issue_client(
        &self,
        system_id: &str,
        dir: &Path,
        stem: &str,
        validity: Option<(OffsetDateTime, OffsetDateTime)>,
    ) -> Result<IssuedFiles, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = distinguished_name(system_id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, dir, stem, validity)
    }

    /// Like [`TestCa::issue_client`], with the given serial, so a CRL can name it.
    pub fn issue_client_with_serial(
        &self,
        system_id: &str,
        serial: u64,
        dir: &Path,
        stem: &str,
    ) -> Result<IssuedFiles, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = distinguished_name(system_id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        self.issue(params, dir, stem, None)
    }

    /// A document-signing certificate (a leader's personal one, or the agency's seal) with
    /// the given serial, so a CRL can name it. Writes `{stem}.pem`, `{stem}.key`, and the
    /// key file `docgate sign --key-file` reads: `{stem}.signer.pem` (key, certificate, CA).
    pub fn issue_document_signer(
        &self,
        common_name: &str,
        organization: &str,
        serial: u64,
        dir: &Path,
        stem: &str,
    ) -> Result<SignerFiles, PkiError> {
        self.issue_document_signer_with_crl(common_name, organization, serial, dir, stem, None)
    }

    /// Like [`TestCa::issue_document_signer`], naming `crl_url` as the certificate's CRL
    /// distribution point.
    pub fn issue_document_signer_with_crl(
        &self,
        common_name: &str,
        organization: &str,
        serial: u64,
        dir: &Path,
        stem: &str,
        crl_url: Option<&str>,
    ) -> Result<SignerFiles, PkiError> {
        let locations = RevocationLocations {
            crl_url,
            ocsp_url: None,
        };
        self.issue_signer(common_name, organization, serial, dir, stem, locations)
    }

    /// Like [`TestCa::issue_document_signer`], naming `ocsp_url` as its OCSP responder
    /// (Authority Information Access) and no CRL.
    pub fn issue_document_signer_with_ocsp(
        &self,
        common_name: &str,
        organization: &str,
        serial: u64,
        dir: &Path,
        stem: &str,
        ocsp_url: &str,
    ) -> Result<SignerFiles, PkiError> {
        let locations = RevocationLocations {
            crl_url: None,
            ocsp_url: Some(ocsp_url),
        };
        self.issue_signer(common_name, organization, serial, dir, stem, locations)
    }

    /// Writes the CA's private key (PEM, mode 0600): for a test OCSP responder that signs
    /// as the CA.
    pub fn write_key(&self, path: &Path) -> Result<(), PkiError> {
        write_file(path, self.issuer.key().serialize_pem().as_bytes(), 0o600)
    }

    fn issue_signer(
        &self,
        common_name: &str,
        organization: &str,
        serial: u64,
        dir: &Path,
        stem: &str,
        locations: RevocationLocations<'_>,
    ) -> Result<SignerFiles, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        if let Some(url) = locations.ocsp_url {
            use der::Encode;
            use x509_cert::ext::pkix::name::GeneralName;
            use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
            let uri = der::asn1::Ia5String::new(url)
                .map_err(|error| PkiError::Encode(error.to_string()))?;
            let access = AuthorityInfoAccessSyntax(vec![AccessDescription {
                access_method: const_oid::db::rfc5280::ID_AD_OCSP,
                access_location: GeneralName::UniformResourceIdentifier(uri),
            }])
            .to_der()
            .map_err(|error| PkiError::Encode(error.to_string()))?;
            params
                .custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                    access,
                ));
        }
        if let Some(url) = locations.crl_url {
            params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
                uris: vec![url.to_owned()],
            }];
        }
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        name.push(DnType::OrganizationName, organization);
        params.distinguished_name = name;
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
        let issued = self.issue(params, dir, stem, None)?;
        let key_file = dir.join(format!("{stem}.signer.pem"));
        let bundle = [&issued.key, &issued.certificate, &self.certificate]
            .iter()
            .map(|path| {
                std::fs::read_to_string(path).map_err(|source| PkiError::Write {
                    path: path.to_path_buf(),
                    source,
                })
            })
            .collect::<Result<String, PkiError>>()?;
        write_file(&key_file, bundle.as_bytes(), 0o600)?;
        Ok(SignerFiles {
            issued,
            key_file,
            serial,
        })
    }

    /// A timestamp authority's certificate (extended key usage timeStamping, critical, as
    /// RFC 3161 and `openssl ts` require).
    pub fn issue_timestamping(&self, dir: &Path, stem: &str) -> Result<IssuedFiles, PkiError> {
        use der::Encode;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = distinguished_name("docgate test timestamp authority");
        let usage = x509_cert::ext::pkix::ExtendedKeyUsage(vec![
            const_oid::db::rfc5912::ID_KP_TIME_STAMPING,
        ])
        .to_der()
        .map_err(|error| PkiError::Encode(error.to_string()))?;
        let mut extension = rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 37], usage);
        extension.set_criticality(true);
        params.custom_extensions = vec![extension];
        self.issue(params, dir, stem, None)
    }

    /// A CRL naming `revoked` serials (revoked an hour ago), valid for a week, written to
    /// `dir/{stem}.pem`.
    pub fn revocation_list(
        &self,
        revoked: &[u64],
        dir: &Path,
        stem: &str,
    ) -> Result<PathBuf, PkiError> {
        let now = OffsetDateTime::now_utc();
        let params = rcgen::CertificateRevocationListParams {
            this_update: now - Duration::hours(2),
            next_update: now + Duration::days(7),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|serial| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(*serial),
                    revocation_time: now - Duration::hours(1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer)?;
        let path = dir.join(format!("{stem}.pem"));
        write_file(&path, crl.pem()?.as_bytes(), 0o644)?;
        Ok(path)
    }

    fn issue(
        &self,
        mut params: CertificateParams,
        dir: &Path,
        stem: &str,
        validity: Option<(OffsetDateTime, OffsetDateTime)>,
    ) -> Result<IssuedFiles, PkiError> {
        let now = OffsetDateTime::now_utc();
        let (not_before, not_after) =
            validity.unwrap_or((now - Duration::days(1), now + Duration::days(365)));
        params.not_before = not_before;
        params.not_after = not_after;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        let files = IssuedFiles {
            certificate: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
        };
        write_file(&files.certificate, certificate.pem().as_bytes(), 0o644)?;
        write_file(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
        Ok(files)
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "docgate test PKI");
    name
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.sync_all().map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::tls;

    #[test]
    fn issued_certificates_load_into_rustls_configs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::create("Test CA", dir.path(), "ca").expect("ca");
        let server = ca.issue_server("axis", dir.path(), "axis").expect("server");
        let client = ca
            .issue_client("001.01.10.H41", dir.path(), "gw", None)
            .expect("client");
        tls::server_config(
            &server.certificate,
            &server.key,
            &ca.certificate,
            &[],
            false,
        )
        .expect("server config");
        tls::client_config(&ca.certificate, &client.certificate, &client.key)
            .expect("client config");
        let der = tls::load_certificates(&client.certificate).expect("load");
        assert_eq!(
            tls::certificate_common_name(&der[0]).as_deref(),
            Some("001.01.10.H41")
        );
    }
}
