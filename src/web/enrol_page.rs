//! The "not provisioned" page: what a box with `[provisioning]` serves on its LAN listener
//! (HTTPS when the LAN side is) until it is enrolled. `boot` starts it and ends it once an
//! enrolment is on disk, then starts the gateway on the same socket.
//!
//! - `GET /` (and `/status`): what to do, and the form (axis address, proposed by
//!   `[provisioning] axis_url`, and the code from provincial IT); why an enrolment on disk
//!   could not be used, when that is the reason.
//! - `POST /enrol`: refused unless the browser says it comes from this box
//!   (`clerk::is_same_origin`) and the form carries the token of its cookie
//!   (`guard.rs`); then one enrolment at a time through `enrolment::enrol`. Its answer
//!   says what happened, with the status a script can act on: 400 a mistyped code or
//!   address, 403 the axis refused, 409 another agency or another enrolment running, 502
//!   the axis unreachable, 500 otherwise. The code typed is never written back into a page
//!   or a log; the address is.
//! - `/healthz`, `/api/v1/status` and anything under `/api/`: 503 `not_provisioned`
//!   (the error shape of the local API); anything else 404.
//!
//! Owns these answers and nothing else: enrolling and writing files is `enrolment`'s, and
//! noticing the enrolment on disk is `boot`'s.

mod guard;
mod html;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use maud::Markup;
use serde_json::{json, Value};

use self::guard::CsrfGuard;
use self::html::{FormView, Problem};
use super::clerk::is_same_origin;
use super::ApiError;
use crate::enrolment::status::ProvisioningStatus;
use crate::enrolment::EnrolError;
use crate::sync::enrol_client::EnrolClientError;
use crate::system::config::GatewayConfig;
use crate::system::shutdown::Shutdown;

/// What the local API answers while the box is not enrolled.
const NOT_PROVISIONED: &str = "this box is not enrolled yet: open its page (/) in a browser on the LAN and enter the code from provincial IT, or run `docgate enroll`; the local API answers once the gateway has started";

/// Who the box was enrolled for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Enrolled {
    agency_name: String,
    agency_code: String,
}

type Enrolling = Pin<Box<dyn Future<Output = Result<Enrolled, EnrolError>> + Send>>;

/// Enrols with (axis address, code as typed).
type Enrol = Arc<dyn Fn(String, String) -> Enrolling + Send + Sync>;

/// What the handlers share.
struct EnrolPage {
    /// What the status shows: not provisioned, and why an enrolment on disk was not used.
    status: ProvisioningStatus,
    /// The address the form proposes.
    proposed_url: String,
    guard: CsrfGuard,
    /// Held while an enrolment runs: a second one is refused, not queued.
    busy: tokio::sync::Mutex<()>,
    /// Set once an enrolment succeeded (until `boot` ends this server).
    enrolled: Mutex<Option<Enrolled>>,
    enrol: Enrol,
}

/// Serves until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: GatewayConfig,
    status: ProvisioningStatus,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let proposed_url = config
        .provisioning
        .as_ref()
        .and_then(|provisioning| provisioning.axis_url.clone())
        .unwrap_or_default();
    let limits = config.limits.connection_limits();
    let config = Arc::new(config);
    let enrol: Enrol = Arc::new(move |axis_url, code| {
        let config = config.clone();
        Box::pin(async move {
            let enrolled = crate::enrolment::enrol(&config, &axis_url, &code).await?;
            Ok(Enrolled {
                agency_name: enrolled.bundle.agency.name,
                agency_code: enrolled.bundle.agency.code,
            })
        })
    });
    let guard = CsrfGuard::new(tls.is_some())
        .map_err(|_| std::io::Error::other("the system random source failed"))?;
    let page = Arc::new(EnrolPage {
        status,
        proposed_url,
        guard,
        busy: tokio::sync::Mutex::new(()),
        enrolled: Mutex::new(None),
        enrol,
    });
    super::server::serve_app(listener, routes(page), shutdown, limits, tls).await;
    Ok(())
}

