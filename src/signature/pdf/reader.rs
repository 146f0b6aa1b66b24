//! [`PdfFile`]: one open PDF read on demand. Opening checks the header, loads the
//! cross-reference chain and the trailer, and refuses encrypted files; after that each
//! object is read only when asked for, with a seek, from the file or from an object stream
//! (the two most recently used are kept decoded). Memory is bounded by the limits, never by
//! the file's size.
//!
//! Owns object resolution. Does not own what the objects mean: pages are `pages`, form
//! fields `acroform`, signatures `signatures`, writing `incremental`.

use std::fs::File;
use std::ops::Range;
use std::path::Path;

use super::error::{PdfError, Syntax};
use super::filters::read_and_decode;
use super::lexer::{Lexer, Token};
use super::limits::Limits;
use super::object::{Dictionary, ObjectId, PdfObject, PdfString, StreamHeader};
use super::parser::{Parser, ValueSpan};
use super::source::{PdfSource, SourceFile};
use super::xref::{self, CrossReference, Revision, XrefEntry, XrefForm};

/// How far into the file the `%PDF-` header may be.
const HEADER_SEARCH_BYTES: usize = 1024;

/// How many references may lead to references, and how deeply reading one object may
/// need another (a `/Length` in an object stream whose `/Length` is in another…).
const MAX_REFERENCE_HOPS: usize = 8;

/// Object streams kept decoded.
const CACHED_OBJECT_STREAMS: usize = 2;

/// What the trailer says about the document, merged over the `/Prev` chain (the newest
/// trailer that has a key wins).
#[derive(Debug, Clone, PartialEq)]
pub struct Trailer {
    /// The document catalog.
    pub root: ObjectId,
    /// The document information dictionary, if any.
    pub info: Option<ObjectId>,
    /// The file identifier pair, if present and well formed.
    pub id: Option<[PdfString; 2]>,
    /// `/Size`: one more than the highest object number (0 if the trailer omits it).
    pub size: u32,
}

/// An object stream, decoded.
struct ObjectStream {
    number: u32,
    data: Vec<u8>,
    /// Where the objects start (`/First`).
    first: usize,
    /// (object number, offset after `first`) for each object, in order.
    directory: Vec<(u32, usize)>,
}

/// One open PDF.
pub struct PdfFile {
    source: SourceFile,
    limits: Limits,
    xref: CrossReference,
    trailer: Trailer,
    object_streams: Vec<ObjectStream>,
    nesting: usize,
}

impl std::fmt::Debug for PdfFile {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PdfFile")
            .field("length", &self.source.length())
            .field("trailer", &self.trailer)
            .field("revisions", &self.xref.revisions)
            .finish_non_exhaustive()
    }
}

impl PdfFile {
    /// Opens `path` with the default limits.
    pub fn open(path: &Path) -> Result<Self, PdfError> {
        Self::open_with_limits(path, Limits::default())
    }

