//! The facts the status page, `/healthz`, `/metrics` and `docgate status` all show: is the
//! box working, and what waits where. Gathered from the store's counts, the link state, the
//! certificate files and the clock — counts and states only, never a document's content, so
//! they may be shown to anyone on the LAN. Each fact that is wrong becomes a [`Check`] with
//! a plain next step.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use super::AppState;
use crate::store::{QueueCounts, StorageUsage};
use crate::sync::LinkSnapshot;
use crate::system::certificates::{self, CertificateValidity, WatchedCertificate};
use crate::system::clock::rfc3339_utc;
use crate::system::config::GatewayConfig;

/// Share of the disk quota from which the page warns.
const DISK_WARN_PERCENT: u64 = 90;
/// The earliest year a working clock can show (a box whose clock reads earlier has lost
/// its time, e.g. after a dead RTC battery).
const EARLIEST_SANE_YEAR: i32 = 2025;

/// What the facts need to know about the box beyond the store and the link.
#[derive(Debug, Clone)]
pub struct BoxIdentity {
    pub organ_id: String,
    pub organ_name: String,
    /// When this process started.
    pub started_at: OffsetDateTime,
    /// The configuration file, re-read by the `config` check.
    pub config_path: Option<PathBuf>,
    pub certificates: Vec<WatchedCertificate>,
    /// `[signing]`: the token's label, or `None` for a key file; absent without signing.
    pub signing: Option<SigningIdentity>,
}

/// The agency seal as configured.
#[derive(Debug, Clone)]
pub struct SigningIdentity {
    pub token_label: Option<String>,
    pub tsa_url: Option<String>,
}

impl BoxIdentity {
    /// What a gateway configuration says about the box.
    pub fn from_config(config: &GatewayConfig, started_at: OffsetDateTime) -> BoxIdentity {
        let mut watched = Vec::new();
        if let Some(axis) = &config.axis {
            watched.push(WatchedCertificate {
                role: "link",
                path: axis.certificate.clone(),
            });
            watched.push(WatchedCertificate {
                role: "link-ca",
                path: axis.ca.clone(),
            });
        }
        let signing = config.signing.as_ref().map(|signing| {
            if let Some(key_file) = &signing.key_file {
                watched.push(WatchedCertificate {
                    role: "agency",
                    path: key_file.clone(),
                });
            }
            SigningIdentity {
                token_label: signing.token_label.clone(),
                tsa_url: signing.tsa_url.clone(),
            }
        });
        BoxIdentity {
            organ_id: config.gateway.organ_id.clone(),
            organ_name: config.gateway.organ_name.clone(),
            started_at,
            config_path: config.source.clone(),
            certificates: watched,
            signing,
        }
    }
}

/// How bad a check's finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    /// Works, but someone should act soon (a certificate expiring, the disk filling).
    Warning,
    /// Something does not work; `/healthz` answers 503.
    Failing,
}

/// One health check: what, how bad, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `store`, `config`, `link`, `token`, `certificate`, `disk`, `clock`.
    pub component: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// The agency.
#[derive(Debug, Clone, Serialize)]
pub struct Agency {
    pub organ_id: String,
    pub organ_name: String,
}

/// Disk use of the state directory against its quota.
#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    pub used_bytes: u64,
    pub quota_bytes: u64,
    pub percent: u64,
}

/// The agency seal.
#[derive(Debug, Clone, Serialize)]
pub struct Seal {
    pub configured: bool,
    /// On a token with this label; `None`: a key file (or not configured).
    pub token_label: Option<String>,
    /// Why documents wait for the seal (token absent, PIN refused, …), when they do.
    pub problem: Option<String>,
    pub tsa_url: Option<String>,
}

/// Everything the status page shows.
#[derive(Debug, Clone, Serialize)]
pub struct StatusFacts {
    pub agency: Agency,
    pub version: &'static str,
    pub now: String,
    pub started_at: String,
    pub uptime_secs: i64,
    pub link: LinkSnapshot,
    pub queues: QueueCounts,
    /// Seconds since the oldest document waiting to be sent was committed.
    pub oldest_waiting_secs: Option<i64>,
    pub seal: Seal,
    pub certificates: Vec<CertificateValidity>,
    pub disk: Disk,
    pub checks: Vec<Check>,
}

impl StatusFacts {
    /// The checks that fail (they make `/healthz` answer 503).
    pub fn failing(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|check| check.severity == Severity::Failing)
    }
}

