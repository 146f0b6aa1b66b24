//! Throughput of the edXML reader against the floor it cannot beat: a plain streaming
//! base64 decode of the same attachment text. Generates a packet with a ~100 MB attachment
//! in a temporary directory, then reports the best of three runs of each, in MB/s of
//! input, and their ratio (the target is at least 0.5). The reader hashes and writes on a
//! helper thread while it decodes and inflates, so its figure assumes a second core is
//! free; the baseline is single-threaded by nature.
//!
//! Run: `cargo bench --bench edxml_throughput`. `DOCGATE_BENCH_EDXML_MIB` changes the
//! attachment's size (default 100 MiB; smaller for a quick check of the plumbing).

#[path = "shared/settings.rs"]
mod settings;
#[path = "shared/summary.rs"]
mod summary;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::read::DecoderReader;
use docgate::edxml::{
    read_packet_file, write_packet, EdocHeader, Header, Limits, Organization, OutgoingAttachment,
};

const DEFAULT_ATTACHMENT_MIB: usize = 100;
const RUNS: usize = 3;
const TARGET_RATIO: f64 = 0.5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let attachment_bytes =
        settings::positive("DOCGATE_BENCH_EDXML_MIB", DEFAULT_ATTACHMENT_MIB) * 1024 * 1024;
    let directory = tempfile::tempdir()?;
    let attachment = directory.path().join("attachment.pdf");
    write_pseudo_random_file(&attachment, attachment_bytes)?;
    let packet = directory.path().join("packet.edxml");
    let agency = Organization {
        organ_id: "000.00.00.H41".into(),
        ..Organization::default()
    };
    let header = Header::Edoc(EdocHeader {
        from: agency.clone(),
        to: vec![agency],
        ..EdocHeader::default()
    });
    let started = Instant::now();
    write_packet(
        &header,
        &[OutgoingAttachment::from_file(&attachment)?],
        BufWriter::new(File::create(&packet)?),
    )?;
    let build_time = started.elapsed();
    let packet_bytes = std::fs::metadata(&packet)?.len();
    let base64_text = directory.path().join("content.b64");
    let base64_bytes = extract_base64_text(&packet, &base64_text)?;
    println!(
        "packet: {:.1} MB (attachment {:.1} MB), built in {:.2} s ({:.1} MB/s)",
        megabytes(packet_bytes),
        megabytes(attachment_bytes as u64),
        build_time.as_secs_f64(),
        megabytes(packet_bytes) / build_time.as_secs_f64()
    );

    let staging = tempfile::tempdir_in(directory.path())?;
    let ours = best_of(RUNS, || {
        let packet = read_packet_file(&packet, staging.path(), &Limits::default())
            .map_err(io::Error::other)?;
        drop(packet);
        Ok(())
    })?;
    let plain = best_of(RUNS, || {
        let mut decoder = DecoderReader::new(
            BufReader::with_capacity(256 * 1024, File::open(&base64_text)?),
            &STANDARD,
        );
        io::copy(&mut decoder, &mut io::sink())?;
        Ok(())
    })?;
    let simd = best_of(RUNS, || {
        let engine = base64::engine::Simd::standard(base64::engine::general_purpose::PAD);
        let mut decoder = DecoderReader::new(
            BufReader::with_capacity(256 * 1024, File::open(&base64_text)?),
            &engine,
        );
        io::copy(&mut decoder, &mut io::sink())?;
        Ok(())
    })?;
    // The same read with staging in memory (tmpfs), to show what the disk writes cost.
    let in_memory = match tempfile::tempdir_in("/dev/shm") {
        Ok(memory_staging) => Some(best_of(RUNS, || {
            let packet = read_packet_file(&packet, memory_staging.path(), &Limits::default())
                .map_err(io::Error::other)?;
            drop(packet);
            Ok(())
        })?),
        Err(_) => None,
    };
    let ours_rate = megabytes(packet_bytes) / ours.as_secs_f64();
    let plain_rate = megabytes(base64_bytes) / plain.as_secs_f64();
    println!("read_packet (decode + unzip + CRC + SHA-256 + staging): {ours_rate:.1} MB/s (best of {RUNS}: {:.3} s)", ours.as_secs_f64());
    println!("plain streaming base64 decode to nowhere:              {plain_rate:.1} MB/s (best of {RUNS}: {:.3} s)", plain.as_secs_f64());
    let simd_rate = megabytes(base64_bytes) / simd.as_secs_f64();
    println!("plain streaming base64 decode, SIMD engine:            {simd_rate:.1} MB/s (best of {RUNS}: {:.3} s)", simd.as_secs_f64());
    if let Some(in_memory) = in_memory {
        println!(
            "read_packet staging on tmpfs (no disk writes):          {:.1} MB/s (best of {RUNS}: {:.3} s)",
            megabytes(packet_bytes) / in_memory.as_secs_f64(),
            in_memory.as_secs_f64()
        );
    }
    let ratio = ours_rate / plain_rate;
    println!("ratio: {ratio:.2} (target >= {TARGET_RATIO:.2})");
    summary::Row {
        figure: &format!(
            "edXML parse (`read_packet`) of a {:.0} MB packet",
            megabytes(packet_bytes)
        ),
        value: format!("{} MB/s (best of {RUNS})", summary::grouped(ours_rate, 0)),
        baseline: format!(
            "a plain streaming base64 decode of the same bytes: {} MB/s",
            summary::grouped(plain_rate, 0)
        ),
        verdict: format!(
            "{ratio:.2}× (target ≥ {TARGET_RATIO}×): {}",
            summary::met(ratio >= TARGET_RATIO)
        ),
        command: "cargo bench --bench edxml_throughput",
    }
    .record();
    Ok(())
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn best_of(runs: usize, mut run: impl FnMut() -> io::Result<()>) -> io::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        run()?;
        best = best.min(started.elapsed());
    }
    Ok(best)
}

/// Writes `size` bytes of xorshift output: incompressible, like the streams inside a PDF.
fn write_pseudo_random_file(path: &Path, size: usize) -> io::Result<()> {
    let mut output = BufWriter::new(File::create(path)?);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; 1024 * 1024];
    let mut written = 0;
    while written < size {
        for word in chunk.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let count = chunk.len().min(size - written);
        output.write_all(&chunk[..count])?;
        written += count;
    }
    output.flush()
}

/// Copies the text of the packet's one `ContentTransferEncoded` element to `target`.
fn extract_base64_text(packet: &Path, target: &Path) -> io::Result<u64> {
    let mut text = Vec::new();
    File::open(packet)?.read_to_end(&mut text)?;
    let marker = b"ContentTransferEncoded";
    let open = text
        .windows(marker.len())
        .position(|window| window == marker)
        .ok_or_else(|| io::Error::other("no content"))?;
    let start = open
        + text[open..]
            .iter()
            .position(|&byte| byte == b'>')
            .ok_or_else(|| io::Error::other("no >"))?
        + 1;
    let end = start
        + text[start..]
            .iter()
            .position(|&byte| byte == b'<')
            .ok_or_else(|| io::Error::other("no <"))?;
    std::fs::write(target, &text[start..end])?;
    Ok((end - start) as u64)
}
