//! The signatures already in a file: every `/FT /Sig` field of the form with a `/V`
//! signature dictionary, its `/ByteRange` validated against the file, its `/Contents` bytes
//! exactly as stored, and the facts a verifier needs about coverage — does the range end
//! where a revision ends, what was added after it, and is the hole exactly the `/Contents`
//! string — and where its widget shows on the page. Also streams a signature's signed bytes
//! to a digest.
//!
//! Reports what the file says; it never checks the CMS or decides whether a signature is
//! acceptable (that is the verifier above this layer).

use std::ops::Range;

use ring::digest;

use super::acroform::{acroform, walk_fields};
use super::error::PdfError;
use super::object::{Dictionary, ObjectId, PdfObject, StringForm};
use super::pages::normalised_rect;
use super::reader::PdfFile;
use super::text::{decode_text, parse_pdf_date};

/// A `/ByteRange` `[0 first_length second_offset second_length]`: the signed bytes are
/// `0..first_length` and `second_offset..second_offset + second_length`; between them is
/// the hole holding `/Contents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first_length: u64,
    pub second_offset: u64,
    pub second_length: u64,
}

impl ByteRange {
    /// The four numbers as written in the file.
    pub fn as_array(&self) -> [u64; 4] {
        [0, self.first_length, self.second_offset, self.second_length]
    }

    /// The bytes not signed: where `/Contents` is.
    pub fn hole(&self) -> Range<u64> {
        self.first_length..self.second_offset
    }

    /// Where the signed bytes end (`c + d`).
    pub fn end(&self) -> u64 {
        self.second_offset.saturating_add(self.second_length)
    }

    /// The two signed ranges.
    pub fn parts(&self) -> [Range<u64>; 2] {
        [0..self.first_length, self.second_offset..self.end()]
    }

    /// How many bytes are signed.
    pub fn signed_length(&self) -> u64 {
        self.first_length.saturating_add(self.second_length)
    }
}

/// Why a signature's `/ByteRange` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteRangeDefect {
    #[error("the signature dictionary has no /ByteRange")]
    Missing,
    #[error("/ByteRange is not an array of four non-negative integers")]
    NotFourIntegers,
    #[error("/ByteRange starts at offset {start}, not at the start of the file")]
    NotFromStart { start: u64 },
    #[error(
        "/ByteRange's second range starts at {second_offset}, before the first ends at {first_end}"
    )]
    Overlapping { first_end: u64, second_offset: u64 },
    #[error("/ByteRange ends at offset {end}, past the end of the {file_length}-byte file")]
    PastEnd { end: u64, file_length: u64 },
}

/// What the file says about how much a signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCoverage {
    pub byte_range: ByteRange,
    /// The unsigned bytes between the two ranges.
    pub contents_hole: Range<u64>,
    /// Whether the hole is exactly the `/Contents` hex string (`<…>`) of this signature's
    /// dictionary, as stored in the file — nothing more, nothing less.
    pub hole_is_contents: bool,
    /// The end of the revision the range covers, when `c + d` is where a revision ends
    /// (after its `%%EOF`, with or without the line break after it).
    pub revision_end: Option<u64>,
    /// Bytes in the file after the signed range (`file length - (c + d)`).
    pub bytes_after: u64,
    /// Revisions that end after the signed range (incremental updates made later).
    pub later_revisions: usize,
}

impl SignatureCoverage {
    /// The signed range runs to the end of the file.
    pub fn covers_whole_file(&self) -> bool {
        self.bytes_after == 0
    }
}

/// Annotation flags that keep a widget off the screen: Hidden (2) and NoView (32).
const HIDDEN_FLAGS: i64 = 2 | 32;

/// Kids of a signature field looked at for its widget.
const MAX_WIDGET_KIDS: usize = 8;

/// Where a signature's widget annotation is, as the file says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignatureWidget {
    /// The widget annotation: the field itself when they are merged (as docgate writes
    /// them), else its first kid with a `/Rect`.
    pub annotation: Option<ObjectId>,
    /// `/P`: the page the widget says it is on (optional in PDF; `None` when absent).
    pub page: Option<ObjectId>,
    /// `/Rect`, corners ordered (`x0 < x1`, `y0 < y1`); `None` when it has no area, as an
    /// invisible signature's `[0 0 0 0]`.
    pub rect: Option<[f64; 4]>,
    /// `/F`, the annotation flags.
    pub flags: i64,
}

