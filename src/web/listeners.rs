//! The LAN side's two handshakes for [`crate::system::http_server`]: plain TCP
//! ([`PlainHandshake`]) and HTTPS ([`TlsHandshake`]). Both tell the handlers the client's
//! address (`ConnectInfo<PeerAddress>`, which the clerk login's lockout counts by). Own no
//! routes and no policy; the connection limits and time limits are the server's.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::system::http_server::{Accepted, Handshake};

/// The address of the client of a request (`ConnectInfo<PeerAddress>`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub SocketAddr);

fn client_address(peer: SocketAddr) -> axum::http::Extensions {
    let mut extensions = axum::http::Extensions::new();
    extensions.insert(ConnectInfo(PeerAddress(peer)));
    extensions
}

/// Plain HTTP: nothing to agree on.
#[derive(Clone)]
pub struct PlainHandshake;

impl Handshake for PlainHandshake {
    type Io = TcpStream;

    async fn handshake(&self, stream: TcpStream, peer: SocketAddr) -> Option<Accepted<TcpStream>> {
        Some(Accepted {
            io: stream,
            extensions: client_address(peer),
        })
    }
}

/// HTTPS with the LAN certificate; no client certificate is asked for.
#[derive(Clone)]
pub struct TlsHandshake(pub TlsAcceptor);

impl TlsHandshake {
    pub fn new(config: Arc<rustls::ServerConfig>) -> TlsHandshake {
        TlsHandshake(TlsAcceptor::from(config))
    }
}

impl Handshake for TlsHandshake {
    type Io = TlsStream<TcpStream>;

    async fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<Accepted<TlsStream<TcpStream>>> {
        match self.0.accept(stream).await {
            Ok(stream) => Some(Accepted {
                io: stream,
                extensions: client_address(peer),
            }),
            Err(error) => {
                tracing::debug!(%peer, %error, "TLS handshake refused");
                None
            }
        }
    }
}
