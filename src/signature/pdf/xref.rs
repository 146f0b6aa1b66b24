//! The cross-reference chain (ISO 32000-1 §7.5.4–7.5.8): `startxref`, classic tables with
//! their trailers, cross-reference streams (`/W`, `/Index`, predictors), hybrid files
//! (`/XRefStm`) and the `/Prev` chain, newest section first, so the newest entry for each
//! object wins. Also finds where each revision ends (the `%%EOF` after its section), which
//! the signature facts are measured against.
//!
//! Builds an index of where objects are; it never parses the objects themselves (that is
//! `reader`). Every count is bounded by [`Limits`]; a loop in `/Prev` is an error.

use std::collections::{HashMap, HashSet};

use super::error::{one_line, PdfError, Syntax};
use super::filters::read_and_decode;
use super::limits::Limits;
use super::object::{Dictionary, PdfObject};
use super::source::{SequentialReader, SourceFile};

/// How far from the end `startxref` is looked for.
const TAIL_SEARCH_BYTES: usize = 4 * 1024;

/// How far after a section its `startxref … %%EOF` is looked for.
const EOF_SEARCH_BYTES: usize = 1024;

/// Where one object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XrefEntry {
    Free,
    InFile { offset: u64, generation: u16 },
    Compressed { stream: u32, index: u32 },
}

/// How a cross-reference section is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XrefForm {
    /// A classic `xref` table with a `trailer` dictionary.
    Table,
    /// A classic table whose trailer also names a cross-reference stream (`/XRefStm`).
    Hybrid,
    /// A cross-reference stream (PDF 1.5).
    Stream,
}

/// One revision of the file: the section that begins it and where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision {
    /// Where its cross-reference section starts.
    pub xref_offset: u64,
    pub xref_form: XrefForm,
    /// Just after its `%%EOF` marker.
    pub end: u64,
    /// After the line break that follows `%%EOF`, if there is one (else equal to `end`).
    pub end_with_line_break: u64,
}

/// The merged cross-reference information of a file.
#[derive(Debug)]
pub(crate) struct CrossReference {
    pub entries: HashMap<u32, XrefEntry>,
    /// `/Root`, `/Info`, `/ID`, `/Encrypt`, `/Size`: from the newest trailer that has each.
    pub trailer: Dictionary,
    /// The offset `startxref` names: the newest section.
    pub startxref: u64,
    pub newest_form: XrefForm,
    /// Oldest first, each ending after the one before.
    pub revisions: Vec<Revision>,
    /// The highest object number any section lists.
    pub highest_number: u32,
}

/// Just after a `%%EOF`, and after the line break that follows it.
type EofEnd = (u64, u64);

/// One parsed section.
struct Section {
    form: XrefForm,
    trailer: Dictionary,
    entries: Vec<(u32, XrefEntry)>,
    /// Where the section's own bytes end (after the trailer dictionary or the stream).
    end: u64,
}

/// Reads the whole `/Prev` chain from `startxref`.
pub(crate) fn load(source: &mut SourceFile, limits: &Limits) -> Result<CrossReference, PdfError> {
    let startxref = find_startxref(source)?;
    let mut entries: HashMap<u32, XrefEntry> = HashMap::new();
    let mut trailer = Dictionary::new();
    let mut visited = HashSet::new();
    // (section offset, form, where its %%EOF ends), newest first.
    let mut ends: Vec<(u64, XrefForm, Option<EofEnd>)> = Vec::new();
    let mut entries_read = 0usize;
    let mut newest_form = XrefForm::Table;
    let mut next = Some(startxref);
    while let Some(offset) = next {
        if !visited.insert(offset) {
            return Err(PdfError::XrefLoop { offset });
        }
        if visited.len() > limits.max_xref_sections {
            return Err(PdfError::TooManyXrefSections {
                limit: limits.max_xref_sections,
            });
        }
        let mut section = read_section(source, offset, limits, &mut entries_read)?;
        if offset == startxref {
            newest_form = section.form;
        }
        // A hybrid section: table entries in use first, then the stream's, then the
        // table's free entries (§7.5.8.4), all below anything newer.
        let mut stream_entries = Vec::new();
        if let Some(stream_offset) = non_negative(section.trailer.get("XRefStm")) {
            check_offset(source, stream_offset)?;
            section.form = XrefForm::Hybrid;
            if offset == startxref {
                newest_form = XrefForm::Hybrid;
            }
            stream_entries =
                read_stream_section(source, stream_offset, limits, &mut entries_read)?.entries;
        }
        let (in_use, free): (Vec<_>, Vec<_>) = section
            .entries
            .iter()
            .partition(|(_, entry)| *entry != XrefEntry::Free);
        for (number, entry) in in_use.into_iter().chain(&stream_entries).chain(free) {
            entries.entry(*number).or_insert(*entry);
            if entries.len() > limits.max_objects {
                return Err(PdfError::TooManyObjects {
                    what: "objects",
                    limit: limits.max_objects,
                });
            }
        }
        for key in ["Root", "Info", "ID", "Encrypt", "Size"] {
            if trailer.get(key).is_none() {
                if let Some(value) = section.trailer.get(key) {
                    trailer.set(key, value.clone());
                }
            }
        }
        ends.push((offset, section.form, find_eof(source, section.end)?));
        next = non_negative(section.trailer.get("Prev"));
        if let Some(previous) = next {
            check_offset(source, previous)?;
        }
    }
    if let Some(size) = trailer.integer("Size") {
        if size < 0 || size > i64::from(limits.max_object_number) + 1 {
            return Err(PdfError::ObjectNumberTooLarge {
                number: size.unsigned_abs(),
                limit: limits.max_object_number,
                offset: startxref,
            });
        }
    }
    // Oldest first; a section ending before an older one is the first-page section of a
    // linearized file, which belongs to the revision it precedes.
    let mut revisions: Vec<Revision> = Vec::new();
    for (xref_offset, xref_form, end) in ends.into_iter().rev() {
        let Some((end, end_with_line_break)) = end else {
            continue;
        };
        if revisions.last().is_none_or(|last| end > last.end) {
            revisions.push(Revision {
                xref_offset,
                xref_form,
                end,
                end_with_line_break,
            });
        }
    }
    let highest_number = entries.keys().copied().max().unwrap_or(0);
    Ok(CrossReference {
        entries,
        trailer,
        startxref,
        newest_form,
        revisions,
        highest_number,
    })
}

