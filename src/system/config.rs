//! The gateway's configuration file (`/etc/docgate/docgate.toml` on the appliance).
//!
//! One validator, [`GatewayConfig::load`], serves both `docgate config check` and
//! `docgate run`, so a file that passes the check is a file the daemon accepts. Every error
//! names the key and how to fix it. Writing a fresh file is [`write_initial`].

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use super::axis_config::AxisSection;
pub use super::limits_config::LimitsSection;
pub use super::provisioning_config::{rotated_link_key_label, LinkKeyPlace, ProvisioningSection};
pub use super::register_config::RegisterSection;
pub use super::signing_config::SigningSection;

/// A validated configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub gateway: GatewaySection,
    pub api: ApiSection,
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[axis]`: the provincial axis. Absent: the gateway runs stand-alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axis: Option<AxisSection>,
    /// `[signing]`: the agency seal and signature checks. Absent: none (stand-alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningSection>,
    /// `[register]`: abbreviations for composing ký hiệu. Absent: the office must send
    /// `code_notation` with every document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<RegisterSection>,
    /// `[provisioning]`: who this box is and how it reaches the axis come from enrolment
    /// (`docgate enroll`, or the status page's form), not from this file, which then leaves
    /// out `gateway.organ_id`, `gateway.organ_name` and `[axis]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<ProvisioningSection>,
    /// The file this configuration was read from (for re-checking it while running).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[gateway]`: who this box is and where it keeps its state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Our agency code (mã định danh), e.g. `000.00.01.H41`. Left out with
    /// `[provisioning]` (the enrolment sets it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub organ_id: String,
    /// Our agency's name, as written in edXML `From/OrganName`. Left out with
    /// `[provisioning]`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub organ_name: String,
    /// Database and blob files live here.
    pub state_dir: PathBuf,
    /// Agency codes accepted although they do not have the `LLL.KK.JJ.Xnn` shape
    /// (test systems use codes such as `vxp.saas.03`).
    #[serde(default)]
    pub extra_agency_codes: Vec<String>,
    /// The updater's status (`rauc status` as JSON), written by the appliance image's
    /// `docgate-update-status` unit; shown on the status page when the file exists.
    /// Default: [`DEFAULT_UPDATE_STATUS_FILE`](crate::system::update_slots::DEFAULT_UPDATE_STATUS_FILE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status_file: Option<PathBuf>,
}

impl GatewaySection {
    /// Where the updater's status is read from.
    pub fn update_status_file(&self) -> PathBuf {
        self.update_status_file.clone().unwrap_or_else(|| {
            PathBuf::from(crate::system::update_slots::DEFAULT_UPDATE_STATUS_FILE)
        })
    }
}

/// `[api]`: the local API on the office LAN.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Address to listen on, e.g. `192.168.1.10:8480`.
    pub listen: SocketAddr,
    /// The bearer token office software presents. Prefer `token_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A file holding the bearer token (readable only by the docgate user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The clerks' accounts file (`docgate clerk add` writes it); default `clerks.toml`
    /// beside this configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clerks_file: Option<PathBuf>,
    /// Serve the LAN side over HTTPS with this certificate chain (PEM) and `tls_key`; the
    /// clerk pages' cookies are then marked `Secure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_certificate: Option<PathBuf>,
    /// The private key (PEM, PKCS#8) of `tls_certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

