//! Signing benchmarks (issue 4), on a real SoftHSM2 token slowed to 250 ms per signature
//! by `TokenConfig::sign_delay` (benchmarks only), as a real USB token is:
//!
//! 1. **Agency-signed PDFs per second**, one at a time, against the **baseline** of the
//!    same token's bare signatures per second in the same run: the PAdES work around the
//!    token (incremental update, hashing, CMS, embedding) should cost next to nothing.
//! 2. **Status packets per second with batch signing vs one signature each**: 2,000
//!    status-sized items signed as one Merkle batch (one token signature over the root,
//!    a proof per item) against items signed one by one. Target: ≥ 50×.
//! 3. **Signing a 100 MB PDF**: `docgate sign --key-file` under `/usr/bin/time -f %M`; peak
//!    RSS against the 64 MB target, and the wall time.
//!
//! Run: `cargo bench --bench signing` or `tools/bench-signing.sh` (prints the machine too).
//! With `DOCGATE_BENCH_SUMMARY` set, the three figures are also appended to that file as
//! summary rows (`benches/shared/summary.rs`) for `tools/bench`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "shared/summary.rs"]
mod summary;

use std::time::{Duration, Instant};

use common::softhsm::{self, SoftHsm};
use docgate::signature::batch;
use docgate::signature::pades::{sign_pdf, SignatureDetails};
use docgate::signature::{DocumentSigner, TokenSigner};
use docgate::token::{Token, TokenConfig};

const TOKEN_DELAY: Duration = Duration::from_millis(250);
const TARGET_BATCH_RATIO: f64 = 50.0;
const TARGET_PEAK_RSS_MIB: f64 = 64.0;
/// The command named in the summary rows.
const COMMAND: &str = "tools/bench-signing.sh";

