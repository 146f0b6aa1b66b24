//! The exchange a chaos run works on: the demo's axis and its two gateways as real
//! processes, the district sealing with a SoftHSM token, both gateways reaching the axis
//! through a fault proxy, and (in namespaces) each gateway's state on its own tmpfs. Owns
//! the processes and the knobs the faults turn; decides nothing about when to turn them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::axis::Credentials;
use crate::common::exchange::{DemoAxisProcess, Exchange};
use crate::common::proxy::FaultProxy;
use crate::common::softhsm::{self, SoftHsm};
use crate::common::{GatewayDir, GatewayProcess};
use crate::isolation::{self, Isolation};
use docgate::demo::pki::IssuedFiles;

/// The PIN of the chaos run's seal token.
const PIN: &str = "2468";
/// The most a gateway's tmpfs may hold (memory is used only for what it holds).
const DISK_BYTES: u64 = 8 << 30;

/// Everything a run set up.
pub struct World {
    pub plan: Plan,
    pub running: Running,
    /// Removed last (the processes are gone by then), unless kept for a post-mortem.
    temp: tempfile::TempDir,
}

/// What the workload and the checks need to know; fixed once set up.
pub struct Plan {
    pub dir: PathBuf,
    pub offices: Vec<Office>,
    pub axis_database: PathBuf,
    pub axis_url: String,
    pub axis_ca: PathBuf,
    /// The district's credentials at the axis, used by the "other system" that sends the
    /// commune packets it must quarantine.
    pub intruder: Credentials,
    /// The leaders' signing key (`docgate sign --key-file`).
    pub leader_key: PathBuf,
}

/// One gateway as the workload sees it.
pub struct Office {
    pub name: &'static str,
    pub organ_id: String,
    pub url: String,
    pub token: String,
    pub database: PathBuf,
    /// Seals outgoing documents with the token (their payloads must be leader-signed PDFs).
    pub seals: bool,
}

/// What the faults act on.
pub struct Running {
    pub exchange: Exchange,
    pub proxy: FaultProxy,
    pub axis: Option<DemoAxisProcess>,
    /// In the order of `Plan::offices`.
    pub nodes: Vec<Node>,
    pub softhsm: &'static SoftHsm,
    pub token_label: String,
    /// Loss and throttling on the gateways' link (namespaces only).
    pub shaper: Option<LinkShaper>,
}

/// One gateway's process and knobs.
pub struct Node {
    pub name: &'static str,
    pub dir: GatewayDir,
    /// Seconds added to the box's clock (the `fault-injection` clock).
    pub clock: PathBuf,
    pub disk: Option<Disk>,
    pub process: Option<GatewayProcess>,
}

impl World {
    pub fn set_up(isolation: &Isolation) -> World {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().to_path_buf();
        let exchange = Exchange::setup(&dir);
        let proxy = FaultProxy::start(exchange.axis.address);
        exchange.point_gateways_at(&proxy.url());
        exchange.set_gateway_option("axis", "retry_max_ms", "1000");

        let softhsm = SoftHsm::shared();
        let pki = softhsm::pki();
        let token_label = softhsm::unique_label("chaos-seal");
        softhsm.provision(&token_label, PIN, &[(&pki.rsa, "agency-seal")]);
        let leader =
            crate::common::signing::seal_on_token(&exchange, &dir, &token_label, PIN, None);

        let mut offices = Vec::new();
        let mut nodes = Vec::new();
        for name in ["district", "commune"] {
            let gateway = exchange.gateway(name);
            let clock = gateway.dir.join("clock-offset");
            std::fs::write(&clock, "0\n").expect("clock file");
            let disk = isolation
                .namespaces
                .then(|| Disk::mount(&gateway.state_dir()))
                .and_then(|mounted| match mounted {
                    Ok(disk) => Some(disk),
                    Err(reason) => {
                        println!("chaos: no tmpfs for the {name}'s state ({reason}); no disk-full faults there");
                        None
                    }
                });
            offices.push(Office {
                name,
                organ_id: exchange.organ_id(name),
                url: gateway.url.clone(),
                token: gateway.token.clone(),
                database: gateway.database(),
                seals: name == "district",
            });
            nodes.push(Node {
                name,
                dir: clone_dir(gateway),
                clock,
                disk,
                process: None,
            });
        }
        let shaper = isolation
            .namespaces
            .then(|| LinkShaper::install(proxy.address.port()));
        let shaper = shaper.and_then(|installed| match installed {
            Ok(shaper) => Some(shaper),
            Err(reason) => {
                println!("chaos: no loss or throttling faults ({reason})");
                None
            }
        });
        let plan = Plan {
            dir: dir.clone(),
            offices,
            axis_database: exchange
                .axis
                .config
                .parent()
                .expect("axis dir")
                .join("state")
                .join("axis.sqlite3"),
            axis_url: exchange.axis.url.clone(),
            axis_ca: axis_ca(&exchange.gateway("district").config),
            intruder: credentials_of(&exchange.gateway("district").config),
            leader_key: leader.key_file,
        };
        let axis = Some(exchange.axis.start());
        let mut running = Running {
            exchange,
            proxy,
            axis,
            nodes,
            softhsm,
            token_label,
            shaper,
        };
        for index in 0..running.nodes.len() {
            if let Err(reason) = running.nodes[index].start() {
                panic!("the {} did not start: {reason}", running.nodes[index].name);
            }
        }
        World {
            plan,
            running,
            temp,
        }
    }
}

