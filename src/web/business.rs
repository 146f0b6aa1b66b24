//! `/api/v1/documents/{id}/status|recall|update|replace`: the clerk's actions. Parses the
//! JSON (unknown fields refused), calls `workflow::clerk`, and answers 202 with what was
//! done. Never decides a transition and never touches the store by itself. [`json_body`]
//! is public so the fuzz target `local_api_requests` runs the handlers' own parsing.

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{documents, ApiError, AppState};
use crate::workflow::business_packets::UpdateRequest;
use crate::workflow::clerk::{self, StatusRequest};

/// `POST /documents/{id}/recall`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecallRequest {
    #[serde(default)]
    pub reason: String,
}

/// The body of a JSON endpoint as its handler takes it from axum's `Json` extractor, or
/// the 400 it answers when the body is not the expected JSON.
pub fn json_body<T: DeserializeOwned>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    json.map(|Json(value)| value).map_err(|rejection| {
        ApiError::bad_request(format!(
            "{}; send a JSON object with the documented fields",
            rejection.body_text()
        ))
    })
}

fn accepted(value: impl serde::Serialize) -> Response {
    (StatusCode::ACCEPTED, Json(value)).into_response()
}

/// `POST /api/v1/documents/{id}/status` → 202 once the status and its packet are committed.
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    json: Result<Json<StatusRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(json)?;
    let answer = clerk::set_status(&state.store, &state.intake, &id, request).await?;
    tracing::info!(document_id = %id, status = %answer.code, "business status set");
    Ok(accepted(answer))
}

/// `POST /api/v1/documents/{id}/recall`.
pub async fn recall(
    State(state): State<AppState>,
    Path(id): Path<String>,
    json: Result<Json<RecallRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(json)?;
    let answer = clerk::recall(&state.store, &state.intake, &id, &request.reason).await?;
    tracing::info!(document_id = %id, outcome = answer.outcome, "outgoing document recalled");
    Ok(accepted(answer))
}

/// `POST /api/v1/documents/{id}/update`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    json: Result<Json<UpdateRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(json)?;
    let answer = clerk::update(&state.store, &state.intake, &id, request).await?;
    tracing::info!(document_id = %id, version = answer.version, "outgoing document updated");
    Ok(accepted(answer))
}

/// `POST /api/v1/documents/{id}/replace`: multipart like `POST /documents`; a new outgoing
/// document that replaces `id`.
pub async fn replace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    if let Err(error) = clerk::check_replaceable(&state.store, &id).await {
        if let Ok(mut multipart) = multipart {
            super::upload::drain(&mut multipart).await;
        }
        return Err(error.into());
    }
    documents::create_document(&state, &headers, multipart, Some(id)).await
}
