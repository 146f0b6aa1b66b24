//! Who may use the clerk pages: login and logout, the session check in front of every
//! clerk page and file, CSRF protection, and the lockout after repeated failures.
//!
//! - Accounts come from the clerks' file (`system::clerk_accounts`), re-read when it
//!   changes; a removed clerk or a new password ends the clerk's sessions at their next
//!   request.
//! - Passwords are checked with Argon2id off the async runtime, two at a time at most (each
//!   check takes 19 MiB), and an unknown username is checked against a dummy hash so the
//!   answer takes as long as for a real one.
//! - Every POST carries the session's CSRF token (the login form a token bound to a
//!   short-lived cookie), and a browser's `Origin`/`Sec-Fetch-Site` must say same-origin;
//!   cookies are `HttpOnly; SameSite=Strict`, `Secure` when the LAN side is configured as
//!   HTTPS.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use cookie::{Cookie, SameSite};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Frame, Nav};
use super::session::{fingerprint, random_token, ClerkSession, LoginThrottle, Sessions};
use crate::system::clerk_accounts::{self, AccountsError, ClerkAccounts};
use crate::web::listeners::PeerAddress;
use crate::web::{ApiError, AppState};

/// The session cookie.
pub const SESSION_COOKIE: &str = "docgate_session";
/// The login form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "docgate_login";
/// Password checks running at once.
const CONCURRENT_CHECKS: usize = 2;

/// The clerk pages' accounts, sessions and lockouts (one per daemon).
pub struct ClerkAccess {
    accounts_file: Option<PathBuf>,
    cache: Mutex<Option<CachedAccounts>>,
    pub sessions: Sessions,
    pub throttle: LoginThrottle,
    dummy_hash: OnceLock<String>,
    checks: tokio::sync::Semaphore,
    secure_cookies: bool,
}

struct CachedAccounts {
    modified: Option<SystemTime>,
    length: u64,
    accounts: Arc<ClerkAccounts>,
}

impl ClerkAccess {
    /// Accounts from `accounts_file` (none: nobody can log in). `secure_cookies` when the
    /// pages are served over HTTPS.
    pub fn new(accounts_file: Option<PathBuf>, secure_cookies: bool) -> ClerkAccess {
        ClerkAccess {
            accounts_file,
            cache: Mutex::new(None),
            sessions: Sessions::default(),
            throttle: LoginThrottle::default(),
            dummy_hash: OnceLock::new(),
            checks: tokio::sync::Semaphore::new(CONCURRENT_CHECKS),
            secure_cookies,
        }
    }

    /// The accounts as the file says now (read again only when it changed).
    pub fn accounts(&self) -> Result<Arc<ClerkAccounts>, AccountsError> {
        let Some(path) = &self.accounts_file else {
            return Ok(Arc::new(ClerkAccounts::default()));
        };
        let metadata = std::fs::metadata(path).ok();
        let modified = metadata.as_ref().and_then(|m| m.modified().ok());
        let length = metadata.as_ref().map_or(0, |m| m.len());
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cached) = cache.as_ref() {
            if cached.modified == modified && cached.length == length {
                return Ok(cached.accounts.clone());
            }
        }
        let accounts = Arc::new(ClerkAccounts::load(path)?);
        *cache = Some(CachedAccounts {
            modified,
            length,
            accounts: accounts.clone(),
        });
        Ok(accounts)
    }

    /// Checks `password` against `hash` (or against a dummy hash when the username is
    /// unknown) on a blocking thread.
    async fn check_password(&self, hash: Option<String>, password: String) -> bool {
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => self.dummy_hash().to_string(),
        };
        let matches =
            tokio::task::spawn_blocking(move || clerk_accounts::verify_password(&hash, &password))
                .await
                .unwrap_or(false);
        known && matches
    }

    fn dummy_hash(&self) -> &str {
        self.dummy_hash.get_or_init(|| {
            let password = random_token().unwrap_or_default();
            clerk_accounts::hash_any(&password).unwrap_or_default()
        })
    }

    fn cookie(&self, name: &'static str, value: String, max_age_secs: i64) -> HeaderValue {
        let cookie = Cookie::build((name, value))
            .path("/clerk")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure_cookies)
            .max_age(cookie::time::Duration::seconds(max_age_secs))
            .build();
        HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
    }
}

/// The value of cookie `name` in a request.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_string())
}

/// Refuses a POST whose browser says it comes from another site. Clients that send no
/// `Origin` (scripts, curl) still need the CSRF token, which only a page of ours holds.
pub async fn same_origin(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !is_same_origin(request.headers()) {
        return forbidden(
            "the request came from another site; open the page from this box and try again",
        );
    }
    next.run(request).await
}