/// Gathers the facts (store reads run off the async runtime).
pub async fn gather(state: &AppState) -> StatusFacts {
    let now = state.intake.clock.now();
    let today = crate::system::clock::edxml_date(now).replace('/', "-");
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        let counts = store.queue_counts(&today);
        let newest = store.newest_record_time();
        (counts, newest, store.storage_usage())
    })
    .await;
    let identity = state.identity.clone();
    let (counts, newest, usage) = match read {
        Ok((counts, newest, usage)) => (
            counts.map_err(|error| error.to_string()),
            newest.ok().flatten(),
            usage,
        ),
        Err(_) => (
            Err("the store read did not finish".to_string()),
            None,
            state.store.storage_usage(),
        ),
    };
    let certificates = certificates::validity(&identity.certificates, now);
    let link = state.link.snapshot();
    let mut checks = Vec::new();
    checks.push(store_check(&counts));
    checks.push(config_check(&identity).await);
    checks.push(link_check(&state.link));
    checks.extend(seal_check(&identity, &link));
    checks.extend(certificates.iter().map(certificate_check));
    checks.push(disk_check(usage, state.intake.disk_quota_bytes));
    checks.push(clock_check(now, newest.as_deref()));
    let queues = counts.unwrap_or_default();
    let oldest_waiting_secs = queues
        .oldest_waiting_since
        .as_deref()
        .and_then(|since| {
            OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|since| (now - since).whole_seconds().max(0));
    StatusFacts {
        agency: Agency {
            organ_id: identity.organ_id.clone(),
            organ_name: identity.organ_name.clone(),
        },
        version: env!("CARGO_PKG_VERSION"),
        now: rfc3339_utc(now),
        started_at: rfc3339_utc(identity.started_at),
        uptime_secs: (now - identity.started_at).whole_seconds().max(0),
        seal: Seal {
            configured: identity.signing.is_some(),
            token_label: identity
                .signing
                .as_ref()
                .and_then(|signing| signing.token_label.clone()),
            problem: link.sealing.clone(),
            tsa_url: identity
                .signing
                .as_ref()
                .and_then(|signing| signing.tsa_url.clone()),
        },
        link,
        queues,
        oldest_waiting_secs,
        certificates,
        disk: disk(usage, state.intake.disk_quota_bytes),
        checks,
    }
}

fn ok(component: &'static str, message: impl Into<String>) -> Check {
    Check {
        component,
        severity: Severity::Ok,
        message: message.into(),
    }
}

fn failing(component: &'static str, message: impl Into<String>) -> Check {
    Check {
        component,
        severity: Severity::Failing,
        message: message.into(),
    }
}

fn warning(component: &'static str, message: impl Into<String>) -> Check {
    Check {
        component,
        severity: Severity::Warning,
        message: message.into(),
    }
}

fn store_check(counts: &Result<QueueCounts, String>) -> Check {
    match counts {
        Ok(_) => ok("store", "the database answers"),
        Err(error) => failing(
            "store",
            format!("store: {error}; documents cannot be accepted — restart the service, and call provincial IT if it persists"),
        ),
    }
}

/// The configuration file as it is on disk now: a file that no longer loads would stop the
/// box at its next restart.
async fn config_check(identity: &Arc<BoxIdentity>) -> Check {
    let Some(path) = identity.config_path.clone() else {
        return ok("config", "configuration loaded");
    };
    let loaded = tokio::task::spawn_blocking(move || GatewayConfig::load(&path)).await;
    match loaded {
        Ok(Ok(_)) => ok("config", "the configuration file is valid"),
        Ok(Err(error)) => failing(
            "config",
            format!("config: the configuration file no longer loads ({error}); the gateway would not start again — fix it before any restart"),
        ),
        Err(_) => failing("config", "config: the check did not finish"),
    }
}

fn link_check(link: &crate::sync::LinkState) -> Check {
    match link.problem() {
        Some(problem) => failing("link", problem),
        None if link.snapshot().configured => ok("link", "connected to the axis"),
        None => ok("link", "no axis configured (stand-alone)"),
    }
}

