//! The status page at `/` over plain HTTP: served without a login, Vietnamese by default and
//! English on request, refreshing itself, with the facts in it — and never a document's
//! content (a subject with markup does not appear at all, escaped or not). A failing check
//! is shown with what is wrong and the next step in the page's language: Vietnamese on
//! the default page, English with `?lang=en` (and in the JSON).
//!
//! These tests read the HTML the server sends; tests/browser_status_page.rs loads the page
//! in headless Chromium at phone and desktop widths.

mod common;

use common::{add_axis_section, client, free_port, sample_meta, sample_pdf, GatewayDir};

fn page(url: &str) -> (u16, String, String) {
    let response = client().get(url).send().expect("GET /");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().expect("body"))
}

#[test]
fn the_status_page_shows_the_facts_in_vietnamese_and_english_and_no_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]).start();
    let mut meta = sample_meta();
    meta["subject"] = "<script>alert('trích yếu bí mật')</script>".into();
    let files = [("van-ban.pdf", "application/pdf", sample_pdf("page"))];
    let (status, answer) = gateway.post_document(&meta, &files, None);
    assert_eq!(status, 202, "{answer}");

    let (status, content_type, html) = page(&format!("{}/", gateway.url));
    assert_eq!(status, 200, "no login for the status page");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("<html lang=\"vi\">"), "{html}");
    assert!(html.contains("Hoạt động bình thường"), "{html}");
    assert!(html.contains("http-equiv=\"refresh\""), "refreshes itself");
    assert!(html.contains("name=\"viewport\""), "readable on a phone");
    assert!(!html.contains("<script"), "no script at all");
    assert!(!html.contains("trích yếu bí mật"), "no document content");
    assert!(!html.contains(&gateway.token), "no secret");
    let waiting = html
        .split("id=\"waiting-to-send\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_default();
    assert!(
        waiting.trim_start().starts_with('1'),
        "one waiting: {waiting:?}"
    );
    assert!(html.contains("Chưa cấu hình trục"), "stand-alone, in words");

    let (_, _, english) = page(&format!("{}/?lang=en", gateway.url));
    assert!(english.contains("<html lang=\"en\">"));
    assert!(english.contains("Working normally"), "{english}");
    assert!(english.contains("No axis configured"), "{english}");
}

#[test]
fn a_failing_box_says_so_and_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    let gateway = gateway_dir.start();
    let text = std::fs::read_to_string(&gateway_dir.config).expect("config");
    std::fs::write(&gateway_dir.config, format!("{text}\n[nonsense\n")).expect("break it");
    let (_, _, html) = page(&format!("{}/", gateway.url));
    assert!(html.contains("KHÔNG HOẠT ĐỘNG ĐÚNG"), "{html}");
    assert!(html.contains("class=\"banner failing\""), "{html}");
    assert!(html.contains("Cấu hình"), "names the component: {html}");
    assert!(html.contains("data-kind=\"config_broken\""), "{html}");
    assert!(
        html.contains("Tệp cấu hình không còn đọc được"),
        "says what is wrong, in Vietnamese: {html}"
    );
    assert!(
        html.contains("Cách xử lý: Sửa tệp cấu hình trước khi khởi động lại thiết bị"),
        "says what to do, in Vietnamese: {html}"
    );
    assert!(
        !html.contains("would not start again"),
        "no English on the Vietnamese page: {html}"
    );

    let (_, _, english) = page(&format!("{}/?lang=en", gateway.url));
    assert!(english.contains("would not start again"), "{english}");
    assert!(
        english.contains("What to do: fix it before any restart"),
        "{english}"
    );
    assert!(!english.contains("Sửa tệp cấu hình"), "{english}");
}

#[test]
fn a_lost_link_says_in_vietnamese_what_to_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = GatewayDir::init(dir.path(), &[]);
    add_axis_section(
        &gateway_dir,
        &format!("https://127.0.0.1:{}", free_port()),
        "",
    );
    let gateway = gateway_dir.start();
    let html = (0..200)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            page(&format!("{}/", gateway.url)).2
        })
        .find(|html| html.contains("Mất kết nối tới trục liên thông tỉnh"))
        .expect("the lost link is reported in Vietnamese");
    assert!(html.contains("data-kind=\"link_down\""), "{html}");
    assert!(
        html.contains("Cách xử lý: Kiểm tra cáp mạng và đường truyền tới trục liên thông tỉnh"),
        "{html}"
    );
    let (_, _, english) = page(&format!("{}/?lang=en", gateway.url));
    assert!(english.contains("axis link down"), "{english}");
    assert!(english.contains("check the network cable"), "{english}");
    // The JSON stays English, with the check's stable kind.
    let (_, facts) = gateway.get_json("/api/v1/status");
    let link = facts["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["component"] == "link"))
        .unwrap_or_else(|| panic!("no link check: {facts}"));
    assert_eq!(link["kind"], "link_down", "{link}");
    assert!(
        link["message"]
            .as_str()
            .is_some_and(|message| message.contains("check the network cable")),
        "{link}"
    );
}
