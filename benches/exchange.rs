//! Exchange benchmarks (issue 3), every part a real process on loopback: the reference axis
//! and two gateways from `docgate demo --setup-only`, with the district's and the commune's
//! links to the axis running through a counting TCP proxy (`tests/common/proxy.rs`, no
//! faults) so the bytes on the wire can be read off it.
//!
//! 1. **Delivery latency** district → axis → commune: 200 documents of ~10 KB posted one at a
//!    time, 25 ms apart. Latency of one document = the commune's commit time of the incoming
//!    row minus the district's commit time of the outgoing row (both `created_at`, same
//!    machine clock, millisecond resolution), so no polling delay is counted. p50 and p99.
//!    Targets: p50 ≤ 50 ms, p99 ≤ 250 ms. **Baseline, same run:** the round trip of one raw
//!    HTTPS upload of the same 10 KiB (the minimal TLS server of item 2, one at a time on a
//!    warm connection, 200 times): what one hop costs with no storing, packing or parsing.
//! 2. **Throughput** for 10 KB documents (400, 8 posting threads) and 5 MB documents (20, 4
//!    threads): payload bytes delivered per second, from the first POST to the last
//!    arrival at the commune. **Baseline, same run, same loopback, same certificates:** raw
//!    HTTPS uploads of the same bytes (same counts and threads) to a minimal TLS server that
//!    reads and discards each body. Target: ≥ 0.5× the raw rate.
//!    Two ceilings measured in the same run beside it: the same bytes written once to the
//!    bench disk (a new file per document, `fsync`ed, same threads), and building the edXML
//!    packet of such documents on one core (deflate at the SDK's default level + base64).
//! 3. **Bytes on the wire per payload byte** for both sizes: everything that crossed the proxy
//!    in both directions during the throughput run (both gateways' TLS traffic with the
//!    axis: upload, long-poll, listing, download, acknowledgements, statuses) divided by the
//!    payload bytes delivered.
//! 4. **Backlog drain:** the axis is stopped, the district accepts 10,000 documents of
//!    ~10 KB, then the axis starts; the figure is the time until the commune holds all of them.
//!
//! Run: `cargo bench --bench exchange` or `tools/bench-exchange.sh` (prints the machine too).
//! `DOCGATE_BENCH_BACKLOG` changes the backlog size (default 10000). With
//! `DOCGATE_BENCH_SUMMARY` set, the headline figures are also appended to that file as
//! summary rows (`benches/shared/summary.rs`) for `tools/bench`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "shared/settings.rs"]
mod settings;
#[path = "shared/summary.rs"]
mod summary;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::exchange::{documents, post_until_accepted, Exchange};
use common::proxy::FaultProxy;
use common::GatewayProcess;
use serde_json::{json, Value};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// Documents in the latency run, and raw round trips in its baseline.
const LATENCY_DOCUMENTS: usize = 200;
const TARGET_P50_MS: i64 = 50;
const TARGET_P99_MS: i64 = 250;
const TARGET_THROUGHPUT_RATIO: f64 = 0.5;
/// The command named in the summary rows.
const COMMAND: &str = "tools/bench-exchange.sh";