impl SignatureWidget {
    /// The widget has an area and is neither Hidden nor NoView.
    pub fn is_visible(&self) -> bool {
        self.rect.is_some() && self.flags & HIDDEN_FLAGS == 0
    }

    /// The visible rectangle when the widget is visible on `page`.
    pub fn visible_rect_on(&self, page: ObjectId) -> Option<[f64; 4]> {
        self.rect
            .filter(|_| self.is_visible() && self.page == Some(page))
    }
}

/// One signature found in the form.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedSignature {
    /// The field's fully qualified name (`/T` of it and its ancestors, joined by dots).
    pub field_name: String,
    /// The field object, when it is indirect.
    pub field: Option<ObjectId>,
    /// The signature dictionary (`/V`), when it is indirect.
    pub signature_dictionary: Option<ObjectId>,
    /// `/Type`: `Sig`, or `DocTimeStamp` for a document timestamp.
    pub dictionary_type: Option<String>,
    pub filter: Option<String>,
    pub sub_filter: Option<String>,
    /// `/Contents`, decoded exactly as stored (padding zeros included).
    pub contents: Option<Vec<u8>>,
    /// `/M` as written.
    pub signing_time_text: Option<String>,
    pub signer_name: Option<String>,
    pub reason: Option<String>,
    pub location: Option<String>,
    pub contact_info: Option<String>,
    pub coverage: Result<SignatureCoverage, ByteRangeDefect>,
    /// The field's widget, when it has one with a `/Rect`.
    pub widget: Option<SignatureWidget>,
}

impl EmbeddedSignature {
    /// `/M` as an instant, if it reads as a PDF date.
    pub fn signing_time(&self) -> Option<time::OffsetDateTime> {
        self.signing_time_text.as_deref().and_then(parse_pdf_date)
    }

    /// `/Contents` without its padding: the DER element at its start, if its length header
    /// is well formed and fits.
    pub fn cms_der(&self) -> Option<&[u8]> {
        use der::{Decode, Encode};
        let contents = self.contents.as_deref()?;
        let mut reader = der::SliceReader::new(contents).ok()?;
        let header = der::Header::decode(&mut reader).ok()?;
        if header.tag != der::Tag::Sequence {
            return None;
        }
        let total = (header.encoded_len().ok()? + header.length).ok()?;
        contents.get(..usize::try_from(total).ok()?)
    }
}

impl PdfFile {
    /// Every signature field with a value, in form order.
    pub fn signatures(&mut self) -> Result<Vec<EmbeddedSignature>, PdfError> {
        let catalog = self.catalog()?;
        let form = acroform(self, &catalog)?;
        let Some(form) = form.dictionary() else {
            return Ok(Vec::new());
        };
        let fields = walk_fields(self, form)?;
        let mut signatures = Vec::new();
        for field in fields {
            if field.field_type.as_deref() != Some(b"Sig") {
                continue;
            }
            let Some(value) = field.dictionary.get("V") else {
                continue;
            };
            let signature_dictionary = value.as_reference();
            let Some(dictionary) = self.resolve_dictionary(value)? else {
                continue;
            };
            let coverage = self.coverage(&dictionary, signature_dictionary)?;
            let text = |key: &str| {
                dictionary
                    .get(key)
                    .and_then(PdfObject::as_string)
                    .map(|string| decode_text(&string.bytes))
            };
            let name = |key: &str| {
                dictionary
                    .get(key)
                    .and_then(PdfObject::as_name)
                    .map(|n| String::from_utf8_lossy(n).into_owned())
            };
            let contents = match dictionary.get("Contents") {
                Some(contents) => self.resolve(contents)?.as_string().map(|s| s.bytes.clone()),
                None => None,
            };
            let widget = self.widget_of(field.id, &field.dictionary)?;
            signatures.push(EmbeddedSignature {
                field_name: field.full_name,
                field: field.id,
                signature_dictionary,
                dictionary_type: name("Type"),
                filter: name("Filter"),
                sub_filter: name("SubFilter"),
                contents,
                signing_time_text: text("M"),
                signer_name: text("Name"),
                reason: text("Reason"),
                location: text("Location"),
                contact_info: text("ContactInfo"),
                coverage,
                widget,
            });
        }
        Ok(signatures)
    }

