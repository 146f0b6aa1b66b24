//! The binary itself (issue 9): its size on disk, and how long `docgate run` takes to answer
//! its first `/healthz` on a fresh state directory. Each beside a baseline from the same run.
//!
//! The binary measured is the one named by `DOCGATE_BENCH_BINARY`: `tools/bench` sets it to a
//! copy of what `cargo build --release` made, the binary that ships (the appliance image
//! installs that build). Without it, the one Cargo built for this bench: same code and
//! profile, but `cargo bench` unifies the features of the dev-dependencies into it
//! (reqwest's blocking client, for one), so its size differs from the shipped binary's by a
//! few percent, and Cargo copies whichever of the two was built last to
//! `target/release/docgate`.
//!
//! 1. **Binary size.** Bytes of that file (the release profile: thin LTO,
//!    `strip = "debuginfo"`, so symbol tables stay). **Baseline:** the same file's code, its
//!    ELF `.text` section, read
//!    from the section headers, so growth in code can be told from growth in data and symbol
//!    tables; the largest sections are printed. No issue sets a target: the figure is tracked
//!    (the appliance image's ≤ 400 MB target holds it, compressed).
//! 2. **Start-up time.** [`DEFAULT_STARTS`] times (`DOCGATE_BENCH_STARTS`): a fresh gateway
//!    directory (`docgate config init`, not timed), then `docgate run --config` is spawned,
//!    logging at `info` to a file as under systemd, and `GET /healthz` is sent on a new
//!    connection every millisecond until one answers 200; the figure is the time from the
//!    spawn to that answer, median (min and max printed). Each gateway is then stopped with
//!    SIGTERM. **Baseline, interleaved with the start-ups:** spawning the same binary with
//!    `--version` to its exit — what starting any process of this size costs here. Target
//!    (issue #8): ready ≤ 1 s after its unit starts; this is the daemon alone on the bench
//!    machine, not the unit on the box.
//!
//! Run: `cargo bench --bench startup`. With `DOCGATE_BENCH_SUMMARY` set, both figures are
//! also appended to that file as summary rows (`benches/shared/summary.rs`) for
//! `tools/bench`. Run as root, each daemon drops to the test user (`--drop-to`), as in the
//! tests. `DOCGATE_BENCH_DIR` picks where the gateway directories go (default: Cargo's
//! `target/tmp`).
//!
//! It measures and reports; it does not judge the binary's contents (`cargo bloat` does that
//! better) nor the unit's start under systemd (`tools/image-update-test`'s boot report).

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

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::GatewayDir;
use machine::load_average;

/// Start-ups measured unless `DOCGATE_BENCH_STARTS` says otherwise.
const DEFAULT_STARTS: usize = 20;
/// How long one start-up may take before the run fails.
const START_LIMIT: Duration = Duration::from_secs(30);
/// The pause between two `/healthz` attempts while the daemon starts.
const POLL_INTERVAL: Duration = Duration::from_millis(1);
const TARGET_START: Duration = Duration::from_secs(1);
const MIB: f64 = 1024.0 * 1024.0;
/// The command named in the summary rows.
const COMMAND: &str = "cargo bench --bench startup";

fn main() {
    let (binary, which) = measured_binary();
    let starts = settings::positive("DOCGATE_BENCH_STARTS", DEFAULT_STARTS);
    let run_dir = settings::run_dir("startup-bench-");
    println!("docgate binary benchmark");
    println!("  binary:    {} ({which})", binary.display());
    println!("  load:      {}", load_average());
    println!();

    binary_size(&binary, which);
    println!();
    start_up(&binary, run_dir.path(), starts);
}

/// The binary to measure, and which build it is.
fn measured_binary() -> (PathBuf, &'static str) {
    match std::env::var_os("DOCGATE_BENCH_BINARY") {
        Some(path) => (PathBuf::from(path), "`cargo build --release`, as shipped"),
        None => (
            PathBuf::from(env!("CARGO_BIN_EXE_docgate")),
            "the bench build, not the shipped one",
        ),
    }
}

// ---------------------------------------------------------------------------------------
// 1. Binary size.

fn binary_size(binary: &Path, which: &str) {
    let bytes = std::fs::read(binary).expect("read the docgate binary");
    let mut sections = elf_sections(&bytes);
    sections.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    let text = sections
        .iter()
        .find(|(name, _)| name == ".text")
        .map(|(_, size)| *size)
        .expect("the binary has a .text section");
    let total = bytes.len() as u64;
    println!(
        "binary size: {total} bytes ({:.1} MiB); code (.text) {text} bytes ({:.1} MiB, {:.0}% of the file)",
        total as f64 / MIB,
        text as f64 / MIB,
        percent(text, total)
    );
    println!("  largest sections:");
    for (name, size) in sections.iter().take(8) {
        println!(
            "    {name:<24} {:>7.2} MiB {:>4.0}%",
            *size as f64 / MIB,
            percent(*size, total)
        );
    }
    summary::Row {
        figure: &format!("size of the `docgate` binary ({which})"),
        value: format!(
            "{:.1} MiB ({} bytes)",
            total as f64 / MIB,
            summary::grouped(total as f64, 0)
        ),
        baseline: format!(
            "its code, the ELF `.text` section: {:.1} MiB ({:.0}% of the file)",
            text as f64 / MIB,
            percent(text, total)
        ),
        verdict: "no target (tracked)".to_string(),
        command: COMMAND,
    }
    .record();
}

