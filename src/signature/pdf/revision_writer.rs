//! The bytes of one incremental update: objects (the signature dictionary with its
//! fixed-width `/ByteRange` placeholder and its `/Contents` hole of `0` digits, then the
//! plain objects), the cross-reference section — a classic table, or an uncompressed
//! cross-reference stream when the file already uses streams — and the trailer.
//!
//! The update is laid out in memory before anything is written, except the hole's zeros,
//! which are streamed: every length is known up front, so the final `/ByteRange` is
//! patched into its fixed-width slot before the single sequential write. Does not decide
//! what goes in the update (that is `incremental`).

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use super::appearance::NewObject;
use super::error::PdfError;
use super::object::{Dictionary, Name, ObjectId, PdfObject, PdfString, StringForm};
use super::reader::Trailer;
use super::signatures::ByteRange;
use super::source::CHUNK_BYTES;
use super::xref::XrefForm;

/// Digits reserved for each number of `/ByteRange`: offsets up to 9,999,999,999.
pub(crate) const BYTE_RANGE_DIGITS: usize = 10;

/// `[0 ` + three numbers of [`BYTE_RANGE_DIGITS`] with their spaces + `]`.
const BYTE_RANGE_WIDTH: usize = 3 + 3 * BYTE_RANGE_DIGITS + 2 + 1;

enum Segment {
    Bytes(Vec<u8>),
    /// This many ASCII `0` characters (the empty `/Contents` hex digits).
    HexZeros(usize),
}

/// The update, as segments with their total length.
pub(crate) struct UpdateBytes {
    /// The length of the file the update is appended to.
    base: u64,
    segments: Vec<Segment>,
    length: u64,
    offsets: Vec<(ObjectId, u64)>,
    byte_range_slot: Option<u64>,
    hole: Option<Range<u64>>,
}

impl UpdateBytes {
    pub(crate) fn new(base: u64) -> Self {
        UpdateBytes {
            base,
            segments: Vec::new(),
            length: 0,
            offsets: Vec::new(),
            byte_range_slot: None,
            hole: None,
        }
    }

    /// The absolute offset of the next byte.
    fn position(&self) -> u64 {
        self.base + self.length
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.length += bytes.len() as u64;
        match self.segments.last_mut() {
            Some(Segment::Bytes(last)) => last.extend_from_slice(bytes),
            _ => self.segments.push(Segment::Bytes(bytes.to_vec())),
        }
    }

    fn push_hex_zeros(&mut self, count: usize) {
        self.length += count as u64;
        self.segments.push(Segment::HexZeros(count));
    }

    fn begin_object(&mut self, id: ObjectId) {
        self.offsets.push((id, self.position()));
        self.push(format!("{} {} obj\n", id.number, id.generation).as_bytes());
    }

    /// The signature dictionary: `entries` first, then the `/ByteRange` placeholder, then
    /// `/Contents` with room for `capacity` bytes of DER.
    pub(crate) fn signature_dictionary(
        &mut self,
        id: ObjectId,
        entries: &Dictionary,
        capacity: usize,
    ) {
        self.begin_object(id);
        let mut head = Vec::new();
        entries.write_to(&mut head);
        // Reopen the dictionary to append the two fixed-layout entries.
        head.truncate(head.len() - 2);
        head.extend_from_slice(b"/ByteRange ");
        self.push(&head);
        self.byte_range_slot = Some(self.position());
        let mut placeholder = b"[0 0 0 0".to_vec();
        placeholder.resize(BYTE_RANGE_WIDTH - 1, b' ');
        placeholder.push(b']');
        self.push(&placeholder);
        self.push(b"/Contents ");
        let hole_start = self.position();
        self.push(b"<");
        self.push_hex_zeros(capacity * 2);
        self.push(b">");
        self.hole = Some(hole_start..self.position());
        self.push(b">>\nendobj\n");
    }

    /// A plain object (a stream when `stream_data` is given).
    pub(crate) fn object(&mut self, object: &NewObject) {
        self.begin_object(object.id);
        let mut body = Vec::new();
        match (&object.stream_data, &object.value) {
            (Some(data), PdfObject::Dictionary(dictionary)) => {
                let mut dictionary = dictionary.clone();
                dictionary.set("Length", PdfObject::Integer(data.len() as i64));
                dictionary.write_to(&mut body);
                body.extend_from_slice(b"\nstream\r\n");
                body.extend_from_slice(data);
                body.extend_from_slice(b"\r\nendstream");
            }
            (_, value) => value.write_to(&mut body),
        }
        body.extend_from_slice(b"\nendobj\n");
        self.push(&body);
    }