    /// The widget of a signature field: the field itself when it has a `/Rect`, else the
    /// first of its (first few) kids that has one.
    fn widget_of(
        &mut self,
        field: Option<ObjectId>,
        dictionary: &Dictionary,
    ) -> Result<Option<SignatureWidget>, PdfError> {
        if let Some(widget) = self.widget_from(field, dictionary)? {
            return Ok(Some(widget));
        }
        let kids = match dictionary.get("Kids") {
            Some(kids) => self.resolve(kids)?,
            None => return Ok(None),
        };
        for kid in kids
            .as_array()
            .unwrap_or_default()
            .iter()
            .take(MAX_WIDGET_KIDS)
        {
            let Some(kid_dictionary) = self.resolve_dictionary(kid)? else {
                continue;
            };
            if let Some(widget) = self.widget_from(kid.as_reference(), &kid_dictionary)? {
                return Ok(Some(widget));
            }
        }
        Ok(None)
    }

    fn widget_from(
        &mut self,
        annotation: Option<ObjectId>,
        dictionary: &Dictionary,
    ) -> Result<Option<SignatureWidget>, PdfError> {
        let Some(rect) = dictionary.get("Rect") else {
            return Ok(None);
        };
        let rect = self.resolve(rect)?;
        let Some(items) = rect.as_array() else {
            return Ok(None);
        };
        let numbers: Option<Vec<f64>> = items
            .iter()
            .map(|item| item.as_number().filter(|number| number.is_finite()))
            .collect();
        let rect = match numbers.as_deref() {
            Some(&[a, b, c, d]) => normalised_rect([a, b, c, d]),
            _ => return Ok(None),
        };
        Ok(Some(SignatureWidget {
            annotation,
            page: dictionary.reference("P"),
            rect,
            flags: dictionary.integer("F").unwrap_or(0),
        }))
    }

    fn coverage(
        &mut self,
        dictionary: &Dictionary,
        id: Option<ObjectId>,
    ) -> Result<Result<SignatureCoverage, ByteRangeDefect>, PdfError> {
        let byte_range = match dictionary.get("ByteRange") {
            Some(value) => self.resolve(value)?,
            None => return Ok(Err(ByteRangeDefect::Missing)),
        };
        let byte_range = match validate_byte_range(&byte_range, self.length()) {
            Ok(byte_range) => byte_range,
            Err(defect) => return Ok(Err(defect)),
        };
        let hole = byte_range.hole();
        let hole_is_contents = match id {
            Some(id) => self.object_with_spans(id)?.is_some_and(|(value, spans)| {
                let is_hex = value
                    .as_dictionary()
                    .and_then(|d| d.get("Contents"))
                    .and_then(PdfObject::as_string)
                    .is_some_and(|string| string.form == StringForm::Hex);
                is_hex
                    && spans.iter().any(|span| {
                        span.key.as_bytes() == b"Contents"
                            && span.start == hole.start
                            && span.end == hole.end
                    })
            }),
            None => false,
        };
        let end = byte_range.end();
        let revision_end = self
            .revisions()
            .iter()
            .find(|revision| revision.end == end || revision.end_with_line_break == end)
            .map(|_| end);
        Ok(Ok(SignatureCoverage {
            byte_range,
            contents_hole: hole,
            hole_is_contents,
            revision_end,
            bytes_after: self.length() - end,
            later_revisions: self
                .revisions()
                .iter()
                .filter(|revision| revision.end > end)
                .count(),
        }))
    }

    /// Feeds the signed bytes of `byte_range` to `sink` in chunks of at most 64 KiB.
    pub fn feed_signed_bytes(
        &mut self,
        byte_range: &ByteRange,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), PdfError> {
        self.feed_ranges(&byte_range.parts(), &mut sink)
    }

    /// The digest of the signed bytes of `byte_range` (the CMS message digest).
    pub fn digest_signed_bytes(
        &mut self,
        byte_range: &ByteRange,
        algorithm: &'static digest::Algorithm,
    ) -> Result<digest::Digest, PdfError> {
        let mut context = digest::Context::new(algorithm);
        self.feed_signed_bytes(byte_range, |chunk| context.update(chunk))?;
        Ok(context.finish())
    }
}

