//! The facts the status page, `/healthz`, `/metrics` and `docgate status` all show: is the
//! box working, and what waits where. Gathered from the store's counts, the link state and
//! what the sealer saw (the timestamp authority's last answer, the seal certificate on the
//! token), the certificate files and the clock — counts and states only, never a
//! document's content, so they may be shown to anyone on the LAN. The token's own state
//! (present and logged in, absent, PIN refused) comes from the sealer, which copies its
//! token worker's board into the link's seal watch every second: no PKCS#11 call here.
//! The agency directory's size and age come from its one-row refresh record; the
//! enrolment's facts (standing, bundle, link certificate, renewals) from the keeper's
//! `ProvisioningWatch`. Each check ends in a [`Finding`] (`checks.rs` decides which,
//! `findings.rs`, `token_findings.rs` and `provisioning_findings.rs` word it in English
//! and Vietnamese), and becomes a [`Check`] with a stable `kind` and a plain next step.

mod checks;
mod findings;
mod provisioning_findings;
mod token_findings;
mod update_findings;

use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

pub use findings::{Finding, ProvisioningFinding, Text, TokenFinding};

use super::AppState;
use crate::enrolment::status::ProvisioningStatus;
use crate::store::QueueCounts;
use crate::sync::{LinkSnapshot, TokenReport, TsaContact};
use crate::system::certificates::{self, CertificateValidity, WatchedCertificate};
use crate::system::clock::rfc3339_utc;
use crate::system::config::GatewayConfig;
use crate::system::update_slots::{self, UpdateSlots};

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
    /// The updater's status file (appliance only; absent elsewhere).
    pub update_status_file: Option<PathBuf>,
}

/// The agency seal as configured.
#[derive(Debug, Clone)]
pub struct SigningIdentity {
    pub token_label: Option<String>,
    pub tsa_url: Option<String>,
    /// `[signing] send_without_timestamp_after_secs`: how long a B-B seal waits for its
    /// timestamp before it leaves without one (`None`: until the TSA answers).
    pub send_without_timestamp_after_secs: Option<u64>,
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
                send_without_timestamp_after_secs: signing.send_without_timestamp_after_secs,
            }
        });
        BoxIdentity {
            organ_id: config.gateway.organ_id.clone(),
            organ_name: config.gateway.organ_name.clone(),
            started_at,
            config_path: config.source.clone(),
            certificates: watched,
            signing,
            update_status_file: Some(config.gateway.update_status_file()),
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
    /// `store`, `config`, `link`, `token`, `certificate`, `disk`, `clock`, `tsa`,
    /// `directory`, `provisioning`.
    pub component: &'static str,
    /// A stable key of what was found (`link_down`, `certificate_expiring`, …).
    pub kind: &'static str,
    pub severity: Severity,
    /// What was found and the next step, in English.
    pub message: String,
    /// The same, with its variable parts, for the page's other language.
    #[serde(skip)]
    pub finding: Finding,
}

impl From<Finding> for Check {
    fn from(finding: Finding) -> Check {
        Check {
            component: finding.component(),
            kind: finding.kind(),
            severity: finding.severity(),
            message: finding.english().line(),
            finding,
        }
    }
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
    /// The token as its worker last found it (`state`: `starting`, `ready`, `absent`,
    /// `pin_refused`, `pin_locked`, `unusable`), copied by the sealer every second
    /// whether or not documents wait; `None` with a key file or without `[axis]`.
    pub token: Option<TokenReport>,
    pub tsa_url: Option<String>,
    /// The timestamp authority as the sealer last found it.
    pub tsa: TsaFacts,
}

/// The timestamp authority, from the sealer's own requests (it is never probed for the
/// page).
#[derive(Debug, Clone, Serialize)]
pub struct TsaFacts {
    /// `not_configured`, `not_tried`, `answering`, or `failing` (its last request failed).
    pub state: &'static str,
    #[serde(flatten)]
    pub contact: TsaContact,
}

/// The agency directory cached from the axis (`getAgenciesList`), against which outgoing
/// recipients are checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DirectoryFacts {
    /// Agencies in the cache; 0 when it was never refreshed (recipients are then not
    /// checked).
    pub agencies: u64,
    /// The last successful refresh (RFC 3339 UTC).
    pub refreshed_at: Option<String>,
    /// Seconds since then.
    pub age_secs: Option<i64>,
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
    pub directory: DirectoryFacts,
    pub certificates: Vec<CertificateValidity>,
    pub disk: Disk,
    /// Where the box stands with provincial IT: its enrolment, bundle and link
    /// certificate (`{"standing": "manual"}` for a box configured by hand).
    pub provisioning: ProvisioningStatus,
    /// On the appliance: the system slots (A/B), their versions and the next boot's;
    /// `null` elsewhere.
    pub update: Option<UpdateSlots>,
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
    let update_file = state.identity.update_status_file.clone();
    let read = tokio::task::spawn_blocking(move || {
        let counts = store.queue_counts(&today);
        let newest = store.newest_record_time();
        let refresh = store.agency_directory_refresh();
        (counts, newest, store.storage_usage(), refresh)
    })
    .await;
    let update = tokio::task::spawn_blocking(move || match update_file {
        Some(path) => {
            update_slots::read(&path, env!("CARGO_PKG_VERSION")).map_err(|error| error.to_string())
        }
        None => Ok(None),
    })
    .await
    .unwrap_or_else(|_| Err("the update status read did not finish".into()));
    let identity = state.identity.clone();
    let (counts, newest, usage, refresh) = match read {
        Ok((counts, newest, usage, refresh)) => (
            counts.map_err(|error| error.to_string()),
            newest.ok().flatten(),
            usage,
            refresh.ok().flatten(),
        ),
        Err(_) => (
            Err("the store read did not finish".to_string()),
            None,
            state.store.storage_usage(),
            None,
        ),
    };
    let directory = checks::directory_facts(refresh, now);
    let watch = state.link.seal_watch();
    let mut certificates = certificates::validity(&identity.certificates, now);
    let on_token = identity
        .signing
        .as_ref()
        .is_some_and(|signing| signing.token_label.is_some());
    if let Some(der) = watch.token_certificate().filter(|_| on_token) {
        certificates.push(certificates::validity_of_der("agency", &der, now));
    }
    let link = state.link.snapshot();
    let tsa = checks::tsa_facts(identity.signing.as_ref(), watch.tsa());
    let mut findings = vec![
        checks::store(&counts),
        checks::config(identity.config_path.clone()).await,
        checks::link(&link),
    ];
    let token = watch.token().filter(|_| on_token);
    findings.extend(checks::seal(
        identity.signing.as_ref(),
        &link,
        token.as_ref(),
    ));
    findings.extend(checks::tsa(identity.signing.as_ref(), &tsa));
    findings.extend(certificates.iter().map(checks::certificate));
    findings.push(checks::disk(usage, state.intake.disk_quota_bytes));
    findings.push(checks::clock(now, newest.as_deref()));
    findings.extend(checks::directory(&link, &directory));
    let provisioning = state.provisioning.snapshot();
    findings.extend(checks::provisioning(&provisioning));
    findings.extend(update_findings::check(&update));
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
            token,
            tsa_url: identity
                .signing
                .as_ref()
                .and_then(|signing| signing.tsa_url.clone()),
            tsa,
        },
        link,
        queues,
        oldest_waiting_secs,
        directory,
        certificates,
        disk: checks::disk_use(usage, state.intake.disk_quota_bytes),
        provisioning,
        update: update.ok().flatten(),
        checks: findings.into_iter().map(Check::from).collect(),
    }
}