fn non_negative(value: Option<&PdfObject>) -> Option<u64> {
    value
        .and_then(PdfObject::as_integer)
        .and_then(|value| u64::try_from(value).ok())
}

fn check_offset(source: &SourceFile, offset: u64) -> Result<(), PdfError> {
    if offset >= source.length() {
        return Err(PdfError::XrefOffsetPastEnd {
            offset,
            file_length: source.length(),
        });
    }
    Ok(())
}

/// The number after the last `startxref` near the end of the file.
fn find_startxref(source: &mut SourceFile) -> Result<u64, PdfError> {
    let length = source.length();
    let tail_start = length.saturating_sub(TAIL_SEARCH_BYTES as u64);
    let tail = source.read_at(tail_start, TAIL_SEARCH_BYTES)?;
    let keyword = b"startxref";
    let position = tail
        .windows(keyword.len())
        .rposition(|window| window == keyword)
        .ok_or(PdfError::NoStartXref {
            searched: TAIL_SEARCH_BYTES,
        })?;
    let after = &tail[position + keyword.len()..];
    let digits: Vec<u8> = after
        .iter()
        .skip_while(|byte| byte.is_ascii_whitespace())
        .take_while(|byte| byte.is_ascii_digit())
        .copied()
        .collect();
    let offset = std::str::from_utf8(&digits)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| PdfError::MalformedXref {
            offset: tail_start + position as u64,
            what: "startxref is not followed by an offset".to_owned(),
        })?;
    check_offset(source, offset)?;
    Ok(offset)
}

/// Where the `%%EOF` after a section ends: just after the marker, and after its line break.
fn find_eof(source: &mut SourceFile, from: u64) -> Result<Option<EofEnd>, PdfError> {
    let window = source.read_at(from, EOF_SEARCH_BYTES + 2)?;
    let marker = b"%%EOF";
    let searchable = &window[..window.len().min(EOF_SEARCH_BYTES)];
    let Some(position) = searchable
        .windows(marker.len())
        .position(|candidate| candidate == marker)
    else {
        return Ok(None);
    };
    let end = position + marker.len();
    let line_break = match (window.get(end), window.get(end + 1)) {
        (Some(b'\r'), Some(b'\n')) => 2,
        (Some(b'\r'), _) | (Some(b'\n'), _) => 1,
        _ => 0,
    };
    Ok(Some((from + end as u64, from + (end + line_break) as u64)))
}

fn read_section(
    source: &mut SourceFile,
    offset: u64,
    limits: &Limits,
    entries_read: &mut usize,
) -> Result<Section, PdfError> {
    let start = source.read_at(offset, 64)?;
    let first = start
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(start.len());
    if start[first..].starts_with(b"xref") {
        read_table_section(source, offset + first as u64 + 4, limits, entries_read)
    } else {
        read_stream_section(source, offset, limits, entries_read)
    }
}

fn malformed(offset: u64, what: impl Into<String>) -> PdfError {
    PdfError::MalformedXref {
        offset,
        what: what.into(),
    }
}

