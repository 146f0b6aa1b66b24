//! What the machine was doing while a benchmark measured: CPU use per phase (the gateway,
//! the benchmark itself, and everything else — the noise meter), a process's memory, the
//! load average and the core count. Shared by the benchmarks (`#[path = "shared/machine.rs"] mod machine;`);
//! Linux `/proc` only.
#![allow(dead_code)] // Each benchmark uses a different subset.

use std::process::Command;
use std::time::Instant;

/// Where the CPU went during one phase: the gateway, this process (the clients, or the
/// baseline), and everything else on the machine. "Everything else" is the noise meter: the
/// serial baseline waits for the CPU after every fsync, so other work on the machine slows it
/// far more than it slows the parallel gateway, and the ratio looks better than it is.
pub struct CpuWindow {
    pub gateway_pid: u32,
    pub started: Instant,
    pub gateway: f64,
    pub bench: f64,
    pub machine_busy: f64,
}

/// CPU use over a phase, in cores (CPU seconds per wall-clock second).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub gateway_cores: f64,
    pub bench_cores: f64,
    pub other_cores: f64,
}

impl CpuWindow {
    pub fn start(gateway_pid: u32) -> CpuWindow {
        CpuWindow {
            gateway_pid,
            started: Instant::now(),
            gateway: process_cpu_seconds(&gateway_pid.to_string()),
            bench: process_cpu_seconds("self"),
            machine_busy: machine_busy_seconds(),
        }
    }

    pub fn finish(self) -> CpuUse {
        let seconds = self.started.elapsed().as_secs_f64();
        let gateway = process_cpu_seconds(&self.gateway_pid.to_string()) - self.gateway;
        let bench = process_cpu_seconds("self") - self.bench;
        let machine = machine_busy_seconds() - self.machine_busy;
        CpuUse {
            gateway_cores: gateway / seconds,
            bench_cores: bench / seconds,
            other_cores: ((machine - gateway - bench) / seconds).max(0.0),
        }
    }
}

/// CPU seconds (user + system) a process has used so far, from `/proc/PID/stat`.
pub fn process_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&index| {
            fields
                .get(index)
                .and_then(|value| value.parse::<u64>().ok())
        })
        .sum();
    ticks as f64 / clock_ticks_per_second()
}

/// CPU seconds all cores of the machine spent busy so far (user, nice, system, irq, softirq;
/// not idle, iowait or steal), from the first line of `/proc/stat`.
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("read /proc/stat");
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|value| value.parse().ok())
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6]
        .iter()
        .filter_map(|&index| values.get(index))
        .sum();
    busy as f64 / clock_ticks_per_second()
}

pub fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The first three fields of `/proc/loadavg`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}

// ---------------------------------------------------------------------------------------
// 1. Durable intake.

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

/// Memory figures from `/proc/PID/status`, in KiB as the kernel reports them.
#[derive(Debug, Clone, Copy)]
pub struct ProcMemory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub threads: u64,
}

impl ProcMemory {
    pub fn read(pid: u32) -> ProcMemory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("read /proc/PID/status of the gateway (Linux only)");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|number| number.parse().ok())
                .unwrap_or_else(|| panic!("no {name} line in /proc/{pid}/status"))
        };
        ProcMemory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            threads: field("Threads:"),
        }
    }
}
