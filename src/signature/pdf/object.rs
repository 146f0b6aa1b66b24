//! The small PDF object model (ISO 32000-1 §7.3) and its serialization: null, booleans,
//! numbers, strings, names, arrays, dictionaries, indirect references and stream headers.
//! A stream here is its dictionary and the offset of its data in the file, never the data
//! itself. Parsing lives in `lexer` and `parser`; resolving references in `reader`.

use std::fmt;

/// An indirect object's number and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    pub number: u32,
    pub generation: u16,
}

impl ObjectId {
    pub fn new(number: u32, generation: u16) -> Self {
        ObjectId { number, generation }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "object {} {}", self.number, self.generation)
    }
}

/// A name, decoded (`#xx` escapes resolved) to its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(pub Vec<u8>);

impl Name {
    pub fn new(text: &str) -> Self {
        Name(text.as_bytes().to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as text (lossy for names that are not UTF-8).
    pub fn to_text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

/// How a string was (or is to be) written: `(literal)` or `<hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringForm {
    Literal,
    Hex,
}

/// A string's bytes, exactly as decoded from the file (escapes and hex resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfString {
    pub bytes: Vec<u8>,
    pub form: StringForm,
}

/// A stream object: its dictionary and where its data starts in the file (or, for a stream
/// that is not in the file, nothing). The data length comes from `/Length`, which may be an
/// indirect reference; the reader resolves it when the data is needed.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamHeader {
    pub dictionary: Dictionary,
    pub data_offset: u64,
}

/// One PDF object.
#[derive(Debug, Clone, PartialEq)]
pub enum PdfObject {
    Null,
    Boolean(bool),
    Integer(i64),
    Real(f64),
    String(PdfString),
    Name(Name),
    Array(Vec<PdfObject>),
    Dictionary(Dictionary),
    Reference(ObjectId),
    Stream(StreamHeader),
}

impl PdfObject {
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            PdfObject::Integer(value) => Some(*value),
            _ => None,
        }
    }

    /// A number, integer or real.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            PdfObject::Integer(value) => Some(*value as f64),
            PdfObject::Real(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_name(&self) -> Option<&[u8]> {
        match self {
            PdfObject::Name(name) => Some(name.as_bytes()),
            _ => None,
        }
    }

    pub fn as_string(&self) -> Option<&PdfString> {
        match self {
            PdfObject::String(string) => Some(string),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[PdfObject]> {
        match self {
            PdfObject::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The dictionary of a dictionary or of a stream.
    pub fn as_dictionary(&self) -> Option<&Dictionary> {
        match self {
            PdfObject::Dictionary(dictionary) => Some(dictionary),
            PdfObject::Stream(stream) => Some(&stream.dictionary),
            _ => None,
        }
    }

    pub fn as_reference(&self) -> Option<ObjectId> {
        match self {
            PdfObject::Reference(id) => Some(*id),
            _ => None,
        }
    }

    /// What kind of object this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PdfObject::Null => "null",
            PdfObject::Boolean(_) => "a boolean",
            PdfObject::Integer(_) => "an integer",
            PdfObject::Real(_) => "a real number",
            PdfObject::String(_) => "a string",
            PdfObject::Name(_) => "a name",
            PdfObject::Array(_) => "an array",
            PdfObject::Dictionary(_) => "a dictionary",
            PdfObject::Reference(_) => "a reference",
            PdfObject::Stream(_) => "a stream",
        }
    }

    /// Appends this object's PDF syntax to `out`. Streams cannot be written this way (their
    /// data is not held); they are written as their dictionary by the one caller that
    /// writes streams, and here as `null` so a mistake cannot produce broken syntax.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            PdfObject::Null | PdfObject::Stream(_) => out.extend_from_slice(b"null"),
            PdfObject::Boolean(true) => out.extend_from_slice(b"true"),
            PdfObject::Boolean(false) => out.extend_from_slice(b"false"),
            PdfObject::Integer(value) => out.extend_from_slice(value.to_string().as_bytes()),
            PdfObject::Real(value) => write_real(*value, out),
            PdfObject::String(string) => write_string(string, out),
            PdfObject::Name(name) => write_name(name.as_bytes(), out),
            PdfObject::Array(items) => {
                out.push(b'[');
                for (position, item) in items.iter().enumerate() {
                    if position > 0 {
                        out.push(b' ');
                    }
                    item.write_to(out);
                }
                out.push(b']');
            }
            PdfObject::Dictionary(dictionary) => dictionary.write_to(out),
            PdfObject::Reference(id) => {
                out.extend_from_slice(format!("{} {} R", id.number, id.generation).as_bytes())
            }
        }
    }
}

/// A dictionary, keeping the order of its keys so a rewritten object reads like the
/// original. A key given twice keeps its last value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dictionary {
    entries: Vec<(Name, PdfObject)>,
}

impl Dictionary {
    pub fn new() -> Self {
        Dictionary::default()
    }