/// Checks a `/ByteRange` against a file of `file_length` bytes.
pub(crate) fn validate_byte_range(
    value: &PdfObject,
    file_length: u64,
) -> Result<ByteRange, ByteRangeDefect> {
    let numbers: Vec<u64> = value
        .as_array()
        .ok_or(ByteRangeDefect::NotFourIntegers)?
        .iter()
        .map(|item| item.as_integer().and_then(|n| u64::try_from(n).ok()))
        .collect::<Option<_>>()
        .ok_or(ByteRangeDefect::NotFourIntegers)?;
    let [start, first_length, second_offset, second_length] = numbers[..] else {
        return Err(ByteRangeDefect::NotFourIntegers);
    };
    if start != 0 {
        return Err(ByteRangeDefect::NotFromStart { start });
    }
    if second_offset < first_length {
        return Err(ByteRangeDefect::Overlapping {
            first_end: first_length,
            second_offset,
        });
    }
    let end = second_offset.saturating_add(second_length);
    if end > file_length {
        return Err(ByteRangeDefect::PastEnd { end, file_length });
    }
    Ok(ByteRange {
        first_length,
        second_offset,
        second_length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(numbers: &[i64]) -> PdfObject {
        PdfObject::Array(numbers.iter().map(|&n| PdfObject::Integer(n)).collect())
    }

    #[test]
    fn byte_ranges_are_validated() {
        assert_eq!(
            validate_byte_range(&range(&[0, 10, 20, 5]), 25),
            Ok(ByteRange {
                first_length: 10,
                second_offset: 20,
                second_length: 5
            })
        );
        assert_eq!(
            validate_byte_range(&range(&[1, 10, 20, 5]), 25),
            Err(ByteRangeDefect::NotFromStart { start: 1 })
        );
        assert!(matches!(
            validate_byte_range(&range(&[0, 10, 5, 5]), 25),
            Err(ByteRangeDefect::Overlapping { .. })
        ));
        assert!(matches!(
            validate_byte_range(&range(&[0, 10, 20, 6]), 25),
            Err(ByteRangeDefect::PastEnd { end: 26, .. })
        ));
        assert_eq!(
            validate_byte_range(&range(&[0, 10, 20]), 25),
            Err(ByteRangeDefect::NotFourIntegers)
        );
        assert_eq!(
            validate_byte_range(&range(&[0, -10, 20, 1]), 25),
            Err(ByteRangeDefect::NotFourIntegers)
        );
        assert!(matches!(
            validate_byte_range(&range(&[0, 1, i64::MAX, i64::MAX]), 25),
            Err(ByteRangeDefect::PastEnd { .. })
        ));
    }

    #[test]
    fn a_widget_is_visible_on_its_page_with_an_area_and_no_hiding_flag() {
        let page = ObjectId::new(4, 0);
        let widget = SignatureWidget {
            annotation: Some(ObjectId::new(9, 0)),
            page: Some(page),
            rect: normalised_rect([300.0, 100.0, 200.0, 60.0]),
            flags: 132,
        };
        assert_eq!(
            widget.visible_rect_on(page),
            Some([200.0, 60.0, 300.0, 100.0])
        );
        assert_eq!(widget.visible_rect_on(ObjectId::new(5, 0)), None);
        for flags in [2, 32, 132 | 2] {
            assert!(!SignatureWidget { flags, ..widget }.is_visible(), "{flags}");
        }
        let invisible = SignatureWidget {
            rect: normalised_rect([0.0; 4]),
            ..widget
        };
        assert!(!invisible.is_visible());
        let nowhere = SignatureWidget {
            page: None,
            ..widget
        };
        assert_eq!(nowhere.visible_rect_on(page), None);
    }

    #[test]
    fn cms_der_strips_padding() {
        let mut signature = EmbeddedSignature {
            field_name: String::new(),
            field: None,
            signature_dictionary: None,
            dictionary_type: None,
            filter: None,
            sub_filter: None,
            contents: Some(vec![0x30, 0x02, 0xAA, 0xBB, 0, 0, 0, 0]),
            signing_time_text: None,
            signer_name: None,
            reason: None,
            location: None,
            contact_info: None,
            coverage: Err(ByteRangeDefect::Missing),
            widget: None,
        };
        assert_eq!(signature.cms_der(), Some(&[0x30, 0x02, 0xAA, 0xBB][..]));
        signature.contents = Some(vec![0x30, 0x82, 0x01, 0x00, 0xAA]);
        assert_eq!(signature.cms_der(), None);
        signature.contents = Some(vec![0; 8]);
        assert_eq!(signature.cms_der(), None);
    }
}
