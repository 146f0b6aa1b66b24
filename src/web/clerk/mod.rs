//! The clerk pages (`/clerk/...`): what the office's records clerk (văn thư) does in a
//! browser when the office has no document software of its own — the incoming list with
//! accept (03) / refuse (02) / download, the outgoing list with each recipient's statuses
//! and recall (13), an upload form, and the registers.
//!
//! Server-rendered HTML with no script, in Vietnamese, readable at 360 px. Every page and
//! file needs a logged-in clerk (`auth`); every form carries a CSRF token; every value from
//! a packet or a document is escaped by `maud`. Each action goes through `workflow` exactly
//! as the local API's does, so the pages can do nothing the API could not. Never touches
//! the store except through the same reads the API uses.

mod auth;
mod document;
mod layout;
mod lists;
mod names;
mod registers;
mod session;
mod upload;

use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub(crate) use auth::{cookie_value, is_same_origin};
pub use auth::{ClerkAccess, LOGIN_COOKIE, SESSION_COOKIE};
pub(crate) use session::random_token;

use super::AppState;

/// The `/clerk/...` routes: the login page, its stylesheet, and everything else behind
/// the session check; every POST also behind the same-origin check.
pub fn routes(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/clerk", get(home))
        .route("/clerk/incoming", get(lists::incoming))
        .route("/clerk/outgoing", get(lists::outgoing))
        .route("/clerk/documents/{id}", get(document::show))
        .route("/clerk/documents/{id}/files/{n}", get(document::file))
        .route("/clerk/documents/{id}/accept", post(document::accept))
        .route("/clerk/documents/{id}/refuse", post(document::refuse))
        .route("/clerk/documents/{id}/status", post(document::status))
        .route("/clerk/documents/{id}/recall", post(document::recall))
        .route("/clerk/upload", get(upload::form).post(upload::submit))
        .route("/clerk/registers", get(registers::index))
        .route("/clerk/registers/{register}", get(registers::export))
        .route("/clerk/logout", post(auth::logout))
        .route_layer(middleware::from_fn_with_state(state, auth::require_clerk));
    Router::new()
        .merge(protected)
        .route("/clerk/login", get(auth::login_page).post(auth::login))
        .route("/clerk/style.css", get(style))
        .route_layer(middleware::from_fn(auth::same_origin))
}

async fn home() -> Response {
    layout::see_other("/clerk/incoming")
}

async fn style() -> Response {
    let mut response = layout::STYLE.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
