//! The reference axis's configuration file (`docgate axis --config FILE`, TOML).
//!
//! Owns the file's shape, its one validator ([`AxisConfig::load`]: every error names the
//! key and the fix), resolving relative paths against the file's directory, reading the
//! systems' secrets, and the directory built from it (which system serves which agency
//! code). Never opens a socket or the store, and never logs a secret.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

pub use super::enrolment_config::EnrolmentSection;
use crate::system::config::{describe_toml_error, is_agency_code};
use crate::system::http_server::{ConnectionLimits, ConnectionSettings};
use crate::system::tls::{self, TlsError};

/// Shortest shared secret accepted (characters).
pub const MIN_SECRET_LENGTH: usize = 24;

/// A validated axis configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisConfig {
    pub axis: AxisSection,
    pub tls: TlsSection,
    #[serde(default)]
    pub systems: Vec<SystemConfig>,
    /// `[enrolment]`: boxes enrol with one-time codes; this axis is their device CA.
    #[serde(default)]
    pub enrolment: Option<EnrolmentSection>,
}

/// `[axis]`: where it listens and keeps its state, and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisSection {
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    /// Largest packet accepted by `sendEdoc`, in bytes.
    #[serde(default = "default_max_packet_bytes")]
    pub max_packet_bytes: u64,
    /// How far a request's signed timestamp may be from the axis clock.
    #[serde(default = "default_max_clock_skew_secs")]
    pub max_clock_skew_secs: u64,
    /// The longest a `waitForEdoc` is held.
    #[serde(default = "default_long_poll_max_secs")]
    pub long_poll_max_secs: u64,
    /// How long SIGTERM waits for requests in flight.
    #[serde(default = "default_shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
    /// Agency codes accepted although not of the `LLL.KK.JJ.Xnn` shape (test systems).
    #[serde(default)]
    pub extra_agency_codes: Vec<String>,
    /// Connections kept open at once, all systems together.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections kept open at once from one client address.
    #[serde(default = "default_max_connections_per_address")]
    pub max_connections_per_address: usize,
    /// The longest a client may take to send a request's headers, in seconds.
    #[serde(default = "default_header_timeout_secs")]
    pub header_timeout_secs: u64,
    /// The longest a request body may pause between two pieces, in seconds.
    #[serde(default = "default_body_idle_timeout_secs")]
    pub body_idle_timeout_secs: u64,
}

impl AxisSection {
    /// The axis server's connection settings, as written.
    pub fn connection_settings(&self) -> ConnectionSettings {
        ConnectionSettings {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            header_timeout_secs: self.header_timeout_secs,
            body_idle_timeout_secs: self.body_idle_timeout_secs,
            shutdown_timeout_secs: self.shutdown_timeout_secs,
        }
    }

    /// The axis server's connection limits.
    pub fn connection_limits(&self) -> ConnectionLimits {
        self.connection_settings().limits()
    }
}

/// `[tls]`: the axis's certificate and the CA its clients' certificates must chain to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub client_ca: PathBuf,
    #[serde(default)]
    pub crls: Vec<PathBuf>,
}

/// `[[systems]]`: one connected system (a gateway), its secret and its agency codes.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// The system id: its client certificate's CN, `XroadVnpt-systemid` and `from`.
    pub id: String,
    pub name: String,
    /// The shared secret; after [`AxisConfig::load`], also the content of `secret_file`.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Agency codes this system sends as and receives for.
    pub agencies: Vec<String>,
    /// A locked system receives nothing: packets to it are refused with code 23.
    #[serde(default)]
    pub locked: bool,
}

impl std::fmt::Debug for SystemConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SystemConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("agencies", &self.agencies)
            .field("locked", &self.locked)
            .finish()
    }
}

