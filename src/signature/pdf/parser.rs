//! Builds objects from tokens: direct objects with `N G R` references, and indirect objects
//! (`N G obj … endobj`, or a stream dictionary followed by `stream` and the offset where its
//! data begins). Enforces the nesting limit. It can also note where each value of the
//! outermost dictionary lies in the input, which the signature reader needs to check that a
//! signature's byte-range hole is exactly its `/Contents` string.
//!
//! It never reads stream data and never resolves references (that is `reader`).

use super::error::{PdfError, Syntax};
use super::lexer::{Lexer, Token};
use super::limits::Limits;
use super::object::{Dictionary, Name, ObjectId, PdfObject, StreamHeader};

/// Where one value of the outermost dictionary lies in the input: `start..end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValueSpan {
    pub key: Name,
    pub start: u64,
    pub end: u64,
}

/// An indirect object as found in the input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndirectObject {
    pub id: ObjectId,
    pub value: PdfObject,
}

pub(crate) struct Parser<'a> {
    lexer: Lexer<'a>,
    max_depth: usize,
    max_elements: usize,
    elements: usize,
    spans: Option<Vec<ValueSpan>>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(lexer: Lexer<'a>, limits: &Limits) -> Self {
        Parser {
            lexer,
            max_depth: limits.max_depth,
            max_elements: limits.max_object_elements,
            elements: 0,
            spans: None,
        }
    }

    /// Also note where the values of the outermost dictionary lie.
    pub(crate) fn recording_spans(mut self) -> Self {
        self.spans = Some(Vec::new());
        self
    }

    pub(crate) fn take_spans(&mut self) -> Vec<ValueSpan> {
        self.spans.take().unwrap_or_default()
    }

    pub(crate) fn lexer(&mut self) -> &mut Lexer<'a> {
        &mut self.lexer
    }

    pub(crate) fn offset(&self) -> u64 {
        self.lexer.offset()
    }

    fn error(offset: u64, what: impl Into<String>) -> Syntax {
        Syntax::Error(PdfError::Syntax {
            offset,
            what: what.into(),
        })
    }

    fn expect_token(&mut self, inside: &'static str) -> Result<Token, Syntax> {
        match self.lexer.next_token()? {
            Some(token) => Ok(token),
            None => Err(Syntax::Error(PdfError::Truncated {
                offset: self.lexer.offset(),
                what: inside,
            })),
        }
    }

    /// One direct object.
    pub(crate) fn parse_object(&mut self) -> Result<PdfObject, Syntax> {
        self.lexer.skip_whitespace()?;
        let start = self.lexer.offset();
        let token = self.expect_token("an object")?;
        self.object_from(token, start, 0)
    }

    fn object_from(&mut self, token: Token, start: u64, depth: usize) -> Result<PdfObject, Syntax> {
        self.elements += 1;
        if self.elements > self.max_elements {
            return Err(Syntax::Error(PdfError::TooManyElements {
                offset: start,
                limit: self.max_elements,
            }));
        }
        Ok(match token {
            Token::Integer(value) => self.integer_or_reference(value)?,
            Token::Real(value) => PdfObject::Real(value),
            Token::String(string) => PdfObject::String(string),
            Token::Name(name) => PdfObject::Name(name),
            Token::ArrayStart => self.array(start, depth + 1)?,
            Token::DictionaryStart => PdfObject::Dictionary(self.dictionary(start, depth + 1)?),
            Token::Keyword(keyword) => match keyword.as_slice() {
                b"true" => PdfObject::Boolean(true),
                b"false" => PdfObject::Boolean(false),
                b"null" => PdfObject::Null,
                _ => {
                    return Err(Self::error(
                        start,
                        format!(
                            "expected an object, found {}",
                            Token::Keyword(keyword).describe()
                        ),
                    ))
                }
            },
            other @ (Token::ArrayEnd | Token::DictionaryEnd) => {
                return Err(Self::error(
                    start,
                    format!("expected an object, found {}", other.describe()),
                ))
            }
        })
    }

    /// `N` alone, or `N G R`.
    fn integer_or_reference(&mut self, value: i64) -> Result<PdfObject, Syntax> {
        let saved = self.lexer.position();
        if let (Ok(number), Some(Token::Integer(generation))) =
            (u32::try_from(value), self.lexer.next_token()?)
        {
            if number > 0 {
                if let Ok(generation) = u16::try_from(generation) {
                    if self.lexer.next_token()?.is_some_and(|t| t.is_keyword(b"R")) {
                        return Ok(PdfObject::Reference(ObjectId::new(number, generation)));
                    }
                }
            }
        }
        self.lexer.set_position(saved);
        Ok(PdfObject::Integer(value))
    }

    fn check_depth(&self, start: u64, depth: usize) -> Result<(), Syntax> {
        if depth > self.max_depth {
            return Err(Syntax::Error(PdfError::TooDeep {
                offset: start,
                limit: self.max_depth,
            }));
        }
        Ok(())
    }

    fn array(&mut self, start: u64, depth: usize) -> Result<PdfObject, Syntax> {
        self.check_depth(start, depth)?;
        let mut items = Vec::new();
        loop {
            self.lexer.skip_whitespace()?;
            let item_start = self.lexer.offset();
            match self.expect_token("an array")? {
                Token::ArrayEnd => return Ok(PdfObject::Array(items)),
                token => items.push(self.object_from(token, item_start, depth)?),
            }
        }
    }

    fn dictionary(&mut self, start: u64, depth: usize) -> Result<Dictionary, Syntax> {
        self.check_depth(start, depth)?;
        let mut entries = Vec::new();
        loop {
            self.lexer.skip_whitespace()?;
            let key_start = self.lexer.offset();
            let key = match self.expect_token("a dictionary")? {
                Token::DictionaryEnd => return Ok(Dictionary::from_entries(entries)),
                Token::Name(name) => name,
                other => {
                    return Err(Self::error(
                        key_start,
                        format!(
                            "a dictionary key must be a name, found {}",
                            other.describe()
                        ),
                    ))
                }
            };
            self.lexer.skip_whitespace()?;
            let value_start = self.lexer.offset();
            let value = match self.expect_token("a dictionary")? {
                Token::DictionaryEnd => {
                    return Err(Self::error(
                        value_start,
                        format!("the key /{} has no value", key.to_text()),
                    ))
                }
                token => self.object_from(token, value_start, depth)?,
            };
            if depth == 1 {
                if let Some(spans) = &mut self.spans {
                    spans.push(ValueSpan {
                        key: key.clone(),
                        start: value_start,
                        end: self.lexer.offset(),
                    });
                }
            }
            entries.push((key, value));
        }
    }

    /// `N G obj`, checked against `expected` when the caller knows which object it wants.
    pub(crate) fn object_header(&mut self, expected: Option<ObjectId>) -> Result<ObjectId, Syntax> {
        self.lexer.skip_whitespace()?;
        let start = self.lexer.offset();
        let mut found = Vec::with_capacity(3);
        for _ in 0..3 {
            found.push(self.expect_token("an object header")?);
        }
        let id = match found.as_slice() {
            [Token::Integer(number), Token::Integer(generation), keyword]
                if keyword.is_keyword(b"obj") =>
            {
                match (u32::try_from(*number), u16::try_from(*generation)) {
                    (Ok(number), Ok(generation)) => Some(ObjectId::new(number, generation)),
                    _ => None,
                }
            }
            _ => None,
        };
        let description = || {
            found
                .iter()
                .map(Token::describe)
                .collect::<Vec<_>>()
                .join(" ")
        };
        match (id, expected) {
            (Some(id), Some(expected)) if id != expected => {
                Err(Syntax::Error(PdfError::ObjectMismatch {
                    offset: start,
                    expected,
                    found: format!("{id}"),
                }))
            }
            (Some(id), _) => Ok(id),
            (None, Some(expected)) => Err(Syntax::Error(PdfError::ObjectMismatch {
                offset: start,
                expected,
                found: description(),
            })),
            (None, None) => Err(Self::error(
                start,
                format!("expected 'N G obj', found {}", description()),
            )),
        }
    }

    /// A whole indirect object. A stream's dictionary comes back as a
    /// [`PdfObject::Stream`] with the offset of its first data byte. A missing `endobj` is
    /// tolerated: the value is complete once parsed.
    pub(crate) fn indirect_object(
        &mut self,
        expected: Option<ObjectId>,
    ) -> Result<IndirectObject, Syntax> {
        let id = self.object_header(expected)?;
        let value = self.parse_object()?;
        let saved = self.lexer.position();
        // Whatever follows a complete value that is not `stream` or `endobj` (even bytes
        // that are no token) ends the object; only a window too short must be retried.
        let after = match self.lexer.next_token() {
            Ok(token) => token,
            Err(Syntax::EndOfWindow) => return Err(Syntax::EndOfWindow),
            Err(Syntax::Error(_)) => None,
        };
        let value = match (after, value) {
            (Some(token), PdfObject::Dictionary(dictionary)) if token.is_keyword(b"stream") => {
                PdfObject::Stream(StreamHeader {
                    dictionary,
                    data_offset: self.stream_data_start()?,
                })
            }
            (Some(token), value) if token.is_keyword(b"endobj") => value,
            (_, value) => {
                self.lexer.set_position(saved);
                value
            }
        };
        Ok(IndirectObject { id, value })
    }

    /// After the `stream` keyword: CRLF or LF (a lone CR is tolerated), then the data.
    fn stream_data_start(&mut self) -> Result<u64, Syntax> {
        let bytes = self.lexer.bytes();
        let position = self.lexer.position();
        let skip = match (bytes.get(position), bytes.get(position + 1)) {
            (Some(b'\r'), Some(b'\n')) => 2,
            (Some(b'\r'), Some(_)) | (Some(b'\n'), _) => 1,
            (Some(b'\r'), None) => {
                // CR at the end of the window: the LF may follow.
                return Err(Syntax::EndOfWindow);
            }
            (Some(_), _) => 0,
            (None, _) => return Err(Syntax::EndOfWindow),
        };
        self.lexer.set_position(position + skip);
        Ok(self.lexer.offset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_depth: usize) -> Limits {
        Limits {
            max_depth,
            max_object_elements: 20,
            ..Limits::default()
        }
    }

    fn parse(input: &[u8]) -> Result<PdfObject, Syntax> {
        Parser::new(Lexer::new(input, 0, true), &limits(8)).parse_object()
    }

    #[test]
    fn references_and_plain_integers() {
        let object = parse(b"[1 0 R 2 3 4 5 0 -1 0 R]");
        assert!(
            object.is_err(),
            "a negative number is no reference, so R is left alone"
        );
        let object = parse(b"[1 0 R 2 3 4 5 0]").expect("array");
        assert_eq!(
            object,
            PdfObject::Array(vec![
                PdfObject::Reference(ObjectId::new(1, 0)),
                PdfObject::Integer(2),
                PdfObject::Integer(3),
                PdfObject::Integer(4),
                PdfObject::Integer(5),
                PdfObject::Integer(0),
            ])
        );
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused() {
        let deep = format!("{}{}", "[".repeat(9), "]".repeat(9));
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(Syntax::Error(PdfError::TooDeep { limit: 8, .. }))
        ));
        let fine = format!("{}{}", "[".repeat(8), "]".repeat(8));
        assert!(parse(fine.as_bytes()).is_ok());
    }

    #[test]
    fn too_many_elements_are_refused() {
        assert!(parse(&[b'1', b' '].repeat(20)).is_ok());
        let many = format!("[{}]", "1 ".repeat(20));
        assert!(matches!(
            parse(many.as_bytes()),
            Err(Syntax::Error(PdfError::TooManyElements { limit: 20, .. }))
        ));
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let entries: String = (0..50).map(|n| format!("/K{} {n} ", n % 40)).collect();
        let input = format!("<<{entries}>>");
        let limits = Limits::default();
        let dictionary = Parser::new(Lexer::new(input.as_bytes(), 0, true), &limits)
            .parse_object()
            .expect("dictionary");
        let dictionary = dictionary.as_dictionary().expect("dictionary");
        assert_eq!(dictionary.len(), 40);
        assert_eq!(dictionary.integer("K5"), Some(45));
        assert_eq!(dictionary.integer("K39"), Some(39));
    }

    #[test]
    fn stream_objects_give_their_data_offset() {
        let input = b"7 0 obj\n<</Length 3>>\nstream\r\nabc\nendstream\nendobj";
        let mut parser = Parser::new(Lexer::new(input, 100, true), &limits(8));
        let object = parser
            .indirect_object(Some(ObjectId::new(7, 0)))
            .expect("object");
        match object.value {
            PdfObject::Stream(stream) => {
                assert_eq!(stream.data_offset, 100 + 30);
                assert_eq!(stream.dictionary.integer("Length"), Some(3));
            }
            other => panic!("not a stream: {other:?}"),
        }
    }

    #[test]
    fn a_different_object_at_the_offset_is_a_mismatch() {
        let mut parser = Parser::new(Lexer::new(b"8 0 obj null endobj", 0, true), &limits(8));
        assert!(matches!(
            parser.indirect_object(Some(ObjectId::new(7, 0))),
            Err(Syntax::Error(PdfError::ObjectMismatch { .. }))
        ));
    }

    #[test]
    fn spans_of_the_outer_dictionary() {
        let input = b"<</A [1 2] /Contents <00ff> /B <</C 1>>>>";
        let mut parser = Parser::new(Lexer::new(input, 10, true), &limits(8)).recording_spans();
        parser.parse_object().expect("dictionary");
        let spans = parser.take_spans();
        let contents = spans
            .iter()
            .find(|span| span.key.as_bytes() == b"Contents")
            .expect("span");
        assert_eq!(
            &input[(contents.start - 10) as usize..(contents.end - 10) as usize],
            b"<00ff>"
        );
        assert_eq!(spans.len(), 3);
    }
}