    /// The cross-reference section for everything written so far, the trailer and
    /// `%%EOF`. `xref_stream_id` is used when `form` is [`XrefForm::Stream`].
    pub(crate) fn finish(
        &mut self,
        form: XrefForm,
        trailer: &UpdateTrailer,
        xref_stream_id: ObjectId,
    ) {
        let section_offset = self.position();
        let mut entries = self.offsets.clone();
        if form == XrefForm::Stream {
            entries.push((xref_stream_id, section_offset));
        }
        entries.sort_by_key(|(id, _)| id.number);
        let size = entries
            .iter()
            .map(|(id, _)| id.number.saturating_add(1))
            .max()
            .unwrap_or(0)
            .max(trailer.size);
        let mut dictionary = Dictionary::new();
        match form {
            XrefForm::Stream => {
                dictionary.set("Type", PdfObject::Name(Name::new("XRef")));
                dictionary.set("Size", PdfObject::Integer(i64::from(size)));
                trailer.write_into(&mut dictionary);
                let offset_width = bytes_needed(section_offset);
                let mut index = Vec::new();
                let mut data = Vec::new();
                for run in runs(&entries) {
                    index.push(PdfObject::Integer(i64::from(run[0].0.number)));
                    index.push(PdfObject::Integer(run.len() as i64));
                    for (id, offset) in run {
                        data.push(1);
                        data.extend_from_slice(&offset.to_be_bytes()[8 - offset_width..]);
                        data.extend_from_slice(&id.generation.to_be_bytes());
                    }
                }
                dictionary.set("Index", PdfObject::Array(index));
                dictionary.set(
                    "W",
                    PdfObject::Array(vec![
                        PdfObject::Integer(1),
                        PdfObject::Integer(offset_width as i64),
                        PdfObject::Integer(2),
                    ]),
                );
                self.object(&NewObject {
                    id: xref_stream_id,
                    value: PdfObject::Dictionary(dictionary),
                    stream_data: Some(data),
                });
            }
            XrefForm::Table | XrefForm::Hybrid => {
                let mut table = b"xref\n".to_vec();
                for run in runs(&entries) {
                    table.extend_from_slice(
                        format!("{} {}\n", run[0].0.number, run.len()).as_bytes(),
                    );
                    for (id, offset) in run {
                        table.extend_from_slice(
                            format!("{offset:010} {:05} n\r\n", id.generation).as_bytes(),
                        );
                    }
                }
                dictionary.set("Size", PdfObject::Integer(i64::from(size)));
                trailer.write_into(&mut dictionary);
                table.extend_from_slice(b"trailer\n");
                dictionary.write_to(&mut table);
                table.push(b'\n');
                self.push(&table);
            }
        }
        self.push(format!("startxref\n{section_offset}\n%%EOF\n").as_bytes());
    }

    /// The final `/ByteRange`, once everything is laid out.
    pub(crate) fn byte_range(&self) -> Option<ByteRange> {
        let hole = self.hole.clone()?;
        let end = self.position();
        Some(ByteRange {
            first_length: hole.start,
            second_offset: hole.end,
            second_length: end - hole.end,
        })
    }

    /// Writes the final `/ByteRange` into its slot.
    pub(crate) fn patch_byte_range(&mut self, byte_range: &ByteRange) -> Result<(), PdfError> {
        let [_, b, c, d] = byte_range.as_array();
        let mut text = format!("[0 {b} {c} {d}").into_bytes();
        let fits = text.len() < BYTE_RANGE_WIDTH;
        text.resize(BYTE_RANGE_WIDTH - 1, b' ');
        text.push(b']');
        let slot =
            self.byte_range_slot
                .filter(|_| fits)
                .ok_or_else(|| PdfError::InvalidRequest {
                    what: format!(
                    "the signed file would be too large for /ByteRange ({d} bytes after the hole)"
                ),
                })?;
        // Find the slot inside its segment and overwrite it.
        let mut segment_start = self.base;
        for segment in &mut self.segments {
            let segment_length = match segment {
                Segment::Bytes(bytes) => bytes.len() as u64,
                Segment::HexZeros(count) => *count as u64,
            };
            if let Segment::Bytes(bytes) = segment {
                let relative = slot.wrapping_sub(segment_start) as usize;
                if slot >= segment_start {
                    if let Some(target) = bytes.get_mut(relative..relative + BYTE_RANGE_WIDTH) {
                        target.copy_from_slice(&text);
                        return Ok(());
                    }
                }
            }
            segment_start += segment_length;
        }
        Err(PdfError::InvalidRequest {
            what: "internal: the /ByteRange slot was not found".to_owned(),
        })
    }

