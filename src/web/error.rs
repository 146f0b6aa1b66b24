//! API errors: `{"error": {"code": "...", "message": "..."}}` with a fitting HTTP status.
//! The message is written for the person at the office software's end and says what to do.
//! `unknown_recipient` also carries `suggestions`: the directory's closest agencies, for
//! software that offers them as choices. Every message is one line: [`ApiError::new`]
//! escapes control characters, since many messages quote what the client sent (axum's
//! rejections quote an unknown JSON field's or query parameter's name as it was given).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::StoreError;
use crate::workflow::business::StatusRuleError;
use crate::workflow::clerk::ClerkError;
use crate::workflow::directory::UnknownRecipients;
use crate::workflow::register::RegisterError;
use crate::workflow::register_export::ExportError;
use crate::workflow::{IntakeError, StorageFull};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `error.suggestions` when not empty (`unknown_recipient`).
    pub suggestions: Vec<serde_json::Value>,
}

impl ApiError {
    /// An answer with `message`, its control characters (line breaks above all) escaped.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: one_line(message.into()),
            suggestions: Vec::new(),
        }
    }

    /// A recipient the agency directory lacks: 422 with each one's closest agencies.
    pub fn unknown_recipient(unknown: &UnknownRecipients) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_recipient",
            unknown.to_string(),
        );
        error.suggestions = unknown
            .recipients
            .iter()
            .flat_map(|recipient| {
                recipient.suggestions.iter().map(
                    |entry| json!({"for": recipient.code, "code": entry.code, "name": entry.name}),
                )
            })
            .collect();
        error
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API token; send `Authorization: Bearer <token>` with the token from the gateway's configuration",
        )
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_request", message)
    }

    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
}

/// `message` with every control character and Unicode line or paragraph separator written
/// as its escape (`\r`, `\n`, `\u{2028}`), so a quoted input cannot start a second line
/// in an answer, a clerk's page or the log.
fn one_line(message: String) -> String {
    let breaks_lines =
        |character: char| character.is_control() || matches!(character, '\u{2028}' | '\u{2029}');
    if !message.chars().any(breaks_lines) {
        return message;
    }
    message
        .chars()
        .map(|character| {
            if breaks_lines(character) {
                character.escape_default().to_string()
            } else {
                character.to_string()
            }
        })
        .collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // 507 is the quota working as designed, not a fault: the message says it all.
        if self.status.is_server_error() && self.status != StatusCode::INSUFFICIENT_STORAGE {
            tracing::error!(error_kind = self.code, error = %self.message, "request failed");
        }
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if !self.suggestions.is_empty() {
            body["error"]["suggestions"] = serde_json::Value::Array(self.suggestions);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let message = error.to_string();
        match error {
            StoreError::DuplicateDocumentId { .. } | StoreError::NumberTaken { .. } => {
                ApiError::new(StatusCode::CONFLICT, "duplicate_document_id", message)
            }
            StoreError::RegisterChangedSinceClosing { .. } => {
                ApiError::new(StatusCode::CONFLICT, "register_changed", message)
            }
            StoreError::IdempotencyKeyReused { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                message,
            ),
            StoreError::Closed => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
            StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::FileTooLarge => {
                ApiError::too_large(source.to_string())
            }
            error if error.is_disk_full() => ApiError::disk_full(&message),
            _ => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_failure",
                format!("the gateway could not store the request ({message}); nothing was accepted, retry later and tell IT if it persists"),
            ),
        }
    }
}

impl ApiError {
    /// 507 `storage_full` for a write the disk had no room for (the quota's own refusal is
    /// [`StorageFull`]).
    pub fn disk_full(detail: &str) -> ApiError {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            format!("the gateway's disk is full ({detail}); nothing was accepted: retry later, and tell IT if it persists (the status page shows the disk)"),
        )
    }
}

impl From<StorageFull> for ApiError {
    fn from(error: StorageFull) -> ApiError {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            error.to_string(),
        )
    }
}