fn percent(part: u64, whole: u64) -> f64 {
    part as f64 * 100.0 / whole.max(1) as f64
}

/// The (name, bytes in the file) of every section of a 64-bit little-endian ELF file, read
/// from its section headers. Sections that take no room in the file (`.bss`) count 0.
fn elf_sections(bytes: &[u8]) -> Vec<(String, u64)> {
    assert!(
        bytes.starts_with(b"\x7fELF") && bytes.get(4) == Some(&2) && bytes.get(5) == Some(&1),
        "docgate is not a 64-bit little-endian ELF file"
    );
    let header_offset = read_u64(bytes, 0x28) as usize;
    let header_size = usize::from(read_u16(bytes, 0x3A));
    let count = usize::from(read_u16(bytes, 0x3C));
    let names_index = usize::from(read_u16(bytes, 0x3E));
    let header = |index: usize| header_offset + index * header_size;
    let names_offset = read_u64(bytes, header(names_index) + 0x18) as usize;
    (0..count)
        .map(|index| {
            let at = header(index);
            let name = section_name(bytes, names_offset + read_u32(bytes, at) as usize);
            const NO_BITS: u32 = 8;
            let size = if read_u32(bytes, at + 4) == NO_BITS {
                0
            } else {
                read_u64(bytes, at + 0x20)
            };
            (name, size)
        })
        .collect()
}

fn section_name(bytes: &[u8], at: usize) -> String {
    let rest = bytes.get(at..).expect("a section name inside the file");
    let end = rest
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(field(bytes, at))
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(field(bytes, at))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(field(bytes, at))
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes
        .get(at..at + N)
        .and_then(|slice| slice.try_into().ok())
        .expect("an ELF header field inside the file")
}

// ---------------------------------------------------------------------------------------
// 2. Start-up time.

fn start_up(binary: &Path, run_dir: &Path, starts: usize) {
    let mut ready = Vec::with_capacity(starts);
    let mut version = Vec::with_capacity(starts);
    for index in 0..starts {
        version.push(version_run(binary));
        ready.push(ready_run(binary, &run_dir.join(format!("gateway-{index}"))));
    }
    ready.sort_unstable();
    version.sort_unstable();
    let (ready_median, version_median) = (median(&ready), median(&version));
    println!(
        "start-up: `docgate run` on a fresh state directory to the first 200 from /healthz, {starts} runs: median {:.1} ms (min {:.1}, max {:.1})",
        ms(ready_median),
        ms(ready[0]),
        ms(ready[ready.len() - 1])
    );
    println!(
        "  baseline: `docgate --version` from spawn to exit, {starts} runs: median {:.1} ms (min {:.1}, max {:.1})",
        ms(version_median),
        ms(version[0]),
        ms(version[version.len() - 1])
    );
    println!("  load average at the end: {}", load_average());
    summary::Row {
        figure:
            "start-up: `docgate run` on a fresh state directory to the first 200 from `/healthz`",
        value: format!(
            "{:.1} ms (median of {starts}; max {:.1} ms)",
            ms(ready_median),
            ms(ready[ready.len() - 1])
        ),
        baseline: format!(
            "the same binary with `--version`, spawn to exit: {:.1} ms (median)",
            ms(version_median)
        ),
        verdict: format!(
            "target ≤ {} s (issue #8, the unit on the box): {} by the daemon here",
            TARGET_START.as_secs(),
            summary::met(ready_median <= TARGET_START)
        ),
        command: COMMAND,
    }
    .record();
}

/// Spawns `docgate --version` and waits for it to exit; the time it took.
fn version_run(binary: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run docgate --version");
    let took = started.elapsed();
    assert!(status.success(), "docgate --version failed: {status}");
    took
}

/// Starts `docgate run` on a fresh gateway directory; the time to its first 200 from
/// `/healthz`. The daemon is stopped before returning.
fn ready_run(binary: &Path, dir: &Path) -> Duration {
    let gateway = GatewayDir::init(dir, &[]);
    let address: SocketAddr = gateway
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("the gateway's address");
    // Built before the clock starts: as root this hands the directory to the test user.
    let mut command = daemon::run_command(Command::new(binary), &gateway);
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn docgate run");
    let took = wait_for_healthz(&mut child, address, started);
    daemon::stop(&mut child, Duration::from_secs(20));
    took
}

/// Polls `/healthz` until it answers 200; the time since `started`. Panics if the daemon
/// exits or takes longer than [`START_LIMIT`].
fn wait_for_healthz(child: &mut Child, address: SocketAddr, started: Instant) -> Duration {
    loop {
        if healthz_status(address) == Some(200) {
            return started.elapsed();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("docgate run exited before answering /healthz: {status}");
        }
        assert!(
            started.elapsed() < START_LIMIT,
            "docgate run did not answer /healthz 200 within {START_LIMIT:?}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// One `GET /healthz` on a new connection: the status code, or None when nothing answers.
fn healthz_status(address: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(START_LIMIT)).ok()?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
