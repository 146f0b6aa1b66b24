//! The "not provisioned" page end to end: a real `docgate axis` with `[enrolment]`, a box
//! written by `docgate config init --provisioned` running `docgate run`, a code made with
//! `docgate axis enroll create`.
//!
//! - Over plain HTTP: the page and its form (the axis address proposed by the
//!   configuration, a token in a strict cookie and a hidden field, the security headers);
//!   `/healthz` and the API answer 503 `not_provisioned`; a form without its token, or
//!   from another site, is refused 403 and a mistyped or unknown code gets the form again
//!   with the reason — none of them writes anything, and the code typed never comes back;
//!   the right code enrols, and the gateway starts in the same process on the same port
//!   (`/healthz` 200, the agency in `/api/v1/status`).
//! - In headless Chromium at a phone's width: a wrong code shows the reason, the right one
//!   the enrolled page, which reloads into the gateway's status page by itself.

mod common;

use std::time::{Duration, Instant};

use common::browser::{Browser, PHONE};
use common::enrolled::{self, EnrolmentAxis};
use common::GatewayDir;
use common::{client, into_json};
use docgate::provisioning::code::{fingerprint, SECRET_BYTES};
use docgate::provisioning::EnrolmentCode;
use reqwest::blocking::Response;

const AGENCY: &str = "000.01.20.H41";
const AGENCY_NAME: &str = "UBND xã Mới";
/// Link certificates for a day, renewed in its last hour: no renewal during these tests.
const LIFETIME_SECS: u64 = 86_400;
const RENEW_BEFORE_SECS: u64 = 3_600;

