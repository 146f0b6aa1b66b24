//! Provisioned boxes for end-to-end tests: an axis offering enrolment on a known port, codes
//! made with `docgate axis enroll create`, and gateways with `[provisioning]` that start
//! "not provisioned" and are enrolled with `docgate enroll` while they run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::axis::{AxisDir, AxisProcess};
use super::{client, docgate, free_port, GatewayDir, GatewayProcess};

/// An axis whose `[enrolment]` bundles name its real address.
pub struct EnrolmentAxis {
    pub axis: AxisDir,
    pub url: String,
}

impl EnrolmentAxis {
    /// The test axis on a fixed free port, issuing link certificates valid
    /// `lifetime_secs`, renewed `renew_before_secs` before they end.
    pub fn create(dir: &Path, lifetime_secs: u64, renew_before_secs: u64) -> EnrolmentAxis {
        let axis = AxisDir::create(dir);
        axis.ca
            .write_key(&axis.dir.join("pki/ca.key"))
            .expect("CA key");
        let port = free_port();
        let url = format!("https://127.0.0.1:{port}");
        let text = std::fs::read_to_string(&axis.config).expect("config");
        let text = text.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        );
        let text = format!(
            "{text}\n[enrolment]\nca_key = \"pki/ca.key\"\npublic_url = \"{url}\"\nlink_certificate_lifetime_secs = {lifetime_secs}\nrenew_before_secs = {renew_before_secs}\nrefresh_secs = 2\n"
        );
        std::fs::write(&axis.config, text).expect("config");
        EnrolmentAxis { axis, url }
    }

    pub fn start(&self) -> AxisProcess {
        self.axis.start()
    }

    /// A one-time code for `agency`, valid an hour.
    pub fn code(&self, agency: &str, name: &str) -> String {
        let output = docgate()
            .args([
                "axis", "enroll", "create", "--agency", agency, "--name", name,
            ])
            .args(["--expires-in", "1h", "--config"])
            .arg(&self.axis.config)
            .output()
            .expect("docgate axis enroll create");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines()
            .find_map(|line| line.strip_prefix("code:"))
            .map(|code| code.trim().to_owned())
            .unwrap_or_else(|| panic!("no code in {text}"))
    }

    /// `docgate axis enroll <args>` output (stdout), asserting success.
    pub fn enroll_cli(&self, args: &[&str]) -> String {
        let output = docgate()
            .args(["axis", "enroll"])
            .args(args)
            .arg("--config")
            .arg(&self.axis.config)
            .output()
            .expect("docgate axis enroll");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// A box from the factory: `docgate config init --provisioned` (no agency, no `[axis]`),
/// with `[provisioning] axis_url` set to `axis_url` when given.
pub fn provisioned_box(dir: &Path, axis_url: Option<&str>) -> GatewayDir {
    let gateway = GatewayDir::init_with(dir, &["--provisioned"], &[]);
    let text = std::fs::read_to_string(&gateway.config).expect("config");
    assert!(
        !text.contains("organ_id =") && !text.contains("[axis]"),
        "a provisioned configuration names no agency and no axis: {text}"
    );
    if let Some(axis_url) = axis_url {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let section = lines
            .iter()
            .position(|line| line.trim() == "[provisioning]")
            .unwrap_or_else(|| panic!("no [provisioning] in {text}"));
        lines.insert(section + 1, format!("axis_url = \"{axis_url}\""));
        std::fs::write(&gateway.config, lines.join("\n") + "\n").expect("config");
    }
    gateway
}

/// Where the box's enrolment is written (`<state>/provisioning`).
pub fn provisioning_dir(gateway: &GatewayDir) -> PathBuf {
    gateway.state_dir().join("provisioning")
}

/// The file the box's clock offset is read from (fault injection), under `dir`.
pub fn clock_file(gateway: &GatewayDir) -> PathBuf {
    gateway.dir.join("clock-offset")
}

/// Starts `docgate run` on a box that may not be enrolled yet; waits until it answers
/// `/healthz` at all (503 while not provisioned).
pub fn start_box(gateway: &GatewayDir) -> GatewayProcess {
    let clock = clock_file(gateway).display().to_string();
    let env = [("DOCGATE_FAULT_CLOCK_OFFSET_FILE".to_owned(), clock)];
    let child = super::docgate_run(&gateway.config, &env)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn docgate run");
    let process = GatewayProcess {
        child: Some(child),
        url: gateway.url.clone(),
        token: gateway.token.clone(),
        client: client(),
    };
    let answered = super::exchange::wait_for(Duration::from_secs(30), || {
        process
            .client
            .get(format!("{}/healthz", process.url))
            .send()
            .ok()
    });
    assert!(answered.is_some(), "the box never answered");
    process
}

/// `/healthz`'s status code (0 when nothing answers).
pub fn health(process: &GatewayProcess) -> u16 {
    process
        .client
        .get(format!("{}/healthz", process.url))
        .send()
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

/// `docgate enroll` for `gateway`. Run as root, a link key it made on a SoftHSM token
/// is a file of root's: the token directory goes back to the test user the daemon runs
/// as (with a real token the key is in hardware; `docgate enroll` itself hands what it
/// writes in the state directory to that directory's owner).
pub fn enroll(gateway: &GatewayDir, axis_url: &str, code: &str) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_docgate"))
        .args(["enroll", "--axis", axis_url, "--code", code, "--config"])
        .arg(&gateway.config)
        .output()
        .expect("docgate enroll");
    if let Some(conf) = std::env::var_os("SOFTHSM2_CONF").map(PathBuf::from) {
        if let Some(directory) = conf.parent() {
            super::hand_over_to_test_user(&directory.join("tokens"));
        }
    }
    output
}

/// Enrols and waits until the gateway is up (`/healthz` 200).
pub fn enroll_and_wait(gateway: &GatewayDir, process: &GatewayProcess, axis_url: &str, code: &str) {
    let output = enroll(gateway, axis_url, code);
    assert!(
        output.status.success(),
        "docgate enroll: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let up = super::exchange::wait_for(Duration::from_secs(30), || {
        (health(process) == 200).then_some(())
    });
    assert!(
        up.is_some(),
        "the box did not start the gateway after enrolling"
    );
}

/// The generation the box's enrolment is at on disk.
pub fn generation(gateway: &GatewayDir) -> Option<u64> {
    std::fs::read_link(provisioning_dir(gateway).join("current"))
        .ok()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()
}

/// `docgate status` for `gateway` (its output and exit status).
pub fn status_cli(gateway: &GatewayDir) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_docgate"))
        .args(["status", "--config"])
        .arg(&gateway.config)
        .output()
        .expect("docgate status")
}