    /// A dictionary from parsed entries; a key given twice keeps its last value, at the
    /// place it first appeared. Linear in the number of entries, so a hostile dictionary
    /// with many keys costs no quadratic time.
    pub(crate) fn from_entries(entries: Vec<(Name, PdfObject)>) -> Self {
        let mut positions: std::collections::HashMap<Vec<u8>, usize> =
            std::collections::HashMap::with_capacity(entries.len());
        let mut unique: Vec<(Name, PdfObject)> = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            match positions.get(name.as_bytes()) {
                Some(&position) => unique[position].1 = value,
                None => {
                    positions.insert(name.0.clone(), unique.len());
                    unique.push((name, value));
                }
            }
        }
        Dictionary { entries: unique }
    }

    pub fn get(&self, key: &str) -> Option<&PdfObject> {
        self.entries
            .iter()
            .find(|(name, _)| name.as_bytes() == key.as_bytes())
            .map(|(_, value)| value)
    }

    /// Sets `key`, replacing a value it already has in place.
    pub fn set(&mut self, key: &str, value: PdfObject) {
        self.set_name(Name::new(key), value);
    }

    pub(crate) fn set_name(&mut self, key: Name, value: PdfObject) {
        match self.entries.iter_mut().find(|(name, _)| *name == key) {
            Some((_, slot)) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<PdfObject> {
        let position = self
            .entries
            .iter()
            .position(|(name, _)| name.as_bytes() == key.as_bytes())?;
        Some(self.entries.remove(position).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Name, &PdfObject)> {
        self.entries.iter().map(|(name, value)| (name, value))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key` if it is a name.
    pub fn name(&self, key: &str) -> Option<&[u8]> {
        self.get(key).and_then(PdfObject::as_name)
    }

    /// The value of `key` if it is an integer.
    pub fn integer(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(PdfObject::as_integer)
    }

    /// The value of `key` if it is an indirect reference.
    pub fn reference(&self, key: &str) -> Option<ObjectId> {
        self.get(key).and_then(PdfObject::as_reference)
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<<");
        for (name, value) in &self.entries {
            write_name(name.as_bytes(), out);
            out.push(b' ');
            value.write_to(out);
        }
        out.extend_from_slice(b">>");
    }
}

/// Reals are written in plain decimal (Rust's shortest form that reads back the same, and
/// never an exponent, which PDF does not allow).
fn write_real(value: f64, out: &mut Vec<u8>) {
    if value.is_finite() {
        out.extend_from_slice(format!("{value}").as_bytes());
    } else {
        out.push(b'0');
    }
}

/// Characters that end a name or a bare keyword (ISO 32000-1 §7.2.2).
pub(crate) fn is_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

/// The six PDF white-space characters.
pub(crate) fn is_whitespace(byte: u8) -> bool {
    matches!(byte, 0 | b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

fn write_name(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'/');
    for &byte in bytes {
        if (0x21..=0x7e).contains(&byte) && byte != b'#' && !is_delimiter(byte) {
            out.push(byte);
        } else {
            out.extend_from_slice(format!("#{byte:02X}").as_bytes());
        }
    }
}

fn write_string(string: &PdfString, out: &mut Vec<u8>) {
    match string.form {
        StringForm::Hex => {
            out.push(b'<');
            out.extend_from_slice(hex::encode_upper(&string.bytes).as_bytes());
            out.push(b'>');
        }
        StringForm::Literal => {
            out.push(b'(');
            for &byte in &string.bytes {
                match byte {
                    b'(' | b')' | b'\\' => {
                        out.push(b'\\');
                        out.push(byte);
                    }
                    // A raw line break would be normalised by readers; escape it.
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    _ => out.push(byte),
                }
            }
            out.push(b')');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(object: &PdfObject) -> String {
        let mut out = Vec::new();
        object.write_to(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn writes_each_kind() {
        let mut dictionary = Dictionary::new();
        dictionary.set("Type", PdfObject::Name(Name::new("Annot")));
        dictionary.set(
            "Rect",
            PdfObject::Array(vec![PdfObject::Integer(0), PdfObject::Real(-1.5)]),
        );
        dictionary.set("P", PdfObject::Reference(ObjectId::new(4, 0)));
        dictionary.set(
            "T",
            PdfObject::String(PdfString {
                bytes: b"a(b)\\\n".to_vec(),
                form: StringForm::Literal,
            }),
        );
        dictionary.set("Odd", PdfObject::Name(Name(b"A B#/".to_vec())));
        assert_eq!(
            written(&PdfObject::Dictionary(dictionary)),
            "<</Type /Annot/Rect [0 -1.5]/P 4 0 R/T (a\\(b\\)\\\\\\n)/Odd /A#20B#23#2F>>"
        );
    }

    #[test]
    fn set_replaces_in_place() {
        let mut dictionary = Dictionary::new();
        dictionary.set("A", PdfObject::Integer(1));
        dictionary.set("B", PdfObject::Integer(2));
        dictionary.set("A", PdfObject::Integer(3));
        assert_eq!(written(&PdfObject::Dictionary(dictionary)), "<</A 3/B 2>>");
    }
}
