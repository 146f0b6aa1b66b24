//! Keeping an enrolled box trusted with no one touching it: the link certificate is
//! renewed over the existing mutual-TLS link once less than the bundle's
//! `renew_before_secs` of it remains, and the signed bundle is fetched every
//! `refresh_secs`; one with a higher serial is applied.
//!
//! A renewal writes a new generation, then hands the new certificate to the running link
//! ([`LinkIdentity::replace`]): the next connection presents it, connections already open
//! keep the old one, so the link never drops. A bundle that changes what the daemon runs
//! (agency name, axis address, sync or signature policy, decommissioning) asks for an
//! in-process restart through `on_change`. Every decision uses the injected clock, so tests
//! move time instead of waiting for it.
//!
//! Owns the timing and the checks of renewal and refresh. Never writes files itself
//! (`system::provisioned`), never touches the queue, and never stops the link: the restart
//! it asks for does (`boot`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::link_key;
use super::status::{ProvisioningStatus, ProvisioningWatch, Standing};
use crate::provisioning::bundle::{BundleStanding, ConfigBundle, SignedBundle};
use crate::sync::enrol_client::{EnrolClientError, EnrolledClient};
use crate::system::clock::{rfc3339_utc, SharedClock};
use crate::system::config::GatewayConfig;
use crate::system::provisioned::{self, Change, LinkKey, Provisioned};
use crate::system::shutdown::Shutdown;
use crate::system::tls::LinkIdentity;

/// How often the keeper looks at the clock (decisions are due at instants, and the
/// injected clock may jump).
const TICK: Duration = Duration::from_secs(1);
/// The first wait after a failed renewal or refresh; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(15);
const MAX_RETRY: Duration = Duration::from_secs(3600);
/// The least time between two renewals (a bundle whose renewal window is longer than the
/// certificates the axis issues would otherwise renew in a loop).
const MIN_RENEWAL_INTERVAL: Duration = Duration::from_secs(60);

/// What the keeper needs from the running gateway.
pub struct KeeperSettings {
    pub state_dir: PathBuf,
    /// The file configuration (for the token, when the link key is there).
    pub file_config: GatewayConfig,
    pub current: Provisioned,
    /// The identity the axis link presents; replaced after a renewal.
    pub identity: Arc<LinkIdentity>,
    pub clock: SharedClock,
    pub watch: ProvisioningWatch,
    /// Marks the generations the keeper writes, so the turn watching the disk takes them
    /// up in place instead of restarting.
    pub own: Arc<OwnWrites>,
}

/// The generations this keeper wrote (and whether it is writing one now).
#[derive(Debug, Default)]
pub struct OwnWrites {
    writing: AtomicBool,
    last: AtomicU64,
}

impl OwnWrites {
    /// Whether a write is under way (its generation may already be current).
    pub fn writing(&self) -> bool {
        self.writing.load(Ordering::SeqCst)
    }

    /// The last generation the keeper wrote.
    pub fn last(&self) -> Option<u64> {
        match self.last.load(Ordering::SeqCst) {
            0 => None,
            generation => Some(generation),
        }
    }

    /// Runs `write`, marked as the keeper's own.
    fn mark(
        &self,
        write: impl FnOnce() -> Result<Provisioned, provisioned::ProvisionedError>,
    ) -> Result<Provisioned, provisioned::ProvisionedError> {
        self.writing.store(true, Ordering::SeqCst);
        let written = write();
        if let Ok(written) = &written {
            self.last.store(written.generation, Ordering::SeqCst);
        }
        self.writing.store(false, Ordering::SeqCst);
        written
    }
}

