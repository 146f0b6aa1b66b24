//! What the exchange decides: which edXML header an outgoing document becomes, the status
//! 01 a receiver owes the sender, and whether the storage quota lets more in. Pure
//! functions over rows and packet models; never touches the store, files or the network
//! (the `sync` scheduler does that around these decisions).

use time::macros::format_description;
use time::OffsetDateTime;

use super::meta::OutgoingMeta;
use crate::edxml::{
    Business, BusinessDocType, Code, DocumentType, EdocHeader, Header, Organization, OtherInfo,
    PromulgationInfo, ReplacementInfo, ResponseFor, SignerInfo, StaffInfo, StatusCode,
    StatusHeader, TraceHeader,
};
use crate::store::PackableDocument;
use crate::system::clock::{edxml_date, VIETNAM};

/// Why an outgoing document cannot be packed (it stays where it is, with the reason logged).
#[derive(Debug, thiserror::Error)]
#[error("document {id} cannot be packed: {reason}")]
pub struct PackError {
    pub id: String,
    pub reason: String,
}

/// `yyyy/MM/dd HH:mm:ss`, Vietnam local time, as edXML timestamps are written.
pub fn edxml_timestamp(instant: OffsetDateTime) -> String {
    instant
        .to_offset(VIETNAM)
        .format(format_description!(
            "[year]/[month]/[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
}

/// The edoc header for an outgoing document: From = us, To from `meta`, the fields of
/// `meta`, one trace header, Business type 0 (new).
pub fn outgoing_header(
    document: &PackableDocument,
    us: &Organization,
    now: OffsetDateTime,
) -> Result<(Header, u8), PackError> {
    let refuse = |reason: String| PackError {
        id: document.id.clone(),
        reason,
    };
    let meta: OutgoingMeta = serde_json::from_str(&document.meta_json)
        .map_err(|error| refuse(format!("its stored meta is unreadable ({error})")))?;
    let document_id = document
        .document_id
        .clone()
        .ok_or_else(|| refuse("it has no DocumentId".into()))?;
    // `{OrganId},{yyyy/MM/dd},{number}/{notation}`: the date is the promulgation date.
    let promulgation_date = document_id
        .split(',')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| edxml_date(now));
    let header = EdocHeader {
        from: us.clone(),
        to: meta
            .to
            .iter()
            .map(|organ_id| Organization {
                organ_id: organ_id.clone(),
                ..Organization::default()
            })
            .collect(),
        document_id: Some(document_id.clone()),
        code: Code {
            code_number: document.code_number.map(|number| format!("{number:02}")),
            code_notation: document.code_notation.clone(),
        },
        promulgation_info: PromulgationInfo {
            place: meta.place.clone(),
            promulgation_date: Some(promulgation_date),
        },
        document_type: DocumentType {
            document_type: Some("1".into()),
            type_detail: Some(meta.document_type.code.to_string()),
            type_name: Some(meta.document_type.name.clone()),
        },
        subject: Some(document.subject.clone()),
        content: meta.content.clone(),
        signer_info: SignerInfo {
            competence: meta.signer.competence.clone(),
            position: Some(meta.signer.position.clone()),
            full_name: Some(meta.signer.name.clone()),
        },
        due_date: meta.due_date.as_deref().map(|date| date.replace('-', "/")),
        other_info: OtherInfo {
            priority: Some(meta.priority.to_string()),
            ..OtherInfo::default()
        },
        trace_headers: vec![TraceHeader {
            organ_id: Some(us.organ_id.clone()),
            timestamp: Some(edxml_timestamp(now)),
        }],
        business: Some(match &document.replaces_document_id {
            // A replacement: its own DocumentId, naming the replaced one for the same
            // recipients (BussinessDocType 3).
            Some(replaced) => Business {
                document_id: Some(document_id),
                business_doc_type: BusinessDocType::Replace,
                replacement_info_list: vec![ReplacementInfo {
                    document_id: Some(replaced.clone()),
                    organ_ids: meta.to.clone(),
                }],
                ..Business::default()
            },
            None => Business {
                document_id: Some(document_id),
                business_doc_type: BusinessDocType::New,
                ..Business::default()
            },
        }),
        ..EdocHeader::default()
    };
    Ok((Header::Edoc(header), meta.priority.min(4)))
}

/// Writes an edoc packet of `header` with `files` (blobs already in the store) as a new
/// packet blob, durable before any row names it. Blocking: call it off the async runtime.
pub fn publish_edoc_packet<E>(
    store: &crate::store::Store,
    header: &Header,
    files: &[crate::store::DocumentFile],
) -> Result<crate::store::PacketBlob, E>
where
    E: From<crate::store::StoreError> + From<crate::edxml::EdxmlError>,
{
    use crate::edxml::{write_packet, AttachmentSource, OutgoingAttachment};
    let blobs = store.blobs();
    let attachments = files
        .iter()
        .map(|file| {
            Ok(OutgoingAttachment {
                content_id: None,
                name: file.name.clone(),
                description: None,
                content_type: Some(file.content_type.clone()),
                source: AttachmentSource::File(blobs.blob_path(&file.sha256)?),
            })
        })
        .collect::<Result<Vec<_>, crate::store::StoreError>>()?;
    let mut writer = blobs.writer(u64::MAX)?;
    write_packet(header, &attachments, &mut writer)?;
    let published = blobs.publish(writer.finish()?)?;
    Ok(crate::store::PacketBlob {
        sha256: published.sha256,
        size: published.size,
    })
}

/// The automatic status 01 (arrived) a receiver sends about an incoming document.
pub fn arrival_status(incoming: &EdocHeader, us: &Organization, now: OffsetDateTime) -> Header {
    status_about(
        incoming,
        us,
        StatusCode::Arrived,
        "Đã đến (received by the gateway)",
        StaffInfo::default(),
        now,
    )
}

/// A status packet a receiver sends to the sender about an incoming document.
pub fn status_about(
    incoming: &EdocHeader,
    us: &Organization,
    status: StatusCode,
    description: &str,
    staff_info: StaffInfo,
    now: OffsetDateTime,
) -> Header {
    let code = match (&incoming.code.code_number, &incoming.code.code_notation) {
        (Some(number), Some(notation)) => Some(format!("{number}/{notation}")),
        (Some(number), None) => Some(number.clone()),
        (None, notation) => notation.clone(),
    };
    Header::Status(StatusHeader {
        from: us.clone(),
        response_for: ResponseFor {
            organ_id: Some(incoming.from.organ_id.clone()),
            code,
            promulgation_date: incoming.promulgation_info.promulgation_date.clone(),
            document_id: incoming.document_id.clone(),
        },
        staff_info,
        status_code: status,
        description: Some(description.to_string()).filter(|text| !text.is_empty()),
        timestamp: Some(edxml_timestamp(now)),
    })
}

/// The edoc priority as a number 0…4 (anything else reads as 0, normal).
pub fn priority_of(header: &EdocHeader) -> u8 {
    header
        .other_info
        .priority
        .as_deref()
        .and_then(|text| text.trim().parse::<u8>().ok())
        .filter(|priority| *priority <= 4)
        .unwrap_or(0)
}

/// The state directory would pass its quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the gateway's storage is full: {used} bytes used of the {quota}-byte quota \
     (limits.disk_quota_bytes), and this request needs {incoming} more; nothing was stored. \
     Documents are accepted again once the link to the axis drains the backlog or space is \
     freed (or the quota raised)"
)]
pub struct StorageFull {
    pub used: u64,
    pub incoming: u64,
    pub quota: u64,
}

