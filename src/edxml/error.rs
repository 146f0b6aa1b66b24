//! The codec's one error type. Each message is one line that an IT admin can act on, with
//! the byte offset in the packet where that helps. Does not decide what happens to a bad
//! packet (quarantine is the workflow's job); it only says what is wrong.

use std::io;
use std::path::PathBuf;

/// Why reading or writing an edXML packet failed.
#[derive(Debug, thiserror::Error)]
pub enum EdxmlError {
    /// The packet file could not be opened or read.
    #[error("cannot read packet file {path}: {source}")]
    OpenInput { path: PathBuf, source: io::Error },

    /// Reading the input failed part-way.
    #[error("cannot read the packet at offset {offset}: {source}")]
    Input { offset: u64, source: io::Error },

    /// A staging file could not be created or written.
    #[error("cannot write a staging file in {dir}: {source} (check free space and permissions)")]
    Staging { dir: PathBuf, source: io::Error },

    /// The input is empty.
    #[error("not an edXML packet: the input is empty")]
    Empty,

    /// Something other than the XML declaration comes first.
    #[error(
        "not an edXML packet: {count} unexpected bytes before the XML declaration at offset {offset}"
    )]
    BytesBeforeDeclaration { count: u64, offset: u64 },

    /// Text comes before the root element.
    #[error(
        "not an edXML packet: {count} unexpected bytes before the root element at offset {offset}"
    )]
    BytesBeforeRoot { count: u64, offset: u64 },

    /// Something other than whitespace or comments follows the root element.
    #[error("not an edXML packet: unexpected content after the end of the root element at offset {offset}")]
    ContentAfterRoot { offset: u64 },

    /// A DOCTYPE declaration: edXML never carries one, and refusing it rules out entity
    /// expansion attacks entirely.
    #[error("refused: a DOCTYPE declaration at offset {offset}; edXML packets never carry a DTD")]
    Doctype { offset: u64 },

    /// An entity reference other than the five XML predefines or a character reference.
    #[error("refused: unknown entity reference &{name}; at offset {offset}")]
    UnknownEntity { name: String, offset: u64 },

    /// The declared encoding is not UTF-8.
    #[error(
        "unsupported encoding {encoding:?} in the XML declaration; edXML packets must be UTF-8"
    )]
    UnsupportedEncoding { encoding: String },

    /// Bytes that are not UTF-8.
    #[error("invalid UTF-8 at offset {offset}; edXML packets must be UTF-8")]
    InvalidUtf8 { offset: u64 },

    /// The XML is not well-formed.
    #[error("malformed XML at offset {offset}: {message}")]
    MalformedXml { offset: u64, message: String },

    /// The input ends before the packet does.
    #[error("truncated packet: the input ends at offset {offset} {place}")]
    Truncated { offset: u64, place: String },

    /// An element uses a namespace prefix that nothing declares.
    #[error("malformed XML at offset {offset}: element <{element}> uses the undeclared namespace prefix {prefix:?}")]
    UndeclaredPrefix {
        element: String,
        prefix: String,
        offset: u64,
    },

    /// The root element is not `edXML` in the edXML namespace.
    #[error("not an edXML packet: the root element is <{found}> in namespace {namespace:?}; expected <edXML> in {expected}")]
    WrongRoot {
        found: String,
        namespace: String,
        expected: &'static str,
    },

    /// The packet is larger than [`Limits::max_packet_bytes`](crate::edxml::Limits).
    #[error("refused: the packet is larger than the limit of {limit} bytes")]
    PacketTooLarge { limit: u64 },

    /// The XML outside attachment content is larger than its limit.
    #[error(
        "refused: more than {limit} bytes of XML outside attachment content (at offset {offset})"
    )]
    HeaderTooLarge { limit: u64, offset: u64 },

    /// Too many elements outside attachment content.
    #[error("refused: more than {limit} XML elements (at offset {offset})")]
    TooManyElements { limit: usize, offset: u64 },

    /// Elements nest too deeply.
    #[error("refused: XML nested deeper than {limit} levels at offset {offset}")]
    TooDeep { limit: usize, offset: u64 },

    /// More `Attachment` elements than allowed.
    #[error("refused: more than {limit} attachments (at offset {offset})")]
    TooManyAttachments { limit: usize, offset: u64 },

    /// All attachments together would extract to more than allowed.
    #[error("refused: the attachments together extract to more than {limit} bytes")]
    AttachmentsTooLarge { limit: u64 },

    /// The packet has no `edXMLEnvelope/edXMLHeader/MessageHeader`.
    #[error("not an edXML packet: no edXMLEnvelope/edXMLHeader/MessageHeader element")]
    MissingMessageHeader,

    /// `MessageHeader` has neither a `StatusCode` (status) nor a `To` (edoc).
    #[error("neither an edoc nor a status packet: MessageHeader has no To and no StatusCode")]
    UnknownPacketKind,

    /// A field the packet cannot do without is absent or empty.
    #[error("missing required field {field}")]
    MissingField { field: String },

    /// A status code outside the nine in use.
    #[error("unknown status code {code:?}; expected one of 01, 02, 03, 04, 05, 06, 13, 15, 16")]
    UnknownStatusCode { code: String },

    /// A business document type outside 0..=3.
    #[error("unknown BussinessDocType {value:?}; expected 0 (new), 1 (recall), 2 (update) or 3 (replace)")]
    UnknownBusinessDocType { value: String },

    /// An attachment name that is unsafe to use as a file name.
    #[error("attachment name {name:?} refused: {reason}")]
    UnsafeAttachmentName { name: String, reason: &'static str },

    /// The archive inside an attachment is unusable; see [`ArchiveProblem`].
    #[error("attachment {attachment}: {problem}")]
    BadArchive {
        attachment: String,
        problem: ArchiveProblem,
    },

    /// The manifest lists an attachment the packet does not carry.
    #[error("the manifest lists attachment {content_id:?} but the packet carries no Attachment with that ContentId")]
    MissingAttachment { content_id: String },

    /// A packet to be written fails validation.
    #[error("cannot build the packet: {reason}")]
    InvalidOutgoing { reason: String },

    /// An outgoing attachment's source could not be read.
    #[error("cannot read attachment {name:?}: {source}")]
    AttachmentSource { name: String, source: io::Error },

    /// Writing the packet failed.
    #[error("cannot write the packet: {source}")]
    Output { source: io::Error },

    /// The metadata file for `edxml build` is unreadable or not a header.
    #[error("invalid metadata file {path}: {message}")]
    InvalidMeta { path: PathBuf, message: String },
}