impl ApiSection {
    /// The LAN side's HTTPS settings, when they are set and usable.
    pub fn lan_tls(
        &self,
    ) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>, crate::system::tls::TlsError> {
        match (&self.tls_certificate, &self.tls_key) {
            (Some(certificate), Some(key)) => {
                crate::system::lan_tls::lan_server_config(certificate, key).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn tls_problem(&self) -> Option<String> {
        match (&self.tls_certificate, &self.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                Some("is set without api.tls_key, or the other way round".into())
            }
            (Some(_), Some(_)) => self.lan_tls().err().map(|error| error.to_string()),
            (None, None) => None,
        }
    }
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}; check the path and that the docgate user may read it")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: `{key}` {problem}; {fix}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
        fix: &'static str,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Shortest API token accepted (characters).
const MIN_TOKEN_LENGTH: usize = 24;

impl GatewayConfig {
    /// Reads and validates a configuration file. Relative paths inside it are taken
    /// relative to the file's directory.
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        GatewayConfig::parse(&text, path)
    }

    /// Validates configuration text as if read from `path` (which names the file in errors
    /// and anchors relative paths). Reads nothing but `api.token_file`, if set.
    pub fn parse(text: &str, path: &Path) -> Result<GatewayConfig, ConfigError> {
        let mut config: GatewayConfig =
            toml::from_str(text).map_err(|error| ConfigError::Syntax {
                path: path.to_path_buf(),
                message: describe_toml_error(text, &error),
            })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        config.source = Some(path.to_path_buf());
        config.gateway.state_dir = base.join(&config.gateway.state_dir);
        if let Some(path) = &mut config.gateway.update_status_file {
            *path = base.join(&*path);
        }
        if let Some(token_file) = &config.api.token_file {
            config.api.token_file = Some(base.join(token_file));
        }
        config.api.clerks_file = Some(match &config.api.clerks_file {
            Some(clerks_file) => base.join(clerks_file),
            None => crate::system::clerk_accounts::default_path(path),
        });
        config.api.tls_certificate = config
            .api
            .tls_certificate
            .as_ref()
            .map(|file| base.join(file));
        config.api.tls_key = config.api.tls_key.as_ref().map(|file| base.join(file));
        if let Some(axis) = &mut config.axis {
            axis.ca = base.join(&axis.ca);
            axis.certificate = base.join(&axis.certificate);
            if let Some(key) = &axis.key {
                axis.key = Some(base.join(key));
            }
            if let Some(secret_file) = &axis.secret_file {
                axis.secret_file = Some(base.join(secret_file));
            }
        }
        if let Some(signing) = &mut config.signing {
            signing.anchor(base);
        }
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: String, fix| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
            fix,
        };
        match &self.provisioning {
            Some(provisioning) => provisioning.validate(path, self)?,
            None => self.validate_identity(path)?,
        }
        match (&self.api.token, &self.api.token_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "api.token",
                    "and api.token_file are both set".into(),
                    "keep only one of them (token_file is preferred)",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "api.token_file",
                    "is missing".into(),
                    "set api.token_file to a file holding the API token (or api.token); `docgate config init` makes one",
                ))
            }
            _ => {}
        }
        let token = self.api_token()?;
        if token.len() < MIN_TOKEN_LENGTH || token.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(invalid(
                "api.token",
                format!(
                    "must be at least {MIN_TOKEN_LENGTH} printable ASCII characters without spaces"
                ),
                "generate one with `docgate config init` or `openssl rand -hex 32`",
            ));
        }
        if let Some(problem) = self.api.tls_problem() {
            return Err(invalid(
                "api.tls_certificate",
                problem,
                "set both api.tls_certificate and api.tls_key to PEM files the docgate user may read, or neither",
            ));
        }
        self.limits.validate(path)?;
        if let Some(signing) = &self.signing {
            signing.validate(path)?;
        }
        if let Some(register) = &self.register {
            register.validate(path)?;
        }
        if let Some(axis) = &self.axis {
            axis.validate(path)?;
            if axis.token_key_label.is_some()
                && self
                    .signing
                    .as_ref()
                    .is_none_or(|signing| signing.token_label.is_none())
            {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    key: "axis.token_key_label",
                    problem: "names a key on the token, but [signing] names no token".into(),
                    fix: "set token_label, token_module and token_pin_file in [signing], or use axis.key",
                });
            }
        }
        Ok(())
    }

    /// Without `[provisioning]`: the file says who the box is.
    fn validate_identity(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: String, fix| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
            fix,
        };
        if !is_agency_code(&self.gateway.organ_id, &self.gateway.extra_agency_codes) {
            return Err(invalid(
                "gateway.organ_id",
                format!("is {:?}, not an agency code", self.gateway.organ_id),
                "write the code of the form LLL.KK.JJ.Xnn issued for this office (e.g. 000.00.01.H41), or list it in gateway.extra_agency_codes",
            ));
        }
        if self.gateway.organ_name.trim().is_empty() {
            return Err(invalid(
                "gateway.organ_name",
                "is empty".into(),
                "write the agency's name as it appears on its documents",
            ));
        }
        Ok(())
    }

    /// The API token, read from `api.token` or `api.token_file`.
    pub fn api_token(&self) -> Result<String, ConfigError> {
        if let Some(token) = &self.api.token {
            return Ok(token.clone());
        }
        let Some(path) = &self.api.token_file else {
            return Ok(String::new());
        };
        let token = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(token.trim().to_string())
    }
}