fn default_max_packet_bytes() -> u64 {
    512 * 1024 * 1024
}
fn default_max_clock_skew_secs() -> u64 {
    300
}
fn default_long_poll_max_secs() -> u64 {
    30
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_connections_per_address() -> usize {
    32
}
fn default_header_timeout_secs() -> u64 {
    30
}
fn default_body_idle_timeout_secs() -> u64 {
    60
}
fn default_shutdown_timeout_secs() -> u64 {
    20
}

/// Why an axis configuration was refused. Each message names the file, the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum AxisConfigError {
    #[error("cannot read {path}: {error}; check the path and that this user may read it")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: `{key}` {problem}; {fix}")]
    Invalid {
        path: PathBuf,
        key: String,
        problem: String,
        fix: &'static str,
    },
    #[error("{path}: the [tls] files cannot be used: {reason}")]
    Tls { path: PathBuf, reason: TlsError },
}

impl AxisConfig {
    /// Reads and validates a configuration file; relative paths are taken relative to its
    /// directory. Reads the secret files and loads the TLS files to check them.
    pub fn load(path: &Path) -> Result<AxisConfig, AxisConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| AxisConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        AxisConfig::parse(&text, path)
    }

    /// Validates configuration text as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<AxisConfig, AxisConfigError> {
        let mut config: AxisConfig =
            toml::from_str(text).map_err(|error| AxisConfigError::Syntax {
                path: path.to_path_buf(),
                message: describe_toml_error(text, &error),
            })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        config.resolve_paths(base);
        config.validate(path)?;
        config.server_tls().map_err(|reason| AxisConfigError::Tls {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.axis.state_dir = base.join(&self.axis.state_dir);
        self.tls.certificate = base.join(&self.tls.certificate);
        self.tls.key = base.join(&self.tls.key);
        self.tls.client_ca = base.join(&self.tls.client_ca);
        for crl in &mut self.tls.crls {
            *crl = base.join(&*crl);
        }
        if let Some(enrolment) = &mut self.enrolment {
            enrolment.resolve_paths(base);
        }
        for system in &mut self.systems {
            if let Some(file) = &system.secret_file {
                system.secret_file = Some(base.join(file));
            }
        }
    }

    fn validate(&mut self, path: &Path) -> Result<(), AxisConfigError> {
        let invalid = |key: String, problem: String, fix: &'static str| AxisConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
            fix,
        };
        let axis = &self.axis;
        if axis.max_packet_bytes < 1024 {
            return Err(invalid(
                "axis.max_packet_bytes".into(),
                format!("is {}, below 1024", axis.max_packet_bytes),
                "use a value such as 536870912 (512 MiB)",
            ));
        }
        if !(1..=3600).contains(&axis.max_clock_skew_secs) {
            return Err(invalid(
                "axis.max_clock_skew_secs".into(),
                format!("is {}, outside 1..=3600", axis.max_clock_skew_secs),
                "use a value such as 300",
            ));
        }
        if !(1..=600).contains(&axis.long_poll_max_secs) {
            return Err(invalid(
                "axis.long_poll_max_secs".into(),
                format!("is {}, outside 1..=600", axis.long_poll_max_secs),
                "use a value such as 30",
            ));
        }
        if let Err(problem) = axis.connection_settings().check() {
            return Err(invalid(
                format!("axis.{}", problem.setting.name()),
                problem.problem,
                problem.fix,
            ));
        }
        if axis.shutdown_timeout_secs > 3600 {
            return Err(invalid(
                "axis.shutdown_timeout_secs".into(),
                format!("is {}, above 3600", axis.shutdown_timeout_secs),
                "use a value such as 20",
            ));
        }
        if self.systems.is_empty() && self.enrolment.is_none() {
            return Err(invalid(
                "systems".into(),
                "lists no system".into(),
                "add a [[systems]] table for each gateway that connects to this axis, or an [enrolment] section so boxes enrol with codes",
            ));
        }
        if let Some((key, problem, fix)) =
            self.enrolment.as_ref().and_then(EnrolmentSection::problem)
        {
            return Err(invalid(key, problem, fix));
        }
        let extra = self.axis.extra_agency_codes.clone();
        let mut ids = HashSet::new();
        let mut agencies = HashSet::new();
        for (index, system) in self.systems.iter_mut().enumerate() {
            let key = |field: &str| format!("systems[{index}].{field}");
            let id_ok = !system.id.is_empty()
                && system.id.len() <= 128
                && system.id.chars().all(|c| c.is_ascii_graphic());
            if !id_ok {
                return Err(invalid(
                    key("id"),
                    format!("is {:?}, not a system id", system.id),
                    "write the CN of the system's client certificate (printable ASCII, no spaces, at most 128 characters)",
                ));
            }
            if !ids.insert(system.id.clone()) {
                return Err(invalid(
                    key("id"),
                    format!("{:?} is listed twice", system.id),
                    "keep one [[systems]] table per system",
                ));
            }
            if system.name.trim().is_empty() {
                return Err(invalid(
                    key("name"),
                    "is empty".into(),
                    "write the name of the office that runs the system",
                ));
            }
            let secret =
                match (&system.secret, &system.secret_file) {
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            key("secret"),
                            "and secret_file are both set".into(),
                            "keep only one of them (secret_file is preferred)",
                        ))
                    }
                    (None, None) => return Err(invalid(
                        key("secret_file"),
                        "is missing".into(),
                        "set secret_file to a file holding the system's shared secret (or secret)",
                    )),
                    (Some(secret), None) => secret.clone(),
                    (None, Some(file)) => std::fs::read_to_string(file)
                        .map_err(|error| AxisConfigError::Read {
                            path: file.clone(),
                            error,
                        })?
                        .trim()
                        .to_owned(),
                };
            if secret.len() < MIN_SECRET_LENGTH || secret.chars().any(|c| !c.is_ascii_graphic()) {
                return Err(invalid(
                    key("secret"),
                    format!("must be at least {MIN_SECRET_LENGTH} printable ASCII characters without spaces"),
                    "generate one with `openssl rand -hex 32` and give the same value to the gateway",
                ));
            }
            system.secret = Some(secret);
            if system.agencies.is_empty() {
                return Err(invalid(
                    key("agencies"),
                    "is empty".into(),
                    "list the agency codes this system sends as and receives for",
                ));
            }
            for code in &system.agencies {
                if !is_agency_code(code, &extra) {
                    return Err(invalid(
                        key("agencies"),
                        format!("holds {code:?}, not an agency code"),
                        "write codes of the form LLL.KK.JJ.Xnn (e.g. 000.00.00.H41), or list the code in axis.extra_agency_codes",
                    ));
                }
                if !agencies.insert(code.clone()) {
                    return Err(invalid(
                        key("agencies"),
                        format!("holds {code:?}, which another system also lists"),
                        "give each agency code to exactly one system",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The rustls server config: this axis's certificate; clients must present one issued
    /// under `tls.client_ca`, valid now and not revoked.
    /// With `[enrolment]`, a connection may also come without a client certificate: it
    /// then reaches only the enrolment endpoints (every VDXP operation demands one).
    pub fn server_tls(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        tls::server_config(
            &self.tls.certificate,
            &self.tls.key,
            &self.tls.client_ca,
            &self.tls.crls,
            self.enrolment.is_some(),
        )
    }

    /// The device CA, when `[enrolment]` is set.
    pub fn device_ca(
        &self,
    ) -> Result<Option<super::device_ca::DeviceCa>, super::device_ca::DeviceCaError> {
        self.enrolment
            .as_ref()
            .map(|enrolment| {
                super::device_ca::DeviceCa::load(&self.tls.client_ca, &enrolment.ca_key)
            })
            .transpose()
    }

    /// The directory of systems and agency codes this configuration describes.
    pub fn directory(&self) -> Directory {
        let mut systems = BTreeMap::new();
        let mut agencies = BTreeMap::new();
        for system in &self.systems {
            for code in &system.agencies {
                agencies.insert(code.clone(), system.id.clone());
            }
            systems.insert(
                system.id.clone(),
                DirectorySystem {
                    name: system.name.clone(),
                    secret: system.secret.clone().unwrap_or_default().into_bytes(),
                    agencies: system.agencies.clone(),
                    locked: system.locked,
                    certificate_serials: None,
                },
            );
        }
        Directory { systems, agencies }
    }
}

/// Who is connected: systems by id and the system serving each agency code.
#[derive(Clone, Default)]
pub struct Directory {
    systems: BTreeMap<String, DirectorySystem>,
    agencies: BTreeMap<String, String>,
}

/// One system of the [`Directory`].
#[derive(Clone)]
pub struct DirectorySystem {
    pub name: String,
    secret: Vec<u8>,
    pub agencies: Vec<String>,
    pub locked: bool,
    /// For an enrolled device: the serials of the link certificates it may connect with
    /// (the current one, and the one before a renewal). `None`: any certificate with its
    /// CN (systems listed in the configuration file).
    pub certificate_serials: Option<Vec<String>>,
}

impl DirectorySystem {
    /// Whether a connection with this certificate serial may speak for the system.
    pub fn accepts_certificate(&self, serial: &str) -> bool {
        match &self.certificate_serials {
            None => true,
            Some(serials) => serials
                .iter()
                .any(|known| known.eq_ignore_ascii_case(serial)),
        }
    }
    /// The shared secret (never log it).
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Whether this system may send as `organ_id`.
    pub fn serves(&self, organ_id: &str) -> bool {
        self.agencies.iter().any(|code| code == organ_id)
    }
}

impl Directory {
    /// This directory plus the enrolled devices that are not decommissioned. A device
    /// never takes an agency code or system id the configuration file already gives.
    pub fn with_devices(
        mut self,
        devices: &[crate::store::axis::enrolment::DeviceRecord],
    ) -> Directory {
        for device in devices
            .iter()
            .filter(|device| device.decommissioned_at.is_none())
        {
            if self.systems.contains_key(&device.system_id)
                || self.agencies.contains_key(&device.agency_code)
            {
                continue;
            }
            let mut serials = vec![device.certificate_serial.clone()];
            serials.extend(device.previous_serial.clone());
            self.agencies
                .insert(device.agency_code.clone(), device.system_id.clone());
            self.systems.insert(
                device.system_id.clone(),
                DirectorySystem {
                    name: device.agency_name.clone(),
                    secret: device.secret.clone().into_bytes(),
                    agencies: vec![device.agency_code.clone()],
                    locked: false,
                    certificate_serials: Some(serials),
                },
            );
        }
        self
    }

    /// Whether the configuration file already gives this agency code to a system.
    pub fn serves_agency(&self, code: &str) -> bool {
        self.agencies.contains_key(code)
    }

    /// A system by id.
    pub fn system(&self, id: &str) -> Option<&DirectorySystem> {
        self.systems.get(id)
    }

    /// Every system id.
    pub fn system_ids(&self) -> impl Iterator<Item = &str> {
        self.systems.keys().map(String::as_str)
    }

    /// The system that serves an agency code, with its id.
    pub fn system_for_agency(&self, organ_id: &str) -> Option<(&str, &DirectorySystem)> {
        let id = self.agencies.get(organ_id)?;
        let system = self.systems.get(id)?;
        Some((id.as_str(), system))
    }

    /// Every agency code with its system id and the system's name, sorted by code.
    pub fn agencies(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.agencies.iter().filter_map(|(code, id)| {
            let system = self.systems.get(id)?;
            Some((code.as_str(), id.as_str(), system.name.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = crate::demo::pki::TestCa::create("Test CA", dir.path(), "ca").expect("ca");
        ca.issue_server("axis", dir.path(), "axis").expect("server");
        std::fs::write(dir.path().join("secret-b"), format!("{SECRET}\n")).expect("secret");
        dir
    }

    fn good() -> String {
        format!(
            r#"
[axis]
listen = "127.0.0.1:8443"
state_dir = "state"
[tls]
certificate = "axis.pem"
key = "axis.key"
client_ca = "ca.pem"
[[systems]]
id = "001.01.10.H41"
name = "UBND xã Thử Nghiệm"
secret = "{SECRET}"
agencies = ["001.01.10.H41"]
[[systems]]
id = "000.00.00.H41"
name = "UBND tỉnh"
secret_file = "secret-b"
agencies = ["000.00.00.H41", "000.00.01.H41"]
locked = false
"#
        )
    }

    fn check(dir: &Path, text: &str) -> Result<AxisConfig, String> {
        let path = dir.join("axis.toml");
        std::fs::write(&path, text).expect("write");
        AxisConfig::load(&path).map_err(|error| error.to_string())
    }

    #[test]
    fn a_good_file_loads_with_paths_resolved_and_secrets_read() {
        let dir = setup();
        let config = check(dir.path(), &good()).expect("loads");
        assert_eq!(config.axis.state_dir, dir.path().join("state"));
        assert_eq!(config.axis.max_packet_bytes, 512 * 1024 * 1024);
        assert_eq!(config.axis.long_poll_max_secs, 30);
        let directory = config.directory();
        let (id, system) = directory
            .system_for_agency("000.00.01.H41")
            .expect("served");
        assert_eq!(id, "000.00.00.H41");
        assert_eq!(system.secret(), SECRET.as_bytes());
        assert_eq!(directory.agencies().count(), 3);
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET), "{debug}");
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let dir = setup();
        let cases = [
            (good().replace("127.0.0.1:8443", "localhost"), "listen"),
            (good().replace("state_dir", "stat_dir"), "stat_dir"),
            (good().replace("[tls]", "[axis2]\nx = 1\n[tls]"), "axis2"),
            (good().replace(SECRET, "short"), "systems[0].secret"),
            (
                good().replace("secret_file = \"secret-b\"", ""),
                "systems[1].secret_file",
            ),
            (
                good().replace("secret_file = \"secret-b\"", "secret_file = \"nowhere\""),
                "nowhere",
            ),
            (
                good().replace("\"000.00.01.H41\"]", "\"001.01.10.H41\"]"),
                "systems[1].agencies",
            ),
            (
                good().replace("\"000.00.01.H41\"]", "\"vxp.saas.03\"]"),
                "systems[1].agencies",
            ),
            (
                good().replace("id = \"000.00.00.H41\"", "id = \"001.01.10.H41\""),
                "systems[1].id",
            ),
            (
                good().replace("name = \"UBND tỉnh\"", "name = \" \""),
                "systems[1].name",
            ),
            (
                good().replace("[axis]", "[axis]\nlong_poll_max_secs = 0"),
                "axis.long_poll_max_secs",
            ),
            (
                good().replace("[axis]", "[axis]\nmax_connections = 0"),
                "axis.max_connections",
            ),
            (
                good().replace(
                    "[axis]",
                    "[axis]\nmax_connections = 4\nmax_connections_per_address = 5",
                ),
                "axis.max_connections_per_address",
            ),
            (
                good().replace("[axis]", "[axis]\nheader_timeout_secs = 301"),
                "axis.header_timeout_secs",
            ),
            (
                good().replace("[axis]", "[axis]\nbody_idle_timeout_secs = 0"),
                "axis.body_idle_timeout_secs",
            ),
            (
                good().replace("[axis]", "[axis]\nmax_packet_bytes = 10"),
                "axis.max_packet_bytes",
            ),
            (good().replace("ca.pem", "missing-ca.pem"), "missing-ca.pem"),
            ("[axis]\n".to_string(), "not valid"),
        ];
        for (text, expected) in cases {
            let error = check(dir.path(), &text).expect_err(expected);
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
        let allowed = good()
            .replace("\"000.00.01.H41\"]", "\"vxp.saas.03\"]")
            .replace("[axis]", "[axis]\nextra_agency_codes = [\"vxp.saas.03\"]");
        check(dir.path(), &allowed).expect("an allowed exception");
    }
}
