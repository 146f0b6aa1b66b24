//! OpenSSL as the timestamp authority: `openssl ts -reply` signs RFC 3161 answers with a
//! certificate of the test PKI, either called directly (`reply`) or behind a small HTTP
//! server on loopback (`serve`, `application/timestamp-query`, like a real TSA), which can
//! be switched off to play an unreachable TSA.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use docgate::demo::pki::TestCa;

/// A TSA made of the test CA's timestamping certificate and `openssl ts`.
#[derive(Clone)]
pub struct OpensslTsa {
    dir: PathBuf,
    certificate: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

impl OpensslTsa {
    pub fn new(ca: &TestCa, dir: &Path) -> OpensslTsa {
        std::fs::create_dir_all(dir).expect("tsa dir");
        let issued = ca.issue_timestamping(dir, "tsa").expect("tsa certificate");
        std::fs::write(dir.join("serial"), "01\n").expect("serial");
        let config = format!(
            "[ tsa ]\ndefault_tsa = docgate_test_tsa\n\
             [ docgate_test_tsa ]\nserial = {}\ncrypto_device = builtin\n\
             signer_digest = sha256\ndefault_policy = 1.3.6.1.4.1.99999.1\n\
             digests = sha256\naccuracy = secs:1\nordering = no\ntsa_name = no\n\
             ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
            dir.join("serial").display()
        );
        std::fs::write(dir.join("tsa.cnf"), config).expect("tsa config");
        OpensslTsa {
            dir: dir.to_path_buf(),
            certificate: issued.certificate,
            key: issued.key,
            ca: ca.certificate.clone(),
        }
    }

    pub fn certificate(&self) -> &Path {
        &self.certificate
    }

    /// `openssl ts -reply` for a DER request; the DER response.
    pub fn reply(&self, request: &[u8]) -> Vec<u8> {
        let stamp = format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos()
        );
        let query = self.dir.join(format!("{stamp}.tsq"));
        let answer = self.dir.join(format!("{stamp}.tsr"));
        std::fs::write(&query, request).expect("query");
        let output = Command::new("openssl")
            .args(["ts", "-reply", "-config"])
            .arg(self.dir.join("tsa.cnf"))
            .arg("-queryfile")
            .arg(&query)
            .arg("-signer")
            .arg(&self.certificate)
            .arg("-inkey")
            .arg(&self.key)
            .arg("-chain")
            .arg(&self.ca)
            .arg("-out")
            .arg(&answer)
            .output()
            .expect("openssl ts");
        assert!(
            output.status.success(),
            "openssl ts -reply: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let response = std::fs::read(&answer).expect("answer");
        let _ = std::fs::remove_file(query);
        let _ = std::fs::remove_file(answer);
        response
    }

    /// Serves RFC 3161 over HTTP on a loopback port until the process ends.
    pub fn serve(&self) -> RunningTsa {
        let (runtime, listener, address) = super::loopback_runtime(1);
        let up = Arc::new(AtomicBool::new(true));
        let (tsa, serving) = (self.clone(), up.clone());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if !serving.load(Ordering::SeqCst) {
                    drop(stream);
                    continue;
                }
                let tsa = tsa.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let tsa = tsa.clone();
                            async move {
                                let body = axum::body::to_bytes(
                                    axum::body::Body::new(request.into_body()),
                                    64 * 1024,
                                )
                                .await
                                .map(|body| body.to_vec())
                                .unwrap_or_default();
                                let answer = tokio::task::spawn_blocking(move || tsa.reply(&body))
                                    .await
                                    .unwrap_or_default();
                                let mut response =
                                    hyper::Response::new(axum::body::Body::from(answer));
                                response.headers_mut().insert(
                                    "content-type",
                                    hyper::header::HeaderValue::from_static(
                                        "application/timestamp-reply",
                                    ),
                                );
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RunningTsa {
            url: format!("http://{address}/tsa"),
            up,
            _runtime: runtime,
        }
    }
}

/// A TSA answering over HTTP.
pub struct RunningTsa {
    pub url: String,
    up: Arc<AtomicBool>,
    _runtime: tokio::runtime::Runtime,
}

impl RunningTsa {
    /// Whether new connections are answered (off: they are closed at once).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}