fn routes(page: Arc<EnrolPage>) -> Router {
    Router::new()
        .route("/", get(show))
        .route("/status", get(show))
        .route("/enrol", post(submit))
        .route("/healthz", get(healthz))
        .route("/api/v1/status", get(api_status))
        .route("/api", any(api_other))
        .route("/api/{*rest}", any(api_other))
        .fallback(not_found)
        .layer(axum::middleware::map_response(secure))
        .with_state(page)
}

/// Every answer: nothing may frame or cache it, nor sniff its type; pages set their own
/// policy (with their stylesheet's hash), everything else allows nothing.
async fn secure(mut response: Response) -> Response {
    super::headers::harden(
        response.headers_mut(),
        "default-src 'none'; frame-ancestors 'none'",
    );
    response
}

/// `markup` as an HTML answer, with `cookie` set when given.
fn page_answer(status: StatusCode, markup: Markup, cookie: Option<HeaderValue>) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    super::status_page::secure_page(response.headers_mut(), html::STYLE.as_str());
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

impl EnrolPage {
    fn enrolled(&self) -> Option<Enrolled> {
        self.enrolled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The form, with a fresh token in its field and its cookie.
    fn form(&self, status: StatusCode, axis_url: &str, problem: Option<&Problem>) -> Response {
        let Some(token) = self.guard.issue() else {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Nguồn số ngẫu nhiên của hệ thống bị lỗi; hãy thử lại.",
                "The system random source failed; try again.",
            );
        };
        let view = FormView {
            axis_url,
            csrf: &token,
            problem,
            damaged: self.status.last_error.as_deref(),
        };
        let cookie = self.guard.cookie(&token);
        page_answer(status, html::form_page(&view), Some(cookie))
    }

    fn enrolled_answer(&self, status: StatusCode, enrolled: &Enrolled) -> Response {
        let markup = html::enrolled_page(&enrolled.agency_name, &enrolled.agency_code);
        page_answer(status, markup, Some(self.guard.cookie("")))
    }
}

fn refused(status: StatusCode, vietnamese: &str, english: &str) -> Response {
    page_answer(status, html::refused_page(vietnamese, english), None)
}

/// `GET /`: the form (or, once enrolled, the page that waits for the gateway).
async fn show(State(page): State<Arc<EnrolPage>>) -> Response {
    match page.enrolled() {
        Some(enrolled) => page.enrolled_answer(StatusCode::OK, &enrolled),
        None => page.form(StatusCode::OK, &page.proposed_url, None),
    }
}

/// `POST /enrol`.
async fn submit(State(page): State<Arc<EnrolPage>>, request: Request) -> Response {
    let headers: HeaderMap = request.headers().clone();
    if !is_same_origin(&headers) {
        tracing::warn!("an enrolment form from another site was refused");
        return refused(
            StatusCode::FORBIDDEN,
            "Yêu cầu đến từ một trang web khác nên bị từ chối. Hãy mở trang cấp phép trực tiếp trên thiết bị này rồi thử lại.",
            "The request came from another site and was refused. Open the enrolment page of this box itself and try again.",
        );
    }
    let form = match guard::read_form(request).await {
        Ok(form) => form,
        Err(error) => {
            let problem = Problem {
                vietnamese: "Không đọc được biểu mẫu",
                english: "The form could not be read",
                detail: Some(error.to_string()),
                refusal: None,
            };
            return page.form(error.status(), &page.proposed_url, Some(&problem));
        }
    };
    let axis_url = form.axis_url.trim();
    if !page.guard.matches(&headers, &form.csrf) {
        let problem = Problem {
            vietnamese: "Biểu mẫu đã hết hạn hoặc không phải của thiết bị này; hãy nhập lại",
            english: "The form expired or did not come from this box; type it again",
            detail: None,
            refusal: None,
        };
        return page.form(StatusCode::FORBIDDEN, axis_url, Some(&problem));
    }
    if let Some(enrolled) = page.enrolled() {
        return page.enrolled_answer(StatusCode::CONFLICT, &enrolled);
    }
    let Ok(_running) = page.busy.try_lock() else {
        let problem = Problem {
            vietnamese: "Đang có một lần cấp phép khác; hãy đợi vài giây rồi tải lại trang",
            english: "Another enrolment is in progress; wait a few seconds and reload the page",
            detail: None,
            refusal: None,
        };
        return page.form(StatusCode::CONFLICT, axis_url, Some(&problem));
    };
    tracing::info!(axis_url, "enrolling from the status page");
    match (page.enrol)(axis_url.to_owned(), form.code.clone()).await {
        Ok(enrolled) => {
            *page
                .enrolled
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(enrolled.clone());
            page.enrolled_answer(StatusCode::OK, &enrolled)
        }
        Err(error) => {
            let (status, problem) = explain(&error, &form.code);
            tracing::warn!(
                status = status.as_u16(),
                refusal = error.refusal(),
                error = problem.detail.as_deref().unwrap_or_default(),
                "enrolment from the status page failed"
            );
            page.form(status, axis_url, Some(&problem))
        }
    }
}

