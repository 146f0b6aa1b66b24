//! What stands between a browser and `POST /enrol`: the form's double-submit token (a
//! random value both in a `SameSite=Strict; HttpOnly` cookie and in a hidden field,
//! compared in constant time), and reading the form itself (URL-encoded, at most
//! [`FORM_LIMIT`] bytes). The same-origin check is the clerk pages' own
//! (`clerk::is_same_origin`). Decides nothing about enrolment and renders nothing.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::Form;
use cookie::{Cookie, SameSite};
use ring::hmac;
use serde::Deserialize;

use crate::web::clerk::{cookie_value, random_token};

/// The form's token cookie.
pub(super) const CSRF_COOKIE: &str = "docgate_enrol";
/// Largest form body read (the form holds an URL, a code and a token).
pub(super) const FORM_LIMIT: usize = 4 * 1024;
/// How long a form stays usable.
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// The enrolment form's fields as sent (missing ones are empty).
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub(super) struct EnrolForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub axis_url: String,
    #[serde(default)]
    pub code: String,
}

/// Why a form body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum FormError {
    #[error("the form is larger than {FORM_LIMIT} bytes")]
    TooLarge,
    #[error("the request is not a form (application/x-www-form-urlencoded)")]
    NotAForm,
    #[error("the form cannot be read: {0}")]
    Unreadable(String),
}

impl FormError {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            FormError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            FormError::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FormError::Unreadable(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads the enrolment form of `request`: at most [`FORM_LIMIT`] bytes, URL-encoded.
pub(super) async fn read_form(request: Request) -> Result<EnrolForm, FormError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| FormError::TooLarge)?;
    let request = Request::from_parts(parts, Body::from(bytes));
    match Form::<EnrolForm>::from_request(request, &()).await {
        Ok(Form(form)) => Ok(form),
        Err(rejection) if rejection.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Err(FormError::NotAForm)
        }
        Err(rejection) => Err(FormError::Unreadable(rejection.body_text())),
    }
}

/// Issues and checks the form tokens of one page server.
pub(super) struct CsrfGuard {
    /// Both sides of a comparison go through an HMAC under this per-process key, and
    /// `ring::hmac::verify` compares the tags in constant time.
    key: hmac::Key,
    secure_cookies: bool,
}

impl CsrfGuard {
    /// `secure_cookies` when the page is served over HTTPS.
    pub(super) fn new(secure_cookies: bool) -> Result<CsrfGuard, ring::error::Unspecified> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())?;
        Ok(CsrfGuard {
            key,
            secure_cookies,
        })
    }

    /// A fresh token, for a form and its cookie (none when the random source failed).
    pub(super) fn issue(&self) -> Option<String> {
        random_token()
    }

    /// The `Set-Cookie` value carrying `token` (an empty token with no lifetime clears it).
    pub(super) fn cookie(&self, token: &str) -> HeaderValue {
        let lifetime = if token.is_empty() {
            0
        } else {
            TOKEN_LIFETIME_SECS
        };
        let cookie = Cookie::build((CSRF_COOKIE, token.to_owned()))
            .path("/enrol")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure_cookies)
            .max_age(cookie::time::Duration::seconds(lifetime))
            .build();
        // A hex token and fixed attributes are always a valid header value.
        HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
    }

    /// Whether the form's `field` is the token of the request's cookie.
    pub(super) fn matches(&self, headers: &HeaderMap, field: &str) -> bool {
        let Some(cookie) = cookie_value(headers, CSRF_COOKIE) else {
            return false;
        };
        if cookie.is_empty() || field.is_empty() {
            return false;
        }
        let expected = hmac::sign(&self.key, cookie.as_bytes());
        hmac::verify(&self.key, field.as_bytes(), expected.as_ref()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn form_request(content_type: &str, body: impl Into<Body>) -> Request {
        let mut request = Request::new(body.into());
        *request.method_mut() = axum::http::Method::POST;
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).expect("content type"),
        );
        request
    }

    #[tokio::test]
    async fn the_form_is_read_with_its_escapes_and_missing_fields_empty() {
        let form = read_form(form_request(
            "application/x-www-form-urlencoded",
            "csrf=ab12&axis_url=https%3A%2F%2Fhub.test%3A8443%2F&code=ABCD-EFGH+IJKL",
        ))
        .await
        .expect("form");
        assert_eq!(
            form,
            EnrolForm {
                csrf: "ab12".into(),
                axis_url: "https://hub.test:8443/".into(),
                code: "ABCD-EFGH IJKL".into(),
            }
        );
        let empty = read_form(form_request("application/x-www-form-urlencoded", ""))
            .await
            .expect("an empty form");
        assert_eq!(empty, EnrolForm::default());
        let extra = read_form(form_request(
            "application/x-www-form-urlencoded",
            "code=x&unexpected=1",
        ))
        .await
        .expect("unknown fields are ignored");
        assert_eq!(extra.code, "x");
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_small_form_is_refused() {
        let json = read_form(form_request("application/json", "{\"code\":\"x\"}")).await;
        assert_eq!(json, Err(FormError::NotAForm));
        assert_eq!(
            FormError::NotAForm.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let large = "code=".to_owned() + &"A".repeat(FORM_LIMIT);
        let refused = read_form(form_request("application/x-www-form-urlencoded", large)).await;
        assert_eq!(refused, Err(FormError::TooLarge));
        assert_eq!(FormError::TooLarge.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let twice = read_form(form_request(
            "application/x-www-form-urlencoded",
            "code=a&code=b",
        ))
        .await;
        assert!(
            matches!(twice, Err(FormError::Unreadable(_))),
            "a field given twice: {twice:?}"
        );
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(value).expect("cookie"),
        );
        headers
    }

    #[test]
    fn the_token_must_be_in_both_the_cookie_and_the_field() {
        let guard = CsrfGuard::new(false).expect("guard");
        let token = guard.issue().expect("token");
        assert_eq!(token.len(), 64, "256 random bits, hex");
        assert_ne!(guard.issue(), Some(token.clone()), "fresh each time");
        let cookie = with_cookie(&format!("other=1; {CSRF_COOKIE}={token}"));
        assert!(guard.matches(&cookie, &token));
        assert!(!guard.matches(&cookie, ""), "no field");
        assert!(!guard.matches(&cookie, &token[..63]), "a shorter field");
        assert!(
            !guard.matches(&cookie, &format!("{token}0")),
            "a longer field"
        );
        assert!(!guard.matches(&HeaderMap::new(), &token), "no cookie");
        assert!(
            !guard.matches(&with_cookie(&format!("{CSRF_COOKIE}=")), ""),
            "both empty"
        );
        let other = guard.issue().expect("token");
        assert!(!guard.matches(&cookie, &other), "another form's token");
    }

    #[test]
    fn the_cookie_is_strict_http_only_and_secure_over_https() {
        let plain = CsrfGuard::new(false).expect("guard");
        let text = plain.cookie("abc").to_str().expect("text").to_owned();
        assert!(text.starts_with("docgate_enrol=abc"), "{text}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/enrol", "Max-Age=3600"] {
            assert!(text.contains(attribute), "{attribute} in {text}");
        }
        assert!(!text.contains("Secure"), "{text}");
        let tls = CsrfGuard::new(true).expect("guard");
        assert!(tls.cookie("abc").to_str().expect("text").contains("Secure"));
        let cleared = plain.cookie("").to_str().expect("text").to_owned();
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
    }
}
