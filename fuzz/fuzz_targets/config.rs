//! Fuzzes the configuration validator: arbitrary text must give a config or a one-line
//! error naming what is wrong, never a panic.
#![no_main]

use std::path::Path;

use docgate::system::config::GatewayConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A token_file pointing anywhere is only read, never written; keep it inside /dev/null.
    if text.contains("token_file") {
        return;
    }
    if let Err(error) = GatewayConfig::parse(text, Path::new("/nonexistent/docgate.toml")) {
        assert!(
            !error.to_string().contains('\n'),
            "multi-line error: {error}"
        );
    }
});
