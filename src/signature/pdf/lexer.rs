//! The PDF lexer (ISO 32000-1 §7.2–7.3): turns a window of bytes into tokens — numbers,
//! literal and hex strings, names, the array and dictionary brackets and bare keywords.
//!
//! It works on a slice that is either the rest of the input (`complete`) or only a window
//! of it. When a token runs into the end of an incomplete window, the lexer answers
//! [`Syntax::EndOfWindow`] and the reader retries with a larger window; at the true end it
//! answers a [`PdfError::Truncated`]. It never builds objects (that is `parser`) and never
//! reads the file.

use super::error::{one_line, PdfError, Syntax};
use super::object::{is_delimiter, is_whitespace, Name, PdfString, StringForm};

/// The longest bare keyword or number accepted; anything longer is garbage.
const MAX_BARE_TOKEN: usize = 128;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    Integer(i64),
    Real(f64),
    String(PdfString),
    Name(Name),
    ArrayStart,
    ArrayEnd,
    DictionaryStart,
    DictionaryEnd,
    /// `true`, `null`, `obj`, `R`, `stream`, `trailer`… anything bare that is not a number.
    Keyword(Vec<u8>),
}

impl Token {
    pub(crate) fn is_keyword(&self, keyword: &[u8]) -> bool {
        matches!(self, Token::Keyword(bytes) if bytes == keyword)
    }

    /// What the token is, for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Token::Integer(value) => format!("the number {value}"),
            Token::Real(value) => format!("the number {value}"),
            Token::String(_) => "a string".to_owned(),
            Token::Name(name) => format!("the name /{}", one_line(name.as_bytes())),
            Token::ArrayStart => "'['".to_owned(),
            Token::ArrayEnd => "']'".to_owned(),
            Token::DictionaryStart => "'<<'".to_owned(),
            Token::DictionaryEnd => "'>>'".to_owned(),
            Token::Keyword(bytes) => format!("'{}'", one_line(bytes)),
        }
    }
}

