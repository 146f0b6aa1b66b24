//! The clerk pages in a real browser: the axis and two gateways run as real processes
//! (the demo's setup, with its clerk accounts), and headless Chromium — at a phone's width
//! and at a desktop's — logs in, reads the incoming list, opens a document, accepts it (03)
//! by clicking, sees the outgoing list with each recipient's status, uploads a new document
//! through the form, and opens the registers. Each page at each width is kept as a
//! screenshot under `target/browser-screenshots/`; the key facts are read from the rendered
//! DOM and checked against what the gateways' APIs say.
//!
//! Needs Debian's `chromium` and `chromium-driver` (tools/test.sh installs them as root).

mod common;

use std::time::Duration;

use common::browser::{Browser, Window, DESKTOP, PHONE};
use common::exchange::{documents, wait_for, Exchange};
use common::GatewayProcess;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);
const HOSTILE_SUBJECT: &str = "<script>alert('x')</script> Về việc <b>họp</b>";

struct Office {
    name: &'static str,
    process: GatewayProcess,
    username: String,
    password: String,
    organ_id: String,
}

fn office(exchange: &Exchange, name: &'static str) -> Office {
    let clerk = &exchange.manifest["gateways"][name]["clerk"];
    Office {
        name,
        process: exchange.gateway(name).start(),
        username: clerk["username"].as_str().expect("demo clerk").to_string(),
        password: clerk["password"]
            .as_str()
            .expect("demo password")
            .to_string(),
        organ_id: exchange.organ_id(name),
    }
}

