//! The JSON an axis answers with, in the SDK's spelling: `status` (`OK`/`FAIL`),
//! `ErrorCode` (`"0"` on success), `ErrorDesc`, and per operation `DocId`, `data` and
//! `count`. Owns those shapes, the list items, the message and transport-status words, and
//! the hub error codes. Does not decide anything.

use serde::{Deserialize, Serialize};

/// One answer from an axis. Fields an operation does not use are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisAnswer {
    /// `OK` or `FAIL`.
    pub status: String,
    #[serde(rename = "ErrorCode", default)]
    pub error_code: String,
    #[serde(rename = "ErrorDesc", default)]
    pub error_desc: String,
    #[serde(rename = "DocId", default, skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    /// A list for the list operations, a base64 string for `getEdoc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl AxisAnswer {
    /// A success with nothing else.
    pub fn ok() -> AxisAnswer {
        AxisAnswer {
            status: "OK".into(),
            error_code: "0".into(),
            error_desc: String::new(),
            doc_id: None,
            data: None,
            count: None,
        }
    }

    /// A refusal with a hub error code and a description the caller can act on.
    pub fn fail(code: HubErrorCode, description: impl Into<String>) -> AxisAnswer {
        AxisAnswer {
            status: "FAIL".into(),
            error_code: code.code().into(),
            error_desc: description.into(),
            ..AxisAnswer::ok()
        }
    }

    /// Whether the axis said yes.
    pub fn is_ok(&self) -> bool {
        self.status.eq_ignore_ascii_case("OK")
    }

    /// The hub error code, when it is one we know.
    pub fn hub_error(&self) -> Option<HubErrorCode> {
        HubErrorCode::parse(&self.error_code)
    }
}

/// Error codes an axis answers with. 10–23 are the provincial hubs' own; 30 and up are this
/// reference axis's, for cases the hubs leave undocumented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HubErrorCode {
    /// 10: the file is not what its headers say (hash mismatch, empty, too large).
    InvalidFile,
    /// 15: the credentials (signature, certificate, system id) do not check out.
    BadCredentials,
    /// 18: a recipient is not in the directory.
    UnknownRecipient,
    /// 19: the sender may not send as this agency.
    SenderNotRegistered,
    /// 22: the edXML does not follow QCVN 102:2016.
    NotStandard,
    /// 23: a recipient is locked.
    RecipientLocked,
    /// 30: a new packet reuses a DocumentId this sender already sent.
    DuplicateDocument,
    /// 31: no such docId for the caller.
    UnknownDocId,
    /// 32: the request is malformed (missing or invalid header).
    BadRequest,
    /// 99: the axis failed; retry later.
    Internal,
}

impl HubErrorCode {
    /// The code as the answer spells it.
    pub fn code(self) -> &'static str {
        match self {
            HubErrorCode::InvalidFile => "10",
            HubErrorCode::BadCredentials => "15",
            HubErrorCode::UnknownRecipient => "18",
            HubErrorCode::SenderNotRegistered => "19",
            HubErrorCode::NotStandard => "22",
            HubErrorCode::RecipientLocked => "23",
            HubErrorCode::DuplicateDocument => "30",
            HubErrorCode::UnknownDocId => "31",
            HubErrorCode::BadRequest => "32",
            HubErrorCode::Internal => "99",
        }
    }

    /// Reads a code.
    pub fn parse(text: &str) -> Option<HubErrorCode> {
        [
            HubErrorCode::InvalidFile,
            HubErrorCode::BadCredentials,
            HubErrorCode::UnknownRecipient,
            HubErrorCode::SenderNotRegistered,
            HubErrorCode::NotStandard,
            HubErrorCode::RecipientLocked,
            HubErrorCode::DuplicateDocument,
            HubErrorCode::UnknownDocId,
            HubErrorCode::BadRequest,
            HubErrorCode::Internal,
        ]
        .into_iter()
        .find(|code| code.code() == text.trim())
    }

    /// Whether sending the same packet again can never succeed (the sender must fix
    /// something), as opposed to a passing failure worth retrying.
    pub fn is_permanent(self) -> bool {
        !matches!(self, HubErrorCode::Internal | HubErrorCode::RecipientLocked)
    }
}

/// `messagetype`: what kind of packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Edoc,
    Status,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Edoc => "edoc",
            MessageType::Status => "status",
        }
    }

    pub fn parse(text: &str) -> Option<MessageType> {
        match text.trim().to_ascii_lowercase().as_str() {
            "edoc" => Some(MessageType::Edoc),
            "status" => Some(MessageType::Status),
            _ => None,
        }
    }
}

/// The transport state machine of one delivery (never mixed with status codes 01…16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportStatus {
    /// Waiting for the receiver, or fetched and not yet acknowledged.
    Processing,
    /// The receiver committed it.
    Done,
    /// The receiver could not use it (kept in its quarantine).
    Fail,
}

impl TransportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportStatus::Processing => "processing",
            TransportStatus::Done => "done",
            TransportStatus::Fail => "fail",
        }
    }

    pub fn parse(text: &str) -> Option<TransportStatus> {
        match text.trim().to_ascii_lowercase().as_str() {
            "processing" => Some(TransportStatus::Processing),
            "done" => Some(TransportStatus::Done),
            "fail" => Some(TransportStatus::Fail),
            _ => None,
        }
    }
}

/// One item of `getReceivedEdocList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedItem {
    #[serde(rename = "docId")]
    pub doc_id: String,
    #[serde(rename = "serviceType", default)]
    pub service_type: String,
    #[serde(rename = "messageType", default)]
    pub message_type: String,
    #[serde(default)]
    pub created_time: String,
    #[serde(default)]
    pub updated_time: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub status_desc: String,
    /// Extension: the packet's size in bytes, so a receiver can check its quota first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// One item of `getSentEdocList`: one recipient of one sent packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentItem {
    pub sender_doc_id: String,
    pub receiver_doc_id: String,
    pub from_code: String,
    pub to_code: String,
    pub send_status: String,
    #[serde(default)]
    pub send_status_desc: String,
    pub receive_status: String,
    #[serde(default)]
    pub receive_status_desc: String,
    #[serde(default)]
    pub sent_time: String,
    #[serde(default)]
    pub received_time: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub notation: String,
}

/// One agency of `getAgenciesList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyItem {
    pub code: String,
    /// Read leniently: an agency without a name is still a valid code.
    #[serde(default)]
    pub name: String,
    /// The system that receives this agency's packets (absent from some axes' answers).
    #[serde(rename = "systemId", default)]
    pub system_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_use_the_sdk_spelling() {
        let mut answer = AxisAnswer::ok();
        answer.doc_id = Some("01J".into());
        let json = serde_json::to_value(&answer).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "DocId": "01J"})
        );
        let failure = AxisAnswer::fail(HubErrorCode::UnknownRecipient, "no such agency");
        assert!(!failure.is_ok());
        assert_eq!(failure.hub_error(), Some(HubErrorCode::UnknownRecipient));
    }

    #[test]
    fn received_items_read_the_sdk_keys() {
        let item: ReceivedItem = serde_json::from_value(serde_json::json!({
            "docId": "7", "serviceType": "eDoc", "messageType": "edoc",
            "created_time": "t", "from": "a", "to": "b", "status": "processing"
        }))
        .expect("reads");
        assert_eq!(item.doc_id, "7");
        assert_eq!(item.size, None);
    }
}
