//! The LAN HTTP server: routes, bearer-token check and body limits, served on the listener
//! and with the shutdown signal the caller gives (the daemon, the demo, or a test). How
//! connections are taken, capped and timed is `system::http_server`'s.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ring::hmac;
use serde_json::json;
use tokio::net::TcpListener;

use super::facts::BoxIdentity;
use super::listeners::{PlainHandshake, TlsHandshake};
use super::{business, document_list, documents, registers, ApiError};
use crate::enrolment::status::{ProvisioningStatus, ProvisioningWatch, Standing};
use crate::store::Store;
use crate::sync::LinkState;
use crate::system::http_server::{self, ConnectionLimits};
use crate::system::shutdown::Shutdown;
use crate::workflow::IntakeContext;

/// Body bytes read from a request refused for its token (a client sending a document with a
/// wrong token then sees 401 rather than a broken connection).
const UNAUTHORIZED_DRAIN_LIMIT: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub intake: IntakeContext,
    pub max_file_bytes: u64,
    pub max_request_bytes: u64,
    /// The axis link, as the scheduler last saw it (unconfigured when stand-alone).
    pub link: LinkState,
    /// Our agency's name, printed on the registers.
    pub organ_name: String,
    /// Who the box is and what it watches, for the status facts.
    pub identity: Arc<BoxIdentity>,
    /// The clerk pages' accounts, sessions and lockouts.
    pub clerks: Arc<super::clerk::ClerkAccess>,
    /// Where the box stands with provincial IT (enrolment, bundle, renewal).
    pub provisioning: ProvisioningWatch,
    token: Arc<TokenCheck>,
}

/// Compares presented tokens with the configured one in constant time: both go through an
/// HMAC under a per-process random key and `ring::hmac::verify` compares the tags.
struct TokenCheck {
    key: hmac::Key,
    expected: hmac::Tag,
}

impl AppState {
    pub fn new(
        store: Store,
        intake: IntakeContext,
        api_token: &str,
        max_file_bytes: u64,
        max_request_bytes: u64,
    ) -> Result<AppState, ring::error::Unspecified> {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)?;
        let expected = hmac::sign(&key, api_token.as_bytes());
        Ok(AppState {
            store,
            intake,
            max_file_bytes,
            max_request_bytes,
            link: LinkState::unconfigured(),
            organ_name: String::new(),
            identity: Arc::new(BoxIdentity {
                organ_id: String::new(),
                organ_name: String::new(),
                started_at: time::OffsetDateTime::now_utc(),
                config_path: None,
                certificates: Vec::new(),
                signing: None,
                update_status_file: None,
            }),
            clerks: Arc::new(super::clerk::ClerkAccess::new(None, false)),
            provisioning: ProvisioningWatch::new(ProvisioningStatus::bare(Standing::Manual)),
            token: Arc::new(TokenCheck { key, expected }),
        })
    }

    /// The same state, showing the enrolment's facts from `watch`.
    pub fn with_provisioning(mut self, watch: ProvisioningWatch) -> AppState {
        self.provisioning = watch;
        self
    }

    /// The same state, printing `organ_name` on the registers.
    pub fn with_organ_name(mut self, organ_name: &str) -> AppState {
        self.organ_name = organ_name.to_string();
        self
    }

    /// The same state, describing the box as `identity` in its status facts.
    pub fn with_identity(mut self, identity: BoxIdentity) -> AppState {
        self.organ_name = identity.organ_name.clone();
        self.identity = Arc::new(identity);
        self
    }

    /// The same state, letting the clerks of `clerks` log in to the clerk pages.
    pub fn with_clerks(mut self, clerks: super::clerk::ClerkAccess) -> AppState {
        self.clerks = Arc::new(clerks);
        self
    }

    /// The same state, reporting `link`.
    pub fn with_link(mut self, link: LinkState) -> AppState {
        self.link = link;
        self
    }

    fn token_matches(&self, presented: &str) -> bool {
        hmac::verify(
            &self.token.key,
            presented.as_bytes(),
            self.token.expected.as_ref(),
        )
        .is_ok()
    }
}