    /// Writes all segments to `writer`, the zeros in bounded chunks.
    pub(crate) fn write_to(&self, writer: &mut dyn Write, path: &Path) -> Result<(), PdfError> {
        let error = |source| PdfError::Write {
            path: path.to_path_buf(),
            source,
        };
        let zeros = vec![b'0'; CHUNK_BYTES];
        for segment in &self.segments {
            match segment {
                Segment::Bytes(bytes) => writer.write_all(bytes).map_err(error)?,
                Segment::HexZeros(count) => {
                    let mut left = *count;
                    while left > 0 {
                        let chunk = left.min(CHUNK_BYTES);
                        writer.write_all(&zeros[..chunk]).map_err(error)?;
                        left -= chunk;
                    }
                }
            }
        }
        Ok(())
    }
}

/// What the update's trailer carries over from the file.
pub(crate) struct UpdateTrailer {
    pub size: u32,
    pub root: ObjectId,
    pub info: Option<ObjectId>,
    pub id: Option<[PdfString; 2]>,
    pub prev: u64,
}

impl UpdateTrailer {
    pub(crate) fn from_file(trailer: &Trailer, next_object_number: u32, prev: u64) -> Self {
        UpdateTrailer {
            size: next_object_number,
            root: trailer.root,
            info: trailer.info,
            id: trailer.id.clone(),
            prev,
        }
    }

    fn write_into(&self, dictionary: &mut Dictionary) {
        dictionary.set("Root", PdfObject::Reference(self.root));
        if let Some(info) = self.info {
            dictionary.set("Info", PdfObject::Reference(info));
        }
        if let Some([first, second]) = &self.id {
            let hex = |string: &PdfString| {
                PdfObject::String(PdfString {
                    bytes: string.bytes.clone(),
                    form: StringForm::Hex,
                })
            };
            dictionary.set("ID", PdfObject::Array(vec![hex(first), hex(second)]));
        }
        dictionary.set("Prev", PdfObject::Integer(self.prev as i64));
    }
}

/// Runs of consecutive object numbers in sorted `entries`.
fn runs(entries: &[(ObjectId, u64)]) -> Vec<&[(ObjectId, u64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for index in 1..=entries.len() {
        let breaks = index == entries.len()
            || entries[index].0.number != entries[index - 1].0.number.saturating_add(1);
        if breaks {
            out.push(&entries[start..index]);
            start = index;
        }
    }
    out
}

/// Bytes needed to write `value` big-endian (at least 1).
fn bytes_needed(value: u64) -> usize {
    (8 - value.leading_zeros() as usize / 8).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_on_gaps() {
        let ids = [1u32, 2, 3, 7, 9, 10];
        let entries: Vec<_> = ids.iter().map(|&n| (ObjectId::new(n, 0), 0u64)).collect();
        let lengths: Vec<_> = runs(&entries)
            .iter()
            .map(|run| (run[0].0.number, run.len()))
            .collect();
        assert_eq!(lengths, vec![(1, 3), (7, 1), (9, 2)]);
    }

    #[test]
    fn byte_width_of_offsets() {
        assert_eq!(bytes_needed(0), 1);
        assert_eq!(bytes_needed(255), 1);
        assert_eq!(bytes_needed(256), 2);
        assert_eq!(bytes_needed(100_000_000), 4);
    }

    #[test]
    fn the_byte_range_is_patched_in_its_fixed_width_slot() {
        let mut update = UpdateBytes::new(1000);
        let mut entries = Dictionary::new();
        entries.set("Type", PdfObject::Name(Name::new("Sig")));
        update.signature_dictionary(ObjectId::new(5, 0), &entries, 4);
        let trailer = UpdateTrailer {
            size: 5,
            root: ObjectId::new(1, 0),
            info: None,
            id: None,
            prev: 900,
        };
        update.finish(XrefForm::Table, &trailer, ObjectId::new(6, 0));
        let byte_range = update.byte_range().expect("a hole");
        update.patch_byte_range(&byte_range).expect("fits");
        let mut out = Vec::new();
        update
            .write_to(&mut out, Path::new("memory"))
            .expect("in memory");
        let text = String::from_utf8(out).expect("ascii");
        assert_eq!(text.len() as u64 + 1000, byte_range.end());
        let hole =
            (byte_range.first_length - 1000) as usize..(byte_range.second_offset - 1000) as usize;
        assert_eq!(&text[hole], "<00000000>");
        let expected = format!(
            "/ByteRange [0 {} {} {}",
            byte_range.first_length, byte_range.second_offset, byte_range.second_length
        );
        assert!(text.contains(&expected), "{text}");
        assert!(text
            .contains("xref\n5 1\n0000001000 00000 n\r\ntrailer\n<</Size 6/Root 1 0 R/Prev 900>>"));
    }
}