impl From<IntakeError> for ApiError {
    fn from(error: IntakeError) -> ApiError {
        let message = error.to_string();
        match error {
            IntakeError::Store(store) => store.into(),
            IntakeError::Meta(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_meta", message)
            }
            IntakeError::File { .. } | IntakeError::NoFile | IntakeError::TooManyFiles { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_file", message)
            }
            IntakeError::LeaderSignature { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "leader_signature_invalid",
                message,
            ),
            IntakeError::MissingMeta => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_meta", message)
            }
            IntakeError::BadIdempotencyKey(_) => ApiError::bad_request(message),
            IntakeError::UnknownRecipient(unknown) => ApiError::unknown_recipient(&unknown),
            IntakeError::Register(register) => register.into(),
            IntakeError::StorageFull(full) => full.into(),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> ApiError {
        let message = error.to_string();
        match error {
            RegisterError::NotationNotConfigured { .. }
            | RegisterError::UnknownTypeAbbreviation { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "notation_unavailable",
                message,
            ),
            RegisterError::UnknownRegister(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "unknown_register", message)
            }
            RegisterError::BadSeries(_) | RegisterError::BadYear(_) => {
                ApiError::bad_request(message)
            }
            RegisterError::YearNotEnded { .. } => {
                ApiError::new(StatusCode::CONFLICT, "year_not_ended", message)
            }
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(error: ExportError) -> ApiError {
        let message = error.to_string();
        match error {
            ExportError::Register(register) => register.into(),
            ExportError::Store(store) => store.into(),
            ExportError::BadFormat(_) => ApiError::bad_request(message),
            ExportError::NotAllSent { .. } => {
                ApiError::new(StatusCode::CONFLICT, "register_not_all_sent", message)
            }
            ExportError::Csv(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "export_failure",
                format!("{message}; retry, and tell IT if it persists"),
            ),
        }
    }
}

impl From<StatusRuleError> for ApiError {
    fn from(error: StatusRuleError) -> ApiError {
        let message = error.to_string();
        let (status, code) = match error {
            StatusRuleError::UnknownCode { .. } => (StatusCode::BAD_REQUEST, "bad_status_code"),
            StatusRuleError::BadDescription { .. } => {
                (StatusCode::BAD_REQUEST, "malformed_request")
            }
            StatusRuleError::ReasonRequired { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "reason_required")
            }
            StatusRuleError::NoPendingRequest { .. } => {
                (StatusCode::CONFLICT, "no_pending_request")
            }
            StatusRuleError::Cancelled => (StatusCode::CONFLICT, "cancelled"),
            StatusRuleError::Quarantined => (StatusCode::CONFLICT, "quarantined"),
            StatusRuleError::OutgoingDocument
            | StatusRuleError::Automatic
            | StatusRuleError::RecallViaStatus
            | StatusRuleError::Illegal { .. } => (StatusCode::CONFLICT, "illegal_transition"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<ClerkError> for ApiError {
    fn from(error: ClerkError) -> ApiError {
        let message = error.to_string();
        match error {
            ClerkError::NotFound { .. } => ApiError::not_found(message),
            ClerkError::Rule(rule) => rule.into(),
            ClerkError::Meta(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_meta", message)
            }
            ClerkError::ReasonRequired { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "reason_required", message)
            }
            ClerkError::Conflict { code, .. } => ApiError::new(StatusCode::CONFLICT, code, message),
            ClerkError::Store(store) => store.into(),
            ClerkError::Unreadable(_) | ClerkError::Packet(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("{message}; nothing was changed, tell IT"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ApiError;

    #[test]
    fn a_message_quoting_the_input_stays_one_line() {
        let error =
            ApiError::bad_request("unknown field `\r\nX-Forged: 1\u{2028}`, expected `reason`");
        assert_eq!(
            error.message,
            "unknown field `\\r\\nX-Forged: 1\\u{2028}`, expected `reason`"
        );
        assert_eq!(
            ApiError::bad_request("Công văn số 5").message,
            "Công văn số 5"
        );
    }
}
