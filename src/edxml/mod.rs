//! The edXML codec (QCVN 102:2016/BTTTT): reads edoc and status packets leniently and
//! writes them strictly in the national SDK's layout.
//!
//! Owns: the packet model ([`model`]), the streaming reader ([`read_packet`]), the writer
//! ([`write_packet`]), the limits that bound every read ([`Limits`]), the staging files that
//! hold extracted attachments until the caller takes them, and the command-line helpers
//! ([`command`]). Does not own: where attachments end up (the store moves the staged files
//! into its blob directory), signatures inside attachments (`signature`), or what a packet
//! means for a document's life cycle (`workflow`).
//!
//! # Reading rules
//!
//! * Elements match on the edXML namespace URI and local name, in any order, with or without
//!   the `edXML:` prefix. `Bussiness…` and `Business…` are the same element. Values are
//!   trimmed of XML whitespace; an empty value reads as absent. `Signature` blocks and
//!   elements of other namespaces are skipped (their bytes still count against the limits).
//!   Real producers write `edXML:`-prefixed elements outside the scope that declares the
//!   prefix (the SDK's own sample does), so an undeclared `edXML` prefix means the edXML
//!   namespace; any other undeclared element prefix is an error. Attributes are never
//!   resolved, so an undeclared attribute prefix (`xlink:href`) is harmless.
//! * A DOCTYPE, an unknown entity, bytes before the XML declaration or the root, content
//!   after the root, malformed or truncated XML, invalid UTF-8 and any limit overrun reject
//!   the whole packet with an [`EdxmlError`] that names the problem and, where it helps,
//!   the byte offset.
//! * Attachment content streams: the base64 text goes straight from the input to a staged
//!   ZIP file and never sits in memory. **Only an undecodable transfer encoding** (bytes that
//!   are not base64, such as a template placeholder, or no content at all) yields
//!   [`AttachmentContent::Unreadable`]: nothing was decoded, so there is nothing dangerous to
//!   inspect, and the clerk can still see the document and refuse it (status 02). Once the
//!   base64 decodes, **every problem with the archive is a hard error** for the whole packet
//!   (not a ZIP, more or fewer than one entry, an unsafe entry name, a size or expansion
//!   ratio over the limits, a CRC mismatch, truncation): such an archive is corrupt in
//!   transit or hostile, and the packet belongs in quarantine with the reason.
//! * An unsafe `AttachmentName` (path separators, `..`, control characters, too long) is a
//!   hard error too: it is the name a clerk will save the file under.
//! * Manifest and attachments: an `Attachment` that the manifest does not list is still read
//!   (the manifest is advisory in practice); a manifest `Reference` without a matching
//!   `Attachment` is a hard error, because the document arrived incomplete and registering
//!   it would lose a file the sender meant to send. `cid:` prefixes are ignored when
//!   matching.

pub mod command;
mod dates;
mod error;
mod extract;
mod header;
mod input;
mod limits;
pub mod model;
mod names;
mod packing;
mod pipeline;
mod reader;
mod transfer;
mod tree;
mod writer;

pub use dates::{is_valid_date, is_valid_timestamp};
pub use error::{ArchiveProblem, EdxmlError};
pub use limits::Limits;
pub use model::{
    AttachmentContent, Business, BusinessDocType, Code, DocumentType, EdocHeader, ExtractedFile,
    Header, Organization, OtherInfo, Packet, PromulgationInfo, ReceivedAttachment, Receiver,
    ReplacementInfo, ResponseFor, SignerInfo, StaffInfo, StatusCode, StatusHeader, TraceHeader,
};
pub use names::check_file_name;
pub use packing::{AttachmentSource, OutgoingAttachment};
pub use reader::{read_packet, read_packet_file};
pub use writer::write_packet;

/// The edXML namespace URI of QCVN 102:2016.
pub const EDXML_NAMESPACE: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
