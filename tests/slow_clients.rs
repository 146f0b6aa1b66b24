//! Slow and greedy clients against both HTTP servers (SECURITY.md, "Slow and greedy
//! clients"): a client that never finishes its headers is cut off, a stalled upload fails
//! and stores nothing, one address cannot take every connection, the total cap holds across
//! addresses, and the axis closes a client that never completes its TLS handshake.
//!
//! Each test talks raw TCP, so what it sends is exactly what a hostile client would, and
//! binds loopback source addresses (127.0.0.2, 127.0.0.3, ...) to play several clients.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::axis::{AxisDir, COMMUNE};
use common::{GatewayDir, GatewayProcess};

/// Longer than any time limit configured below: a connection still open after this was
/// not cut off.
const PATIENCE: Duration = Duration::from_secs(20);

/// A TCP connection to `target` from the loopback address `source`.
fn connect_from(source: &str, target: SocketAddr) -> TcpStream {
    let source: IpAddr = source.parse().expect("a loopback address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::new(source, 0)).expect("bind");
        socket.connect(target).await.expect("connect")
    });
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream
}

fn address_of(url: &str) -> SocketAddr {
    let host = url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    host.parse().expect("a socket address in the URL")
}

/// How a connection ended, as its client sees it.
#[derive(Debug, PartialEq)]
enum Ending {
    /// The server closed it (EOF or reset), after sending these bytes.
    Closed(Vec<u8>),
    /// Still open after `PATIENCE`.
    StillOpen,
}

/// Reads until the server closes the connection or `PATIENCE` runs out.
fn ending(stream: &mut TcpStream) -> Ending {
    let deadline = Instant::now() + PATIENCE;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ending::StillOpen;
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buffer) {
            Ok(0) => return Ending::Closed(received),
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                return Ending::Closed(received)
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ending::StillOpen
            }
            Err(error) => panic!("reading from the server: {error}"),
        }
    }
}

/// A complete `GET /healthz` from `source`; returns the status line.
fn healthz_from(source: &str, target: SocketAddr) -> String {
    let mut stream = connect_from(source, target);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: docgate\r\nConnection: close\r\n\r\n")
        .expect("send");
    match ending(&mut stream) {
        Ending::Closed(bytes) => String::from_utf8_lossy(&bytes)
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
        Ending::StillOpen => panic!("no answer to GET /healthz from {source}"),
    }
}

/// A connection from `source` that sent half a request line and waits.
fn idle_half_request(source: &str, target: SocketAddr) -> TcpStream {
    let mut stream = connect_from(source, target);
    stream.write_all(b"GET /healthz HT").expect("send");
    stream
}

fn gateway(dir: &std::path::Path, limits: &[(&str, &str)]) -> (GatewayDir, GatewayProcess) {
    let gateway = GatewayDir::init(dir, limits);
    let process = gateway.start();
    (gateway, process)
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gateway, _process) = gateway(dir.path(), &[("header_timeout_secs", "2")]);
    let target = address_of(&gateway.url);

    let mut stream = connect_from("127.0.0.1", target);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: docgate\r\nX-Slow: ")
        .expect("send");
    let mut trickle = stream.try_clone().expect("clone");
    // One header byte per half second: the connection is busy but never finishes.
    let trickler = std::thread::spawn(move || {
        for _ in 0..30 {
            std::thread::sleep(Duration::from_millis(500));
            if trickle.write_all(b"a").is_err() {
                return;
            }
        }
    });
    match ending(&mut stream) {
        Ending::Closed(bytes) => {
            let answer = String::from_utf8_lossy(&bytes);
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                "a cut-off client gets nothing or 408: {answer}"
            );
        }
        Ending::StillOpen => panic!("a client trickling its headers was never cut off"),
    }
    let _ = trickler.join();
    assert!(
        healthz_from("127.0.0.1", target).starts_with("HTTP/1.1 200"),
        "the server still answers others"
    );
}