/// A classic table, starting just after the `xref` keyword.
fn read_table_section(
    source: &mut SourceFile,
    after_keyword: u64,
    limits: &Limits,
    entries_read: &mut usize,
) -> Result<Section, PdfError> {
    let mut entries = Vec::new();
    let mut reader = SequentialReader::new(source, after_keyword);
    let trailer_offset = loop {
        skip_whitespace(&mut reader)?;
        let here = reader.position();
        match reader.peek()? {
            Some(b't') => break here,
            Some(byte) if byte.is_ascii_digit() => {}
            Some(byte) => {
                return Err(malformed(
                    here,
                    format!("unexpected byte 0x{byte:02x} where a subsection or 'trailer' belongs"),
                ))
            }
            None => return Err(malformed(here, "the table ends without 'trailer'")),
        }
        let first = read_number(&mut reader, "a subsection's first object number")?;
        skip_whitespace(&mut reader)?;
        let count = read_number(&mut reader, "a subsection's entry count")?;
        if first.saturating_add(count) > u64::from(limits.max_object_number) + 1 {
            return Err(PdfError::ObjectNumberTooLarge {
                number: first.saturating_add(count),
                limit: limits.max_object_number,
                offset: here,
            });
        }
        count_entries(entries_read, entries.len(), count, limits)?;
        for number in first..first + count {
            skip_whitespace(&mut reader)?;
            let field_offset = read_number(&mut reader, "an entry's offset")?;
            skip_whitespace(&mut reader)?;
            let entry_at = reader.position();
            let generation = read_number(&mut reader, "an entry's generation")?;
            skip_whitespace(&mut reader)?;
            let kind = reader.peek()?;
            reader.advance();
            let generation = u16::try_from(generation).map_err(|_| {
                malformed(entry_at, format!("generation {generation} is over 65535"))
            })?;
            // `first + count` was checked against the object number limit.
            let number = number as u32;
            let entry = match kind {
                Some(b'n') => XrefEntry::InFile {
                    offset: field_offset,
                    generation,
                },
                Some(b'f') => XrefEntry::Free,
                other => {
                    return Err(malformed(
                        entry_at,
                        format!(
                            "entry type {} is neither 'n' nor 'f'",
                            other.map_or("(end of file)".to_owned(), |b| one_line(&[b]))
                        ),
                    ))
                }
            };
            entries.push((number, entry));
        }
    };
    let (trailer, end) = source.parse_at(trailer_offset, limits, |parser| {
        let keyword = parser.lexer().next_token()?;
        if !keyword
            .as_ref()
            .is_some_and(|token| token.is_keyword(b"trailer"))
        {
            return Err(Syntax::Error(malformed(
                trailer_offset,
                "expected 'trailer' after the table",
            )));
        }
        match parser.parse_object()? {
            PdfObject::Dictionary(dictionary) => Ok((dictionary, parser.offset())),
            other => Err(Syntax::Error(malformed(
                trailer_offset,
                format!("the trailer is {}, not a dictionary", other.kind()),
            ))),
        }
    })?;
    Ok(Section {
        form: XrefForm::Table,
        trailer,
        entries,
        end,
    })
}

/// Counts `count` more entries, of which the section already holds `in_section`. A
/// section cannot list more distinct objects than the index may hold, so its entries are
/// held to that limit too: this bounds the memory of one section before it is merged.
fn count_entries(
    entries_read: &mut usize,
    in_section: usize,
    count: u64,
    limits: &Limits,
) -> Result<(), PdfError> {
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    *entries_read = entries_read.saturating_add(count);
    if *entries_read > limits.max_xref_entries {
        return Err(PdfError::TooManyObjects {
            what: "cross-reference entries",
            limit: limits.max_xref_entries,
        });
    }
    if in_section.saturating_add(count) > limits.max_objects {
        return Err(PdfError::TooManyObjects {
            what: "objects",
            limit: limits.max_objects,
        });
    }
    Ok(())
}

fn skip_whitespace(reader: &mut SequentialReader<'_>) -> Result<(), PdfError> {
    while let Some(byte) = reader.peek()? {
        if !super::object::is_whitespace(byte) {
            break;
        }
        reader.advance();
    }
    Ok(())
}

fn read_number(reader: &mut SequentialReader<'_>, what: &str) -> Result<u64, PdfError> {
    let start = reader.position();
    let mut value: u64 = 0;
    let mut digits = 0;
    while let Some(byte @ b'0'..=b'9') = reader.peek()? {
        value = value
            .checked_mul(10)
            .and_then(|value| value.checked_add(u64::from(byte - b'0')))
            .ok_or_else(|| malformed(start, format!("{what} is too large")))?;
        digits += 1;
        reader.advance();
    }
    if digits == 0 {
        return Err(malformed(start, format!("expected {what}")));
    }
    Ok(value)
}

