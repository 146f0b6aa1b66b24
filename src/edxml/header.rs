//! Turns the element tree of a read packet into the model: decides edoc or status, reads
//! each field by local name wherever the producer put it, matches the manifest against the
//! attachments, and checks attachment names. Owns the mapping rules; does not touch bytes
//! or files (the staged files arrive already extracted, inside the tree).

use super::error::{one_line, EdxmlError};
use super::limits::Limits;
use super::model::{
    content_id_key, AttachmentContent, Business, BusinessDocType, Code, DocumentType, EdocHeader,
    Header, Organization, OtherInfo, PromulgationInfo, ReceivedAttachment, Receiver,
    ReplacementInfo, ResponseFor, SignerInfo, StaffInfo, StatusCode, StatusHeader, TraceHeader,
};
use super::names::check_file_name;
use super::transfer::TransferOutcome;
use super::tree::Element;

/// Maps the `edXML` root element to a header and its attachments.
pub(crate) fn packet_from_tree(
    mut root: Element,
    limits: &Limits,
) -> Result<(Header, Vec<ReceivedAttachment>), EdxmlError> {
    let mut attachment_elements = take_attachment_elements(&mut root);
    let envelope = root
        .child("edXMLEnvelope")
        .ok_or(EdxmlError::MissingMessageHeader)?;
    let edxml_header = envelope
        .child("edXMLHeader")
        .ok_or(EdxmlError::MissingMessageHeader)?;
    let message = edxml_header
        .child("MessageHeader")
        .ok_or(EdxmlError::MissingMessageHeader)?;
    let header = if message.child("StatusCode").is_some() {
        Header::Status(status_header(message)?)
    } else if message.child("To").is_some() {
        Header::Edoc(edoc_header(message, edxml_header)?)
    } else {
        return Err(EdxmlError::UnknownPacketKind);
    };
    let references = manifest_references(envelope);
    let mut attachments = Vec::with_capacity(attachment_elements.len());
    for (index, element) in attachment_elements.iter_mut().enumerate() {
        attachments.push(attachment(element, index, &references, limits)?);
    }
    for reference in &references {
        let key = content_id_key(&reference.content_id);
        if !attachments
            .iter()
            .any(|attachment| attachment.content_id_key() == key)
        {
            return Err(EdxmlError::MissingAttachment {
                content_id: reference.content_id.clone(),
            });
        }
    }
    Ok((header, attachments))
}

/// Takes every `AttachmentEncoded/Attachment` out of the root and the envelope (producers
/// put `AttachmentEncoded` beside the envelope; accepting it inside costs nothing).
fn take_attachment_elements(root: &mut Element) -> Vec<Element> {
    let mut found = Vec::new();
    let mut collect = |parent: &mut Element| {
        for block in parent
            .children
            .iter_mut()
            .filter(|child| child.name == "AttachmentEncoded")
        {
            let children = std::mem::take(&mut block.children);
            found.extend(
                children
                    .into_iter()
                    .filter(|child| child.name == "Attachment"),
            );
        }
    };
    collect(root);
    if let Some(envelope) = root
        .children
        .iter_mut()
        .find(|child| child.name == "edXMLEnvelope")
    {
        collect(envelope);
    }
    found
}

fn organization(element: &Element, field: &str) -> Result<Organization, EdxmlError> {
    Ok(Organization {
        organ_id: element
            .value("OrganId")
            .ok_or_else(|| EdxmlError::MissingField {
                field: format!("{field}/OrganId"),
            })?,
        organization_in_charge: element.value("OrganizationInCharge"),
        organ_name: element.value("OrganName"),
        organ_add: element.value("OrganAdd"),
        email: element.value("Email"),
        telephone: element.value("Telephone"),
        fax: element.value("Fax"),
        website: element.value("Website"),
    })
}

fn from_organization(message: &Element) -> Result<Organization, EdxmlError> {
    let from = message
        .child("From")
        .ok_or_else(|| EdxmlError::MissingField {
            field: "MessageHeader/From".to_owned(),
        })?;
    organization(from, "From")
}