/// All routes. `/healthz` needs no token; everything under `/api/` does; the clerk pages
/// under `/clerk/` need a clerk's session instead.
pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.max_request_bytes).unwrap_or(usize::MAX);
    let api = Router::new()
        .route(
            "/api/v1/documents",
            get(document_list::list).post(documents::create),
        )
        .route("/api/v1/documents/{id}", get(documents::show))
        .route("/api/v1/documents/{id}/files/{n}", get(documents::file))
        .route("/api/v1/documents/{id}/status", post(business::status))
        .route("/api/v1/documents/{id}/recall", post(business::recall))
        .route("/api/v1/documents/{id}/update", post(business::update))
        .route("/api/v1/documents/{id}/replace", post(business::replace))
        .route("/api/v1/link", get(link))
        .route("/api/v1/status", get(status))
        .route("/api/v1/registers/{register}", get(registers::show))
        .route(
            "/api/v1/registers/{register}/{year}/close",
            post(registers::close),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(api)
        .merge(super::clerk::routes(state.clone()))
        .route("/", get(super::status_page::page))
        .route("/healthz", get(healthz))
        .route("/metrics", get(super::metrics::metrics))
        .route("/api/v1/openapi.json", get(openapi_document))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if state.token_matches(token) => next.run(request).await,
        _ => {
            // Read (a little of) the body so the client gets the answer, not a reset.
            let _ = axum::body::to_bytes(request.into_body(), UNAUTHORIZED_DRAIN_LIMIT).await;
            ApiError::unauthorized().into_response()
        }
    }
}

/// `GET /api/v1/link`: the axis link's state.
async fn link(State(state): State<AppState>) -> Response {
    Json(state.link.snapshot()).into_response()
}

/// `GET /api/v1/status`: the status facts as JSON (what `docgate status` prints).
async fn status(State(state): State<AppState>) -> Response {
    Json(super::facts::gather(&state).await).into_response()
}

/// 200 when nothing fails; 503 otherwise, with `reasons`, each `{"component", "message"}`
/// (`store`, `config`, `link`, `token`, `certificate`, `disk`, `clock`), so a monitor can
/// tell "link down" (the gateway still accepts documents) from "store broken". `checks`
/// lists every check, warnings included.
async fn healthz(State(state): State<AppState>) -> Response {
    let facts = super::facts::gather(&state).await;
    let reasons: Vec<_> = facts
        .failing()
        .map(|check| json!({"component": check.component, "message": check.message}))
        .collect();
    let body = |status: &str| json!({"status": status, "reasons": reasons, "checks": facts.checks, "link": facts.link});
    if reasons.is_empty() {
        (StatusCode::OK, Json(body("ok"))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(body("unavailable"))).into_response()
    }
}

/// `GET /api/v1/openapi.json` (no token: it describes the API and holds no data).
async fn openapi_document(State(state): State<AppState>) -> Response {
    Json(super::openapi::document(&state.intake.extra_agency_codes)).into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see the API documentation")
}

/// Serves until `shutdown` triggers, then lets requests in flight finish for at most
/// `limits.drain_timeout`, logging if that runs out. With `tls`, over HTTPS only.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: Shutdown,
    limits: ConnectionLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    serve_app(listener, router(state), shutdown, limits, tls).await
}

/// Serves `app` as [`serve`] does (the "not provisioned" page shares the listeners and the
/// limits).
pub(crate) async fn serve_app(
    listener: TcpListener,
    app: Router,
    shutdown: Shutdown,
    limits: ConnectionLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    match tls {
        Some(config) => {
            let handshake = TlsHandshake::new(config);
            http_server::serve(listener, handshake, app, limits, shutdown).await
        }
        None => http_server::serve(listener, PlainHandshake, app, limits, shutdown).await,
    }
}