/// "line N, `key`: what is wrong", on one line (toml's own rendering spans several lines).
pub(crate) fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', " ");
    let Some(span) = error.span() else {
        return message;
    };
    let before = text.get(..span.start).unwrap_or("");
    let line_number = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let line = text
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() => {
            format!("line {line_number}, `{}`: {message}", key.trim())
        }
        _ => format!("line {line_number}: {message}"),
    }
}

/// Whether `code` is an agency code: `LLL.KK.JJ.Xnn` (digits, a capital letter, digits),
/// or one the configuration explicitly allows.
pub fn is_agency_code(code: &str, extra: &[String]) -> bool {
    if extra.iter().any(|allowed| allowed == code) {
        return true;
    }
    let parts: Vec<&str> = code.split('.').collect();
    let digits = |part: &str, length: usize| {
        part.len() == length && part.bytes().all(|b| b.is_ascii_digit())
    };
    matches!(parts.as_slice(), [level1, level2, level3, last]
        if digits(level1, 3) && digits(level2, 2) && digits(level3, 2)
            && last.len() == 3
            && last.as_bytes()[0].is_ascii_uppercase()
            && last.as_bytes()[1..].iter().all(u8::is_ascii_digit))
}

/// What `docgate config init` needs to know.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub dir: PathBuf,
    pub listen: SocketAddr,
    pub organ_id: String,
    pub organ_name: String,
    /// Write `[provisioning]` instead of the agency's identity: the box is enrolled later
    /// with a code from provincial IT (the factory image).
    pub provisioned: bool,
    /// `gateway.state_dir`; `None` writes `state` (next to the file). The appliance keeps
    /// its configuration in `/etc/docgate` and its state in `/var/lib/docgate`.
    pub state_dir: Option<PathBuf>,
}

/// The result of [`write_initial`].
#[derive(Debug, Clone)]
pub struct InitResult {
    pub config_path: PathBuf,
    pub api_token: String,
}

/// Writes `DIR/docgate.toml`: a working stand-alone gateway with its state in `DIR/state`
/// (or `options.state_dir`) and a fresh API token. Refuses to overwrite an existing file.
pub fn write_initial(options: &InitOptions) -> Result<InitResult, ConfigError> {
    let config_path = options.dir.join("docgate.toml");
    let write_error = |source| ConfigError::Write {
        path: config_path.clone(),
        source,
    };
    fs::create_dir_all(&options.dir).map_err(write_error)?;
    let api_token = fresh_token().map_err(write_error)?;
    let config = GatewayConfig {
        gateway: GatewaySection {
            organ_id: if options.provisioned {
                String::new()
            } else {
                options.organ_id.clone()
            },
            organ_name: if options.provisioned {
                String::new()
            } else {
                options.organ_name.clone()
            },
            state_dir: options
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("state")),
            extra_agency_codes: Vec::new(),
            update_status_file: None,
        },
        api: ApiSection {
            listen: options.listen,
            token: Some(api_token.clone()),
            token_file: None,
            clerks_file: None,
            tls_certificate: None,
            tls_key: None,
        },
        limits: LimitsSection::default(),
        axis: None,
        signing: None,
        register: None,
        provisioning: options.provisioned.then(ProvisioningSection::default),
        source: None,
    };
    let body = toml::to_string_pretty(&config).map_err(|error| ConfigError::Syntax {
        path: config_path.clone(),
        message: error.to_string(),
    })?;
    let text = format!(
        "# docgate gateway configuration, written by `docgate config init`.\n\
         # Check it with `docgate config check {}`. Relative paths are relative to this file.\n\n{body}{}",
        config_path.display(),
        super::register_config::EXAMPLE,
    );
    let mut file = create_private(&config_path).map_err(write_error)?;
    file.write_all(text.as_bytes()).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    Ok(InitResult {
        config_path,
        api_token,
    })
}

