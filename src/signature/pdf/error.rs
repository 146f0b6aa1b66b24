//! The PDF layer's one error type. Each message is one line that says what is wrong and,
//! where the file is at fault, the byte offset. It does not decide what happens to a bad
//! document (refusing or quarantining it belongs to the caller); it only says why.

use std::io;
use std::path::PathBuf;

use super::object::ObjectId;

/// Why reading a PDF, or writing a signature into one, failed.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The file could not be opened or its size read.
    #[error("cannot open PDF file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },

    /// Reading failed part-way.
    #[error("cannot read the PDF at offset {offset}: {source}")]
    Read { offset: u64, source: io::Error },

    /// Writing the output failed.
    #[error("cannot write {path}: {source} (check free space and permissions)")]
    Write { path: PathBuf, source: io::Error },

    /// No `%PDF-` header at the start.
    #[error("not a PDF: no %PDF- header in the first {searched} bytes")]
    NotPdf { searched: usize },

    /// The file is larger than the configured limit.
    #[error("refused: the PDF is {size} bytes, over the limit of {limit} bytes")]
    FileTooLarge { size: u64, limit: u64 },

    /// No `startxref` near the end: the file is truncated or not a PDF.
    #[error("damaged PDF: no startxref in the last {searched} bytes (truncated file?)")]
    NoStartXref { searched: usize },

    /// A cross-reference offset points outside the file.
    #[error("damaged PDF: a cross-reference section is said to start at offset {offset}, past the end of the {file_length}-byte file")]
    XrefOffsetPastEnd { offset: u64, file_length: u64 },

    /// A cross-reference section is malformed.
    #[error("damaged PDF: malformed cross-reference section at offset {offset}: {what}")]
    MalformedXref { offset: u64, what: String },

    /// The `/Prev` chain comes back to a section already read.
    #[error(
        "damaged PDF: the /Prev chain of cross-reference sections loops back to offset {offset}"
    )]
    XrefLoop { offset: u64 },

    /// More cross-reference sections than allowed.
    #[error("refused: more than {limit} cross-reference sections")]
    TooManyXrefSections { limit: usize },

    /// More cross-reference entries or distinct objects than allowed.
    #[error("refused: more than {limit} {what}")]
    TooManyObjects { what: &'static str, limit: usize },

    /// An object number (or a trailer `/Size`) beyond the limit.
    #[error("refused: object number {number} (or /Size) at offset {offset} is over the limit of {limit}")]
    ObjectNumberTooLarge {
        number: u64,
        limit: u32,
        offset: u64,
    },

    /// The trailer has no usable `/Root`.
    #[error("damaged PDF: the trailer has no /Root reference to the document catalog")]
    MissingRoot,

    /// The document is encrypted.
    #[error("refused: the PDF is encrypted (/Encrypt in the trailer); signed official documents must not be encrypted")]
    Encrypted,

    /// A syntax error inside an object.
    #[error("damaged PDF: {what} at offset {offset}")]
    Syntax { offset: u64, what: String },

    /// The file (or a decoded stream) ends in the middle of something.
    #[error("damaged PDF: the data ends at offset {offset} inside {what}")]
    Truncated { offset: u64, what: &'static str },

    /// Arrays and dictionaries nest too deeply.
    #[error("refused: objects nested deeper than {limit} levels at offset {offset}")]
    TooDeep { offset: u64, limit: usize },

    /// One object's text is larger than allowed.
    #[error("refused: the object at offset {offset} is larger than the limit of {limit} bytes")]
    ObjectTooLarge { offset: u64, limit: usize },

    /// One object holds more elements than allowed.
    #[error("refused: the object at offset {offset} holds more than {limit} elements")]
    TooManyElements { offset: u64, limit: usize },

    /// A stream to decode is larger than allowed, before or after decoding.
    #[error(
        "refused: the stream at offset {offset} is larger than the limit of {limit} bytes {stage}"
    )]
    StreamTooLarge {
        offset: u64,
        limit: usize,
        stage: &'static str,
    },

    /// Decoding or reading has used up the budget for one file.
    #[error("refused: reading this PDF needs more than {limit} bytes of {what}")]
    BudgetExceeded { what: &'static str, limit: u64 },

    /// A stream's compressed data is damaged.
    #[error("damaged PDF: the stream at offset {offset} does not decode: {detail}")]
    CorruptStream { offset: u64, detail: String },

    /// A stream filter or predictor the reader does not implement.
    #[error("unsupported PDF feature: {what} in the stream at offset {offset}")]
    UnsupportedStream { offset: u64, what: String },

    /// The object found at an offset is not the one the cross-reference names.
    #[error("damaged PDF: expected object {expected} at offset {offset}, found {found}")]
    ObjectMismatch {
        offset: u64,
        expected: ObjectId,
        found: String,
    },

    /// An error inside an object stream, with the stream it happened in.
    #[error("in object stream {stream}: {source}")]
    InObjectStream {
        stream: u32,
        #[source]
        source: Box<PdfError>,
    },

    /// An object that must exist does not.
    #[error("damaged PDF: {what} ({id}) does not exist")]
    MissingObject { id: ObjectId, what: &'static str },

    /// An object exists but has the wrong type or shape.
    #[error("damaged PDF: {what}")]
    Malformed { what: String },

    /// References that lead to references for too long.
    #[error("damaged PDF: a chain of references starting at {id} is longer than {limit}")]
    ReferenceChain { id: ObjectId, limit: usize },

    /// A tree (pages, form fields) is deeper or larger than allowed, or loops.
    #[error("refused: the {tree} {problem}")]
    Tree { tree: &'static str, problem: String },

    /// The requested page does not exist.
    #[error("the document has {count} pages; page {requested} does not exist")]
    NoSuchPage { requested: u32, count: u64 },

    /// The signature request itself is unusable.
    #[error("invalid signature request: {what}")]
    InvalidRequest { what: String },

    /// The output path names the input file.
    #[error("the output {path} is the input file; an incremental update is written to a new file")]
    OutputIsInput { path: PathBuf },

    /// The signature does not fit the space prepared for it.
    #[error("the signature is {needed} bytes but the prepared /Contents holds only {capacity}; prepare again with a larger contents_capacity")]
    SignatureTooLarge { needed: usize, capacity: usize },

    /// The prepared file no longer looks as `prepare` left it.
    #[error("{path} is not the file prepared for this signature: {what}")]
    NotPrepared { path: PathBuf, what: String },
}

/// A parse step that ran out of bytes in the window it was given. The reader answers it
/// by reading a larger window, up to the object size limit; it never leaves this layer.
#[derive(Debug)]
pub(crate) enum Syntax {
    /// The window ends but the file goes on: read more and try again.
    EndOfWindow,
    /// A real error.
    Error(PdfError),
}

impl From<PdfError> for Syntax {
    fn from(error: PdfError) -> Self {
        Syntax::Error(error)
    }
}

/// Makes text from a file safe to put in a one-line message: control characters become
/// escapes and long text is cut.
pub(crate) fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (count, character) in text.chars().enumerate() {
        if count >= 64 {
            out.push('…');
            break;
        }
        if character.is_control() {
            out.extend(character.escape_debug());
        } else {
            out.push(character);
        }
    }
    out
}
