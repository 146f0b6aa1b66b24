//! The clerk's actions on documents, end to end: set a business status on an incoming
//! document (02…06, or 15/16 answering a request), recall or update an outgoing one, and
//! check that a replacement may be made. Each reads the document, decides with
//! `business`/`business_packets`, publishes the packets as blobs, then commits everything
//! in one store transaction that re-checks what the decision was made on.
//!
//! Never speaks HTTP (`web::business`) and never writes SQL (`store::business`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::business::{
    check_description, parse_status_code, plan_status, DocumentFacts, RequestKind, StatusPlan,
    StatusRuleError,
};
use super::business_packets::{
    apply_received_update, plan_update, recall_header, recall_status, receiver_change,
    update_header, ReceiverChange, UpdateRequest,
};
use super::exchange::{edxml_timestamp, outgoing_header, status_about, PackError};
use super::intake::IntakeContext;
use super::meta::{MetaError, OutgoingMeta};
use crate::edxml::{EdocHeader, EdxmlError, Header, Organization, StaffInfo, StatusCode};
use crate::store::{
    BusinessFacts, BusinessSend, ClerkStatusCommit, ClerkStatusWrite, Direction, MetaUpdate,
    NewStatusPacket, PackableDocument, PacketBlob, RecallWrite, RequestAnswer, Store, StoreError,
    UpdateWrite, Withdrawal,
};
use crate::system::clock::{rfc3339_utc, vietnam_year};

/// Times a status is decided again when another clerk changed the document meanwhile.
const ATTEMPTS: usize = 3;
/// Longest staff name or department accepted.
const MAX_STAFF_CHARS: usize = 200;

/// `POST /documents/{id}/status`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub code: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub staff: Option<StaffMeta>,
}

impl StatusRequest {
    /// The checks [`set_status`] makes on the request itself before reading the document:
    /// a known status code, a one-line description, and a one-line staff name and
    /// department. Returns the code and the packet's `StaffInfo`.
    pub fn checked(&self) -> Result<(StatusCode, StaffInfo), ClerkError> {
        let code = parse_status_code(&self.code)?;
        check_description(&self.description)?;
        let staff = staff_info(self.staff.as_ref())?;
        Ok((code, staff))
    }
}

/// Who acted, for the status packet's `StaffInfo`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffMeta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
}

/// What a status request did.
#[derive(Debug, Clone, Serialize)]
pub struct StatusAnswer {
    pub id: String,
    pub code: String,
    pub business_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming_number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<String>,
    pub cancelled: bool,
    pub version: u32,
}

/// What a recall did.
#[derive(Debug, Clone, Serialize)]
pub struct RecallAnswer {
    pub id: String,
    /// `withdrawn` (never sent; cancelled here) or `requested` (packets queued).
    pub outcome: &'static str,
    pub message: String,
    pub recipients: Vec<String>,
}

/// What an update did.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateAnswer {
    pub id: String,
    pub version: u32,
    pub recipients: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Why a clerk's action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ClerkError {
    #[error("no document with id {id}")]
    NotFound { id: String },
    #[error(transparent)]
    Rule(#[from] StatusRuleError),
    #[error("{0}")]
    Meta(#[from] MetaError),
    #[error("{what} is required: {advice}")]
    ReasonRequired {
        what: &'static str,
        advice: &'static str,
    },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("the document's stored data cannot be used: {0}")]
    Unreadable(String),
    #[error("cannot write the packet: {0}")]
    Packet(#[from] EdxmlError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PackError> for ClerkError {
    fn from(error: PackError) -> ClerkError {
        ClerkError::Unreadable(error.to_string())
    }
}

fn conflict(code: &'static str, message: impl Into<String>) -> ClerkError {
    ClerkError::Conflict {
        code,
        message: message.into(),
    }
}

fn us(context: &IntakeContext) -> Organization {
    Organization {
        organ_id: context.organ_id.clone(),
        ..Organization::default()
    }
}

async fn facts(store: &Store, id: &str) -> Result<BusinessFacts, ClerkError> {
    let (store, lookup) = (store.clone(), id.to_string());
    tokio::task::spawn_blocking(move || store.business_facts(&lookup))
        .await
        .map_err(|_| StoreError::Closed)??
        .ok_or_else(|| ClerkError::NotFound { id: id.to_string() })
}

fn rule_facts(facts: &BusinessFacts) -> DocumentFacts {
    DocumentFacts {
        direction: Direction::parse(&facts.direction).unwrap_or(Direction::Incoming),
        business_status: facts.business_status.as_deref().and_then(StatusCode::parse),
        cancelled: facts.cancelled,
        quarantined: facts.state == "quarantined",
        pending_request: facts
            .pending_request
            .as_ref()
            .and_then(|request| RequestKind::parse(&request.kind)),
    }
}

fn staff_info(staff: Option<&StaffMeta>) -> Result<StaffInfo, ClerkError> {
    let Some(staff) = staff else {
        return Ok(StaffInfo::default());
    };
    for (field, value) in [("name", &staff.name), ("department", &staff.department)] {
        let Some(value) = value else { continue };
        if value.chars().count() > MAX_STAFF_CHARS || value.chars().any(char::is_control) {
            return Err(MetaError {
                field: format!("staff.{field}"),
                problem: format!("must be one line of at most {MAX_STAFF_CHARS} characters"),
            }
            .into());
        }
    }
    Ok(StaffInfo {
        staff: staff.name.clone().filter(|name| !name.trim().is_empty()),
        department: staff
            .department
            .clone()
            .filter(|name| !name.trim().is_empty()),
        ..StaffInfo::default()
    })
}

/// Writes `header` (and `attachments`) as a packet blob, durable before any row names it.
async fn publish_packet(
    store: &Store,
    header: Header,
    files: Vec<crate::store::DocumentFile>,
) -> Result<PacketBlob, ClerkError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        super::exchange::publish_edoc_packet::<ClerkError>(&store, &header, &files)
    })
    .await
    .map_err(|_| StoreError::Closed)?
}

