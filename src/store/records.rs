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
    /// Outgoing, secret series: numbered and recorded in the outgoing register, and final.
    /// A secret document never travels over the exchange network (Law on Protection of
    /// State Secrets), so the sealer and the packer, which take only `accepted` and
    /// `signed`, never pick it.
    Registered,
}

impl DocumentState {
    /// Every state, for metrics that must show zero counts too.
    pub const ALL: [DocumentState; 8] = [
        DocumentState::Accepted,
        DocumentState::Signed,
        DocumentState::Packed,
        DocumentState::Sent,
        DocumentState::Queued,
        DocumentState::Received,
        DocumentState::Quarantined,
        DocumentState::Registered,
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
            DocumentState::Registered => "registered",
        }
    }

    /// Parses the API/database spelling.
    pub fn parse(value: &str) -> Option<DocumentState> {
        DocumentState::ALL
            .into_iter()
            .find(|state| state.as_str() == value)
    }
}

/// A series of the outgoing register: numbers run from 01 each year in each series
/// separately (NĐ 30/2020: secret documents have their own series).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegisterSeries {
    General,
    Secret,
}

impl RegisterSeries {
    /// The value of `documents.register_series` and of the API's `series`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegisterSeries::General => "general",
            RegisterSeries::Secret => "secret",
        }
    }

    /// Parses the API/database spelling.
    pub fn parse(value: &str) -> Option<RegisterSeries> {
        match value {
            "general" => Some(RegisterSeries::General),
            "secret" => Some(RegisterSeries::Secret),
            _ => None,
        }
    }

    /// The register's name in `register_counters` and `register_closures`.
    pub fn register_name(self) -> &'static str {
        match self {
            RegisterSeries::General => "out",
            RegisterSeries::Secret => "out-secret",
        }
    }
}

/// How the DocumentId of a new outgoing document is made.
#[derive(Debug, Clone)]
pub struct NumberingRequest {
    /// The series the number comes from; its counter is `series.register_name()`.
    pub series: RegisterSeries,
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
    /// `{OrganId},{yyyy/MM/dd},{number}/{notation}`, numbers below 10 zero-padded; `None`
    /// in the secret series, whose documents never travel and so have no edXML identity
    /// (the same number and notation may stand in both series on the same day).
    pub fn document_id(&self, number: u32) -> Option<String> {
        match self.series {
            RegisterSeries::General => Some(format!(
                "{},{},{:02}/{}",
                self.organ_id, self.promulgation_date, number, self.notation
            )),
            RegisterSeries::Secret => None,
        }
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
    /// The state it is committed in: `accepted` (it will be sealed and sent), or
    /// `registered` (a secret document: recorded in the register, never sent).
    pub state: DocumentState,
    /// `Idempotency-Key` and the SHA-256 of the request it came with.
    pub idempotency: Option<(String, String)>,
    /// Commit time, RFC 3339 UTC.
    pub at: String,
    /// Our id of the outgoing document this one replaces (`/replace`), if any.
    pub replaces: Option<String>,
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
    /// 0 normal … 3 express (hỏa tốc), 4 express at a set time.
    pub priority: u8,
    /// Deadline for handling, `YYYY-MM-DD` (incoming: as the sender wrote it).
    pub due_date: Option<String>,
    /// Incoming: the last status this office set (01…06).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_status: Option<String>,
    /// Incoming: số đến, once accepted (03).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming_number: Option<u32>,
    /// Incoming: past its due date (Vietnam time) and neither refused, completed nor
    /// cancelled. Worked out when asked (it depends on today): see [`DocumentSummary::mark_overdue`].
    pub overdue: bool,
    /// Cancelled by an agreed recall or withdrawn (the details are in the document's view).
    #[serde(skip)]
    pub cancelled: bool,
}

impl DocumentSummary {
    /// Sets `overdue` for `today` (`YYYY-MM-DD`, Vietnam time).
    pub fn mark_overdue(&mut self, today: &str) {
        self.overdue = self.direction == Direction::Incoming
            && crate::workflow::business::is_overdue(
                self.due_date.as_deref(),
                self.business_status.as_deref(),
                self.cancelled,
                today,
            );
    }
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
    /// What the exchange with the axis recorded about it.
    pub exchange: ExchangeInfo,
    /// Business statuses (01…16) received about it (outgoing) or sent about it (incoming).
    pub statuses: Vec<DocumentStatusRecord>,
    /// The verification report of its signatures (`docgate verify --json`'s shape), when
    /// one was made: every incoming document when `[signing]` is configured.
    pub signatures: Option<serde_json::Value>,
    /// Business status, registers, recall/update/replace (flattened into the document).
    #[serde(flatten)]
    pub business: super::business_records::BusinessInfo,
}

/// The exchange fields of a document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExchangeInfo {
    /// 0 normal … 3 express (hỏa tốc), 4 express at a set time.
    pub priority: u8,
    /// SHA-256 of the edXML packet blob, once packed (outgoing) or received (incoming).
    pub packet_sha256: Option<String>,
    pub packet_size: Option<u64>,
    /// Outgoing: the DocId the axis answered; incoming: the delivery docId fetched.
    pub axis_doc_id: Option<String>,
    /// Incoming: the sender's agency code.
    pub peer_organ: Option<String>,
    /// Why the document is quarantined (refused by the axis, or unreadable on arrival).
    pub quarantine_reason: Option<String>,
}