/// A cursor over a window of the input.
#[derive(Debug, Clone)]
pub(crate) struct Lexer<'a> {
    bytes: &'a [u8],
    position: usize,
    /// The offset of `bytes[0]` in the file (or in a decoded stream), for messages.
    base_offset: u64,
    /// Whether `bytes` runs to the end of the input.
    complete: bool,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(bytes: &'a [u8], base_offset: u64, complete: bool) -> Self {
        Lexer {
            bytes,
            position: 0,
            base_offset,
            complete,
        }
    }

    /// The offset of the next byte in the input.
    pub(crate) fn offset(&self) -> u64 {
        self.base_offset + self.position as u64
    }

    pub(crate) fn position(&self) -> usize {
        self.position
    }

    pub(crate) fn set_position(&mut self, position: usize) {
        self.position = position.min(self.bytes.len());
    }

    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The end of the window was reached: ask for more, or say where the data ends.
    fn ran_out(&self, inside: &'static str) -> Syntax {
        if self.complete {
            Syntax::Error(PdfError::Truncated {
                offset: self.base_offset + self.bytes.len() as u64,
                what: inside,
            })
        } else {
            Syntax::EndOfWindow
        }
    }

    fn syntax_error(&self, offset: u64, what: impl Into<String>) -> Syntax {
        Syntax::Error(PdfError::Syntax {
            offset,
            what: what.into(),
        })
    }

    /// Skips white space and comments. A comment that runs into the end of an incomplete
    /// window asks for more, so a token after it is not missed.
    pub(crate) fn skip_whitespace(&mut self) -> Result<(), Syntax> {
        while let Some(&byte) = self.bytes.get(self.position) {
            if is_whitespace(byte) {
                self.position += 1;
            } else if byte == b'%' {
                match self.bytes[self.position..]
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                {
                    Some(length) => self.position += length,
                    None if self.complete => self.position = self.bytes.len(),
                    None => return Err(Syntax::EndOfWindow),
                }
            } else {
                break;
            }
        }
        Ok(())
    }

    /// The next token, or `None` at the end of complete input.
    pub(crate) fn next_token(&mut self) -> Result<Option<Token>, Syntax> {
        self.skip_whitespace()?;
        let Some(&first) = self.bytes.get(self.position) else {
            return if self.complete {
                Ok(None)
            } else {
                Err(Syntax::EndOfWindow)
            };
        };
        let start = self.offset();
        let token = match first {
            b'[' => {
                self.position += 1;
                Token::ArrayStart
            }
            b']' => {
                self.position += 1;
                Token::ArrayEnd
            }
            b'(' => Token::String(self.literal_string()?),
            b'/' => Token::Name(self.name()?),
            b'<' => match self.bytes.get(self.position + 1) {
                Some(b'<') => {
                    self.position += 2;
                    Token::DictionaryStart
                }
                Some(_) => Token::String(self.hex_string()?),
                None => return Err(self.ran_out("a string or dictionary")),
            },
            b'>' => match self.bytes.get(self.position + 1) {
                Some(b'>') => {
                    self.position += 2;
                    Token::DictionaryEnd
                }
                Some(_) => return Err(self.syntax_error(start, "a single '>'")),
                None => return Err(self.ran_out("a dictionary")),
            },
            b')' | b'{' | b'}' => {
                return Err(self.syntax_error(start, format!("unexpected '{}'", first as char)))
            }
            _ => self.bare_token()?,
        };
        Ok(Some(token))
    }

    /// A number or a keyword: a run of regular characters.
    fn bare_token(&mut self) -> Result<Token, Syntax> {
        let start = self.position;
        let length = self.bytes[start..]
            .iter()
            .position(|&byte| is_whitespace(byte) || is_delimiter(byte));
        let end = match length {
            Some(length) => start + length,
            None if self.complete => self.bytes.len(),
            None => return Err(Syntax::EndOfWindow),
        };
        let text = &self.bytes[start..end];
        if text.len() > MAX_BARE_TOKEN {
            return Err(self.syntax_error(
                self.base_offset + start as u64,
                format!("a run of {} bytes that is no PDF token", text.len()),
            ));
        }
        self.position = end;
        Ok(number(text).unwrap_or_else(|| Token::Keyword(text.to_vec())))
    }

    /// `/Name` with `#xx` escapes; a `#` not followed by two hex digits stays as it is.
    fn name(&mut self) -> Result<Name, Syntax> {
        let start = self.position + 1;
        let length = self.bytes[start..]
            .iter()
            .position(|&byte| is_whitespace(byte) || is_delimiter(byte));
        let end = match length {
            Some(length) => start + length,
            None if self.complete => self.bytes.len(),
            None => return Err(Syntax::EndOfWindow),
        };
        let raw = &self.bytes[start..end];
        let mut decoded = Vec::with_capacity(raw.len());
        let mut index = 0;
        while index < raw.len() {
            let byte = raw[index];
            if byte == b'#' {
                if let Some(value) = raw
                    .get(index + 1..index + 3)
                    .and_then(|pair| std::str::from_utf8(pair).ok())
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                {
                    decoded.push(value);
                    index += 3;
                    continue;
                }
            }
            decoded.push(byte);
            index += 1;
        }
        self.position = end;
        Ok(Name(decoded))
    }

    /// `(literal)`: balanced parentheses, backslash escapes, line ends read as `\n`.
    fn literal_string(&mut self) -> Result<PdfString, Syntax> {
        let mut out = Vec::new();
        let mut depth = 1usize;
        let mut index = self.position + 1;
        loop {
            let Some(&byte) = self.bytes.get(index) else {
                return Err(self.ran_out("a literal string"));
            };
            index += 1;
            match byte {
                b'(' => {
                    depth += 1;
                    out.push(byte);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    out.push(byte);
                }
                b'\r' => {
                    out.push(b'\n');
                    if self.bytes.get(index) == Some(&b'\n') {
                        index += 1;
                    }
                }
                b'\\' => {
                    let Some(&escaped) = self.bytes.get(index) else {
                        return Err(self.ran_out("a literal string"));
                    };
                    index += 1;
                    match escaped {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'0'..=b'7' => {
                            let mut value = u32::from(escaped - b'0');
                            for _ in 0..2 {
                                match self.bytes.get(index) {
                                    Some(&digit @ b'0'..=b'7') => {
                                        value = value * 8 + u32::from(digit - b'0');
                                        index += 1;
                                    }
                                    Some(_) => break,
                                    None => return Err(self.ran_out("a literal string")),
                                }
                            }
                            // High-order overflow is ignored (§7.3.4.2).
                            out.push((value & 0xff) as u8);
                        }
                        // A backslash before a line end continues the line.
                        b'\r' => {
                            if self.bytes.get(index) == Some(&b'\n') {
                                index += 1;
                            }
                        }
                        b'\n' => {}
                        // `\(`, `\)`, `\\`, and an unknown escape, which drops the backslash.
                        other => out.push(other),
                    }
                }
                _ => out.push(byte),
            }
        }
        self.position = index;
        Ok(PdfString {
            bytes: out,
            form: StringForm::Literal,
        })
    }

    /// `<hex>`: white space ignored, an odd final digit padded with 0.
    fn hex_string(&mut self) -> Result<PdfString, Syntax> {
        let start = self.offset();
        let mut out = Vec::new();
        let mut pending: Option<u8> = None;
        let mut index = self.position + 1;
        loop {
            let Some(&byte) = self.bytes.get(index) else {
                return Err(self.ran_out("a hex string"));
            };
            index += 1;
            let value = match byte {
                b'>' => break,
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                b'A'..=b'F' => byte - b'A' + 10,
                _ if is_whitespace(byte) => continue,
                _ => {
                    return Err(self.syntax_error(
                        start,
                        format!(
                            "a hex string holding the non-hex byte 0x{byte:02x} at offset {}",
                            self.base_offset + index as u64 - 1
                        ),
                    ))
                }
            };
            match pending.take() {
                Some(high) => out.push(high << 4 | value),
                None => pending = Some(value),
            }
        }
        if let Some(high) = pending {
            out.push(high << 4);
        }
        self.position = index;
        Ok(PdfString {
            bytes: out,
            form: StringForm::Hex,
        })
    }
}

