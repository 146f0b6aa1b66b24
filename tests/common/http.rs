//! A tiny HTTP file server on loopback (hyper): answers every GET with the current bytes of
//! one file, counts requests, and can be switched off (connections closed at once) — a CRL
//! distribution point for the revocation tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A running file server.
pub struct FileServer {
    pub url: String,
    up: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl FileServer {
    /// Serves `file` at `http://127.0.0.1:PORT/NAME`.
    pub fn start(file: PathBuf, name: &str) -> FileServer {
        let (runtime, listener, address) = super::loopback_runtime(1);
        let (up, requests) = (
            Arc::new(AtomicBool::new(true)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (serving, counter) = (up.clone(), requests.clone());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if !serving.load(Ordering::SeqCst) {
                    continue;
                }
                let (file, counter) = (file.clone(), counter.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_request| {
                        let (file, counter) = (file.clone(), counter.clone());
                        async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let body = std::fs::read(&file).unwrap_or_default();
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                axum::body::Body::from(body),
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FileServer {
            url: format!("http://{address}/{name}"),
            up,
            requests,
            _runtime: runtime,
        }
    }

    /// Whether new connections are answered.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}