/// Creates a file only its owner may read (it holds a secret); never overwrites.
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// 32 random bytes from the OS, hex-encoded.
pub fn fresh_token() -> std::io::Result<String> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| std::io::Error::other("the system random source failed"))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(dir: &Path) -> InitResult {
        write_initial(&InitOptions {
            dir: dir.to_path_buf(),
            listen: "127.0.0.1:0".parse().expect("address"),
            organ_id: "000.00.01.H41".into(),
            organ_name: "UBND xã Thử Nghiệm".into(),
            provisioned: false,
            state_dir: None,
        })
        .expect("init")
    }

    #[test]
    fn init_writes_a_config_that_load_accepts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = init(dir.path());
        let config = GatewayConfig::load(&result.config_path).expect("load");
        assert_eq!(config.api_token().expect("token"), result.api_token);
        assert_eq!(config.gateway.state_dir, dir.path().join("state"));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&result.config_path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the config holds a secret");
    }

    #[test]
    fn init_for_enrolment_writes_a_config_that_load_accepts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = write_initial(&InitOptions {
            dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:8480".parse().expect("address"),
            organ_id: "000.00.01.H41".into(),
            organ_name: "x".into(),
            provisioned: true,
            state_dir: Some(dir.path().join("elsewhere")),
        })
        .expect("init");
        let config = GatewayConfig::load(&result.config_path).expect("load");
        let provisioning = config.provisioning.expect("[provisioning]");
        assert_eq!(provisioning.link_key_label, "docgate-link");
        assert!(config.gateway.organ_id.is_empty() && config.axis.is_none());
        assert_eq!(config.gateway.state_dir, dir.path().join("elsewhere"));
    }

    #[test]
    fn init_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        init(dir.path());
        assert!(write_initial(&InitOptions {
            dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().expect("address"),
            organ_id: "000.00.01.H41".into(),
            organ_name: "x".into(),
            provisioned: false,
            state_dir: None,
        })
        .is_err());
    }

    fn check(text: &str) -> Result<GatewayConfig, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("docgate.toml");
        fs::write(&path, text).expect("write");
        GatewayConfig::load(&path).map_err(|error| error.to_string())
    }

    const GOOD: &str = r#"
