//! `GET /`: the status page field staff look at on a phone or the office PC. Server-rendered
//! HTML with no script, readable at 360 px and printable, Vietnamese by default
//! (`?lang=en` for English), refreshing itself every 30 s. Shows the status facts — counts
//! and states only, never a document's content — so it needs no login. Every problem is
//! shown with its next step in the page's language (the checks' findings are worded in
//! both; the variable parts, such as an error text from the network, stay as they are).
//! The enrolment with provincial IT has its section (`provisioning.rs`). Built with
//! `maud`, which escapes every value it interpolates, and served with a policy that lets
//! nothing run but its own stylesheet ([`secure_page`], shared with the "not provisioned"
//! page).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;

use self::provisioning::{provisioning_section, standing_words};
use super::facts::{self, Check, Severity, StatusFacts, Text};
use super::AppState;
use crate::enrolment::status::Standing;
use crate::sync::TokenPresence;

mod provisioning;
mod update;

/// Seconds between automatic refreshes.
const REFRESH_SECS: u32 = 30;

/// The stylesheet: fixed text, no value from a document.
pub(crate) const STYLE: &str = r#"
* { box-sizing: border-box; }
body { font-family: system-ui, "Segoe UI", Roboto, Arial, sans-serif; margin: 0; padding: 12px;
       max-width: 860px; margin: 0 auto; color: #111; background: #f6f6f6; font-size: 16px; }
header h1 { font-size: 1.25rem; margin: 0 0 2px; }
header p { margin: 0 0 8px; color: #444; }
.banner { padding: 12px; border-radius: 6px; font-weight: bold; font-size: 1.1rem; margin: 8px 0; }
.ok { background: #dff3e3; border-left: 6px solid #1b7f3a; }
.warning { background: #fff4d6; border-left: 6px solid #b77900; }
.failing { background: #fde2e1; border-left: 6px solid #b3261e; }
section { background: #fff; border-radius: 6px; padding: 10px 12px; margin: 8px 0; }
section h2 { font-size: 1rem; margin: 0 0 6px; }
dl { display: grid; grid-template-columns: minmax(9em, 40%) 1fr; gap: 4px 10px; margin: 0; }
dt { color: #444; } dd { margin: 0; overflow-wrap: anywhere; }
ul.checks { padding-left: 18px; margin: 4px 0; } ul.checks li { margin: 4px 0; }
.next { display: block; margin-top: 2px; }
nav { font-size: .9rem; margin-top: 10px; color: #444; }
@media (max-width: 420px) { dl { grid-template-columns: 1fr; } dt { font-weight: bold; } }
@media print { body { background: #fff; } nav { display: none; } section { border: 1px solid #999; } }
"#;

/// The page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

/// Query of `GET /`.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
}

/// `GET /`.
pub async fn page(State(state): State<AppState>, Query(query): Query<PageQuery>) -> Response {
    let lang = match query.lang.as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Vi,
    };
    let facts = facts::gather(&state).await;
    let mut response = render(&facts, lang).into_string().into_response();
    secure_page(response.headers_mut(), STYLE);
    response
}

/// The headers of the public pages (this one and the "not provisioned" page): HTML whose
/// only inline code is its stylesheet `style` (allowed by its hash, so no script can
/// run), that nothing may frame or cache, and that leaks nothing through the Referer.
pub(crate) fn secure_page(headers: &mut HeaderMap, style: &str) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(style)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    super::headers::harden(headers, "default-src 'none'; frame-ancestors 'none'");
}

/// Nothing but the inline stylesheet `style` and forms posted to this box.
fn content_security_policy(style: &str) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, style.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// One phrase in both languages.
fn t(lang: Lang, vi: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

fn overall(facts: &StatusFacts) -> Severity {
    let worst = |severity| facts.checks.iter().any(|check| check.severity == severity);
    if worst(Severity::Failing) {
        Severity::Failing
    } else if worst(Severity::Warning) {
        Severity::Warning
    } else {
        Severity::Ok
    }
}

fn class(severity: Severity) -> &'static str {
    match severity {
        Severity::Ok => "ok",
        Severity::Warning => "warning",
        Severity::Failing => "failing",
    }
}

/// The whole page.
pub fn render(facts: &StatusFacts, lang: Lang) -> Markup {
    let state = overall(facts);
    let headline = match state {
        Severity::Ok => t(lang, "Hoạt động bình thường", "Working normally"),
        Severity::Warning => t(
            lang,
            "Đang hoạt động, có cảnh báo",
            "Working, with warnings",
        ),
        Severity::Failing => t(
            lang,
            "KHÔNG HOẠT ĐỘNG ĐÚNG — xem bên dưới",
            "NOT WORKING — see below",
        ),
    };
    html! {
        (DOCTYPE)
        html lang=(if lang == Lang::Vi { "vi" } else { "en" }) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECS);
                title { "docgate — " (facts.agency.organ_name) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (facts.agency.organ_name) }
                    p { (t(lang, "Mã định danh", "Agency code")) ": " (facts.agency.organ_id) }
                }
                div.banner.(class(state)) id="overall" { (headline) }
                (problems(facts, lang))
                (link_section(facts, lang))
                (queues_section(facts, lang))
                (seal_section(facts, lang))
                (certificates_section(facts, lang))
                (provisioning_section(facts, lang))
                (box_section(facts, lang))
                nav {
                    a href="?lang=vi" { "Tiếng Việt" } " · " a href="?lang=en" { "English" }
                    " · " (t(lang, "Tự làm mới mỗi 30 giây", "Refreshes every 30 s"))
                    " · " a #clerk-login href="/clerk/login" { (t(lang, "Văn thư đăng nhập", "Clerk login")) }
                }
            }
        }
    }
}

fn component_name(lang: Lang, component: &str) -> &'static str {
    match component {
        "store" => t(lang, "Cơ sở dữ liệu", "Database"),
        "config" => t(lang, "Cấu hình", "Configuration"),
        "link" => t(lang, "Kết nối trục liên thông", "Link to the axis"),
        "token" => t(
            lang,
            "Chữ ký số cơ quan (USB token)",
            "Agency seal (USB token)",
        ),
        "certificate" => t(lang, "Chứng thư số", "Certificate"),
        "disk" => t(lang, "Dung lượng lưu trữ", "Storage"),
        "clock" => t(lang, "Đồng hồ", "Clock"),
        "tsa" => t(lang, "Dịch vụ cấp dấu thời gian", "Timestamp authority"),
        "directory" => t(lang, "Danh bạ cơ quan", "Agency directory"),
        "provisioning" => t(lang, "Cấp phép kết nối trục", "Enrolment"),
        "update" => t(lang, "Cập nhật hệ thống", "System update"),
        _ => t(lang, "Khác", "Other"),
    }
}

/// A check's finding in the page's language.
fn words(check: &Check, lang: Lang) -> Text {
    match lang {
        Lang::Vi => check.finding.vietnamese(),
        Lang::En => check.finding.english(),
    }
}

/// Every check that is not ok, worst first, with what to do.
fn problems(facts: &StatusFacts, lang: Lang) -> Markup {
    let mut shown: Vec<&Check> = facts
        .checks
        .iter()
        .filter(|check| check.severity != Severity::Ok)
        .collect();
    shown.sort_by_key(|check| check.severity != Severity::Failing);
    html! {
        @if !shown.is_empty() {
            section id="problems" {
                h2 { (t(lang, "Cần xử lý", "Needs attention")) }
                ul.checks {
                    @for check in shown {
                        @let text = words(check, lang);
                        li.(class(check.severity)) data-kind=(check.kind) {
                            strong { (component_name(lang, check.component)) ": " }
                            (text.what)
                            @if let Some(step) = &text.next_step {
                                span.next { (t(lang, "Cách xử lý: ", "What to do: ")) (step) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn or_dash(value: Option<&str>) -> &str {
    value.unwrap_or("—")
}

fn link_section(facts: &StatusFacts, lang: Lang) -> Markup {
    let link = &facts.link;
    html! {
        section id="link" {
            h2 { (t(lang, "Kết nối trục liên thông", "Link to the axis")) }
            dl {
                @if !link.configured {
                    dt { (t(lang, "Trạng thái", "State")) }
                    dd { (t(lang, "Chưa cấu hình trục (chạy độc lập)", "No axis configured (stand-alone)")) }
                } @else {
                    dt { (t(lang, "Trạng thái", "State")) }
                    dd.(if link.connected { "ok" } else { "failing" }) {
                        (if link.connected { t(lang, "Đã kết nối", "Connected") } else { t(lang, "MẤT KẾT NỐI", "DOWN") })
                    }
                    dt { (t(lang, "Lần thành công gần nhất", "Last success")) } dd { (or_dash(link.last_success.as_deref())) }
                    @if !link.connected {
                        dt { (t(lang, "Thử lại lúc", "Next retry")) } dd { (or_dash(link.next_try.as_deref())) }
                        dt { (t(lang, "Lỗi", "Error")) } dd { (or_dash(link.last_error.as_deref())) }
                    }
                    dt { (t(lang, "Danh bạ cơ quan", "Agency directory")) }
                    dd id="directory" { (directory_state(facts, lang)) }
                }
            }
        }
    }
}

/// How many agencies the cached directory holds and how old it is.
fn directory_state(facts: &StatusFacts, lang: Lang) -> Markup {
    let directory = &facts.directory;
    html! {
        @match directory.age_secs {
            None if directory.agencies == 0 => (t(lang, "chưa tải về (chưa kiểm tra nơi nhận)", "not fetched yet (recipients not checked)")),
            refreshed => {
                (directory.agencies) " " (t(lang, "cơ quan", "agencies"))
                @if let Some(seconds) = refreshed {
                    ", " (t(lang, "cập nhật", "refreshed")) " " (age(lang, seconds)) " " (t(lang, "trước", "ago"))
                }
            }
        }
    }
}

fn age(lang: Lang, seconds: i64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match lang {
        Lang::Vi if days > 0 => format!("{days} ngày {hours} giờ"),
        Lang::Vi if hours > 0 => format!("{hours} giờ {minutes} phút"),
        Lang::Vi => format!("{minutes} phút"),
        Lang::En if days > 0 => format!("{days} d {hours} h"),
        Lang::En if hours > 0 => format!("{hours} h {minutes} min"),
        Lang::En => format!("{minutes} min"),
    }
}

fn queues_section(facts: &StatusFacts, lang: Lang) -> Markup {
    let queues = &facts.queues;
    html! {
        section id="queues" {
            h2 { (t(lang, "Văn bản", "Documents")) }
            dl {
                dt { (t(lang, "Chờ gửi", "Waiting to be sent")) }
                dd id="waiting-to-send" {
                    (queues.waiting_to_send)
                    @if let Some(seconds) = facts.oldest_waiting_secs {
                        " (" (t(lang, "lâu nhất", "oldest")) " " (age(lang, seconds)) ")"
                    }
                }
                dt { (t(lang, "Đã gửi, chờ trục xác nhận", "Sent, not yet confirmed")) } dd { (queues.sent_unconfirmed) }
                dt { (t(lang, "Gửi lỗi", "Failed")) } dd.(if queues.failed_outgoing > 0 { "failing" } else { "" }) { (queues.failed_outgoing) }
                dt { (t(lang, "Văn bản đến chờ văn thư", "Incoming awaiting the clerk")) } dd id="awaiting-clerk" { (queues.awaiting_clerk) }
                dt { (t(lang, "Văn bản đến quá hạn", "Incoming overdue")) } dd.(if queues.overdue > 0 { "warning" } else { "" }) { (queues.overdue) }
                dt { (t(lang, "Gói tin lỗi bị cách ly", "Quarantined packets")) } dd { (queues.quarantined_incoming) }
            }
        }
    }
}

fn seal_section(facts: &StatusFacts, lang: Lang) -> Markup {
    let seal = &facts.seal;
    html! {
        section id="seal" {
            h2 { (t(lang, "Chữ ký số cơ quan", "Agency seal")) }
            dl {
                dt { (t(lang, "Trạng thái", "State")) }
                dd {
                    @if !seal.configured {
                        (t(lang, "Chưa cấu hình", "Not configured"))
                    } @else if let Some(problem) = &seal.problem {
                        span.failing { (t(lang, "Đang chờ: ", "Waiting: ")) } (problem)
                    } @else if seal.token.as_ref().is_some_and(|token| {
                        !matches!(token.presence, TokenPresence::Ready | TokenPresence::Starting)
                    }) {
                        span.failing { (t(lang, "Chưa ký số được", "Cannot seal")) }
                    } @else {
                        (t(lang, "Sẵn sàng", "Ready"))
                    }
                }
                @if let Some(label) = &seal.token_label {
                    dt { "USB token" }
                    dd id="token" {
                        (label)
                        @if let Some(token) = &seal.token {
                            " — " (token_state(&token.presence, lang))
                        }
                    }
                }
                @if seal.configured {
                    dt { (t(lang, "Dịch vụ cấp dấu thời gian", "Timestamp authority")) }
                    dd id="tsa" { (tsa_state(facts, lang)) }
                }
            }
        }
    }
}

/// The token's state in a few words (the problems list says what to do).
fn token_state(presence: &TokenPresence, lang: Lang) -> Markup {
    let (severity, words) = match presence {
        TokenPresence::Ready => (
            Severity::Ok,
            t(lang, "đã cắm, đã đăng nhập", "present, logged in"),
        ),
        TokenPresence::Starting => (Severity::Warning, t(lang, "đang tìm", "looking for it")),
        TokenPresence::Absent { .. } => (
            Severity::Failing,
            t(lang, "không tìm thấy (chưa cắm?)", "not found (unplugged?)"),
        ),
        TokenPresence::PinRefused { .. } => (
            Severity::Failing,
            t(lang, "mã PIN bị từ chối", "PIN refused"),
        ),
        TokenPresence::PinLocked => (Severity::Failing, t(lang, "mã PIN bị khóa", "PIN locked")),
        TokenPresence::Unusable { .. } => (
            Severity::Failing,
            t(lang, "không dùng được", "cannot be used"),
        ),
    };
    html! {
        @if severity == Severity::Ok { (words) } @else { span.(class(severity)) { (words) } }
    }
}

fn tsa_state(facts: &StatusFacts, lang: Lang) -> Markup {
    let seal = &facts.seal;
    let contact = &seal.tsa.contact;
    html! {
        @match (seal.tsa_url.as_deref(), seal.tsa.state) {
            (None, _) => (t(lang, "Chưa cấu hình", "Not configured")),
            (Some(url), "failing") => {
                (url) " — " span.warning { (t(lang, "không trả lời", "not answering")) }
                " (" (or_dash(contact.last_failure.as_deref())) ")"
            }
            (Some(url), "answering") => {
                (url) " — " (t(lang, "trả lời lúc", "answered at")) " "
                (or_dash(contact.last_success.as_deref()))
            }
            (Some(url), _) => { (url) " — " (t(lang, "chưa thử", "not tried yet")) }
        }
    }
}

fn certificates_section(facts: &StatusFacts, lang: Lang) -> Markup {
    html! {
        @if !facts.certificates.is_empty() {
            section id="certificates" {
                h2 { (t(lang, "Chứng thư số", "Certificates")) }
                dl {
                    @for certificate in &facts.certificates {
                        dt {
                            (match certificate.role {
                                "link" => t(lang, "Kết nối trục", "Axis link"),
                                "link-ca" => t(lang, "CA của trục", "Axis CA"),
                                "agency" => t(lang, "Chữ ký cơ quan", "Agency seal"),
                                _ => t(lang, "Khác", "Other"),
                            })
                        }
                        dd {
                            @match certificate.seconds_left {
                                Some(seconds) if seconds > 0 => {
                                    (seconds / 86_400) " " (t(lang, "ngày còn lại", "days left"))
                                    " (" (or_dash(certificate.not_after.as_deref())) ")"
                                }
                                Some(_) => span.failing { (t(lang, "ĐÃ HẾT HẠN", "EXPIRED")) },
                                None => span.failing { (t(lang, "Không đọc được", "Unreadable")) },
                            }
                        }
                    }
                }
            }
        }
    }
}

fn box_section(facts: &StatusFacts, lang: Lang) -> Markup {
    let disk = &facts.disk;
    html! {
        section id="box" {
            h2 { (t(lang, "Thiết bị", "This box")) }
            dl {
                dt { (t(lang, "Dung lượng", "Storage")) }
                dd { (disk.percent) "% " (t(lang, "của hạn mức", "of the quota")) " (" (disk.used_bytes / 1_048_576) " / " (disk.quota_bytes / 1_048_576) " MiB)" }
                @if facts.provisioning.standing == Standing::Manual {
                    dt { (t(lang, "Cấp phép", "Enrolment")) }
                    dd id="standing" { (standing_words(Standing::Manual, lang).1) }
                }
                dt { (t(lang, "Giờ hệ thống", "Clock")) } dd { (facts.now) }
                dt { (t(lang, "Phiên bản", "Version")) } dd { (facts.version) }
                (update::update_rows(facts, lang))
                dt { (t(lang, "Đã chạy", "Up for")) } dd { (age(lang, facts.uptime_secs)) }
            }
        }
    }
}
