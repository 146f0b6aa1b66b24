//! The `[limits]` section of the gateway's configuration: what one request may carry, how
//! many connections the LAN server keeps and how long a client may take (the ranges of the
//! connection settings are `http_server`'s, shared with the axis), the shutdown drain, and
//! the storage quota. Validated with the rest of the file by `GatewayConfig::load`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::ConfigError;
use super::http_server::{ConnectionLimits, ConnectionSetting, ConnectionSettings};

/// `[limits]`: what one request may carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Largest request body, all parts together.
    pub max_request_bytes: u64,
    /// Largest single file.
    pub max_file_bytes: u64,
    /// Most files in one document.
    pub max_files: u32,
    /// How long shutdown waits for requests in flight, in seconds.
    pub shutdown_timeout_secs: u64,
    /// The state directory (database + blobs) may not grow past this: new documents are
    /// answered 507 and incoming packets stay on the axis until space is back.
    pub disk_quota_bytes: u64,
    /// Connections the LAN server keeps open at once, all clients together.
    pub max_connections: usize,
    /// Connections the LAN server keeps open at once from one client address.
    pub max_connections_per_address: usize,
    /// The longest a client may take to send a request's headers, in seconds.
    pub header_timeout_secs: u64,
    /// The longest a request body may pause between two pieces, in seconds.
    pub body_idle_timeout_secs: u64,
}

impl LimitsSection {
    /// The LAN server's connection settings, as written.
    pub fn connection_settings(&self) -> ConnectionSettings {
        ConnectionSettings {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            header_timeout_secs: self.header_timeout_secs,
            body_idle_timeout_secs: self.body_idle_timeout_secs,
            shutdown_timeout_secs: self.shutdown_timeout_secs,
        }
    }

    /// The LAN server's connection limits.
    pub fn connection_limits(&self) -> ConnectionLimits {
        self.connection_settings().limits()
    }

    /// The first value out of its range, named by its key with the fix.
    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: String, fix| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
            fix,
        };
        if self.max_file_bytes == 0 || self.max_file_bytes > self.max_request_bytes {
            return Err(invalid(
                "limits.max_file_bytes",
                "must be above 0 and at most limits.max_request_bytes".into(),
                "raise limits.max_request_bytes or lower limits.max_file_bytes",
            ));
        }
        if self.max_files == 0 || self.max_files > 1000 {
            return Err(invalid(
                "limits.max_files",
                format!("is {}, outside 1..=1000", self.max_files),
                "use a value such as 20",
            ));
        }
        if let Err(problem) = self.connection_settings().check() {
            return Err(invalid(
                connection_key(problem.setting),
                problem.problem,
                problem.fix,
            ));
        }
        if self.disk_quota_bytes == 0 {
            return Err(invalid(
                "limits.disk_quota_bytes",
                "is 0".into(),
                "set the bytes the state directory may use, e.g. 10737418240 (10 GiB)",
            ));
        }
        Ok(())
    }
}

/// A connection setting's full key in this file.
fn connection_key(setting: ConnectionSetting) -> &'static str {
    match setting {
        ConnectionSetting::MaxConnections => "limits.max_connections",
        ConnectionSetting::MaxConnectionsPerAddress => "limits.max_connections_per_address",
        ConnectionSetting::HeaderTimeoutSecs => "limits.header_timeout_secs",
        ConnectionSetting::BodyIdleTimeoutSecs => "limits.body_idle_timeout_secs",
    }
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_request_bytes: 320 * 1024 * 1024,
            max_file_bytes: 256 * 1024 * 1024,
            max_files: 20,
            shutdown_timeout_secs: 20,
            disk_quota_bytes: 10 * 1024 * 1024 * 1024,
            max_connections: 256,
            max_connections_per_address: 32,
            header_timeout_secs: 30,
            body_idle_timeout_secs: 60,
        }
    }
}