/// Sets status `request.code` on incoming document `id`.
pub async fn set_status(
    store: &Store,
    context: &IntakeContext,
    id: &str,
    request: StatusRequest,
) -> Result<StatusAnswer, ClerkError> {
    let (code, staff) = request.checked()?;
    for _ in 0..ATTEMPTS {
        let facts = facts(store, id).await?;
        let plan = plan_status(&rule_facts(&facts), code, &request.description)?;
        let now = context.clock.now();
        let incoming: EdocHeader = serde_json::from_str(&facts.meta_json)
            .map_err(|error| ClerkError::Unreadable(format!("stored header: {error}")))?;
        let header = status_about(
            &incoming,
            &us(context),
            code,
            &request.description,
            staff.clone(),
            now,
        );
        let packet = publish_packet(store, header, Vec::new()).await?;
        let write = ClerkStatusWrite {
            document: id.to_string(),
            expected_status: facts.business_status.clone(),
            expected_version: facts.version,
            status: NewStatusPacket {
                packet,
                organ_id: context.organ_id.clone(),
                code: code.code().to_string(),
                description: request.description.clone(),
                packet_timestamp: edxml_timestamp(now),
            },
            priority: facts.priority,
            new_business_status: matches!(plan, StatusPlan::Progress { .. })
                .then(|| code.code().to_string()),
            register_year: matches!(plan, StatusPlan::Progress { register: true })
                .then(|| vietnam_year(now)),
            answer: answer_for(&facts, &incoming, plan, code, &context.organ_id)?,
            at: rfc3339_utc(now),
        };
        if let ClerkStatusCommit::Committed(outcome) = store.set_clerk_status(write).await? {
            return Ok(StatusAnswer {
                id: id.to_string(),
                code: code.code().to_string(),
                business_status: outcome.business_status,
                incoming_number: outcome.incoming_number,
                registered_at: outcome.registered_at,
                cancelled: outcome.cancelled,
                version: outcome.version,
            });
        }
        // Another clerk changed the document meanwhile: decide again on what it is now.
    }
    Err(conflict(
        "busy",
        "the document keeps changing while this status is set; read it again and retry",
    ))
}

/// For 15/16: the answer and what an agreement changes.
fn answer_for(
    facts: &BusinessFacts,
    current: &EdocHeader,
    plan: StatusPlan,
    code: StatusCode,
    us: &str,
) -> Result<Option<RequestAnswer>, ClerkError> {
    let StatusPlan::Answer { kind, agree } = plan else {
        return Ok(None);
    };
    let Some(request) = &facts.pending_request else {
        return Ok(None);
    };
    let mut answer = RequestAnswer {
        request_id: request.id,
        answer: code.code().to_string(),
        cancel_reason: None,
        update: None,
    };
    if !agree {
        return Ok(Some(answer));
    }
    match kind {
        RequestKind::Recall | RequestKind::Replace => {
            answer.cancel_reason = Some(format!("recalled by the sender: {}", request.reason));
        }
        RequestKind::Update => {
            let changes: serde_json::Value = request
                .changes_json
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default();
            let new_header: Option<EdocHeader> = changes
                .get("header")
                .and_then(|header| serde_json::from_value(header.clone()).ok());
            let removed = new_header
                .as_ref()
                .is_some_and(|header| receiver_change(header, us) == ReceiverChange::Removed);
            if removed {
                answer.cancel_reason = Some(format!(
                    "removed from the receivers by the sender's update: {}",
                    request.reason
                ));
            } else {
                let applied = apply_received_update(current, &changes).ok_or_else(|| {
                    ClerkError::Unreadable("the stored update request is unreadable".into())
                })?;
                answer.update = Some(MetaUpdate {
                    subject: applied.subject,
                    due_date: applied.due_date,
                    priority: applied.priority,
                    meta_json: applied.meta_json,
                    changes_json: applied.changes_json,
                });
            }
        }
    }
    Ok(Some(answer))
}

