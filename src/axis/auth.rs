//! Request authentication: the signed `XroadVnpt-*` headers checked with the calling
//! system's shared secret (`vdxp::auth::verify`), and the signed `systemid` held to the
//! client certificate's CN that the TLS layer put in the request. A request that passes
//! carries a [`Caller`] extension; one that fails gets 401 with code 15 and reaches no
//! handler. Never decides what a caller may do beyond proving who it is.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::reply::Reply;
use super::state::AxisState;
use crate::vdxp::{auth, VerifiedHeaders};

/// Body bytes read from a refused request, so the client reads the 401 rather than a reset.
const REFUSED_DRAIN_LIMIT: usize = 1024 * 1024;

/// The client certificate of this request's TLS connection: its subject CN and its
/// serial number (lowercase hex). Absent when the client presented none (enrolment only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerIdentity {
    pub common_name: String,
    pub serial: String,
}

/// The TCP address of this request's client (for the enrolment audit log and its
/// attempt limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerAddress(pub std::net::SocketAddr);

/// An authenticated caller: its system id and its signed logical headers.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub system_id: String,
    pub headers: VerifiedHeaders,
}

impl Caller {
    /// A signed logical header, trimmed; empty counts as absent.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }
}

/// Middleware: verifies the signature and the certificate binding, then runs the handler.
pub(crate) async fn authenticate(
    State(state): State<AxisState>,
    mut request: Request,
    next: Next,
) -> Response {
    match check(&state, &request) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(message) => {
            tracing::info!(reason = %message, error_kind = "unauthenticated", "refused an unauthenticated request");
            let _ = axum::body::to_bytes(request.into_body(), REFUSED_DRAIN_LIMIT).await;
            Reply::unauthorized(message).into_response()
        }
    }
}

fn check(state: &AxisState, request: &Request) -> Result<Caller, String> {
    let peer = request
        .extensions()
        .get::<PeerIdentity>()
        .ok_or("the connection has no client certificate")?;
    let headers = request.headers();
    let directory = state.directory.current();
    let verified = auth::verify(
        |name| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        },
        |system_id| {
            directory
                .system(system_id)
                .map(|system| system.secret().to_vec())
        },
        state.clock.now(),
        state.limits.max_clock_skew,
    )
    .map_err(|error| error.to_string())?;
    let system_id = verified.system_id().to_owned();
    if system_id != peer.common_name {
        return Err(format!(
            "systemid {system_id:?} does not match the client certificate, which was issued to {:?}; sign requests with the system id of the certificate",
            peer.common_name
        ));
    }
    if let Some(system) = directory.system(&system_id) {
        if !system.accepts_certificate(&peer.serial) {
            return Err(format!(
                "the client certificate (serial {}) is not the current one of {system_id:?}; a replaced or re-enrolled box must use its new certificate",
                peer.serial
            ));
        }
    }
    Ok(Caller {
        system_id,
        headers: verified,
    })
}
