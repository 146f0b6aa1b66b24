//! Status page benchmark (issue #6): how long `GET /` takes with 1,000,000 documents in the
//! store (target: p99 ≤ 50 ms), with `/healthz`, `/metrics` and `/api/v1/status` beside it,
//! since all four gather the same status facts from the store.
//!
//! Run with `cargo bench --bench status_page` (or `tools/bench-status-page.sh`, which also
//! prints the machine). `-- --rebuild` (or `DOCGATE_BENCH_REBUILD=1`) seeds the store again.
//!
//! **The store.** A real gateway store (SQLite in WAL mode on disk, the blob directory beside
//! it), seeded once and cached under `<target>/tmp/status-page-store/` (or
//! `DOCGATE_BENCH_DIR`), in a directory named by the schema version (the `PRAGMA user_version`
//! the store's own migrations produce), the number of documents and [`SEED_LAYOUT`]; other
//! caches (another version, count or layout) are deleted. The schema is made by `Store::open`,
//! i.e. the project's migrations. The rows are then inserted by this harness with direct SQL on
//! its own rusqlite connection (the one place here that opens SQLite by itself: seeding only,
//! never measured), in transactions of [`DOCUMENTS_PER_TRANSACTION`] documents with the
//! rollback journal and syncing off, and the file is put back in WAL mode at the end.
//! `seeded.json` is written last; a seed interrupted halfway has none and is built again.
//! Nothing runs `ANALYZE`, as nothing does in the gateway: the planner sees the store as a
//! deployed box's would be.
//!
//! The data, deterministic pseudo-random, spread evenly over the five years up to the seeding
//! day (each run prints the counts the page shows; for 1,000,000 documents about 1,800
//! waiting to be sent, 1,200 refused, 700 awaiting the clerk and 5,600 overdue):
//!
//! - 40% outgoing. 1% secret (`registered`, series `secret`, never sent). Of the others, the
//!   link has been unreliable for the last [`UNRELIABLE_LINK_DAYS`] days: 85% of those days'
//!   documents still wait (`accepted`, `signed`, `packed`, `sent`); 0.3% of all
//!   were refused by the axis (`quarantined`, outbox `refused`); the rest are `queued`
//!   (delivered and acknowledged), 0.1% of them later cancelled by an agreed recall. Register
//!   numbers run from 01 per (Vietnam-local year, series); 70% carry the agency seal; each has
//!   1–8 recipients (2.7 on average), each of which answered status 01 and, 90% of them, 03 —
//!   one `document_statuses` row and one `incoming_deliveries` row (outcome `status`) each.
//! - 60% incoming (`received`), from 300 agencies, one ledger row each. The clerk's status: 60%
//!   of the last three days' documents still await the clerk (01), as do 0.02% of older ones
//!   (forgotten); 1% refused (02); 40% of the last 60 days' documents and 4% of older ones open
//!   (03–05); the rest done (06). Each status the office set is a status packet in the outbox
//!   (`queued`; half of the last ten days' still waiting) and a `document_statuses` row; 03
//!   gave the document its số đến (`incoming_number`, per registration year). 20% carry a due
//!   date 5–30 days after arrival: the open ones past it are overdue. 0.05% were quarantined
//!   (and 0.02% more deliveries were unreadable status packets, kept in the ledger only),
//!   0.1% cancelled (recalled).
//! - Every document has its main PDF and 35% an attachment (`document_files`), its event log
//!   (`document_events`, as the store's writes append them), and the register counters are set.
//!   The evidence log, idempotency keys and business requests stay empty: no measured endpoint
//!   reads them, and they would only make the file larger.
//!
//! **What is measured.** The release `docgate run` (the same binary and start-up as systemd's),
//! its `state_dir` set to the cached store, logging at `info` to a file. After it answers
//! `/healthz` (its start-up opens the store: migrations, `integrity_check`, the blob sweep —
//! the time and the memory it took are printed), the first request to each endpoint is timed
//! on its own, then [`WARMUP_ROUNDS`] rounds, then [`DEFAULT_ROUNDS`] measured rounds. A round
//! requests every endpoint once, one after another on one keep-alive connection (reqwest,
//! blocking), timed from the send to the last byte of the body; every answer's status code is
//! checked. The two baselines are measured inside the same rounds: `GET /no-such-page` (a 404
//! from the same server: connection, HTTP, routing and a JSON body — everything but the
//! facts) and `SELECT 1` on a read-only connection of this process to the same database file
//! (prepared and stepped each time, as the store's counts are). The counts `/api/v1/status`
//! reports are compared with those the seeder wrote; a mismatch fails the run. Percentiles
//! are nearest-rank over the samples (1,000 of each). The CPU other processes took during the
//! measured rounds is printed; above 0.25 cores the run is marked NOISY.
//!
//! Environment: `DOCGATE_BENCH_DIR` (where the cache and the run directory go; it picks the
//! disk), `DOCGATE_BENCH_DOCUMENTS` (default 1,000,000; another count is another cache),
//! `DOCGATE_BENCH_REBUILD=1`, `DOCGATE_BENCH_ROUNDS` (default 1,000; fewer for a quick look),
//! `DOCGATE_BENCH_KEEP=1` (keep the run directory with the gateway's config and log).
//!
//! With `DOCGATE_BENCH_SUMMARY` set, the page's p99 beside the 404's is also appended to
//! that file as a summary row (`benches/shared/summary.rs`) for `tools/bench`.
//!
//! The process exits non-zero only when something was wrong (an unexpected status code, a
//! count that differs from the seeded data); a missed target is printed, not a failure.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "shared/daemon.rs"]
mod daemon;
#[path = "shared/machine.rs"]
mod machine;
#[path = "shared/settings.rs"]
mod settings;
#[path = "shared/summary.rs"]
mod summary;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, ExitCode};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use rusqlite::{params, Connection, OpenFlags, Statement};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use common::GatewayDir;
use docgate::store::Store;
use machine::{cores, load_average, CpuWindow, ProcMemory};

/// Documents in the store unless `DOCGATE_BENCH_DOCUMENTS` says otherwise.
const DEFAULT_DOCUMENTS: u64 = 1_000_000;
/// Measured rounds (each requests every endpoint once), unless `DOCGATE_BENCH_ROUNDS` says
/// otherwise.
const DEFAULT_ROUNDS: usize = 1000;
/// Rounds before the measured ones (connections, caches).
const WARMUP_ROUNDS: usize = 20;
const TARGET_P99_MS: f64 = 50.0;
/// Version of the generator below: bump it when the seeded data changes, so that caches
/// built by an older generator are not reused.
const SEED_LAYOUT: u32 = 1;
/// Years of history in the store.
const YEARS: f64 = 5.0;
/// The most recent days, in which the link to the axis has been unreliable: documents and
/// status packets of those days wait.
const UNRELIABLE_LINK_DAYS: f64 = 10.0;
const DOCUMENTS_PER_TRANSACTION: u64 = 20_000;
/// Our agency (the sender of outgoing documents).
const OUR_ORGAN: &str = "000.00.12.H41";
/// Agencies we exchange documents with.
const PEERS: usize = 300;
/// Above this much CPU taken by other processes during the measured rounds, the run is
/// marked NOISY.
const QUIET_OTHER_CORES: f64 = 0.25;
/// How long the gateway may take to open a large store and answer `/healthz`.
const START_LIMIT: Duration = Duration::from_secs(900);

