//! One document for the clerk: `GET /clerk/documents/{id}` shows its particulars, files
//! (downloads), signatures, statuses and, per recipient, what came back; its forms post
//! the clerk's actions — accept (03, registers it), refuse (02, with a reason), later
//! statuses (04/05/06), recall (13) — each through `workflow::clerk`, exactly as the local
//! API does, then redirect back with a fixed notice.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::check_csrf;
use super::layout::{self, done_notice, Frame, Nav};
use super::lists::{local_time, number_and_notation, sender, subject};
use super::names::{document_state_vi, priority_vi, status_badge, status_name_vi};
use super::session::ClerkSession;
use crate::store::{Direction, DocumentRecord};
use crate::web::documents::{file_response, load_document, today};
use crate::web::{ApiError, AppState};
use crate::workflow::clerk::{self, StaffMeta, StatusRequest};

/// Query of the document page.
#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
}

/// `GET /clerk/documents/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let mut document = match load_document(&state, &id).await {
        Ok(document) => document,
        Err(error) => {
            return layout::error_page(&state.organ_name, Some(&session), &error, "/clerk/incoming")
        }
    };
    document.summary.mark_overdue(&today(&state));
    let current = match document.summary.direction {
        Direction::Incoming => Nav::Incoming,
        Direction::Outgoing => Nav::Outgoing,
    };
    let content = html! {
        (done_notice(query.done.as_deref()))
        h2 #subject { (subject(&document)) }
        (particulars(&document))
        (files(&document))
        (signatures(&document))
        @match document.summary.direction {
            Direction::Incoming => (incoming_actions(&document, &session)),
            Direction::Outgoing => {
                (recipients(&document))
                (outgoing_actions(&document, &session))
            }
        }
        (history(&document))
    };
    let frame = Frame {
        title: subject(&document),
        organ_name: &state.organ_name,
        session: Some(&session),
        current,
    };
    layout::page(frame, content)
}

fn particulars(document: &DocumentRecord) -> Markup {
    let summary = &document.summary;
    let meta = &document.meta;
    html! {
        section #particulars {
            dl {
                dt { "Số, ký hiệu" } dd #number { (number_and_notation(document)) }
                @if let Some(kind) = meta["type"]["name"].as_str() { dt { "Loại văn bản" } dd { (kind) } }
                @match summary.direction {
                    Direction::Incoming => {
                        dt { "Nơi gửi" } dd #sender { (sender(document)) }
                        dt { "Trạng thái" } dd #business-status { (status_badge(summary.business_status.as_deref().unwrap_or("01"))) }
                        dt { "Số đến" } dd #incoming-number {
                            @match summary.incoming_number { Some(n) => (n), None => "chưa vào sổ" }
                        }
                    }
                    Direction::Outgoing => {
                        dt { "Nơi nhận" } dd #receivers { (receivers(meta)) }
                        dt { "Tình trạng gửi" } dd #state { (document_state_vi(&summary.state)) }
                    }
                }
                @if let Some(signer) = meta["signer"]["name"].as_str() {
                    dt { "Người ký" } dd { (meta["signer"]["position"].as_str().unwrap_or_default()) " " (signer) }
                }
                dt { "Độ khẩn" } dd { (priority_vi(summary.priority)) }
                @if let Some(due) = &summary.due_date {
                    dt { "Hạn xử lý" } dd { (due) @if summary.overdue { " " span.overdue #overdue { "QUÁ HẠN" } } }
                }
                dt { "Thời điểm" } dd { (local_time(&summary.created_at)) }
                @if let Some(reason) = &document.exchange.quarantine_reason {
                    dt { "Lỗi" } dd #quarantine { (reason) }
                }
                @if let Some(cancelled) = &document.business.cancelled {
                    dt { "Đã thu hồi" } dd #cancelled { (local_time(&cancelled.at)) " — " (cancelled.reason) }
                }
            }
        }
    }
}

