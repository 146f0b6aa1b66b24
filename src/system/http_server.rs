//! The connection side of the box's two HTTP servers, the LAN one (local API, status page,
//! clerk pages) and the axis: accepts TCP connections, caps how many are open in total and
//! per client address, gives each its handshake ([`Handshake`]: plain TCP or TLS, with
//! whatever it learns about the client put on every request), and serves HTTP/1.1 with
//! hyper under time limits — the handshake, the request headers, and every pause in a
//! request body — so that a client that connects and trickles (slowloris) holds one of its
//! own few slots for a bounded time and never starves the office's other clients. On
//! shutdown it stops accepting at once and lets connections finish for a bounded time.
//!
//! Knows no route, no authentication and no certificate: those belong to the router and
//! to the handshake the caller passes.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower_http::timeout::TimeoutBody;

use super::shutdown::Shutdown;

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning per this period about refused connections (an attack must not
/// flood the journal).
const REFUSAL_WARNING_PERIOD: Duration = Duration::from_secs(60);

/// How many connections a server keeps open and how long a client may take.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    /// Connections open at once, all clients together; more are closed on arrival.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_connections_per_address: usize,
    /// The longest a client may take to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// The longest a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// The longest a request body may pause between two pieces; the request then fails.
    pub body_idle_timeout: Duration,
    /// After shutdown, how long connections may go on finishing their requests.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 256,
            max_connections_per_address: 32,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(20),
        }
    }
}

/// The connection settings as a configuration file writes them (the gateway's `[limits]`,
/// the axis's `[axis]`): checked and turned into [`ConnectionLimits`] here, so both files
/// take the same ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSettings {
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub header_timeout_secs: u64,
    pub body_idle_timeout_secs: u64,
    pub shutdown_timeout_secs: u64,
}

/// One of the [`ConnectionSettings`] a file may get wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionSetting {
    MaxConnections,
    MaxConnectionsPerAddress,
    HeaderTimeoutSecs,
    BodyIdleTimeoutSecs,
}

impl ConnectionSetting {
    /// The key's name within its section.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionSetting::MaxConnections => "max_connections",
            ConnectionSetting::MaxConnectionsPerAddress => "max_connections_per_address",
            ConnectionSetting::HeaderTimeoutSecs => "header_timeout_secs",
            ConnectionSetting::BodyIdleTimeoutSecs => "body_idle_timeout_secs",
        }
    }
}

/// A setting out of its range: which, what is wrong, and what to write instead.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingProblem {
    pub setting: ConnectionSetting,
    pub problem: String,
    pub fix: &'static str,
}

impl ConnectionSettings {
    /// The first setting out of its range, if any.
    pub fn check(&self) -> Result<(), SettingProblem> {
        let problem = |setting, problem, fix| {
            Err(SettingProblem {
                setting,
                problem,
                fix,
            })
        };
        if !(1..=65_536).contains(&self.max_connections) {
            return problem(
                ConnectionSetting::MaxConnections,
                format!("is {}, outside 1..=65536", self.max_connections),
                "use a value such as 256 (a gateway) or 1024 (an axis)",
            );
        }
        if !(1..=self.max_connections).contains(&self.max_connections_per_address) {
            return problem(
                ConnectionSetting::MaxConnectionsPerAddress,
                format!(
                    "is {}, outside 1..=max_connections ({})",
                    self.max_connections_per_address, self.max_connections
                ),
                "use a value such as 32",
            );
        }
        if !(1..=300).contains(&self.header_timeout_secs) {
            return problem(
                ConnectionSetting::HeaderTimeoutSecs,
                format!("is {}, outside 1..=300", self.header_timeout_secs),
                "use a value such as 30",
            );
        }
        if !(1..=3600).contains(&self.body_idle_timeout_secs) {
            return problem(
                ConnectionSetting::BodyIdleTimeoutSecs,
                format!("is {}, outside 1..=3600", self.body_idle_timeout_secs),
                "use a value such as 60",
            );
        }
        Ok(())
    }

    /// The limits a server runs with (the handshake's time limit is not configurable).
    pub fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            header_read_timeout: Duration::from_secs(self.header_timeout_secs),
            body_idle_timeout: Duration::from_secs(self.body_idle_timeout_secs),
            drain_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            ..ConnectionLimits::default()
        }
    }
}

/// A connection whose handshake finished: the stream to serve HTTP on, and what every
/// request on it carries as extensions (the client's address, its certificate's identity).
pub(crate) struct Accepted<Io> {
    pub io: Io,
    pub extensions: axum::http::Extensions,
}

/// Turns an accepted TCP connection into a stream to serve HTTP on, or refuses it (`None`,
/// after logging why). The server bounds it by [`ConnectionLimits::handshake_timeout`].
pub(crate) trait Handshake: Clone + Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> impl Future<Output = Option<Accepted<Self::Io>>> + Send;
}

