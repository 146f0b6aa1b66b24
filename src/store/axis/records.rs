//! The rows of the axis store as Rust values: what goes in ([`NewPacket`]) and what comes
//! out ([`DeliveryRecord`], [`SentRecord`]). Plain data; no rules.

use crate::vdxp::{MessageType, TransportStatus};

/// A packet to commit with its deliveries. Its file must already be published.
#[derive(Debug, Clone)]
pub struct NewPacket {
    /// A fresh ULID: the sender's DocId.
    pub doc_id: String,
    pub sender_system: String,
    /// `From.OrganId`.
    pub sender_organ: String,
    pub message_type: MessageType,
    /// The edXML DocumentId (for a status packet, the one it answers).
    pub document_id: Option<String>,
    /// `BussinessDocType` of an edoc packet (0 when the block is absent).
    pub business_doc_type: Option<u8>,
    /// Whether this packet issues `document_id` as a new document, which happens once.
    pub new_document: bool,
    /// For the sender's list: the subject (edoc) or the status code (status).
    pub title: String,
    /// For the sender's list: number/notation.
    pub notation: String,
    /// SHA-256 (lowercase hex) of the published packet file.
    pub sha256: String,
    pub size: u64,
    /// The answer to give this request and every retry of it.
    pub answer_json: String,
    pub deliveries: Vec<NewDelivery>,
    /// RFC 3339 UTC.
    pub at: String,
}

/// One recipient system of a new packet.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// A fresh ULID: the receiver's docId.
    pub delivery_id: String,
    pub recipient_system: String,
    /// The agency codes of this system the packet is addressed to.
    pub recipient_organs: Vec<String>,
}

/// What [`super::AxisStore::accept_packet`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedPacket {
    pub doc_id: String,
    /// The answer committed with the packet (the first one, on a replay).
    pub answer_json: String,
    /// True when the same bytes from the same system were already stored; nothing new was.
    pub replayed: bool,
}

/// A packet that a retry check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub doc_id: String,
    pub answer_json: String,
}

/// One delivery as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub delivery_id: String,
    pub packet_doc_id: String,
    pub sender_system: String,
    pub sender_organ: String,
    pub message_type: MessageType,
    pub recipient_organs: Vec<String>,
    pub state: TransportStatus,
    pub sha256: String,
    pub size: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// One delivery as the sender of its packet sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecord {
    pub packet_doc_id: String,
    pub delivery_id: String,
    pub sender_organ: String,
    pub recipient_organs: Vec<String>,
    pub state: TransportStatus,
    pub title: String,
    pub notation: String,
    pub sent_at: String,
    pub updated_at: String,
}
