//! `GET|POST /clerk/upload`: the upload form, for offices without document software. The
//! clerk picks the leader-signed PDF (and any attachments) and fills in the particulars;
//! the post becomes exactly the `meta` + files of `POST /api/v1/documents` and goes through
//! the same intake (`workflow::accept_outgoing`), so the same rules refuse the same
//! mistakes. Files stream to the staging area as the API's do; the CSRF token must be the
//! form's first field, so nothing is staged for a forged post.

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::auth::check_csrf;
use super::layout::{self, Frame, Nav};
use super::session::ClerkSession;
use crate::web::upload::{drain, multipart_error, stream_file};
use crate::web::{ApiError, AppState};
use crate::workflow::{accept_outgoing, check_storage, IncomingFile, IntakeRequest};

/// Longest text field of the form.
const MAX_FIELD_BYTES: usize = 4096;
/// Text fields read at most.
const MAX_FIELDS: usize = 24;

/// Document types offered (code 1: administrative documents; 2: legal normative).
const DOCUMENT_TYPES: &[(u8, &str)] = &[
    (1, "Công văn"),
    (1, "Quyết định"),
    (1, "Tờ trình"),
    (1, "Báo cáo"),
    (1, "Thông báo"),
    (1, "Kế hoạch"),
    (1, "Giấy mời"),
    (1, "Biên bản"),
    (2, "Nghị quyết"),
    (2, "Quyết định (quy phạm pháp luật)"),
];

/// `GET /clerk/upload`.
pub async fn form(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
) -> Response {
    let frame = Frame {
        title: "Gửi văn bản mới",
        organ_name: &state.organ_name,
        session: Some(&session),
        current: Nav::Upload,
    };
    layout::page(frame, upload_form(&session))
}

fn upload_form(session: &ClerkSession) -> Markup {
    html! {
        h2 { "Gửi văn bản mới" }
        p.meta { "Tệp chính phải là PDF đã có chữ ký số của người có thẩm quyền. Thiết bị sẽ ký số cơ quan và gửi đi." }
        form method="post" action="/clerk/upload" enctype="multipart/form-data" #upload-form {
            // First, so the server checks it before reading any file.
            input type="hidden" name="csrf" value=(session.csrf_token);
            label for="to" { "Nơi nhận (mã định danh, cách nhau bởi dấu phẩy)" }
            input type="text" id="to" name="to" required placeholder="000.00.00.H41";
            label for="subject" { "Trích yếu" }
            textarea id="subject" name="subject" required maxlength="1000" {}
            label for="type" { "Loại văn bản" }
            select id="type" name="type" {
                @for (index, (code, name)) in DOCUMENT_TYPES.iter().enumerate() {
                    option value=(index) { (name) @if *code == 2 { " — QPPL" } }
                }
            }
            label for="code_number" { "Số (để trống: thiết bị tự lấy số tiếp theo trong sổ)" }
            input type="number" id="code_number" name="code_number" min="1";
            label for="code_notation" { "Ký hiệu (để trống: theo cấu hình)" }
            input type="text" id="code_notation" name="code_notation" placeholder="UBND-VP";
            label for="signer_competence" { "Thẩm quyền ký" }
            select id="signer_competence" name="signer_competence" {
                option value="" { "(ký trực tiếp)" }
                option value="TM." { "TM." } option value="KT." { "KT." }
                option value="TL." { "TL." } option value="TUQ." { "TUQ." }
            }
            label for="signer_position" { "Chức vụ người ký" }
            input type="text" id="signer_position" name="signer_position" required placeholder="Chủ tịch";
            label for="signer_name" { "Họ tên người ký" }
            input type="text" id="signer_name" name="signer_name" required;
            label for="priority" { "Độ khẩn" }
            select id="priority" name="priority" {
                option value="0" { "Thường" } option value="1" { "Khẩn" }
                option value="2" { "Thượng khẩn" } option value="3" { "Hỏa tốc" }
            }
            label for="due_date" { "Hạn xử lý (không bắt buộc)" }
            input type="date" id="due_date" name="due_date";
            label for="file" { "Tệp văn bản (PDF đã ký)" }
            input type="file" id="file" name="file" accept="application/pdf,.pdf" required;
            label for="attachments" { "Tệp đính kèm khác (không bắt buộc)" }
            input type="file" id="attachments" name="attachments" multiple;
            p { button type="submit" #upload-submit { "Gửi văn bản" } }
        }
    }
}

/// What the form posted.
#[derive(Default)]
struct Posted {
    fields: Vec<(String, String)>,
    main: Option<IncomingFile>,
    attachments: Vec<IncomingFile>,
}

impl Posted {
    fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.trim())
    }
}

/// `POST /clerk/upload`.
pub async fn submit(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let failed = |error: ApiError| {
        layout::error_page(&state.organ_name, Some(&session), &error, "/clerk/upload")
    };
    let mut multipart = match multipart {
        Ok(multipart) => multipart,
        Err(rejection) => return failed(ApiError::bad_request(rejection.body_text())),
    };
    let declared = crate::web::upload::declared_length(&headers);
    if let Err(full) = check_storage(&state.store, &state.intake, declared) {
        drain(&mut multipart).await;
        return failed(full.into());
    }
    match accept(&state, &session, &mut multipart).await {
        Ok(id) => layout::see_other(&format!("/clerk/documents/{id}?done=uploaded")),
        Err(error) => {
            drain(&mut multipart).await;
            failed(error)
        }
    }
}