[gateway]
organ_id = "000.00.01.H41"
organ_name = "UBND"
state_dir = "state"
[api]
listen = "127.0.0.1:8480"
token = "0123456789abcdef0123456789abcdef"
"#;

    #[test]
    fn errors_name_the_key_and_the_fix() {
        assert!(check(GOOD).is_ok());
        let cases = [
            (GOOD.replace("000.00.01.H41", "H41"), "gateway.organ_id"),
            (
                GOOD.replace("0123456789abcdef0123456789abcdef", "short"),
                "api.token",
            ),
            (GOOD.replace("127.0.0.1:8480", "localhost"), "listen"),
            (GOOD.replace("listen", "lisen"), "lisen"),
            (GOOD.replace("token = ", "tokn = "), "tokn"),
            (
                GOOD.replace("organ_name = \"UBND\"", "organ_name = \" \""),
                "gateway.organ_name",
            ),
            (
                format!("{GOOD}\n[limits]\nmax_files = 0\n"),
                "limits.max_files",
            ),
            (
                format!("{GOOD}\n[limits]\nmax_file_bytes = 0\n"),
                "limits.max_file_bytes",
            ),
            (
                format!("{GOOD}\n[limits]\nmax_connections = 0\n"),
                "limits.max_connections",
            ),
            (
                format!("{GOOD}\n[limits]\nmax_connections = 8\nmax_connections_per_address = 9\n"),
                "limits.max_connections_per_address",
            ),
            (
                format!("{GOOD}\n[limits]\nheader_timeout_secs = 0\n"),
                "limits.header_timeout_secs",
            ),
            (
                format!("{GOOD}\n[limits]\nbody_idle_timeout_secs = 7200\n"),
                "limits.body_idle_timeout_secs",
            ),
            ("not toml at all [".to_string(), "not valid"),
            (
                GOOD.replace("[api]\n", "[api]\ntls_certificate = \"lan.pem\"\n"),
                "api.tls_certificate",
            ),
            (
                GOOD.replace(
                    "[api]\n",
                    "[api]\ntls_certificate = \"missing.pem\"\ntls_key = \"missing.key\"\n",
                ),
                "missing.pem",
            ),
        ];
        for (text, expected) in cases {
            let error = check(&text).expect_err(expected);
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }

    #[test]
    fn axis_section_is_validated() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["ca.pem", "gw.pem", "gw.key"] {
            fs::write(dir.path().join(name), "pem").expect("write");
        }
        fs::write(dir.path().join("secret"), "s".repeat(32)).expect("write");
        let axis = r#"
[axis]
url = "https://127.0.0.1:8443"
system_id = "001.01.10.H41"
secret_file = "secret"
ca = "ca.pem"
certificate = "gw.pem"
key = "gw.key"
"#;
        let load = |text: String| {
            let path = dir.path().join("docgate.toml");
            fs::write(&path, text).expect("write");
            GatewayConfig::load(&path).map_err(|error| error.to_string())
        };
        let config = load(format!("{GOOD}{axis}")).expect("valid");
        let section = config.axis.expect("axis");
        assert_eq!(section.ca, dir.path().join("ca.pem"));
        assert_eq!(section.retry_max_ms, 30_000);
        assert_eq!(section.secret().expect("secret").len(), 32);
        assert_eq!(config.limits.disk_quota_bytes, 10 * 1024 * 1024 * 1024);
        let cases = [
            (
                axis.replace("https://127.0.0.1:8443", "http://x"),
                "axis.url",
            ),
            (
                axis.replace("secret_file = \"secret\"", ""),
                "axis.secret_file",
            ),
            (
                axis.replace("secret_file = \"secret\"", "secret = \"short\""),
                "axis.secret",
            ),
            (axis.replace("gw.key", "missing.key"), "axis.key"),
            (format!("{axis}retry_min_ms = 0\n"), "axis.retry_min_ms"),
            (format!("{axis}long_poll_secs = 0\n"), "axis.long_poll_secs"),
            (format!("{axis}colour = 1\n"), "colour"),
        ];
        for (section, expected) in cases {
            let error = load(format!("{GOOD}{section}")).expect_err(expected);
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
        let error = load(format!("{GOOD}\n[limits]\ndisk_quota_bytes = 0\n")).expect_err("quota");
        assert!(error.contains("limits.disk_quota_bytes"), "{error}");
    }

    #[test]
    fn register_section_is_validated() {
        let good = format!(
            "{GOOD}\n[register]\nagency_abbreviation = \"UBND\"\nunit_abbreviation = \"VP\"\n\
             [register.type_abbreviations]\n\"Kế hoạch\" = \"KHo\"\n"
        );
        let config = check(&good).expect("valid");
        let register = config.register.expect("register");
        assert_eq!(register.agency_abbreviation.as_deref(), Some("UBND"));
        assert_eq!(register.type_abbreviations["Kế hoạch"], "KHo");
        let cases = [
            (
                good.replace("\"UBND\"", "\"UB ND\""),
                "register.agency_abbreviation",
            ),
            (
                good.replace("\"VP\"", "\"V/P\""),
                "register.unit_abbreviation",
            ),
            (
                good.replace("\"KHo\"", "\"\""),
                "register.type_abbreviations",
            ),
            (format!("{good}colour = 1\n"), "colour"),
        ];
        for (text, expected) in cases {
            let error = check(&text).expect_err(expected);
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }

    #[test]
    fn init_writes_a_commented_register_example() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = init(dir.path());
        let text = fs::read_to_string(&result.config_path).expect("read");
        assert!(text.contains("# [register]"), "{text}");
        assert!(text.contains("# agency_abbreviation = \"UBND\""), "{text}");
        // Uncommenting the example gives a valid file.
        let uncommented = text
            .replace("# [register]", "[register]")
            .replace("# agency_abbreviation", "agency_abbreviation")
            .replace("# unit_abbreviation", "unit_abbreviation");
        fs::write(&result.config_path, uncommented).expect("write");
        let config = GatewayConfig::load(&result.config_path).expect("load");
        assert_eq!(
            config.register.and_then(|r| r.unit_abbreviation).as_deref(),
            Some("VP")
        );
    }

    #[test]
    fn agency_codes() {
        for good in ["000.00.00.H41", "001.00.10.H47", "000.00.00.G22"] {
            assert!(is_agency_code(good, &[]), "{good}");
        }
        for bad in [
            "",
            "H41",
            "000.00.00.Ğ1",
            "000.00.00.h41",
            "000.00.00.H4",
            "00.00.00.H41",
            "000.00.00.H41.",
            "vxp.saas.03",
        ] {
            assert!(!is_agency_code(bad, &[]), "{bad}");
        }
        assert!(is_agency_code("vxp.saas.03", &["vxp.saas.03".to_string()]));
    }
}