fn require_outgoing(facts: &BusinessFacts, action: &str) -> Result<(), ClerkError> {
    if facts.direction != "out" {
        return Err(conflict(
            "not_outgoing",
            format!("only our outgoing documents can be {action}; for an incoming document answer the sender's request with status 15 (agree) or 16 (refuse)"),
        ));
    }
    if facts.cancelled {
        return Err(conflict(
            "already_cancelled",
            "the document is already cancelled (withdrawn or recalled)",
        ));
    }
    if facts.recall_outstanding {
        return Err(conflict(
            "already_recalled",
            "the document is already recalled (a recall is pending or was agreed)",
        ));
    }
    if facts.state == "quarantined" {
        return Err(conflict(
            "quarantined",
            "the axis refused this document, so no recipient has it; nothing to recall or update",
        ));
    }
    Ok(())
}

async fn packable(store: &Store, id: &str) -> Result<PackableDocument, ClerkError> {
    let (store, lookup) = (store.clone(), id.to_string());
    tokio::task::spawn_blocking(move || store.outgoing_packable(&lookup))
        .await
        .map_err(|_| StoreError::Closed)??
        .ok_or_else(|| ClerkError::NotFound { id: id.to_string() })
}

fn edoc(header: Header) -> Result<EdocHeader, ClerkError> {
    match header {
        Header::Edoc(edoc) => Ok(edoc),
        Header::Status(_) => Err(ClerkError::Unreadable("not an edoc header".into())),
    }
}

/// A recall's or an update's reason, trimmed: required, and one line of at most the
/// description's length. `what` names the field in the refusal.
pub fn check_reason(reason: &str, what: &'static str) -> Result<String, ClerkError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ClerkError::ReasonRequired {
            what,
            advice: "say why, in words the recipients' clerks will read",
        });
    }
    check_description(reason)?;
    Ok(reason.to_string())
}

/// Recalls outgoing document `id`: withdrawn here when it never left, else a recall
/// packet (BussinessDocType 1) and a status 13 to every recipient.
pub async fn recall(
    store: &Store,
    context: &IntakeContext,
    id: &str,
    reason: &str,
) -> Result<RecallAnswer, ClerkError> {
    let reason = check_reason(reason, "reason")?;
    let facts = facts(store, id).await?;
    require_outgoing(&facts, "recalled")?;
    let now = context.clock.now();
    let withdrawal = store
        .withdraw_outgoing(id.to_string(), reason.clone(), rfc3339_utc(now))
        .await?;
    match withdrawal {
        Withdrawal::Withdrawn => {
            return Ok(RecallAnswer {
                id: id.to_string(),
                outcome: "withdrawn",
                message: "the document had not been handed to the axis yet: it is cancelled here and nothing was sent".into(),
                recipients: Vec::new(),
            })
        }
        Withdrawal::AlreadyCancelled => {
            return Err(conflict(
                "already_cancelled",
                "the document is already cancelled",
            ))
        }
        Withdrawal::HandedOver => {}
    }
    let document = packable(store, id).await?;
    let (header, _) = outgoing_header(&document, &us(context), now)?;
    let original = edoc(header)?;
    let recipients: Vec<String> = original.to.iter().map(|to| to.organ_id.clone()).collect();
    let edoc_packet = publish_packet(
        store,
        recall_header(original.clone(), &reason, now),
        Vec::new(),
    )
    .await?;
    let mut statuses = Vec::new();
    for recipient in &recipients {
        let packet = publish_packet(
            store,
            recall_status(&original, recipient, &reason, now),
            Vec::new(),
        )
        .await?;
        statuses.push((
            recipient.clone(),
            NewStatusPacket {
                packet,
                organ_id: context.organ_id.clone(),
                code: StatusCode::RecallRequested.code().to_string(),
                description: reason.clone(),
                packet_timestamp: edxml_timestamp(now),
            },
        ));
    }
    let write = RecallWrite {
        document: id.to_string(),
        reason,
        edoc: edoc_packet,
        statuses,
        priority: facts.priority,
        at: rfc3339_utc(now),
    };
    match store.record_recall_sent(write).await? {
        BusinessSend::Queued => Ok(RecallAnswer {
            id: id.to_string(),
            outcome: "requested",
            message: "the recall (BussinessDocType 1) and a status 13 to each recipient are queued; each recipient answers 15 (agrees) or 16 (refuses)".into(),
            recipients,
        }),
        BusinessSend::Changed => Err(conflict(
            "already_recalled",
            "the document was recalled or cancelled meanwhile",
        )),
    }
}

