//! The benchmarks' summary rows: each benchmark records its headline figures here, one row
//! each, and `tools/bench` renders every row of a run as the one Markdown table of
//! BENCHMARKS.md "Summary". Shared by the benchmarks (`#[path = "shared/summary.rs"] mod
//! summary;`).
//!
//! A row is appended to the file named by `DOCGATE_BENCH_SUMMARY` as one line of five
//! tab-separated fields: figure, value, baseline (what the value is compared with, measured
//! in the same run, or "—"), the verdict against the target, and the command that
//! measures it. Tabs and line breaks inside a field become spaces. When the variable is
//! unset nothing is written, so a benchmark run on its own prints what it always printed
//! and nothing else. `tools/bench-edxml-rss.sh` writes the same format from the shell.
//!
//! It records; it does not measure, judge or render: each benchmark decides its figures
//! and verdicts, `tools/bench` makes the table.
#![allow(dead_code)] // Each benchmark uses a different subset.

use std::fs::OpenOptions;
use std::io::Write;

/// The environment variable naming the file rows are appended to.
pub const SUMMARY_FILE_VARIABLE: &str = "DOCGATE_BENCH_SUMMARY";

/// One row of the summary table.
pub struct Row<'a> {
    /// What is measured, with its conditions ("status page `GET /` p99, 1,000,000 documents").
    pub figure: &'a str,
    /// The measured value, with its unit.
    pub value: String,
    /// What the value is compared with, measured in the same run ("—" when nothing is).
    pub baseline: String,
    /// The ratio or verdict against the target ("0.26× (target ≥ 3×): not met").
    pub verdict: String,
    /// The command that measures it (`cargo bench --bench intake`).
    pub command: &'a str,
}

impl Row<'_> {
    /// Appends this row to the summary file, when `DOCGATE_BENCH_SUMMARY` names one.
    pub fn record(&self) {
        let Some(path) = std::env::var_os(SUMMARY_FILE_VARIABLE) else {
            return;
        };
        let line = self.line();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open the summary file named by DOCGATE_BENCH_SUMMARY");
        // One write per line: rows of one run never interleave within a line.
        file.write_all(line.as_bytes())
            .expect("append to the summary file named by DOCGATE_BENCH_SUMMARY");
    }

    /// The row as one tab-separated line, ending with a line break.
    fn line(&self) -> String {
        let fields = [
            self.figure,
            self.value.as_str(),
            self.baseline.as_str(),
            self.verdict.as_str(),
            self.command,
        ];
        let cleaned: Vec<String> = fields.iter().map(|field| one_line(field)).collect();
        format!("{}\n", cleaned.join("\t"))
    }
}

/// A field with its tabs and line breaks turned into spaces.
fn one_line(field: &str) -> String {
    field
        .chars()
        .map(|character| match character {
            '\t' | '\n' | '\r' => ' ',
            other => other,
        })
        .collect()
}

/// "met" or "not met", for a verdict.
pub fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "not met"
    }
}

/// A verdict that says the measurement is not to be trusted when other processes took too
/// much of the machine during it: `verdict`, then "; NOISY (…)" when `noisy`.
pub fn with_noise(verdict: String, noisy: bool, other_cores: f64) -> String {
    if noisy {
        format!("{verdict}; NOISY: other processes took {other_cores:.2} cores, rerun on a quiet machine")
    } else {
        verdict
    }
}

/// A number rounded to `decimals` places, its integer part grouped by thousands with
/// commas, as BENCHMARKS.md writes them ("2,217", "1,051.3").
pub fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text.as_str(), None),
    };
    let mut grouped = String::new();
    for (index, digit) in integer.chars().enumerate() {
        if index > 0 && (integer.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if value < 0.0 { "-" } else { "" };
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}
