//! The faults of a chaos run, drawn from a seeded schedule: which fault, on what, for how
//! long. Owns injecting each fault and undoing the lasting ones when their time is up; knows
//! nothing of the workload or the invariants. Every fault happens to a real part: a process
//! SIGKILLed, TCP connections cut by the proxy, packets dropped or throttled by the kernel,
//! a filesystem with no free block, the token's directory gone, the box's clock moved.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::exchange::Rng;
use crate::isolation::Isolation;
use crate::world::Running;

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    KillAxis,
    KillGateway,
    CutConnections,
    CutMidTransfer,
    LinkDown,
    Delay,
    Loss,
    Throttle,
    DiskFull,
    TokenOut,
    ClockJump,
}

/// How often each fault is drawn, relative to the others.
const WEIGHTS: [(Fault, u64); 11] = [
    (Fault::KillAxis, 2),
    (Fault::KillGateway, 4),
    (Fault::CutConnections, 2),
    (Fault::CutMidTransfer, 2),
    (Fault::LinkDown, 2),
    (Fault::Delay, 1),
    (Fault::Loss, 1),
    (Fault::Throttle, 1),
    (Fault::DiskFull, 1),
    (Fault::TokenOut, 1),
    (Fault::ClockJump, 1),
];

/// What undoes a lasting fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Undo {
    LinkUp,
    NoDelay,
    NoLoss,
    NoThrottle,
    DiskFree(usize),
    TokenIn,
    ClockBack(usize),
}

impl Undo {
    fn fault(self) -> Fault {
        match self {
            Undo::LinkUp => Fault::LinkDown,
            Undo::NoDelay => Fault::Delay,
            Undo::NoLoss => Fault::Loss,
            Undo::NoThrottle => Fault::Throttle,
            Undo::DiskFree(_) => Fault::DiskFull,
            Undo::TokenIn => Fault::TokenOut,
            Undo::ClockBack(_) => Fault::ClockJump,
        }
    }
}

/// What was injected, by label ("SIGKILL commune gateway"), and what could not be.
#[derive(Default, Debug)]
pub struct Tally {
    pub injected: BTreeMap<String, u64>,
    /// Fault kinds this run could not inject, and why.
    pub unavailable: Vec<(String, String)>,
    /// Faults that did not go as planned (e.g. a gateway slow to restart), for the table.
    pub problems: Vec<String>,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.injected.values().sum()
    }
}

pub struct Injector<'w> {
    running: &'w mut Running,
    rng: Rng,
    tally: Tally,
    active: Vec<(Instant, Undo)>,
    available: Vec<(Fault, u64)>,
}

