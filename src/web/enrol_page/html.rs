//! The "not provisioned" pages as HTML: the enrolment form (with why the last attempt
//! failed, and why an enrolment on disk could not be used), the page after a successful
//! enrolment, and the refusal of a request from another site. Vietnamese first with
//! English beside it, in the status page's look (its stylesheet, plus the form's few
//! rules). Built with `maud`, which escapes every value; the code typed is never written
//! into a page. Renders; decides nothing.

use std::sync::LazyLock;

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The status page's stylesheet and the form's rules: the page's only inline code,
/// allowed by its hash.
pub(super) static STYLE: LazyLock<String> =
    LazyLock::new(|| format!("{}{FORM_STYLE}", crate::web::status_page::STYLE));

const FORM_STYLE: &str = r#"
.en { color: #555; font-weight: normal; }
p.en, li .en { display: block; }
ol { padding-left: 20px; margin: 4px 0; } ol li { margin: 6px 0; }
label { display: block; margin: 10px 0 2px; font-weight: bold; }
input[type=text], input[type=url] { width: 100%; max-width: 520px; padding: 9px; font-size: 1.05rem;
  border: 1px solid #888; border-radius: 4px; }
input#code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; letter-spacing: .05em; }
button { margin-top: 12px; padding: 10px 16px; font-size: 1rem; border-radius: 6px; border: 1px solid #0b4f8a;
  background: #0b4f8a; color: #fff; cursor: pointer; }
.notice { padding: 10px 12px; border-radius: 6px; margin: 8px 0; overflow-wrap: anywhere; }
.notice.error { background: #fde2e1; border-left: 6px solid #b3261e; }
.notice .detail { display: block; margin-top: 4px; }
button .en { color: #dce7f3; }
section > p:first-child { margin-top: 0; }
.meta { color: #444; font-size: .9rem; }
"#;

/// Seconds before the page after an enrolment loads `/` (the gateway by then).
pub(super) const RELOAD_SECS: u32 = 3;

/// Something to tell above the form: what went wrong, in both languages, and the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub vietnamese: &'static str,
    pub english: &'static str,
    /// The error as it was (English), already free of the code typed.
    pub detail: Option<String>,
    /// The axis's refusal code (`code_used`, `agency_mismatch`, ...).
    pub refusal: Option<&'static str>,
}

/// What the form page shows.
pub(super) struct FormView<'a> {
    /// The axis address in the field (proposed by the configuration, or as typed).
    pub axis_url: &'a str,
    /// The form's token (also in its cookie).
    pub csrf: &'a str,
    pub problem: Option<&'a Problem>,
    /// Why the enrolment on disk could not be used, when one is there.
    pub damaged: Option<&'a str>,
}

/// One phrase in Vietnamese with its English beside it.
fn both(vietnamese: &str, english: &str) -> Markup {
    html! { (vietnamese) span.en lang="en" { " / " (english) } }
}

/// A paragraph in Vietnamese, then the same in English.
fn paragraph(vietnamese: &str, english: &str) -> Markup {
    html! { p { (vietnamese) } p.en lang="en" { (english) } }
}

fn frame(title: &str, refresh: Option<u32>, banner: Markup, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh {
                    meta http-equiv="refresh" content=(format!("{seconds};url=/"));
                }
                title { "docgate — " (title) }
                style { (PreEscaped(STYLE.as_str())) }
            }
            body {
                header {
                    h1 { "docgate" }
                    p { (both("Cổng trao đổi văn bản điện tử", "Document exchange gateway")) }
                }
                (banner)
                (content)
                nav {
                    (both("Phiên bản", "Version")) ": " (env!("CARGO_PKG_VERSION"))
                }
            }
        }
    }
}

/// The page of a box that is not enrolled: what to do, and the form.
pub(super) fn form_page(view: &FormView<'_>) -> Markup {
    let banner = html! {
        div.banner.warning id="overall" { (both("Chưa được cấp phép", "Not provisioned")) }
    };
    let content = html! {
        @if let Some(problem) = view.problem {
            div.notice.error id="enrol-error" role="alert" {
                strong { (both(problem.vietnamese, problem.english)) }
                @if let Some(detail) = &problem.detail {
                    span.detail id="enrol-error-message" { (detail) }
                }
                @if let Some(refusal) = problem.refusal {
                    " " span.meta id="enrol-error-code" { "(" (refusal) ")" }
                }
            }
        }
        @if let Some(damaged) = view.damaged {
            section.failing id="damaged" {
                h2 { (both("Bản cấp phép trên thiết bị không dùng được", "The enrolment on this box cannot be used")) }
                p id="last-error" { (damaged) }
                (paragraph(
                    "Nhập mã cấp phép mới bên dưới để cấp phép lại cho thiết bị.",
                    "Enter a new code below to enrol the box again.",
                ))
            }
        }
        section id="what-to-do" {
            h2 { (both("Cần làm gì", "What to do")) }
            (paragraph(
                "Thiết bị này chưa được cấp phép kết nối vào trục liên thông văn bản của tỉnh nên chưa gửi, nhận được văn bản.",
                "This box is not yet enrolled with the provincial document exchange axis, so it cannot send or receive documents.",
            ))
            ol {
                li {
                    "Nhập địa chỉ trục liên thông của tỉnh (bắt đầu bằng https://)."
                    span.en lang="en" { "Type the address of the provincial axis (it starts with https://)." }
                }
                li {
                    "Nhập mã cấp phép gồm 32 ký tự do bộ phận CNTT của tỉnh cung cấp (có hoặc không có dấu gạch ngang)."
                    span.en lang="en" { "Type the 32-character code from provincial IT (with or without the dashes)." }
                }
                li {
                    "Bấm «Cấp phép». Thiết bị tự khởi động phần trao đổi văn bản sau khi được cấp phép."
                    span.en lang="en" { "Press Enrol. Once enrolled, the box starts the gateway by itself." }
                }
            }
        }
        section id="enrol" {
            h2 { (both("Cấp phép", "Enrol")) }
            form method="post" action="/enrol" id="enrol-form" {
                input type="hidden" name="csrf" value=(view.csrf);
                label for="axis_url" { (both("Địa chỉ trục liên thông", "Axis address")) }
                input type="url" id="axis_url" name="axis_url" value=(view.axis_url)
                    placeholder="https://" required maxlength="512"
                    autocomplete="off" autocapitalize="none" spellcheck="false";
                label for="code" { (both("Mã cấp phép (32 ký tự)", "Enrolment code (32 characters)")) }
                input type="text" id="code" name="code" value=""
                    placeholder="XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX" required maxlength="64"
                    autocomplete="off" autocapitalize="characters" spellcheck="false";
                button type="submit" id="enrol-submit" { (both("Cấp phép", "Enrol")) }
            }
        }
    };
    frame(
        "Chưa được cấp phép / Not provisioned",
        None,
        banner,
        content,
    )
}

/// The page after a successful enrolment: the gateway is starting, the page reloads.
pub(super) fn enrolled_page(agency_name: &str, agency_code: &str) -> Markup {
    let banner = html! {
        div.banner.ok id="overall" {
            span id="enrolled" { "Đã cấp phép cho " (agency_name) " (" (agency_code) ")" }
            span.en lang="en" { " / Enrolled for " (agency_name) " (" (agency_code) ")" }
        }
    };
    let content = html! {
        section id="starting" {
            (paragraph(
                "Phần trao đổi văn bản đang khởi động; trang này sẽ tự tải lại sau vài giây.",
                "The gateway is starting; this page reloads in a few seconds.",
            ))
            p { a href="/" { (both("Tải lại ngay", "Reload now")) } }
        }
    };
    frame("Đã cấp phép / Enrolled", Some(RELOAD_SECS), banner, content)
}

/// A request refused before its form was looked at (it came from another site).
pub(super) fn refused_page(vietnamese: &str, english: &str) -> Markup {
    let banner = html! {
        div.banner.failing id="overall" { (both("Yêu cầu bị từ chối", "Request refused")) }
    };
    let content = html! {
        section id="refused" {
            (paragraph(vietnamese, english))
            p { a href="/" { (both("Mở lại trang cấp phép", "Open the enrolment page again")) } }
        }
    };
    frame(
        "Yêu cầu bị từ chối / Request refused",
        None,
        banner,
        content,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_escapes_what_it_shows_and_never_holds_a_code() {
        let problem = Problem {
            vietnamese: "Không cấp phép được",
            english: "Enrolment failed",
            detail: Some("cannot reach <b>axis</b>".into()),
            refusal: Some("code_used"),
        };
        let page = form_page(&FormView {
            axis_url: "https://hub.test/\"><script>alert(1)</script>",
            csrf: "token",
            problem: Some(&problem),
            damaged: Some("generation 3 is <damaged>"),
        })
        .into_string();
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(page.contains("cannot reach &lt;b&gt;axis&lt;/b&gt;"));
        assert!(page.contains("generation 3 is &lt;damaged&gt;"));
        assert!(page.contains("(code_used)"));
        assert!(
            page.contains("name=\"code\" value=\"\""),
            "the code field is empty"
        );
        assert!(page.contains("Chưa được cấp phép"));
        assert!(page.contains("Not provisioned"));
        assert!(
            !page.contains("http-equiv=\"refresh\""),
            "the form does not reload"
        );
    }

    #[test]
    fn the_enrolled_page_names_the_agency_and_reloads() {
        let page = enrolled_page("UBND xã <Mới>", "000.01.20.H41").into_string();
        assert!(page.contains("Đã cấp phép cho UBND xã &lt;Mới&gt; (000.01.20.H41)"));
        assert!(page.contains("content=\"3;url=/\""), "{page}");
    }
}
