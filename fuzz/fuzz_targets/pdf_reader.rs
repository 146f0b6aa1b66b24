//! Fuzzes the PDF structure reader: arbitrary bytes, opened as a PDF from memory, must give
//! the signatures, the last page and the signed bytes of every usable byte range — or a
//! one-line error — never a panic, and never more memory or time than the limits allow.
#![no_main]

use std::io::Cursor;

use docgate::signature::pdf::{find_page, Limits, PdfError, PdfFile};
use libfuzzer_sys::fuzz_target;

fn check_one_line(error: &PdfError) {
    assert!(
        !error.to_string().contains('\n'),
        "multi-line message: {error}"
    );
}

fuzz_target!(|data: &[u8]| {
    // Small limits, so the fuzzer reaches every limit quickly and runs stay fast.
    let opened = PdfFile::from_source(Box::new(Cursor::new(data.to_vec())), Limits::small());
    let mut file = match opened {
        Ok(file) => file,
        Err(error) => return check_one_line(&error),
    };
    match file.signatures() {
        Ok(signatures) => {
            for signature in signatures {
                let _ = signature.cms_der();
                let _ = signature.signing_time();
                if let Ok(coverage) = &signature.coverage {
                    let mut signed = 0u64;
                    let fed = file.feed_signed_bytes(&coverage.byte_range, |chunk| {
                        signed += chunk.len() as u64;
                    });
                    if fed.is_ok() {
                        assert_eq!(signed, coverage.byte_range.signed_length());
                    }
                }
            }
        }
        Err(error) => check_one_line(&error),
    }
    if let Err(error) = find_page(&mut file, None) {
        check_one_line(&error);
    }
});
