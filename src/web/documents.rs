//! `/api/v1/documents` handlers: create (multipart), list, show, and download a file.

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio_util::io::ReaderStream;

use super::upload::{drain, read_upload};
use super::{ApiError, AppState};
use crate::store::{DocumentRecord, Store, StoreError};
use crate::workflow::{accept_outgoing, check_storage, IntakeError, IntakeRequest};

/// `POST /api/v1/documents` → 202 once the document is committed.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    create_document(&state, &headers, multipart, None).await
}

/// A new outgoing document from a multipart request; `replaces` for `/replace`.
pub(super) async fn create_document(
    state: &AppState,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
    replaces: Option<String>,
) -> Result<Response, ApiError> {
    // A request that cannot fit is refused before its body is read (it is drained below
    // so the client sees the 507 rather than a reset connection).
    let declared = super::upload::declared_length(headers);
    if let Err(full) = check_storage(&state.store, &state.intake, declared) {
        if let Ok(mut multipart) = multipart {
            drain(&mut multipart).await;
        }
        return Err(full.into());
    }
    let mut multipart = multipart.map_err(|rejection| {
        ApiError::bad_request(format!(
            "{}; send multipart/form-data with a `meta` part and file parts",
            rejection.body_text()
        ))
    })?;
    let result = create_from(state, headers, &mut multipart, replaces).await;
    if result.is_err() {
        drain(&mut multipart).await;
    }
    result
}

async fn create_from(
    state: &AppState,
    headers: &HeaderMap,
    multipart: &mut Multipart,
    replaces: Option<String>,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::bad_request("Idempotency-Key must be printable ASCII"))?
                .to_string(),
        ),
        None => None,
    };
    let upload = read_upload(
        state.store.blobs(),
        multipart,
        state.max_file_bytes,
        state.intake.max_files,
    )
    .await?;
    let meta_json = upload.meta_json.ok_or(IntakeError::MissingMeta)?;
    let request = IntakeRequest {
        meta_json,
        files: upload.files,
        idempotency_key,
        replaces,
    };
    let outcome = accept_outgoing(&state.store, &state.intake, request).await?;
    if !outcome.replayed {
        tracing::info!(document_id = %outcome.identity.id, edxml_document_id = ?outcome.identity.document_id, state = %outcome.identity.state, "outgoing document accepted");
    }
    Ok((StatusCode::ACCEPTED, Json(outcome.identity)).into_response())
}

/// Runs a store read on a blocking thread (SQLite never runs on the async runtime).
pub(super) async fn read<T: Send + 'static>(
    state: &AppState,
    query: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || query(&store))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the database read did not finish; retry, and tell IT if it persists",
            )
        })?
        .map_err(ApiError::from)
}

/// The document `id`, or a 404 that names it.
pub(super) async fn load_document(state: &AppState, id: &str) -> Result<DocumentRecord, ApiError> {
    let lookup = id.to_string();
    read(state, move |store| store.document(&lookup))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no document with id {id}")))
}

/// Today in Vietnam, `YYYY-MM-DD` (due dates are compared with it).
pub(super) fn today(state: &AppState) -> String {
    crate::system::clock::edxml_date(state.intake.clock.now()).replace('/', "-")
}

/// `GET /api/v1/documents/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut document = load_document(&state, &id).await?;
    document.summary.mark_overdue(&today(&state));
    Ok(Json(document).into_response())
}

/// `GET /api/v1/documents/{id}/files/{n}`: the file exactly as stored, streamed.
pub async fn file(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    file_response(&state, &id, &n).await
}

/// File `n` of document `id` as a download (the API's and the clerk pages').
pub(super) async fn file_response(
    state: &AppState,
    id: &str,
    n: &str,
) -> Result<Response, ApiError> {
    let n: u32 = n.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "file number {n:?} is not a number (files count from 1)"
        ))
    })?;
    let document = load_document(state, id).await?;
    let entry = document
        .files
        .iter()
        .find(|file| file.n == n)
        .ok_or_else(|| ApiError::not_found(format!("document {id} has no file {n}")))?;
    let blob = state.store.blobs().open_blob(&entry.sha256)?;
    let stream = ReaderStream::new(tokio::fs::File::from_std(blob));
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&entry.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(entry.size));
    if let Ok(value) = HeaderValue::from_str(&content_disposition(&entry.name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        "x-content-sha256",
        HeaderValue::from_str(&entry.sha256).unwrap_or(HeaderValue::from_static("")),
    );
    Ok(response)
}

/// `attachment; filename*=UTF-8''…` (RFC 6266 / RFC 5987), so Vietnamese names survive.
fn content_disposition(name: &str) -> String {
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename*=UTF-8''{encoded}")
}
