//! The enrolment code provincial IT hands to whoever plugs the box in: one short string
//! that carries a one-time secret (which the axis checks) and the first bytes of the
//! SHA-256 fingerprint of the axis's device CA certificate (which the box checks before
//! it trusts anything the axis says). Owns the code's text form and its typo check; does
//! not know what the axis stores about a code.
//!
//! Layout (20 bytes, written as 32 Crockford base32 characters in groups of four):
//! 9 bytes of secret, 10 bytes of CA fingerprint prefix, 1 check byte
//! (the first byte of SHA-256 over a domain label and the 19 bytes before it). Crockford's
//! alphabet has no I, L, O or U; reading accepts lower case, `O` for `0`, `I`/`L` for `1`,
//! and ignores dashes and spaces, so a code read aloud over the phone survives.

use data_encoding::{Encoding, Specification};
use ring::digest::{digest, SHA256};

/// Bytes of one-time secret in a code.
pub const SECRET_BYTES: usize = 9;
/// Bytes of the CA fingerprint prefix in a code (80 bits: a second preimage is out of reach).
pub const PIN_BYTES: usize = 10;
const CODE_BYTES: usize = SECRET_BYTES + PIN_BYTES + 1;
/// Crockford's base32 alphabet.
const SYMBOLS: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK_LABEL: &[u8] = b"docgate enrolment code v1";

/// A parsed enrolment code.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentCode {
    secret: [u8; SECRET_BYTES],
    ca_pin: [u8; PIN_BYTES],
}

impl std::fmt::Debug for EnrolmentCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EnrolmentCode")
            .field("secret", &"<redacted>")
            .field("ca_pin", &hex::encode(self.ca_pin))
            .finish()
    }
}

/// Why a typed code was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the enrolment code has {found} characters, not 32; type all eight groups of four")]
    Length { found: usize },
    #[error("the enrolment code holds {character:?}, which no code contains; codes use 0-9 and A-Z without I, L, O, U")]
    Character { character: char },
    #[error("the enrolment code has a typing mistake (its check does not match); type it again")]
    Check,
}

fn alphabet() -> Encoding {
    let mut spec = Specification::new();
    spec.symbols.push_str(SYMBOLS);
    spec.translate.from.push_str("abcdefghjkmnpqrstvwxyzoOiIlL");
    spec.translate.to.push_str("ABCDEFGHJKMNPQRSTVWXYZ001111");
    spec.ignore.push_str("- ");
    spec.encoding()
        .expect("the Crockford alphabet is a valid base32 specification")
}

fn check_byte(body: &[u8]) -> u8 {
    let mut input = CHECK_LABEL.to_vec();
    input.extend_from_slice(body);
    digest(&SHA256, &input).as_ref()[0]
}

impl EnrolmentCode {
    /// A code for a fresh random secret and the CA certificate's fingerprint.
    pub fn new(secret: [u8; SECRET_BYTES], ca_fingerprint: &[u8; 32]) -> EnrolmentCode {
        let mut ca_pin = [0; PIN_BYTES];
        ca_pin.copy_from_slice(&ca_fingerprint[..PIN_BYTES]);
        EnrolmentCode { secret, ca_pin }
    }

    /// Reads a typed code; every mistake is named before the network is touched.
    pub fn parse(text: &str) -> Result<EnrolmentCode, CodeError> {
        let encoding = alphabet();
        let cleaned: String = text
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .collect();
        let readable = |c: &char| {
            let upper = c.to_ascii_uppercase();
            SYMBOLS.contains(upper) || "OIL".contains(upper)
        };
        if let Some(character) = cleaned.chars().find(|c| !readable(c)) {
            return Err(CodeError::Character { character });
        }
        if cleaned.chars().count() != 32 {
            return Err(CodeError::Length {
                found: cleaned.chars().count(),
            });
        }
        let bytes = encoding
            .decode(cleaned.as_bytes())
            .map_err(|_| CodeError::Length {
                found: cleaned.len(),
            })?;
        if bytes.len() != CODE_BYTES {
            return Err(CodeError::Length {
                found: cleaned.len(),
            });
        }
        let (body, check) = bytes.split_at(CODE_BYTES - 1);
        if check_byte(body) != check[0] {
            return Err(CodeError::Check);
        }
        let mut secret = [0; SECRET_BYTES];
        secret.copy_from_slice(&body[..SECRET_BYTES]);
        let mut ca_pin = [0; PIN_BYTES];
        ca_pin.copy_from_slice(&body[SECRET_BYTES..]);
        Ok(EnrolmentCode { secret, ca_pin })
    }

