//! Revocation data over HTTP: OCSP answers from the responders certificates name (not
//! cached: each is short-lived), and CRLs fetched from the distribution points they name,
//! cached: in memory and
//! under a directory (the gateway's `state_dir/crl-cache/`), one file per URL, reused until
//! the CRL's `nextUpdate`. A CRL that cannot be fetched and has no current cached copy
//! gives nothing, and revocation is then reported "unknown" by `trust`.
//!
//! Blocking by design (`trust` is called from blocking threads): the HTTP request runs on
//! the runtime whose handle was given, with a timeout and a size limit. Does not judge
//! CRLs (signature, issuer, freshness are `trust`'s); only keeps bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use der::Decode;
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;

use super::trust::RevocationSource;

/// Largest CRL accepted.
const MAX_CRL_BYTES: usize = 16 * 1024 * 1024;
/// Largest OCSP answer accepted.
const MAX_OCSP_BYTES: usize = 1024 * 1024;

/// CRLs over HTTP with a disk cache.
#[derive(Debug)]
pub struct HttpRevocationSource {
    dir: PathBuf,
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
    memory: Mutex<HashMap<String, Vec<u8>>>,
}

impl HttpRevocationSource {
    /// A cache under `dir` (created when first written), fetching on `runtime`.
    pub fn new(
        dir: PathBuf,
        timeout: Duration,
        runtime: tokio::runtime::Handle,
    ) -> Result<HttpRevocationSource, reqwest::Error> {
        Ok(HttpRevocationSource {
            dir,
            http: reqwest::Client::builder().timeout(timeout).build()?,
            runtime,
            memory: Mutex::new(HashMap::new()),
        })
    }

    fn path_for(&self, url: &str) -> PathBuf {
        let name = hex::encode(ring::digest::digest(&ring::digest::SHA256, url.as_bytes()));
        self.dir.join(format!("{name}.crl"))
    }

    fn cached(&self, url: &str) -> Option<Vec<u8>> {
        let memory = self
            .memory
            .lock()
            .map(|memory| memory.get(url).cloned())
            .unwrap_or_default();
        let der = memory.or_else(|| std::fs::read(self.path_for(url)).ok())?;
        is_current(&der).then_some(der)
    }

    fn download(&self, url: &str) -> Option<Vec<u8>> {
        let request = async {
            let response = self.http.get(url).send().await.ok()?;
            if !response.status().is_success()
                || response
                    .content_length()
                    .is_some_and(|length| length > MAX_CRL_BYTES as u64)
            {
                return None;
            }
            let body = response.bytes().await.ok()?;
            (body.len() <= MAX_CRL_BYTES).then(|| body.to_vec())
        };
        let body = self.runtime.block_on(request)?;
        // PEM or DER; only a readable CRL is kept.
        let der = if body.starts_with(b"-----BEGIN") {
            use rustls_pki_types::pem::PemObject;
            rustls_pki_types::CertificateRevocationListDer::from_pem_slice(&body)
                .ok()?
                .as_ref()
                .to_vec()
        } else {
            body
        };
        CertificateList::from_der(&der).ok()?;
        Some(der)
    }

    fn keep(&self, url: &str, der: &[u8]) {
        if let Ok(mut memory) = self.memory.lock() {
            memory.insert(url.to_owned(), der.to_vec());
        }
        let path = self.path_for(url);
        if let Err(error) = write_atomically(&path, der) {
            tracing::warn!(path = %path.display(), %error, "cannot cache a CRL on disk");
        }
    }
}

impl RevocationSource for HttpRevocationSource {
    fn query_ocsp(&self, url: &str, request: &[u8]) -> Option<Vec<u8>> {
        let query = async {
            let response = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/ocsp-request")
                .body(request.to_vec())
                .send()
                .await
                .ok()?;
            if !response.status().is_success() {
                return None;
            }
            let body = response.bytes().await.ok()?;
            (body.len() <= MAX_OCSP_BYTES).then(|| body.to_vec())
        };
        let answer = self.runtime.block_on(query);
        if answer.is_none() {
            tracing::warn!(url, "the OCSP responder did not answer");
        }
        answer
    }

    fn fetch(&self, url: &str) -> Option<Vec<u8>> {
        if let Some(der) = self.cached(url) {
            return Some(der);
        }
        match self.download(url) {
            Some(der) => {
                tracing::info!(url, "CRL fetched");
                self.keep(url, &der);
                Some(der)
            }
            None => {
                tracing::warn!(
                    url,
                    "cannot fetch a CRL; revocation will be reported unknown"
                );
                None
            }
        }
    }
}

/// Whether a CRL's `nextUpdate` is still ahead (or absent).
fn is_current(der: &[u8]) -> bool {
    let Ok(crl) = CertificateList::from_der(der) else {
        return false;
    };
    crl.tbs_cert_list.next_update.is_none_or(|next| {
        i64::try_from(next.to_unix_duration().as_secs())
            .is_ok_and(|next| next >= OffsetDateTime::now_utc().unix_timestamp())
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}
