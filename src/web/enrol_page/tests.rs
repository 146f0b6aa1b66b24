//! The enrolment form's handlers with a stand-in for `enrolment::enrol`: which requests
//! reach it, what each failure answers, and that the code never comes back.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::Method;

use super::*;
use crate::enrolment::status::Standing;
use crate::provisioning::code::CodeError;

const CODE: &str = "7K2M-9QXR-4TBN-C8VH-2PWD-JF3S-6YAE-5GZ0";
const HOST: &str = "192.168.1.5:8480";

/// A page whose enrolment answers `outcome` and counts its calls.
fn page_with(
    outcome: impl Fn() -> Result<Enrolled, EnrolError> + Send + Sync + 'static,
) -> (Arc<EnrolPage>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let outcome = Arc::new(outcome);
    let enrol: Enrol = Arc::new(move |_url, _code| {
        counted.fetch_add(1, Ordering::SeqCst);
        let result = outcome();
        Box::pin(async move { result })
    });
    (page_of(enrol), calls)
}

fn page_of(enrol: Enrol) -> Arc<EnrolPage> {
    Arc::new(EnrolPage {
        status: ProvisioningStatus::bare(Standing::NotProvisioned),
        proposed_url: "https://axis.tinh.gov.vn".into(),
        guard: CsrfGuard::new(false).expect("guard"),
        busy: tokio::sync::Mutex::new(()),
        enrolled: Mutex::new(None),
        enrol,
    })
}

fn enrolled() -> Result<Enrolled, EnrolError> {
    Ok(Enrolled {
        agency_name: "UBND xã Mới".into(),
        agency_code: "000.01.20.H41".into(),
    })
}

/// A form post with `origin`, the cookie `cookie` and the field `field` as the token.
fn post(origin: Option<&str>, cookie: Option<&str>, field: &str, code: &str) -> Request {
    let body = format!(
        "csrf={field}&axis_url=https%3A%2F%2Fhub.test%3A8443%2F%3Cb%3E&code={}",
        code.replace(' ', "+")
    );
    let mut request = Request::new(Body::from(body));
    *request.method_mut() = Method::POST;
    let headers = request.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(header::HOST, HeaderValue::from_static(HOST));
    if let Some(origin) = origin {
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_str(origin).expect("origin"),
        );
    }
    if let Some(cookie) = cookie {
        let value = format!("{}={cookie}", guard::CSRF_COOKIE);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&value).expect("cookie"),
        );
    }
    request
}

