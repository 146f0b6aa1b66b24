//! `GET /api/v1/documents`: the list, newest first, one page at a time, with its filters.
//! Parses the query strictly (an unknown, empty or out-of-range parameter is a 400, never
//! silently ignored) and hands a [`ListFilter`] to the store.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::documents::{read, today};
use super::{ApiError, AppState};
use crate::store::{Direction, DocumentState, ListFilter, MAX_PAGE};
use crate::workflow::business::parse_status_code;

/// Documents per page when the caller does not say.
const DEFAULT_PAGE: u32 = 50;
/// Longest subject search.
const MAX_SUBJECT_SEARCH_CHARS: usize = 200;

/// Query of `GET /api/v1/documents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    direction: Option<String>,
    state: Option<String>,
    since: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
    business_status: Option<String>,
    overdue: Option<String>,
    priority_min: Option<u8>,
    q: Option<String>,
}

/// `GET /api/v1/documents?direction=&state=&since=&business_status=&overdue=&priority_min=&q=&cursor=&limit=`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let today = today(&state);
    let filter = parse_list_query(query, today.clone())?;
    let mut page = read(&state, move |store| store.list_documents(&filter)).await?;
    for document in &mut page.documents {
        document.mark_overdue(&today);
    }
    Ok(Json(page).into_response())
}

/// The list's filter from the query as axum's `Query` extractor read it, or the 400 the
/// list answers. `today` (`YYYY-MM-DD`) is what `overdue` compares due dates with. Public
/// so the fuzz target `local_api_requests` runs the handler's own parsing.
pub fn parse_list_query(
    query: Result<Query<ListQuery>, QueryRejection>,
    today: String,
) -> Result<ListFilter, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    list_filter(query, today)
}

fn list_filter(query: ListQuery, today: String) -> Result<ListFilter, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is outside 1…{MAX_PAGE}; page through longer lists with `cursor`"
        )));
    }
    Ok(ListFilter {
        direction: query.direction.as_deref().map(direction).transpose()?,
        state: query.state.as_deref().map(document_state).transpose()?,
        since: query.since.as_deref().map(since).transpose()?,
        before_id: query.cursor.as_deref().map(cursor).transpose()?,
        limit,
        business_status: query
            .business_status
            .as_deref()
            .map(business_status)
            .transpose()?,
        overdue: query.overdue.as_deref().map(flag).transpose()?,
        today,
        priority_min: query.priority_min.map(priority).transpose()?,
        subject_contains: query.q.map(subject_search).transpose()?,
    })
}

fn direction(value: &str) -> Result<Direction, ApiError> {
    Direction::parse(value)
        .ok_or_else(|| ApiError::bad_request(format!("direction {value:?} is not `out` or `in`")))
}

fn document_state(value: &str) -> Result<DocumentState, ApiError> {
    DocumentState::parse(value)
        .ok_or_else(|| ApiError::bad_request(format!("state {value:?} is not a document state")))
}

fn since(value: &str) -> Result<String, ApiError> {
    let instant =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "since {value:?} is not an RFC 3339 time such as 2026-11-21T08:00:00+07:00"
                ))
            })?;
    Ok(crate::system::clock::rfc3339_utc(instant))
}

/// A cursor this API handed out (a ULID; stored in upper case, read in either).
fn cursor(value: &str) -> Result<String, ApiError> {
    if ulid::Ulid::from_string(value).is_err() {
        return Err(ApiError::bad_request(
            "cursor is not one this API handed out",
        ));
    }
    Ok(value.to_ascii_uppercase())
}

/// One of the statuses an office sets on an incoming document (01…06).
fn business_status(value: &str) -> Result<String, ApiError> {
    match parse_status_code(value) {
        Ok(code) if ["01", "02", "03", "04", "05", "06"].contains(&code.code()) => {
            Ok(code.code().to_string())
        }
        _ => Err(ApiError::bad_request(format!(
            "business_status {value:?} is not one of 01…06 (the statuses of an incoming document)"
        ))),
    }
}

fn flag(value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "overdue {value:?} is not `true` or `false`"
        ))),
    }
}

fn priority(value: u8) -> Result<u8, ApiError> {
    if value > 4 {
        return Err(ApiError::bad_request(format!(
            "priority_min {value} is not 0 (normal) to 4 (express at a set time)"
        )));
    }
    Ok(value)
}

fn subject_search(value: String) -> Result<String, ApiError> {
    if value.is_empty()
        || value.chars().count() > MAX_SUBJECT_SEARCH_CHARS
        || value.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(format!(
            "q must be 1 to {MAX_SUBJECT_SEARCH_CHARS} characters of one line"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use axum::extract::Query;
    use axum::http::Uri;

    use super::{parse_list_query, ListQuery, DEFAULT_PAGE};
    use crate::store::Direction;

    fn parse(query: &str) -> Result<crate::store::ListFilter, super::ApiError> {
        let uri: Uri = format!("/api/v1/documents?{query}").parse().expect("uri");
        parse_list_query(Query::<ListQuery>::try_from_uri(&uri), "2026-11-23".into())
    }

    #[test]
    fn reads_the_filters() {
        let filter = parse("direction=in&overdue=true&q=b%C3%A1o%20c%C3%A1o").expect("filter");
        assert_eq!(filter.direction, Some(Direction::Incoming));
        assert_eq!(filter.overdue, Some(true));
        assert_eq!(filter.subject_contains.as_deref(), Some("báo cáo"));
        assert_eq!(filter.limit, DEFAULT_PAGE);
        assert_eq!(filter.today, "2026-11-23");
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for query in [
            "limt=5",
            "limit=0",
            "direction=sideways",
            "q=a%0Ab",
            "priority_min=9",
        ] {
            let error = parse(query).expect_err(query);
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{query}");
        }
    }
}
