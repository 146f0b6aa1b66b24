//! The axis's enrolment endpoints (`/enrol/v1/…`, see `provisioning::messages`): hands out
//! the device CA certificate, redeems one-time codes for a link certificate, a shared
//! secret and a signed configuration bundle, renews certificates and serves bundles to
//! enrolled boxes over their mutual TLS. Also keeps the live directory in step with the
//! registry (a box that enrols, renews or is decommissioned is seen within a second).
//!
//! Decides who may enrol (the code's state, the attempt limit per address) and what a
//! bundle says; storage is `store::axis::enrolment`, issuing is [`super::device_ca`].
//! Never answers before the registry has committed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ring::digest::{digest, SHA256};
use time::OffsetDateTime;

use super::auth::{PeerAddress, PeerIdentity};
use super::config::{AxisConfig, Directory, EnrolmentSection};
use super::device_ca::{CsrError, DeviceCa};
use super::state::AxisState;
use crate::provisioning::bundle::{AgencyIdentity, AxisPolicy, SigningPolicy, BUNDLE_FORMAT};
use crate::provisioning::messages::{
    BundleAnswer, CaAnswer, EnrolAnswer, EnrolRefusal, EnrolRequest, ErrorAnswer, ErrorDetail,
    RenewAnswer, RenewRequest,
};
use crate::provisioning::{ConfigBundle, EnrolmentCode, SignedBundle};
use crate::store::axis::enrolment::{
    AuditEntry, CodeState, DeviceRecord, EnrolmentRegistry, RedeemRefusal,
};
use crate::system::clock::rfc3339_utc;