impl World {
    /// Keeps the run's directory (stores, configs, payloads) for a post-mortem; a state on
    /// a tmpfs (gone with the run's mount namespace) is copied beside it as `state.kept`.
    pub fn keep(self) -> PathBuf {
        for node in &self.running.nodes {
            if let Some(disk) = &node.disk {
                let from = format!("{}/.", disk.mount.display());
                let to = disk.mount.with_extension("kept");
                let copied = std::fs::create_dir_all(&to)
                    .map_err(|error| error.to_string())
                    .and_then(|()| isolation::run("cp", &["-a", &from, &to.display().to_string()]));
                if let Err(reason) = copied {
                    println!("chaos: the {}'s state was not kept: {reason}", node.name);
                }
            }
        }
        self.temp.keep()
    }
}

impl Running {
    /// SIGKILLs the axis and starts it again after `pause`.
    pub fn restart_axis(&mut self, pause: Duration) {
        if let Some(mut axis) = self.axis.take() {
            axis.kill();
        }
        std::thread::sleep(pause);
        self.axis = Some(self.exchange.axis.start());
    }
}

impl Node {
    /// Starts `docgate run` (with the fault-injection clock).
    pub fn start(&mut self) -> Result<(), String> {
        let env = [(
            "DOCGATE_FAULT_CLOCK_OFFSET_FILE".to_owned(),
            self.clock.display().to_string(),
        )];
        self.process = Some(self.dir.try_start(&env, Duration::from_secs(60))?);
        Ok(())
    }

    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// SIGTERM and wait (the end of a run, before the stores are read).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate();
        }
    }

    pub fn set_clock_offset(&self, seconds: i64) {
        std::fs::write(&self.clock, format!("{seconds}\n")).expect("write the clock offset");
    }
}

fn clone_dir(gateway: &GatewayDir) -> GatewayDir {
    GatewayDir {
        dir: gateway.dir.clone(),
        config: gateway.config.clone(),
        token: gateway.token.clone(),
        url: gateway.url.clone(),
        env: gateway.env.clone(),
    }
}

/// The `[axis]` section of a gateway's configuration.
fn axis_section(config: &Path) -> toml::Table {
    let text = std::fs::read_to_string(config).expect("read the gateway config");
    let table: toml::Table = text.parse().expect("the gateway config is TOML");
    table["axis"].as_table().expect("[axis]").clone()
}

/// A path of the `[axis]` section, relative to the configuration's directory.
fn axis_path(config: &Path, key: &str) -> PathBuf {
    let value = axis_section(config)[key]
        .as_str()
        .unwrap_or_else(|| panic!("[axis] {key}"))
        .to_owned();
    config.parent().expect("config dir").join(value)
}

fn axis_ca(config: &Path) -> PathBuf {
    axis_path(config, "ca")
}

/// The system credentials a gateway presents to the axis.
fn credentials_of(config: &Path) -> Credentials {
    let section = axis_section(config);
    let secret = std::fs::read_to_string(axis_path(config, "secret_file")).expect("axis secret");
    Credentials {
        system_id: section["system_id"].as_str().expect("system_id").to_owned(),
        secret: secret.trim().to_owned(),
        certificate: IssuedFiles {
            certificate: axis_path(config, "certificate"),
            key: axis_path(config, "key"),
        },
    }
}