/// Whether a browser's request comes from a page of this box: `Sec-Fetch-Site` when the
/// browser sends it, else `Origin` (or, without one, the `Referer`) must name the `Host`.
/// A request with none of them (a script, curl) passes: the CSRF token still guards it.
pub(crate) fn is_same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    // A browser's own word first: scripts cannot set `Sec-Fetch-*`, and it is there even
    // when the referrer policy makes the `Origin` of a form post `null`.
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    let host = text("host");
    let names_host = |url: &str| host.is_some_and(|host| authority_of(url) == Some(host));
    match (text("origin"), text("referer")) {
        (Some(origin), _) => names_host(origin),
        (None, Some(referer)) => names_host(referer),
        (None, None) => true,
    }
}

/// `host[:port]` of an `http://` or `https://` URL (`null` and other schemes: none).
fn authority_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    rest.split(['/', '?', '#']).next()
}

fn forbidden(message: &str) -> Response {
    let error = ApiError::new(StatusCode::FORBIDDEN, "forbidden", message);
    layout::error_page("docgate", None, &error, "/clerk/login")
}

/// In front of every clerk page and file: the session, or a way to log in. A GET without
/// one goes to the login page; anything else is refused.
pub async fn require_clerk(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match current_session(&state, request.headers()) {
        Some(session) => {
            request.extensions_mut().insert(session);
            let mut response = next.run(request).await;
            layout::secure(response.headers_mut());
            response
        }
        None if request.method() == Method::GET => layout::see_other("/clerk/login"),
        None => forbidden("you are not logged in (or your session ended); log in and try again"),
    }
}

/// The open session of a request, if its clerk still exists with the same password.
fn current_session(state: &AppState, headers: &HeaderMap) -> Option<ClerkSession> {
    let token = cookie_value(headers, SESSION_COOKIE)?;
    let session = state.clerks.sessions.find(&token, Instant::now())?;
    let accounts = state.clerks.accounts().ok()?;
    let account = accounts.find(&session.username)?;
    if fingerprint(&account.password_hash) != session.password_fingerprint {
        state.clerks.sessions.close(&token);
        return None;
    }
    Some(session)
}

/// Refuses a form whose CSRF token is not the session's.
pub fn check_csrf(session: &ClerkSession, presented: &str) -> Result<(), ApiError> {
    if fingerprint(presented) == fingerprint(&session.csrf_token) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "the form has expired or did not come from this box; reload the page and try again",
        ))
    }
}

/// `GET /clerk/login`.
pub async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if current_session(&state, &headers).is_some() {
        return layout::see_other("/clerk/incoming");
    }
    login_form(&state, StatusCode::OK, None, "")
}

