//! The security headers every page and answer of the LAN side carries: nothing may frame,
//! cache or sniff it, the Referer stays on this origin, and a Content-Security-Policy — the
//! one the page set (a page with its stylesheet's hash), else the caller's default. Owns
//! the header set only; which policy a page needs is the page's business.

use axum::http::header;
use axum::http::{HeaderMap, HeaderValue};

/// Adds the security headers to `headers`, keeping a Content-Security-Policy already set
/// and otherwise setting `default_policy`.
pub(crate) fn harden(headers: &mut HeaderMap, default_policy: &'static str) {
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(default_policy));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Same-origin only: a form post keeps its `Origin`, other sites learn nothing.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}
