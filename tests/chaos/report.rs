//! The table a chaos run prints (and BENCHMARKS.md keeps): the faults injected, the
//! invariants checked with their breaches, and what the workload did.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::faults::Tally;
use crate::workload::Entries;

/// One invariant: how many items were checked, and what broke.
#[derive(Default)]
pub struct Row {
    pub checked: u64,
    pub breaches: Vec<String>,
}

/// The run's result: the faults injected and the invariants checked.
pub struct Report {
    pub tally: Tally,
    pub rows: BTreeMap<&'static str, Row>,
    pub entries: Entries,
}

/// The invariants, in the table's order.
pub const INVARIANTS: [&str; 8] = [
    "accepted documents delivered exactly once, byte-identical",
    "withdrawn documents never delivered",
    "statuses delivered exactly once (each one sent = each one received)",
    "recalls: one request at the receiver, its answer back at the sender",
    "outgoing registers: numbers 1..N, no gap, no duplicate",
    "incoming registers: số đến 1..M, no gap, no duplicate",
    "PRAGMA integrity_check = ok on every store",
    "packets to quarantine kept in quarantine, nothing else quarantined",
];

impl Report {
    pub fn breaches(&self) -> usize {
        self.rows
            .values()
            .map(|row| row.breaches.len())
            .sum::<usize>()
            + self.entries.breaches.len()
    }

    /// The report as Markdown, for the terminal and BENCHMARKS.md.
    pub fn table(&self, settings: &crate::Settings, elapsed: Duration) -> String {
        let mut out = format!(
            "\n### Chaos run: seed {}, {} s of faults, {:.0} s in all\n\n| fault injected | count |\n|---|---:|\n",
            settings.seed,
            settings.seconds,
            elapsed.as_secs_f64()
        );
        for (label, count) in &self.tally.injected {
            out += &format!("| {label} | {count} |\n");
        }
        out += &format!("| **total** | **{}** |\n", self.tally.total());
        for (fault, reason) in &self.tally.unavailable {
            out += &format!("| {fault}: not injected ({reason}) | 0 |\n");
        }
        out += "\n| invariant | items checked | breaches |\n|---|---:|---:|\n";
        for name in INVARIANTS {
            let row = self.rows.get(name);
            out += &format!(
                "| {name} | {} | {} |\n",
                row.map_or(0, |row| row.checked),
                row.map_or(0, |row| row.breaches.len())
            );
        }
        out += &format!(
            "| the workload: no valid request refused, nothing stuck (requests) | {} | {} |\n",
            self.entries.counts.values().sum::<u64>(),
            self.entries.breaches.len()
        );
        out += "\n| what the workload did | count |\n|---|---:|\n";
        let sizes: usize = self.entries.sent.iter().map(|sent| sent.size).sum();
        out += &format!(
            "| documents accepted (total {:.1} MB, largest {:.1} MB) | {} |\n",
            sizes as f64 / 1e6,
            self.entries
                .sent
                .iter()
                .map(|sent| sent.size)
                .max()
                .unwrap_or(0) as f64
                / 1e6,
            self.entries.sent.len()
        );
        for (what, count) in &self.entries.counts {
            out += &format!("| {what} | {count} |\n");
        }
        let mut shown = 0;
        for (name, row) in &self.rows {
            for breach in &row.breaches {
                if shown < 40 {
                    out += &format!("\nBREACH ({name}): {breach}");
                }
                shown += 1;
            }
        }
        for (what, detail) in &self.entries.breaches {
            out += &format!("\nBREACH ({what}): {detail}");
        }
        if !self.tally.problems.is_empty() {
            out += &format!("\n\nNotes ({}): ", self.tally.problems.len());
            let mut seen = BTreeSet::new();
            for problem in &self.tally.problems {
                if seen.insert(problem.split(':').next().unwrap_or_default()) {
                    out += &format!("{problem}; ");
                }
            }
        }
        out
    }
}