/// Failed enrolment attempts one address may make in [`ATTEMPT_WINDOW`].
const MAX_FAILED_ATTEMPTS: u32 = 10;
const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What the enrolment endpoints share.
pub(crate) struct EnrolmentService {
    pub registry: Arc<EnrolmentRegistry>,
    pub ca: DeviceCa,
    pub section: EnrolmentSection,
    trust_roots_pem: Vec<String>,
    /// The systems of the configuration file; devices are added to it.
    configured: Directory,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// Why the enrolment service could not start.
#[derive(Debug, thiserror::Error)]
pub enum EnrolmentSetupError {
    #[error("the device CA cannot be used: {0}")]
    Ca(#[from] super::device_ca::DeviceCaError),
    #[error("cannot read the signature trust root {path}: {error}")]
    TrustRoot { path: String, error: std::io::Error },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl EnrolmentService {
    /// Loads the CA and opens the registry, when `[enrolment]` is set.
    pub(crate) fn start(
        config: &AxisConfig,
    ) -> Result<Option<Arc<EnrolmentService>>, EnrolmentSetupError> {
        let (Some(section), Some(ca)) = (config.enrolment.clone(), config.device_ca()?) else {
            return Ok(None);
        };
        let trust_roots_pem =
            section
                .trust_roots_pem()
                .map_err(|(path, error)| EnrolmentSetupError::TrustRoot {
                    path: path.display().to_string(),
                    error,
                })?;
        let registry = Arc::new(EnrolmentRegistry::open(&config.axis.state_dir)?);
        Ok(Some(Arc::new(EnrolmentService {
            registry,
            ca,
            section,
            trust_roots_pem,
            configured: config.directory(),
            failures: Mutex::new(HashMap::new()),
        })))
    }

    /// The configured systems plus the enrolled devices, as the registry stands.
    pub(crate) fn directory(&self) -> Result<Directory, crate::store::StoreError> {
        Ok(self
            .configured
            .clone()
            .with_devices(&self.registry.devices()?))
    }

    fn locked_out(&self, address: IpAddr) -> bool {
        let Ok(failures) = self.failures.lock() else {
            return true;
        };
        failures.get(&address).is_some_and(|(count, since)| {
            *count >= MAX_FAILED_ATTEMPTS && since.elapsed() < ATTEMPT_WINDOW
        })
    }

    fn note_failure(&self, address: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.retain(|_, (_, since)| since.elapsed() < ATTEMPT_WINDOW);
            let entry = failures.entry(address).or_insert((0, Instant::now()));
            entry.0 += 1;
        }
    }

    /// The bundle for `device` at `now`: numbered by the registry (a new serial when the
    /// content changes or the last one is past half its life), signed by the CA.
    pub(crate) fn bundle_for(
        &self,
        device: &DeviceRecord,
        now: OffsetDateTime,
    ) -> Result<SignedBundle, String> {
        let section = &self.section;
        let mut bundle = ConfigBundle {
            format: BUNDLE_FORMAT.into(),
            serial: 0,
            issued_at: String::new(),
            expires_at: String::new(),
            grace_secs: section.grace_secs,
            system_id: device.system_id.clone(),
            agency: AgencyIdentity {
                code: device.agency_code.clone(),
                name: device.agency_name.clone(),
            },
            axis: AxisPolicy {
                url: section.public_url.trim().trim_end_matches('/').to_owned(),
                long_poll_secs: section.long_poll_secs,
                retry_min_ms: 200,
                retry_max_ms: 30_000,
                refresh_secs: section.refresh_secs,
                renew_before_secs: section.renew_before_secs(),
            },
            signing: SigningPolicy {
                trust_roots_pem: self.trust_roots_pem.clone(),
                tsa_url: section.tsa_url.clone(),
                fetch_crls: section.fetch_crls,
            },
            decommissioned: device.decommissioned_at.is_some(),
        };
        if let Some(preset) = &device.preset_json {
            apply_preset(&mut bundle, preset)?;
        }
        let content = serde_json::to_vec(&bundle).map_err(|error| error.to_string())?;
        let content_digest = hex::encode(digest(&SHA256, &content));
        let lifetime = time::Duration::seconds(section.bundle_lifetime_secs as i64);
        let reissue_before = rfc3339_utc(now - lifetime / 2);
        let (serial, issued_at) = self
            .registry
            .bundle_serial(
                &device.system_id,
                &content_digest,
                &rfc3339_utc(now),
                &reissue_before,
            )
            .map_err(|error| error.to_string())?;
        let issued =
            OffsetDateTime::parse(&issued_at, &time::format_description::well_known::Rfc3339)
                .map_err(|error| error.to_string())?;
        bundle.serial = serial;
        bundle.issued_at = issued_at;
        bundle.expires_at = rfc3339_utc(issued + lifetime);
        SignedBundle::sign(&bundle, self.ca.certificate_der(), |bytes| {
            self.ca.sign(bytes)
        })
        .map_err(|error| error.to_string())
    }
}

/// What a code's pre-set configuration may change, as JSON: `tsa_url`, `long_poll_secs`,
/// `retry_min_ms`, `retry_max_ms`, `refresh_secs`, `fetch_crls`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_poll_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_min_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_max_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_crls: Option<bool>,
}

impl Preset {
    /// Reads and checks a preset (the `--preset` file of `docgate axis enroll create`).
    pub fn parse(text: &str) -> Result<Preset, String> {
        let preset: Preset = serde_json::from_str(text).map_err(|error| error.to_string())?;
        let in_range = |value: Option<u64>, low: u64, high: u64| {
            value.is_none_or(|v| (low..=high).contains(&v))
        };
        if !in_range(preset.long_poll_secs, 1, 300)
            || !in_range(preset.refresh_secs, 1, 86_400)
            || !in_range(preset.retry_min_ms, 1, 3_600_000)
            || !in_range(preset.retry_max_ms, 1, 3_600_000)
        {
            return Err("a number is out of range (long_poll_secs 1..=300, refresh_secs 1..=86400, retry_*_ms 1..=3600000)".into());
        }
        if let Some(tsa) = &preset.tsa_url {
            if !(tsa.starts_with("http://") || tsa.starts_with("https://")) {
                return Err(format!("tsa_url {tsa:?} is not an http(s) URL"));
            }
        }
        Ok(preset)
    }
}

fn apply_preset(bundle: &mut ConfigBundle, preset_json: &str) -> Result<(), String> {
    let preset = Preset::parse(preset_json)?;
    if let Some(tsa) = preset.tsa_url {
        bundle.signing.tsa_url = Some(tsa);
    }
    if let Some(value) = preset.long_poll_secs {
        bundle.axis.long_poll_secs = value;
    }
    if let Some(value) = preset.retry_min_ms {
        bundle.axis.retry_min_ms = value;
    }
    if let Some(value) = preset.retry_max_ms {
        bundle.axis.retry_max_ms = value;
    }
    if let Some(value) = preset.refresh_secs {
        bundle.axis.refresh_secs = value;
    }
    if let Some(value) = preset.fetch_crls {
        bundle.signing.fetch_crls = value;
    }
    Ok(())
}

/// An enrolment error answer, before it becomes a response.
pub(crate) struct Refusal {
    status: StatusCode,
    code: EnrolRefusal,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = ErrorAnswer {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

fn refuse(status: StatusCode, code: EnrolRefusal, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

fn service(state: &AxisState) -> Result<Arc<EnrolmentService>, Refusal> {
    state.enrolment.clone().ok_or_else(|| {
        refuse(
            StatusCode::NOT_FOUND,
            EnrolRefusal::NotOffered,
            "this axis does not enrol boxes; ask provincial IT for the address of the enrolling axis",
        )
    })
}

/// `GET /enrol/v1/ca`.
pub(crate) async fn ca(State(state): State<AxisState>) -> Result<Json<CaAnswer>, Refusal> {
    let service = service(&state)?;
    Ok(Json(CaAnswer {
        ca_pem: service.ca.certificate_pem().to_owned(),
    }))
}

/// Reads a JSON body of at most `MAX_MESSAGE_BYTES`.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|error| {
        refuse(
            StatusCode::BAD_REQUEST,
            EnrolRefusal::CsrInvalid,
            format!("the request is not the expected JSON: {error}"),
        )
    })
}

/// `POST /enrol/v1/enrol`.
pub(crate) async fn enrol(
    State(state): State<AxisState>,
    Extension(PeerAddress(peer)): Extension<PeerAddress>,
    body: axum::body::Bytes,
) -> Result<Response, Refusal> {
    let service = match service(&state) {
        Ok(service) => service,
        Err(refusal) => return Err(refusal),
    };
    if service.locked_out(peer.ip()) {
        return Err(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            EnrolRefusal::TooManyAttempts,
            "too many failed enrolment attempts from this address; wait 15 minutes and check the code",
        ));
    }
    let request: EnrolRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(refusal) => return Err(refusal),
    };
    let code = match EnrolmentCode::parse(&request.code) {
        Ok(code) => code,
        Err(error) => {
            service.note_failure(peer.ip());
            return Err(refuse(
                StatusCode::FORBIDDEN,
                EnrolRefusal::CodeUnknown,
                error.to_string(),
            ));
        }
    };
    let now = state.clock.now();
    let worker = service.clone();
    let remote = peer.to_string();
    let outcome =
        tokio::task::spawn_blocking(move || redeem(&worker, &code, &request, now, &remote)).await;
    match outcome {
        Ok(Ok(answer)) => {
            if let Ok(directory) = service.directory() {
                state.directory.replace(directory);
            }
            tracing::info!(system_id = %answer.system_id, "a box enrolled");
            Ok(Json(answer).into_response())
        }
        Ok(Err((status, refusal, message))) => {
            if matches!(
                refusal,
                EnrolRefusal::CodeUnknown
                    | EnrolRefusal::CodeExpired
                    | EnrolRefusal::CodeUsed
                    | EnrolRefusal::CodeRevoked
            ) {
                service.note_failure(peer.ip());
            }
            tracing::info!(refusal = refusal.as_str(), %peer, "refused an enrolment");
            Err(refuse(status, refusal, message))
        }
        Err(_) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            EnrolRefusal::Internal,
            "the enrolment task failed",
        )),
    }
}