fn receivers(meta: &serde_json::Value) -> String {
    meta["to"]
        .as_array()
        .map(|to| {
            to.iter()
                .filter_map(|receiver| receiver.as_str().or_else(|| receiver["organ_id"].as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn files(document: &DocumentRecord) -> Markup {
    html! {
        section #files {
            h2 { "Tệp đính kèm" }
            ul {
                @for file in &document.files {
                    li {
                        a.file href={ "/clerk/documents/" (document.summary.id) "/files/" (file.n) } { (file.name) }
                        " " span.meta { "(" (kibibytes(file.size)) ")" }
                    }
                }
            }
        }
    }
}

fn kibibytes(size: u64) -> String {
    if size >= 1024 * 1024 {
        format!("{:.1} MB", size as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", size.div_ceil(1024))
    }
}

fn signatures(document: &DocumentRecord) -> Markup {
    let Some(report) = &document.signatures else {
        return html! {};
    };
    let list = report["signatures"].as_array().cloned().unwrap_or_default();
    html! {
        section #signatures {
            h2 { "Chữ ký số" }
            @if list.is_empty() { p { "Tệp chính không có chữ ký số." } }
            ul {
                @for signature in &list {
                    li.signature data-verdict=(signature["verdict"].as_str().unwrap_or("")) {
                        @match signature["role"].as_str() {
                            Some("agency") => "Chữ ký cơ quan: ",
                            Some("personal") => "Chữ ký cá nhân: ",
                            _ => "Chữ ký: ",
                        }
                        (signature["signer_name"].as_str().or(signature["organization"].as_str()).unwrap_or("không rõ"))
                        " — "
                        @match signature["verdict"].as_str() {
                            Some("valid") => strong { "hợp lệ" },
                            Some("invalid") => strong.overdue { "KHÔNG hợp lệ" },
                            _ => strong { "chưa xác định được (không kiểm tra được thu hồi)" },
                        }
                        @if let Some(problems) = signature["problems"].as_array() {
                            @for problem in problems { div.meta { (problem.as_str().unwrap_or_default()) } }
                        }
                    }
                }
            }
        }
    }
}

fn recipients(document: &DocumentRecord) -> Markup {
    let Some(recipients) = &document.business.recipients else {
        return html! {};
    };
    html! {
        section #recipients {
            h2 { "Tình hình xử lý ở nơi nhận" }
            table {
                thead { tr { th { "Nơi nhận" } th { "Trạng thái mới nhất" } th { "Các trạng thái" } } }
                tbody {
                    @for recipient in recipients {
                        tr.recipient data-organ=(recipient.organ_id) {
                            td { (recipient.organ_id) @if recipient.removed { " (đã bỏ)" } }
                            td.latest {
                                @match recipient.latest_code.as_deref() {
                                    Some(code) => (status_badge(code)),
                                    None => "chưa có",
                                }
                            }
                            td {
                                @for status in &recipient.statuses {
                                    div { (status.code) " " (status_name_vi(&status.code)) " · " (local_time(&status.recorded_at))
                                        @if !status.description.is_empty() { " — " (status.description) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn incoming_actions(document: &DocumentRecord, session: &ClerkSession) -> Markup {
    let summary = &document.summary;
    if document.business.cancelled.is_some() || summary.state == "quarantined" {
        return html! {};
    }
    let id = &summary.id;
    let status = summary.business_status.as_deref().unwrap_or("01");
    html! {
        section #actions {
            h2 { "Xử lý" }
            @if status == "01" {
                form.action method="post" action={ "/clerk/documents/" (id) "/accept" } #accept-form {
                    input type="hidden" name="csrf" value=(session.csrf_token);
                    label for="accept-note" { "Ghi chú (không bắt buộc)" }
                    input type="text" id="accept-note" name="description" maxlength="500";
                    p { button type="submit" #accept { "Tiếp nhận và vào sổ (03)" } }
                }
                form.action method="post" action={ "/clerk/documents/" (id) "/refuse" } #refuse-form {
                    input type="hidden" name="csrf" value=(session.csrf_token);
                    label for="refuse-reason" { "Lý do từ chối (bắt buộc)" }
                    input type="text" id="refuse-reason" name="reason" required maxlength="500";
                    p { button.danger type="submit" #refuse { "Từ chối (02)" } }
                }
            } @else if ["03", "04", "05"].contains(&status) {
                form.action method="post" action={ "/clerk/documents/" (id) "/status" } #status-form {
                    input type="hidden" name="csrf" value=(session.csrf_token);
                    label for="status-code" { "Trạng thái mới" }
                    select id="status-code" name="code" {
                        option value="04" { "04 · Đã phân công" }
                        option value="05" { "05 · Đang xử lý" }
                        option value="06" { "06 · Đã hoàn thành" }
                    }
                    label for="status-note" { "Ghi chú" }
                    input type="text" id="status-note" name="description" maxlength="500";
                    p { button type="submit" #set-status { "Cập nhật trạng thái" } }
                }
            } @else {
                p { "Văn bản đã được xử lý xong (" (status_name_vi(status)) ")." }
            }
        }
    }
}

fn outgoing_actions(document: &DocumentRecord, session: &ClerkSession) -> Markup {
    let summary = &document.summary;
    if document.business.cancelled.is_some()
        || ["quarantined", "registered"].contains(&summary.state.as_str())
    {
        return html! {};
    }
    html! {
        section #actions {
            h2 { "Thu hồi" }
            form.action method="post" action={ "/clerk/documents/" (summary.id) "/recall" } #recall-form {
                input type="hidden" name="csrf" value=(session.csrf_token);
                label for="recall-reason" { "Lý do thu hồi (bắt buộc)" }
                input type="text" id="recall-reason" name="reason" required maxlength="500";
                p { button.danger type="submit" #recall { "Thu hồi văn bản (13)" } }
            }
        }
    }
}

fn history(document: &DocumentRecord) -> Markup {
    html! {
        section #history {
            h2 { "Nhật ký" }
            table {
                tbody {
                    @for event in &document.events {
                        tr { td { (local_time(&event.at)) } td { (event.kind) } td { (event.detail) } }
                    }
                }
            }
        }
    }
}

/// `GET /clerk/documents/{id}/files/{n}`: the file as stored, for a logged-in clerk.
pub async fn file(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Path((id, n)): Path<(String, String)>,
) -> Response {
    match file_response(&state, &id, &n).await {
        Ok(response) => {
            tracing::info!(document_id = %id, file = %n, username = %session.username, "clerk downloaded a file");
            response
        }
        Err(error) => layout::error_page(
            &state.organ_name,
            Some(&session),
            &error,
            &format!("/clerk/documents/{id}"),
        ),
    }
}

/// An action form: its CSRF token and a note.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    reason: String,
}

/// `POST /clerk/documents/{id}/accept`: status 03.
pub async fn accept(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let description = form.description.clone();
    set_status(&state, &session, &id, &form, "03", description, "accepted").await
}

/// `POST /clerk/documents/{id}/refuse`: status 02 with its reason.
pub async fn refuse(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    if form.reason.trim().is_empty() {
        let error = ApiError::bad_request("write the reason for refusing; the sender will read it");
        return layout::error_page(
            &state.organ_name,
            Some(&session),
            &error,
            &format!("/clerk/documents/{id}"),
        );
    }
    let reason = form.reason.clone();
    set_status(&state, &session, &id, &form, "02", reason, "refused").await
}

/// `POST /clerk/documents/{id}/status`: 04, 05 or 06.
pub async fn status(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let code = form.code.clone().unwrap_or_default();
    if !["04", "05", "06"].contains(&code.as_str()) {
        let error = ApiError::bad_request("choose 04, 05 or 06");
        return layout::error_page(
            &state.organ_name,
            Some(&session),
            &error,
            &format!("/clerk/documents/{id}"),
        );
    }
    let description = form.description.clone();
    set_status(&state, &session, &id, &form, &code, description, "status").await
}

async fn set_status(
    state: &AppState,
    session: &ClerkSession,
    id: &str,
    form: &ActionForm,
    code: &str,
    description: String,
    done: &str,
) -> Response {
    let back = format!("/clerk/documents/{id}");
    if let Err(error) = check_csrf(session, &form.csrf) {
        return layout::error_page(&state.organ_name, Some(session), &error, &back);
    }
    let request = StatusRequest {
        code: code.to_string(),
        description,
        staff: Some(StaffMeta {
            name: Some(staff_name(session)),
            department: None,
        }),
    };
    match clerk::set_status(&state.store, &state.intake, id, request).await {
        Ok(answer) => {
            tracing::info!(document_id = %id, status = %answer.code, username = %session.username, "business status set by a clerk");
            layout::see_other(&format!("{back}?done={done}"))
        }
        Err(error) => layout::error_page(
            &state.organ_name,
            Some(session),
            &ApiError::from(error),
            &back,
        ),
    }
}

fn staff_name(session: &ClerkSession) -> String {
    if session.name.is_empty() {
        session.username.clone()
    } else {
        session.name.clone()
    }
}

/// `POST /clerk/documents/{id}/recall`.
pub async fn recall(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let back = format!("/clerk/documents/{id}");
    if let Err(error) = check_csrf(&session, &form.csrf) {
        return layout::error_page(&state.organ_name, Some(&session), &error, &back);
    }
    if form.reason.trim().is_empty() {
        let error =
            ApiError::bad_request("write the reason for the recall; the recipients will read it");
        return layout::error_page(&state.organ_name, Some(&session), &error, &back);
    }
    match clerk::recall(&state.store, &state.intake, &id, &form.reason).await {
        Ok(answer) => {
            tracing::info!(document_id = %id, outcome = answer.outcome, username = %session.username, "outgoing document recalled by a clerk");
            let done = if answer.outcome == "withdrawn" {
                "withdrawn"
            } else {
                "recalled"
            };
            layout::see_other(&format!("{back}?done={done}"))
        }
        Err(error) => layout::error_page(
            &state.organ_name,
            Some(&session),
            &ApiError::from(error),
            &back,
        )
        .into_response(),
    }
}