fn main() {
    let run_dir = settings::run_dir("exchange-bench-");
    let backlog: usize = settings::positive("DOCGATE_BENCH_BACKLOG", 10_000);

    let exchange = Exchange::setup(run_dir.path());
    let proxy = FaultProxy::start(exchange.axis.address);
    exchange.point_gateways_at(&proxy.url());
    let mut axis = exchange.axis.start();
    let district = exchange.gateway("district").start();
    let commune = Receiver {
        process: exchange.gateway("commune").start(),
        database: exchange.gateway("commune").database(),
    };
    let to = exchange.organ_id("commune");
    println!("docgate exchange benchmark (axis and two gateways as processes, loopback, through a counting proxy)");

    // Warm-up: connections, caches, the first blobs.
    send_batch(&district, &commune, &to, "warm-up", 20, 10 * KIB, 4);

    let raw = RawHttpsServer::start(&exchange);
    let latencies = latency_run(&district, &commune, &to, LATENCY_DOCUMENTS);
    let round_trips = raw.round_trips(LATENCY_DOCUMENTS, 10 * KIB);
    println!(
        "latency district → axis → commune, {} documents of 10 KiB one at a time: p50 {} ms, p99 {} ms, max {} ms (targets: p50 ≤ 50, p99 ≤ 250)",
        latencies.len(),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().copied().unwrap_or(0)
    );
    println!(
        "  baseline: one raw HTTPS upload of 10 KiB, {} round trips one at a time: p50 {:.2} ms, p99 {:.2} ms",
        round_trips.len(),
        percentile_ms(&round_trips, 50),
        percentile_ms(&round_trips, 99)
    );
    record_latency(&latencies, &round_trips);

    for (label, count, size, threads) in [("10 KiB", 400, 10 * KIB, 8), ("5 MiB", 20, 5 * MIB, 4)] {
        let (up_before, down_before) = proxy.bytes();
        let exchange_rate = send_batch(&district, &commune, &to, label, count, size, threads);
        let (up_after, down_after) = proxy.bytes();
        let wire = (up_after - up_before) + (down_after - down_before);
        let payload = (count * size) as f64;
        let raw_rate = raw.upload_rate(count, size, threads);
        let durable_rate = durable_write(run_dir.path(), count, size, threads);
        let packing_rate = packing(count.min(8), size);
        println!(
            "throughput {label} × {count} ({threads} threads): exchange {:.1} MiB/s ({:.0} docs/s), raw HTTPS upload {:.1} MiB/s → {:.2}× (target ≥ 0.5×)",
            exchange_rate / MIB as f64,
            exchange_rate / size as f64,
            raw_rate / MIB as f64,
            exchange_rate / raw_rate
        );
        println!(
            "  ceilings, {label}: one durable write of the same bytes (file + fsync each) {:.1} MiB/s ({:.0} docs/s); edXML packing on one core {:.1} MiB/s",
            durable_rate / MIB as f64,
            durable_rate / size as f64,
            packing_rate / MIB as f64,
        );
        println!(
            "bytes on the wire per payload byte, {label}: {:.2} ({} bytes through the proxy for {} payload bytes)",
            wire as f64 / payload,
            wire,
            payload as u64
        );
        record_throughput(label, count, threads, exchange_rate, raw_rate, size);
        record_wire(label, wire, payload);
    }
    drop(raw);

    // Backlog: the axis is down while the district accepts.
    axis.kill();
    let already = count_incoming(&commune.database);
    let accepted_at = Instant::now();
    post_many(&district, &to, "backlog", backlog, 10 * KIB, 16);
    let accepted_seconds = accepted_at.elapsed().as_secs_f64();
    println!("backlog: {backlog} documents accepted with the axis down in {accepted_seconds:.1} s");
    let started = Instant::now();
    let _axis = exchange.axis.start();
    wait_count(&commune, already + backlog, Duration::from_secs(1800));
    let drained = started.elapsed().as_secs_f64();
    println!(
        "backlog drain: {backlog} documents of 10 KiB delivered in {drained:.1} s after the axis came back ({:.0} docs/s)",
        backlog as f64 / drained
    );
    record_backlog(backlog, drained, accepted_seconds);
}

// ---------------------------------------------------------------------------------------
// The summary rows of `tools/bench` (nothing unless `DOCGATE_BENCH_SUMMARY` is set).

fn record_latency(latencies: &[i64], round_trips: &[Duration]) {
    let (p50, p99) = (percentile(latencies, 50), percentile(latencies, 99));
    summary::Row {
        figure: &format!(
            "delivery latency district → axis → commune, {} documents of 10 KiB one at a time",
            latencies.len()
        ),
        value: format!(
            "p50 {p50} ms, p99 {p99} ms (max {} ms)",
            latencies.last().copied().unwrap_or(0)
        ),
        baseline: format!(
            "one raw HTTPS upload of the same 10 KiB (one hop, nothing stored): p50 {:.2} ms, p99 {:.2} ms",
            percentile_ms(round_trips, 50),
            percentile_ms(round_trips, 99)
        ),
        verdict: format!(
            "target p50 ≤ {TARGET_P50_MS} ms, p99 ≤ {TARGET_P99_MS} ms: {}",
            summary::met(!latencies.is_empty() && p50 <= TARGET_P50_MS && p99 <= TARGET_P99_MS)
        ),
        command: COMMAND,
    }
    .record();
}

