//! `/api/v1/registers/...` handlers: a register year as JSON, CSV or a printable HTML page,
//! and closing a year. Parses and answers; the register rules and formats are
//! `workflow::register` and `workflow::register_export`'s, the rows the store's.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::store::registers::{CloseOutcome, RegisterKind};
use crate::workflow::register::{parse_register, parse_year};
use crate::workflow::register_export::{close_register, ExportFormat, RegisterExport};

/// Query of `GET /api/v1/registers/{register}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    year: Option<String>,
    series: Option<String>,
    format: Option<String>,
}

/// Query of `POST /api/v1/registers/{register}/{year}/close`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseQuery {
    series: Option<String>,
}

fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(format!(
        "{}; the parameters are year=YYYY, series=general|secret (outgoing register) and format=json|csv|html",
        rejection.body_text()
    ))
}

/// `GET /api/v1/registers/{out|in}?year=YYYY[&series=general|secret][&format=json|csv|html]`.
pub async fn show(
    State(state): State<AppState>,
    Path(register): Path<String>,
    query: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(query_error)?;
    let kind = parse_register(&register, query.series.as_deref())?;
    let year = parse_year(query.year.as_deref().ok_or_else(|| {
        ApiError::bad_request("give the register year: ?year=YYYY (e.g. ?year=2026)")
    })?)?;
    let format = ExportFormat::parse(query.format.as_deref())?;
    let organ_name = state.organ_name.clone();
    let store = state.store.clone();
    let export =
        tokio::task::spawn_blocking(move || RegisterExport::read(&store, kind, year, &organ_name))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the register read did not finish; retry, and tell IT if it persists",
                )
            })??;
    // Every format through `render`, so the answer is byte for byte what
    // `docgate register export` writes.
    let body = export.render(format)?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if format == ExportFormat::Csv {
        let disposition = format!("attachment; filename=\"{}\"", file_name(kind, year, "csv"));
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

/// `register-out-general-2026.csv`, `register-in-2026.csv`.
fn file_name(kind: RegisterKind, year: i32, extension: &str) -> String {
    match kind.series() {
        Some(series) => format!("register-out-{}-{year}.{extension}", series.as_str()),
        None => format!("register-in-{year}.{extension}"),
    }
}

/// `POST /api/v1/registers/{out|in}/{year}/close[?series=general|secret]`: 200 with the
/// closure (`already_closed` tells a repeat from the first close).
pub async fn close(
    State(state): State<AppState>,
    Path((register, year)): Path<(String, String)>,
    query: Result<Query<CloseQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(query_error)?;
    let kind = parse_register(&register, query.series.as_deref())?;
    let year = parse_year(&year)?;
    let now = state.intake.clock.now();
    let outcome = close_register(&state.store, kind, year, now).await?;
    let (closure, already_closed) = match outcome {
        CloseOutcome::Closed(closure) => (closure, false),
        CloseOutcome::AlreadyClosed(closure) => (closure, true),
    };
    if !already_closed {
        tracing::info!(register = kind.name(), year, digest = %closure.digest, entries = closure.entries, "register closed");
    }
    let mut body = serde_json::json!({
        "register": if kind.series().is_some() { "out" } else { "in" },
        "year": year,
        "closed": closure,
        "already_closed": already_closed,
    });
    if let (Some(series), Some(object)) = (kind.series(), body.as_object_mut()) {
        object.insert("series".into(), series.as_str().into());
    }
    Ok((StatusCode::OK, Json(body)).into_response())
}
