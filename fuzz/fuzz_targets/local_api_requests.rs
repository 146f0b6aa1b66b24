//! Fuzzes the local API's small requests, through axum's own extractors and the handlers'
//! own parsing: the JSON bodies of `POST /api/v1/documents/{id}/status`, `/recall` and
//! `/update` (`docgate::web::json_body`, then the checks each handler makes before it
//! reads the document), and the query string of `GET /api/v1/documents`
//! (`docgate::web::parse_list_query`).
//!
//! The first byte picks the request (`s` status, `r` recall, `u` update, `l` list); the
//! rest is the body or the query string. Checks: never a panic; every error message is one
//! line; what is accepted keeps the rules (a status code of two digits and a one-line
//! description, a trimmed one-line reason, an update whose new meta the intake itself would
//! accept, a page size within the API's limit).
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequest, Json, Query};
use axum::http::{header, Request, Uri};
use docgate::store::MAX_PAGE;
use docgate::web::{json_body, parse_list_query, ApiError, ListQuery, RecallRequest};
use docgate::workflow::business_packets::{plan_update, UpdateRequest};
use docgate::workflow::clerk::{check_reason, ClerkError, StatusRequest};
use docgate::workflow::OutgoingMeta;
use docgate_fuzz::assert_one_line;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

/// The meta of the stored document an update applies to (two recipients, so that one can
/// be removed).
const STORED_META: &str = r#"{"to": ["000.00.00.H41", "000.00.01.H41"], "subject": "Về việc báo cáo", "type": {"code": 1, "name": "Công văn"}, "code_number": 12, "code_notation": "UBND-VP", "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"}, "priority": 0, "due_date": "2026-12-31"}"#;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("the fuzz host can start a runtime")
    })
}

fn stored_meta() -> &'static OutgoingMeta {
    static META: OnceLock<OutgoingMeta> = OnceLock::new();
    META.get_or_init(|| OutgoingMeta::parse(STORED_META.as_bytes(), &[]).expect("valid meta"))
}

/// The body as the handler receives it: axum's `Json` extractor, then `json_body`.
fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let request = Request::post("/api/v1/documents/01J0000000000000000000000/status")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a fixed request line and headers");
    json_body(runtime().block_on(Json::<T>::from_request(request, &())))
}

/// The refusal as the client sees it.
fn refused(error: ClerkError) {
    assert_one_line(&error.to_string());
    assert_one_line(&ApiError::from(error).message);
}

fn status(body: &[u8]) {
    let request: StatusRequest = match json(body) {
        Ok(request) => request,
        Err(error) => return assert_one_line(&error.message),
    };
    match request.checked() {
        Ok((code, _staff)) => {
            assert_eq!(code.code().len(), 2);
            assert!(!request.description.chars().any(char::is_control));
        }
        Err(error) => refused(error),
    }
}

fn recall(body: &[u8]) {
    let request: RecallRequest = match json(body) {
        Ok(request) => request,
        Err(error) => return assert_one_line(&error.message),
    };
    match check_reason(&request.reason, "reason") {
        Ok(reason) => {
            assert!(!reason.is_empty());
            assert_eq!(reason.trim(), reason);
            assert!(!reason.chars().any(char::is_control));
        }
        Err(error) => refused(error),
    }
}

fn update(body: &[u8]) {
    let request: UpdateRequest = match json(body) {
        Ok(request) => request,
        Err(error) => return assert_one_line(&error.message),
    };
    // The handler's order: the reason, then the plan against the stored meta.
    if let Err(error) = check_reason(&request.reason, "reason") {
        return refused(error);
    }
    let stored = stored_meta();
    match plan_update(stored, &request, &[]) {
        Ok(plan) => {
            // The new meta is one the intake would accept, unchanged by a round trip.
            let json = serde_json::to_vec(&plan.meta).expect("meta serialises");
            let again = OutgoingMeta::parse(&json, &[]).expect("an updated meta stays valid");
            assert_eq!(again, plan.meta);
            assert_eq!(plan.previous_recipients, stored.to);
            for added in &plan.added {
                assert!(plan.meta.to.contains(added), "{added} was not added");
            }
            for removed in &plan.removed {
                assert!(!plan.meta.to.contains(removed), "{removed} was not removed");
            }
        }
        Err(error) => refused(ClerkError::from(error)),
    }
}

fn list(query: &[u8]) {
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    // A request target the HTTP server would not have parsed never reaches the handler.
    let Ok(uri) = format!("/api/v1/documents?{query}").parse::<Uri>() else {
        return;
    };
    match parse_list_query(Query::<ListQuery>::try_from_uri(&uri), "2026-11-23".into()) {
        Ok(filter) => {
            assert!((1..=MAX_PAGE).contains(&filter.limit));
            if let Some(search) = &filter.subject_contains {
                assert!(!search.is_empty() && !search.chars().any(char::is_control));
            }
        }
        Err(error) => assert_one_line(&error.message),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector {
        b's' => status(rest),
        b'r' => recall(rest),
        b'u' => update(rest),
        b'l' => list(rest),
        _ => {}
    }
});