impl<'w> Injector<'w> {
    pub fn new(running: &'w mut Running, isolation: &Isolation, seed: u64) -> Injector<'w> {
        let mut tally = Tally::default();
        let mut available = Vec::new();
        for (fault, weight) in WEIGHTS {
            let missing = match fault {
                Fault::Loss | Fault::Throttle if running.shaper.is_none() => {
                    Some(if isolation.namespaces {
                        "tc or nft failed at set-up".to_owned()
                    } else {
                        isolation.reason.clone()
                    })
                }
                Fault::DiskFull if running.nodes.iter().all(|node| node.disk.is_none()) => {
                    Some(if isolation.namespaces {
                        "no tmpfs could be mounted".to_owned()
                    } else {
                        isolation.reason.clone()
                    })
                }
                _ => None,
            };
            match missing {
                Some(reason) => tally.unavailable.push((format!("{fault:?}"), reason)),
                None => available.push((fault, weight)),
            }
        }
        Injector {
            running,
            rng: Rng::seeded(seed),
            tally,
            active: Vec::new(),
            available,
        }
    }

    /// Injects faults for `length`, one every `mean` on average (uniform gaps in 0..2×mean).
    pub fn run_for(&mut self, length: Duration, mean: Duration) {
        let started = Instant::now();
        let mean_ms = mean.as_millis().max(1) as u64;
        while started.elapsed() < length {
            let next = Instant::now() + Duration::from_millis(self.rng.below(2 * mean_ms));
            while Instant::now() < next {
                self.undo_due();
                std::thread::sleep(Duration::from_millis(20));
            }
            let fault = self.draw();
            self.inject(fault);
        }
    }

    /// Undoes every lasting fault still in force.
    pub fn undo_all(&mut self) {
        for (_, undo) in std::mem::take(&mut self.active) {
            self.undo(undo);
        }
        // A one-shot cut armed but not yet triggered is disarmed.
        self.running.proxy.cut_once_after_upstream_bytes(0);
        self.running.proxy.cut_once_after_downstream_bytes(0);
    }

    pub fn injected(&self) -> u64 {
        self.tally.total()
    }

    pub fn into_tally(self) -> Tally {
        self.tally
    }

    /// A fault drawn by weight among those not already in force.
    fn draw(&mut self) -> Fault {
        let lasting: Vec<Fault> = self.active.iter().map(|(_, undo)| undo.fault()).collect();
        let choices: Vec<(Fault, u64)> = self
            .available
            .iter()
            .copied()
            .filter(|(fault, _)| !lasting.contains(fault))
            .collect();
        let total: u64 = choices.iter().map(|(_, weight)| weight).sum();
        let mut pick = self.rng.below(total.max(1));
        for (fault, weight) in &choices {
            if pick < *weight {
                return *fault;
            }
            pick -= weight;
        }
        Fault::CutConnections
    }

    fn lasting(&mut self, undo: Undo, low_ms: u64, high_ms: u64) {
        let length = Duration::from_millis(low_ms + self.rng.below(high_ms - low_ms));
        self.active.push((Instant::now() + length, undo));
    }

    fn count(&mut self, label: String) {
        println!("chaos: {label}");
        *self.tally.injected.entry(label).or_default() += 1;
    }

    fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::KillAxis => {
                let pause = Duration::from_millis(self.rng.below(500));
                self.running.restart_axis(pause);
                self.count("SIGKILL of the axis".into());
            }
            Fault::KillGateway => {
                let node = self.rng.below(self.running.nodes.len() as u64) as usize;
                let pause = Duration::from_millis(self.rng.below(500));
                self.restart_gateway(node, pause);
                let name = self.running.nodes[node].name;
                self.count(format!("SIGKILL of the {name} gateway"));
            }
            Fault::CutConnections => {
                self.running.proxy.cut_all();
                self.count("every connection to the axis cut".into());
            }
            Fault::CutMidTransfer => {
                let bytes = 1024 + self.rng.below(1 << 20);
                if self.rng.below(2) == 0 {
                    self.running.proxy.cut_once_after_upstream_bytes(bytes);
                    self.count("a connection cut mid-upload".into());
                } else {
                    self.running.proxy.cut_once_after_downstream_bytes(bytes);
                    self.count("a connection cut mid-download".into());
                }
            }
            Fault::LinkDown => {
                self.running.proxy.set_down(true);
                self.lasting(Undo::LinkUp, 500, 5_000);
                self.count("link down 0.5-5 s".into());
            }
            Fault::Delay => {
                self.running.proxy.set_delay(Duration::from_millis(500));
                self.lasting(Undo::NoDelay, 3_000, 15_000);
                self.count("500 ms delay 3-15 s".into());
            }
            Fault::Loss => self.shape(true, Undo::NoLoss, "10% packet loss 3-15 s"),
            Fault::Throttle => self.shape(true, Undo::NoThrottle, "256 kbit/s 3-15 s"),
            Fault::DiskFull => {
                let with_disk: Vec<usize> = (0..self.running.nodes.len())
                    .filter(|&index| self.running.nodes[index].disk.is_some())
                    .collect();
                let node = with_disk[self.rng.below(with_disk.len() as u64) as usize];
                let filled = self.running.nodes[node]
                    .disk
                    .as_ref()
                    .map(|disk| disk.fill())
                    .unwrap_or(Ok(()));
                let name = self.running.nodes[node].name;
                match filled {
                    Ok(()) => {
                        self.lasting(Undo::DiskFree(node), 2_000, 10_000);
                        self.count(format!("the {name}'s disk full 2-10 s"));
                    }
                    Err(reason) => self
                        .tally
                        .problems
                        .push(format!("disk full on the {name}: {reason}")),
                }
            }
            Fault::TokenOut => {
                self.running.softhsm.unplug(&self.running.token_label);
                self.lasting(Undo::TokenIn, 2_000, 10_000);
                self.count("the seal token pulled out 2-10 s".into());
            }
            Fault::ClockJump => {
                let node = self.rng.below(self.running.nodes.len() as u64) as usize;
                let days = if self.rng.below(2) == 0 { 1 } else { -1 };
                self.running.nodes[node].set_clock_offset(days * 86_400);
                self.lasting(Undo::ClockBack(node), 5_000, 30_000);
                let name = self.running.nodes[node].name;
                let sign = if days > 0 { "+" } else { "-" };
                self.count(format!("the {name}'s clock {sign}1 day for 5-30 s"));
            }
        }
    }

    fn shape(&mut self, on: bool, undo: Undo, label: &str) {
        let Some(shaper) = self.running.shaper.as_ref() else {
            return;
        };
        let done = match undo {
            Undo::NoLoss => shaper.lose(on),
            _ => shaper.throttle(on),
        };
        match done {
            Ok(()) => {
                self.lasting(undo, 3_000, 15_000);
                self.count(label.into());
            }
            Err(reason) => self.tally.problems.push(format!("{label}: {reason}")),
        }
    }

    fn undo_due(&mut self) {
        let now = Instant::now();
        let (due, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.active = kept;
        for (_, undo) in due {
            self.undo(undo);
        }
    }

    fn undo(&mut self, undo: Undo) {
        let result = match undo {
            Undo::LinkUp => {
                self.running.proxy.set_down(false);
                Ok(())
            }
            Undo::NoDelay => {
                self.running.proxy.set_delay(Duration::ZERO);
                Ok(())
            }
            Undo::NoLoss => self
                .running
                .shaper
                .as_ref()
                .map_or(Ok(()), |shaper| shaper.lose(false)),
            Undo::NoThrottle => self
                .running
                .shaper
                .as_ref()
                .map_or(Ok(()), |shaper| shaper.throttle(false)),
            Undo::DiskFree(node) => self.running.nodes[node]
                .disk
                .as_ref()
                .map_or(Ok(()), |disk| disk.free()),
            Undo::TokenIn => {
                self.running.softhsm.replug(&self.running.token_label);
                Ok(())
            }
            Undo::ClockBack(node) => {
                self.running.nodes[node].set_clock_offset(0);
                Ok(())
            }
        };
        if let Err(reason) = result {
            self.tally
                .problems
                .push(format!("undoing {undo:?}: {reason}"));
        }
    }

    /// SIGKILL, then start again after `pause`; while it cannot start (a full disk, say),
    /// the lasting faults keep running out, and after two minutes its own are undone.
    fn restart_gateway(&mut self, node: usize, pause: Duration) {
        self.running.nodes[node].kill();
        std::thread::sleep(pause);
        let started = Instant::now();
        let mut undone_own = false;
        loop {
            match self.running.nodes[node].start() {
                Ok(()) => break,
                Err(reason) => {
                    let name = self.running.nodes[node].name;
                    self.tally
                        .problems
                        .push(format!("the {name} did not restart at once: {reason}"));
                    if started.elapsed() > Duration::from_secs(120) && !undone_own {
                        self.undo_own(node);
                        undone_own = true;
                    } else if started.elapsed() > Duration::from_secs(300) {
                        panic!("the {name} gateway does not start again: {reason}");
                    }
                    self.undo_due();
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        if started.elapsed() > Duration::from_secs(5) {
            let name = self.running.nodes[node].name;
            self.tally.problems.push(format!(
                "the {name} took {:.1} s to restart",
                started.elapsed().as_secs_f64()
            ));
        }
    }

    /// Undoes the lasting faults on one gateway (its disk, its clock).
    fn undo_own(&mut self, node: usize) {
        let (own, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.active).into_iter().partition(
            |(_, undo)| matches!(undo, Undo::DiskFree(n) | Undo::ClockBack(n) if *n == node),
        );
        self.active = kept;
        for (_, undo) in own {
            self.undo(undo);
        }
    }
}