/// Whether `incoming` more bytes fit under `quota` when `used` are in use.
pub fn check_quota(used: u64, incoming: u64, quota: u64) -> Result<(), StorageFull> {
    if used.checked_add(incoming).is_none_or(|total| total > quota) {
        Err(StorageFull {
            used,
            incoming,
            quota,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn quota_arithmetic() {
        assert!(check_quota(0, 10, 10).is_ok());
        assert!(check_quota(5, 5, 10).is_ok());
        let full = check_quota(6, 5, 10).expect_err("over");
        assert_eq!((full.used, full.incoming, full.quota), (6, 5, 10));
        assert!(full.to_string().contains("limits.disk_quota_bytes"));
        assert!(check_quota(u64::MAX, 1, u64::MAX).is_err());
        assert!(check_quota(11, 0, 10).is_err());
    }

    #[test]
    fn outgoing_header_carries_the_meta() {
        let meta = serde_json::json!({
            "to": ["000.00.00.H41"], "subject": "S", "type": {"code": 1, "name": "Công văn"},
            "code_number": null, "code_notation": "UBND-VP",
            "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "A"},
            "priority": 3, "due_date": "2026-12-31"
        });
        let document = PackableDocument {
            id: "01J".into(),
            document_id: Some("000.00.01.H41,2026/11/21,05/UBND-VP".into()),
            subject: "S".into(),
            code_number: Some(5),
            code_notation: Some("UBND-VP".into()),
            meta_json: meta.to_string(),
            created_at: "2026-11-21T00:00:00.000Z".into(),
            files: Vec::new(),
            replaces_document_id: None,
        };
        let us = Organization {
            organ_id: "000.00.01.H41".into(),
            organ_name: Some("UBND".into()),
            ..Organization::default()
        };
        let now = datetime!(2026-11-21 03:00 UTC);
        let (header, priority) = outgoing_header(&document, &us, now).expect("header");
        assert_eq!(priority, 3);
        let Header::Edoc(edoc) = header else {
            panic!("an edoc header")
        };
        assert_eq!(edoc.to[0].organ_id, "000.00.00.H41");
        assert_eq!(edoc.code.code_number.as_deref(), Some("05"));
        assert_eq!(edoc.due_date.as_deref(), Some("2026/12/31"));
        assert_eq!(
            edoc.promulgation_info.promulgation_date.as_deref(),
            Some("2026/11/21")
        );
        assert_eq!(
            edoc.trace_headers[0].timestamp.as_deref(),
            Some("2026/11/21 10:00:00")
        );
        let Header::Status(status) = arrival_status(&edoc, &us, now) else {
            panic!("a status header")
        };
        assert_eq!(status.status_code, StatusCode::Arrived);
        assert_eq!(status.response_for.code.as_deref(), Some("05/UBND-VP"));
    }
}