#[test]
fn a_stalled_upload_fails_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gateway, process) = gateway(dir.path(), &[("body_idle_timeout_secs", "2")]);
    let target = address_of(&gateway.url);
    let blobs_before = common::list_files(&gateway.blobs_dir());

    let boundary = "docgate-stalled-upload";
    let start = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"meta\"\r\n\
         Content-Type: application/json\r\n\r\n{}\r\n--{boundary}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"cv.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.7\n",
        common::sample_meta()
    );
    let head = format!(
        "POST /api/v1/documents HTTP/1.1\r\nHost: docgate\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        gateway.token,
        start.len() + 1_000_000
    );
    let mut stream = connect_from("127.0.0.1", target);
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(start.as_bytes()).expect("send part");
    // ... and the remaining megabyte never comes.
    let answer = match ending(&mut stream) {
        Ending::Closed(bytes) => String::from_utf8_lossy(&bytes).to_string(),
        Ending::StillOpen => panic!("a stalled upload held its connection open"),
    };
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("\"request_timeout\""),
        "a stalled upload is answered 408 request_timeout: {answer}"
    );
    assert!(process.all_document_ids().is_empty(), "no document stored");
    assert_eq!(
        common::list_files(&gateway.blobs_dir()),
        blobs_before,
        "no file left behind"
    );
}

#[test]
fn one_address_cannot_take_every_connection_and_the_total_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gateway, _process) = gateway(
        dir.path(),
        &[
            ("max_connections", "6"),
            ("max_connections_per_address", "4"),
        ],
    );
    let target = address_of(&gateway.url);

    let greedy: Vec<TcpStream> = (0..4)
        .map(|_| idle_half_request("127.0.0.2", target))
        .collect();
    let mut one_too_many = connect_from("127.0.0.2", target);
    assert!(
        matches!(ending(&mut one_too_many), Ending::Closed(bytes) if bytes.is_empty()),
        "a fifth connection from one address is closed at once"
    );
    assert!(
        healthz_from("127.0.0.3", target).starts_with("HTTP/1.1 200"),
        "another client still gets in"
    );

    let others: Vec<TcpStream> = (0..2)
        .map(|_| idle_half_request("127.0.0.3", target))
        .collect();
    let mut past_the_total = connect_from("127.0.0.4", target);
    assert!(
        matches!(ending(&mut past_the_total), Ending::Closed(bytes) if bytes.is_empty()),
        "with 6 open, a new client is closed at once"
    );

    drop(greedy);
    drop(others);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = healthz_from("127.0.0.2", target);
        if status.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "closed connections never gave their places back: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn axis_with(dir: &std::path::Path, extra: &str) -> AxisDir {
    let axis = AxisDir::create(dir);
    let config = std::fs::read_to_string(&axis.config).expect("axis.toml");
    std::fs::write(
        &axis.config,
        config.replacen("[axis]\n", &format!("[axis]\n{extra}"), 1),
    )
    .expect("axis.toml");
    axis
}

#[test]
fn the_axis_caps_connections_per_address_and_closes_silent_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis = axis_with(dir.path(), "max_connections_per_address = 3\n");
    let process = axis.start();
    let target = address_of(&process.url);

    // Three connections that never start their TLS handshake.
    let mut silent: Vec<TcpStream> = (0..3).map(|_| connect_from("127.0.0.2", target)).collect();
    let mut one_too_many = connect_from("127.0.0.2", target);
    assert!(
        matches!(ending(&mut one_too_many), Ending::Closed(bytes) if bytes.is_empty()),
        "a fourth connection from one address is closed at once"
    );
    let client = axis.client(&process, COMMUNE);
    let answer = client.received(None);
    assert!(
        answer.is_ok(),
        "a registered system still gets through: {answer:?}"
    );
    // The handshake time limit (10 s) closes the silent ones.
    for stream in &mut silent {
        assert!(
            matches!(ending(stream), Ending::Closed(_)),
            "a client that never completes its handshake is closed"
        );
    }
}
