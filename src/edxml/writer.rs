//! The packet writer: the national SDK's layout, strictly (root `<edXML xmlns=…>`,
//! `edXML:`-prefixed elements inside an envelope that declares the prefix, the SDK's
//! element order and `Bussiness` spelling, a `1.0` manifest of `cid:N` references, then
//! the attachments as base64 of a one-file ZIP). Owns validation of what it is asked to
//! write and the streaming of attachment bytes: file → ZIP (deflate) → base64 → output,
//! never a whole file in memory. Does not decide what goes into a packet (`workflow`) and
//! does not sign anything. Unlike the SDK, it writes no placeholder `Signature` block.
//!
//! Everything is validated before the first byte is written, by writing the header once
//! into a sink: a refusal names the field and leaves the output untouched.

use std::io::{self, BufWriter, Write};

use quick_xml::events::{BytesDecl, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::error::EdxmlError;
use super::limits::Limits;
use super::model::{
    content_id_key, Business, EdocHeader, Header, Organization, ResponseFor, StaffInfo,
    StatusHeader,
};
use super::names::check_file_name;
use super::packing::{open_sources, write_attachment_content, OpenSource, OutgoingAttachment};
use super::tree::trim_xml_whitespace;
use super::EDXML_NAMESPACE;

/// The output buffer: base64 arrives in small pieces and leaves in large writes.
const OUTPUT_BUFFER_BYTES: usize = 256 * 1024;

/// Writes one packet to `out`. Attachments are only allowed on edoc packets.
pub fn write_packet(
    header: &Header,
    attachments: &[OutgoingAttachment],
    out: impl Write,
) -> Result<(), EdxmlError> {
    let content_ids = validate_attachments(header, attachments)?;
    let mut sources = open_sources(attachments)?;
    // The dry run validates every value with its field name before anything is written.
    write_document(
        &mut XmlOut::new(io::sink()),
        header,
        attachments,
        &content_ids,
        None,
    )?;
    let mut xml = XmlOut::new(BufWriter::with_capacity(OUTPUT_BUFFER_BYTES, out));
    write_document(
        &mut xml,
        header,
        attachments,
        &content_ids,
        Some(&mut sources),
    )?;
    xml.writer.get_mut().flush().map_err(output_error)
}

/// Checks names and numbers the content ids; returns them as `cid:N`.
fn validate_attachments(
    header: &Header,
    attachments: &[OutgoingAttachment],
) -> Result<Vec<String>, EdxmlError> {
    if matches!(header, Header::Status(_)) && !attachments.is_empty() {
        return Err(invalid("a status packet carries no attachments"));
    }
    let max_name_bytes = Limits::default().max_name_bytes;
    let mut content_ids: Vec<String> = Vec::with_capacity(attachments.len());
    for (index, attachment) in attachments.iter().enumerate() {
        check_file_name(&attachment.name, max_name_bytes).map_err(|reason| {
            EdxmlError::UnsafeAttachmentName {
                name: attachment.name.clone(),
                reason,
            }
        })?;
        let key = match &attachment.content_id {
            Some(content_id) => content_id_key(content_id).to_owned(),
            None => (index + 1).to_string(),
        };
        if key.is_empty()
            || key
                .chars()
                .any(|character| character.is_whitespace() || character.is_control())
        {
            return Err(invalid(&format!(
                "attachment {:?} has an unusable ContentId",
                attachment.name
            )));
        }
        let content_id = format!("cid:{key}");
        if content_ids.contains(&content_id) {
            return Err(invalid(&format!(
                "two attachments share the ContentId {content_id}"
            )));
        }
        content_ids.push(content_id);
    }
    Ok(content_ids)
}

fn write_document<W: Write>(
    xml: &mut XmlOut<W>,
    header: &Header,
    attachments: &[OutgoingAttachment],
    content_ids: &[String],
    mut sources: Option<&mut Vec<OpenSource<'_>>>,
) -> Result<(), EdxmlError> {
    xml.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    xml.start_with("edXML", &[("xmlns", EDXML_NAMESPACE)])?;
    xml.start_with("edXML:edXMLEnvelope", &[("xmlns:edXML", EDXML_NAMESPACE)])?;
    xml.start("edXML:edXMLHeader")?;
    match header {
        Header::Edoc(edoc) => write_edoc_header(xml, edoc)?,
        Header::Status(status) => write_status_header(xml, status)?,
    }
    xml.end("edXML:edXMLHeader")?;
    if matches!(header, Header::Edoc(_)) {
        xml.start("edXML:edXMLBody")?;
        xml.start_with("edXML:edXMLManifest", &[("version", "1.0")])?;
        for (attachment, content_id) in attachments.iter().zip(content_ids) {
            xml.start("edXML:Reference")?;
            xml.value("edXML:ContentId", Some(content_id))?;
            xml.value("edXML:ContentType", attachment.content_type.as_deref())?;
            xml.value("edXML:Description", attachment.description.as_deref())?;
            xml.value("edXML:AttachmentName", Some(&attachment.name))?;
            xml.end("edXML:Reference")?;
        }
        xml.end("edXML:edXMLManifest")?;
        xml.end("edXML:edXMLBody")?;
    }
    xml.end("edXML:edXMLEnvelope")?;
    if !attachments.is_empty() {
        // Beside the envelope, where the `edXML` prefix is not declared: unprefixed names
        // in the default namespace, as the provincial hubs write them.
        xml.start("AttachmentEncoded")?;
        for (index, (attachment, content_id)) in attachments.iter().zip(content_ids).enumerate() {
            xml.start("Attachment")?;
            xml.value("ContentId", Some(content_id))?;
            xml.value("AttachmentName", Some(&attachment.name))?;
            xml.value("Description", attachment.description.as_deref())?;
            xml.value("ContentType", attachment.content_type.as_deref())?;
            xml.start_with(
                "edXML:ContentTransferEncoded",
                &[("xmlns:edXML", EDXML_NAMESPACE)],
            )?;
            if let Some(source) = sources
                .as_deref_mut()
                .and_then(|sources| sources.get_mut(index))
            {
                write_attachment_content(xml.writer.get_mut(), &attachment.name, source)?;
            }
            xml.event(Event::Text(BytesText::new("")))?;
            xml.end("edXML:ContentTransferEncoded")?;
            xml.end("Attachment")?;
        }
        xml.end("AttachmentEncoded")?;
    }
    xml.end("edXML")
}

fn write_organization<W: Write>(
    xml: &mut XmlOut<W>,
    tag: &str,
    organization: &Organization,
) -> Result<(), EdxmlError> {
    if trim_xml_whitespace(&organization.organ_id).is_empty() {
        return Err(invalid(&format!("{tag} needs an OrganId")));
    }
    xml.start(&format!("edXML:{tag}"))?;
    xml.value("edXML:OrganId", Some(&organization.organ_id))?;
    xml.value(
        "edXML:OrganizationInCharge",
        organization.organization_in_charge.as_deref(),
    )?;
    xml.value("edXML:OrganName", organization.organ_name.as_deref())?;
    xml.value("edXML:OrganAdd", organization.organ_add.as_deref())?;
    xml.value("edXML:Email", organization.email.as_deref())?;
    xml.value("edXML:Telephone", organization.telephone.as_deref())?;
    xml.value("edXML:Fax", organization.fax.as_deref())?;
    xml.value("edXML:Website", organization.website.as_deref())?;
    xml.end(&format!("edXML:{tag}"))
}

fn write_edoc_header<W: Write>(xml: &mut XmlOut<W>, edoc: &EdocHeader) -> Result<(), EdxmlError> {
    if edoc.to.is_empty() {
        return Err(invalid("an edoc packet needs at least one To"));
    }
    xml.start("edXML:MessageHeader")?;
    write_organization(xml, "From", &edoc.from)?;
    for to in &edoc.to {
        write_organization(xml, "To", to)?;
    }
    xml.value("edXML:DocumentId", edoc.document_id.as_deref())?;
    xml.start("edXML:Code")?;
    xml.value("edXML:CodeNumber", edoc.code.code_number.as_deref())?;
    xml.value("edXML:CodeNotation", edoc.code.code_notation.as_deref())?;
    xml.end("edXML:Code")?;
    xml.start("edXML:PromulgationInfo")?;
    xml.value("edXML:Place", edoc.promulgation_info.place.as_deref())?;
    xml.value(
        "edXML:PromulgationDate",
        edoc.promulgation_info.promulgation_date.as_deref(),
    )?;
    xml.end("edXML:PromulgationInfo")?;
    xml.start("edXML:DocumentType")?;
    xml.value("edXML:Type", edoc.document_type.document_type.as_deref())?;
    xml.value(
        "edXML:TypeDetail",
        edoc.document_type.type_detail.as_deref(),
    )?;
    xml.value("edXML:TypeName", edoc.document_type.type_name.as_deref())?;
    xml.end("edXML:DocumentType")?;
    xml.value("edXML:Subject", edoc.subject.as_deref())?;
    xml.value("edXML:Content", edoc.content.as_deref())?;
    xml.start("edXML:SignerInfo")?;
    xml.value("edXML:Competence", edoc.signer_info.competence.as_deref())?;
    xml.value("edXML:Position", edoc.signer_info.position.as_deref())?;
    xml.value("edXML:FullName", edoc.signer_info.full_name.as_deref())?;
    xml.end("edXML:SignerInfo")?;
    xml.value("edXML:DueDate", edoc.due_date.as_deref())?;
    xml.list("edXML:ToPlaces", "edXML:Place", &edoc.to_places)?;
    let other = &edoc.other_info;
    xml.start("edXML:OtherInfo")?;
    xml.value("edXML:Priority", other.priority.as_deref())?;
    xml.value(
        "edXML:SphereOfPromulgation",
        other.sphere_of_promulgation.as_deref(),
    )?;
    xml.value("edXML:TyperNotation", other.typer_notation.as_deref())?;
    xml.value(
        "edXML:PromulgationAmount",
        other.promulgation_amount.as_deref(),
    )?;
    xml.value("edXML:PageAmount", other.page_amount.as_deref())?;
    xml.list("edXML:Appendixes", "edXML:Appendix", &other.appendixes)?;
    xml.end("edXML:OtherInfo")?;
    for response in edoc
        .response_for
        .iter()
        .filter(|response| !response.is_empty())
    {
        write_response_for(xml, response)?;
    }
    xml.value("edXML:SteeringType", edoc.steering_type.as_deref())?;
    xml.end("edXML:MessageHeader")?;
    if edoc.trace_headers.is_empty() && edoc.business.is_none() {
        return Ok(());
    }
    xml.start("edXML:TraceHeaderList")?;
    for trace in &edoc.trace_headers {
        xml.start("edXML:TraceHeader")?;
        xml.value("edXML:OrganId", trace.organ_id.as_deref())?;
        xml.value("edXML:Timestamp", trace.timestamp.as_deref())?;
        xml.end("edXML:TraceHeader")?;
    }
    if let Some(business) = &edoc.business {
        write_business(xml, business)?;
    }
    xml.end("edXML:TraceHeaderList")
}

fn write_response_for<W: Write>(
    xml: &mut XmlOut<W>,
    response: &ResponseFor,
) -> Result<(), EdxmlError> {
    xml.start("edXML:ResponseFor")?;
    xml.value("edXML:OrganId", response.organ_id.as_deref())?;
    xml.value("edXML:Code", response.code.as_deref())?;
    xml.value(
        "edXML:PromulgationDate",
        response.promulgation_date.as_deref(),
    )?;
    xml.value("edXML:DocumentId", response.document_id.as_deref())?;
    xml.end("edXML:ResponseFor")
}

fn write_staff_info<W: Write>(xml: &mut XmlOut<W>, staff: &StaffInfo) -> Result<(), EdxmlError> {
    xml.start("edXML:StaffInfo")?;
    xml.value("edXML:Department", staff.department.as_deref())?;
    xml.value("edXML:Staff", staff.staff.as_deref())?;
    xml.value("edXML:Email", staff.email.as_deref())?;
    xml.value("edXML:Mobile", staff.mobile.as_deref())?;
    xml.end("edXML:StaffInfo")
}

fn write_business<W: Write>(xml: &mut XmlOut<W>, business: &Business) -> Result<(), EdxmlError> {
    xml.start("edXML:Bussiness")?;
    xml.value("edXML:DocumentId", business.document_id.as_deref())?;
    let doc_type = business.business_doc_type.number().to_string();
    xml.value("edXML:BussinessDocType", Some(&doc_type))?;
    xml.value(
        "edXML:BussinessDocReason",
        business.business_doc_reason.as_deref(),
    )?;
    xml.value("edXML:Paper", business.paper.as_deref())?;
    let has_document_info = business.document_info.is_some()
        || business.document_receiver.is_some()
        || !business.receiver_list.is_empty();
    if has_document_info {
        xml.start("edXML:BussinessDocumentInfo")?;
        xml.value("edXML:DocumentInfo", business.document_info.as_deref())?;
        xml.value(
            "edXML:DocumentReceiver",
            business.document_receiver.as_deref(),
        )?;
        xml.start("edXML:ReceiverList")?;
        for receiver in &business.receiver_list {
            xml.start("edXML:Receiver")?;
            xml.value("edXML:OrganId", receiver.organ_id.as_deref())?;
            xml.value("edXML:ReceiverType", receiver.receiver_type.as_deref())?;
            xml.end("edXML:Receiver")?;
        }
        xml.end("edXML:ReceiverList")?;
        xml.end("edXML:BussinessDocumentInfo")?;
    }
    if !business.replacement_info_list.is_empty() {
        xml.start("edXML:ReplacementInfoList")?;
        for replacement in &business.replacement_info_list {
            xml.start("edXML:ReplacementInfo")?;
            xml.value("edXML:DocumentId", replacement.document_id.as_deref())?;
            xml.list("edXML:OrganIdList", "edXML:OrganId", &replacement.organ_ids)?;
            xml.end("edXML:ReplacementInfo")?;
        }
        xml.end("edXML:ReplacementInfoList")?;
    }
    write_staff_info(xml, &business.staff_info)?;
    xml.end("edXML:Bussiness")
}

fn write_status_header<W: Write>(
    xml: &mut XmlOut<W>,
    status: &StatusHeader,
) -> Result<(), EdxmlError> {
    xml.start("edXML:MessageHeader")?;
    write_organization(xml, "From", &status.from)?;
    write_response_for(xml, &status.response_for)?;
    write_staff_info(xml, &status.staff_info)?;
    xml.value("edXML:StatusCode", Some(status.status_code.code()))?;
    xml.value("edXML:Description", status.description.as_deref())?;
    xml.value("edXML:Timestamp", status.timestamp.as_deref())?;
    xml.end("edXML:MessageHeader")
}

fn invalid(reason: &str) -> EdxmlError {
    EdxmlError::InvalidOutgoing {
        reason: reason.to_owned(),
    }
}

pub(crate) fn output_error(source: io::Error) -> EdxmlError {
    EdxmlError::Output { source }
}

/// quick-xml's writer with the element helpers the layout needs.
struct XmlOut<W: Write> {
    writer: Writer<W>,
}

impl<W: Write> XmlOut<W> {
    fn new(out: W) -> Self {
        XmlOut {
            writer: Writer::new_with_indent(out, b' ', 2),
        }
    }

    fn event(&mut self, event: Event<'_>) -> Result<(), EdxmlError> {
        self.writer.write_event(event).map_err(output_error)
    }

    fn start(&mut self, name: &str) -> Result<(), EdxmlError> {
        self.event(Event::Start(BytesStart::new(name)))
    }

    fn start_with(&mut self, name: &str, attributes: &[(&str, &str)]) -> Result<(), EdxmlError> {
        self.event(Event::Start(
            BytesStart::new(name).with_attributes(attributes.iter().copied()),
        ))
    }

    fn end(&mut self, name: &str) -> Result<(), EdxmlError> {
        self.event(Event::End(BytesStart::new(name).to_end()))
    }

    /// Writes `<name>value</name>` when the trimmed value is not empty. Values are escaped
    /// by quick-xml; a carriage return becomes `&#13;` so a reader's line-end
    /// normalisation gives it back unchanged.
    fn value(&mut self, name: &str, value: Option<&str>) -> Result<(), EdxmlError> {
        let Some(value) = value
            .map(trim_xml_whitespace)
            .filter(|value| !value.is_empty())
        else {
            return Ok(());
        };
        if let Some(character) = value
            .chars()
            .find(|&character| !is_xml_character(character))
        {
            let field = name.trim_start_matches("edXML:");
            return Err(invalid(&format!(
                "{field} contains the character U+{:04X}, which XML cannot carry",
                u32::from(character)
            )));
        }
        let escaped = quick_xml::escape::escape(value).replace('\r', "&#13;");
        self.start(name)?;
        self.event(Event::Text(BytesText::from_escaped(escaped)))?;
        self.end(name)
    }

    /// Writes a container with one element per value, leaving out empty values; nothing
    /// at all when no value is left.
    fn list(&mut self, container: &str, item: &str, values: &[String]) -> Result<(), EdxmlError> {
        if values
            .iter()
            .all(|value| trim_xml_whitespace(value).is_empty())
        {
            return Ok(());
        }
        self.start(container)?;
        for value in values {
            self.value(item, Some(value))?;
        }
        self.end(container)
    }
}

/// The characters XML 1.0 allows in content.
fn is_xml_character(character: char) -> bool {
    matches!(character, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
