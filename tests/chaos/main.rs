//! `tools/chaos`: the axis and two gateways as real processes under a seeded schedule of
//! faults, with a mixed workload, then a check of the invariants a box must keep whatever
//! happens to it. A harness of its own (`harness = false`): `cargo test` runs the short
//! seeded run; `tools/chaos --seconds 1800` the long one.
//!
//! - **Workload** (`workload`): each gateway posts documents of 1 KB to 20 MB (the district's
//!   are leader-signed PDFs that it seals with the agency key on a SoftHSM token); the
//!   receiving clerk accepts each one (status 03) and agrees to each recall (15); senders
//!   recall some documents (13); another system sends the commune packets it must
//!   quarantine.
//! - **Faults** (`faults`): SIGKILL of the axis or a gateway at random instants; link faults
//!   (connections cut, cut mid-transfer, link down, 500 ms delay through the fault proxy;
//!   10% loss and 256 kbit/s in a private network namespace, with nftables and tc); a
//!   gateway's disk full (its state on a tmpfs shrunk to what it holds); the token pulled
//!   out and put back; the box's clock jumped a day either way.
//! - **Invariants** (`invariants`): checked once every fault is undone and the exchange has
//!   drained: every accepted document delivered exactly once and byte-identical (a withdrawn
//!   one never), every status and recall answer delivered exactly once, registers without
//!   gaps or duplicates, every store passing `PRAGMA integrity_check`, every quarantined
//!   packet kept.
//!
//! Prints a table of the faults injected and the invariants checked; exits 1 on a breach.
//! As root it runs in private network and mount namespaces (it re-executes itself under
//! `unshare`); otherwise the faults that need them are skipped and the table says so.

#![allow(clippy::disallowed_methods)] // The invariants read the stores independently, read-only.

#[path = "../common/mod.rs"]
mod common;
mod faults;
mod invariants;
mod isolation;
mod report;
mod workload;
mod world;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::exchange::Rng;

/// What one run does.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long faults are injected.
    pub seconds: u64,
    pub seed: u64,
    /// The mean time between two faults.
    pub fault_every: Duration,
    /// How long the exchange may take to drain once the faults stop.
    pub drain_limit: Duration,
}

const USAGE: &str = "tools/chaos [--seconds N] [--seed N] [--fault-every-ms N] [--drain-secs N]";

fn parse(args: &[String]) -> Result<Option<Settings>, String> {
    let mut settings = Settings {
        seconds: env_number("DOCGATE_CHAOS_SECONDS").unwrap_or(45),
        seed: env_number("DOCGATE_CHAOS_SEED").unwrap_or_else(clock_seed),
        fault_every: Duration::from_millis(1500),
        drain_limit: Duration::from_secs(300),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .and_then(|value| value.parse::<u64>().ok())
                .ok_or_else(|| format!("{arg} needs a number; usage: {USAGE}"))
        };
        match arg.as_str() {
            "--seconds" => settings.seconds = value()?,
            "--seed" => settings.seed = value()?,
            "--fault-every-ms" => settings.fault_every = Duration::from_millis(value()?.max(50)),
            "--drain-secs" => settings.drain_limit = Duration::from_secs(value()?),
            // libtest's listing (cargo nextest): one test.
            "--list" => {
                println!("chaos: test");
                return Ok(None);
            }
            // Flags `cargo test -- …` passes to every test binary.
            flag if flag.starts_with('-') => {}
            // A name filter (`cargo test foo`): run only when it names this harness.
            filter => {
                if !"chaos".contains(filter) {
                    return Ok(None);
                }
            }
        }
    }
    Ok(Some(settings))
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|text| text.parse().ok())
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(1)
        .max(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = match parse(&args) {
        Ok(Some(settings)) => settings,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("chaos: {message}");
            return ExitCode::from(2);
        }
    };
    let isolation = match isolation::enter(&args) {
        isolation::Entered::Parent(code) => return code,
        isolation::Entered::Here(isolation) => isolation,
    };
    println!(
        "chaos: {} s of faults, seed {} (repeat with --seed {}), one fault every {} ms on average; {}",
        settings.seconds,
        settings.seed,
        settings.seed,
        settings.fault_every.as_millis(),
        isolation.describe()
    );
    let started = Instant::now();
    let report = run(&settings, &isolation);
    println!("{}", report.table(&settings, started.elapsed()));
    if report.breaches() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sets the world up, runs the workload under faults, undoes the faults, drains, checks.
fn run(settings: &Settings, isolation: &isolation::Isolation) -> report::Report {
    let mut rng = Rng::seeded(settings.seed);
    let mut world = world::World::set_up(isolation);
    let ledger = workload::Ledger::default();
    let phase = workload::Phase::default();
    let (plan, running) = (&world.plan, &mut world.running);
    let tally = std::thread::scope(|scope| {
        let actors = workload::start(scope, plan, &ledger, &phase, rng.next_u64());
        let mut injector = faults::Injector::new(running, isolation, rng.next_u64());
        injector.run_for(Duration::from_secs(settings.seconds), settings.fault_every);
        injector.undo_all();
        println!(
            "chaos: faults stopped after {} injected; draining",
            injector.injected()
        );
        phase.drain();
        let drained = invariants::wait_drained(plan, &ledger, settings.drain_limit);
        phase.stop();
        for actor in actors {
            if actor.join().is_err() {
                ledger.breach("workload", "a workload thread panicked");
            }
        }
        if let Err(reason) = drained {
            ledger.breach("drain", &reason);
        }
        injector.into_tally()
    });
    let report = invariants::check(&mut world, &ledger, tally);
    if report.breaches() > 0 {
        println!(
            "chaos: the run's directory is kept: {}",
            world.keep().display()
        );
    }
    report
}
