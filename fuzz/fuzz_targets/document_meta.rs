//! Fuzzes the `meta` validator of the local API: arbitrary bytes must give valid metadata
//! or a one-line error naming the field, never a panic. Valid metadata must survive a
//! round trip through its own JSON.
#![no_main]

use docgate::workflow::OutgoingMeta;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match OutgoingMeta::parse(data, &[]) {
        Ok(meta) => {
            let json = serde_json::to_vec(&meta).expect("valid metadata serialises");
            let again = OutgoingMeta::parse(&json, &[]).expect("valid metadata stays valid");
            assert_eq!(meta, again);
        }
        Err(error) => assert!(
            !error.to_string().contains('\n'),
            "multi-line error: {error}"
        ),
    }
});