fn seal_check(identity: &BoxIdentity, link: &LinkSnapshot) -> Option<Check> {
    let signing = identity.signing.as_ref()?;
    let component = "token";
    Some(match (&link.sealing, &signing.token_label) {
        (Some(problem), _) => failing(component, format!("agency seal: {problem}")),
        (None, Some(label)) => ok(component, format!("token '{label}' answers")),
        (None, None) => ok(component, "the agency key file is in use"),
    })
}

fn certificate_check(certificate: &CertificateValidity) -> Check {
    let name = match certificate.role {
        "link" => "the axis link certificate",
        "link-ca" => "the axis CA certificate",
        "agency" => "the agency seal certificate",
        other => other,
    };
    let days = certificate
        .seconds_left
        .map(|seconds| seconds.div_euclid(86_400));
    match certificate.state {
        "valid" => ok(
            "certificate",
            format!("{name} is valid for {} more days", days.unwrap_or(0)),
        ),
        "expiring" => warning(
            "certificate",
            format!(
                "{name} expires in {} days; ask provincial IT to renew it",
                days.unwrap_or(0)
            ),
        ),
        "expired" => failing(
            "certificate",
            format!(
                "{name} has expired; the box cannot work with it — ask provincial IT for a new one"
            ),
        ),
        "not_yet_valid" => failing(
            "certificate",
            format!("{name} is not valid yet; check the box's clock"),
        ),
        _ => failing(
            "certificate",
            format!(
                "{name} cannot be read: {}",
                certificate.problem.as_deref().unwrap_or("unknown reason")
            ),
        ),
    }
}

fn disk(usage: StorageUsage, quota: u64) -> Disk {
    let used = usage.total();
    Disk {
        used_bytes: used,
        quota_bytes: quota,
        percent: used.saturating_mul(100).checked_div(quota).unwrap_or(100),
    }
}

fn disk_check(usage: StorageUsage, quota: u64) -> Check {
    let disk = disk(usage, quota);
    if disk.used_bytes >= disk.quota_bytes {
        failing(
            "disk",
            format!(
                "disk: {} of the {}-byte quota in use; new documents are refused until the backlog is sent or the quota raised",
                disk.used_bytes, disk.quota_bytes
            ),
        )
    } else if disk.percent >= DISK_WARN_PERCENT {
        warning(
            "disk",
            format!(
                "disk: {}% of the quota in use; check the link so the backlog drains",
                disk.percent
            ),
        )
    } else {
        ok(
            "disk",
            format!("disk: {}% of the quota in use", disk.percent),
        )
    }
}

/// A clock before [`EARLIEST_SANE_YEAR`], or behind the newest record by more than five
/// minutes, is wrong: dates in the registers and certificate checks would be wrong too.
fn clock_check(now: OffsetDateTime, newest_record: Option<&str>) -> Check {
    if now.year() < EARLIEST_SANE_YEAR {
        return failing(
            "clock",
            format!("clock: the box says {}; set the time (NTP) — registers and certificates depend on it", rfc3339_utc(now)),
        );
    }
    let newest = newest_record.and_then(|text| {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
    });
    match newest {
        Some(newest) if newest - now > time::Duration::minutes(5) => warning(
            "clock",
            format!(
                "clock: the box says {} but it recorded a document at {}; the clock went back — check time sync",
                rfc3339_utc(now),
                rfc3339_utc(newest)
            ),
        ),
        _ => ok("clock", "the clock looks right"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_disk_check_warns_then_fails() {
        let usage = |bytes| StorageUsage {
            blob_bytes: bytes,
            database_bytes: 0,
        };
        assert_eq!(disk_check(usage(10), 100).severity, Severity::Ok);
        assert_eq!(disk_check(usage(95), 100).severity, Severity::Warning);
        assert_eq!(disk_check(usage(100), 100).severity, Severity::Failing);
        assert_eq!(disk(usage(5), 0).percent, 100);
    }

    #[test]
    fn the_clock_check_catches_a_lost_clock_and_a_jump_back() {
        let now = datetime!(2026-11-22 08:00 UTC);
        assert_eq!(clock_check(now, None).severity, Severity::Ok);
        assert_eq!(
            clock_check(datetime!(1970-01-01 0:00 UTC), None).severity,
            Severity::Failing
        );
        assert_eq!(
            clock_check(now, Some("2026-11-23T08:00:00.000Z")).severity,
            Severity::Warning
        );
        assert_eq!(
            clock_check(now, Some("2026-11-22T08:03:00.000Z")).severity,
            Severity::Ok
        );
    }
}