type Refused = (StatusCode, EnrolRefusal, String);

/// Why a usable code still issued nothing (the code stays unused).
enum IssueRefusal {
    Csr(CsrError),
    OtherAgency {
        enrolled: String,
        code_agency: String,
    },
}

fn redeem(
    service: &EnrolmentService,
    code: &EnrolmentCode,
    request: &EnrolRequest,
    now: OffsetDateTime,
    remote: &str,
) -> Result<EnrolAnswer, Refused> {
    let internal = |error: &dyn std::fmt::Display| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            EnrolRefusal::Internal,
            error.to_string(),
        )
    };
    let secret = random_secret().map_err(|error| internal(&error))?;
    let lifetime = Duration::from_secs(service.section.link_certificate_lifetime_secs);
    let mut issued_pem = String::new();
    let redeemed = service
        .registry
        .redeem(&code.secret_digest(), &rfc3339_utc(now), remote, |stored| {
            if let Some(enrolled) = &request.enrolled_agency {
                if *enrolled != stored.agency_code {
                    return Err(IssueRefusal::OtherAgency {
                        enrolled: enrolled.clone(),
                        code_agency: stored.agency_code.clone(),
                    });
                }
            }
            let issued = service
                .ca
                .issue(
                    &request.csr_pem,
                    &stored.agency_code,
                    &stored.agency_name,
                    now,
                    lifetime,
                )
                .map_err(IssueRefusal::Csr)?;
            issued_pem = issued.pem.clone();
            Ok::<_, IssueRefusal>(DeviceRecord {
                system_id: stored.agency_code.clone(),
                agency_code: stored.agency_code.clone(),
                agency_name: stored.agency_name.clone(),
                secret: secret.clone(),
                certificate_serial: issued.serial,
                previous_serial: None,
                certificate_not_after: rfc3339_utc(issued.not_after),
                preset_json: stored.preset_json.clone(),
                enrolled_at: rfc3339_utc(now),
                renewed_at: None,
                decommissioned_at: None,
                bundle_serial: 0,
            })
        })
        .map_err(|error| internal(&error))?;
    let device = match redeemed {
        Ok(device) => device,
        Err(RedeemRefusal::Issue(IssueRefusal::Csr(error))) => {
            return Err((
                StatusCode::BAD_REQUEST,
                EnrolRefusal::CsrInvalid,
                error.to_string(),
            ))
        }
        Err(RedeemRefusal::Issue(IssueRefusal::OtherAgency {
            enrolled,
            code_agency,
        })) => {
            return Err((
                StatusCode::CONFLICT,
                EnrolRefusal::AgencyMismatch,
                format!("this code is for agency {code_agency}, but the box is enrolled for {enrolled}; the code was not used. To move the box to another agency, reset it first (docgate reset)"),
            ))
        }
        Err(RedeemRefusal::Code(state)) => {
            let (refusal, message) = match state {
                CodeState::Unknown => (EnrolRefusal::CodeUnknown, "this code is not known to the axis; check it with provincial IT"),
                CodeState::Expired => (EnrolRefusal::CodeExpired, "this code has expired; ask provincial IT for a new one"),
                CodeState::Used => (EnrolRefusal::CodeUsed, "this code was already used; each code enrols one box once — ask provincial IT for a new one"),
                CodeState::Revoked => (EnrolRefusal::CodeRevoked, "this code was revoked by provincial IT; ask them for a new one"),
            };
            return Err((StatusCode::FORBIDDEN, refusal, message.to_owned()));
        }
    };
    let bundle = service
        .bundle_for(&device, now)
        .map_err(|error| internal(&error))?;
    let _ = service.registry.audit(
        &rfc3339_utc(now),
        &AuditEntry {
            action: "device_info",
            system_id: Some(&device.system_id),
            remote: Some(remote),
            detail: Some(&request.device.chars().take(200).collect::<String>()),
            ..AuditEntry::default()
        },
    );
    Ok(EnrolAnswer {
        system_id: device.system_id,
        certificate_pem: issued_pem,
        secret,
        bundle,
    })
}

