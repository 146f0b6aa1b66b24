//! The axis's network edge: the mutual-TLS handshake (`tokio_rustls`, the client
//! certificate checked by rustls against the configured CA), which reads the peer
//! certificate's CN and serial into a [`PeerIdentity`] request extension (none when
//! `[enrolment]` lets a box without a certificate in) and the client's address into a
//! [`PeerAddress`]. Connections, their limits and time limits are
//! `system::http_server`'s. A failed handshake is logged at debug and dropped: it never
//! reaches HTTP. Knows no operation and no rule.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::auth::{PeerAddress, PeerIdentity};
use crate::system::http_server::{self, Accepted, ConnectionLimits, Handshake};
use crate::system::shutdown::Shutdown;
use crate::system::tls;

/// Serves `app` over mutual TLS on `listener` until `shutdown`, within `limits`.
pub(crate) async fn serve(
    listener: TcpListener,
    tls_config: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) {
    let handshake = MutualTls(TlsAcceptor::from(tls_config));
    http_server::serve(listener, handshake, app, limits, shutdown).await;
}

/// The TLS handshake with a client certificate (optional only under `[enrolment]`).
#[derive(Clone)]
struct MutualTls(TlsAcceptor);

impl Handshake for MutualTls {
    type Io = TlsStream<TcpStream>;

    async fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<Accepted<TlsStream<TcpStream>>> {
        let stream = match self.0.accept(stream).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%peer, %error, "TLS handshake refused");
                return None;
            }
        };
        let mut extensions = axum::http::Extensions::new();
        extensions.insert(PeerAddress(peer));
        // None only with [enrolment]: a box without a certificate reaches the enrolment
        // endpoints, and every VDXP operation refuses it.
        if let Some(certificates) = stream.get_ref().1.peer_certificates() {
            match certificates
                .first()
                .and_then(|certificate| peer_identity(certificate.as_ref()))
            {
                Some(identity) => {
                    extensions.insert(identity);
                }
                None => {
                    // rustls verified the certificate; one without a CN names nobody.
                    tracing::debug!(%peer, "client certificate without a subject CN; closing");
                    return None;
                }
            }
        }
        Some(Accepted {
            io: stream,
            extensions,
        })
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