/// One business status about a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentStatusRecord {
    /// `received` (from a recipient, about our outgoing document) or `sent` (by us, about
    /// an incoming document).
    pub direction: String,
    /// The agency that set the status.
    pub organ_id: String,
    /// 01…16.
    pub code: String,
    pub description: String,
    /// The packet's own timestamp (`yyyy/MM/dd HH:mm:ss`, Vietnam local), when it has one.
    pub packet_timestamp: Option<String>,
    /// When this gateway recorded it, RFC 3339 UTC.
    pub recorded_at: String,
}

/// A published packet blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketBlob {
    pub sha256: String,
    pub size: u64,
}

/// An outgoing document ready to be packed, with what the packet needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PackableDocument {
    pub id: String,
    pub document_id: Option<String>,
    pub subject: String,
    pub code_number: Option<u32>,
    pub code_notation: Option<String>,
    pub meta_json: String,
    pub created_at: String,
    pub files: Vec<DocumentFile>,
    /// The DocumentId of the document this one replaces (packed as BussinessDocType 3).
    pub replaces_document_id: Option<String>,
}

/// What kind of packet an outbox row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PacketKind {
    Edoc,
    Status,
}

impl PacketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PacketKind::Edoc => "edoc",
            PacketKind::Status => "status",
        }
    }

    pub fn parse(value: &str) -> Option<PacketKind> {
        match value {
            "edoc" => Some(PacketKind::Edoc),
            "status" => Some(PacketKind::Status),
            _ => None,
        }
    }
}

/// One packet waiting in the outbox (state `pending`, or `sent` without an answer yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: PacketKind,
    pub document: String,
    pub priority: u8,
    pub packet: PacketBlob,
    pub attempts: u32,
}

/// A status packet to queue, already published as a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStatusPacket {
    pub packet: PacketBlob,
    /// Our agency code (who sets the status).
    pub organ_id: String,
    pub code: String,
    pub description: String,
    pub packet_timestamp: String,
}

/// An incoming edoc packet, parsed, with its blobs published, to commit in one transaction
/// with its automatic status 01.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncomingDocument {
    /// Our own id (a ULID).
    pub id: String,
    /// The delivery docId it was fetched under.
    pub axis_doc_id: String,
    pub document_id: Option<String>,
    pub subject: String,
    pub code_number: Option<u32>,
    pub code_notation: Option<String>,
    pub priority: u8,
    pub peer_organ: String,
    /// The parsed header, as JSON (`meta` in the API).
    pub meta_json: String,
    pub packet: PacketBlob,
    pub files: Vec<NewFile>,
    /// Event detail (e.g. attachments that could not be decoded).
    pub note: String,
    /// The verification report of its signatures, as JSON.
    pub signatures_json: Option<String>,
    pub status: NewStatusPacket,
    pub at: String,
    /// The handling deadline, `YYYY-MM-DD` (from the header's `DueDate`).
    pub due_date: Option<String>,
    /// A replacement: the DocumentId (same sender) of the document it replaces.
    pub replaces_document_id: Option<String>,
}

/// A status packet received about one of our outgoing documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncomingStatus {
    pub axis_doc_id: String,
    /// Our document (ULID) the status is about.
    pub document: String,
    pub organ_id: String,
    pub code: String,
    pub description: String,
    pub packet_timestamp: Option<String>,
    pub packet: PacketBlob,
    pub at: String,
}

/// A delivery that could not be used: kept with the reason, never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuarantine {
    pub axis_doc_id: String,
    pub kind: PacketKind,
    pub reason: String,
    /// The packet, when it could be fetched at all.
    pub packet: Option<PacketBlob>,
    pub peer_organ: Option<String>,
    /// For an edoc: the id (a fresh ULID) of the quarantined incoming document row the
    /// clerk will see in the list; `None` for a status packet (kept in the ledger only).
    pub document_row: Option<String>,
    pub at: String,
}

/// What became of an incoming delivery already committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOutcome {
    /// Committed as an incoming document.
    Document,
    /// Recorded as a status of one of our documents.
    Status,
    /// Kept in quarantine; acknowledged `fail`.
    Quarantined,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Document => "document",
            DeliveryOutcome::Status => "status",
            DeliveryOutcome::Quarantined => "quarantined",
        }
    }

    pub fn parse(value: &str) -> Option<DeliveryOutcome> {
        match value {
            "document" => Some(DeliveryOutcome::Document),
            "status" => Some(DeliveryOutcome::Status),
            "quarantined" => Some(DeliveryOutcome::Quarantined),
            _ => None,
        }
    }
}

/// How much of the state directory is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StorageUsage {
    pub blob_bytes: u64,
    pub database_bytes: u64,
}

impl StorageUsage {
    pub fn total(&self) -> u64 {
        self.blob_bytes.saturating_add(self.database_bytes)
    }
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
    /// Incoming documents whose last status from this office is this code.
    pub business_status: Option<String>,
    /// Only overdue (`Some(true)`) or only not overdue (`Some(false)`) documents, as of
    /// `today`.
    pub overdue: Option<bool>,
    /// Today, `YYYY-MM-DD` in Vietnam time (for `overdue`).
    pub today: String,
    /// Only documents at least this urgent (0…4).
    pub priority_min: Option<u8>,
    /// Only documents whose subject (trích yếu) contains this text.
    pub subject_contains: Option<String>,
}

/// One page of a list, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentPage {
    pub documents: Vec<DocumentSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
