//! What recall, update and replacement packets say (QCVN 102:2016 `Bussiness` block), and
//! what an update changes: pure functions over packet models and `meta`. Never touches
//! the store, files or HTTP (`workflow::clerk` and the `sync` receiver do that).

use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::exchange::edxml_timestamp;
use super::meta::{MetaError, OutgoingMeta};
use crate::edxml::{
    Business, BusinessDocType, EdocHeader, Header, Organization, Receiver, ResponseFor, StatusCode,
    StatusHeader, TraceHeader,
};

/// `number/notation` as a status packet's `ResponseFor/Code` spells it.
fn code_of(header: &EdocHeader) -> Option<String> {
    match (&header.code.code_number, &header.code.code_notation) {
        (Some(number), Some(notation)) => Some(format!("{number}/{notation}")),
        (Some(number), None) => Some(number.clone()),
        (None, notation) => notation.clone(),
    }
}

/// The recall packet (BussinessDocType 1) for our document whose packet header is
/// `original`: the same header, a fresh trace, the reason. It carries no attachment.
pub fn recall_header(mut original: EdocHeader, reason: &str, now: OffsetDateTime) -> Header {
    original.trace_headers = vec![TraceHeader {
        organ_id: Some(original.from.organ_id.clone()),
        timestamp: Some(edxml_timestamp(now)),
    }];
    original.business = Some(Business {
        document_id: original.document_id.clone(),
        business_doc_type: BusinessDocType::Recall,
        business_doc_reason: Some(reason.to_string()),
        ..Business::default()
    });
    Header::Edoc(original)
}

/// The status 13 (recall requested) we send to `recipient` about our document `original`.
/// `ResponseFor/OrganId` names the recipient: the axis routes a status packet to the
/// agency in `ResponseFor/OrganId`, which for a receiver's status is the original sender
/// and for the sender's 13 must be the receiver.
pub fn recall_status(
    original: &EdocHeader,
    recipient: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Header {
    Header::Status(StatusHeader {
        from: original.from.clone(),
        response_for: ResponseFor {
            organ_id: Some(recipient.to_string()),
            code: code_of(original),
            promulgation_date: original.promulgation_info.promulgation_date.clone(),
            document_id: original.document_id.clone(),
        },
        staff_info: Default::default(),
        status_code: StatusCode::RecallRequested,
        description: Some(reason.to_string()),
        timestamp: Some(edxml_timestamp(now)),
    })
}

/// What the office asks to change in an outgoing document already sent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub reason: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub priority: Option<u8>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub add_recipients: Vec<String>,
    #[serde(default)]
    pub remove_recipients: Vec<String>,
}

/// An update, decided: the new meta and everything the packet and the history need.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedUpdate {
    pub meta: OutgoingMeta,
    /// `{"previous": {...}, "new": {...}, "added_recipients", "removed_recipients"}`.
    pub changes: Value,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Recipients before the update (they hold the document and are asked to agree).
    pub previous_recipients: Vec<String>,
    pub data_changed: bool,
}

