//! Row types of the clerk's business layer: what a business status, a recall or update
//! request and a register entry look like when written and when read back. Shapes only; the
//! rules for them are `workflow::business`.

use serde::Serialize;

use super::records::{NewStatusPacket, PacketBlob};

/// What the rules need to know about one document, read in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessFacts {
    pub id: String,
    /// `out` / `in`.
    pub direction: String,
    pub state: String,
    pub document_id: Option<String>,
    pub peer_organ: Option<String>,
    pub priority: u8,
    pub business_status: Option<String>,
    pub cancelled: bool,
    pub version: u32,
    pub meta_json: String,
    pub incoming_number: Option<u32>,
    /// The oldest recall/update request received and not yet answered.
    pub pending_request: Option<PendingRequest>,
    /// Outgoing: whether a recall was sent that is pending or was agreed by someone.
    pub recall_outstanding: bool,
    /// Outgoing: the state of its own (BussinessDocType 0/3) edoc packet in the outbox.
    pub outbox_state: Option<String>,
}

/// A request received and not yet answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    pub id: i64,
    /// `recall`, `update` or `replace`.
    pub kind: String,
    pub reason: String,
    pub changes_json: Option<String>,
}

/// A status the clerk sets on an incoming document, with its packet already published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClerkStatusWrite {
    pub document: String,
    /// The business status the decision was made on; the write is refused as
    /// [`ClerkStatusCommit::Changed`] when the row no longer says so.
    pub expected_status: Option<String>,
    pub expected_version: u32,
    pub status: NewStatusPacket,
    pub priority: u8,
    /// 02…06: the new business status; `None` for an answer (15/16).
    pub new_business_status: Option<String>,
    /// 03: take the next số đến of this year's incoming register.
    pub register_year: Option<i32>,
    pub answer: Option<RequestAnswer>,
    pub at: String,
}

/// The clerk's answer to a pending request, and what it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAnswer {
    pub request_id: i64,
    /// `15` or `16`.
    pub answer: String,
    /// An agreed recall (or an agreed update removing us): cancel in the register.
    pub cancel_reason: Option<String>,
    /// An agreed update: the new meta, applied with version + 1.
    pub update: Option<MetaUpdate>,
}

/// New meta for a document after an agreed update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaUpdate {
    pub subject: String,
    pub due_date: Option<String>,
    pub priority: u8,
    pub meta_json: String,
    /// The request's `changes_json`, now holding the previous values too.
    pub changes_json: String,
}

/// What [`crate::store::Store::set_clerk_status`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClerkStatusCommit {
    Committed(ClerkStatusOutcome),
    /// The document changed since it was read (another clerk was faster); nothing was
    /// written. Read again and decide again.
    Changed,
}

/// The document's business fields after a status was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClerkStatusOutcome {
    pub business_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming_number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<String>,
    pub cancelled: bool,
    pub version: u32,
}

/// A recall or update packet (or the status 13 of a recall) received about one of our
/// incoming documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceivedRequest {
    pub axis_doc_id: String,
    pub document: String,
    /// `recall` or `update`.
    pub kind: String,
    pub organ_id: String,
    pub reason: String,
    pub changes_json: Option<String>,
    pub packet: PacketBlob,
    /// The status 13 packet's code, description and timestamp, when this is one.
    pub status: Option<ReceivedStatus>,
    pub at: String,
}

/// The fields of a status packet received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedStatus {
    pub code: String,
    pub description: String,
    pub packet_timestamp: Option<String>,
}

/// What [`crate::store::Store::withdraw_outgoing`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// Not handed to the axis yet: cancelled here, nothing will be sent.
    Withdrawn,
    /// Already handed to the axis (or on its way): recall it with packets.
    HandedOver,
    /// Cancelled before.
    AlreadyCancelled,
}

/// A recall of an outgoing document: the BussinessDocType 1 packet and one status 13 per
/// recipient, all published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallWrite {
    pub document: String,
    pub reason: String,
    pub edoc: PacketBlob,
    /// `(recipient organ, its status-13 packet)`.
    pub statuses: Vec<(String, NewStatusPacket)>,
    pub priority: u8,
    pub at: String,
}

/// An update of an outgoing document: the BussinessDocType 2 packet and the new meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateWrite {
    pub document: String,
    pub expected_version: u32,
    pub reason: String,
    pub subject: String,
    pub due_date: Option<String>,
    pub priority: u8,
    pub meta_json: String,
    pub changes_json: String,
    pub edoc: PacketBlob,
    /// Recipients that held the document and are asked to agree (one request each).
    pub asked: Vec<String>,
    pub at: String,
}

/// What a recall or update write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessSend {
    Queued,
    /// The document changed meanwhile (cancelled, recalled, updated): nothing was written.
    Changed,
}

/// The business view of a document in `GET /api/v1/documents/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BusinessInfo {
    /// When this office accepted an incoming document into its register (03).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<String>,
    /// Set when the document was cancelled (agreed recall, or withdrawn before sending).
    pub cancelled: Option<Cancellation>,
    /// Our id of the document this one replaces.
    pub replaces: Option<String>,
    /// Our id of the document that replaces this one.
    pub replaced_by: Option<String>,
    /// 1, plus one per agreed (incoming) or sent (outgoing) update.
    pub version: u32,
    /// Recall/update requests sent (outgoing, one per recipient) or received (incoming).
    pub requests: Vec<BusinessRequestRecord>,
    /// Outgoing: one entry per recipient with the statuses it sent, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<RecipientView>>,
}

/// When and why a document was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cancellation {
    pub at: String,
    pub reason: String,
}

/// One recall/update/replace request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusinessRequestRecord {
    pub id: i64,
    /// `sent` or `received`.
    pub direction: String,
    pub kind: String,
    /// Received: who asks; sent: the recipient asked.
    pub organ_id: String,
    pub reason: String,
    pub changes: Option<serde_json::Value>,
    /// `15` agreed, `16` refused, absent while pending.
    pub answer: Option<String>,
    pub answered_at: Option<String>,
    pub created_at: String,
}

/// One recipient of an outgoing document and what it reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientView {
    pub organ_id: String,
    /// The latest status code it sent, if any.
    pub latest_code: Option<String>,
    pub statuses: Vec<RecipientStatus>,
    /// It agreed (15) to a recall.
    pub recalled: bool,
    /// An update removed it from the receivers.
    pub removed: bool,
}

/// One status a recipient sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientStatus {
    pub code: String,
    pub description: String,
    pub packet_timestamp: Option<String>,
    pub recorded_at: String,
}
