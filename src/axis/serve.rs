//! The axis's network edge: accepts TCP connections, runs the mutual-TLS handshake
//! (`tokio_rustls`, the client certificate checked by rustls against the configured CA),
//! reads the peer certificate's CN and serial into a [`PeerIdentity`] request extension
//! (none when `[enrolment]` lets a box without a certificate in) and the client's address
//! into a [`PeerAddress`], and serves
//! HTTP/1.1 with hyper on each connection until shutdown, then drains for a bounded time.
//! A failed handshake is logged at debug and dropped: it never reaches HTTP. Knows no
//! operation and no rule.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::auth::{PeerAddress, PeerIdentity};
use crate::system::shutdown::Shutdown;
use crate::system::tls;

/// The longest a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` over TLS on `listener` until `shutdown`; then lets connections finish what
/// they are doing for at most `drain_timeout`, logging if that runs out.
pub(crate) async fn serve(
    listener: TcpListener,
    tls_config: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: Shutdown,
    drain_timeout: Duration,
) {
    let acceptor = TlsAcceptor::from(tls_config);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(
                        stream,
                        peer,
                        acceptor.clone(),
                        app.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = shutdown.wait() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            seconds = drain_timeout.as_secs(),
            connections = connections.len(),
            "requests still in flight after the shutdown timeout; closing anyway"
        );
        connections.abort_all();
    }
}

/// One connection: handshake, identity, HTTP until the client or shutdown ends it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    shutdown: Shutdown,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let tls_stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls_stream)) => tls_stream,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let identity = match tls_stream.get_ref().1.peer_certificates() {
        // Only with [enrolment]: a box without a certificate reaches the enrolment
        // endpoints, and every VDXP operation refuses it.
        None => None,
        Some(certificates) => {
            match certificates
                .first()
                .and_then(|certificate| peer_identity(certificate.as_ref()))
            {
                Some(identity) => Some(identity),
                None => {
                    // rustls verified the certificate; one without a CN names nobody.
                    tracing::debug!(%peer, "client certificate without a subject CN; closing");
                    return;
                }
            }
        }
    };
    let service = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        if let Some(identity) = &identity {
            request.extensions_mut().insert(identity.clone());
        }
        request.extensions_mut().insert(PeerAddress(peer));
        hyper::service::Service::call(&service, request)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let served = builder.serve_connection(TokioIo::new(tls_stream), service);
    let mut served = std::pin::pin!(served);
    let result = tokio::select! {
        result = served.as_mut() => result,
        () = shutdown.wait() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// The CN and serial of a verified client certificate.
fn peer_identity(der: &[u8]) -> Option<PeerIdentity> {
    use x509_cert::der::Decode;
    let common_name = tls::certificate_common_name(der)?;
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    Some(PeerIdentity {
        common_name,
        serial: hex::encode(certificate.tbs_certificate.serial_number.as_bytes()),
    })
}