fn main() {
    let softhsm = SoftHsm::shared();
    let pki = softhsm::pki();
    let label = softhsm::unique_label("bench");
    softhsm.provision(&label, "1357", &[(&pki.rsa, "agency-seal")]);
    let dir = tempfile::tempdir().expect("dir");
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "1357\n").expect("pin");
    let mut config = TokenConfig::new(softhsm::MODULE, label.clone(), &pin);
    config.sign_delay = Some(TOKEN_DELAY);
    let token = Token::start(config);
    token
        .wait_ready(Duration::from_secs(20))
        .expect("token ready");
    let signer = TokenSigner::new(token.clone(), Vec::new()).expect("signer");
    println!(
        "docgate signing benchmark (SoftHSM2 token, RSA 2048, slowed to {} ms per signature)",
        TOKEN_DELAY.as_millis()
    );

    // 1. PDFs per second vs the token's own rate.
    let rounds = 8;
    let started = Instant::now();
    for index in 0..rounds {
        token
            .sign(format!("bare {index}").as_bytes())
            .expect("sign");
    }
    let bare = rounds as f64 / started.elapsed().as_secs_f64();
    let input = dir.path().join("in.pdf");
    std::fs::write(&input, docgate::demo::sample_pdf("benchmark").expect("pdf")).expect("pdf");
    let started = Instant::now();
    for index in 0..rounds {
        let output = dir.path().join(format!("out-{index}.pdf"));
        sign_pdf(
            &input,
            &output,
            &signer,
            time::OffsetDateTime::now_utc(),
            &SignatureDetails::default(),
            None,
        )
        .expect("sign pdf");
    }
    let pdfs = rounds as f64 / started.elapsed().as_secs_f64();
    println!(
        "agency-signed PDFs: {pdfs:.2}/s one at a time; the token's bare signatures: {bare:.2}/s → {:.2}× of the token's own rate",
        pdfs / bare
    );
    summary::Row {
        figure: &format!(
            "agency-signed PDFs per second, token slowed to {} ms per signature",
            TOKEN_DELAY.as_millis()
        ),
        value: format!("{pdfs:.2}/s one at a time"),
        baseline: format!("the same token's bare signatures: {bare:.2}/s"),
        verdict: format!("{:.2}× of the token's own rate (no target)", pdfs / bare),
        command: COMMAND,
    }
    .record();

    // 2. Batch vs single signatures for status packets.
    let items: Vec<Vec<u8>> = (0..2000)
        .map(|index| status_packet(index).into_bytes())
        .collect();
    let singles = 4;
    let started = Instant::now();
    for item in items.iter().take(singles) {
        docgate::signature::cms::sign_detached(&signer, &sha256(item)).expect("single");
    }
    let single_rate = singles as f64 / started.elapsed().as_secs_f64();
    let slices: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let started = Instant::now();
    let signed = batch::sign_batch(&signer, &slices).expect("batch");
    let batch_rate = items.len() as f64 / started.elapsed().as_secs_f64();
    let check = batch::verify_item(
        &items[1234],
        &signed.proofs[1234],
        &signed.root,
        &signed.root_signature,
    );
    assert!(check.included && check.root_signature_valid);
    let batch_ratio = batch_rate / single_rate;
    println!(
        "status packets: batch of {} {batch_rate:.0}/s vs one signature each {single_rate:.2}/s → {batch_ratio:.0}× (target ≥ 50×)",
        items.len(),
    );
    summary::Row {
        figure:
            "status packets signed per second, batch signing (one signature over a Merkle root)",
        value: format!(
            "{}/s (batch of {})",
            summary::grouped(batch_rate, 0),
            summary::grouped(items.len() as f64, 0)
        ),
        baseline: format!("one signature each, same token: {single_rate:.2}/s"),
        verdict: format!(
            "{}× (target ≥ {TARGET_BATCH_RATIO:.0}×): {}",
            summary::grouped(batch_ratio, 0),
            summary::met(batch_ratio >= TARGET_BATCH_RATIO)
        ),
        command: COMMAND,
    }
    .record();
    let _ = signer.chain();

    // 3. A 100 MB PDF, signed by the command line, peak RSS.
    let big = dir.path().join("big.pdf");
    std::fs::write(&big, common::large_valid_pdf(100 * 1024 * 1024, 1))
        .expect("write the large PDF");
    let key_dir = dir.path().join("keys");
    std::fs::create_dir_all(&key_dir).expect("keys");
    let ca = docgate::demo::pki::TestCa::create("bench CA", &key_dir, "ca").expect("ca");
    let leader = ca
        .issue_document_signer("Nguyễn Văn An", "UBND", 1, &key_dir, "leader")
        .expect("leader");
    let started = Instant::now();
    let output = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_docgate"))
        .arg("sign")
        .arg("--key-file")
        .arg(&leader.key_file)
        .args(["--role", "leader"])
        .arg(&big)
        .arg(dir.path().join("big-signed.pdf"))
        .output()
        .expect("time docgate sign");
    let wall = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peak_kib: u64 = String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .expect("peak RSS");
    let peak_mib = peak_kib as f64 / 1024.0;
    println!(
        "100 MiB PDF signed by `docgate sign --key-file`: peak RSS {peak_mib:.1} MiB (target ≤ 64 MB), {:.2} s",
        wall.as_secs_f64()
    );
    summary::Row {
        figure: "signing a 100 MiB PDF (`docgate sign --key-file`), peak RSS",
        value: format!("{peak_mib:.1} MiB, {:.2} s", wall.as_secs_f64()),
        baseline: "—".to_string(),
        verdict: format!(
            "target ≤ {TARGET_PEAK_RSS_MIB:.0} MiB: {}",
            summary::met(peak_mib <= TARGET_PEAK_RSS_MIB)
        ),
        command: COMMAND,
    }
    .record();
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// About the size of an edXML status packet.
fn status_packet(index: usize) -> String {
    format!(
        "<edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageStatus>\
         <edXML:ResponseFor><edXML:OrganId>001.00.10.H41</edXML:OrganId>\
         <edXML:Code>{index}/UBND-VP</edXML:Code></edXML:ResponseFor>\
         <edXML:StatusCode>01</edXML:StatusCode><edXML:Description>Đã đến</edXML:Description>\
         </edXML:MessageStatus></edXML:edXMLHeader></edXML:edXMLEnvelope>"
    )
}
