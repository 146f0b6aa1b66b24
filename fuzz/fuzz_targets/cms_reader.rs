//! Fuzzes the CMS signature reader: arbitrary bytes, read as the detached CMS of a PDF's
//! `/Contents` (or a timestamp token), must give the parsed facts or a one-line error —
//! never a panic. When it parses, checking the signature against each certificate it
//! carries, and reading its timestamp token the same way, must not panic either.
#![no_main]

use docgate::signature::cms;
use docgate_fuzz::assert_one_line;
use libfuzzer_sys::fuzz_target;

fn read(data: &[u8], depth: u8) {
    let parsed = match cms::parse(data) {
        Ok(parsed) => parsed,
        Err(error) => return assert_one_line(&error.to_string()),
    };
    for certificate in &parsed.certificates {
        let _ = cms::signature_is_valid(&parsed, certificate);
    }
    if let Some(signer) = &parsed.signer_certificate {
        let _ = cms::signature_is_valid(&parsed, signer);
    }
    if let (Some(token), 0) = (&parsed.timestamp_token, depth) {
        read(token, depth + 1);
    }
}

fuzz_target!(|data: &[u8]| read(data, 0));
