//! `/api/v1/documents` handlers: create (multipart), list, show, and download a file.

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tokio_util::io::ReaderStream;

use super::upload::{drain, read_upload};
use super::{ApiError, AppState};
use crate::store::{
    Direction, DocumentRecord, DocumentState, ListFilter, Store, StoreError, MAX_PAGE,
};
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
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
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
        &state.store,
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
        tracing::info!(id = %outcome.identity.id, document_id = ?outcome.identity.document_id, "outgoing document accepted");
    }
    Ok((StatusCode::ACCEPTED, Json(outcome.identity)).into_response())
}

/// Documents per page when the caller does not say.
const DEFAULT_PAGE: u32 = 50;

/// Query of `GET /api/v1/documents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    direction: Option<String>,
    state: Option<String>,
    since: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/documents?direction=out|in&state=&since=&cursor=&limit=`, newest first.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let filter = list_filter(query)?;
    let page = read(&state, move |store| store.list_documents(&filter)).await?;
    Ok(Json(page).into_response())
}

fn list_filter(query: ListQuery) -> Result<ListFilter, ApiError> {
    let direction = match query.direction.as_deref() {
        None => None,
        Some(value) => Some(Direction::parse(value).ok_or_else(|| {
            ApiError::bad_request(format!("direction {value:?} is not `out` or `in`"))
        })?),
    };
    let state = match query.state.as_deref() {
        None => None,
        Some(value) => Some(DocumentState::parse(value).ok_or_else(|| {
            ApiError::bad_request(format!("state {value:?} is not a document state"))
        })?),
    };
    let since = match query.since.as_deref() {
        None => None,
        Some(value) => {
            let instant =
                time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                    "since {value:?} is not an RFC 3339 time such as 2026-11-21T08:00:00+07:00"
                ))
                    })?;
            Some(crate::system::clock::rfc3339_utc(instant))
        }
    };
    let before_id = match query.cursor {
        Some(cursor) if ulid::Ulid::from_string(&cursor).is_err() => {
            return Err(ApiError::bad_request(
                "cursor is not one this API handed out",
            ));
        }
        // Ids are stored in upper case; the ULID alphabet reads either.
        cursor => cursor.map(|cursor| cursor.to_ascii_uppercase()),
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is outside 1…{MAX_PAGE}; page through longer lists with `cursor`"
        )));
    }
    Ok(ListFilter {
        direction,
        state,
        since,
        before_id,
        limit,
    })
}

/// Runs a store read on a blocking thread (SQLite never runs on the async runtime).
async fn read<T: Send + 'static>(
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

/// `GET /api/v1/documents/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut document = load_document(&state, &id).await?;
    if document.summary.direction == Direction::Incoming {
        let today = crate::system::clock::edxml_date(state.intake.clock.now()).replace('/', "-");
        document.business.overdue = crate::workflow::business::is_overdue(
            document.business.due_date.as_deref(),
            document.business.business_status.as_deref(),
            document.business.cancelled.is_some(),
            &today,
        );
    }
    Ok(Json(document).into_response())
}

/// `GET /api/v1/documents/{id}/files/{n}`: the file exactly as stored, streamed.
pub async fn file(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let n: u32 = n.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "file number {n:?} is not a number (files count from 1)"
        ))
    })?;
    let document = load_document(&state, &id).await?;
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