impl EdxmlError {
    /// Whether reading failed here rather than in the packet: a local file could not be
    /// opened, read or written (the disk is full, say). Worth another try later; never a
    /// reason to quarantine the packet.
    pub fn is_local(&self) -> bool {
        match self {
            EdxmlError::OpenInput { .. } | EdxmlError::Staging { .. } => true,
            // An error from the operating system, not one a decoder made up.
            EdxmlError::Input { source, .. } => source.raw_os_error().is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_local_and_a_bad_packet_is_not() {
        let full = || io::Error::from_raw_os_error(28);
        assert!(EdxmlError::Staging {
            dir: "/state/blobs/tmp".into(),
            source: full()
        }
        .is_local());
        assert!(EdxmlError::Input {
            offset: 7,
            source: full()
        }
        .is_local());
        let decoder = io::Error::new(io::ErrorKind::InvalidData, "invalid base64");
        assert!(!EdxmlError::Input {
            offset: 7,
            source: decoder
        }
        .is_local());
        assert!(!EdxmlError::Empty.is_local());
    }
}

/// What is wrong with the ZIP archive inside one attachment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveProblem {
    /// The decoded content is not a ZIP archive.
    #[error("the decoded content is not a readable ZIP archive ({detail})")]
    NotZip { detail: String },
    /// The archive must hold exactly one file.
    #[error("the ZIP archive holds {count} entries; edXML attachments hold exactly one file")]
    EntryCount { count: usize },
    /// The one entry is a directory, a link or encrypted.
    #[error("the ZIP entry is not a plain file ({detail})")]
    NotPlainFile { detail: &'static str },
    /// The entry's name is unsafe.
    #[error("the ZIP entry name {name:?} is refused: {reason}")]
    UnsafeEntryName { name: String, reason: &'static str },
    /// The archive itself is larger than allowed.
    #[error("the ZIP archive is larger than the limit of {limit} bytes")]
    ArchiveTooLarge { limit: u64 },
    /// The entry declares more than allowed.
    #[error("the ZIP entry declares {declared} bytes, over the limit of {limit} bytes")]
    EntryTooLarge { declared: u64, limit: u64 },
    /// The entry expands more than allowed (a zip bomb).
    #[error("the ZIP entry would expand {ratio}-fold ({compressed} to {declared} bytes), over the limit of {limit}-fold")]
    ExpansionRatio {
        compressed: u64,
        declared: u64,
        ratio: u64,
        limit: u64,
    },
    /// The entry yields more bytes than its header declares.
    #[error("the ZIP entry yields more bytes than the {declared} its header declares")]
    LongerThanDeclared { declared: u64 },
    /// The entry yields fewer bytes than its header declares.
    #[error("the ZIP entry yields {actual} bytes, fewer than the {declared} its header declares")]
    ShorterThanDeclared { actual: u64, declared: u64 },
    /// The extracted bytes do not match the entry's CRC-32.
    #[error("the ZIP entry fails its CRC-32 check: the content is corrupt")]
    CrcMismatch,
    /// The compressed data is damaged or cut short.
    #[error("the ZIP entry's compressed data is damaged or truncated ({detail})")]
    Corrupt { detail: String },
    /// The compression method is not one the gateway reads.
    #[error("the ZIP entry uses an unsupported compression method ({detail})")]
    Unsupported { detail: String },
}

/// Makes text from a packet safe to put in a one-line message: control characters (line
/// breaks above all, which quick-xml may echo from a broken tag) are written as escapes.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_control() {
                character.escape_debug().to_string()
            } else {
                character.to_string()
            }
        })
        .collect()
}
