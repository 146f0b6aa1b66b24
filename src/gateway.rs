//! The gateway daemon assembled: configuration in, store opened, API served, everything
//! closed in order on shutdown. The composition root for `docgate run` and the demo; it
//! wires parts together and holds no logic of its own.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::edxml::{Limits, Organization};
use crate::enrolment::status::ProvisioningWatch;
use crate::signature::crl_cache::HttpRevocationSource;
use crate::signature::timestamp::TsaClient;
use crate::store::{Store, StoreError};
use crate::sync::{self, LinkState, SealingSettings, SyncSettings, VdxpClient};
use crate::system::clock::{SharedClock, SystemClock};
use crate::system::config::{ConfigError, GatewayConfig};
use crate::system::heartbeat::Heartbeat;
use crate::system::shutdown::Shutdown;
use crate::system::systemd;
use crate::system::tls::LinkIdentity;
use crate::web::{self, AppState};
use crate::workflow::register::NotationRules;
use crate::workflow::{AgencyKey, IntakeContext, SignaturePolicy};

/// Why the gateway stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}: {source}; is another service using the port?")]
    Listen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("the system random source failed; cannot protect the API token")]
    Random,
    #[error("cannot set up the agency seal: {0}")]
    Seal(String),
    #[error("cannot load the signature trust configuration: {0}")]
    Trust(#[from] crate::signature::trust::TrustError),
    #[error("cannot set up the link to the axis: {0}")]
    Axis(#[from] crate::sync::VdxpClientError),
    #[error("cannot serve the LAN side over HTTPS: {0}")]
    LanTls(crate::system::tls::TlsError),
}

/// The link's client key on the agency token, when `[axis] token_key_label` says so: its
/// own worker on the `[signing]` token, selecting that key.
fn link_key_on_token(
    axis: &crate::system::config::AxisSection,
    signing: Option<&crate::system::config::SigningSection>,
) -> Result<Option<crate::system::tls::ExternalKey>, GatewayError> {
    let (Some(key_label), Some(signing)) = (&axis.token_key_label, signing) else {
        return Ok(None);
    };
    let (Some(module), Some(label), Some(pin_file)) = (
        &signing.token_module,
        &signing.token_label,
        &signing.token_pin_file,
    ) else {
        return Err(GatewayError::Seal(
            "axis.token_key_label needs the token in [signing]".into(),
        ));
    };
    // The link certificate is a file; the worker does not look for one on the token.
    let token_config = crate::token::link_key_config(
        &crate::token::TokenConfig::new(module, label.clone(), pin_file),
        key_label,
    );
    let certificate = crate::system::tls::load_certificates(&axis.certificate)
        .map_err(|error| GatewayError::Seal(error.to_string()))?;
    let first = certificate
        .first()
        .ok_or_else(|| GatewayError::Seal("the link certificate file is empty".into()))?;
    let key = crate::token::TokenTlsKey::new(crate::token::Token::start(token_config), first)
        .map_err(|error| GatewayError::Seal(error.to_string()))?;
    let tls12_only = key.tls12_only();
    Ok(Some(crate::system::tls::ExternalKey {
        key: Arc::new(key),
        tls12_only,
    }))
}

/// What the sealer needs, from `[signing]` (none without it).
fn sealing(
    section: Option<&crate::system::config::SigningSection>,
    policy: Option<&Arc<SignaturePolicy>>,
) -> Result<Option<SealingSettings>, GatewayError> {
    let (Some(section), Some(policy)) = (section, policy) else {
        return Ok(None);
    };
    let tsa = match &section.tsa_url {
        Some(url) => Some(
            TsaClient::new(url, Duration::from_secs(section.tsa_timeout_secs))
                .map_err(|error| GatewayError::Seal(error.to_string()))?,
        ),
        None => None,
    };
    Ok(Some(SealingSettings {
        key: AgencyKey::from_config(section)
            .map_err(|error| GatewayError::Seal(error.to_string()))?,
        policy: policy.clone(),
        tsa,
        send_without_timestamp_after: section
            .send_without_timestamp_after_secs
            .map(Duration::from_secs),
        visible_seal: SealingSettings::visible_seal_from(section)
            .map_err(|error| GatewayError::Seal(error.to_string()))?,
    }))
}

/// What a run adds to the configuration (the enrolment, when the box is enrolled).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The enrolment's facts for the status page.
    pub provisioning: Option<ProvisioningWatch>,
}