/// Updates outgoing document `id` (already sent): a BussinessDocType 2 packet to the old
/// and new recipients, the new meta here with version + 1.
pub async fn update(
    store: &Store,
    context: &IntakeContext,
    id: &str,
    request: UpdateRequest,
) -> Result<UpdateAnswer, ClerkError> {
    let reason = check_reason(&request.reason, "reason")?;
    let facts = facts(store, id).await?;
    require_outgoing(&facts, "updated")?;
    if !matches!(facts.state.as_str(), "sent" | "queued") {
        return Err(conflict(
            "not_sent",
            format!("the document is {} and has not been handed to the axis yet; withdraw it with /recall and send a corrected one", facts.state),
        ));
    }
    let meta: OutgoingMeta = serde_json::from_str(&facts.meta_json)
        .map_err(|error| ClerkError::Unreadable(format!("stored meta: {error}")))?;
    let plan = plan_update(&meta, &request, &context.extra_agency_codes)?;
    let meta_json = serde_json::to_string(&plan.meta)
        .map_err(|error| ClerkError::Unreadable(error.to_string()))?;
    let mut document = packable(store, id).await?;
    document.meta_json = meta_json.clone();
    document.subject = plan.meta.subject.clone();
    let now: OffsetDateTime = context.clock.now();
    let (header, priority) = outgoing_header(&document, &us(context), now)?;
    let header = update_header(edoc(header)?, &plan, &reason);
    let files = document.files.clone();
    let packet = publish_packet(store, header, files).await?;
    let write = UpdateWrite {
        document: id.to_string(),
        expected_version: facts.version,
        reason,
        subject: plan.meta.subject.clone(),
        due_date: plan.meta.due_date.clone(),
        priority,
        meta_json,
        changes_json: plan.changes.to_string(),
        edoc: packet,
        asked: plan.previous_recipients.clone(),
        at: rfc3339_utc(now),
    };
    match store.record_update_sent(write).await? {
        BusinessSend::Queued => Ok(UpdateAnswer {
            id: id.to_string(),
            version: facts.version + 1,
            recipients: plan.meta.to,
            added: plan.added,
            removed: plan.removed,
        }),
        BusinessSend::Changed => Err(conflict(
            "changed",
            "the document was updated, recalled or cancelled meanwhile; read it again",
        )),
    }
}

/// Checks that outgoing document `id` may be replaced (exists, outgoing, not cancelled).
pub async fn check_replaceable(store: &Store, id: &str) -> Result<(), ClerkError> {
    let facts = facts(store, id).await?;
    if facts.direction != "out" {
        return Err(conflict(
            "not_outgoing",
            "only our outgoing documents can be replaced",
        ));
    }
    if facts.cancelled {
        return Err(conflict(
            "already_cancelled",
            "the document is cancelled; send a new document instead of a replacement",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_reason, StaffMeta, StatusRequest};

    fn request(code: &str, description: &str, staff_name: Option<&str>) -> StatusRequest {
        StatusRequest {
            code: code.into(),
            description: description.into(),
            staff: staff_name.map(|name| StaffMeta {
                name: Some(name.into()),
                department: None,
            }),
        }
    }

    #[test]
    fn a_status_request_is_checked_before_the_document_is_read() {
        let (code, staff) = request("03", "Đã tiếp nhận", Some("Lê Thị B"))
            .checked()
            .expect("valid");
        assert_eq!(code.code(), "03");
        assert_eq!(staff.staff.as_deref(), Some("Lê Thị B"));
        for bad in [
            request("3", "", None),
            request("99", "", None),
            request("03", "two\nlines", None),
            request("03", "", Some("tab\tin name")),
        ] {
            assert!(bad.checked().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_reason_is_required_trimmed_and_one_line() {
        assert_eq!(
            check_reason("  Sai trích yếu ", "reason").expect("valid"),
            "Sai trích yếu"
        );
        assert!(check_reason("   ", "reason").is_err());
        assert!(check_reason("a\nb", "reason").is_err());
    }
}
