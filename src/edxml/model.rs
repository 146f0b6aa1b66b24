//! The packet model: what an edoc or status packet says, in English domain words, plus the
//! attachments a read produced. Owns the shapes, their JSON form (the one `docgate edxml
//! parse --json` prints and `edxml build --meta` reads). Does not read or write XML, and
//! does not judge business rules (whether a date is in the future, whether an agency code
//! is registered): that is the workflow's job.
//!
//! Values are kept as the packet spells them, trimmed; dates and timestamps stay strings
//! because real traffic carries impossible dates such as `2014/02/30` (`dates` checks
//! their shape).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tempfile::TempPath;

/// One packet as read: its header and its attachments (edoc packets only carry those).
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Packet {
    pub header: Header,
    pub attachments: Vec<ReceivedAttachment>,
}

/// The two kinds of packet.
#[allow(
    clippy::large_enum_variant,
    reason = "a header lives once per packet; boxing the edoc variant would only make every caller write Box::new"
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Header {
    /// A document (văn bản).
    Edoc(EdocHeader),
    /// A processing status about a document.
    Status(StatusHeader),
}

/// An agency as `From` or `To` describe it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Organization {
    /// The agency code (mã định danh), e.g. `000.00.00.H41`.
    pub organ_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_in_charge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organ_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organ_add: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

/// The header of an edoc packet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct EdocHeader {
    pub from: Organization,
    pub to: Vec<Organization>,
    /// `{From.OrganId},{yyyy/MM/dd},{CodeNumber}/{CodeNotation}` by convention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    #[serde(default)]
    pub code: Code,
    #[serde(default)]
    pub promulgation_info: PromulgationInfo,
    #[serde(default)]
    pub document_type: DocumentType,
    /// The summary (trích yếu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default)]
    pub signer_info: SignerInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    #[serde(default)]
    pub to_places: Vec<String>,
    #[serde(default)]
    pub other_info: OtherInfo,
    /// The documents this one answers. Entries with no value at all are dropped on read.
    #[serde(default)]
    pub response_for: Vec<ResponseFor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steering_type: Option<String>,
    #[serde(default)]
    pub trace_headers: Vec<TraceHeader>,
    /// The `Bussiness` block: new, recall, update or replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<Business>,
}

/// Number (số) and notation (ký hiệu).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Code {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_notation: Option<String>,
}

/// Where and when the document was issued.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct PromulgationInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// `yyyy/MM/dd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promulgation_date: Option<String>,
}

/// The kind of document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct DocumentType {
    /// 1 administrative, 2 legal normative (probable meaning).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_detail: Option<String>,
    /// E.g. "Công văn".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

/// Who signed the document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct SignerInfo {
    /// TL., KT., TM., TUQ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
}

/// Priority, circulation and page counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct OtherInfo {
    /// 0 normal, 1 urgent, 2 very urgent, 3 express, 4 express at a set time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sphere_of_promulgation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typer_notation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promulgation_amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_amount: Option<String>,
    #[serde(default)]
    pub appendixes: Vec<String>,
}

/// A reference to an earlier document (edoc) or to the document a status is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ResponseFor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organ_id: Option<String>,
    /// Number and notation together, e.g. `7816/VPCP-TTĐT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promulgation_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
}

impl ResponseFor {
    /// True when no field carries a value.
    pub fn is_empty(&self) -> bool {
        *self == ResponseFor::default()
    }
}

/// One hop the packet passed through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct TraceHeader {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organ_id: Option<String>,
    /// `yyyy/MM/dd HH:mm:ss`, Vietnam local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// The `Bussiness` block of an edoc packet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Business {
    /// The document this business action is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// Read as [`BusinessDocType::New`] when the block omits it.
    #[serde(default)]
    pub business_doc_type: BusinessDocType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_doc_reason: Option<String>,
    /// 0 or 1: whether a paper copy follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<String>,
    #[serde(default)]
    pub staff_info: StaffInfo,
    /// For an update: the receivers removed (type 0) or added (type 1).
    #[serde(default)]
    pub receiver_list: Vec<Receiver>,
    /// For a replacement: the documents replaced, and for whom.
    #[serde(default)]
    pub replacement_info_list: Vec<ReplacementInfo>,
    /// `BussinessDocumentInfo/DocumentInfo`: whether the document's data changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_info: Option<String>,
    /// `BussinessDocumentInfo/DocumentReceiver`: whether the receivers changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_receiver: Option<String>,
}