/// What a GET of the form page gives: the body, its token cookie and hidden field.
struct FormPage {
    html: String,
    cookie: String,
    field: String,
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn form_page(url: &str) -> FormPage {
    let response = client().get(format!("{url}/")).send().expect("GET /");
    assert_eq!(response.status().as_u16(), 200);
    assert!(header(&response, "content-type").starts_with("text/html"));
    let policy = header(&response, "content-security-policy");
    assert!(
        policy.contains("default-src 'none'") && policy.contains("style-src 'sha256-"),
        "no inline script may run: {policy}"
    );
    assert_eq!(header(&response, "x-frame-options"), "DENY");
    assert_eq!(header(&response, "cache-control"), "no-store");
    let set_cookie = header(&response, "set-cookie");
    for attribute in ["HttpOnly", "SameSite=Strict"] {
        assert!(set_cookie.contains(attribute), "{attribute}: {set_cookie}");
    }
    let cookie = set_cookie
        .strip_prefix("docgate_enrol=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no token cookie: {set_cookie}"))
        .to_owned();
    let html = response.text().expect("body");
    let field = html
        .split_once("name=\"csrf\" value=\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or_else(|| panic!("no token field: {html}"))
        .to_owned();
    FormPage {
        html,
        cookie,
        field,
    }
}

/// `POST /enrol` from `origin`, with the cookie and fields given.
fn post(url: &str, origin: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> (u16, String) {
    let mut request = client()
        .post(format!("{url}/enrol"))
        .header("Origin", origin)
        .form(fields);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", format!("docgate_enrol={cookie}"));
    }
    let response = request.send().expect("POST /enrol");
    let status = response.status().as_u16();
    (status, response.text().expect("body"))
}

/// Nothing of an enrolment on disk, and the box still answers "not provisioned".
fn still_not_provisioned(enrolling: &GatewayDir) {
    assert!(
        !enrolled::provisioning_dir(enrolling)
            .join("current")
            .exists(),
        "no enrolment written"
    );
    let (status, health) = into_json(
        client()
            .get(format!("{}/healthz", enrolling.url))
            .send()
            .expect("healthz"),
    );
    assert_eq!(
        (status, health["status"].as_str()),
        (503, Some("not_provisioned"))
    );
}

/// A well-formed code the axis never issued (it pins the right CA).
fn unknown_code(axis: &EnrolmentAxis) -> String {
    let pem = std::fs::read_to_string(axis.axis.ca_certificate()).expect("CA");
    let der = docgate::provisioning::pem::pem_block(&pem, "CERTIFICATE").expect("der");
    EnrolmentCode::new([9; SECRET_BYTES], &fingerprint(&der)).to_text()
}

/// A code with one character changed (its check fails before anything is sent).
fn mistyped(code: &str) -> String {
    let mut characters: Vec<char> = code.chars().collect();
    let last = characters.len() - 1;
    characters[last] = if characters[last] == '7' { '8' } else { '7' };
    characters.into_iter().collect()
}

/// Waits until `/healthz` answers 200: the gateway runs.
fn wait_for_gateway(url: &str) {
    let started = Instant::now();
    loop {
        let status = client()
            .get(format!("{url}/healthz"))
            .send()
            .map(|response| response.status().as_u16())
            .map_err(|error| error.to_string());
        if status == Ok(200) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the gateway did not start after the enrolment (last /healthz: {status:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_box_is_enrolled_from_its_page_and_the_gateway_starts_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis = EnrolmentAxis::create(&dir.path().join("axis"), LIFETIME_SECS, RENEW_BEFORE_SECS);
    let _axis_process = axis.start();
    let enrolling = enrolled::provisioned_box(&dir.path().join("box"), Some(&axis.url));
    let process = enrolled::start_box(&enrolling);
    let url = &process.url;
    let origin = url.as_str();

    // The page: what to do, and the form with the proposed address.
    let page = form_page(url);
    assert!(page.html.contains("<html lang=\"vi\">"), "{}", page.html);
    assert!(page.html.contains("Chưa được cấp phép"), "{}", page.html);
    assert!(page.html.contains("Not provisioned"), "{}", page.html);
    assert!(page.html.contains("action=\"/enrol\""), "{}", page.html);
    assert!(
        page.html.contains(&format!("value=\"{}\"", axis.url)),
        "the address from [provisioning] axis_url: {}",
        page.html
    );
    assert!(!page.html.contains("<script"), "no script");
    assert_eq!(page.cookie, page.field, "the same token in both");
    let (status, _) = into_json(client().get(format!("{url}/status")).send().expect("GET"));
    assert_eq!(status, 200, "/status is the same page");

    // The API and monitors: 503 not_provisioned; anything else is not there.
    let (status, health) = into_json(client().get(format!("{url}/healthz")).send().expect("GET"));
    assert_eq!(status, 503);
    assert_eq!(health["status"], "not_provisioned", "{health}");
    let (status, facts) = process.get_json("/api/v1/status");
    assert_eq!(status, 503);
    assert_eq!(facts["error"]["code"], "not_provisioned", "{facts}");
    assert_eq!(
        facts["provisioning"]["standing"], "not_provisioned",
        "{facts}"
    );
    let (status, documents) = process.get_json("/api/v1/documents");
    assert_eq!(
        (status, documents["error"]["code"].as_str()),
        (503, Some("not_provisioned"))
    );
    let (status, _) = into_json(client().get(format!("{url}/metrics")).send().expect("GET"));
    assert_eq!(status, 404);

    // Refused before the code is looked at: no token, a wrong token, another site.
    let code = axis.code(AGENCY, AGENCY_NAME);
    let fields = |csrf: &str, code: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("axis_url", axis.url.clone()),
            ("code", code.to_owned()),
        ]
    };
    let send = |origin: &str, cookie: Option<&str>, fields: Vec<(&str, String)>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(url, origin, cookie, &fields)
    };
    for (what, origin, cookie, csrf) in [
        ("no cookie, no field", origin, None, ""),
        ("no field", origin, Some(page.cookie.as_str()), ""),
        ("no cookie", origin, None, page.field.as_str()),
        (
            "another token",
            origin,
            Some("00ff00ff"),
            page.field.as_str(),
        ),
        (
            "another site",
            "http://evil.example",
            Some(page.cookie.as_str()),
            page.field.as_str(),
        ),
    ] {
        let (status, html) = send(origin, cookie, fields(csrf, &code));
        assert_eq!(status, 403, "{what}: {html}");
        assert!(!html.contains(&code), "{what}: the code is not echoed");
        still_not_provisioned(&enrolling);
    }

    // A mistyped code, then one the axis never issued: the form again with the reason.
    let page = form_page(url);
    let typo = mistyped(&code);
    let (status, html) = send(origin, Some(&page.cookie), fields(&page.field, &typo));
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("id=\"enrol-error\""), "{html}");
    assert!(html.contains("Mã cấp phép chưa đúng"), "{html}");
    assert!(
        html.contains("typing mistake"),
        "EnrolError's words: {html}"
    );
    assert!(!html.contains(&typo), "the code is not echoed: {html}");
    assert!(
        html.contains(&format!("value=\"{}\"", axis.url)),
        "the address is"
    );
    still_not_provisioned(&enrolling);
    let page = form_page(url);
    let unknown = unknown_code(&axis);
    let (status, html) = send(origin, Some(&page.cookie), fields(&page.field, &unknown));
    assert_eq!(status, 403, "{html}");
    assert!(
        html.contains("(code_unknown)"),
        "the axis's refusal: {html}"
    );
    assert!(!html.contains(&unknown), "the code is not echoed: {html}");
    still_not_provisioned(&enrolling);