/// Serves `app` on `listener` until `shutdown`; then stops accepting (the socket may be
/// served next by another turn of the same process) and lets connections finish for at most
/// `limits.drain_timeout`, logging if that runs out.
pub(crate) async fn serve<H: Handshake>(
    listener: TcpListener,
    handshake: H,
    app: Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) {
    let slots = ConnectionSlots::new(&limits);
    let limits = Arc::new(limits);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some(slot) = slots.take(peer.ip()) else {
                        continue;
                    };
                    connections.spawn(connection(
                        stream,
                        peer,
                        slot,
                        handshake.clone(),
                        app.clone(),
                        limits.clone(),
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
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            seconds = limits.drain_timeout.as_secs(),
            connections = connections.len(),
            "requests still in flight after the shutdown timeout; closing anyway"
        );
        connections.abort_all();
    }
}

/// One connection: handshake, then HTTP until the client, a time limit or shutdown ends it.
/// `_slot` is given back when this returns.
async fn connection<H: Handshake>(
    stream: TcpStream,
    peer: SocketAddr,
    _slot: Slot,
    handshake: H,
    app: Router,
    limits: Arc<ConnectionLimits>,
    shutdown: Shutdown,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let accepted =
        match tokio::time::timeout(limits.handshake_timeout, handshake.handshake(stream, peer))
            .await
        {
            Ok(Some(accepted)) => accepted,
            Ok(None) => return,
            Err(_) => {
                tracing::debug!(%peer, "handshake timed out");
                return;
            }
        };
    let body_idle_timeout = limits.body_idle_timeout;
    let extensions = accepted.extensions;
    let service = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(|body| TimeoutBody::new(body_idle_timeout, body));
        request.extensions_mut().extend(extensions.clone());
        hyper::service::Service::call(&service, request)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let served = builder.serve_connection(TokioIo::new(accepted.io), service);
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

/// Open connections, counted in total and per client address.
struct ConnectionSlots {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<OpenConnections>,
}

#[derive(Default)]
struct OpenConnections {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    refused_since_warning: u64,
    last_warning: Option<Instant>,
}

/// One open connection's place; given back on drop.
struct Slot {
    slots: Arc<ConnectionSlots>,
    address: IpAddr,
}

impl ConnectionSlots {
    fn new(limits: &ConnectionLimits) -> Arc<ConnectionSlots> {
        Arc::new(ConnectionSlots {
            max_total: limits.max_connections,
            max_per_address: limits.max_connections_per_address,
            open: Mutex::new(OpenConnections::default()),
        })
    }

    /// A place for a connection from `address`, or `None` (logged) when the server or
    /// that address is at its limit.
    fn take(self: &Arc<Self>, address: IpAddr) -> Option<Slot> {
        // An IPv4 client on an IPv6 socket is the same client as on an IPv4 one.
        let address = address.to_canonical();
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let from_address = open.by_address.get(&address).copied().unwrap_or(0);
        let refusal = if open.total >= self.max_total {
            Some("the server's connection limit")
        } else if from_address >= self.max_per_address {
            Some("the per-address connection limit")
        } else {
            None
        };
        if let Some(limit) = refusal {
            open.refused_since_warning += 1;
            let now = Instant::now();
            let quiet = open
                .last_warning
                .is_none_or(|last| now.duration_since(last) >= REFUSAL_WARNING_PERIOD);
            if quiet {
                tracing::warn!(
                    client = %address,
                    refused = open.refused_since_warning,
                    open = open.total,
                    "connection refused: {limit} is reached (a client opening many connections, or too small [limits])"
                );
                open.refused_since_warning = 0;
                open.last_warning = Some(now);
            }
            return None;
        }
        open.total += 1;
        *open.by_address.entry(address).or_insert(0) += 1;
        Some(Slot {
            slots: self.clone(),
            address,
        })
    }

    fn give_back(&self, address: IpAddr) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&address);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.give_back(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(total: usize, per_address: usize) -> Arc<ConnectionSlots> {
        ConnectionSlots::new(&ConnectionLimits {
            max_connections: total,
            max_connections_per_address: per_address,
            ..ConnectionLimits::default()
        })
    }

    fn address(text: &str) -> IpAddr {
        text.parse().expect("a test address")
    }

    #[test]
    fn one_address_gets_no_more_than_its_share_and_others_still_get_in() {
        let slots = slots(10, 2);
        let first = slots.take(address("10.0.0.5"));
        let second = slots.take(address("10.0.0.5"));
        assert!(first.is_some() && second.is_some());
        assert!(slots.take(address("10.0.0.5")).is_none());
        assert!(slots.take(address("10.0.0.6")).is_some());
    }

    #[test]
    fn the_total_caps_all_addresses_together() {
        let slots = slots(3, 2);
        let held: Vec<_> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|text| slots.take(address(text)))
            .collect();
        assert!(held.iter().all(Option::is_some));
        assert!(slots.take(address("10.0.0.4")).is_none());
    }

    #[test]
    fn a_closed_connection_gives_its_place_back() {
        let slots = slots(1, 1);
        let slot = slots.take(address("10.0.0.5"));
        assert!(slots.take(address("10.0.0.7")).is_none());
        drop(slot);
        assert!(slots.take(address("10.0.0.7")).is_some());
        let open = slots.open.lock().expect("not poisoned");
        assert_eq!(open.by_address.len(), 0, "the dropped slot's entry is gone");
    }

    #[test]
    fn an_ipv4_client_on_an_ipv6_socket_counts_as_itself() {
        let slots = slots(10, 1);
        let _held = slots.take(address("10.0.0.5"));
        assert!(slots.take(address("::ffff:10.0.0.5")).is_none());
    }
}