fn refuse(field: &str, problem: impl Into<String>) -> MetaError {
    MetaError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// Applies `request` to `meta` and checks the result with the intake rules.
pub fn plan_update(
    meta: &OutgoingMeta,
    request: &UpdateRequest,
    extra_agency_codes: &[String],
) -> Result<PlannedUpdate, MetaError> {
    if request.reason.trim().is_empty() {
        return Err(refuse(
            "reason",
            "is required: say why the document is updated",
        ));
    }
    let mut new = meta.clone();
    let mut previous = serde_json::Map::new();
    let mut changed = serde_json::Map::new();
    let mut note = |field: &str, old: Value, new_value: Value| {
        if old != new_value {
            previous.insert(field.to_string(), old);
            changed.insert(field.to_string(), new_value);
        }
    };
    if let Some(subject) = &request.subject {
        note("subject", json!(meta.subject), json!(subject.trim()));
        new.subject = subject.trim().to_string();
    }
    if let Some(due_date) = &request.due_date {
        note("due_date", json!(meta.due_date), json!(due_date));
        new.due_date = Some(due_date.clone());
    }
    if let Some(priority) = request.priority {
        note("priority", json!(meta.priority), json!(priority));
        new.priority = priority;
    }
    if let Some(content) = &request.content {
        note("content", json!(meta.content), json!(content));
        new.content = Some(content.clone());
    }
    for code in &request.remove_recipients {
        if !new.to.contains(code) {
            return Err(refuse(
                "remove_recipients",
                format!("{code:?} is not a recipient of this document"),
            ));
        }
        new.to.retain(|organ| organ != code);
    }
    for code in &request.add_recipients {
        if meta.to.contains(code) {
            return Err(refuse(
                "add_recipients",
                format!("{code:?} already receives this document"),
            ));
        }
        new.to.push(code.clone());
    }
    new.validate(extra_agency_codes)?;
    let data_changed = !changed.is_empty();
    if !data_changed && request.add_recipients.is_empty() && request.remove_recipients.is_empty() {
        return Err(refuse(
            "",
            "changes nothing: give a new subject, due_date, priority or content, or recipients to add or remove",
        ));
    }
    let changes = json!({
        "previous": previous,
        "new": changed,
        "added_recipients": request.add_recipients,
        "removed_recipients": request.remove_recipients,
    });
    Ok(PlannedUpdate {
        meta: new,
        changes,
        added: request.add_recipients.clone(),
        removed: request.remove_recipients.clone(),
        previous_recipients: meta.to.clone(),
        data_changed,
    })
}

/// The update packet (BussinessDocType 2): `updated` is the header of the document with
/// its new meta; it goes to the old and the new recipients, and says who was removed (0)
/// and added (1).
pub fn update_header(mut updated: EdocHeader, plan: &PlannedUpdate, reason: &str) -> Header {
    for organ in &plan.removed {
        updated.to.push(Organization {
            organ_id: organ.clone(),
            ..Organization::default()
        });
    }
    let flag = |set: bool| Some(if set { "1" } else { "0" }.to_string());
    let receivers_changed = !plan.added.is_empty() || !plan.removed.is_empty();
    let mut receiver_list: Vec<Receiver> = plan
        .removed
        .iter()
        .map(|organ| Receiver {
            organ_id: Some(organ.clone()),
            receiver_type: Some("0".into()),
        })
        .collect();
    receiver_list.extend(plan.added.iter().map(|organ| Receiver {
        organ_id: Some(organ.clone()),
        receiver_type: Some("1".into()),
    }));
    updated.business = Some(Business {
        document_id: updated.document_id.clone(),
        business_doc_type: BusinessDocType::Update,
        business_doc_reason: Some(reason.to_string()),
        document_info: flag(plan.data_changed),
        document_receiver: flag(receivers_changed),
        receiver_list,
        ..Business::default()
    });
    Header::Edoc(updated)
}

/// How an update packet's `ReceiverList` treats agency `us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverChange {
    Added,
    Removed,
    Unchanged,
}

pub fn receiver_change(header: &EdocHeader, us: &str) -> ReceiverChange {
    let Some(business) = &header.business else {
        return ReceiverChange::Unchanged;
    };
    for receiver in &business.receiver_list {
        if receiver.organ_id.as_deref() == Some(us) {
            return match receiver.receiver_type.as_deref() {
                Some("1") => ReceiverChange::Added,
                Some("0") => ReceiverChange::Removed,
                _ => ReceiverChange::Unchanged,
            };
        }
    }
    ReceiverChange::Unchanged
}

/// `yyyy/MM/dd` (edXML) as `YYYY-MM-DD`, when it is a real date.
pub fn iso_due_date(edxml: Option<&str>) -> Option<String> {
    let text = edxml?.trim();
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]/[month]/[day]"),
    )
    .ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// The fields of an incoming document an update may change, from its header.
fn updatable_fields(header: &EdocHeader) -> Value {
    json!({
        "subject": header.subject,
        "due_date": iso_due_date(header.due_date.as_deref()),
        "priority": header.other_info.priority,
        "content": header.content,
    })
}

/// What a received update asks (`changes_json` of the request): the new values, the
/// receiver changes, and the whole new header to apply when the clerk agrees.
pub fn received_update_changes(header: &EdocHeader) -> Value {
    let receivers = |kind: &str| -> Vec<String> {
        header
            .business
            .iter()
            .flat_map(|business| business.receiver_list.iter())
            .filter(|receiver| receiver.receiver_type.as_deref() == Some(kind))
            .filter_map(|receiver| receiver.organ_id.clone())
            .collect()
    };
    json!({
        "new": updatable_fields(header),
        "added_recipients": receivers("1"),
        "removed_recipients": receivers("0"),
        "header": header,
    })
}

/// An agreed update, applied to an incoming document whose stored header is `current`:
/// the new header, subject, due date and priority, and the request's changes with the
/// previous values added. `None` when the stored request is unreadable.
pub fn apply_received_update(current: &EdocHeader, changes: &Value) -> Option<AppliedUpdate> {
    let new: EdocHeader = serde_json::from_value(changes.get("header")?.clone()).ok()?;
    let mut kept = changes.clone();
    if let Some(object) = kept.as_object_mut() {
        object.insert("previous".into(), updatable_fields(current));
        // The old header stays in the document's history through `previous`; the new one
        // becomes the meta, so the request need not keep a second copy.
        object.remove("header");
    }
    Some(AppliedUpdate {
        subject: new.subject.clone().unwrap_or_default(),
        due_date: iso_due_date(new.due_date.as_deref()),
        priority: super::exchange::priority_of(&new),
        meta_json: serde_json::to_string(&new).ok()?,
        changes_json: kept.to_string(),
    })
}