/// Reads `text` as a PDF number (`12`, `-3`, `+.5`, `4.`), or `None` if it is not one.
/// An integer too large for 64 bits reads as a real, as most readers do.
fn number(text: &[u8]) -> Option<Token> {
    let digits = match text.first() {
        Some(b'+') | Some(b'-') => &text[1..],
        _ => text,
    };
    let mut seen_digit = false;
    let mut seen_point = false;
    for &byte in digits {
        match byte {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    if !seen_digit {
        return None;
    }
    // Only ASCII digits, a sign and a point are left, so this is UTF-8.
    let text = std::str::from_utf8(text).ok()?;
    if !seen_point {
        if let Ok(value) = text.parse::<i64>() {
            return Some(Token::Integer(value));
        }
    }
    let text = text.strip_suffix('.').unwrap_or(text);
    text.parse::<f64>().ok().map(Token::Real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: &[u8]) -> Vec<Token> {
        let mut lexer = Lexer::new(input, 0, true);
        let mut out = Vec::new();
        while let Some(token) = lexer.next_token().expect("valid input") {
            out.push(token);
        }
        out
    }

    fn literal(bytes: &[u8]) -> Token {
        Token::String(PdfString {
            bytes: bytes.to_vec(),
            form: StringForm::Literal,
        })
    }

    #[test]
    fn numbers_names_and_keywords() {
        assert_eq!(
            tokens(b"12 -3 +.5 4. 1.25 obj /A#20B /a#zz true%comment\n R"),
            vec![
                Token::Integer(12),
                Token::Integer(-3),
                Token::Real(0.5),
                Token::Real(4.0),
                Token::Real(1.25),
                Token::Keyword(b"obj".to_vec()),
                Token::Name(Name(b"A B".to_vec())),
                Token::Name(Name(b"a#zz".to_vec())),
                Token::Keyword(b"true".to_vec()),
                Token::Keyword(b"R".to_vec()),
            ]
        );
    }

    #[test]
    fn literal_string_escapes_and_line_ends() {
        assert_eq!(
            tokens(b"(a(b)c\\)\\n\\101\\7\\\r\nd\r\ne)"),
            vec![literal(b"a(b)c)\nA\x07d\ne")]
        );
    }

    #[test]
    fn hex_strings_ignore_space_and_pad_odd_digits() {
        assert_eq!(
            tokens(b"<4 1 4a><abc>"),
            vec![
                Token::String(PdfString {
                    bytes: b"AJ".to_vec(),
                    form: StringForm::Hex
                }),
                Token::String(PdfString {
                    bytes: vec![0xab, 0xc0],
                    form: StringForm::Hex
                }),
            ]
        );
    }

    #[test]
    fn an_incomplete_window_asks_for_more_and_the_true_end_is_truncation() {
        let mut lexer = Lexer::new(b"123", 0, false);
        assert!(matches!(lexer.next_token(), Err(Syntax::EndOfWindow)));
        let mut lexer = Lexer::new(b"(abc", 10, true);
        assert!(matches!(
            lexer.next_token(),
            Err(Syntax::Error(PdfError::Truncated { offset: 14, .. }))
        ));
    }

    #[test]
    fn bad_bytes_are_errors_with_offsets() {
        let mut lexer = Lexer::new(b"  <12x4>", 100, true);
        match lexer.next_token() {
            Err(Syntax::Error(PdfError::Syntax { offset, what })) => {
                assert_eq!(offset, 102);
                assert!(what.contains("offset 105"), "{what}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut lexer = Lexer::new(b")", 0, true);
        assert!(lexer.next_token().is_err());
    }
}