async fn answer(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn only_a_same_origin_form_with_its_token_reaches_the_enrolment() {
    let (page, calls) = page_with(enrolled);
    let token = page.guard.issue().expect("token");
    let origin = format!("http://{HOST}");
    let cases = [
        (
            "another site",
            Some("http://evil.example"),
            Some(token.as_str()),
            token.as_str(),
        ),
        ("no cookie", Some(origin.as_str()), None, token.as_str()),
        ("no field", Some(origin.as_str()), Some(token.as_str()), ""),
        (
            "another token",
            Some(origin.as_str()),
            Some("00ff"),
            token.as_str(),
        ),
    ];
    for (what, origin, cookie, field) in cases {
        let response = submit(State(page.clone()), post(origin, cookie, field, CODE)).await;
        let (status, body) = answer(response).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "{what}: nothing enrolled");
        assert!(!body.contains(CODE), "{what}: no code in {body}");
    }
    let response = submit(
        State(page.clone()),
        post(Some(&origin), Some(&token), &token, CODE),
    )
    .await;
    let cookies: Vec<_> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    let (status, body) = answer(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(
        body.contains("Đã cấp phép cho UBND xã Mới (000.01.20.H41)"),
        "{body}"
    );
    assert!(
        cookies
            .iter()
            .any(|cookie| cookie.to_str().is_ok_and(|text| text.contains("Max-Age=0"))),
        "the token cookie is cleared: {cookies:?}"
    );
    // Afterwards the page waits for the gateway, and a second form is not sent on.
    let (status, body) = answer(show(State(page.clone())).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("id=\"enrolled\""), "{body}");
    let again = page.guard.issue().expect("token");
    let response = submit(
        State(page.clone()),
        post(Some(&origin), Some(&again), &again, CODE),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_second_enrolment_while_one_runs_is_refused_409() {
    let started = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let (started_in, release_in) = (started.clone(), release.clone());
    let enrol: Enrol = Arc::new(move |_url, _code| {
        let (started, release) = (started_in.clone(), release_in.clone());
        Box::pin(async move {
            started.notify_one();
            release.notified().await;
            enrolled()
        })
    });
    let page = page_of(enrol);
    let origin = format!("http://{HOST}");
    let first_token = page.guard.issue().expect("token");
    let first = tokio::spawn(submit(
        State(page.clone()),
        post(Some(&origin), Some(&first_token), &first_token, CODE),
    ));
    started.notified().await;
    let second_token = page.guard.issue().expect("token");
    let second = submit(
        State(page.clone()),
        post(Some(&origin), Some(&second_token), &second_token, CODE),
    )
    .await;
    let (status, body) = answer(second).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("Another enrolment is in progress"), "{body}");
    release.notify_one();
    let first = first.await.expect("first");
    assert_eq!(first.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_failure_shows_the_form_again_with_the_address_and_never_the_code() {
    let (page, _) = page_with(|| {
        Err(EnrolError::Axis(EnrolClientError::Refused {
            code: "code_used",
            message: format!("code {CODE} was used"),
        }))
    });
    let token = page.guard.issue().expect("token");
    let origin = format!("http://{HOST}");
    let response = submit(State(page), post(Some(&origin), Some(&token), &token, CODE)).await;
    let (status, body) = answer(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("id=\"enrol-form\""), "the form again: {body}");
    assert!(body.contains("(code_used)"), "{body}");
    assert!(body.contains("The axis refused the code"), "{body}");
    assert!(
        body.contains("value=\"https://hub.test:8443/&lt;b&gt;\""),
        "the address as typed, escaped: {body}"
    );
    assert!(!body.contains(CODE), "the code is not echoed: {body}");
    assert!(
        !body.contains(&CODE.replace('-', "")),
        "nor as read: {body}"
    );
    assert!(body.contains("[code]"), "{body}");
}

#[test]
fn each_failure_has_its_status() {
    let refused = |code| {
        EnrolError::Axis(EnrolClientError::Refused {
            code,
            message: "no".into(),
        })
    };
    let cases = [
        (EnrolError::Code(CodeError::Check), StatusCode::BAD_REQUEST),
        (
            EnrolError::Axis(EnrolClientError::BadUrl("http://x".into())),
            StatusCode::BAD_REQUEST,
        ),
        (
            EnrolError::Axis(EnrolClientError::Unreachable {
                url: "https://x".into(),
                reason: "refused".into(),
            }),
            StatusCode::BAD_GATEWAY,
        ),
        (refused("code_used"), StatusCode::FORBIDDEN),
        (refused("code_expired"), StatusCode::FORBIDDEN),
        (refused("agency_mismatch"), StatusCode::CONFLICT),
        (
            EnrolError::OtherAgency {
                held: "000.01.20.H41".into(),
                offered: "000.01.21.H41".into(),
            },
            StatusCode::CONFLICT,
        ),
        (
            EnrolError::Answer("odd".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            EnrolError::NotProvisioned,
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ];
    for (error, expected) in cases {
        let (status, problem) = explain(&error, CODE);
        assert_eq!(status, expected, "{error}");
        assert_eq!(problem.refusal, error.refusal(), "{error}");
        assert!(problem
            .detail
            .is_some_and(|detail| detail == error.to_string()));
    }
}

#[test]
fn the_code_is_taken_out_of_messages_as_typed_and_as_read() {
    assert_eq!(
        without_code(&format!("refused {CODE}"), CODE),
        "refused [code]"
    );
    let read = CODE.replace('-', "");
    assert_eq!(
        without_code(&format!("refused {read}"), &CODE.to_lowercase()),
        "refused [code]"
    );
    assert_eq!(
        without_code("the code has 3 characters, not 32", "ABC"),
        "the code has 3 characters, not 32",
        "a few characters are no credential"
    );
}

#[tokio::test]
async fn the_api_answers_not_provisioned_and_pages_carry_the_security_headers() {
    let (page, _) = page_with(enrolled);
    let (status, body) = answer(healthz(State(page.clone())).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["status"], "not_provisioned");
    let (status, body) = answer(api_status(State(page.clone())).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["error"]["code"], "not_provisioned");
    assert_eq!(body["provisioning"]["standing"], "not_provisioned");
    let response = secure(show(State(page)).await).await;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let policy = header(header::CONTENT_SECURITY_POLICY);
    assert!(
        policy.starts_with("default-src 'none'; style-src 'sha256-"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(header(header::X_FRAME_OPTIONS), "DENY");
    assert_eq!(header(header::CACHE_CONTROL), "no-store");
    let cookie = header(header::SET_COOKIE);
    assert!(
        cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // The policy allows exactly the stylesheet the page carries.
    let (_, body) = answer(response).await;
    let style = body
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(style, _)| style)
        .expect("an inline stylesheet");
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, style.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    assert!(policy.contains(&format!("'sha256-{hash}'")), "{policy}");
}