fn record_throughput(
    label: &str,
    count: usize,
    threads: usize,
    exchange_rate: f64,
    raw_rate: f64,
    size: usize,
) {
    let ratio = exchange_rate / raw_rate;
    summary::Row {
        figure: &format!("exchange throughput, {count} documents of {label} ({threads} threads)"),
        value: format!(
            "{:.1} MiB/s ({} docs/s)",
            exchange_rate / MIB as f64,
            summary::grouped(exchange_rate / size as f64, 0)
        ),
        baseline: format!(
            "raw HTTPS upload of the same bytes: {} MiB/s",
            summary::grouped(raw_rate / MIB as f64, 1)
        ),
        verdict: format!(
            "{ratio:.2}× (target ≥ {TARGET_THROUGHPUT_RATIO}×): {}",
            summary::met(ratio >= TARGET_THROUGHPUT_RATIO)
        ),
        command: COMMAND,
    }
    .record();
}

fn record_wire(label: &str, wire: u64, payload: f64) {
    summary::Row {
        figure: &format!("bytes on the wire per payload byte, {label}, both hops"),
        value: format!("{:.2}", wire as f64 / payload),
        baseline: format!(
            "the payload: {} bytes ({} through the proxy)",
            summary::grouped(payload, 0),
            summary::grouped(wire as f64, 0)
        ),
        verdict: "no target (base64 alone is 1.33 per hop)".to_string(),
        command: COMMAND,
    }
    .record();
}

fn record_backlog(backlog: usize, drained: f64, accepted_seconds: f64) {
    summary::Row {
        figure: &format!("drain of a {}-document backlog (10 KiB each) after the axis comes back", summary::grouped(backlog as f64, 0)),
        value: format!(
            "{drained:.1} s ({} docs/s)",
            summary::grouped(backlog as f64 / drained, 0)
        ),
        baseline: format!(
            "the district accepting the same backlog with the axis down: {accepted_seconds:.1} s ({} docs/s)",
            summary::grouped(backlog as f64 / accepted_seconds, 0)
        ),
        verdict: "no target (issue #3 asks for the figure)".to_string(),
        command: COMMAND,
    }
    .record();
}

fn meta(to: &str, subject: &str) -> Value {
    json!({
        "to": [to], "subject": subject, "type": {"code": 1, "name": "Công văn"},
        "code_number": null, "code_notation": "UBND-VP",
        "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
        "priority": 0
    })
}