/// The new meta of an incoming document after an agreed update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedUpdate {
    pub subject: String,
    pub due_date: Option<String>,
    pub priority: u8,
    pub meta_json: String,
    pub changes_json: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> OutgoingMeta {
        serde_json::from_value(json!({
            "to": ["000.00.00.H41", "001.01.10.H41"], "subject": "Cũ", "type": {"code": 1, "name": "Công văn"},
            "code_number": null, "code_notation": "UBND-VP",
            "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "A"},
            "priority": 0, "due_date": "2026-12-31"
        }))
        .expect("meta")
    }

    #[test]
    fn an_update_keeps_old_and_new_values() {
        let request = UpdateRequest {
            reason: "sửa trích yếu".into(),
            subject: Some("Mới".into()),
            add_recipients: vec!["001.02.10.H41".into()],
            remove_recipients: vec!["000.00.00.H41".into()],
            ..UpdateRequest::default()
        };
        let plan = plan_update(&meta(), &request, &[]).expect("plan");
        assert_eq!(plan.meta.subject, "Mới");
        assert_eq!(plan.meta.to, vec!["001.01.10.H41", "001.02.10.H41"]);
        assert_eq!(plan.changes["previous"]["subject"], "Cũ");
        assert_eq!(plan.changes["new"]["subject"], "Mới");
        assert!(plan.data_changed);
        let header = EdocHeader {
            to: plan
                .meta
                .to
                .iter()
                .map(|organ| Organization {
                    organ_id: organ.clone(),
                    ..Organization::default()
                })
                .collect(),
            ..EdocHeader::default()
        };
        let Header::Edoc(packet) = update_header(header, &plan, "sửa") else {
            panic!("edoc")
        };
        assert_eq!(packet.to.len(), 3, "old and new recipients");
        assert_eq!(
            receiver_change(&packet, "000.00.00.H41"),
            ReceiverChange::Removed
        );
        assert_eq!(
            receiver_change(&packet, "001.02.10.H41"),
            ReceiverChange::Added
        );
        assert_eq!(
            receiver_change(&packet, "001.01.10.H41"),
            ReceiverChange::Unchanged
        );
    }

    #[test]
    fn bad_updates_are_refused() {
        let base = UpdateRequest {
            reason: "r".into(),
            ..UpdateRequest::default()
        };
        assert!(plan_update(&meta(), &base, &[]).is_err(), "nothing changes");
        let no_reason = UpdateRequest {
            reason: " ".into(),
            subject: Some("x".into()),
            ..UpdateRequest::default()
        };
        assert!(plan_update(&meta(), &no_reason, &[]).is_err());
        let remove_all = UpdateRequest {
            remove_recipients: vec!["000.00.00.H41".into(), "001.01.10.H41".into()],
            ..base.clone()
        };
        assert!(plan_update(&meta(), &remove_all, &[]).is_err());
        let unknown = UpdateRequest {
            remove_recipients: vec!["009.00.00.H41".into()],
            ..base.clone()
        };
        assert!(plan_update(&meta(), &unknown, &[]).is_err());
        let bad_code = UpdateRequest {
            add_recipients: vec!["nope".into()],
            ..base
        };
        assert!(plan_update(&meta(), &bad_code, &[]).is_err());
    }

    /// Found by `fuzz/fuzz_targets/local_api_requests.rs` (this input, minimised): the
    /// refusal quoted the code as sent, so a carriage return in it gave the message a
    /// second line.
    #[test]
    fn a_refusal_quoting_a_recipient_stays_one_line() {
        let request: UpdateRequest =
            serde_json::from_str(r#"{"reason":"h","remove_recipients":["\r"]}"#).expect("json");
        let error = plan_update(&meta(), &request, &[]).expect_err("not a recipient");
        assert_eq!(error.field, "remove_recipients");
        assert!(!error.to_string().contains('\r'), "{error}");
        assert!(
            error.to_string().contains(r#""\r" is not a recipient"#),
            "{error}"
        );
    }

    #[test]
    fn a_received_update_applies_its_header() {
        let old = EdocHeader {
            subject: Some("Cũ".into()),
            due_date: Some("2026/12/31".into()),
            ..EdocHeader::default()
        };
        let new = EdocHeader {
            subject: Some("Mới".into()),
            due_date: Some("2027/01/15".into()),
            ..EdocHeader::default()
        };
        let changes = received_update_changes(&new);
        let applied = apply_received_update(&old, &changes).expect("applied");
        assert_eq!(applied.subject, "Mới");
        assert_eq!(applied.due_date.as_deref(), Some("2027-01-15"));
        let kept: Value = serde_json::from_str(&applied.changes_json).expect("json");
        assert_eq!(kept["previous"]["subject"], "Cũ");
        assert_eq!(kept["new"]["subject"], "Mới");
        assert!(kept.get("header").is_none());
    }

    #[test]
    fn due_dates() {
        assert_eq!(
            iso_due_date(Some(" 2026/12/31\n")).as_deref(),
            Some("2026-12-31")
        );
        assert_eq!(iso_due_date(Some("2026/02/30")), None);
        assert_eq!(iso_due_date(None), None);
    }
}