/// A cross-reference stream object at `offset`.
fn read_stream_section(
    source: &mut SourceFile,
    offset: u64,
    limits: &Limits,
    entries_read: &mut usize,
) -> Result<Section, PdfError> {
    let object = source
        .parse_at(offset, limits, |parser| parser.indirect_object(None))
        .map_err(|error| match error {
            PdfError::Syntax { what, .. } => malformed(
                offset,
                format!("neither 'xref' nor a cross-reference stream ({what})"),
            ),
            other => other,
        })?;
    let PdfObject::Stream(stream) = object.value else {
        return Err(malformed(offset, "the object here is not a stream"));
    };
    let dictionary = &stream.dictionary;
    if dictionary.name("Type") != Some(b"XRef") {
        return Err(malformed(offset, "the stream here is not /Type /XRef"));
    }
    let length = non_negative(dictionary.get("Length")).ok_or_else(|| {
        malformed(
            offset,
            "a cross-reference stream needs a direct, non-negative /Length",
        )
    })?;
    let data = read_and_decode(source, &stream, length, limits)?;
    let widths = stream_widths(dictionary, offset)?;
    let size = dictionary.integer("Size").unwrap_or(-1);
    if size < 0 || size > i64::from(limits.max_object_number) + 1 {
        return Err(PdfError::ObjectNumberTooLarge {
            number: size.unsigned_abs(),
            limit: limits.max_object_number,
            offset,
        });
    }
    let subsections = match dictionary.get("Index") {
        None => vec![(0, size as u64)],
        Some(PdfObject::Array(items)) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(
                |pair| match (non_negative(pair.first()), non_negative(pair.get(1))) {
                    (Some(first), Some(count)) => Ok((first, count)),
                    _ => Err(malformed(
                        offset,
                        "/Index holds something other than pairs of numbers",
                    )),
                },
            )
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(malformed(offset, "/Index is not an array of pairs")),
    };
    let entry_width: usize = widths.iter().sum();
    let mut entries = Vec::new();
    let mut records = data.chunks_exact(entry_width);
    for (first, count) in subsections {
        if first.saturating_add(count) > u64::from(limits.max_object_number) + 1 {
            return Err(PdfError::ObjectNumberTooLarge {
                number: first.saturating_add(count),
                limit: limits.max_object_number,
                offset,
            });
        }
        count_entries(entries_read, entries.len(), count, limits)?;
        for number in first..first + count {
            let record = records.next().ok_or_else(|| {
                malformed(
                    offset,
                    format!(
                        "the stream's {} bytes hold fewer entries than /Index declares",
                        data.len()
                    ),
                )
            })?;
            // `first + count` was checked against the object number limit.
            entries.push((number as u32, stream_entry(record, &widths, offset)?));
        }
    }
    Ok(Section {
        form: XrefForm::Stream,
        trailer: dictionary.clone(),
        entries,
        end: stream.data_offset + length,
    })
}

fn stream_widths(dictionary: &Dictionary, offset: u64) -> Result<[usize; 3], PdfError> {
    let widths: Vec<i64> = match dictionary.get("W") {
        Some(PdfObject::Array(items)) => items.iter().filter_map(PdfObject::as_integer).collect(),
        _ => Vec::new(),
    };
    match widths.as_slice() {
        [a, b, c] if [a, b, c].iter().all(|w| (0..=8).contains(*w)) && a + b + c > 0 => {
            Ok([*a as usize, *b as usize, *c as usize])
        }
        _ => Err(malformed(
            offset,
            "/W must be three field widths of 0 to 8 bytes",
        )),
    }
}

fn stream_entry(record: &[u8], widths: &[usize; 3], offset: u64) -> Result<XrefEntry, PdfError> {
    let mut fields = [0u64; 3];
    let mut position = 0;
    for (field, &width) in fields.iter_mut().zip(widths) {
        for &byte in &record[position..position + width] {
            *field = *field << 8 | u64::from(byte);
        }
        position += width;
    }
    let kind = if widths[0] == 0 { 1 } else { fields[0] };
    Ok(match kind {
        1 => XrefEntry::InFile {
            offset: fields[1],
            generation: u16::try_from(fields[2]).map_err(|_| {
                malformed(offset, format!("generation {} is over 65535", fields[2]))
            })?,
        },
        2 => XrefEntry::Compressed {
            stream: u32::try_from(fields[1])
                .map_err(|_| malformed(offset, "an object stream number is too large"))?,
            index: u32::try_from(fields[2])
                .map_err(|_| malformed(offset, "an index in an object stream is too large"))?,
        },
        // Type 0 is free; unknown types are references to the null object (§7.5.8.3).
        _ => XrefEntry::Free,
    })
}