fn edoc_header(message: &Element, edxml_header: &Element) -> Result<EdocHeader, EdxmlError> {
    let to = message
        .children_named("To")
        .enumerate()
        .map(|(index, element)| organization(element, &format!("To[{}]", index + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let trace_list = edxml_header.child("TraceHeaderList");
    let business_element = trace_list
        .and_then(|list| list.child("Business"))
        .or_else(|| edxml_header.child("Business"))
        .or_else(|| message.child("Business"));
    Ok(EdocHeader {
        from: from_organization(message)?,
        to,
        document_id: message.value("DocumentId"),
        code: message.child("Code").map(code).unwrap_or_default(),
        promulgation_info: message
            .child("PromulgationInfo")
            .map(promulgation_info)
            .unwrap_or_default(),
        document_type: message
            .child("DocumentType")
            .map(document_type)
            .unwrap_or_default(),
        subject: message.value("Subject"),
        content: message.value("Content"),
        signer_info: message
            .child("SignerInfo")
            .map(signer_info)
            .unwrap_or_default(),
        due_date: message.value("DueDate"),
        to_places: message
            .child("ToPlaces")
            .map(|places| places.values("Place"))
            .unwrap_or_default(),
        other_info: message
            .child("OtherInfo")
            .map(other_info)
            .unwrap_or_default(),
        response_for: message
            .children_named("ResponseFor")
            .map(response_for)
            .filter(|entry| !entry.is_empty())
            .collect(),
        steering_type: message.value("SteeringType"),
        trace_headers: trace_list.map(trace_headers).unwrap_or_default(),
        business: business_element.map(business).transpose()?,
    })
}

fn code(element: &Element) -> Code {
    Code {
        code_number: element.value("CodeNumber"),
        code_notation: element.value("CodeNotation"),
    }
}

fn promulgation_info(element: &Element) -> PromulgationInfo {
    PromulgationInfo {
        place: element.value("Place"),
        promulgation_date: element.value("PromulgationDate"),
    }
}

fn document_type(element: &Element) -> DocumentType {
    DocumentType {
        document_type: element.value("Type"),
        type_detail: element.value("TypeDetail"),
        type_name: element.value("TypeName"),
    }
}

fn signer_info(element: &Element) -> SignerInfo {
    SignerInfo {
        competence: element.value("Competence"),
        position: element.value("Position"),
        full_name: element.value("FullName"),
    }
}

fn other_info(element: &Element) -> OtherInfo {
    OtherInfo {
        priority: element.value("Priority"),
        sphere_of_promulgation: element.value("SphereOfPromulgation"),
        typer_notation: element.value("TyperNotation"),
        promulgation_amount: element.value("PromulgationAmount"),
        page_amount: element.value("PageAmount"),
        appendixes: element
            .child("Appendixes")
            .map(|list| list.values("Appendix"))
            .unwrap_or_default(),
    }
}

fn response_for(element: &Element) -> ResponseFor {
    ResponseFor {
        organ_id: element.value("OrganId"),
        code: element.value("Code"),
        promulgation_date: element.value("PromulgationDate"),
        document_id: element.value("DocumentId"),
    }
}

fn staff_info(element: &Element) -> StaffInfo {
    StaffInfo {
        department: element.value("Department"),
        staff: element.value("Staff"),
        email: element.value("Email"),
        mobile: element.value("Mobile"),
    }
}

fn trace_headers(list: &Element) -> Vec<TraceHeader> {
    list.children_named("TraceHeader")
        .map(|element| TraceHeader {
            organ_id: element.value("OrganId"),
            timestamp: element.value("Timestamp"),
        })
        .collect()
}

fn business(element: &Element) -> Result<Business, EdxmlError> {
    let business_doc_type = match element.value("BusinessDocType") {
        None => BusinessDocType::New,
        Some(text) => BusinessDocType::parse(&text)
            .ok_or(EdxmlError::UnknownBusinessDocType { value: text })?,
    };
    // The SDK nests ReceiverList inside BussinessDocumentInfo; accept it directly too.
    let document_info = element.child("BusinessDocumentInfo");
    let receiver_list = document_info
        .and_then(|info| info.child("ReceiverList"))
        .or_else(|| element.child("ReceiverList"));
    Ok(Business {
        document_id: element.value("DocumentId"),
        business_doc_type,
        business_doc_reason: element.value("BusinessDocReason"),
        paper: element.value("Paper"),
        staff_info: element
            .child("StaffInfo")
            .map(staff_info)
            .unwrap_or_default(),
        receiver_list: receiver_list
            .map(|list| {
                list.children_named("Receiver")
                    .map(|receiver| Receiver {
                        organ_id: receiver.value("OrganId"),
                        receiver_type: receiver.value("ReceiverType"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        replacement_info_list: element
            .child("ReplacementInfoList")
            .map(|list| {
                list.children_named("ReplacementInfo")
                    .map(|info| ReplacementInfo {
                        document_id: info.value("DocumentId"),
                        organ_ids: info
                            .child("OrganIdList")
                            .map(|ids| ids.values("OrganId"))
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        document_info: document_info.and_then(|info| info.value("DocumentInfo")),
        document_receiver: document_info.and_then(|info| info.value("DocumentReceiver")),
    })
}

fn status_header(message: &Element) -> Result<StatusHeader, EdxmlError> {
    let code_text = message.value("StatusCode").unwrap_or_default();
    let status_code =
        StatusCode::parse(&code_text).ok_or(EdxmlError::UnknownStatusCode { code: code_text })?;
    Ok(StatusHeader {
        from: from_organization(message)?,
        response_for: message
            .child("ResponseFor")
            .map(response_for)
            .unwrap_or_default(),
        staff_info: message
            .child("StaffInfo")
            .map(staff_info)
            .unwrap_or_default(),
        status_code,
        description: message.value("Description"),
        timestamp: message.value("Timestamp"),
    })
}

/// One manifest `Reference`, as far as matching and defaults need it.
struct ManifestReference {
    content_id: String,
    name: Option<String>,
    description: Option<String>,
    content_type: Option<String>,
}

fn manifest_references(envelope: &Element) -> Vec<ManifestReference> {
    envelope
        .child("edXMLBody")
        .and_then(|body| body.child("edXMLManifest"))
        .map(|manifest| {
            manifest
                .children_named("Reference")
                .map(|reference| ManifestReference {
                    // A reference without a ContentId cannot name an attachment; it is
                    // kept (with an empty id) so the completeness check reports it.
                    content_id: reference.value("ContentId").unwrap_or_default(),
                    name: reference.value("AttachmentName"),
                    description: reference.value("Description"),
                    content_type: reference.value("ContentType"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Builds one attachment; the manifest fills in what the `Attachment` element leaves out.
fn attachment(
    element: &mut Element,
    index: usize,
    references: &[ManifestReference],
    limits: &Limits,
) -> Result<ReceivedAttachment, EdxmlError> {
    let content_id = element
        .value("ContentId")
        .ok_or_else(|| EdxmlError::MissingField {
            field: format!("Attachment[{}]/ContentId", index + 1),
        })?;
    let key = content_id_key(&content_id).to_owned();
    let reference = references
        .iter()
        .find(|reference| content_id_key(&reference.content_id) == key);
    let name = element
        .value("AttachmentName")
        .or_else(|| reference.and_then(|reference| reference.name.clone()))
        .ok_or_else(|| EdxmlError::MissingField {
            field: format!("Attachment {}/AttachmentName", one_line(&content_id)),
        })?;
    check_file_name(&name, limits.max_name_bytes).map_err(|reason| {
        EdxmlError::UnsafeAttachmentName {
            name: name.clone(),
            reason,
        }
    })?;
    let transfer = element
        .take_child("ContentTransferEncoded")
        .and_then(|mut content| content.transfer.take());
    let content = match transfer {
        Some(TransferOutcome::Extracted(file)) => AttachmentContent::Extracted(file),
        Some(TransferOutcome::Unreadable(reason)) => AttachmentContent::Unreadable { reason },
        None => AttachmentContent::Unreadable {
            reason: "the attachment has no ContentTransferEncoded".to_owned(),
        },
    };
    Ok(ReceivedAttachment {
        description: element
            .value("Description")
            .or_else(|| reference.and_then(|reference| reference.description.clone())),
        content_type: element
            .value("ContentType")
            .or_else(|| reference.and_then(|reference| reference.content_type.clone())),
        content_id,
        name,
        content,
    })
}
