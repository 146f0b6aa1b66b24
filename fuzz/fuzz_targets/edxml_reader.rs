//! Fuzzes the edXML reader: arbitrary bytes must give a packet or an error, never a panic,
//! and must leave nothing staged once the packet is dropped.
#![no_main]

use docgate::edxml::{read_packet, Limits};
use libfuzzer_sys::fuzz_target;

/// Small limits, so the fuzzer reaches every limit quickly and runs stay fast.
fn small_limits() -> Limits {
    Limits {
        max_packet_bytes: 256 * 1024,
        max_header_bytes: 64 * 1024,
        max_header_elements: 2_000,
        max_depth: 32,
        max_attachments: 8,
        max_attachment_bytes: 1024 * 1024,
        max_total_attachment_bytes: 2 * 1024 * 1024,
        max_expansion_ratio: 100,
        expansion_ratio_min_bytes: 64 * 1024,
        max_name_bytes: 255,
    }
}

fuzz_target!(|data: &[u8]| {
    let staging = tempfile::tempdir().expect("the fuzz host can make a temp directory");
    let result = read_packet(data, staging.path(), &small_limits());
    if let Err(error) = &result {
        // Every message is one line.
        assert!(
            !error.to_string().contains('\n'),
            "multi-line message: {error}"
        );
    }
    drop(result);
    let left = std::fs::read_dir(staging.path()).expect("readable").count();
    assert_eq!(left, 0, "staged files outlived the packet");
});
