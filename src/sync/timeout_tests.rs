//! A silent axis, for real: a TCP listener that accepts connections and never answers
//! (and a TLS server that completes the handshake, reads the request and never answers).
//! The VDXP adapter must give up on every request within its time limit, and a request
//! that stays in flight past twice its limit anyway (an adapter whose timeout does not
//! fire) must stop the scheduler's heartbeat, which the systemd watchdog watches.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::*;
use crate::edxml::{Limits, Organization};
use crate::store::Store;
use crate::system::clock::SystemClock;
use crate::system::config::AxisSection;
use crate::system::shutdown::Shutdown;
use crate::vdxp::{MessageType, TransportStatus};

/// A listener on loopback that accepts every connection and never writes a byte.
async fn silent_listener() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    address
}

/// An adapter with no timeout of its own: every request connects to a silent listener
/// and waits for an answer that never comes, while it claims a limit of `limit`.
struct HangingAxis {
    address: SocketAddr,
    limit: Duration,
}

impl HangingAxis {
    async fn hang<T>(&self) -> Result<T, AxisError> {
        let mut stream = tokio::net::TcpStream::connect(self.address)
            .await
            .map_err(|error| AxisError::transient("test", error.to_string()))?;
        let mut byte = [0u8; 1];
        let _ = stream.read(&mut byte).await;
        Err(AxisError::transient("test", "the silent listener hung up"))
    }
}

impl AxisClient for HangingAxis {
    async fn send_packet(&self, _packet: &OutgoingPacket) -> Result<String, AxisError> {
        self.hang().await
    }

    async fn list_received(&self, _kind: MessageType) -> Result<Vec<Delivery>, AxisError> {
        self.hang().await
    }

    async fn fetch(
        &self,
        _delivery: &Delivery,
        _destination: &std::path::Path,
        _max_bytes: u64,
    ) -> Result<FetchedPacket, AxisError> {
        self.hang().await
    }

    async fn acknowledge(&self, _id: &str, _status: TransportStatus) -> Result<(), AxisError> {
        self.hang().await
    }

    async fn wait_for(&self, _seconds: u64) -> Result<u64, AxisError> {
        self.hang().await
    }

    async fn list_sent(&self, _doc_id: Option<&str>) -> Result<Vec<SentDelivery>, AxisError> {
        self.hang().await
    }

    async fn list_agencies(&self) -> Result<Vec<Agency>, AxisError> {
        self.hang().await
    }

    fn timeout(&self, _call: AxisCall) -> Duration {
        self.limit
    }
}

fn settings() -> SyncSettings {
    SyncSettings {
        organ: Organization {
            organ_id: "000.00.01.H41".into(),
            ..Organization::default()
        },
        long_poll_secs: 1,
        retry_min_ms: 10,
        retry_max_ms: 50,
        disk_quota_bytes: u64::MAX,
        limits: Limits::default(),
        signatures: None,
        sealing: None,
    }
}