/// The gateway once it is up, as `on_ready` sees it.
pub struct Running<'a> {
    /// Our agency code (from the file, or the enrolment).
    pub organ_id: &'a str,
    pub store: &'a Store,
    pub link: &'a LinkState,
    /// The identity the axis link presents (replaceable: a renewed certificate).
    pub link_identity: Option<Arc<LinkIdentity>>,
    /// The link key on the token, when it is there.
    pub link_token_key: Option<Arc<dyn rustls::sign::SigningKey>>,
    /// The sync scheduler's heartbeat, when `[axis]` is configured.
    pub sync_heartbeat: Option<Heartbeat>,
    pub shutdown: &'a Shutdown,
}

impl Running<'_> {
    /// Under systemd (`NOTIFY_SOCKET` set): sends `READY=1`, then pings the watchdog while
    /// the store writer (and the sync scheduler, when configured) keep beating, refreshes
    /// the `STATUS=` line, and sends `STOPPING=1` on shutdown. Otherwise does nothing.
    pub fn notify_systemd(&self) {
        self.notify_systemd_within(self.shutdown);
    }

    /// [`Running::notify_systemd`] for one run of a process that may restart the gateway
    /// in place: `STOPPING=1` only once `process` stops.
    pub fn notify_systemd_within(&self, process: &Shutdown) {
        let mut liveness = vec![("store writer", self.store.writer_heartbeat())];
        if let Some(sync) = &self.sync_heartbeat {
            liveness.push(("sync scheduler", sync.clone()));
        }
        let store = self.store.clone();
        let link = self.link.clone();
        let probes = systemd::Probes {
            liveness,
            status: Box::new(move || queue_status_line(&store, &link)),
        };
        let _ = systemd::start_for_run(probes, self.shutdown.clone(), process.clone());
    }
}

/// The `STATUS=` line: the link and the queue at a glance.
fn queue_status_line(store: &Store, link: &LinkState) -> String {
    let link = link.snapshot();
    let link = match (link.configured, link.connected) {
        (false, _) => systemd::LinkWord::NotConfigured,
        (true, true) => systemd::LinkWord::Up,
        (true, false) => systemd::LinkWord::Down,
    };
    let today = crate::system::clock::edxml_date(time::OffsetDateTime::now_utc()).replace('/', "-");
    match store.queue_counts(&today) {
        Ok(counts) => systemd::status_line(&systemd::StatusFacts {
            link,
            waiting_to_send: counts.waiting_to_send,
            oldest_waiting: counts.oldest_waiting_since.as_deref().and_then(age_of),
            incoming_awaiting_clerk: counts.awaiting_clerk,
        }),
        Err(error) => format!("queue unknown: {error}"),
    }
}

/// How long ago an RFC 3339 instant was.
fn age_of(instant: &str) -> Option<Duration> {
    let then = time::OffsetDateTime::parse(instant, &time::format_description::well_known::Rfc3339)
        .ok()?;
    Duration::try_from(time::OffsetDateTime::now_utc() - then).ok()
}

