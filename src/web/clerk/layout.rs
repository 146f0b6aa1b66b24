//! The clerk pages' frame: head, navigation, the logged-in clerk with a logout button, the
//! stylesheet (served as a file, so the Content-Security-Policy allows no inline code at
//! all), the security headers every clerk page carries, and the error page. In Vietnamese:
//! the clerks are the Vietnamese office's records staff. Built with `maud`, which escapes
//! every interpolated value.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::session::ClerkSession;
use crate::web::ApiError;

/// `GET /clerk/style.css`: fixed text, no value from a document.
pub const STYLE: &str = r#"
* { box-sizing: border-box; }
body { font-family: system-ui, "Segoe UI", Roboto, Arial, sans-serif; margin: 0 auto; padding: 10px;
       max-width: 1100px; color: #111; background: #f6f6f6; font-size: 16px; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; margin-bottom: 8px; }
header.top h1 { font-size: 1.1rem; margin: 0; flex: 1 1 auto; }
header.top form { margin: 0; }
nav.main { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0 10px; }
nav.main a { padding: 8px 10px; background: #fff; border-radius: 6px; text-decoration: none; color: #0b4f8a; }
nav.main a.current { background: #0b4f8a; color: #fff; }
h2 { font-size: 1.1rem; margin: 10px 0 6px; }
section, .card { background: #fff; border-radius: 6px; padding: 10px 12px; margin: 8px 0; }
ul.documents { list-style: none; padding: 0; margin: 0; }
ul.documents li { background: #fff; border-radius: 6px; padding: 10px 12px; margin: 6px 0; }
ul.documents a.subject { font-weight: bold; color: #0b4f8a; overflow-wrap: anywhere; }
.meta { color: #444; font-size: .9rem; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 6px; border-radius: 4px; background: #e8eef6; font-size: .85rem; }
.badge.open { background: #fff4d6; } .badge.refused { background: #fde2e1; } .badge.done { background: #dff3e3; }
.overdue { color: #b3261e; font-weight: bold; }
dl { display: grid; grid-template-columns: minmax(8em, 30%) 1fr; gap: 4px 10px; margin: 0; }
dt { color: #444; } dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 4px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
form.action { margin: 8px 0; }
label { display: block; margin: 8px 0 2px; font-weight: bold; }
input[type=text], input[type=password], input[type=date], input[type=number], select, textarea {
  width: 100%; max-width: 520px; padding: 8px; font-size: 1rem; border: 1px solid #888; border-radius: 4px; }
textarea { min-height: 4em; }
button { padding: 9px 14px; font-size: 1rem; border-radius: 6px; border: 1px solid #0b4f8a; background: #0b4f8a; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #0b4f8a; }
button.danger { background: #b3261e; border-color: #b3261e; }
.notice { padding: 10px; border-radius: 6px; margin: 8px 0; }
.notice.ok { background: #dff3e3; border-left: 6px solid #1b7f3a; }
.notice.error { background: #fde2e1; border-left: 6px solid #b3261e; }
.pager { margin: 10px 0; }
@media (max-width: 520px) { dl { grid-template-columns: 1fr; } dt { font-weight: bold; } }
@media print { nav.main, header.top form, form.action { display: none; } body { background: #fff; } }
"#;

/// The pages in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Incoming,
    Outgoing,
    Upload,
    Registers,
    None,
}

/// What every clerk page shows around its content.
pub struct Frame<'a> {
    pub title: &'a str,
    pub organ_name: &'a str,
    pub session: Option<&'a ClerkSession>,
    pub current: Nav,
}

/// A whole page, with the clerk pages' headers.
pub fn page(frame: Frame<'_>, content: Markup) -> Response {
    respond(StatusCode::OK, frame, content)
}

/// A whole page with `status`.
pub fn respond(status: StatusCode, frame: Frame<'_>, content: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " — docgate" }
                link rel="stylesheet" href="/clerk/style.css";
            }
            body {
                header.top {
                    h1 { (frame.organ_name) }
                    @if let Some(session) = frame.session {
                        span.meta #clerk-name { (display_name(session)) }
                        form method="post" action="/clerk/logout" {
                            input type="hidden" name="csrf" value=(session.csrf_token);
                            button.secondary type="submit" #logout { "Đăng xuất" }
                        }
                    }
                }
                @if frame.session.is_some() {
                    (navigation(frame.current))
                }
                main { (content) }
            }
        }
    };
    with_headers(status, markup.into_string())
}

fn display_name(session: &ClerkSession) -> &str {
    if session.name.is_empty() {
        &session.username
    } else {
        &session.name
    }
}

fn navigation(current: Nav) -> Markup {
    let item = |nav: Nav, href: &str, text: &str| {
        html! { a href=(href) class=[(nav == current).then_some("current")] { (text) } }
    };
    html! {
        nav.main {
            (item(Nav::Incoming, "/clerk/incoming", "Văn bản đến"))
            (item(Nav::Outgoing, "/clerk/outgoing", "Văn bản đi"))
            (item(Nav::Upload, "/clerk/upload", "Gửi văn bản mới"))
            (item(Nav::Registers, "/clerk/registers", "Sổ văn bản"))
            a href="/" { "Tình trạng thiết bị" }
        }
    }
}

/// The security headers of every clerk page: nothing may run, nothing may frame it,
/// nothing is cached, and nothing leaks to other sites through the Referer.
pub fn with_headers(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers);
    response
}

/// Adds the security headers to any clerk response (pages, files, redirects).
pub fn secure(headers: &mut axum::http::HeaderMap) {
    // A page that set its own policy keeps it (the printable register carries its style).
    crate::web::headers::harden(
        headers,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
}

/// An action or page that failed: the error's message (it says what to do) and a way back.
pub fn error_page(
    organ_name: &str,
    session: Option<&ClerkSession>,
    error: &ApiError,
    back: &str,
) -> Response {
    let frame = Frame {
        title: "Không thực hiện được",
        organ_name,
        session,
        current: Nav::None,
    };
    let content = html! {
        div.notice.error #error role="alert" {
            strong { "Không thực hiện được: " }
            span #error-message { (error.message) }
            " " span.meta { "(" (error.code) ")" }
        }
        p { a href=(back) { "← Quay lại" } }
    };
    respond(error.status, frame, content)
}

/// A 303 to `location` (after a POST: the browser then GETs the result page).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    secure(headers);
    response
}

/// The fixed message of a `?done=` key after an action, if it is one.
pub fn done_message(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "accepted" => {
            "Đã tiếp nhận văn bản và vào sổ văn bản đến; trạng thái 03 đã được gửi cho nơi gửi."
        }
        "refused" => "Đã từ chối văn bản; trạng thái 02 và lý do đã được gửi cho nơi gửi.",
        "status" => "Đã cập nhật trạng thái xử lý và gửi cho nơi gửi.",
        "recalled" => "Đã gửi yêu cầu thu hồi (13) tới các nơi nhận.",
        "withdrawn" => "Văn bản chưa gửi đi nên đã được huỷ ngay.",
        "uploaded" => "Đã nhận văn bản; thiết bị sẽ ký số cơ quan và gửi đi.",
        _ => return None,
    })
}

/// The notice after an action.
pub fn done_notice(done: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = done_message(done) {
            div.notice.ok #done role="status" { (message) }
        }
    }
}