/// A gateway's state directory on a tmpfs of its own, which a disk-full fault shrinks to
/// what it holds (a real ENOSPC for the daemon) and then gives back its size.
pub struct Disk {
    pub mount: PathBuf,
}

impl Disk {
    /// Mounts a tmpfs over `state` (keeping what was there).
    fn mount(state: &Path) -> Result<Disk, String> {
        std::fs::create_dir_all(state).map_err(|error| error.to_string())?;
        let seed = state.with_extension("seed");
        std::fs::rename(state, &seed).map_err(|error| error.to_string())?;
        std::fs::create_dir_all(state).map_err(|error| error.to_string())?;
        let options = format!("size={DISK_BYTES},mode=0700");
        let target = state.display().to_string();
        isolation::run(
            "mount",
            &["-t", "tmpfs", "-o", &options, "chaos-state", &target],
        )?;
        let from = format!("{}/.", seed.display());
        isolation::run("cp", &["-a", &from, &target])?;
        std::fs::remove_dir_all(&seed).map_err(|error| error.to_string())?;
        Ok(Disk {
            mount: state.to_path_buf(),
        })
    }

    /// Leaves the filesystem no free block: its size becomes what it holds.
    pub fn fill(&self) -> Result<(), String> {
        let used = self.used_bytes()?;
        // tmpfs sizes are whole pages; one page over what is used leaves at most that.
        let size = used + 4096;
        self.resize(size)
    }

    pub fn free(&self) -> Result<(), String> {
        self.resize(DISK_BYTES)
    }

    fn resize(&self, bytes: u64) -> Result<(), String> {
        let options = format!("remount,size={bytes}");
        isolation::run(
            "mount",
            &["-o", &options, &self.mount.display().to_string()],
        )
    }

    fn used_bytes(&self) -> Result<u64, String> {
        let output = std::process::Command::new("df")
            .args(["-B1", "--output=used"])
            .arg(&self.mount)
            .output()
            .map_err(|error| format!("df: {error}"))?;
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| "df printed no usage".to_owned())
    }
}

/// Loss (nftables: every tenth packet to or from the proxy dropped) and throttling (tc
/// htb: 256 kbit/s) on the gateways' side of the link, inside the run's own namespace.
pub struct LinkShaper {
    port: u16,
}

impl LinkShaper {
    fn install(port: u16) -> Result<LinkShaper, String> {
        let port_text = port.to_string();
        isolation::run(
            "tc",
            &[
                "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "20",
            ],
        )?;
        isolation::run(
            "tc",
            &[
                "class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate",
                "10gbit",
            ],
        )?;
        isolation::run(
            "tc",
            &[
                "class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate",
                "10gbit",
            ],
        )?;
        for direction in ["dport", "sport"] {
            isolation::run(
                "tc",
                &[
                    "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1",
                    "u32", "match", "ip", direction, &port_text, "0xffff", "flowid", "1:10",
                ],
            )?;
        }
        isolation::run("nft", &["add", "table", "inet", "chaos"])?;
        isolation::run(
            "nft",
            &[
                "add",
                "chain",
                "inet",
                "chaos",
                "link",
                "{ type filter hook output priority 0; }",
            ],
        )?;
        Ok(LinkShaper { port })
    }

    /// 256 kbit/s each way between the gateways and the proxy.
    pub fn throttle(&self, on: bool) -> Result<(), String> {
        let rate = if on { "256kbit" } else { "10gbit" };
        isolation::run(
            "tc",
            &[
                "class", "change", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate",
                rate,
            ],
        )
    }

    /// One packet in ten to or from the proxy dropped.
    pub fn lose(&self, on: bool) -> Result<(), String> {
        if !on {
            return isolation::run("nft", &["flush", "chain", "inet", "chaos", "link"]);
        }
        let port = self.port.to_string();
        for direction in ["dport", "sport"] {
            isolation::run(
                "nft",
                &[
                    "add", "rule", "inet", "chaos", "link", "tcp", direction, &port, "numgen",
                    "random", "mod", "10", "==", "0", "drop",
                ],
            )?;
        }
        Ok(())
    }
}