/// The answer's status and words for a failed enrolment (the code typed taken out).
fn explain(error: &EnrolError, code: &str) -> (StatusCode, Problem) {
    let problem = |vietnamese, english| Problem {
        vietnamese,
        english,
        detail: Some(without_code(&error.to_string(), code)),
        refusal: error.refusal(),
    };
    match error {
        EnrolError::Code(_) => (
            StatusCode::BAD_REQUEST,
            problem(
                "Mã cấp phép chưa đúng; hãy kiểm tra và nhập lại",
                "The code is not right; check it and type it again",
            ),
        ),
        EnrolError::Axis(EnrolClientError::BadUrl(_)) => (
            StatusCode::BAD_REQUEST,
            problem(
                "Địa chỉ trục liên thông chưa đúng (phải bắt đầu bằng https://)",
                "The axis address is not right (it must start with https://)",
            ),
        ),
        EnrolError::Axis(EnrolClientError::Unreachable { .. }) => (
            StatusCode::BAD_GATEWAY,
            problem(
                "Không kết nối được tới trục liên thông; kiểm tra địa chỉ và cáp mạng",
                "Cannot reach the axis; check the address and the network cable",
            ),
        ),
        _ if error.refusal() == Some("agency_mismatch") => (
            StatusCode::CONFLICT,
            problem(
                "Mã cấp phép dành cho một cơ quan khác với cơ quan của thiết bị",
                "The code is for another agency than this box's",
            ),
        ),
        EnrolError::Axis(EnrolClientError::Refused { .. }) => (
            StatusCode::FORBIDDEN,
            problem(
                "Trục liên thông từ chối mã cấp phép",
                "The axis refused the code",
            ),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            problem("Không cấp phép được", "The enrolment failed"),
        ),
    }
}

/// `message` with the code as typed (and as read: upper case, no dashes or spaces) taken
/// out, should any error ever quote it.
fn without_code(message: &str, code: &str) -> String {
    let typed = code.trim();
    let read: String = typed
        .chars()
        .filter(|character| !matches!(character, '-' | ' '))
        .map(|character| character.to_ascii_uppercase())
        .collect();
    let mut message = message.to_owned();
    for form in [typed, read.as_str()] {
        // A short string is no credential, and taking it out would garble the message.
        if form.chars().count() >= 8 {
            message = message.replace(form, "[code]");
        }
    }
    message
}

/// `GET /healthz`: 503 until enrolled.
async fn healthz(State(page): State<Arc<EnrolPage>>) -> Response {
    let body = json!({
        "status": "not_provisioned",
        "reasons": [{"component": "provisioning", "message": NOT_PROVISIONED}],
        "provisioning": page.status,
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

fn not_provisioned_error() -> Value {
    json!({"error": {"code": "not_provisioned", "message": NOT_PROVISIONED}})
}

/// `GET /api/v1/status`: the local API's error, with where the box stands.
async fn api_status(State(page): State<Arc<EnrolPage>>) -> Response {
    let mut body = not_provisioned_error();
    body["provisioning"] = json!(page.status);
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// Anything else under `/api/`.
async fn api_other() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(not_provisioned_error()),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such page; this box is not provisioned yet: open / to enrol it")
}

#[cfg(test)]
mod tests;