    // The right code: enrolled, and the gateway starts on the same port.
    let page = form_page(url);
    let (status, html) = send(origin, Some(&page.cookie), fields(&page.field, &code));
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("Đã cấp phép cho {AGENCY_NAME} ({AGENCY})")),
        "{html}"
    );
    assert!(html.contains("http-equiv=\"refresh\""), "reloads: {html}");
    assert!(!html.contains(&code), "the code is not echoed: {html}");
    assert!(enrolled::provisioning_dir(&enrolling)
        .join("current")
        .exists());
    wait_for_gateway(url);
    let (status, facts) = process.get_json("/api/v1/status");
    assert_eq!(status, 200, "{facts}");
    assert_eq!(facts["agency"]["organ_id"], AGENCY, "{facts}");
    assert_eq!(facts["agency"]["organ_name"], AGENCY_NAME, "{facts}");
    assert_eq!(facts["provisioning"]["standing"], "enrolled", "{facts}");
    assert_eq!(facts["provisioning"]["agency_code"], AGENCY, "{facts}");
    assert_eq!(facts["provisioning"]["bundle_serial"], 1, "{facts}");
    let status_page = client()
        .get(format!("{url}/"))
        .send()
        .and_then(Response::text)
        .expect("status page");
    assert!(status_page.contains("id=\"provisioning\""), "{status_page}");
    assert!(status_page.contains("Đã cấp phép"), "{status_page}");
}

#[test]
fn a_box_is_enrolled_in_a_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let axis = EnrolmentAxis::create(&dir.path().join("axis"), LIFETIME_SECS, RENEW_BEFORE_SECS);
    let _axis_process = axis.start();
    let enrolling = enrolled::provisioned_box(&dir.path().join("box"), None);
    let process = enrolled::start_box(&enrolling);
    let code = axis.code(AGENCY, AGENCY_NAME);

    let browser = Browser::start("enrol_page", PHONE);
    browser.goto(&format!("{}/", process.url));
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("vi"));
    assert!(browser.text("#overall").contains("Chưa được cấp phép"));
    assert_eq!(browser.count("script"), 0, "no script");
    let width = browser.scroll_width();
    assert!(
        width <= u64::from(PHONE.width),
        "{width} px wide on a phone"
    );
    browser.screenshot("form");

    browser.fill("#axis_url", &axis.url);
    browser.fill("#code", &mistyped(&code));
    browser.submit("#enrol-form");
    browser.wait_for("#enrol-error");
    assert!(
        browser
            .text("#enrol-error")
            .contains("Mã cấp phép chưa đúng"),
        "{}",
        browser.text("#enrol-error")
    );
    assert_eq!(
        browser.attr("#code", "value").as_deref(),
        Some(""),
        "not echoed"
    );
    assert_eq!(
        browser.attr("#axis_url", "value").as_deref(),
        Some(axis.url.as_str())
    );
    browser.screenshot("mistyped");

    browser.fill("#code", &code);
    browser.submit("#enrol-form");
    browser.wait_for("#enrolled");
    assert_eq!(
        browser.text("#enrolled"),
        format!("Đã cấp phép cho {AGENCY_NAME} ({AGENCY})")
    );
    browser.screenshot("enrolled");

    // The page reloads by itself into the gateway's status page.
    browser.wait_for("#provisioning");
    assert!(
        browser.text("#standing").contains("Đã cấp phép"),
        "{}",
        browser.text("#standing")
    );
    assert_eq!(browser.text("h1"), AGENCY_NAME);
    browser.screenshot("status");
}
