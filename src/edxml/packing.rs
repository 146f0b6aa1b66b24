//! Outgoing attachments: where their bytes come from, and how they travel into a packet —
//! source → ZIP entry (deflate) → base64 → the packet's output, one chunk at a time, never
//! a whole file in memory. Owns [`OutgoingAttachment`], [`AttachmentSource`] and that
//! stream. Does not write any XML around it (`writer`) and does not validate names.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::PAD;
use base64::write::EncoderWriter;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::error::EdxmlError;
use super::writer::output_error;

/// How attachment bytes are copied into the ZIP.
const COPY_CHUNK_BYTES: usize = 256 * 1024;

/// Where an outgoing attachment's bytes come from.
pub enum AttachmentSource {
    /// A file, opened when the packet is written.
    File(PathBuf),
    /// A reader, consumed when the packet is written (so a second write gets nothing).
    Reader(Mutex<Box<dyn Read + Send>>),
}

impl std::fmt::Debug for AttachmentSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttachmentSource::File(path) => formatter.debug_tuple("File").field(path).finish(),
            AttachmentSource::Reader(_) => formatter.write_str("Reader(..)"),
        }
    }
}

/// One attachment to write.
#[derive(Debug)]
pub struct OutgoingAttachment {
    /// `cid:N` (the `cid:` prefix is added when missing); `None` numbers it `cid:1`, `cid:2`, …
    pub content_id: Option<String>,
    /// The file name the receiver sees, also used inside the ZIP.
    pub name: String,
    pub description: Option<String>,
    pub content_type: Option<String>,
    pub source: AttachmentSource,
}

impl OutgoingAttachment {
    /// An attachment from a file, named after the file, with a content type guessed from
    /// the extension.
    pub fn from_file(path: &Path) -> Result<OutgoingAttachment, EdxmlError> {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| EdxmlError::InvalidOutgoing {
                reason: format!("{} has no file name that is valid text", path.display()),
            })?
            .to_owned();
        Ok(OutgoingAttachment {
            content_id: None,
            content_type: Some(content_type_for(&name).to_owned()),
            description: None,
            name,
            source: AttachmentSource::File(path.to_owned()),
        })
    }

    /// An attachment from any reader.
    pub fn from_reader(name: &str, reader: Box<dyn Read + Send>) -> OutgoingAttachment {
        OutgoingAttachment {
            content_id: None,
            content_type: Some(content_type_for(name).to_owned()),
            description: None,
            name: name.to_owned(),
            source: AttachmentSource::Reader(Mutex::new(reader)),
        }
    }
}

/// The MIME type for common document extensions; anything else is octet-stream.
fn content_type_for(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    match extension.as_deref() {
        Some("pdf") => "application/pdf",
        Some("doc") => "application/msword",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xls") => "application/vnd.ms-excel",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("odt") => "application/vnd.oasis.opendocument.text",
        Some("txt") => "text/plain",
        Some("xml") => "application/xml",
        Some("zip") => "application/zip",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// The base64 engine for writing: standard alphabet with padding, SIMD where available.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn encoding_engine() -> base64::engine::Simd {
    base64::engine::Simd::standard(PAD)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn encoding_engine() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, PAD)
}

/// An opened attachment source.
pub(crate) enum OpenSource<'a> {
    File(File),
    Reader(&'a Mutex<Box<dyn Read + Send>>),
}

/// Opens every file up front, so a missing file is refused before anything is written.
pub(crate) fn open_sources(
    attachments: &[OutgoingAttachment],
) -> Result<Vec<OpenSource<'_>>, EdxmlError> {
    attachments
        .iter()
        .map(|attachment| match &attachment.source {
            AttachmentSource::File(path) => {
                File::open(path).map(OpenSource::File).map_err(|source| {
                    EdxmlError::AttachmentSource {
                        name: attachment.name.clone(),
                        source,
                    }
                })
            }
            AttachmentSource::Reader(reader) => Ok(OpenSource::Reader(reader)),
        })
        .collect()
}

/// Streams one attachment: source → ZIP entry (deflate) → base64 → `out`.
pub(crate) fn write_attachment_content<W: Write>(
    out: &mut W,
    name: &str,
    source: &mut OpenSource<'_>,
) -> Result<(), EdxmlError> {
    let zip_error = |error: zip::result::ZipError| EdxmlError::Output {
        source: io::Error::other(error),
    };
    let large_file = match source {
        OpenSource::File(file) => file
            .metadata()
            .map(|metadata| metadata.len() >= u64::from(u32::MAX))
            .unwrap_or(true),
        OpenSource::Reader(_) => false,
    };
    // The default level, as the SDK writes. Level 1 (zlib-rs's "quick" strategy) would
    // build faster but always emits Huffman blocks: incompressible PDFs would grow by 5%
    // and inflate five times slower at the receiver, where the default level stores them.
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(large_file);
    let engine = encoding_engine();
    let mut zip = ZipWriter::new_stream(EncoderWriter::new(out, &engine));
    zip.start_file(name, options).map_err(zip_error)?;
    match source {
        OpenSource::File(file) => copy_into(file, &mut zip, name)?,
        OpenSource::Reader(reader) => {
            // A poisoned lock only means another thread panicked mid-read; the reader is
            // still a reader, and whatever it yields now is what gets sent.
            let mut guard = reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            copy_into(&mut **guard, &mut zip, name)?;
        }
    }
    let mut encoder = zip.finish().map_err(zip_error)?.into_inner();
    encoder.finish().map_err(output_error)?;
    Ok(())
}

/// Copies `source` into `sink`, telling a failing source apart from a failing output.
fn copy_into(
    source: &mut (impl Read + ?Sized),
    sink: &mut impl Write,
    name: &str,
) -> Result<(), EdxmlError> {
    let mut chunk = vec![0u8; COPY_CHUNK_BYTES];
    loop {
        let count = match source.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(EdxmlError::AttachmentSource {
                    name: name.to_owned(),
                    source,
                })
            }
        };
        sink.write_all(&chunk[..count]).map_err(output_error)?;
    }
}