fn random_secret() -> Result<String, &'static str> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| "the random source failed")?;
    Ok(hex::encode(bytes))
}

/// The enrolled, active device this connection's certificate belongs to.
fn enrolled_device(
    service: &EnrolmentService,
    identity: Option<&PeerIdentity>,
) -> Result<DeviceRecord, Refusal> {
    let Some(identity) = identity else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            EnrolRefusal::DeviceUnknown,
            "this needs the box's link certificate (mutual TLS)",
        ));
    };
    let device = service
        .registry
        .device(&identity.common_name)
        .map_err(|error| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                EnrolRefusal::Internal,
                error.to_string(),
            )
        })?;
    let Some(device) = device else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            EnrolRefusal::DeviceUnknown,
            "no enrolled box has this certificate; enrol with a code",
        ));
    };
    let current = device
        .certificate_serial
        .eq_ignore_ascii_case(&identity.serial)
        || device
            .previous_serial
            .as_deref()
            .is_some_and(|serial| serial.eq_ignore_ascii_case(&identity.serial));
    if !current {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            EnrolRefusal::DeviceUnknown,
            "this certificate was replaced (the box re-enrolled); use the new one",
        ));
    }
    Ok(device)
}

/// `GET /enrol/v1/bundle`: the current bundle, also for a decommissioned box (it says so).
pub(crate) async fn bundle(
    State(state): State<AxisState>,
    identity: Option<Extension<PeerIdentity>>,
) -> Result<Response, Refusal> {
    let service = match service(&state) {
        Ok(service) => service,
        Err(refusal) => return Err(refusal),
    };
    let now = state.clock.now();
    let outcome = tokio::task::spawn_blocking(move || {
        let device = enrolled_device(
            &service,
            identity.as_ref().map(|Extension(identity)| identity),
        )?;
        service.bundle_for(&device, now).map_err(|error| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                EnrolRefusal::Internal,
                error,
            )
        })
    })
    .await;
    match outcome {
        Ok(Ok(bundle)) => Ok(Json(BundleAnswer { bundle }).into_response()),
        Ok(Err(refusal)) => Err(refusal),
        Err(_) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            EnrolRefusal::Internal,
            "the bundle task failed",
        )),
    }
}