const MS_PER_DAY: i64 = 86_400_000;
const MIB: f64 = 1024.0 * 1024.0;

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; the only argument of ours is `--rebuild`.
    let rebuild = std::env::args().any(|argument| argument == "--rebuild")
        || std::env::var_os("DOCGATE_BENCH_REBUILD").is_some_and(|value| value != "0");
    let documents = settings::positive("DOCGATE_BENCH_DOCUMENTS", DEFAULT_DOCUMENTS);
    let rounds = settings::positive("DOCGATE_BENCH_ROUNDS", DEFAULT_ROUNDS);
    let base = settings::base_dir();
    println!("docgate status page benchmark");
    println!("  binary:    {}", env!("CARGO_BIN_EXE_docgate"));
    println!("  load:      {}", load_average());

    let schema = schema_version(&base);
    let cache_root = base.join("status-page-store");
    let cache = cache_root.join(format!(
        "schema-{schema}-documents-{documents}-layout-{SEED_LAYOUT}"
    ));
    remove_stale_caches(&cache_root, &cache);
    let seeded = match (rebuild, Seeded::read(&cache)) {
        (false, Some(seeded)) => {
            println!(
                "  store:     {} (cached, seeded {} in {:.0} s; `-- --rebuild` seeds it again)",
                cache.display(),
                seeded.seeded_at,
                seeded.seconds
            );
            seeded
        }
        _ => seed(&cache, documents, schema),
    };
    let state_dir = cache.join("state");
    let database = state_dir.join(docgate::store::DATABASE_FILE);
    println!(
        "  on disk:   {:.1} MiB (database, WAL and shared memory), schema version {schema}",
        database_bytes(&database) as f64 / MIB
    );
    print_rows(&seeded);
    println!();

    let mut run_dir = settings::run_dir("status-page-bench-");
    let keep = std::env::var_os("DOCGATE_BENCH_KEEP").is_some();
    // Kept on request, for the gateway's config and log.
    run_dir.disable_cleanup(keep);
    let state_dir_text = toml_string(&state_dir);
    let gateway_dir = GatewayDir::init(
        &run_dir.path().join("gateway"),
        &[("state_dir", state_dir_text.as_str())],
    );
    let started = Instant::now();
    let gateway = Server::start(&gateway_dir);
    let start_seconds = started.elapsed().as_secs_f64();
    let memory = ProcMemory::read(gateway.pid);
    println!(
        "gateway start-up on this store (store open: migrations, integrity_check, blob sweep): {start_seconds:.1} s to the first /healthz 200"
    );
    println!(
        "  after start: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        memory.rss_kib as f64 / 1024.0,
        memory.hwm_kib as f64 / 1024.0
    );
    println!();

    let mut problems: Vec<String> = Vec::new();
    let client = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("build the HTTP client");
    let endpoints = endpoints(&gateway.url);
    let raw = raw_connection(&database);

    // The first request to each endpoint, on its own.
    let first: Vec<Duration> = endpoints
        .iter()
        .map(|endpoint| {
            let (took, status, _) = endpoint.get(&client, &gateway.token);
            endpoint.check(status, &mut problems);
            took
        })
        .collect();
    check_counts(&client, &gateway, &seeded, &mut problems);

    for _ in 0..WARMUP_ROUNDS {
        for endpoint in &endpoints {
            let (_, status, _) = endpoint.get(&client, &gateway.token);
            endpoint.check(status, &mut problems);
        }
        select_one(&raw);
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); endpoints.len() + 1];
    let mut body_bytes = vec![0usize; endpoints.len()];
    let cpu = CpuWindow::start(gateway.pid);
    for _ in 0..rounds {
        for (index, endpoint) in endpoints.iter().enumerate() {
            let (took, status, bytes) = endpoint.get(&client, &gateway.token);
            endpoint.check(status, &mut problems);
            samples[index].push(took);
            body_bytes[index] = bytes;
        }
        samples[endpoints.len()].push(select_one(&raw));
    }
    let cpu = cpu.finish();
    let after = ProcMemory::read(gateway.pid);
    drop(gateway);

    let summaries: Vec<Summary> = samples
        .iter_mut()
        .map(|samples| Summary::of(samples.as_mut_slice()))
        .collect();
    println!(
        "{rounds} rounds after {WARMUP_ROUNDS} warm-up rounds; each round requests every endpoint once, sequentially, on one keep-alive connection"
    );
    println!(
        "  {:<36} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "ms", "first", "p50", "p99", "max", "mean", "bytes"
    );
    for (index, endpoint) in endpoints.iter().enumerate() {
        let summary = &summaries[index];
        println!(
            "  {:<36} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9}",
            endpoint.name,
            ms(first[index]),
            summary.p50,
            summary.p99,
            summary.max,
            summary.mean,
            body_bytes[index]
        );
    }
    let select = &summaries[endpoints.len()];
    println!(
        "  {:<36} {:>8} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>9}",
        "SELECT 1, same database (baseline)",
        "",
        select.p50,
        select.p99,
        select.max,
        select.mean,
        ""
    );
    println!(
        "  CPU during the measured rounds: gateway {:.2} cores, this process {:.2}, other processes {:.2} (of {} cores); gateway VmHWM {:.1} MiB",
        cpu.gateway_cores,
        cpu.bench_cores,
        cpu.other_cores,
        cores(),
        after.hwm_kib as f64 / 1024.0
    );
    println!();

    let page = &summaries[0];
    let not_found = &summaries[endpoints.len() - 1];
    println!("summary");
    println!(
        "  GET / p99 {:.2} ms (target <= {TARGET_P99_MS} ms): {}",
        page.p99,
        if page.p99 <= TARGET_P99_MS {
            "met"
        } else {
            "NOT met"
        }
    );
    for (index, endpoint) in endpoints.iter().enumerate().take(endpoints.len() - 1) {
        println!(
            "  {:<20} adds {:>6.2} ms at p50, {:>6.2} ms at p99 over the 404 baseline ({:.2} / {:.2} ms)",
            endpoint.name,
            summaries[index].p50 - not_found.p50,
            summaries[index].p99 - not_found.p99,
            not_found.p50,
            not_found.p99
        );
    }
    record_summary(page, not_found, documents, cpu.other_cores);
    println!("  load average at the end: {}", load_average());
    if keep {
        println!("  kept: {}", run_dir.path().display());
    }
    if cpu.other_cores >= QUIET_OTHER_CORES {
        println!(
            "  NOISY: other processes took {:.2} cores during the measured rounds; rerun on a quiet machine",
            cpu.other_cores
        );
    }
    if !problems.is_empty() {
        eprintln!();
        for problem in &problems {
            eprintln!("FAILED: {problem}");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The summary row of `tools/bench` (nothing unless `DOCGATE_BENCH_SUMMARY` is set).
fn record_summary(page: &Summary, not_found: &Summary, documents: u64, other_cores: f64) {
    summary::Row {
        figure: &format!(
            "status page `GET /` with {} documents in the store",
            summary::grouped(documents as f64, 0)
        ),
        value: format!("p99 {:.2} ms (p50 {:.2} ms)", page.p99, page.p50),
        baseline: format!(
            "a 404 from the same server: p99 {:.2} ms (p50 {:.2} ms)",
            not_found.p99, not_found.p50
        ),
        verdict: summary::with_noise(
            format!(
                "target p99 ≤ {TARGET_P99_MS} ms: {}",
                summary::met(page.p99 <= TARGET_P99_MS)
            ),
            other_cores >= QUIET_OTHER_CORES,
            other_cores,
        ),
        command: "tools/bench-status-page.sh",
    }
    .record();
}

// ---------------------------------------------------------------------------------------
// The endpoints.

struct Endpoint {
    name: &'static str,
    url: String,
    /// Sent with the API token (everything under `/api/v1/` but the OpenAPI document).
    token: bool,
    expected_status: u16,
}

fn endpoints(base: &str) -> Vec<Endpoint> {
    let endpoint = |name, path: &str, token, expected_status| Endpoint {
        name,
        url: format!("{base}{path}"),
        token,
        expected_status,
    };
    // The page first (the summary reads it at index 0), the 404 baseline last.
    vec![
        endpoint("GET / (status page)", "/", false, 200),
        endpoint("GET /healthz", "/healthz", false, 200),
        endpoint("GET /metrics", "/metrics", false, 200),
        endpoint("GET /api/v1/status", "/api/v1/status", true, 200),
        endpoint(
            "GET /no-such-page (404, baseline)",
            "/no-such-page",
            false,
            404,
        ),
    ]
}

impl Endpoint {
    /// One request, timed from the send to the body's last byte: (time, status, body bytes).
    fn get(&self, client: &Client, token: &str) -> (Duration, u16, usize) {
        let started = Instant::now();
        let mut request = client.get(&self.url);
        if self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().expect("the gateway answers");
        let status = response.status().as_u16();
        let body = response.bytes().expect("read the answer's body");
        (started.elapsed(), status, body.len())
    }

    fn check(&self, status: u16, problems: &mut Vec<String>) {
        let problem = format!(
            "{} answered {status}, expected {}",
            self.name, self.expected_status
        );
        if status != self.expected_status && !problems.contains(&problem) {
            problems.push(problem);
        }
    }
}

/// Compares the counts the gateway reports with those the seeder wrote.
fn check_counts(client: &Client, gateway: &Server, seeded: &Seeded, problems: &mut Vec<String>) {
    let answer: Value = client
        .get(format!("{}/api/v1/status", gateway.url))
        .bearer_auth(&gateway.token)
        .send()
        .and_then(|response| response.json())
        .expect("GET /api/v1/status as JSON");
    let queues = &answer["queues"];
    // Overdue depends on today (Vietnam time), so it is worked out now from the open due
    // dates the seeder recorded.
    let today = vietnam_date(now_ms(), '-');
    let overdue: u64 = seeded
        .open_due_dates
        .range(..today)
        .map(|(_, count)| count)
        .sum();
    let expected = &seeded.expected;
    let numbers = [
        ("waiting_to_send", expected.waiting_to_send),
        ("sent_unconfirmed", expected.sent_unconfirmed),
        ("failed_outgoing", expected.failed_outgoing),
        ("quarantined_incoming", expected.quarantined_incoming),
        ("awaiting_clerk", expected.awaiting_clerk),
        ("overdue", overdue),
        ("registered_only", expected.registered_only),
    ];
    let mut shown = Vec::new();
    for (name, want) in numbers {
        let got = queues[name].as_u64();
        shown.push(format!("{name} {}", got.unwrap_or(0)));
        if got != Some(want) {
            problems.push(format!(
                "/api/v1/status says {name} = {:?}, the seeded store holds {want}",
                queues[name]
            ));
        }
    }
    let oldest = queues["oldest_waiting_since"].as_str().map(str::to_string);
    if oldest != expected.oldest_waiting_since {
        problems.push(format!(
            "/api/v1/status says oldest_waiting_since = {oldest:?}, the seeded store holds {:?}",
            expected.oldest_waiting_since
        ));
    }
    println!(
        "the page's counts (checked against the seeded rows): {}",
        shown.join(", ")
    );
    println!();
}

// ---------------------------------------------------------------------------------------
// The gateway child process.

/// A running `docgate run`. Stopped (SIGTERM, then SIGKILL) on drop.
struct Server {
    child: Option<Child>,
    pid: u32,
    url: String,
    token: String,
}

impl Server {
    fn start(dir: &GatewayDir) -> Server {
        // As root it drops to the test user, as the tests do (the store is handed to it
        // when it lies under Cargo's target/tmp).
        let mut child = daemon::run_command(common::docgate(), dir)
            .spawn()
            .expect("spawn docgate run");
        common::wait_until_healthy(&mut child, &common::client(), &dir.url, START_LIMIT);
        Server {
            pid: child.id(),
            child: Some(child),
            url: dir.url.clone(),
            token: dir.token.clone(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            daemon::stop(&mut child, Duration::from_secs(30));
        }
    }
}

/// `state_dir` as a TOML basic string.
fn toml_string(path: &Path) -> String {
    let text = path
        .to_str()
        .expect("the benchmark directory's path is UTF-8");
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

// ---------------------------------------------------------------------------------------
// The SELECT 1 baseline.

/// A read-only connection to the gateway's database, for the `SELECT 1` baseline.
// The baseline is SQLite on its own, outside the gateway's store by definition.
#[allow(clippy::disallowed_methods)]
fn raw_connection(database: &Path) -> Connection {
    Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open the database read-only for the baseline")
}

/// `SELECT 1`, prepared and stepped as the store's counts are (no statement cache).
fn select_one(connection: &Connection) -> Duration {
    let started = Instant::now();
    let one: i64 = connection
        .query_row("SELECT 1", [], |row| row.get(0))
        .expect("SELECT 1");
    let took = started.elapsed();
    assert_eq!(one, 1);
    took
}

// ---------------------------------------------------------------------------------------
// Statistics.

struct Summary {
    p50: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

impl Summary {
    /// Nearest-rank percentiles, in milliseconds.
    fn of(samples: &mut [Duration]) -> Summary {
        samples.sort_unstable();
        let rank = |p: f64| {
            let index = ((p * samples.len() as f64).ceil() as usize).max(1) - 1;
            ms(samples[index.min(samples.len() - 1)])
        };
        let total: f64 = samples.iter().map(|sample| ms(*sample)).sum();
        Summary {
            p50: rank(0.50),
            p99: rank(0.99),
            max: rank(1.0),
            mean: total / samples.len() as f64,
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------
// The cached store.

/// What `seeded.json` records: how the store was made and what it must show.
#[derive(Debug, Serialize, Deserialize)]
struct Seeded {
    schema_version: i64,
    documents: u64,
    layout: u32,
    seeded_at: String,
    seconds: f64,
    rows: BTreeMap<String, u64>,
    expected: Expected,
    /// Open incoming documents with a due date, by due date (`YYYY-MM-DD`): the overdue
    /// count on any later day is the sum of the dates before it.
    open_due_dates: BTreeMap<String, u64>,
}

/// The status page's counts, as seeded (all but `overdue`, which depends on today).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Expected {
    waiting_to_send: u64,
    oldest_waiting_since: Option<String>,
    sent_unconfirmed: u64,
    failed_outgoing: u64,
    quarantined_incoming: u64,
    awaiting_clerk: u64,
    registered_only: u64,
}

impl Seeded {
    const FILE: &'static str = "seeded.json";

    fn read(cache: &Path) -> Option<Seeded> {
        let text = std::fs::read_to_string(cache.join(Self::FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write(&self, cache: &Path) {
        let text = serde_json::to_string_pretty(self).expect("serialise seeded.json");
        std::fs::write(cache.join(Self::FILE), text).expect("write seeded.json");
    }
}

fn print_rows(seeded: &Seeded) {
    let rows: Vec<String> = seeded
        .rows
        .iter()
        .map(|(table, count)| format!("{table} {count}"))
        .collect();
    println!("  rows:      {}", rows.join(", "));
}

/// The schema version the store's migrations produce, read from a fresh store.
fn schema_version(base: &Path) -> i64 {
    let dir = tempfile::Builder::new()
        .prefix("status-page-schema-")
        .tempdir_in(base)
        .expect("create a scratch directory");
    let store = Store::open(dir.path()).expect("open a fresh store");
    let path = store.database_path().to_path_buf();
    store.close();
    drop(store);
    let connection = raw_connection(&path);
    connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("read the schema version")
}

/// Deletes the caches of other schema versions, documents counts or layouts.
fn remove_stale_caches(root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = path != keep
            && path.is_dir()
            && entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with("schema-"));
        if stale {
            println!("  removing a stale cached store: {}", path.display());
            std::fs::remove_dir_all(&path).expect("remove a stale cached store");
        }
    }
}

fn database_bytes(database: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(&name).map(|meta| meta.len()).unwrap_or(0)
        })
        .sum()
}

/// Builds the store in `cache` (see the module comment for the data).
fn seed(cache: &Path, documents: u64, schema: i64) -> Seeded {
    if cache.exists() {
        std::fs::remove_dir_all(cache).expect("remove the old cached store");
    }
    let state_dir = cache.join("state");
    println!(
        "  store:     seeding {documents} documents into {} ...",
        cache.display()
    );
    let started = Instant::now();
    // The schema comes from the project's own migrations.
    let store = Store::open(&state_dir).expect("create the store");
    let database = store.database_path().to_path_buf();
    store.close();
    drop(store);
    let connection = seeding_connection(&database);
    let mut generator = Generator::new(&connection, documents);
    generator.run();
    let (rows, expected, open_due_dates) = generator.finish();
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .expect("put the database back in WAL mode");
    assert_eq!(mode, "wal", "the seeded store must be in WAL mode");
    drop(connection);
    let seconds = started.elapsed().as_secs_f64();
    let seeded = Seeded {
        schema_version: schema,
        documents,
        layout: SEED_LAYOUT,
        seeded_at: rfc3339(now_ms()),
        seconds,
        rows,
        expected,
        open_due_dates,
    };
    seeded.write(cache);
    println!("  seeded in {seconds:.1} s");
    seeded
}

/// The seeder's own connection: journaling and syncing off, a large cache. Seeding only: a
/// crash here leaves no `seeded.json`, and the store is built again.
// Seeding writes rows with direct SQL for speed; the measured path is the gateway's own.
#[allow(clippy::disallowed_methods)]
fn seeding_connection(database: &Path) -> Connection {
    let connection = Connection::open(database).expect("open the store for seeding");
    let mode: String = connection
        .query_row("PRAGMA journal_mode = OFF", [], |row| row.get(0))
        .expect("turn the journal off for seeding");
    assert_eq!(mode, "off");
    connection
        .execute_batch(
            "PRAGMA synchronous = OFF;
             PRAGMA cache_size = -1048576;
             PRAGMA temp_store = MEMORY;
             PRAGMA foreign_keys = OFF;",
        )
        .expect("set the seeding pragmas");
    connection
}

// ---------------------------------------------------------------------------------------
// The generator.

const NOTATIONS: [&str; 8] = [
    "UBND-VP",
    "QĐ-UBND",
    "TB-UBND",
    "KH-UBND",
    "BC-UBND",
    "UBND-TCKH",
    "UBND-NV",
    "CV-UBND",
];
const SUBJECTS: [&str; 8] = [
    "Về việc báo cáo tình hình thực hiện nhiệm vụ phát triển kinh tế - xã hội",
    "Về việc triển khai kế hoạch chuyển đổi số trên địa bàn",
    "Về việc tổ chức hội nghị sơ kết công tác cải cách hành chính",
    "Về việc đôn đốc thực hiện các chỉ tiêu thu ngân sách nhà nước",
    "Về việc phân bổ kinh phí sự nghiệp giáo dục và đào tạo",
    "Về việc tăng cường công tác phòng, chống thiên tai và tìm kiếm cứu nạn",
    "Về việc góp ý dự thảo quy định quản lý trật tự xây dựng",
    "Về việc kiện toàn ban chỉ đạo công tác dân số và phát triển",
];
const TYPES: [(u32, &str); 5] = [
    (1, "Công văn"),
    (2, "Quyết định"),
    (3, "Thông báo"),
    (4, "Kế hoạch"),
    (5, "Báo cáo"),
];
/// Recipients of an outgoing document, drawn from these (2.7 on average).
const RECIPIENT_COUNTS: [usize; 10] = [1, 1, 1, 1, 2, 2, 3, 3, 5, 8];

/// Where a generated outgoing document is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OutState {
    Accepted,
    Signed,
    Packed,
    Sent,
    Queued,
    Quarantined,
    Registered,
}

impl OutState {
    fn as_str(self) -> &'static str {
        match self {
            OutState::Accepted => "accepted",
            OutState::Signed => "signed",
            OutState::Packed => "packed",
            OutState::Sent => "sent",
            OutState::Queued => "queued",
            OutState::Quarantined => "quarantined",
            OutState::Registered => "registered",
        }
    }
}

/// One `documents` row.
#[derive(Default)]
struct DocumentRow {
    id: String,
    direction: &'static str,
    document_id: Option<String>,
    state: &'static str,
    subject: String,
    code_number: Option<u32>,
    code_notation: Option<&'static str>,
    register_year: Option<i32>,
    meta_json: String,
    created_at: String,
    updated_at: String,
    priority: u8,
    packet_sha256: Option<String>,
    packet_size: Option<i64>,
    axis_doc_id: Option<String>,
    peer_organ: Option<String>,
    quarantine_reason: Option<&'static str>,
    signatures_json: Option<String>,
    signature_level: Option<&'static str>,
    sealed_at: Option<String>,
    register_series: Option<&'static str>,
    incoming_number: Option<u32>,
    registered_at: Option<String>,
    business_status: Option<&'static str>,
    due_date: Option<String>,
    cancelled_at: Option<String>,
    cancel_reason: Option<&'static str>,
}

/// A packet in the outbox: its state and, once the axis holds it, its DocId.
struct OutboxRow<'a> {
    kind: &'static str,
    document: &'a str,
    priority: u8,
    size: i64,
    state: &'static str,
    at: &'a str,
}

struct Statements<'c> {
    document: Statement<'c>,
    file: Statement<'c>,
    event: Statement<'c>,
    outbox: Statement<'c>,
    status: Statement<'c>,
    delivery: Statement<'c>,
}

struct Generator<'c> {
    connection: &'c Connection,
    statements: Statements<'c>,
    random: XorShift,
    documents: u64,
    now_ms: i64,
    start_ms: i64,
    /// Last number per (register, year): `out`, `out-secret`, `in`.
    registers: BTreeMap<(&'static str, i32), u32>,
    /// Last number each peer used per year (their outgoing numbers, our incoming rows).
    peer_numbers: HashMap<(usize, i32), u32>,
    rows: BTreeMap<String, u64>,
    expected: Expected,
    open_due_dates: BTreeMap<String, u64>,
}

impl<'c> Generator<'c> {
    fn new(connection: &'c Connection, documents: u64) -> Generator<'c> {
        let prepare = |sql: &str| connection.prepare(sql).expect("prepare a seeding insert");
        let statements = Statements {
            document: prepare(
                "INSERT INTO documents (id, direction, document_id, state, subject, code_number,
                     code_notation, register_year, meta_json, created_at, updated_at, priority,
                     packet_sha256, packet_size, axis_doc_id, peer_organ, quarantine_reason,
                     signatures_json, signature_level, sealed_at, register_series,
                     incoming_number, registered_at, business_status, due_date, cancelled_at,
                     cancel_reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
            ),
            file: prepare(
                "INSERT INTO document_files (document, n, name, content_type, sha256, size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            ),
            event: prepare(
                "INSERT INTO document_events (document, at, kind, state, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            ),
            outbox: prepare(
                "INSERT INTO outbox (kind, document, priority, packet_sha256, packet_size, state,
                     attempts, last_error, axis_doc_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            ),
            status: prepare(
                "INSERT INTO document_statuses (document, direction, organ_id, code,
                     description, packet_timestamp, axis_doc_id, outbox, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            ),
            delivery: prepare(
                "INSERT INTO incoming_deliveries (axis_doc_id, message_type, outcome, document,
                     packet_sha256, packet_size, peer_organ, reason, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            ),
        };
        // The newest document a minute before now, so the clock check sees nothing odd.
        let now_ms = now_ms();
        let start_ms = now_ms - (YEARS * 365.25 * MS_PER_DAY as f64) as i64;
        Generator {
            connection,
            statements,
            random: XorShift::new(0x5747_0006),
            documents,
            now_ms,
            start_ms,
            registers: BTreeMap::new(),
            peer_numbers: HashMap::new(),
            rows: BTreeMap::new(),
            expected: Expected::default(),
            open_due_dates: BTreeMap::new(),
        }
    }

    fn run(&mut self) {
        let span = (self.now_ms - 60_000 - self.start_ms) as f64;
        let step = span / self.documents as f64;
        let started = Instant::now();
        self.connection
            .execute_batch("BEGIN")
            .expect("begin a seeding transaction");
        for index in 0..self.documents {
            let at = self.start_ms + ((index as f64 + self.random.unit() * 0.9) * step) as i64;
            if self.random.chance(0.4) {
                self.outgoing(at);
            } else {
                self.incoming(at);
            }
            if (index + 1) % DOCUMENTS_PER_TRANSACTION == 0 {
                self.connection
                    .execute_batch("COMMIT; BEGIN")
                    .expect("commit a seeding transaction");
            }
            if (index + 1) % 100_000 == 0 {
                println!(
                    "    {} documents, {:.0} s",
                    index + 1,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        let mut counters = self
            .connection
            .prepare(
                "INSERT INTO register_counters (register, year, last_number) VALUES (?1, ?2, ?3)",
            )
            .expect("prepare the register counters");
        for ((register, year), last) in &self.registers {
            counters
                .execute(params![register, year, last])
                .expect("set a register counter");
        }
        self.count("register_counters", self.registers.len() as u64);
        self.connection
            .execute_batch("COMMIT")
            .expect("commit the last seeding transaction");
    }

    fn finish(self) -> (BTreeMap<String, u64>, Expected, BTreeMap<String, u64>) {
        (self.rows, self.expected, self.open_due_dates)
    }

    fn count(&mut self, table: &str, rows: u64) {
        *self.rows.entry(table.to_string()).or_default() += rows;
    }

    /// `at` plus `days` (fractional), never later than a second ago.
    fn later(&self, at: i64, days: f64) -> i64 {
        (at + (days * MS_PER_DAY as f64) as i64).min(self.now_ms - 1000)
    }

    fn age_days(&self, at: i64) -> f64 {
        (self.now_ms - at) as f64 / MS_PER_DAY as f64
    }

    fn next_number(&mut self, register: &'static str, year: i32) -> u32 {
        let last = self.registers.entry((register, year)).or_default();
        *last += 1;
        *last
    }

    fn priority(&mut self) -> u8 {
        if self.random.chance(0.85) {
            0
        } else {
            1 + self.random.below(4) as u8
        }
    }

    fn outgoing(&mut self, at: i64) {
        let id = ulid(at, &mut self.random);
        let created = rfc3339(at);
        let year = vietnam_year(at);
        let secret = self.random.chance(0.01);
        let (series, register) = if secret {
            ("secret", "out-secret")
        } else {
            ("general", "out")
        };
        let number = self.next_number(register, year);
        let notation = NOTATIONS[self.random.below(NOTATIONS.len() as u64) as usize];
        let promulgation = vietnam_date(at, '/');
        let document_id =
            (!secret).then(|| format!("{OUR_ORGAN},{promulgation},{number:02}/{notation}"));
        let recipients: Vec<String> = {
            let count = RECIPIENT_COUNTS[self.random.below(10) as usize];
            (0..count)
                .map(|_| peer(self.random.below(PEERS as u64) as usize))
                .collect()
        };
        let priority = self.priority();
        let due_date = self
            .random
            .chance(0.1)
            .then(|| vietnam_date(at + (7 + self.random.below(24) as i64) * MS_PER_DAY, '-'));
        let subject = format!(
            "{} (lần {})",
            SUBJECTS[self.random.below(SUBJECTS.len() as u64) as usize],
            number
        );
        let (type_code, type_name) = TYPES[self.random.below(TYPES.len() as u64) as usize];
        let to = recipients
            .iter()
            .map(|organ| format!(r#""{organ}""#))
            .collect::<Vec<_>>()
            .join(",");
        let due = due_date
            .as_ref()
            .map_or("null".to_string(), |date| format!(r#""{date}""#));
        let meta_json = [
            format!(r#"{{"to":[{to}],"subject":"{subject}","type":{{"code":{type_code},"#),
            format!(r#""name":"{type_name}"}},"code_number":null,"code_notation":"{notation}","#),
            r#""signer":{"competence":"TM.","position":"Chủ tịch","name":"Nguyễn Văn A"},"#
                .to_string(),
            format!(r#""priority":{priority},"due_date":{due},"secret":{secret},"#),
            format!(r#""place":"Phường Trung tâm","promulgation_date":"{promulgation}"}}"#),
        ]
        .concat();
        let state = if secret {
            OutState::Registered
        } else if self.age_days(at) < UNRELIABLE_LINK_DAYS && self.random.chance(0.85) {
            match self.random.unit() {
                draw if draw < 0.15 => OutState::Accepted,
                draw if draw < 0.30 => OutState::Signed,
                draw if draw < 0.60 => OutState::Packed,
                _ => OutState::Sent,
            }
        } else if self.random.chance(0.003) {
            OutState::Quarantined
        } else {
            OutState::Queued
        };
        let sealed = state != OutState::Registered
            && state != OutState::Accepted
            && (state == OutState::Signed || self.random.chance(0.7));
        let file_bytes = self.files(&id, number);
        let packed = matches!(
            state,
            OutState::Packed | OutState::Sent | OutState::Queued | OutState::Quarantined
        );
        let mut row = DocumentRow {
            id: id.clone(),
            direction: "out",
            document_id,
            state: state.as_str(),
            subject,
            code_number: Some(number),
            code_notation: Some(notation),
            register_year: Some(year),
            meta_json,
            created_at: created.clone(),
            priority,
            register_series: Some(series),
            due_date,
            ..DocumentRow::default()
        };
        let first = if secret { "registered" } else { "accepted" };
        let detail = format!(
            "received; number {number:02} assigned from the register in the {series} series{}",
            if secret {
                "; a secret document: recorded in the register, never sent"
            } else {
                ""
            }
        );
        self.event(&id, &created, first, Some(first), &detail);
        let mut last = at;
        if sealed {
            last = self.later(last, 0.01);
            row.signature_level = Some("B-T");
            row.sealed_at = Some(rfc3339(last));
            self.event(
                &id,
                &rfc3339(last),
                "signed",
                Some("signed"),
                "agency seal applied (B-T)",
            );
        }
        let mut waiting_packet = false;
        if packed {
            last = self.later(last, 0.005);
            let packet = sha256(&mut self.random);
            let packet_size = file_bytes * 4 / 3 + 6_000;
            let packed_at = rfc3339(last);
            self.event(
                &id,
                &packed_at,
                "packed",
                Some("packed"),
                &format!("edXML packet {packet} ({packet_size} bytes)"),
            );
            let outbox_state = match state {
                OutState::Packed => "pending",
                OutState::Sent => "sent",
                OutState::Queued => "queued",
                _ => "refused",
            };
            if state != OutState::Packed {
                last = self.later(last, 0.001);
                self.event(
                    &id,
                    &rfc3339(last),
                    "sent",
                    Some("sent"),
                    "handed to the axis",
                );
            }
            let axis_doc_id = (state == OutState::Queued).then(|| uuid(&mut self.random));
            self.outbox(
                OutboxRow {
                    kind: "edoc",
                    document: &id,
                    priority,
                    size: packet_size,
                    state: outbox_state,
                    at: &packed_at,
                },
                &packet,
                axis_doc_id.as_deref(),
            );
            waiting_packet = outbox_state == "sent";
            match state {
                OutState::Queued => {
                    last = self.later(last, 0.0005);
                    let doc_id = axis_doc_id.clone().unwrap_or_default();
                    self.event(
                        &id,
                        &rfc3339(last),
                        "queued",
                        Some("queued"),
                        &format!("the axis holds the packet as DocId {doc_id}"),
                    );
                }
                OutState::Quarantined => {
                    last = self.later(last, 0.0005);
                    row.quarantine_reason = Some("the axis refused the packet: unknown receiver");
                    self.event(
                        &id,
                        &rfc3339(last),
                        "refused",
                        Some("quarantined"),
                        "the axis refused the packet: unknown receiver",
                    );
                }
                _ => {}
            }
            row.packet_sha256 = Some(packet);
            row.packet_size = Some(packet_size);
            row.axis_doc_id = axis_doc_id;
        }
        if waiting_packet {
            self.expected.sent_unconfirmed += 1;
        }
        match state {
            OutState::Accepted | OutState::Signed | OutState::Packed | OutState::Sent => {
                self.expected.waiting_to_send += 1;
                if self.expected.oldest_waiting_since.is_none() {
                    // Documents are generated oldest first.
                    self.expected.oldest_waiting_since = Some(created.clone());
                }
            }
            OutState::Quarantined => self.expected.failed_outgoing += 1,
            OutState::Registered => self.expected.registered_only += 1,
            OutState::Queued => {
                // The recipients' statuses: 01 each, and 03 from 90% of them.
                for organ in &recipients {
                    let delay = 0.002 + self.random.unit() * 0.05;
                    let received = self.later(last, delay);
                    self.received_status(&id, organ, "01", "Đã đến", received);
                    if self.random.chance(0.9) {
                        let delay = 0.05 + self.random.unit() * 2.0;
                        let accepted = self.later(received, delay);
                        self.received_status(&id, organ, "03", "Đã tiếp nhận", accepted);
                        last = last.max(accepted);
                    } else {
                        last = last.max(received);
                    }
                }
                if self.random.chance(0.001) {
                    last = self.later(last, 1.0);
                    row.cancelled_at = Some(rfc3339(last));
                    row.cancel_reason = Some("thu hồi theo thỏa thuận với các bên nhận");
                    self.event(
                        &id,
                        &rfc3339(last),
                        "cancelled",
                        None,
                        "recalled: all recipients agreed",
                    );
                }
            }
        }
        row.updated_at = rfc3339(last);
        self.document(&row);
    }

    fn incoming(&mut self, at: i64) {
        let id = ulid(at, &mut self.random);
        let created = rfc3339(at);
        let peer_index = self.random.below(PEERS as u64) as usize;
        let organ = peer(peer_index);
        let axis_doc_id = uuid(&mut self.random);
        let packet = sha256(&mut self.random);
        let age = self.age_days(at);
        if self.random.chance(0.0002) {
            // A status packet nobody could read: a ledger row, no document.
            let delivery = uuid(&mut self.random);
            let unreadable = sha256(&mut self.random);
            self.delivery(
                &delivery,
                "status",
                "quarantined",
                None,
                &organ,
                Some("the packet is not valid edXML"),
                &created,
                &unreadable,
                2_900,
            );
            self.expected.quarantined_incoming += 1;
        }
        if self.random.chance(0.0005) {
            let row = DocumentRow {
                id: id.clone(),
                direction: "in",
                state: "quarantined",
                subject: "(unusable packet from the axis)".to_string(),
                meta_json: "{}".to_string(),
                created_at: created.clone(),
                updated_at: created.clone(),
                packet_sha256: Some(packet.clone()),
                packet_size: Some(120_000),
                axis_doc_id: Some(axis_doc_id.clone()),
                peer_organ: Some(organ.clone()),
                quarantine_reason: Some("the attachment's ZIP entry fails its CRC check"),
                ..DocumentRow::default()
            };
            self.document(&row);
            self.event(
                &id,
                &created,
                "quarantined",
                Some("quarantined"),
                "the attachment's ZIP entry fails its CRC check",
            );
            self.delivery(
                &axis_doc_id,
                "edoc",
                "quarantined",
                Some(&id),
                &organ,
                Some("the attachment's ZIP entry fails its CRC check"),
                &created,
                &packet,
                120_000,
            );
            self.expected.quarantined_incoming += 1;
            return;
        }
        let year = vietnam_year(at);
        let their_number = {
            let last = self.peer_numbers.entry((peer_index, year)).or_default();
            *last += 1;
            *last
        };
        let notation = NOTATIONS[self.random.below(NOTATIONS.len() as u64) as usize];
        let promulgation = vietnam_date(at, '/');
        let document_id = format!("{organ},{promulgation},{their_number:02}/{notation}");
        let priority = self.priority();
        let due_date = self
            .random
            .chance(0.2)
            .then(|| vietnam_date(at + (5 + self.random.below(26) as i64) * MS_PER_DAY, '-'));
        let subject = format!(
            "{} (số {their_number})",
            SUBJECTS[self.random.below(SUBJECTS.len() as u64) as usize]
        );
        let (type_code, type_name) = TYPES[self.random.below(TYPES.len() as u64) as usize];
        let due = due_date.as_ref().map_or("null".to_string(), |date| {
            format!(r#""{}""#, date.replace('-', "/"))
        });
        let meta_json = [
            format!(r#"{{"from":{{"organ_id":"{organ}","organ_name":"Ủy ban nhân dân {organ}","#),
            r#""organ_add":"Số 1 đường Trần Hưng Đạo","email":"vanthu@example.gov.vn","#
                .to_string(),
            r#""telephone":"0236 3821 000","fax":"","website":""},"#.to_string(),
            format!(r#""to":[{{"organ_id":"{OUR_ORGAN}","#),
            r#""organ_name":"Ủy ban nhân dân phường Trung tâm","organ_add":"","email":"","#
                .to_string(),
            format!(r#""telephone":"","fax":"","website":""}}],"document_id":"{document_id}","#),
            format!(
                r#""code":{{"code_number":"{their_number:02}","code_notation":"{notation}"}},"#
            ),
            r#""promulgation_info":{"place":"Đà Nẵng","#.to_string(),
            format!(r#""promulgation_date":"{promulgation}"}},"document_type":{{"type":1,"#),
            format!(
                r#""type_detail":{type_code},"type_name":"{type_name}"}},"subject":"{subject}","#
            ),
            r#""signer_info":{"competence":"TM.","position":"Phó Chủ tịch","#.to_string(),
            format!(r#""full_name":"Trần Thị B"}},"due_date":{due},"to_places":["Như trên","#),
            format!(
                r#""Lưu: VT"],"other_info":{{"priority":{priority},"sphere_of_promulgation":"","#
            ),
            r#""typer_notation":"","promulgation_amount":1,"page_amount":2},"#.to_string(),
            r#""response_for":[],"steering_type":"0","trace_headers":[]}"#.to_string(),
        ]
        .concat();
        let signatures_json = [
            r#"{"valid":true,"signatures":[{"signer":"CN=Trần Thị B,"#.to_string(),
            format!(r#" O=Ủy ban nhân dân {organ}, C=VN","#),
            r#""issuer":"CN=CA phục vụ các cơ quan Nhà nước, O=Ban Cơ yếu Chính phủ, C=VN","#
                .to_string(),
            format!(r#""signed_at":"{created}","level":"B-T","covers_whole_file":true,"#),
            r#""chain":"valid","revocation":"good","modified_after":false},"#.to_string(),
            format!(r#"{{"signer":"CN=Ủy ban nhân dân {organ}, C=VN","#),
            r#""issuer":"CN=CA phục vụ các cơ quan Nhà nước, O=Ban Cơ yếu Chính phủ, C=VN","#
                .to_string(),
            format!(r#""signed_at":"{created}","level":"B-T","covers_whole_file":true,"#),
            r#""chain":"valid","revocation":"good","modified_after":false}]}"#.to_string(),
        ]
        .concat();
        let file_bytes = self.files(&id, their_number);
        let packet_size = file_bytes * 4 / 3 + 8_000;
        // The clerk's statuses, in order.
        let mut path: Vec<&'static str> = vec!["01"];
        let fresh = age < 3.0;
        let awaiting = if fresh {
            self.random.chance(0.6)
        } else {
            self.random.chance(0.0002)
        };
        if !awaiting {
            let draw = self.random.unit();
            let open_share = if age < 60.0 { 0.41 } else { 0.05 };
            if draw < 0.01 {
                path.push("02");
            } else {
                path.push("03");
                let open = draw < open_share;
                let end = if open {
                    match self.random.unit() {
                        draw if draw < 0.6 => "03",
                        draw if draw < 0.8 => "04",
                        _ => "05",
                    }
                } else {
                    "06"
                };
                if end != "03" && (end == "04" || self.random.chance(0.5)) {
                    path.push("04");
                }
                if end == "05" || (end == "06" && self.random.chance(0.3)) {
                    path.push("05");
                }
                if end == "06" {
                    path.push("06");
                }
            }
        }
        let business_status = path.last().copied().unwrap_or("01");
        let cancelled = self.random.chance(0.001);
        let mut row = DocumentRow {
            id: id.clone(),
            direction: "in",
            document_id: Some(document_id),
            state: "received",
            subject,
            code_number: Some(their_number),
            code_notation: Some(notation),
            meta_json,
            created_at: created.clone(),
            priority,
            packet_sha256: Some(packet.clone()),
            packet_size: Some(packet_size),
            axis_doc_id: Some(axis_doc_id.clone()),
            peer_organ: Some(organ.clone()),
            signatures_json: Some(signatures_json),
            business_status: Some(business_status),
            due_date: due_date.clone(),
            ..DocumentRow::default()
        };
        self.event(
            &id,
            &created,
            "received",
            Some("received"),
            &format!("fetched from the axis as docId {axis_doc_id}"),
        );
        self.delivery(
            &axis_doc_id,
            "edoc",
            "document",
            Some(&id),
            &organ,
            None,
            &created,
            &packet,
            packet_size,
        );
        let mut last = at;
        for (step, code) in path.iter().enumerate() {
            let when = if step == 0 {
                self.later(at, 0.0005)
            } else {
                let days = match *code {
                    "02" | "03" => 0.04 + self.random.unit() * 2.0,
                    "04" => 0.5 + self.random.unit() * 2.0,
                    "05" => 1.0 + self.random.unit() * 8.0,
                    _ => 3.0 + self.random.unit() * 27.0,
                };
                self.later(last, days)
            };
            last = when;
            if *code == "03" {
                let registered_year = vietnam_year(when);
                row.register_year = Some(registered_year);
                row.incoming_number = Some(self.next_number("in", registered_year));
                row.registered_at = Some(rfc3339(when));
            }
            self.sent_status(&id, priority, code, when);
        }
        if cancelled {
            last = self.later(last, 0.5);
            row.cancelled_at = Some(rfc3339(last));
            row.cancel_reason = Some("bên gửi thu hồi, đã đồng ý (15)");
            self.event(&id, &rfc3339(last), "cancelled", None, "recall agreed (15)");
        } else {
            if business_status == "01" {
                self.expected.awaiting_clerk += 1;
            }
            if let Some(due) = &due_date {
                if business_status != "02" && business_status != "06" {
                    *self.open_due_dates.entry(due.clone()).or_default() += 1;
                }
            }
        }
        row.updated_at = rfc3339(last);
        self.document(&row);
    }

    /// A status we sent about an incoming document: its packet in the outbox, its row, its
    /// events. Packets of the unreliable last days wait, half of them.
    fn sent_status(&mut self, document: &str, priority: u8, code: &'static str, when: i64) {
        let at = rfc3339(when);
        let waiting = self.age_days(when) < UNRELIABLE_LINK_DAYS && self.random.chance(0.5);
        let state = if !waiting {
            "queued"
        } else if self.random.chance(0.6) {
            "sent"
        } else {
            "pending"
        };
        if state == "sent" {
            self.expected.sent_unconfirmed += 1;
        }
        let packet = sha256(&mut self.random);
        let axis_doc_id = (state == "queued").then(|| uuid(&mut self.random));
        let size = 2_400 + self.random.below(900) as i64;
        let outbox = self.outbox(
            OutboxRow {
                kind: "status",
                document,
                priority,
                size,
                state,
                at: &at,
            },
            &packet,
            axis_doc_id.as_deref(),
        );
        let description = status_description(code);
        self.statements
            .status
            .execute(params![
                document,
                "sent",
                OUR_ORGAN,
                code,
                description,
                packet_timestamp(when),
                Option::<&str>::None,
                outbox,
                at
            ])
            .expect("insert a status sent");
        self.count("document_statuses", 1);
        self.event(
            document,
            &at,
            "status_sent",
            None,
            &format!("status {code} queued for the sender"),
        );
        if let Some(doc_id) = axis_doc_id {
            let queued = rfc3339(self.later(when, 0.0002));
            self.event(
                document,
                &queued,
                "status_queued",
                None,
                &format!("status packet accepted by the axis as DocId {doc_id}"),
            );
        }
    }

    /// A recipient's status about one of our documents: its row, its ledger row, its event.
    fn received_status(
        &mut self,
        document: &str,
        organ: &str,
        code: &str,
        description: &str,
        when: i64,
    ) {
        let at = rfc3339(when);
        let axis_doc_id = uuid(&mut self.random);
        let packet = sha256(&mut self.random);
        self.statements
            .status
            .execute(params![
                document,
                "received",
                organ,
                code,
                description,
                packet_timestamp(when),
                axis_doc_id,
                Option::<i64>::None,
                at
            ])
            .expect("insert a status received");
        self.count("document_statuses", 1);
        self.delivery(
            &axis_doc_id,
            "status",
            "status",
            Some(document),
            organ,
            None,
            &at,
            &packet,
            2_700,
        );
        self.event(
            document,
            &at,
            "status_received",
            None,
            &format!("status {code} from {organ}: {description}"),
        );
    }

    /// The main PDF and, for 35%, an attachment. Returns their total size.
    fn files(&mut self, document: &str, number: u32) -> i64 {
        let main = 60_000 + self.random.below(1_500_000) as i64;
        let sha = sha256(&mut self.random);
        self.statements
            .file
            .execute(params![
                document,
                1,
                format!("{number:02}-van-ban.pdf"),
                "application/pdf",
                sha,
                main
            ])
            .expect("insert a file");
        self.count("document_files", 1);
        if !self.random.chance(0.35) {
            return main;
        }
        let extra = 20_000 + self.random.below(3_000_000) as i64;
        let sha = sha256(&mut self.random);
        self.statements
            .file
            .execute(params![
                document,
                2,
                "phu-luc.pdf",
                "application/pdf",
                sha,
                extra
            ])
            .expect("insert a file");
        self.count("document_files", 1);
        main + extra
    }

    fn event(&mut self, document: &str, at: &str, kind: &str, state: Option<&str>, detail: &str) {
        self.statements
            .event
            .execute(params![document, at, kind, state, detail])
            .expect("insert an event");
        self.count("document_events", 1);
    }

    fn outbox(&mut self, row: OutboxRow<'_>, packet: &str, axis_doc_id: Option<&str>) -> i64 {
        let (attempts, last_error) = match row.state {
            "pending" => (0, None),
            "sent" => (3, Some("connect to the axis: connection timed out")),
            "refused" => (1, Some("the axis refused the packet: unknown receiver")),
            _ => (1, None),
        };
        self.statements
            .outbox
            .execute(params![
                row.kind,
                row.document,
                row.priority,
                packet,
                row.size,
                row.state,
                attempts,
                last_error,
                axis_doc_id,
                row.at
            ])
            .expect("insert an outbox row");
        self.count("outbox", 1);
        self.connection.last_insert_rowid()
    }

    #[allow(clippy::too_many_arguments)]
    fn delivery(
        &mut self,
        axis_doc_id: &str,
        message_type: &str,
        outcome: &str,
        document: Option<&str>,
        organ: &str,
        reason: Option<&str>,
        at: &str,
        packet: &str,
        size: i64,
    ) {
        self.statements
            .delivery
            .execute(params![
                axis_doc_id,
                message_type,
                outcome,
                document,
                packet,
                size,
                organ,
                reason,
                at
            ])
            .expect("insert a delivery");
        self.count("incoming_deliveries", 1);
    }

    fn document(&mut self, row: &DocumentRow) {
        self.statements
            .document
            .execute(params![
                row.id,
                row.direction,
                row.document_id,
                row.state,
                row.subject,
                row.code_number,
                row.code_notation,
                row.register_year,
                row.meta_json,
                row.created_at,
                row.updated_at,
                row.priority,
                row.packet_sha256,
                row.packet_size,
                row.axis_doc_id,
                row.peer_organ,
                row.quarantine_reason,
                row.signatures_json,
                row.signature_level,
                row.sealed_at,
                row.register_series,
                row.incoming_number,
                row.registered_at,
                row.business_status,
                row.due_date,
                row.cancelled_at,
                row.cancel_reason
            ])
            .expect("insert a document");
        self.count("documents", 1);
    }
}

fn status_description(code: &str) -> &'static str {
    match code {
        "01" => "Đã đến",
        "02" => "Từ chối tiếp nhận: gửi nhầm cơ quan",
        "03" => "Đã tiếp nhận, vào sổ văn bản đến",
        "04" => "Đã phân công xử lý",
        "05" => "Đang xử lý",
        _ => "Đã hoàn thành",
    }
}

fn peer(index: usize) -> String {
    format!("000.{:02}.{:02}.H41", 20 + index / 100, index % 100)
}

// ---------------------------------------------------------------------------------------
// Identifiers, hashes and times.

/// xorshift64*: fast, deterministic; no cryptographic use.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn ulid(at_ms: i64, random: &mut XorShift) -> String {
    let entropy = (u128::from(random.next()) << 64 | u128::from(random.next())) & ((1 << 80) - 1);
    ulid::Ulid::from_parts(at_ms as u64, entropy).to_string()
}

fn sha256(random: &mut XorShift) -> String {
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        random.next(),
        random.next(),
        random.next(),
        random.next()
    )
}

fn uuid(random: &mut XorShift) -> String {
    let (high, low) = (random.next(), random.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        ((low >> 48) & 0x3fff) | 0x8000,
        low & 0xffff_ffff_ffff
    )
}

fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    now.as_millis() as i64
}

fn datetime(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("a time within the supported range")
}

/// RFC 3339 UTC with milliseconds, as the store writes its times.
fn rfc3339(ms: i64) -> String {
    let t = datetime(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The Vietnam-local (UTC+7) date, its parts joined by `separator`.
fn vietnam_date(ms: i64, separator: char) -> String {
    let t = datetime(ms + 7 * 3_600_000);
    format!(
        "{:04}{separator}{:02}{separator}{:02}",
        t.year(),
        t.month() as u8,
        t.day()
    )
}

fn vietnam_year(ms: i64) -> i32 {
    datetime(ms + 7 * 3_600_000).year()
}

/// A status packet's timestamp (Vietnam local, as the packets carry it).
fn packet_timestamp(ms: i64) -> String {
    let t = datetime(ms + 7 * 3_600_000);
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