/// What a business block does; serialized as its number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BusinessDocType {
    /// 0: a new document.
    #[default]
    New,
    /// 1: the sender recalls (thu hồi) the document.
    Recall,
    /// 2: the sender updates (cập nhật) the document or its receivers.
    Update,
    /// 3: the document replaces (thay thế) earlier ones.
    Replace,
}

impl BusinessDocType {
    /// The number the packet carries.
    pub fn number(self) -> u8 {
        match self {
            BusinessDocType::New => 0,
            BusinessDocType::Recall => 1,
            BusinessDocType::Update => 2,
            BusinessDocType::Replace => 3,
        }
    }

    /// Reads the number a packet carries.
    pub fn from_number(number: u64) -> Option<BusinessDocType> {
        match number {
            0 => Some(BusinessDocType::New),
            1 => Some(BusinessDocType::Recall),
            2 => Some(BusinessDocType::Update),
            3 => Some(BusinessDocType::Replace),
            _ => None,
        }
    }

    /// Reads the text of a `BussinessDocType` element.
    pub fn parse(text: &str) -> Option<BusinessDocType> {
        text.parse::<u64>()
            .ok()
            .and_then(BusinessDocType::from_number)
    }
}

impl Serialize for BusinessDocType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for BusinessDocType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = NumberOrText::deserialize(deserializer)?;
        let parsed = match &number {
            NumberOrText::Number(value) => BusinessDocType::from_number(*value),
            NumberOrText::Text(text) => BusinessDocType::parse(text.trim()),
        };
        parsed.ok_or_else(|| {
            serde::de::Error::custom(format!(
                "business_doc_type {number} is not 0 (new), 1 (recall), 2 (update) or 3 (replace)"
            ))
        })
    }
}

/// A number that a hand-written JSON file may also spell as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

impl fmt::Display for NumberOrText {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberOrText::Number(value) => write!(formatter, "{value}"),
            NumberOrText::Text(text) => write!(formatter, "{text:?}"),
        }
    }
}

/// A clerk or department that acted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct StaffInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

impl StaffInfo {
    /// True when no field carries a value.
    pub fn is_empty(&self) -> bool {
        *self == StaffInfo::default()
    }
}

/// A receiver removed or added by an update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Receiver {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organ_id: Option<String>,
    /// 0 removed, 1 added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_type: Option<String>,
}

/// A document replaced, and the agencies that held it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ReplacementInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    #[serde(default)]
    pub organ_ids: Vec<String>,
}

/// The header of a status packet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct StatusHeader {
    pub from: Organization,
    /// The document the status is about.
    #[serde(default)]
    pub response_for: ResponseFor,
    #[serde(default)]
    pub staff_info: StaffInfo,
    pub status_code: StatusCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `yyyy/MM/dd HH:mm:ss`, Vietnam local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// The nine processing status codes in use; serialized as the two-digit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCode {
    /// 01: arrived; the clerk has not acted yet.
    Arrived,
    /// 02: refused (misaddressed, wrong, invalid).
    Refused,
    /// 03: accepted and registered in the incoming register.
    Accepted,
    /// 04: assigned to someone for handling.
    Assigned,
    /// 05: being handled.
    Processing,
    /// 06: handling completed.
    Completed,
    /// 13: the sender asks to take the document back.
    RecallRequested,
    /// 15: the receiver agrees to the recall or update.
    RecallAgreed,
    /// 16: the receiver refuses the recall or update.
    RecallRefused,
}

impl StatusCode {
    /// Every code, in numeric order.
    pub const ALL: [StatusCode; 9] = [
        StatusCode::Arrived,
        StatusCode::Refused,
        StatusCode::Accepted,
        StatusCode::Assigned,
        StatusCode::Processing,
        StatusCode::Completed,
        StatusCode::RecallRequested,
        StatusCode::RecallAgreed,
        StatusCode::RecallRefused,
    ];

    /// The two-digit code the packet carries.
    pub fn code(self) -> &'static str {
        match self {
            StatusCode::Arrived => "01",
            StatusCode::Refused => "02",
            StatusCode::Accepted => "03",
            StatusCode::Assigned => "04",
            StatusCode::Processing => "05",
            StatusCode::Completed => "06",
            StatusCode::RecallRequested => "13",
            StatusCode::RecallAgreed => "15",
            StatusCode::RecallRefused => "16",
        }
    }

    /// Reads a two-digit code; a single digit (`3`) is read as its padded form (`03`).
    pub fn parse(text: &str) -> Option<StatusCode> {
        let padded = if text.len() == 1 {
            format!("0{text}")
        } else {
            text.to_owned()
        };
        StatusCode::ALL
            .into_iter()
            .find(|code| code.code() == padded)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

impl Serialize for StatusCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for StatusCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = NumberOrText::deserialize(deserializer)?;
        let parsed = match &value {
            NumberOrText::Number(number) => StatusCode::parse(&format!("{number:02}")),
            NumberOrText::Text(text) => StatusCode::parse(text.trim()),
        };
        parsed.ok_or_else(|| {
            serde::de::Error::custom(format!(
                "status_code {value} is not one of 01, 02, 03, 04, 05, 06, 13, 15, 16"
            ))
        })
    }
}