/// Opens what the configuration names and serves on `listener` until `shutdown`.
/// `on_ready` runs once the store is open, the sync scheduler (if any) started and the
/// listener bound (connections wait in its backlog until the server takes them).
pub async fn run(
    config: &GatewayConfig,
    listener: TcpListener,
    shutdown: Shutdown,
    on_ready: impl FnOnce(&Running<'_>),
) -> Result<(), GatewayError> {
    run_with(config, listener, shutdown, RunOptions::default(), on_ready).await
}

/// [`run`], with what `options` adds.
pub async fn run_with(
    config: &GatewayConfig,
    listener: TcpListener,
    shutdown: Shutdown,
    options: RunOptions,
    on_ready: impl FnOnce(&Running<'_>),
) -> Result<(), GatewayError> {
    let state_dir = config.gateway.state_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&state_dir))
        .await
        .map_err(|_| StoreError::Closed)??;
    let clock: SharedClock = Arc::new(SystemClock);
    let signatures = match &config.signing {
        Some(section) => {
            let cache = HttpRevocationSource::new(
                config.gateway.state_dir.join("crl-cache"),
                Duration::from_secs(10),
                tokio::runtime::Handle::current(),
            )
            .map_err(|error| GatewayError::Seal(format!("CRL fetching: {error}")))?;
            Some(Arc::new(SignaturePolicy::from_config(
                section,
                Some(Arc::new(cache)),
            )?))
        }
        None => None,
    };
    let intake = IntakeContext {
        organ_id: config.gateway.organ_id.clone(),
        extra_agency_codes: config.gateway.extra_agency_codes.clone(),
        max_files: config.limits.max_files,
        clock: clock.clone(),
        disk_quota_bytes: config.limits.disk_quota_bytes,
        signatures: signatures.clone(),
        notation: NotationRules::from_config(config.register.as_ref()),
    };
    let state = AppState::new(
        store.clone(),
        intake,
        &config.api_token()?,
        config.limits.max_file_bytes,
        config.limits.max_request_bytes,
    )
    .map_err(|_| GatewayError::Random)?
    .with_identity(web::facts::BoxIdentity::from_config(
        config,
        time::OffsetDateTime::now_utc(),
    ))
    .with_clerks(web::clerk::ClerkAccess::new(
        config.api.clerks_file.clone(),
        config.api.tls_certificate.is_some(),
    ));
    let state = match options.provisioning {
        Some(watch) => state.with_provisioning(watch),
        None => state,
    };
    let mut link_identity = None;
    let mut link_token_key = None;
    let (link, sync) = match &config.axis {
        Some(axis) => {
            let link_key = link_key_on_token(axis, config.signing.as_ref())?;
            link_token_key = link_key.as_ref().map(|external| external.key.clone());
            let client = VdxpClient::new(axis, axis.secret()?, clock.clone(), link_key)?;
            link_identity = Some(client.identity());
            let link = LinkState::configured(&axis.url);
            let settings = SyncSettings {
                organ: Organization {
                    organ_id: config.gateway.organ_id.clone(),
                    organ_name: Some(config.gateway.organ_name.clone()),
                    ..Organization::default()
                },
                long_poll_secs: axis.long_poll_secs,
                retry_min_ms: axis.retry_min_ms,
                retry_max_ms: axis.retry_max_ms,
                disk_quota_bytes: config.limits.disk_quota_bytes,
                limits: Limits::default(),
                signatures: signatures.clone(),
                sealing: sealing(config.signing.as_ref(), signatures.as_ref())?,
            };
            let handle = sync::start(
                store.clone(),
                client,
                link.clone(),
                settings,
                clock,
                shutdown.clone(),
            );
            tracing::info!(url = %axis.url, system_id = %axis.system_id, "axis link started");
            (link, Some(handle))
        }
        None => (LinkState::unconfigured(), None),
    };
    let state = state.with_link(link.clone());
    on_ready(&Running {
        organ_id: &config.gateway.organ_id,
        store: &store,
        link: &link,
        link_identity,
        link_token_key,
        sync_heartbeat: sync.as_ref().map(|handle| handle.heartbeat()),
        shutdown: &shutdown,
    });
    let drain = Duration::from_secs(config.limits.shutdown_timeout_secs);
    let lan_tls = config.api.lan_tls().map_err(GatewayError::LanTls)?;
    let limits = config.limits.connection_limits();
    web::serve(listener, state, shutdown.clone(), limits, lan_tls).await;
    if let Some(sync) = sync {
        // The tasks watch the same signal; a send or fetch in flight is simply abandoned
        // (its row is still waiting and is taken up again on the next start).
        shutdown.trigger();
        if tokio::time::timeout(drain, sync.join()).await.is_err() {
            tracing::warn!("the axis link tasks did not stop in time; closing anyway");
        }
    }
    // The writer thread commits what it holds before this returns.
    let closing = store.clone();
    let _ = tokio::task::spawn_blocking(move || closing.close()).await;
    tracing::info!("gateway stopped");
    Ok(())
}

/// Binds the configured address.
pub async fn bind(config: &GatewayConfig) -> Result<TcpListener, GatewayError> {
    let address = config.api.listen;
    TcpListener::bind(address)
        .await
        .map_err(|source| GatewayError::Listen { address, source })
}