/// Why a renewal or a refresh failed (reported on the status page, retried).
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error("{0}")]
    Axis(#[from] EnrolClientError),
    #[error("{0}")]
    Enrol(#[from] super::EnrolError),
    #[error("{0}")]
    Key(#[from] super::LinkKeyError),
    #[error("{0}")]
    Stored(#[from] provisioned::ProvisionedError),
    #[error("{0}")]
    Bundle(#[from] crate::provisioning::bundle::BundleError),
    #[error("the renewed certificate cannot be used: {0}")]
    Certificate(String),
}

/// The certificate and key a generation on disk presents (the key in its file, or on the
/// `[signing]` token of `file_config`): the link's identity, and the keeper's own when the
/// link is off (a lapsed box must still fetch a fresh bundle).
pub fn certified_key(
    file_config: &GatewayConfig,
    current: &Provisioned,
) -> Result<rustls::sign::CertifiedKey, KeepError> {
    let unusable = |error: &dyn std::fmt::Display| KeepError::Certificate(error.to_string());
    match &current.link_key {
        LinkKey::File(key) => LinkIdentity::from_files(&current.certificate_path(), key)
            .map_err(|error| unusable(&error)),
        LinkKey::Token(label) => {
            let chain = crate::system::tls::load_certificates(&current.certificate_path())
                .map_err(|error| unusable(&error))?;
            let first = chain
                .first()
                .ok_or_else(|| unusable(&"the certificate file is empty"))?;
            let key = link_key::token_tls_key(file_config, label, first)?;
            Ok(rustls::sign::CertifiedKey::new(chain, key.key))
        }
    }
}

/// The status facts an enrolment gives at `now`.
pub fn status_of(current: &Provisioned, now: OffsetDateTime) -> ProvisioningStatus {
    let bundle = &current.bundle;
    let renew_from = current.certificate_not_after
        - time::Duration::seconds(i64::try_from(bundle.axis.renew_before_secs).unwrap_or(0));
    let mut status = ProvisioningStatus::bare(standing_of(current, now));
    status.agency_code = Some(bundle.agency.code.clone());
    status.system_id = Some(bundle.system_id.clone());
    status.axis_url = Some(bundle.axis.url.clone());
    status.generation = Some(current.generation);
    status.bundle_serial = Some(bundle.serial);
    status.bundle_expires_at = Some(bundle.expires_at.clone());
    status.grace_ends_at = grace_end(bundle).map(rfc3339_utc);
    status.certificate_not_after = Some(rfc3339_utc(current.certificate_not_after));
    status.renew_from = Some(rfc3339_utc(renew_from));
    status
}

fn grace_end(bundle: &ConfigBundle) -> Option<OffsetDateTime> {
    let expires = OffsetDateTime::parse(
        &bundle.expires_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Some(expires + time::Duration::seconds(i64::try_from(bundle.grace_secs).unwrap_or(0)))
}

/// The standing of an enrolment at `now`.
pub fn standing_of(current: &Provisioned, now: OffsetDateTime) -> Standing {
    if current.bundle.decommissioned {
        return Standing::Decommissioned;
    }
    if now >= current.certificate_not_after {
        return Standing::CertificateExpired;
    }
    match current.bundle.standing(now) {
        BundleStanding::Current => Standing::Enrolled,
        BundleStanding::InGrace { .. } => Standing::InGrace,
        BundleStanding::Lapsed => Standing::Lapsed,
    }
}

/// Whether a new bundle changes what the daemon runs (anything but its serial and dates).
fn changes_the_daemon(held: &ConfigBundle, offered: &ConfigBundle) -> bool {
    held.agency != offered.agency
        || held.axis != offered.axis
        || held.signing != offered.signing
        || held.decommissioned != offered.decommissioned
        || held.system_id != offered.system_id
}

/// The offered bundle verified, when it is newer than the one `current` holds (`None`
/// when it is the same one). One that does not verify against the pinned CA, names
/// another agency or system, or is older, is refused and nothing is applied.
fn newer_bundle(
    current: &Provisioned,
    offered: &SignedBundle,
) -> Result<Option<(SignedBundle, ConfigBundle)>, KeepError> {
    let held = &current.bundle;
    let bundle = offered.verify(&current.ca_der)?;
    if bundle == *held {
        return Ok(None);
    }
    held.accepts_successor(&bundle)?;
    Ok(Some((offered.clone(), bundle)))
}

/// Runs until `shutdown`; calls `on_change` (once, then stops) when the daemon must
/// restart with a new enrolment: a bundle that changes what it runs, or a standing that
/// changes whether it may exchange.
pub async fn run(settings: KeeperSettings, shutdown: Shutdown, on_change: impl FnOnce()) {
    let mut keeper = Keeper::new(settings);
    let reason = keeper.keep(&shutdown).await;
    if let Some(reason) = reason {
        tracing::info!(%reason, "the enrolment changed; restarting the gateway with it");
        on_change();
    }
}

struct Keeper {
    settings: KeeperSettings,
    client: Option<EnrolledClient>,
    next_renewal_try: OffsetDateTime,
    next_refresh: OffsetDateTime,
    failures: u32,
    last_renewal: Option<OffsetDateTime>,
}

impl Keeper {
    fn new(settings: KeeperSettings) -> Keeper {
        let now = settings.clock.now();
        let client = EnrolledClient::with_identity(
            &settings.current.bundle.axis.url,
            &settings.current.ca_der,
            settings.identity.clone(),
        );
        if let Err(error) = &client {
            tracing::warn!(%error, "cannot set up renewal and bundle refresh");
        }
        Keeper {
            client: client.ok(),
            next_renewal_try: now,
            next_refresh: now,
            failures: 0,
            last_renewal: None,
            settings,
        }
    }

    /// Loops until shutdown (`None`) or until the daemon must restart (the reason).
    async fn keep(&mut self, shutdown: &Shutdown) -> Option<&'static str> {
        let started_standing = standing_of(&self.settings.current, self.settings.clock.now());
        loop {
            let now = self.settings.clock.now();
            self.publish(now);
            if self.renewal_due(now) {
                if let Some(reason) = self.renew(now).await {
                    return Some(reason);
                }
            }
            if now >= self.next_refresh {
                if let Some(reason) = self.refresh(now).await {
                    return Some(reason);
                }
            }
            let standing = standing_of(&self.settings.current, self.settings.clock.now());
            if standing.may_exchange() != started_standing.may_exchange() {
                return Some("the box's standing changed");
            }
            tokio::select! {
                () = shutdown.wait() => return None,
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    fn publish(&self, now: OffsetDateTime) {
        let mut status = status_of(&self.settings.current, now);
        let previous = self.settings.watch.snapshot();
        status.last_renewal_at = previous.last_renewal_at;
        status.last_bundle_check_at = previous.last_bundle_check_at;
        status.last_error = previous.last_error;
        self.settings.watch.update(|facts| *facts = status);
    }

    fn renewal_due(&self, now: OffsetDateTime) -> bool {
        let current = &self.settings.current;
        if current.bundle.decommissioned || now >= current.certificate_not_after {
            return false;
        }
        let window = time::Duration::seconds(
            i64::try_from(current.bundle.axis.renew_before_secs).unwrap_or(0),
        );
        let recently = self
            .last_renewal
            .is_some_and(|last| now - last < MIN_RENEWAL_INTERVAL);
        now >= current.certificate_not_after - window && now >= self.next_renewal_try && !recently
    }

    fn failed(&mut self, what: &str, error: &KeepError, now: OffsetDateTime) -> OffsetDateTime {
        self.failures = self.failures.saturating_add(1);
        let wait = FIRST_RETRY
            .saturating_mul(2u32.saturating_pow(self.failures.saturating_sub(1).min(16)))
            .min(MAX_RETRY);
        tracing::warn!(%error, retry_in_secs = wait.as_secs(), "{what} failed");
        let message = format!("{what} failed: {error}");
        self.settings
            .watch
            .update(|facts| facts.last_error = Some(message));
        now + wait
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.settings.watch.update(|facts| facts.last_error = None);
    }

    /// Renews; answers a restart reason when the renewal brought a bundle that changes
    /// the daemon.
    async fn renew(&mut self, now: OffsetDateTime) -> Option<&'static str> {
        match self.try_renew().await {
            Ok(renewed) => {
                let restart = changes_the_daemon(&self.settings.current.bundle, &renewed.bundle);
                tracing::info!(
                    generation = renewed.generation,
                    not_after = %rfc3339_utc(renewed.certificate_not_after),
                    "link certificate renewed"
                );
                self.settings.current = renewed;
                self.last_renewal = Some(now);
                self.succeeded();
                self.settings
                    .watch
                    .update(|facts| facts.last_renewal_at = Some(rfc3339_utc(now)));
                // The new generation and certificate show at once, not at the next tick.
                self.publish(now);
                restart.then_some("the renewal brought a configuration bundle that changes the gateway's settings")
            }
            Err(error) => {
                self.next_renewal_try = self.failed("renewing the link certificate", &error, now);
                None
            }
        }
    }

    async fn try_renew(&mut self) -> Result<Provisioned, KeepError> {
        let client = self.client()?;
        let current = &self.settings.current;
        let key = match &current.link_key {
            LinkKey::File(_) => link_key::in_file()?,
            LinkKey::Token(label) => {
                link_key::on_token(&self.settings.file_config, &link_key::rotated_label(label))
                    .await?
            }
        };
        let answer = client.renew(&key.csr_pem).await?;
        super::check_certificate(&answer.certificate_pem, &current.bundle.system_id, &key)?;
        let bundle = self.newer_bundle(&answer.bundle)?;
        let renewed = self.settings.own.mark(|| {
            provisioned::write_successor(
                &self.settings.state_dir,
                current,
                &Change {
                    certificate_pem: Some(&answer.certificate_pem),
                    key_pem: key.key_pem.as_deref(),
                    key_label: key.token_label.as_deref(),
                    bundle: bundle.as_ref().map(|(signed, _)| signed),
                },
            )
        })?;
        self.settings
            .identity
            .replace(self.certified_key(&renewed)?);
        Ok(renewed)
    }

    fn certified_key(
        &self,
        current: &Provisioned,
    ) -> Result<rustls::sign::CertifiedKey, KeepError> {
        certified_key(&self.settings.file_config, current)
    }

    fn client(&self) -> Result<&EnrolledClient, KeepError> {
        self.client.as_ref().ok_or_else(|| {
            KeepError::Certificate("the renewal client could not be set up (see the log)".into())
        })
    }

    fn newer_bundle(
        &self,
        offered: &SignedBundle,
    ) -> Result<Option<(SignedBundle, ConfigBundle)>, KeepError> {
        newer_bundle(&self.settings.current, offered)
    }

    /// Fetches the bundle; answers a restart reason when a newer one changes the daemon.
    async fn refresh(&mut self, now: OffsetDateTime) -> Option<&'static str> {
        let refresh = Duration::from_secs(self.settings.current.bundle.axis.refresh_secs.max(1));
        match self.try_refresh().await {
            Ok(change) => {
                self.succeeded();
                self.next_refresh = now + refresh;
                self.settings
                    .watch
                    .update(|facts| facts.last_bundle_check_at = Some(rfc3339_utc(now)));
                self.publish(now);
                change
            }
            Err(error) => {
                self.next_refresh = self.failed("fetching the configuration bundle", &error, now);
                None
            }
        }
    }

    async fn try_refresh(&mut self) -> Result<Option<&'static str>, KeepError> {
        let answer = self.client()?.bundle().await?;
        let Some((signed, bundle)) = self.newer_bundle(&answer.bundle)? else {
            return Ok(None);
        };
        let restart = changes_the_daemon(&self.settings.current.bundle, &bundle);
        let applied = self.settings.own.mark(|| {
            provisioned::write_successor(
                &self.settings.state_dir,
                &self.settings.current,
                &Change {
                    bundle: Some(&signed),
                    ..Change::default()
                },
            )
        })?;
        tracing::info!(
            serial = applied.bundle.serial,
            "configuration bundle applied"
        );
        self.settings.current = applied;
        Ok(restart.then_some("a newer configuration bundle changes the gateway's settings"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::bundle::tests::{ca, sample, signed};
    use crate::provisioning::bundle::BundleError;
    use crate::provisioning::pem::pem_encode;
    use crate::system::provisioned::NewGeneration;

    /// An enrolment on disk holding bundle serial 5 for `000.01.10.H41`, and the CA key.
    fn enrolled(state: &std::path::Path) -> (Provisioned, rcgen::KeyPair, Vec<u8>) {
        let (ca_key, ca_der) = ca();
        let key = rcgen::KeyPair::generate().expect("key");
        let certificate = rcgen::CertificateParams::new(Vec::<String>::new())
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let bundle = signed(&sample(5, "000.01.10.H41"), &ca_key, &ca_der);
        let current = provisioned::write(
            state,
            &NewGeneration {
                ca_pem: &pem_encode("CERTIFICATE", &ca_der),
                certificate_pem: &certificate.pem(),
                key_pem: Some(&key.serialize_pem()),
                key_label: None,
                secret: "s3cret-s3cret-s3cret-s3cret",
                bundle: &bundle,
            },
        )
        .expect("enrolled");
        (current, ca_key, ca_der)
    }

    fn refusal(result: Result<Option<(SignedBundle, ConfigBundle)>, KeepError>) -> BundleError {
        match result {
            Err(KeepError::Bundle(error)) => error,
            other => panic!(
                "not refused: {:?}",
                other.map(|found| found.map(|(_, b)| b.serial))
            ),
        }
    }

    #[test]
    fn a_newer_bundle_for_the_same_box_is_taken() {
        let state = tempfile::tempdir().expect("tmp");
        let (current, ca_key, ca_der) = enrolled(state.path());
        let offered = signed(&sample(6, "000.01.10.H41"), &ca_key, &ca_der);
        let taken = newer_bundle(&current, &offered)
            .expect("taken")
            .expect("newer");
        assert_eq!(taken.1.serial, 6);
        let same = current.signed_bundle.clone();
        assert!(newer_bundle(&current, &same).expect("same").is_none());
    }

    #[test]
    fn a_bundle_signed_by_another_key_is_refused() {
        let state = tempfile::tempdir().expect("tmp");
        let (current, _, ca_der) = enrolled(state.path());
        let (stranger, _) = ca();
        let forged = signed(&sample(9, "000.01.10.H41"), &stranger, &ca_der);
        assert_eq!(
            refusal(newer_bundle(&current, &forged)),
            BundleError::BadSignature
        );
    }

    #[test]
    fn a_bundle_with_a_lower_serial_is_refused() {
        let state = tempfile::tempdir().expect("tmp");
        let (current, ca_key, ca_der) = enrolled(state.path());
        let mut older = sample(4, "000.01.10.H41");
        older.agency.name = "changed".into();
        let offered = signed(&older, &ca_key, &ca_der);
        assert!(matches!(
            refusal(newer_bundle(&current, &offered)),
            BundleError::NotNewer {
                offered: 4,
                held: 5
            }
        ));
    }

    #[test]
    fn a_bundle_for_another_agency_is_refused() {
        let state = tempfile::tempdir().expect("tmp");
        let (current, ca_key, ca_der) = enrolled(state.path());
        let offered = signed(&sample(7, "000.99.99.H41"), &ca_key, &ca_der);
        assert!(matches!(
            refusal(newer_bundle(&current, &offered)),
            BundleError::OtherAgency { .. }
        ));
    }

    #[test]
    fn the_standing_follows_the_bundle_and_the_certificate() {
        let state = tempfile::tempdir().expect("tmp");
        let (mut current, _, _) = enrolled(state.path());
        let at = |text: &str| {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .expect("instant")
        };
        current.certificate_not_after = at("2027-06-01T00:00:00Z");
        assert_eq!(
            standing_of(&current, at("2026-11-15T00:00:00Z")),
            Standing::Enrolled
        );
        assert_eq!(
            standing_of(&current, at("2026-12-03T00:00:00Z")),
            Standing::InGrace
        );
        assert_eq!(
            standing_of(&current, at("2026-12-20T00:00:00Z")),
            Standing::Lapsed
        );
        assert_eq!(
            standing_of(&current, at("2027-06-02T00:00:00Z")),
            Standing::CertificateExpired
        );
        current.bundle.decommissioned = true;
        assert_eq!(
            standing_of(&current, at("2026-11-15T00:00:00Z")),
            Standing::Decommissioned
        );
        assert!(!Standing::Decommissioned.may_exchange());
        assert!(Standing::InGrace.may_exchange());
    }
}
