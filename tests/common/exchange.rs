//! A whole exchange as real processes: `docgate demo --setup-only` writes the test PKI, the
//! axis config and two gateway configs; each part then runs from the command `demo.json`
//! gives it, so the tests drive exactly what an operator (or a script) would. Gateways can
//! be pointed through a [`super::proxy::FaultProxy`] by rewriting their `[axis] url`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{docgate, GatewayDir, GatewayProcess};

/// The demo's parts, set up under one directory.
pub struct Exchange {
    pub dir: PathBuf,
    pub manifest: Value,
    pub axis: DemoAxis,
    pub gateways: BTreeMap<String, GatewayDir>,
}

/// How to run the axis.
pub struct DemoAxis {
    pub command: Vec<String>,
    pub config: PathBuf,
    pub url: String,
    pub address: SocketAddr,
}

impl Exchange {
    /// Runs `docgate demo --setup-only --dir DIR/demo` and reads its manifest. The gateways'
    /// `[signing]` sections (and the environment for the demo's tokens) are removed: these tests exercise the exchange with unsigned
    /// (often not even PDF) payloads; the signature tests add their own `[signing]`.
    pub fn setup(dir: &Path) -> Exchange {
        let demo_dir = dir.join("demo");
        let output = docgate()
            .args(["demo", "--setup-only", "--dir"])
            .arg(&demo_dir)
            .output()
            .expect("run docgate demo --setup-only");
        assert!(
            output.status.success(),
            "demo setup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut exchange = Exchange::setup_existing(&demo_dir);
        for gateway in exchange.gateways.values_mut() {
            remove_section(&gateway.config, "signing");
            // Without `[signing]` the demo's tokens are not used; a test that puts keys on
            // a token of its own gives its gateways its own SoftHSM configuration.
            gateway.env.clear();
        }
        exchange
    }

    /// Reads the manifest of a demo directory that is already set up.
    pub fn setup_existing(demo_dir: &Path) -> Exchange {
        let demo_dir = demo_dir.to_path_buf();
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(demo_dir.join("demo.json")).expect("read demo.json"),
        )
        .expect("demo.json is JSON");
        let axis = &manifest["axis"];
        let url = axis["url"].as_str().expect("axis url").to_string();
        let address: SocketAddr = url
            .trim_start_matches("https://")
            .parse()
            .expect("axis address");
        let axis = DemoAxis {
            command: strings(&axis["command"]),
            config: PathBuf::from(axis["config"].as_str().expect("axis config")),
            url,
            address,
        };
        let mut gateways = BTreeMap::new();
        for (name, gateway) in manifest["gateways"].as_object().expect("gateways") {
            let config = PathBuf::from(gateway["config"].as_str().expect("config"));
            gateways.insert(
                name.clone(),
                GatewayDir {
                    dir: config.parent().expect("config dir").to_path_buf(),
                    config,
                    token: gateway["api_token"].as_str().expect("token").to_string(),
                    url: gateway["url"].as_str().expect("url").to_string(),
                    env: gateway["env"]
                        .as_object()
                        .map(|env| {
                            env.iter()
                                .map(|(name, value)| {
                                    (name.clone(), value.as_str().unwrap_or_default().to_owned())
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                },
            );
        }
        Exchange {
            dir: demo_dir,
            manifest,
            axis,
            gateways,
        }
    }

    pub fn gateway(&self, name: &str) -> &GatewayDir {
        &self.gateways[name]
    }

    /// The agency code of a gateway.
    pub fn organ_id(&self, name: &str) -> String {
        self.manifest["gateways"][name]["organ_id"]
            .as_str()
            .expect("organ_id")
            .to_string()
    }

    /// Rewrites every gateway's `[axis] url` (e.g. to go through a proxy).
    pub fn point_gateways_at(&self, url: &str) {
        for gateway in self.gateways.values() {
            let text = std::fs::read_to_string(&gateway.config).expect("read config");
            let rewritten: Vec<String> = text
                .lines()
                .map(|line| {
                    if line.starts_with("url = \"https://") {
                        format!("url = \"{url}\"")
                    } else {
                        line.to_string()
                    }
                })
                .collect();
            std::fs::write(&gateway.config, rewritten.join("\n") + "\n").expect("write config");
        }
    }

    /// Adds or replaces `key = value` lines in every gateway config's `section`.
    pub fn set_gateway_option(&self, section: &str, key: &str, value: &str) {
        for gateway in self.gateways.values() {
            set_option(&gateway.config, section, key, value);
        }
    }
}

impl DemoAxis {
    /// Starts the axis and waits until it accepts connections.
    pub fn start(&self) -> DemoAxisProcess {
        let child = Command::new(&self.command[0])
            .args(&self.command[1..])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn docgate axis");
        let mut process = DemoAxisProcess { child: Some(child) };
        let started = Instant::now();
        while TcpStream::connect_timeout(&self.address, Duration::from_millis(200)).is_err() {
            if let Some(child) = process.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("docgate axis exited early: {status}");
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "docgate axis did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }
}

/// A running axis; SIGKILLed on drop.
pub struct DemoAxisProcess {
    child: Option<Child>,
}

impl DemoAxisProcess {
    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DemoAxisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` every 50 ms until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every document of one direction on a gateway, with paging: `(id, summary)`.
pub fn documents(gateway: &GatewayProcess, direction: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/documents?direction={direction}&limit=500");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = gateway.get_json(&path);
        assert_eq!(status, 200, "{page}");
        all.extend(
            page["documents"]
                .as_array()
                .expect("documents")
                .iter()
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return all,
        }
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|part| part.as_str().expect("string").to_string())
        .collect()
}

/// Removes `[section]` and its keys from a TOML file.
pub fn remove_section(path: &Path, section: &str) {
    let text = std::fs::read_to_string(path).expect("read config");
    let header = format!("[{section}]");
    let mut inside = false;
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with('[') && trimmed.ends_with(']') && !trimmed.contains('=') {
                inside = trimmed == header;
            }
            !inside
        })
        .collect();
    std::fs::write(path, kept.join("\n") + "\n").expect("write config");
}

/// Sets `key = value` in `[section]` of a TOML file (appending the section if missing).
pub fn set_option(path: &Path, section: &str, key: &str, value: &str) {
    let text = std::fs::read_to_string(path).expect("read config");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = format!("[{section}]");
    let start = match lines.iter().position(|line| line.trim() == header) {
        Some(start) => start,
        None => {
            lines.push(String::new());
            lines.push(header);
            lines.len() - 1
        }
    };
    let end = lines[start + 1..]
        .iter()
        .position(|line| line.trim_start().starts_with('['))
        .map(|offset| start + 1 + offset)
        .unwrap_or(lines.len());
    let existing = lines[start + 1..end]
        .iter()
        .position(|line| line.starts_with(&format!("{key} =")));
    match existing {
        Some(offset) => lines[start + 1 + offset] = format!("{key} = {value}"),
        None => lines.insert(end, format!("{key} = {value}")),
    }
    std::fs::write(path, lines.join("\n") + "\n").expect("write config");
}

/// A small deterministic random source for fault schedules (xorshift64*), so a failing
/// run can be repeated with its printed seed.
pub struct Rng(u64);

impl Rng {
    /// From `env_var` if set, else from the clock; prints the seed.
    pub fn from_env(env_var: &str) -> Rng {
        let seed = std::env::var(env_var)
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{env_var}={seed}");
        Rng(seed.max(1))
    }

    /// From a seed (a run repeated with its printed seed).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// A PDF of about `size` bytes: a `%PDF-` header and incompressible filler, the worst case
/// for the wire (the ZIP inside edXML cannot shrink it).
pub fn large_pdf(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed.max(1));
    let mut bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    bytes.reserve(size);
    while bytes.len() + 8 <= size {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

/// Posts a document, retrying through connection failures and 5xx answers (a gateway being
/// restarted) with the same Idempotency-Key, until the gateway answers 2xx; returns the body.
pub fn post_until_accepted(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    meta: &Value,
    file: (&str, &[u8]),
    key: &str,
) -> Value {
    let started = Instant::now();
    loop {
        let form = reqwest::blocking::multipart::Form::new()
            .text("meta", meta.to_string())
            .part(
                "file",
                reqwest::blocking::multipart::Part::bytes(file.1.to_vec())
                    .file_name(file.0.to_string())
                    .mime_str("application/pdf")
                    .expect("mime"),
            );
        let answer = client
            .post(format!("{url}/api/v1/documents"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .multipart(form)
            .send();
        if let Ok(response) = answer {
            let status = response.status();
            let body: Value = response.json().unwrap_or(Value::Null);
            if status.is_success() {
                return body;
            }
            assert!(
                status.is_server_error(),
                "the gateway refused {key}: {status} {body}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{key} was not accepted within two minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