/// `POST /enrol/v1/renew`.
pub(crate) async fn renew(
    State(state): State<AxisState>,
    identity: Option<Extension<PeerIdentity>>,
    Extension(PeerAddress(peer)): Extension<PeerAddress>,
    body: axum::body::Bytes,
) -> Result<Response, Refusal> {
    let service = match service(&state) {
        Ok(service) => service,
        Err(refusal) => return Err(refusal),
    };
    let request: RenewRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(refusal) => return Err(refusal),
    };
    let now = state.clock.now();
    let worker = service.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let device = enrolled_device(
            &worker,
            identity.as_ref().map(|Extension(identity)| identity),
        )?;
        if device.decommissioned_at.is_some() {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                EnrolRefusal::Decommissioned,
                "provincial IT decommissioned this box",
            ));
        }
        let lifetime = Duration::from_secs(worker.section.link_certificate_lifetime_secs);
        let issued = worker
            .ca
            .issue(
                &request.csr_pem,
                &device.system_id,
                &device.agency_name,
                now,
                lifetime,
            )
            .map_err(|error| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    EnrolRefusal::CsrInvalid,
                    error.to_string(),
                )
            })?;
        worker
            .registry
            .record_renewal(
                &device.system_id,
                &issued.serial,
                &rfc3339_utc(issued.not_after),
                &rfc3339_utc(now),
                &peer.to_string(),
            )
            .map_err(|error| {
                refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    EnrolRefusal::Internal,
                    error.to_string(),
                )
            })?;
        let bundle = worker.bundle_for(&device, now).map_err(|error| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                EnrolRefusal::Internal,
                error,
            )
        })?;
        Ok(RenewAnswer {
            certificate_pem: issued.pem,
            bundle,
        })
    })
    .await;
    match outcome {
        Ok(Ok(answer)) => {
            if let Ok(directory) = service.directory() {
                state.directory.replace(directory);
            }
            Ok(Json(answer).into_response())
        }
        Ok(Err(refusal)) => Err(refusal),
        Err(_) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            EnrolRefusal::Internal,
            "the renewal task failed",
        )),
    }
}

/// Re-reads the directory whenever the registry changes (also from `docgate axis enroll`
/// in another process), once a second, until shutdown.
pub(crate) async fn follow_registry(state: AxisState, service: Arc<EnrolmentService>) {
    let mut seen = None;
    loop {
        let registry = service.registry.clone();
        let generation = tokio::task::spawn_blocking(move || registry.generation()).await;
        if let Ok(Ok(generation)) = generation {
            if seen != Some(generation) {
                let worker = service.clone();
                if let Ok(Ok(directory)) =
                    tokio::task::spawn_blocking(move || worker.directory()).await
                {
                    state.directory.replace(directory);
                    seen = Some(generation);
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = state.shutdown.wait() => return,
        }
    }
}