    /// The code as people type it: `XXXX-XXXX-…` (eight groups of four).
    pub fn to_text(&self) -> String {
        let mut body = self.secret.to_vec();
        body.extend_from_slice(&self.ca_pin);
        body.push(check_byte(&body));
        let plain = alphabet().encode(&body);
        plain
            .as_bytes()
            .chunks(4)
            .map(|group| String::from_utf8_lossy(group).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// What the axis keeps of the code: SHA-256 of the secret, hex (the code itself is
    /// shown once and never stored).
    pub fn secret_digest(&self) -> String {
        hex::encode(digest(&SHA256, &self.secret))
    }

    /// Whether a CA certificate (DER) is the one this code names.
    pub fn pins(&self, ca_certificate_der: &[u8]) -> bool {
        let fingerprint = digest(&SHA256, ca_certificate_der);
        // The fingerprint is public: a plain comparison is fine.
        fingerprint.as_ref()[..PIN_BYTES] == self.ca_pin
    }

    /// The pinned fingerprint prefix, hex (for messages and the audit log).
    pub fn ca_pin_hex(&self) -> String {
        hex::encode(self.ca_pin)
    }
}

/// SHA-256 of a DER certificate.
pub fn fingerprint(certificate_der: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, certificate_der).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EnrolmentCode {
        EnrolmentCode::new([7; SECRET_BYTES], &fingerprint(b"a CA certificate"))
    }

    #[test]
    fn a_code_reads_back_in_any_case_with_or_without_dashes() {
        let code = sample();
        let text = code.to_text();
        assert_eq!(text.len(), 39, "{text}");
        assert_eq!(text.matches('-').count(), 7);
        assert_eq!(EnrolmentCode::parse(&text), Ok(code.clone()));
        assert_eq!(EnrolmentCode::parse(&text.to_lowercase()), Ok(code.clone()));
        assert_eq!(
            EnrolmentCode::parse(&text.replace('-', " ")),
            Ok(code.clone())
        );
        assert!(code.pins(b"a CA certificate"));
        assert!(!code.pins(b"another CA certificate"));
    }

    #[test]
    fn look_alike_letters_read_as_digits() {
        let code = EnrolmentCode::new([0; SECRET_BYTES], &fingerprint(b"x"));
        let text = code.to_text();
        assert!(text.starts_with("0000"), "{text}");
        let typed = format!("OoO0{}", &text[4..]);
        assert_eq!(EnrolmentCode::parse(&typed), Ok(code));
    }

    #[test]
    fn every_single_character_typo_is_caught_or_reads_as_another_valid_code() {
        let text = sample().to_text().replace('-', "");
        let symbols = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let mut caught = 0;
        let mut total = 0;
        for position in 0..text.len() {
            for symbol in symbols.chars() {
                if text.as_bytes()[position] as char == symbol {
                    continue;
                }
                let mut typo = text.clone();
                typo.replace_range(position..=position, &symbol.to_string());
                total += 1;
                if EnrolmentCode::parse(&typo).is_err() {
                    caught += 1;
                }
            }
        }
        // One check byte: at most 1 in 256 typos slips through.
        assert!(caught * 100 >= total * 99, "{caught} of {total}");
    }

    #[test]
    fn wrong_lengths_and_characters_are_named() {
        let text = sample().to_text();
        assert_eq!(
            EnrolmentCode::parse(&text[..text.len() - 5]),
            Err(CodeError::Length { found: 28 })
        );
        assert!(matches!(
            EnrolmentCode::parse(&format!("{text}U")),
            Err(CodeError::Character { character: 'U' })
        ));
        assert!(matches!(
            EnrolmentCode::parse("ABCD-ÉFGH"),
            Err(CodeError::Character { character: 'É' })
        ));
        assert!(EnrolmentCode::parse("").is_err());
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let debug = format!("{:?}", sample());
        assert!(!debug.contains("0707"), "{debug}");
    }
}
