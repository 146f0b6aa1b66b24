//! The "not provisioned" page: what a box serves on the LAN side before it is enrolled.
//! (Placeholder while the form is built: every request is answered 503.)

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use crate::enrolment::status::ProvisioningStatus;
use crate::system::config::GatewayConfig;
use crate::system::shutdown::Shutdown;

/// Serves until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: GatewayConfig,
    status: ProvisioningStatus,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let _ = (config, tls);
    let app = axum::Router::new().fallback(move || {
        let status = status.clone();
        async move {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "not_provisioned", "provisioning": status})),
            )
                .into_response()
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}