/// Sends one document at a time; returns sorted latencies in milliseconds.
fn latency_run(district: &GatewayProcess, commune: &Receiver, to: &str, count: usize) -> Vec<i64> {
    let client = common::client();
    let already = count_incoming(&commune.database);
    for index in 0..count {
        let subject = format!("latency #{index}");
        let pdf = common::exchange::large_pdf(10 * KIB, index as u64 + 1);
        post_until_accepted(
            &client,
            &district.url,
            &district.token,
            &meta(to, &subject),
            ("a.pdf", &pdf),
            &subject.replace([' ', '#', ':'], "-"),
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    wait_count(commune, already + count, Duration::from_secs(120));
    let sent: std::collections::HashMap<String, String> = documents(district, "out")
        .into_iter()
        .filter(|d| {
            d["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("latency #"))
        })
        .map(|d| {
            (
                d["document_id"].as_str().unwrap_or_default().to_string(),
                d["created_at"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut latencies: Vec<i64> = documents(&commune.process, "in")
        .into_iter()
        .filter_map(|d| {
            let sent_at = sent.get(d["document_id"].as_str()?)?;
            Some(millis(d["created_at"].as_str()?) - millis(sent_at))
        })
        .collect();
    latencies.sort_unstable();
    latencies
}

fn millis(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|instant| (instant.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

fn percentile(sorted: &[i64], percent: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[nearest_rank(sorted.len(), percent)]
}

/// [`percentile`] of sorted durations, in milliseconds.
fn percentile_ms(sorted: &[Duration], percent: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[nearest_rank(sorted.len(), percent)].as_secs_f64() * 1000.0
}

/// The index of the nearest-rank `percent` percentile among `len` sorted samples (`len` > 0).
fn nearest_rank(len: usize, percent: usize) -> usize {
    ((len * percent).div_ceil(100))
        .saturating_sub(1)
        .min(len - 1)
}

/// Posts `count` documents from `threads` threads and waits for all to arrive; payload
/// bytes per second from the first POST to the last arrival.
fn send_batch(
    district: &GatewayProcess,
    commune: &Receiver,
    to: &str,
    label: &str,
    count: usize,
    size: usize,
    threads: usize,
) -> f64 {
    let already = count_incoming(&commune.database);
    let started = Instant::now();
    post_many(district, to, label, count, size, threads);
    wait_count(commune, already + count, Duration::from_secs(600));
    (count * size) as f64 / started.elapsed().as_secs_f64()
}

fn post_many(
    district: &GatewayProcess,
    to: &str,
    label: &str,
    count: usize,
    size: usize,
    threads: usize,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (next, url, token, to, label) = (
                next.clone(),
                district.url.clone(),
                district.token.clone(),
                to.to_string(),
                label.to_string(),
            );
            std::thread::spawn(move || {
                let client = common::client();
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= count {
                        return;
                    }
                    let subject = format!("{label} #{index}");
                    let pdf = common::exchange::large_pdf(size, index as u64 * 7919 + 1);
                    post_until_accepted(
                        &client,
                        &url,
                        &token,
                        &meta(&to, &subject),
                        ("a.pdf", &pdf),
                        &subject.replace([' ', '#', ':'], "-"),
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("poster");
    }
}

/// Waits until the gateway's database holds `count` incoming documents (read-only
/// connection to its SQLite file: cheap, and the API is left to the exchange).
fn wait_count(receiver: &Receiver, count: usize, limit: Duration) {
    let database = &receiver.database;
    let started = Instant::now();
    loop {
        let arrived = count_incoming(database);
        if arrived >= count {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "only {arrived} of {count} arrived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[allow(clippy::disallowed_methods)] // A read-only look at the gateway's database.
fn count_incoming(database: &std::path::Path) -> usize {
    let Ok(connection) =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    connection
        .query_row(
            "SELECT count(*) FROM documents WHERE direction = 'in'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(|count| count as usize)
        .unwrap_or(0)
}

/// The receiving gateway, and its database for counting arrivals.
struct Receiver {
    process: GatewayProcess,
    database: std::path::PathBuf,
}

/// The baselines' server: a minimal TLS server (same certificates as the axis, mutual TLS)
/// that reads and discards each request body, on its own runtime, for the whole run.
struct RawHttpsServer {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    address: std::net::SocketAddr,
    client_tls: rustls::ClientConfig,
}

impl RawHttpsServer {
    fn start(exchange: &Exchange) -> RawHttpsServer {
        let tls = exchange.dir.join("tls");
        let gateway_tls = exchange.gateway("district").dir.join("tls");
        let server = docgate::system::tls::server_config(
            &tls.join("axis.pem"),
            &tls.join("axis.key"),
            &tls.join("ca.pem"),
            &[],
            false,
        )
        .expect("server TLS");
        let (runtime, listener, address) = common::loopback_runtime(2);
        runtime.spawn(raw_server(listener, server));
        let client_tls = docgate::system::tls::client_config(
            &tls.join("ca.pem"),
            &gateway_tls.join("gateway.pem"),
            &gateway_tls.join("gateway.key"),
        )
        .expect("client TLS");
        RawHttpsServer {
            runtime: Some(runtime),
            address,
            client_tls,
        }
    }

    fn client(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .use_preconfigured_tls(self.client_tls.clone())
            .build()
            .expect("client")
    }

    fn upload(client: &reqwest::blocking::Client, address: std::net::SocketAddr, body: Vec<u8>) {
        let response = client
            .post(format!("https://{address}/upload"))
            .body(body)
            .send()
            .expect("raw upload");
        assert!(response.status().is_success());
    }

    /// The throughput baseline: the same bytes uploaded (same counts and threads). Bytes
    /// per second.
    fn upload_rate(&self, count: usize, size: usize, threads: usize) -> f64 {
        let next = Arc::new(AtomicUsize::new(0));
        let address = self.address;
        let started = Instant::now();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let next = next.clone();
                let client = self.client();
                std::thread::spawn(move || loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= count {
                        return;
                    }
                    let body = common::exchange::large_pdf(size, index as u64 * 7919 + 1);
                    Self::upload(&client, address, body);
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("uploader");
        }
        (count * size) as f64 / started.elapsed().as_secs_f64()
    }

    /// The latency baseline: `count` uploads of `size` bytes one at a time on one warm
    /// connection, each timed from the send to the answer. Sorted.
    fn round_trips(&self, count: usize, size: usize) -> Vec<Duration> {
        let client = self.client();
        let bodies: Vec<Vec<u8>> = (0..count)
            .map(|index| common::exchange::large_pdf(size, index as u64 + 1))
            .collect();
        // One upload first, so the TLS handshake is not counted.
        Self::upload(&client, self.address, bodies[0].clone());
        let mut round_trips: Vec<Duration> = bodies
            .into_iter()
            .map(|body| {
                let started = Instant::now();
                Self::upload(&client, self.address, body);
                started.elapsed()
            })
            .collect();
        round_trips.sort_unstable();
        round_trips
    }
}

impl Drop for RawHttpsServer {
    fn drop(&mut self) {
        // The server task loops forever; nothing waits for it.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A second baseline: the same bytes written once to the bench disk, one new file per
/// document, each `fsync`ed (same counts and threads). The exchange writes every payload
/// durably several times (intake, packet, the axis, the receiver's packet and attachment), so
/// this bounds what any durable store-and-forward can reach on this disk.
fn durable_write(dir: &std::path::Path, count: usize, size: usize, threads: usize) -> f64 {
    use std::io::Write;
    let target = dir.join("durable-baseline");
    std::fs::create_dir_all(&target).expect("baseline directory");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (next, target) = (next.clone(), target.clone());
            std::thread::spawn(move || loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= count {
                    return;
                }
                let body = common::exchange::large_pdf(size, index as u64 * 7919 + 1);
                let mut file =
                    std::fs::File::create(target.join(index.to_string())).expect("baseline file");
                file.write_all(&body).expect("baseline write");
                file.sync_all().expect("baseline fsync");
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("writer");
    }
    let rate = (count * size) as f64 / started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&target).expect("baseline cleanup");
    rate
}

/// A ceiling from the format: building the edXML packet (ZIP deflate at the SDK's default
/// level, base64) of documents of this size on one core, into a sink. Bytes per second.
fn packing(count: usize, size: usize) -> f64 {
    use docgate::edxml::{write_packet, Header, OutgoingAttachment};
    let header: Header = serde_json::from_value(json!({
        "kind": "edoc",
        "from": {"organ_id": "001.00.10.H41", "organ_name": "UBND huyện"},
        "to": [{"organ_id": "001.01.10.H41", "organ_name": "UBND xã"}],
        "document_id": "001.00.10.H41,2026/11/22,1/UBND-VP",
        "code": {"code_number": "1", "code_notation": "UBND-VP"},
        "subject": "packing ceiling"
    }))
    .expect("header");
    let documents: Vec<Vec<u8>> = (0..count)
        .map(|index| common::exchange::large_pdf(size, index as u64 * 7919 + 1))
        .collect();
    let started = Instant::now();
    for document in documents {
        let attachment = OutgoingAttachment::from_reader(
            "document.pdf",
            Box::new(std::io::Cursor::new(document)),
        );
        write_packet(&header, &[attachment], std::io::sink()).expect("packing");
    }
    (count * size) as f64 / started.elapsed().as_secs_f64()
}

async fn raw_server(listener: tokio::net::TcpListener, config: Arc<rustls::ServerConfig>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper::service::service_fn(
                |request: hyper::Request<hyper::body::Incoming>| async move {
                    use futures_util::StreamExt;
                    let mut body = axum::body::Body::new(request.into_body()).into_data_stream();
                    while let Some(chunk) = body.next().await {
                        if chunk.is_err() {
                            break;
                        }
                    }
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        axum::body::Body::empty(),
                    ))
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