/// One attachment as read from a packet.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct ReceivedAttachment {
    /// The `ContentId` as the packet spells it (usually `cid:N`).
    pub content_id: String,
    /// The `AttachmentName`, checked to be a safe file name.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The extracted file, or why there is none.
    #[serde(flatten)]
    pub content: AttachmentContent,
}

impl ReceivedAttachment {
    /// The ContentId without its `cid:` prefix, for comparing with manifest references.
    pub fn content_id_key(&self) -> &str {
        content_id_key(&self.content_id)
    }
}

/// Strips the `cid:` prefix (any case) that some producers write and others omit.
pub fn content_id_key(content_id: &str) -> &str {
    let trimmed = content_id.trim();
    match trimmed.get(..4) {
        // `get(..4)` succeeded, so byte 4 is a character boundary and the slice cannot panic.
        Some(prefix) if prefix.eq_ignore_ascii_case("cid:") => trimmed[4..].trim(),
        _ => trimmed,
    }
}

/// What became of an attachment's content.
#[derive(Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AttachmentContent {
    /// The one file of the attachment's ZIP, extracted to a staged file.
    Extracted(ExtractedFile),
    /// The transfer encoding could not be decoded; the packet is still usable.
    Unreadable {
        #[serde(rename = "unreadable")]
        reason: String,
    },
}

/// The file extracted from an attachment's ZIP, staged in the caller's staging directory.
/// The staged file is deleted when this value is dropped, unless the caller takes it with
/// [`ExtractedFile::into_staged_file`]. It is not fsynced: whoever keeps it does that.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct ExtractedFile {
    /// Bytes extracted (CRC-checked against the ZIP entry).
    pub size: u64,
    /// SHA-256 of the extracted bytes, lowercase hex.
    pub sha256: String,
    /// The name of the one entry inside the ZIP.
    pub zip_entry_name: String,
    #[serde(skip)]
    staged: TempPath,
}

impl ExtractedFile {
    pub(crate) fn new(size: u64, sha256: String, zip_entry_name: String, staged: TempPath) -> Self {
        ExtractedFile {
            size,
            sha256,
            zip_entry_name,
            staged,
        }
    }

    /// Where the extracted bytes are staged, for reading them in place.
    pub fn staged_path(&self) -> &Path {
        &self.staged
    }

    /// Takes ownership of the staged file: `persist` it (a rename within the staging
    /// filesystem) to keep it, or drop it to delete it.
    pub fn into_staged_file(self) -> TempPath {
        self.staged
    }
}

impl PartialEq for ExtractedFile {
    /// Two extractions are equal when they describe the same bytes, wherever they are staged.
    fn eq(&self, other: &Self) -> bool {
        self.size == other.size
            && self.sha256 == other.sha256
            && self.zip_entry_name == other.zip_entry_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip_as_two_digits() {
        for code in StatusCode::ALL {
            let json = serde_json::to_string(&code).expect("a status code serializes");
            assert_eq!(json, format!("\"{}\"", code.code()));
            let back: StatusCode = serde_json::from_str(&json).expect("and reads back");
            assert_eq!(back, code);
        }
        assert_eq!(StatusCode::parse("3"), Some(StatusCode::Accepted));
        assert_eq!(StatusCode::parse("99"), None);
    }

    #[test]
    fn business_doc_type_is_a_number() {
        assert_eq!(
            serde_json::to_string(&BusinessDocType::Replace).expect("serializes"),
            "3"
        );
        let back: BusinessDocType = serde_json::from_str("\"1\"").expect("text is accepted");
        assert_eq!(back, BusinessDocType::Recall);
        assert!(serde_json::from_str::<BusinessDocType>("7").is_err());
    }

    #[test]
    fn content_id_key_strips_cid() {
        assert_eq!(content_id_key("cid:209"), "209");
        assert_eq!(content_id_key(" CID:209 "), "209");
        assert_eq!(content_id_key("209"), "209");
    }
}