fn login_form(
    state: &AppState,
    status: StatusCode,
    problem: Option<&str>,
    username: &str,
) -> Response {
    let Some(token) = random_token() else {
        return forbidden("the system random source failed; try again");
    };
    let no_accounts = state
        .clerks
        .accounts()
        .map(|accounts| accounts.accounts().is_empty())
        .unwrap_or(false);
    let frame = Frame {
        title: "Đăng nhập văn thư",
        organ_name: &state.organ_name,
        session: None,
        current: Nav::None,
    };
    let content = html! {
        section {
            h2 { "Đăng nhập văn thư" }
            @if let Some(problem) = problem {
                div.notice.error #login-error role="alert" { (problem) }
            }
            @if no_accounts {
                div.notice.error #no-accounts {
                    "Chưa có tài khoản văn thư nào. Cán bộ CNTT tạo tài khoản bằng lệnh "
                    code { "docgate clerk add --config /etc/docgate/docgate.toml TÊN" } "."
                }
            }
            form method="post" action="/clerk/login" #login {
                input type="hidden" name="csrf" value=(token);
                label for="username" { "Tên đăng nhập" }
                input type="text" id="username" name="username" value=(username)
                    autocomplete="username" autocapitalize="none" required maxlength="32";
                label for="password" { "Mật khẩu" }
                input type="password" id="password" name="password"
                    autocomplete="current-password" required maxlength="256";
                p { button type="submit" #login-submit { "Đăng nhập" } }
            }
            p.meta { a href="/" { "Xem tình trạng thiết bị (không cần đăng nhập)" } }
        }
    };
    let mut response = layout::respond(status, frame, content);
    response.headers_mut().append(
        header::SET_COOKIE,
        state.clerks.cookie(LOGIN_COOKIE, token, 3600),
    );
    response
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /clerk/login`.
pub async fn login(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectInfo<PeerAddress>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie_value(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || fingerprint(&expected) != fingerprint(&form.csrf) {
        return login_form(
            &state,
            StatusCode::FORBIDDEN,
            Some("Trang đăng nhập đã hết hạn. Vui lòng nhập lại."),
            "",
        );
    }
    let address = connection.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0 .0 .0.ip());
    let username = form.username.trim().to_ascii_lowercase();
    let now = Instant::now();
    if let Some(remaining) = state.clerks.throttle.locked_for(&username, address, now) {
        tracing::warn!(username = %username, %address, "clerk login refused: locked after repeated failures");
        let minutes = remaining.as_secs().div_ceil(60);
        let message = format!("Đăng nhập sai quá nhiều lần nên đã tạm khoá. Thử lại sau {minutes} phút, hoặc nhờ cán bộ CNTT khởi động lại dịch vụ.");
        return login_form(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&message),
            &username,
        );
    }
    let account = match state.clerks.accounts() {
        Ok(accounts) => accounts.find(&username).cloned(),
        Err(error) => {
            tracing::error!(%error, "cannot read the clerk accounts file");
            return login_form(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Không đọc được danh sách tài khoản; báo cán bộ CNTT."),
                &username,
            );
        }
    };
    let hash = account
        .as_ref()
        .map(|account| account.password_hash.clone());
    if !state.clerks.check_password(hash, form.password).await {
        state.clerks.throttle.failed(&username, address, now);
        tracing::warn!(username = %username, %address, "clerk login failed");
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Sai tên đăng nhập hoặc mật khẩu."),
            &username,
        );
    }
    let Some(account) = account else {
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Sai tên đăng nhập hoặc mật khẩu."),
            &username,
        );
    };
    state.clerks.throttle.succeeded(&username);
    open_session(&state, &account)
}

fn open_session(state: &AppState, account: &clerk_accounts::ClerkAccount) -> Response {
    let (Some(csrf_token), now) = (random_token(), Instant::now()) else {
        return forbidden("the system random source failed; try again");
    };
    let session = ClerkSession {
        username: account.username.clone(),
        name: account.name.clone(),
        csrf_token,
        password_fingerprint: fingerprint(&account.password_hash),
    };
    let Some(token) = state.clerks.sessions.open(session, now) else {
        return forbidden("the system random source failed; try again");
    };
    tracing::info!(username = %account.username, "clerk logged in");
    let mut response = layout::see_other("/clerk/incoming");
    let headers = response.headers_mut();
    let lifetime = i64::try_from(super::session::ABSOLUTE_TIMEOUT.as_secs()).unwrap_or(36_000);
    headers.append(
        header::SET_COOKIE,
        state.clerks.cookie(SESSION_COOKIE, token, lifetime),
    );
    headers.append(
        header::SET_COOKIE,
        state.clerks.cookie(LOGIN_COOKIE, String::new(), 0),
    );
    response
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /clerk/logout`.
pub async fn logout(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(error) = check_csrf(&session, &form.csrf) {
        return error.into_response();
    }
    if let Some(token) = cookie_value(&headers, SESSION_COOKIE) {
        state.clerks.sessions.close(&token);
    }
    tracing::info!(username = %session.username, "clerk logged out");
    let mut response = layout::see_other("/clerk/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        state.clerks.cookie(SESSION_COOKIE, String::new(), 0),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).expect("value"));
        }
        headers
    }

    #[test]
    fn only_same_origin_posts_pass() {
        assert!(
            is_same_origin(&headers(&[("host", "192.168.1.5:8480")])),
            "no Origin: a script"
        );
        assert!(is_same_origin(&headers(&[
            ("host", "192.168.1.5:8480"),
            ("origin", "http://192.168.1.5:8480"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "192.168.1.5:8480"),
            ("origin", "http://evil.example"),
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "192.168.1.5:8480"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!is_same_origin(&headers(&[(
            "origin",
            "http://192.168.1.5:8480"
        )])));
        assert!(!is_same_origin(&headers(&[
            ("host", "192.168.1.5:8480"),
            ("origin", "null"),
        ])));
        assert!(is_same_origin(&headers(&[
            ("host", "192.168.1.5:8443"),
            ("origin", "https://192.168.1.5:8443"),
        ])));
        // Without `Origin`, the `Referer` decides when it is there.
        assert!(is_same_origin(&headers(&[
            ("host", "192.168.1.5:8480"),
            ("referer", "http://192.168.1.5:8480/status?lang=en"),
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "192.168.1.5:8480"),
            ("referer", "http://192.168.1.5:8480.evil.example/"),
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "192.168.1.5:8480"),
            ("referer", "http://evil.example/?192.168.1.5:8480"),
        ])));
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let headers = headers(&[("cookie", "a=1; docgate_session=abc; b=2")]);
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("abc")
        );
        assert_eq!(cookie_value(&headers, LOGIN_COOKIE), None);
    }
}
