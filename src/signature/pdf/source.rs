//! Access to the bytes of one PDF by seeking: windows read at an offset (counted against
//! the structure-read budget), a sequential byte reader for cross-reference tables, and
//! streaming of byte ranges in fixed chunks. Nothing here ever holds the whole file; every
//! buffer is bounded by the caller's request or by [`CHUNK_BYTES`].
//!
//! Owns no PDF syntax beyond bytes; parsing is `lexer`/`parser`, structure is `xref`/`reader`.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use super::error::{PdfError, Syntax};
use super::lexer::Lexer;
use super::limits::Limits;
use super::parser::Parser;

/// The size of the chunks in which byte ranges are streamed and files copied.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The first window read when parsing an object; it doubles until the object fits.
const FIRST_WINDOW_BYTES: usize = 4 * 1024;

/// Anything a PDF can be read from: a file, or bytes in memory (tests, fuzzing).
pub trait PdfSource: Read + Seek + Send {}

impl<T: Read + Seek + Send> PdfSource for T {}

/// The bytes of one PDF with their length and the read budget.
pub(crate) struct SourceFile {
    inner: Box<dyn PdfSource>,
    length: u64,
    structure_bytes_read: u64,
    max_structure_read_bytes: u64,
    decoded_bytes: u64,
    max_total_decoded_bytes: u64,
}

impl SourceFile {
    pub(crate) fn new(mut inner: Box<dyn PdfSource>, limits: &Limits) -> Result<Self, PdfError> {
        let length = inner
            .seek(SeekFrom::End(0))
            .map_err(|source| PdfError::Read { offset: 0, source })?;
        Ok(SourceFile {
            inner,
            length,
            structure_bytes_read: 0,
            max_structure_read_bytes: limits.max_structure_read_bytes,
            decoded_bytes: 0,
            max_total_decoded_bytes: limits.max_total_decoded_bytes,
        })
    }

    pub(crate) fn length(&self) -> u64 {
        self.length
    }

    /// Counts `count` decoded bytes against the decoding budget of this file.
    pub(crate) fn charge_decoded(&mut self, count: usize) -> Result<(), PdfError> {
        self.decoded_bytes += count as u64;
        if self.decoded_bytes > self.max_total_decoded_bytes {
            return Err(PdfError::BudgetExceeded {
                what: "decoded streams",
                limit: self.max_total_decoded_bytes,
            });
        }
        Ok(())
    }

    /// Up to `wanted` bytes at `offset` (fewer at the end of the file), counted against
    /// the structure-read budget.
    pub(crate) fn read_at(&mut self, offset: u64, wanted: usize) -> Result<Vec<u8>, PdfError> {
        let available = self.length.saturating_sub(offset);
        let count = (wanted as u64).min(available) as usize;
        self.structure_bytes_read += count as u64;
        if self.structure_bytes_read > self.max_structure_read_bytes {
            return Err(PdfError::BudgetExceeded {
                what: "structure reads",
                limit: self.max_structure_read_bytes,
            });
        }
        let mut buffer = vec![0; count];
        self.read_into(offset, &mut buffer)?;
        Ok(buffer)
    }

    /// Exactly `count` bytes at `offset`, or a truncation error naming `what`.
    pub(crate) fn read_exact_at(
        &mut self,
        offset: u64,
        count: usize,
        what: &'static str,
    ) -> Result<Vec<u8>, PdfError> {
        let buffer = self.read_at(offset, count)?;
        if buffer.len() < count {
            return Err(PdfError::Truncated {
                offset: self.length,
                what,
            });
        }
        Ok(buffer)
    }