    pub fn open_with_limits(path: &Path, limits: Limits) -> Result<Self, PdfError> {
        let file = File::open(path).map_err(|source| PdfError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_source(Box::new(file), limits)
    }

    /// Reads a PDF from anything seekable (bytes in memory for tests and fuzzing).
    pub fn from_source(source: Box<dyn PdfSource>, limits: Limits) -> Result<Self, PdfError> {
        let mut source = SourceFile::new(source, &limits)?;
        if source.length() > limits.max_file_bytes {
            return Err(PdfError::FileTooLarge {
                size: source.length(),
                limit: limits.max_file_bytes,
            });
        }
        let head = source.read_at(0, HEADER_SEARCH_BYTES)?;
        if !head.windows(5).any(|window| window == b"%PDF-") {
            return Err(PdfError::NotPdf {
                searched: HEADER_SEARCH_BYTES,
            });
        }
        let xref = xref::load(&mut source, &limits)?;
        if xref.trailer.get("Encrypt").is_some() {
            return Err(PdfError::Encrypted);
        }
        let trailer = Trailer {
            root: xref
                .trailer
                .reference("Root")
                .ok_or(PdfError::MissingRoot)?,
            info: xref.trailer.reference("Info"),
            id: match xref.trailer.get("ID").and_then(PdfObject::as_array) {
                Some([PdfObject::String(first), PdfObject::String(second)]) => {
                    Some([first.clone(), second.clone()])
                }
                _ => None,
            },
            size: xref
                .trailer
                .integer("Size")
                .and_then(|size| u32::try_from(size).ok())
                .unwrap_or(0),
        };
        Ok(PdfFile {
            source,
            limits,
            xref,
            trailer,
            object_streams: Vec::new(),
            nesting: 0,
        })
    }

    /// The file's length in bytes.
    pub fn length(&self) -> u64 {
        self.source.length()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn trailer(&self) -> &Trailer {
        &self.trailer
    }

    /// The revisions whose ends were found, oldest first.
    pub fn revisions(&self) -> &[Revision] {
        &self.xref.revisions
    }

    /// Where the newest cross-reference section starts (the `/Prev` of an update).
    pub fn startxref(&self) -> u64 {
        self.xref.startxref
    }

    /// How the newest cross-reference section is written.
    pub fn newest_xref_form(&self) -> XrefForm {
        self.xref.newest_form
    }

    /// The first object number no section uses and `/Size` does not cover.
    pub fn next_object_number(&self) -> u32 {
        self.trailer
            .size
            .max(self.xref.highest_number.saturating_add(1))
    }

    /// The generation an object currently has (0 for objects in object streams).
    pub fn current_generation(&self, number: u32) -> Option<u16> {
        match self.xref.entries.get(&number)? {
            XrefEntry::InFile { generation, .. } => Some(*generation),
            XrefEntry::Compressed { .. } => Some(0),
            XrefEntry::Free => None,
        }
    }

    /// Where an object's `N G obj` starts, if it is stored directly in the file.
    pub fn object_offset(&self, id: ObjectId) -> Option<u64> {
        match self.xref.entries.get(&id.number)? {
            XrefEntry::InFile { offset, generation } if *generation == id.generation => {
                Some(*offset)
            }
            _ => None,
        }
    }

    /// The object `id`; `null` if it is free or absent (ISO 32000-1 §7.3.10).
    pub fn object(&mut self, id: ObjectId) -> Result<PdfObject, PdfError> {
        if self.nesting >= MAX_REFERENCE_HOPS {
            return Err(PdfError::ReferenceChain {
                id,
                limit: MAX_REFERENCE_HOPS,
            });
        }
        self.nesting += 1;
        let result = self.object_unguarded(id);
        self.nesting -= 1;
        result
    }

    fn object_unguarded(&mut self, id: ObjectId) -> Result<PdfObject, PdfError> {
        match self.xref.entries.get(&id.number).copied() {
            None | Some(XrefEntry::Free) => Ok(PdfObject::Null),
            Some(XrefEntry::InFile { generation, .. }) if generation != id.generation => {
                Ok(PdfObject::Null)
            }
            Some(XrefEntry::InFile { offset, .. }) => {
                self.check_object_offset(id, offset)?;
                let limits = &self.limits;
                let object = self
                    .source
                    .parse_at(offset, limits, |parser| parser.indirect_object(Some(id)))?;
                Ok(object.value)
            }
            Some(XrefEntry::Compressed { .. }) if id.generation != 0 => Ok(PdfObject::Null),
            Some(XrefEntry::Compressed { stream, index }) => {
                self.compressed_object(id.number, stream, index)
            }
        }
    }

    fn check_object_offset(&self, id: ObjectId, offset: u64) -> Result<(), PdfError> {
        if offset >= self.source.length() {
            return Err(PdfError::Malformed {
                what: format!(
                    "the cross-reference puts {id} at offset {offset}, past the end of the {}-byte file",
                    self.source.length()
                ),
            });
        }
        Ok(())
    }

    /// An in-file object parsed again with the positions of its outer dictionary's values.
    pub(crate) fn object_with_spans(
        &mut self,
        id: ObjectId,
    ) -> Result<Option<(PdfObject, Vec<ValueSpan>)>, PdfError> {
        let Some(offset) = self.object_offset(id) else {
            return Ok(None);
        };
        self.check_object_offset(id, offset)?;
        let limits = &self.limits;
        let found = self.source.parse_at(offset, limits, |parser| {
            parser.object_header(Some(id))?;
            let mut recording = Parser::new(parser.lexer().clone(), limits).recording_spans();
            let value = recording.parse_object()?;
            Ok((value, recording.take_spans()))
        })?;
        Ok(Some(found))
    }

    /// `object` itself, or what a reference leads to (through at most a few references).
    pub fn resolve(&mut self, object: &PdfObject) -> Result<PdfObject, PdfError> {
        let mut current = object.clone();
        for _ in 0..MAX_REFERENCE_HOPS {
            match current {
                PdfObject::Reference(id) => current = self.object(id)?,
                other => return Ok(other),
            }
        }
        match object.as_reference() {
            Some(id) => Err(PdfError::ReferenceChain {
                id,
                limit: MAX_REFERENCE_HOPS,
            }),
            None => Ok(current),
        }
    }

    /// The dictionary `object` is or leads to; `None` for anything else (`null` included).
    pub fn resolve_dictionary(
        &mut self,
        object: &PdfObject,
    ) -> Result<Option<Dictionary>, PdfError> {
        Ok(match self.resolve(object)? {
            PdfObject::Dictionary(dictionary) => Some(dictionary),
            PdfObject::Stream(stream) => Some(stream.dictionary),
            _ => None,
        })
    }

    /// The document catalog.
    pub fn catalog(&mut self) -> Result<Dictionary, PdfError> {
        let root = self.trailer.root;
        match self.object(root)? {
            PdfObject::Dictionary(dictionary) => Ok(dictionary),
            PdfObject::Null => Err(PdfError::MissingObject {
                id: root,
                what: "the document catalog",
            }),
            other => Err(PdfError::Malformed {
                what: format!("the document catalog ({root}) is {}", other.kind()),
            }),
        }
    }

    /// A stream's data length from `/Length`, which may be indirect.
    pub fn stream_length(&mut self, stream: &StreamHeader) -> Result<u64, PdfError> {
        let length = match stream.dictionary.get("Length") {
            Some(value) => self.resolve(value)?,
            None => PdfObject::Null,
        };
        length
            .as_integer()
            .and_then(|length| u64::try_from(length).ok())
            .filter(|length| stream.data_offset.saturating_add(*length) <= self.source.length())
            .ok_or_else(|| PdfError::Malformed {
                what: format!(
                    "the stream at offset {} has no usable /Length (needs a non-negative integer within the file)",
                    stream.data_offset
                ),
            })
    }

    /// Feeds the bytes of `ranges` to `sink` in bounded chunks.
    pub fn feed_ranges(
        &mut self,
        ranges: &[Range<u64>],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), PdfError> {
        self.source.feed_ranges(ranges, sink)
    }

    pub(crate) fn source_mut(&mut self) -> &mut SourceFile {
        &mut self.source
    }

    fn compressed_object(
        &mut self,
        number: u32,
        stream: u32,
        index: u32,
    ) -> Result<PdfObject, PdfError> {
        let position = match self.object_streams.iter().position(|s| s.number == stream) {
            Some(position) => position,
            None => {
                // Evict first, so no more than the cached streams are ever held decoded.
                if self.object_streams.len() >= CACHED_OBJECT_STREAMS {
                    self.object_streams.remove(0);
                }
                let loaded =
                    self.load_object_stream(stream)
                        .map_err(|source| PdfError::InObjectStream {
                            stream,
                            source: Box::new(source),
                        })?;
                self.object_streams.push(loaded);
                self.object_streams.len() - 1
            }
        };
        let object_stream = &self.object_streams[position];
        let in_stream_error = |source: PdfError| PdfError::InObjectStream {
            stream,
            source: Box::new(source),
        };
        // The index the cross-reference gives, or else a search by number.
        let relative = match object_stream.directory.get(index as usize) {
            Some((found, relative)) if *found == number => *relative,
            _ => match object_stream
                .directory
                .iter()
                .find(|(found, _)| *found == number)
            {
                Some((_, relative)) => *relative,
                None => return Ok(PdfObject::Null),
            },
        };
        let start = object_stream.first.saturating_add(relative);
        let Some(bytes) = object_stream.data.get(start..) else {
            return Err(in_stream_error(PdfError::Truncated {
                offset: start as u64,
                what: "an object stream",
            }));
        };
        let mut parser = Parser::new(Lexer::new(bytes, start as u64, true), &self.limits);
        parser.parse_object().map_err(|failure| match failure {
            Syntax::Error(error) => in_stream_error(error),
            Syntax::EndOfWindow => in_stream_error(PdfError::Truncated {
                offset: object_stream.data.len() as u64,
                what: "an object stream",
            }),
        })
    }

    fn load_object_stream(&mut self, number: u32) -> Result<ObjectStream, PdfError> {
        let id = ObjectId::new(number, 0);
        // Read directly: an object stream is never itself compressed.
        let Some(XrefEntry::InFile {
            offset,
            generation: 0,
        }) = self.xref.entries.get(&number).copied()
        else {
            return Err(PdfError::MissingObject {
                id,
                what: "an object stream",
            });
        };
        self.check_object_offset(id, offset)?;
        let limits = &self.limits;
        let object = self
            .source
            .parse_at(offset, limits, |parser| parser.indirect_object(Some(id)))?;
        let PdfObject::Stream(stream) = object.value else {
            return Err(PdfError::Malformed {
                what: format!(
                    "{id} should be an object stream but is {}",
                    object.value.kind()
                ),
            });
        };
        let dictionary = &stream.dictionary;
        let (count, first) = match (dictionary.integer("N"), dictionary.integer("First")) {
            (Some(count), Some(first)) if count >= 0 && first >= 0 => {
                (count as usize, first as usize)
            }
            _ => {
                return Err(PdfError::Malformed {
                    what: format!("{id} lacks a valid /N or /First"),
                })
            }
        };
        if count > self.limits.max_objects_per_stream {
            return Err(PdfError::TooManyObjects {
                what: "objects in one object stream",
                limit: self.limits.max_objects_per_stream,
            });
        }
        let length = self.stream_length(&stream)?;
        let data = read_and_decode(&mut self.source, &stream, length, &self.limits)?;
        let directory = object_stream_directory(&data, count, first)?;
        Ok(ObjectStream {
            number,
            data,
            first,
            directory,
        })
    }
}

/// The `N` pairs of numbers before `/First`.
fn object_stream_directory(
    data: &[u8],
    count: usize,
    first: usize,
) -> Result<Vec<(u32, usize)>, PdfError> {
    let header = data.get(..first).ok_or(PdfError::Truncated {
        offset: data.len() as u64,
        what: "an object stream's directory (/First is past the end)",
    })?;
    let mut lexer = Lexer::new(header, 0, true);
    let mut directory = Vec::with_capacity(count.min(header.len() / 4 + 1));
    for _ in 0..count {
        let offset = lexer.offset();
        let pair = (lexer.next_token(), lexer.next_token());
        match pair {
            (Ok(Some(Token::Integer(number))), Ok(Some(Token::Integer(relative)))) => {
                match (u32::try_from(number), usize::try_from(relative)) {
                    (Ok(number), Ok(relative)) => directory.push((number, relative)),
                    _ => {
                        return Err(PdfError::Syntax {
                            offset,
                            what: "a negative number in the object stream's directory".to_owned(),
                        })
                    }
                }
            }
            _ => {
                return Err(PdfError::Syntax {
                    offset,
                    what: format!(
                        "the object stream's directory holds fewer than /N {count} pairs"
                    ),
                })
            }
        }
    }
    Ok(directory)
}

/// A PDF of `bodies` as objects 1, 2, … (the catalog at 1) with a classic
/// cross-reference table: for the unit tests of this layer.
#[cfg(test)]
pub(crate) fn test_pdf(bodies: &[&str]) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (index, body) in bodies.iter().enumerate() {
        offsets.push(bytes.len());
        bytes.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", index + 1).as_bytes());
    }
    let start = bytes.len();
    bytes.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f\r\n", bodies.len() + 1).as_bytes(),
    );
    for offset in offsets {
        bytes.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes());
    }
    bytes.extend_from_slice(
        format!(
            "trailer\n<</Size {} /Root 1 0 R>>\nstartxref\n{start}\n%%EOF\n",
            bodies.len() + 1
        )
        .as_bytes(),
    );
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Objects 1–3 (`bodies`) with a classic table over them.
    fn pdf(bodies: &[&str]) -> Vec<u8> {
        super::test_pdf(bodies)
    }

    fn open(bytes: Vec<u8>) -> PdfFile {
        PdfFile::from_source(Box::new(Cursor::new(bytes)), Limits::default()).expect("opens")
    }

    #[test]
    fn a_pdf_file_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<PdfFile>();
    }

    #[test]
    fn free_absent_and_stale_references_read_as_null() {
        let mut file = open(pdf(&[
            "<</Type /Catalog /Pages 2 0 R>>",
            "<</Count 0>>",
            "42",
        ]));
        assert_eq!(
            file.object(ObjectId::new(3, 0)).expect("read"),
            PdfObject::Integer(42)
        );
        assert_eq!(
            file.object(ObjectId::new(3, 1)).expect("read"),
            PdfObject::Null
        );
        assert_eq!(
            file.object(ObjectId::new(9, 0)).expect("read"),
            PdfObject::Null
        );
        assert_eq!(
            file.object(ObjectId::new(0, 65535)).expect("read"),
            PdfObject::Null
        );
        assert_eq!(file.next_object_number(), 4);
        assert_eq!(file.revisions().len(), 1);
    }

    #[test]
    fn indirect_lengths_and_reference_chains() {
        let mut file = open(pdf(&[
            "<</Type /Catalog /Pages 2 0 R /Loop 3 0 R>>",
            "<</Length 3 0 R>>\nstream\nabc\nendstream",
            "3",
        ]));
        let PdfObject::Stream(stream) = file.object(ObjectId::new(2, 0)).expect("stream") else {
            panic!("not a stream");
        };
        assert_eq!(file.stream_length(&stream).expect("length"), 3);
        let mut data = Vec::new();
        let start = stream.data_offset;
        let data_range = start..start + 3;
        file.feed_ranges(std::slice::from_ref(&data_range), &mut |chunk| {
            data.extend_from_slice(chunk)
        })
        .expect("feed");
        assert_eq!(data, b"abc");
    }

    #[test]
    fn a_reference_to_itself_ends_in_an_error() {
        let mut file = open(pdf(&["<</Type /Catalog>>", "2 0 R", "null"]));
        let error = file
            .resolve(&PdfObject::Reference(ObjectId::new(2, 0)))
            .expect_err("a loop");
        assert!(matches!(error, PdfError::ReferenceChain { .. }), "{error}");
    }
}