/// Starts the scheduler against a [`HangingAxis`] claiming `limit`; watches its heartbeat
/// for `watch`, and answers the oldest age seen at the end and whether a request was
/// reported overdue.
async fn watch_heartbeat(limit: Duration, watch: Duration) -> (Duration, Option<Overdue>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let shutdown = Shutdown::new();
    let axis = HangingAxis {
        address: silent_listener().await,
        limit,
    };
    let handle = start(
        store.clone(),
        axis,
        LinkState::configured("https://axis.test"),
        settings(),
        Arc::new(SystemClock),
        shutdown.clone(),
    );
    let heartbeat = handle.heartbeat();
    let in_flight = handle.in_flight();
    tokio::time::sleep(watch).await;
    let (age, overdue) = (heartbeat.age(), in_flight.overdue());
    assert!(!in_flight.is_empty(), "the receiver's request is in flight");
    shutdown.trigger();
    handle.join().await;
    store.close();
    (age, overdue)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_stuck_past_twice_its_limit_stops_the_heartbeat() {
    let (age, overdue) = watch_heartbeat(Duration::from_millis(200), Duration::from_secs(4)).await;
    let overdue = overdue.expect("the stuck request is noticed");
    assert_eq!(overdue.what, "list or acknowledge");
    assert_eq!(overdue.bound, Duration::from_millis(400));
    // The systemd side counts a heartbeat older than 3 s as stopped.
    assert!(
        age > Duration::from_secs(3),
        "the heartbeat kept beating: {age:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_within_its_limit_keeps_the_heartbeat_going() {
    let (age, overdue) = watch_heartbeat(Duration::from_secs(60), Duration::from_secs(3)).await;
    assert_eq!(overdue, None);
    assert!(
        age < Duration::from_secs(2),
        "a busy loop is not a dead one: {age:?}"
    );
}

/// A CA, a client certificate for the gateway and a server certificate for the axis.
struct Pki {
    _dir: tempfile::TempDir,
    ca: std::path::PathBuf,
    client: crate::demo::pki::IssuedFiles,
    server: crate::demo::pki::IssuedFiles,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = crate::demo::pki::TestCa::create("test axis CA", dir.path(), "ca").expect("ca");
    let client = ca
        .issue_client("000.00.01.H41", dir.path(), "client", None)
        .expect("client");
    let server = ca
        .issue_server("axis", dir.path(), "server")
        .expect("server");
    Pki {
        ca: ca.certificate.clone(),
        _dir: dir,
        client,
        server,
    }
}

fn client(pki: &Pki, address: SocketAddr, small: Duration) -> VdxpClient {
    let axis = AxisSection {
        url: format!("https://127.0.0.1:{}", address.port()),
        system_id: "000.00.01.H41".into(),
        secret: None,
        secret_file: None,
        ca: pki.ca.clone(),
        certificate: pki.client.certificate.clone(),
        key: Some(pki.client.key.clone()),
        token_key_label: None,
        long_poll_secs: 1,
        retry_min_ms: 10,
        retry_max_ms: 50,
    };
    let timeouts = RequestTimeouts {
        small,
        long_poll_grace: small,
        stall: small,
        ..RequestTimeouts::default()
    };
    VdxpClient::with_timeouts(
        &axis,
        "a-secret-of-thirty-two-characters!!".into(),
        Arc::new(SystemClock),
        None,
        timeouts,
    )
    .expect("client")
}

/// The request failed as a transient timeout, well before a minute.
fn assert_timed_out<T: std::fmt::Debug>(result: Result<T, AxisError>, started: Instant) {
    let error = result.expect_err("no answer can come");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("timeout"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vdxp_client_gives_up_on_an_axis_that_accepts_and_never_answers() {
    let pki = pki();
    let address = silent_listener().await;
    let client = client(&pki, address, Duration::from_millis(300));
    let started = Instant::now();
    assert_timed_out(client.list_received(MessageType::Edoc).await, started);
    let started = Instant::now();
    assert_timed_out(client.wait_for(1).await, started);
    let started = Instant::now();
    assert_timed_out(client.list_agencies().await, started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vdxp_client_gives_up_when_the_axis_goes_silent_after_the_handshake() {
    let pki = pki();
    let tls = crate::system::tls::server_config(
        &pki.server.certificate,
        &pki.server.key,
        &pki.ca,
        &[],
        false,
    )
    .expect("server TLS");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (handshakes, mut completed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            if let Ok(mut tls) = acceptor.accept(stream).await {
                let _ = handshakes.send(());
                // Read the request, answer nothing.
                let mut buffer = [0u8; 1024];
                let _ = tls.read(&mut buffer).await;
                held.push(tls);
            }
        }
    });
    let client = client(&pki, address, Duration::from_millis(300));
    let dir = tempfile::tempdir().expect("tempdir");
    let packet = dir.path().join("packet.edxml");
    std::fs::write(&packet, b"<edXML/>").expect("packet");
    let started = Instant::now();
    let sent = client
        .send_packet(&OutgoingPacket {
            path: packet,
            size: 8,
            sha256: "00".repeat(32),
            kind: MessageType::Edoc,
        })
        .await;
    assert_timed_out(sent, started);
    assert!(
        completed.try_recv().is_ok(),
        "the TLS session was up: the limit held after the handshake"
    );
}
