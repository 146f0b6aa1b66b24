//! The rows the store reads and writes, as Rust types. These describe what is stored, not
//! the rules for changing it (that is `workflow`).

use serde::Serialize;

/// Which way a document travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Direction {
    /// Sent by this office (văn bản đi).
    #[serde(rename = "out")]
    Outgoing,
    /// Received by this office (văn bản đến).
    #[serde(rename = "in")]
    Incoming,
}

impl Direction {
    /// The value stored in the database and used in the API (`out` / `in`).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outgoing => "out",
            Direction::Incoming => "in",
        }
    }

    /// Parses the API/database spelling.
    pub fn parse(value: &str) -> Option<Direction> {
        match value {
            "out" => Some(Direction::Outgoing),
            "in" => Some(Direction::Incoming),
            _ => None,
        }
    }
}

/// Where a document stands in its life cycle (see DESIGN.md, "The life of a document").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentState {
    /// Outgoing: committed from the office software; nothing else has happened yet.
    Accepted,
    /// Outgoing: the agency signature has been applied.
    Signed,
    /// Outgoing: written as an edXML packet.
    Packed,
    /// Outgoing: handed to the axis.
    Sent,
    /// Outgoing: the axis confirmed it holds the packet.
    Queued,
    /// Incoming: fetched from the axis and committed.
    Received,
    /// Either way: malformed or unacceptable; kept with the reason, never dropped.
    Quarantined,
}

impl DocumentState {
    /// Every state, for metrics that must show zero counts too.
    pub const ALL: [DocumentState; 7] = [
        DocumentState::Accepted,
        DocumentState::Signed,
        DocumentState::Packed,
        DocumentState::Sent,
        DocumentState::Queued,
        DocumentState::Received,
        DocumentState::Quarantined,
    ];

    /// The value stored in the database and used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentState::Accepted => "accepted",
            DocumentState::Signed => "signed",
            DocumentState::Packed => "packed",
            DocumentState::Sent => "sent",
            DocumentState::Queued => "queued",
            DocumentState::Received => "received",
            DocumentState::Quarantined => "quarantined",
        }
    }

    /// Parses the API/database spelling.
    pub fn parse(value: &str) -> Option<DocumentState> {
        DocumentState::ALL
            .into_iter()
            .find(|state| state.as_str() == value)
    }
}

/// How the DocumentId of a new outgoing document is made.
#[derive(Debug, Clone)]
pub struct NumberingRequest {
    /// Register (sổ) the number comes from, e.g. `out`.
    pub register: String,
    /// Register year (numbers restart on 1 January).
    pub year: i32,
    /// The number the office chose, or `None` for the next one in the register.
    pub number: Option<u32>,
    /// Ký hiệu, e.g. `UBND-VP`.
    pub notation: String,
    /// Our agency code, first part of the DocumentId.
    pub organ_id: String,
    /// Promulgation date as `yyyy/MM/dd`, second part of the DocumentId.
    pub promulgation_date: String,
}

impl NumberingRequest {
    /// `{OrganId},{yyyy/MM/dd},{number}/{notation}`, numbers below 10 zero-padded.
    pub fn document_id(&self, number: u32) -> String {
        format!(
            "{},{},{:02}/{}",
            self.organ_id, self.promulgation_date, number, self.notation
        )
    }
}

/// A file already published in the blob store, to be attached to a new row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub name: String,
    pub content_type: String,
    pub sha256: String,
    pub size: u64,
}

/// Everything needed to commit a new outgoing document in one transaction.
#[derive(Debug, Clone)]
pub struct NewOutgoingDocument {
    /// Our own id (a ULID), stable across every retry downstream.
    pub id: String,
    pub subject: String,
    /// The validated `meta` as received, stored verbatim for later steps.
    pub meta_json: String,
    pub files: Vec<NewFile>,
    pub numbering: NumberingRequest,
    /// `Idempotency-Key` and the SHA-256 of the request it came with.
    pub idempotency: Option<(String, String)>,
    /// Commit time, RFC 3339 UTC.
    pub at: String,
}

/// Id, DocumentId and state: what the API answers when a document is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DocumentIdentity {
    pub id: String,
    pub document_id: Option<String>,
    pub state: String,
}

/// The result of [`crate::store::Store::accept_outgoing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptOutcome {
    pub identity: DocumentIdentity,
    /// True when an earlier request with the same idempotency key answered this already.
    pub replayed: bool,
}

/// A stored idempotency key and the first answer given under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub request_sha256: String,
    pub identity: DocumentIdentity,
}

/// One row of a document list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentSummary {
    pub id: String,
    pub direction: Direction,
    pub document_id: Option<String>,
    pub state: String,
    pub subject: String,
    pub code_number: Option<u32>,
    pub code_notation: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One file of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentFile {
    /// 1-based position, as used in `/files/{n}`.
    pub n: u32,
    pub name: String,
    pub content_type: String,
    pub sha256: String,
    pub size: u64,
}

/// One entry of a document's append-only event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentEvent {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub state: Option<String>,
    pub detail: String,
}

/// A document with everything stored about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentRecord {
    #[serde(flatten)]
    pub summary: DocumentSummary,
    pub meta: serde_json::Value,
    pub files: Vec<DocumentFile>,
    pub events: Vec<DocumentEvent>,
}

/// Which documents a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub direction: Option<Direction>,
    pub state: Option<DocumentState>,
    /// Only documents created at or after this RFC 3339 UTC instant.
    pub since: Option<String>,
    /// Paging cursor: only documents older than this id.
    pub before_id: Option<String>,
    pub limit: u32,
}

/// One page of a list, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentPage {
    pub documents: Vec<DocumentSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