/// The district sends the commune a document through its API; returns the commune's id.
fn send(district: &Office, commune: &Office, subject: &str) -> String {
    let meta = json!({
        "to": [commune.organ_id],
        "subject": subject,
        "type": {"code": 1, "name": "Công văn"},
        "code_number": null,
        "code_notation": "UBND-VP",
        "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
        "due_date": "2026-12-31",
    });
    let files = [(
        "cong-van.pdf",
        "application/pdf",
        common::sample_pdf(subject),
    )];
    let (status, answer) = district.process.post_document(&meta, &files, None);
    assert_eq!(status, 202, "{answer}");
    received(commune, subject)["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// The commune's incoming document with `subject`, once it has arrived.
fn received(commune: &Office, subject: &str) -> Value {
    wait_for(LIMIT, || {
        documents(&commune.process, "in")
            .into_iter()
            .find(|document| document["subject"] == subject)
    })
    .unwrap_or_else(|| panic!("{subject:?} did not arrive"))
}

fn log_in(browser: &Browser, office: &Office) {
    browser.goto(&format!("{}/clerk/incoming", office.process.url));
    assert!(
        browser.current_url().ends_with("/clerk/login"),
        "anonymous: sent to the login page"
    );
    assert_eq!(browser.count("#login input[name=csrf]"), 1);
    browser.screenshot(&format!("{}-login", office.name));
    browser.fill("#username", &office.username);
    browser.fill("#password", &office.password);
    browser.click("#login-submit");
    let logged_in = wait_for(Duration::from_secs(15), || {
        (browser.count("#clerk-name") > 0).then_some(())
    });
    if logged_in.is_none() {
        browser.screenshot(&format!("{}-login-failed", office.name));
        panic!("login failed: {}", browser.text("body"));
    }
    assert!(
        browser.current_url().ends_with("/clerk/incoming"),
        "{}",
        browser.current_url()
    );
    let session = browser
        .cookies()
        .into_iter()
        .find(|cookie| cookie.name() == "docgate_session");
    let session = session.expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
}

fn fits(browser: &Browser, window: Window, page: &str) {
    let width = browser.scroll_width();
    assert!(
        width <= u64::from(window.width),
        "{page} scrolls sideways at {} px: {width}",
        window.width
    );
    assert!(browser.dialog().is_none(), "{page}: a dialog opened");
    assert_eq!(browser.count("script"), 0, "{page} runs no script");
}

#[test]
fn a_clerk_accepts_uploads_and_reads_the_registers_in_a_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exchange = Exchange::setup(dir.path());
    exchange.set_gateway_option("axis", "retry_max_ms", "500");
    let _axis = exchange.axis.start();
    let district = office(&exchange, "district");
    let commune = office(&exchange, "commune");
    let first = send(&district, &commune, HOSTILE_SUBJECT);
    let second = send(&district, &commune, "Về việc thứ hai");
    let third = send(&district, &commune, "Về việc gửi nhầm");

    for (window, document) in [(PHONE, &first), (DESKTOP, &second)] {
        let browser = Browser::start("clerk", window);
        log_in(&browser, &commune);
        incoming_list(&browser, window);
        if document == &first {
            // Not accepted yet: listed, its markup shown as the text it is.
            let subjects = browser.texts("#incoming-list a.subject");
            assert!(
                subjects.iter().any(|subject| subject == HOSTILE_SUBJECT),
                "{subjects:?}"
            );
        }
        accept_by_clicking(&browser, window, &commune, document);
        if window.width == DESKTOP.width {
            later_status_by_clicking(&browser, &commune, document);
            refuse_by_clicking(&browser, &commune, &third);
        }
        registers(&browser, window, &district);
        outgoing_and_upload(window, &district, &commune);
    }
}

fn incoming_list(browser: &Browser, window: Window) {
    assert!(browser.count("#incoming-list li.document") >= 1);
    let subjects = browser.texts("#incoming-list a.subject");
    assert!(
        subjects.iter().any(|subject| subject == "Về việc thứ hai"),
        "{subjects:?}"
    );
    // The markup in the subject is text: no <b> or <script> element came from it.
    assert_eq!(browser.count("#incoming-list b"), 0);
    fits(browser, window, "incoming");
    browser.screenshot("incoming");
}

fn accept_by_clicking(browser: &Browser, window: Window, commune: &Office, id: &str) {
    browser.click(&format!("li.document[data-id='{id}'] a.subject"));
    browser.wait_for("#particulars");
    assert!(
        browser.text("#business-status").contains("01"),
        "{}",
        browser.text("#business-status")
    );
    assert!(
        browser.text("#sender").contains("H41"),
        "{}",
        browser.text("#sender")
    );
    assert_eq!(browser.text("#incoming-number"), "chưa vào sổ");
    assert!(browser.count("#files a.file") >= 1);
    fits(browser, window, "document");
    browser.screenshot("document");

    browser.fill("#accept-note", "Chuyển phòng Văn hóa");
    browser.click("#accept");
    browser.wait_for_text("#business-status", "03");
    browser.wait_for("#done");
    let number: u32 = browser.text("#incoming-number").parse().expect("a số đến");
    fits(browser, window, "accepted");
    browser.screenshot("accepted");
    // The API agrees: registered with that number, status 03 on its way to the sender.
    let (_, document) = commune.process.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(document["business_status"], "03", "{document}");
    assert_eq!(document["incoming_number"], number);
    assert_eq!(
        browser.count("#accept"),
        0,
        "accepted once: no accept button any more"
    );
}

/// After 03, the clerk moves the document on: 05 (being handled).
fn later_status_by_clicking(browser: &Browser, commune: &Office, id: &str) {
    browser.click("#status-code option[value='05']");
    browser.fill("#status-note", "Đang xử lý");
    browser.click("#set-status");
    // The page before may still show #done (from the 03); wait for the new page's status.
    browser.wait_for_text("#business-status", "05");
    browser.wait_for("#done");
    let (_, document) = commune.process.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(document["business_status"], "05", "{document}");
    browser.screenshot("status-05");
}

/// The clerk refuses a misaddressed document (02) with the reason the sender will read.
fn refuse_by_clicking(browser: &Browser, commune: &Office, id: &str) {
    browser.goto(&format!("{}/clerk/documents/{id}", commune.process.url));
    browser.fill("#refuse-reason", "Gửi nhầm cơ quan");
    browser.click("#refuse");
    browser.wait_for_text("#business-status", "02");
    browser.wait_for("#done");
    assert_eq!(
        browser.text("#incoming-number"),
        "chưa vào sổ",
        "a refused document is not registered"
    );
    let (_, document) = commune.process.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(document["business_status"], "02", "{document}");
    browser.screenshot("refused");
}

fn registers(browser: &Browser, window: Window, sender: &Office) {
    browser.click("nav.main a[href='/clerk/registers']");
    browser.wait_for("#year-form");
    fits(browser, window, "registers");
    browser.screenshot("registers");
    browser.click("li.register[data-register='in'] a.view");
    // The printable register lists the accepted documents, with their sender.
    let body = browser.text("body");
    assert!(body.contains(&sender.organ_id), "{body}");
    browser.screenshot("register-in");
}

fn outgoing_and_upload(window: Window, district: &Office, commune: &Office) {
    let browser = Browser::start("clerk-district", window);
    log_in(&browser, district);
    let subject = format!("Tải lên qua trình duyệt ({} px)", window.width);
    browser.click("nav.main a[href='/clerk/upload']");
    browser.wait_for("#upload-form");
    fits(&browser, window, "upload");
    browser.screenshot("upload");
    browser.fill("#to", &commune.organ_id);
    browser.fill("#subject", &subject);
    browser.fill("#code_notation", "UBND-VP");
    browser.fill("#signer_position", "Chủ tịch");
    browser.fill("#signer_name", "Trần Văn B");
    let pdf = tempfile::Builder::new()
        .suffix(".pdf")
        .tempfile()
        .expect("pdf");
    std::fs::write(pdf.path(), common::sample_pdf(&subject)).expect("write pdf");
    browser.upload("#file", pdf.path());
    browser.click("#upload-submit");
    let outcome = wait_for(Duration::from_secs(30), || {
        (browser.count("#done, #error") > 0).then_some(())
    });
    assert!(
        outcome.is_some() && browser.count("#error") == 0,
        "upload failed: {}",
        browser.text("body")
    );
    assert!(browser.text("#subject").contains("Tải lên qua trình duyệt"));
    browser.screenshot("uploaded");
    // It really travels: the commune receives it.
    let arrived = received(commune, &subject);
    assert_eq!(arrived["subject"], subject.as_str());

    browser.click("nav.main a[href='/clerk/outgoing']");
    browser.wait_for("#outgoing-list");
    let recipients = browser.texts("#outgoing-list .recipient");
    assert!(
        recipients
            .iter()
            .any(|text| text.contains(&commune.organ_id)),
        "{recipients:?}"
    );
    fits(&browser, window, "outgoing");
    browser.screenshot("outgoing");
    // The accepted document's page shows the commune's 03 once it has come back.
    let accepted = documents(&district.process, "out")
        .into_iter()
        .find(|document| document["subject"] == HOSTILE_SUBJECT)
        .expect("the first document");
    let id = accepted["id"].as_str().expect("id");
    let latest = wait_for(LIMIT, || {
        browser.goto(&format!("{}/clerk/documents/{id}", district.process.url));
        let text = browser.text(&format!(
            "#recipients tr[data-organ='{}'] td.latest",
            commune.organ_id
        ));
        text.contains("03").then_some(text)
    });
    assert!(
        latest.is_some(),
        "the commune's acceptance reached the district's page"
    );
    fits(&browser, window, "outgoing-document");
    browser.screenshot("outgoing-document");
}
