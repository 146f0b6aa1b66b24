//! The reference provincial axis (`docgate axis --config FILE`): the server side of the
//! VDXP contract, so gateways can be tested and demonstrated against something real.
//!
//! Owns the composition of the axis: configuration ([`config`]), the mutual-TLS serve loop
//! (`serve`), request authentication (`auth`), the rules of who sends what to whom
//! ([`routing`]), the operations (`send`: `sendEdoc`; `receive`: the receiving side and the
//! long poll; `lookup`: sent list and directory) and their answers (`reply`). Storage is
//! `store::axis`; the wire vocabulary is `vdxp`. Never imports the gateway's workflow or
//! sync code, and never answers OK to a packet before it is committed.

pub mod config;
pub mod device_ca;
pub mod enrolment_config;
pub mod routing;

mod auth;
mod enrolment;
mod lookup;
mod receive;
mod reply;
mod send;
mod serve;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::{middleware, Router};
use tokio::net::TcpListener;

pub use config::{AxisConfig, AxisConfigError};
pub use enrolment::{EnrolmentSetupError, Preset};

use crate::store::axis::AxisStore;
use crate::store::StoreError;
use crate::system::clock::SystemClock;
use crate::system::shutdown::Shutdown;
use crate::system::tls::TlsError;
use crate::vdxp::{HubErrorCode, Operation};
use reply::Reply;
use state::{AxisState, Limits, SharedDirectory, Wakeups};

/// Why the axis stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AxisError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the axis's TLS files cannot be used: {0}")]
    Tls(TlsError),
    #[error("cannot set up enrolment: {0}")]
    Enrolment(#[from] EnrolmentSetupError),
    #[error("cannot listen on {address}: {error}; is another service using the port?")]
    Listen {
        address: SocketAddr,
        error: std::io::Error,
    },
}

/// Opens the axis store and serves the contract's operations over mutual TLS on
/// `listener` until `shutdown`. `on_ready` runs once the store is open and the listener is
/// accepting; the log line `axis listening on ADDR` says the same.
pub async fn run(
    config: &AxisConfig,
    listener: TcpListener,
    shutdown: Shutdown,
    on_ready: impl FnOnce(&AxisStore),
) -> Result<(), AxisError> {
    let tls_config = config.server_tls().map_err(AxisError::Tls)?;
    let state_dir = config.axis.state_dir.clone();
    let store = tokio::task::spawn_blocking(move || AxisStore::open(&state_dir))
        .await
        .map_err(|_| StoreError::Closed)??;
    let enrolment = enrolment::EnrolmentService::start(config)?;
    let directory = match &enrolment {
        Some(service) => service.directory()?,
        None => config.directory(),
    };
    let state = AxisState {
        store: store.clone(),
        wakeups: Arc::new(Wakeups::new(&directory)),
        directory: Arc::new(SharedDirectory::new(directory)),
        enrolment: enrolment.clone(),
        limits: Limits::from_config(config),
        clock: Arc::new(SystemClock),
        shutdown: shutdown.clone(),
    };
    if let Some(service) = enrolment {
        tokio::spawn(enrolment::follow_registry(state.clone(), service));
    }
    let app = router(state);
    match listener.local_addr() {
        Ok(address) => tracing::info!("axis listening on {address}"),
        Err(error) => tracing::info!(%error, "axis listening (address unknown)"),
    }
    on_ready(&store);
    serve::serve(
        listener,
        tls_config,
        app,
        config.axis.connection_limits(),
        shutdown,
    )
    .await;
    // The writer thread commits what it holds before this returns.
    let closing = store.clone();
    let _ = tokio::task::spawn_blocking(move || closing.close()).await;
    tracing::info!("axis stopped");
    Ok(())
}

/// Binds the configured address.
pub async fn bind(config: &AxisConfig) -> Result<TcpListener, AxisError> {
    let address = config.axis.listen;
    TcpListener::bind(address)
        .await
        .map_err(|error| AxisError::Listen { address, error })
}

/// Every operation at `/{operation}` (POST; the list operations also GET), each behind
/// authentication.
fn router(state: AxisState) -> Router {
    let path = |operation: Operation| format!("/{}", operation.path());
    let operations = Router::new()
        .route(&path(Operation::SendEdoc), post(send::send_edoc))
        .route(
            &path(Operation::GetReceivedEdocList),
            post(receive::received_list).get(receive::received_list),
        )
        .route(&path(Operation::GetEdoc), post(receive::get_edoc))
        .route(&path(Operation::UpdateStatus), post(receive::update_status))
        .route(
            &path(Operation::GetSentEdocList),
            post(lookup::sent_list).get(lookup::sent_list),
        )
        .route(
            &path(Operation::GetAgenciesList),
            post(lookup::agencies_list).get(lookup::agencies_list),
        )
        .route(&path(Operation::WaitForEdoc), post(receive::wait_for_edoc))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    use crate::provisioning::messages as enrol;
    let enrolment = Router::new()
        .route(enrol::CA_PATH, get(enrolment::ca))
        .route(enrol::ENROL_PATH, post(enrolment::enrol))
        .route(enrol::RENEW_PATH, post(enrolment::renew))
        .route(enrol::BUNDLE_PATH, get(enrolment::bundle))
        .layer(axum::extract::DefaultBodyLimit::max(
            enrol::MAX_MESSAGE_BYTES,
        ));
    Router::new()
        .merge(operations)
        .merge(enrolment)
        .fallback(unknown_operation)
        .with_state(state)
}

async fn unknown_operation() -> Reply {
    let mut reply = Reply::refuse(
        HubErrorCode::BadRequest,
        "no such operation; use one of sendEdoc, getReceivedEdocList, getEdoc, updateStatus, getSentEdocList, getAgenciesList, waitForEdoc",
    );
    reply.status = axum::http::StatusCode::NOT_FOUND;
    reply
}
