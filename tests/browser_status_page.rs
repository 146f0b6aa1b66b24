//! The status page at `/` in a real browser: headless Chromium at a phone's width (360 px)
//! and a desktop's loads it from a running gateway, the test reads the facts from the
//! rendered DOM, switches to English by clicking the language link, checks that nothing
//! scrolls sideways on the phone, and keeps a screenshot of each page at each width under
//! `target/browser-screenshots/`. A document whose subject is markup is in the box: the
//! page shows counts only, and no script, element or dialog comes from it.
//!
//! Needs Debian's `chromium` and `chromium-driver` (tools/test.sh installs them as root);
//! without them the test fails and says so.

mod common;

use common::browser::{Browser, Window, DESKTOP, PHONE};
use common::{sample_meta, sample_pdf, GatewayDir};

const AGENCY: &str = "Ủy ban nhân dân tỉnh Thử nghiệm";
const HOSTILE_SUBJECT: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

#[test]
fn the_status_page_in_a_browser_at_phone_and_desktop_width() {
    let dir = tempfile::tempdir().expect("tempdir");
    let organ_name = format!("\"{AGENCY}\"");
    let gateway = GatewayDir::init(dir.path(), &[("organ_name", &organ_name)]).start();
    let mut meta = sample_meta();
    meta["subject"] = HOSTILE_SUBJECT.into();
    let files = [("van-ban.pdf", "application/pdf", sample_pdf("browser"))];
    let (status, answer) = gateway.post_document(&meta, &files, None);
    assert_eq!(status, 202, "{answer}");

    for window in [PHONE, DESKTOP] {
        let browser = Browser::start("status_page", window);
        browser.goto(&format!("{}/", gateway.url));
        vietnamese_page(&browser);
        nothing_from_the_document(&browser);
        fits(&browser, window);
        browser.screenshot("vi");

        browser.click("nav a[href='?lang=en']");
        assert!(
            browser.current_url().ends_with("/?lang=en"),
            "{}",
            browser.current_url()
        );
        english_page(&browser);
        nothing_from_the_document(&browser);
        fits(&browser, window);
        browser.screenshot("en");
    }
}

/// The Vietnamese default: agency, overall state, link state and queue counts.
fn vietnamese_page(browser: &Browser) {
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("vi"));
    assert_eq!(browser.title(), format!("docgate — {AGENCY}"));
    assert_eq!(browser.text("h1"), AGENCY);
    assert!(
        browser.text("header").contains("000.00.01.H41"),
        "agency code: {}",
        browser.text("header")
    );
    assert_eq!(browser.text("#overall"), "Hoạt động bình thường");
    assert!(
        browser
            .attr("#overall", "class")
            .is_some_and(|class| class.contains("ok")),
        "{:?}",
        browser.attr("#overall", "class")
    );
    assert_eq!(browser.count("#problems"), 0, "nothing needs attention");
    let link = browser.text("#link");
    assert!(link.contains("Chưa cấu hình trục (chạy độc lập)"), "{link}");
    queue_counts(browser);
}

/// The same facts in English.
fn english_page(browser: &Browser) {
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("en"));
    assert_eq!(browser.text("h1"), AGENCY);
    assert_eq!(browser.text("#overall"), "Working normally");
    let link = browser.text("#link");
    assert!(link.contains("No axis configured (stand-alone)"), "{link}");
    assert!(browser.text("#queues").contains("Waiting to be sent"));
    queue_counts(browser);
}

/// One document waits to be sent; nothing has come in.
fn queue_counts(browser: &Browser) {
    let waiting = browser.text("#waiting-to-send");
    assert!(waiting.starts_with("1 "), "one waiting: {waiting:?}");
    assert_eq!(browser.text("#awaiting-clerk"), "0");
}

/// No script at all, no element or dialog from the hostile subject, no subject text, no
/// cookie.
fn nothing_from_the_document(browser: &Browser) {
    assert_eq!(browser.count("script"), 0, "the page has no script");
    assert_eq!(browser.count("img"), 0, "no injected element");
    assert_eq!(browser.dialog(), None, "no dialog opened");
    assert!(
        browser.cookies().is_empty(),
        "no session on the public page"
    );
    let body = browser.text("body");
    assert!(!body.contains("alert("), "no document content: {body}");
}

/// The page is laid out at the window's width and does not scroll sideways.
fn fits(browser: &Browser, window: Window) {
    let viewport = browser.execute("return window.innerWidth", vec![]);
    assert_eq!(viewport, u64::from(window.width), "viewport width");
    let width = browser.scroll_width();
    assert!(
        width <= u64::from(window.width),
        "the page is {width} px wide in a {} px window",
        window.width
    );
}