async fn accept(
    state: &AppState,
    session: &ClerkSession,
    multipart: &mut Multipart,
) -> Result<String, ApiError> {
    let posted = read_form(state, session, multipart).await?;
    let meta = meta_from(&posted)?;
    let mut files = Vec::new();
    files.extend(posted.main);
    files.extend(posted.attachments);
    let request = IntakeRequest {
        meta_json: serde_json::to_vec(&meta)
            .map_err(|error| ApiError::bad_request(error.to_string()))?,
        files,
        idempotency_key: None,
        replaces: None,
    };
    let outcome = accept_outgoing(&state.store, &state.intake, request).await?;
    tracing::info!(document_id = %outcome.identity.id, username = %session.username, "outgoing document uploaded by a clerk");
    Ok(outcome.identity.id)
}

async fn read_form(
    state: &AppState,
    session: &ClerkSession,
    multipart: &mut Multipart,
) -> Result<Posted, ApiError> {
    let mut posted = Posted::default();
    let mut first = true;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        if first {
            first = false;
            let csrf = if name == "csrf" {
                field.text().await.map_err(multipart_error)?
            } else {
                String::new()
            };
            check_csrf(session, &csrf)?;
            continue;
        }
        match (name.as_str(), field.file_name().map(str::to_string)) {
            ("file" | "attachments", Some(file_name)) if file_name.is_empty() => {
                // An empty file input: the browser sends a part with no name and no bytes.
            }
            ("file" | "attachments", Some(file_name)) => {
                let total = usize::from(posted.main.is_some()) + posted.attachments.len();
                if total >= state.intake.max_files as usize {
                    return Err(ApiError::bad_request(format!(
                        "at most {} files per document",
                        state.intake.max_files
                    )));
                }
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let file = stream_file(
                    state.store.blobs(),
                    field,
                    file_name,
                    content_type,
                    state.max_file_bytes,
                )
                .await?;
                if name == "file" && posted.main.is_none() {
                    posted.main = Some(file);
                } else {
                    posted.attachments.push(file);
                }
            }
            (_, None) if posted.fields.len() < MAX_FIELDS => {
                let value = read_text(field).await?;
                posted.fields.push((name, value));
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unexpected form field {name:?}"
                )))
            }
        }
    }
    if first {
        return Err(ApiError::bad_request("the form was empty"));
    }
    if posted.main.is_none() {
        return Err(ApiError::bad_request("choose the document's PDF file"));
    }
    Ok(posted)
}

async fn read_text(mut field: axum::extract::multipart::Field<'_>) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::too_large(format!(
                "a form field is longer than {MAX_FIELD_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::bad_request("a form field is not UTF-8 text"))
}

/// The API's `meta` from the form's fields (the intake validates it).
fn meta_from(posted: &Posted) -> Result<Value, ApiError> {
    let to: Vec<&str> = posted
        .field("to")
        .split([',', ';', ' ', '\n', '\r', '\t'])
        .filter(|code| !code.is_empty())
        .collect();
    let (type_code, type_name) = posted
        .field("type")
        .parse::<usize>()
        .ok()
        .and_then(|index| DOCUMENT_TYPES.get(index))
        .copied()
        .ok_or_else(|| ApiError::bad_request("choose the document type from the list"))?;
    let code_number =
        match posted.field("code_number") {
            "" => None,
            number => Some(number.parse::<u32>().map_err(|_| {
                ApiError::bad_request(format!("số {number:?} is not a whole number"))
            })?),
        };
    let optional = |name: &str| Some(posted.field(name)).filter(|value| !value.is_empty());
    let priority = posted.field("priority").parse::<u8>().unwrap_or(0);
    let mut meta = json!({
        "to": to,
        "subject": posted.field("subject"),
        "type": {"code": type_code, "name": type_name},
        "code_number": code_number,
        "signer": {
            "competence": optional("signer_competence"),
            "position": posted.field("signer_position"),
            "name": posted.field("signer_name"),
        },
        "priority": priority,
    });
    if let Some(notation) = optional("code_notation") {
        meta["code_notation"] = json!(notation);
    }
    if let Some(due) = optional("due_date") {
        meta["due_date"] = json!(due);
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(fields: &[(&str, &str)]) -> Posted {
        Posted {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Posted::default()
        }
    }

    #[test]
    fn the_form_becomes_the_apis_meta() {
        let meta = meta_from(&posted(&[
            ("to", "000.00.00.H41, 000.00.01.H41"),
            ("subject", " Về việc A "),
            ("type", "0"),
            ("code_number", ""),
            ("code_notation", "UBND-VP"),
            ("signer_competence", "TM."),
            ("signer_position", "Chủ tịch"),
            ("signer_name", "Nguyễn Văn A"),
            ("priority", "1"),
            ("due_date", "2026-12-31"),
        ]))
        .expect("meta");
        assert_eq!(meta["to"], json!(["000.00.00.H41", "000.00.01.H41"]));
        assert_eq!(meta["subject"], "Về việc A");
        assert_eq!(meta["type"], json!({"code": 1, "name": "Công văn"}));
        assert_eq!(meta["code_number"], Value::Null);
        assert_eq!(meta["signer"]["competence"], "TM.");
        assert_eq!(meta["due_date"], "2026-12-31");
        let parsed: crate::workflow::meta::OutgoingMeta =
            serde_json::from_value(meta).expect("the intake's shape");
        assert_eq!(parsed.priority, 1);
    }

    #[test]
    fn a_bad_type_or_number_is_refused() {
        assert!(meta_from(&posted(&[("type", "99")])).is_err());
        assert!(meta_from(&posted(&[("type", "0"), ("code_number", "12a")])).is_err());
    }
}
