//! The helpers behind `docgate edxml parse` and `docgate edxml build`: read a packet file
//! into JSON or a short summary, and build a packet from a `META.json` header and files.
//! Owns their temporary staging and the atomic write of a built packet. Does not parse
//! the command line or print (`main.rs` does), and keeps nothing it extracts.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::NamedTempFile;

use super::error::EdxmlError;
use super::limits::Limits;
use super::model::{AttachmentContent, Header, Packet};
use super::packing::OutgoingAttachment;
use super::reader::read_packet_file;
use super::writer::write_packet;

/// The largest `META.json` accepted: a header is a few kilobytes.
const MAX_META_BYTES: u64 = 4 * 1024 * 1024;

/// Reads the packet at `path` (default limits, staging in a temporary directory that is
/// removed afterwards) and returns it as JSON: `{"header": {...}, "attachments": [...]}`,
/// each attachment with `content_id`, `name`, `description`, `content_type` and either
/// `size`, `sha256`, `zip_entry_name` or `unreadable` (the reason).
pub fn parse_to_json(path: &Path) -> Result<Value, EdxmlError> {
    with_packet(path, |packet| {
        serde_json::to_value(packet).map_err(|error| EdxmlError::InvalidMeta {
            path: path.to_owned(),
            message: format!("cannot render as JSON: {error}"),
        })
    })
}

/// Reads the packet at `path` and returns a short human summary, one fact per line.
pub fn parse_to_text(path: &Path) -> Result<String, EdxmlError> {
    with_packet(path, |packet| Ok(summary(packet)))
}

/// Reads a packet with a throw-away staging directory and hands it to `render`.
fn with_packet<T>(
    path: &Path,
    render: impl FnOnce(&Packet) -> Result<T, EdxmlError>,
) -> Result<T, EdxmlError> {
    let staging = tempfile::Builder::new()
        .prefix("docgate-edxml-")
        .tempdir()
        .map_err(|source| EdxmlError::Staging {
            dir: std::env::temp_dir(),
            source,
        })?;
    let packet = read_packet_file(path, staging.path(), &Limits::default())?;
    let rendered = render(&packet);
    // The staged files go before their directory.
    drop(packet);
    drop(staging);
    rendered
}

fn summary(packet: &Packet) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail, so the results of `writeln!` are ignored.
    match &packet.header {
        Header::Edoc(edoc) => {
            let business = edoc.business.as_ref().map_or_else(
                || "none".to_owned(),
                |business| format!("{:?}", business.business_doc_type).to_lowercase(),
            );
            let _ = writeln!(text, "edoc packet from {}", edoc.from.organ_id);
            let recipients: Vec<&str> = edoc.to.iter().map(|to| to.organ_id.as_str()).collect();
            let _ = writeln!(text, "to: {}", recipients.join(", "));
            let _ = writeln!(
                text,
                "document id: {}",
                edoc.document_id.as_deref().unwrap_or("-")
            );
            let number = match (&edoc.code.code_number, &edoc.code.code_notation) {
                (Some(number), Some(notation)) => format!("{number}/{notation}"),
                (Some(number), None) => number.clone(),
                (None, Some(notation)) => notation.clone(),
                (None, None) => "-".to_owned(),
            };
            let _ = writeln!(text, "number: {number}");
            let _ = writeln!(text, "subject: {}", edoc.subject.as_deref().unwrap_or("-"));
            let _ = writeln!(text, "business: {business}");
        }
        Header::Status(status) => {
            let _ = writeln!(text, "status packet from {}", status.from.organ_id);
            let _ = writeln!(
                text,
                "status: {} {:?}",
                status.status_code, status.status_code
            );
            let _ = writeln!(
                text,
                "about document: {}",
                status.response_for.document_id.as_deref().unwrap_or("-")
            );
            let _ = writeln!(
                text,
                "timestamp: {}",
                status.timestamp.as_deref().unwrap_or("-")
            );
        }
    }
    let _ = writeln!(text, "attachments: {}", packet.attachments.len());
    for attachment in &packet.attachments {
        match &attachment.content {
            AttachmentContent::Extracted(file) => {
                let _ = writeln!(
                    text,
                    "  {} {} ({} bytes, sha256 {})",
                    attachment.content_id, attachment.name, file.size, file.sha256
                );
            }
            AttachmentContent::Unreadable { reason } => {
                let _ = writeln!(
                    text,
                    "  {} {} (unreadable: {reason})",
                    attachment.content_id, attachment.name
                );
            }
        }
    }
    text
}

/// Builds a packet from `meta_json` (the `header` object as `parse_to_json` prints it; a
/// whole `parse_to_json` output is accepted too) and the files in `attachments` (named
/// after their file names), writing `out` atomically: a temporary file beside it, synced,
/// then renamed over it.
pub fn build_packet(
    meta_json: &Path,
    attachments: &[PathBuf],
    out: &Path,
) -> Result<(), EdxmlError> {
    let header = read_meta(meta_json)?;
    let outgoing = attachments
        .iter()
        .map(|path| OutgoingAttachment::from_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let directory = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let output_error = |source| EdxmlError::Output { source };
    let mut staged = NamedTempFile::new_in(&directory).map_err(output_error)?;
    write_packet(&header, &outgoing, staged.as_file_mut())?;
    staged.as_file().sync_all().map_err(output_error)?;
    staged
        .persist(out)
        .map_err(|error| output_error(error.error))?;
    Ok(())
}

fn read_meta(path: &Path) -> Result<Header, EdxmlError> {
    let invalid = |message: String| EdxmlError::InvalidMeta {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(|error| invalid(error.to_string()))?;
    let mut text = String::new();
    BufReader::new(file)
        .take(MAX_META_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|error| invalid(error.to_string()))?;
    if text.len() as u64 > MAX_META_BYTES {
        return Err(invalid(format!("larger than {MAX_META_BYTES} bytes")));
    }
    let mut value: Value =
        serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
    if value.get("kind").is_none() {
        if let Some(header) = value.get_mut("header") {
            value = header.take();
        }
    }
    serde_json::from_value(value).map_err(|error| invalid(error.to_string()))
}