    fn read_into(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), PdfError> {
        self.inner
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.inner.read_exact(buffer))
            .map_err(|source| PdfError::Read { offset, source })
    }

    /// Runs `parse` on a window at `offset`, doubling the window while the parse runs out
    /// of bytes, up to `max_object_bytes`.
    pub(crate) fn parse_at<T>(
        &mut self,
        offset: u64,
        limits: &Limits,
        mut parse: impl FnMut(&mut Parser<'_>) -> Result<T, Syntax>,
    ) -> Result<T, PdfError> {
        let mut window = FIRST_WINDOW_BYTES.min(limits.max_object_bytes.max(1));
        loop {
            let bytes = self.read_at(offset, window)?;
            let complete = offset + bytes.len() as u64 >= self.length;
            let mut parser = Parser::new(Lexer::new(&bytes, offset, complete), limits);
            match parse(&mut parser) {
                Ok(value) => return Ok(value),
                Err(Syntax::Error(error)) => return Err(error),
                Err(Syntax::EndOfWindow) if window >= limits.max_object_bytes => {
                    return Err(PdfError::ObjectTooLarge {
                        offset,
                        limit: limits.max_object_bytes,
                    })
                }
                Err(Syntax::EndOfWindow) => {
                    window = window.saturating_mul(2).min(limits.max_object_bytes);
                }
            }
        }
    }

    /// Feeds the bytes of `ranges` to `sink` in chunks of at most [`CHUNK_BYTES`]. Not
    /// counted against the structure budget: this is the signed content, read once.
    pub(crate) fn feed_ranges(
        &mut self,
        ranges: &[Range<u64>],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), PdfError> {
        feed_ranges(&mut *self.inner, self.length, ranges, sink)
    }

    /// Copies the first `count` bytes to `writer` in chunks.
    pub(crate) fn copy_prefix(
        &mut self,
        count: u64,
        writer: &mut dyn std::io::Write,
        output: &std::path::Path,
    ) -> Result<(), PdfError> {
        let mut error = None;
        let mut sink = |chunk: &[u8]| {
            if error.is_none() {
                if let Err(source) = writer.write_all(chunk) {
                    error = Some(source);
                }
            }
        };
        let whole_prefix = 0..count;
        feed_ranges(
            &mut *self.inner,
            self.length,
            std::slice::from_ref(&whole_prefix),
            &mut sink,
        )?;
        match error {
            Some(source) => Err(PdfError::Write {
                path: output.to_path_buf(),
                source,
            }),
            None => Ok(()),
        }
    }
}

/// Feeds `ranges` of `reader` (whose length is `length`) to `sink` in bounded chunks.
pub(crate) fn feed_ranges(
    reader: &mut dyn PdfSource,
    length: u64,
    ranges: &[Range<u64>],
    sink: &mut dyn FnMut(&[u8]),
) -> Result<(), PdfError> {
    let mut buffer = vec![0u8; CHUNK_BYTES];
    for range in ranges {
        if range.end > length || range.start > range.end {
            return Err(PdfError::Truncated {
                offset: length,
                what: "a signed byte range",
            });
        }
        reader
            .seek(SeekFrom::Start(range.start))
            .map_err(|source| PdfError::Read {
                offset: range.start,
                source,
            })?;
        let mut position = range.start;
        while position < range.end {
            let count = ((range.end - position) as usize).min(CHUNK_BYTES);
            let chunk = &mut buffer[..count];
            reader.read_exact(chunk).map_err(|source| PdfError::Read {
                offset: position,
                source,
            })?;
            sink(chunk);
            position += count as u64;
        }
    }
    Ok(())
}

/// Reads a cross-reference table byte by byte through a bounded buffer.
pub(crate) struct SequentialReader<'f> {
    source: &'f mut SourceFile,
    buffer: Vec<u8>,
    buffer_start: u64,
    position: u64,
}

impl<'f> SequentialReader<'f> {
    pub(crate) fn new(source: &'f mut SourceFile, position: u64) -> Self {
        SequentialReader {
            source,
            buffer: Vec::new(),
            buffer_start: position,
            position,
        }
    }

    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// The next byte without consuming it, or `None` at the end of the file.
    pub(crate) fn peek(&mut self) -> Result<Option<u8>, PdfError> {
        let in_buffer = self.position.checked_sub(self.buffer_start);
        if let Some(&byte) = in_buffer.and_then(|index| self.buffer.get(index as usize)) {
            return Ok(Some(byte));
        }
        self.buffer = self.source.read_at(self.position, CHUNK_BYTES)?;
        self.buffer_start = self.position;
        Ok(self.buffer.first().copied())
    }

    pub(crate) fn advance(&mut self) {
        self.position += 1;
    }
}
