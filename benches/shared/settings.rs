//! The settings every benchmark reads from its environment: where its state goes
//! (`DOCGATE_BENCH_DIR`, which decides the disk measured) and the sizes a run may override
//! (`DOCGATE_BENCH_BACKLOG`, `..._ROUNDS`, …). Shared by the benchmarks
//! (`#[path = "shared/settings.rs"] mod settings;`); what each variable means is in the
//! benchmark that reads it.
#![allow(dead_code)] // Each benchmark uses a different subset.

use std::path::PathBuf;
use std::str::FromStr;

use tempfile::TempDir;

/// `DOCGATE_BENCH_DIR`, or Cargo's `target/tmp`; created when missing.
pub fn base_dir() -> PathBuf {
    let base = std::env::var_os("DOCGATE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&base).expect("create the benchmark base directory");
    base
}

/// A fresh directory `<prefix>XXXXXX` in [`base_dir`], removed when dropped.
pub fn run_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base_dir())
        .expect("create the benchmark directory")
}

/// A positive number from the environment variable `name` (`_` separators allowed, as in
/// `1_000_000`), or `default` when it is unset, unreadable or zero.
pub fn positive<T: FromStr + PartialEq + Default>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.replace('_', "").parse().ok())
        .filter(|value: &T| *value != T::default())
        .unwrap_or(default)
}
