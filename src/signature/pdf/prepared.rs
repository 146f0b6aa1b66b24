//! A prepared file waiting for its signature: the byte ranges to digest (streamed in
//! bounded chunks from the file `prepare` wrote) and the one write that puts the CMS into
//! the `/Contents` hole. Checks that the file is still the one prepared; never parses PDF
//! and never builds or checks CMS.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use ring::digest;

use super::error::PdfError;
use super::object::ObjectId;
use super::signatures::ByteRange;
use super::source::{feed_ranges, CHUNK_BYTES};

/// A prepared file waiting for its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedSignature {
    /// The file `prepare` wrote.
    pub output: PathBuf,
    /// What the signature covers; the hole between the ranges is `/Contents`.
    pub byte_range: ByteRange,
    /// Bytes of DER the hole holds.
    pub contents_capacity: usize,
    pub field_name: String,
    pub signature_dictionary: ObjectId,
    /// The page the widget is on, from 1.
    pub page_number: u64,
}

impl PreparedSignature {
    /// Feeds the bytes to be signed to `sink` in chunks of at most 64 KiB.
    pub fn feed_signed_bytes(&self, mut sink: impl FnMut(&[u8])) -> Result<(), PdfError> {
        let mut file = self.open_checked(false)?;
        feed_ranges(
            &mut file,
            self.byte_range.end(),
            &self.byte_range.parts(),
            &mut sink,
        )
    }

    /// The digest of the bytes to be signed (the CMS message digest).
    pub fn digest(
        &self,
        algorithm: &'static digest::Algorithm,
    ) -> Result<digest::Digest, PdfError> {
        let mut context = digest::Context::new(algorithm);
        self.feed_signed_bytes(|chunk| context.update(chunk))?;
        Ok(context.finish())
    }

    /// Writes `cms_der` into the hole as hex, pads the rest with `0`, and fsyncs. Writing
    /// again replaces the whole hole, so a retry after a failure is safe.
    pub fn embed(&self, cms_der: &[u8]) -> Result<(), PdfError> {
        if cms_der.len() > self.contents_capacity {
            return Err(PdfError::SignatureTooLarge {
                needed: cms_der.len(),
                capacity: self.contents_capacity,
            });
        }
        let mut file = self.open_checked(true)?;
        let write_error = |source| PdfError::Write {
            path: self.output.clone(),
            source,
        };
        let hole = self.byte_range.hole();
        file.seek(SeekFrom::Start(hole.start + 1))
            .map_err(write_error)?;
        let mut writer = BufWriter::with_capacity(CHUNK_BYTES, &mut file);
        for chunk in cms_der.chunks(CHUNK_BYTES / 2) {
            writer
                .write_all(hex::encode_upper(chunk).as_bytes())
                .map_err(write_error)?;
        }
        let zeros = vec![b'0'; CHUNK_BYTES];
        let mut left = (self.contents_capacity - cms_der.len()) * 2;
        while left > 0 {
            let count = left.min(CHUNK_BYTES);
            writer.write_all(&zeros[..count]).map_err(write_error)?;
            left -= count;
        }
        writer.flush().map_err(write_error)?;
        drop(writer);
        file.sync_all().map_err(write_error)
    }

    /// Opens the output and checks it is still the file `prepare` wrote: the right length,
    /// and `<` … `>` around the hole.
    fn open_checked(&self, writable: bool) -> Result<File, PdfError> {
        let not_prepared = |what: String| PdfError::NotPrepared {
            path: self.output.clone(),
            what,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&self.output)
            .map_err(|source| PdfError::Open {
                path: self.output.clone(),
                source,
            })?;
        let length = file
            .metadata()
            .map_err(|source| PdfError::Open {
                path: self.output.clone(),
                source,
            })?
            .len();
        if length != self.byte_range.end() {
            return Err(not_prepared(format!(
                "it is {length} bytes, the prepared file was {}",
                self.byte_range.end()
            )));
        }
        let hole = self.byte_range.hole();
        for (offset, expected) in [(hole.start, b'<'), (hole.end - 1, b'>')] {
            let mut byte = [0u8];
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut byte))
                .map_err(|source| PdfError::Read { offset, source })?;
            if byte[0] != expected {
                return Err(not_prepared(format!(
                    "offset {offset} should hold '{}'",
                    expected as char
                )));
            }
        }
        Ok(file)
    }
}
