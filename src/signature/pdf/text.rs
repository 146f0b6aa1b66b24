//! Text strings and dates as PDF writes them (ISO 32000-1 §7.9.2, §7.9.4): decoding
//! UTF-16BE (with its byte-order mark), UTF-8 (PDF 2.0, with its mark) and PDFDocEncoding;
//! encoding Vietnamese text as UTF-16BE; the `D:YYYYMMDDHHmmSS+07'00'` date form, written
//! in Vietnam time and read leniently.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::object::{PdfString, StringForm};
use crate::system::clock::VIETNAM;

/// PDFDocEncoding where it differs from Latin-1: 0x18–0x1F and 0x80–0xA0 (0 = undefined).
const PDF_DOC_LOW: [u16; 8] = [
    0x02D8, 0x02C7, 0x02C6, 0x02D9, 0x02DD, 0x02DB, 0x02DA, 0x02DC,
];
const PDF_DOC_HIGH: [u16; 33] = [
    0x2022, 0x2020, 0x2021, 0x2026, 0x2014, 0x2013, 0x0192, 0x2044, 0x2039, 0x203A, 0x2212, 0x2030,
    0x201E, 0x201C, 0x201D, 0x2018, 0x2019, 0x201A, 0x2122, 0xFB01, 0xFB02, 0x0141, 0x0152, 0x0160,
    0x0178, 0x017D, 0x0131, 0x0142, 0x0153, 0x0161, 0x017E, 0, 0x20AC,
];

/// A text string's bytes as text.
pub fn decode_text(bytes: &[u8]) -> String {
    if let Some(utf16) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units = utf16
            .chunks(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]));
        return char::decode_utf16(units)
            .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
    }
    if let Some(utf8) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(utf8).into_owned();
    }
    bytes
        .iter()
        .map(|&byte| {
            let code = match byte {
                0x18..=0x1F => PDF_DOC_LOW[usize::from(byte - 0x18)],
                0x80..=0xA0 => PDF_DOC_HIGH[usize::from(byte - 0x80)],
                _ => u16::from(byte),
            };
            char::from_u32(u32::from(code))
                .filter(|_| code != 0 || byte == 0)
                .unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect()
}

/// Text as a PDF text string: printable ASCII as a literal, anything else (Vietnamese
/// diacritics) as UTF-16BE with its byte-order mark, in hex.
pub fn encode_text(text: &str) -> PdfString {
    if text.bytes().all(|byte| (0x20..0x7F).contains(&byte)) {
        return PdfString {
            bytes: text.as_bytes().to_vec(),
            form: StringForm::Literal,
        };
    }
    let mut bytes = vec![0xFE, 0xFF];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    PdfString {
        bytes,
        form: StringForm::Hex,
    }
}

/// `D:YYYYMMDDHHmmSS+07'00'`: the instant in Vietnam time.
pub fn format_pdf_date(instant: OffsetDateTime) -> String {
    let local = instant.to_offset(VIETNAM);
    let (hours, minutes, _) = VIETNAM.as_hms();
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}{}{:02}'{:02}'",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        if hours < 0 || minutes < 0 { '-' } else { '+' },
        hours.unsigned_abs(),
        minutes.unsigned_abs(),
    )
}

/// Reads a PDF date leniently: `D:` optional, everything after the year optional, `Z`,
/// `+HH'mm'`, `+HH'mm` or `+HHmm`; no zone means UTC (as the standard suggests). `None` if
/// it is not a date at all.
pub fn parse_pdf_date(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let text = text.strip_prefix("D:").unwrap_or(text);
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, zone) = text.split_at(digits_end);
    if digits.len() < 4 || digits.len() % 2 != 0 || digits.len() > 14 {
        return None;
    }
    let field = |start: usize, default: u8| -> Option<u8> {
        match digits.get(start..start + 2) {
            Some(pair) => pair.parse().ok(),
            None => Some(default),
        }
    };
    let year: i32 = digits.get(..4)?.parse().ok()?;
    let month = Month::try_from(field(4, 1)?).ok()?;
    let date = Date::from_calendar_date(year, month, field(6, 1)?).ok()?;
    let time = Time::from_hms(field(8, 0)?, field(10, 0)?, field(12, 0)?).ok()?;
    let offset = parse_zone(zone)?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

fn parse_zone(zone: &str) -> Option<UtcOffset> {
    let mut characters = zone.chars();
    let sign: i8 = match characters.next() {
        None | Some('Z') => return Some(UtcOffset::UTC),
        Some('+') => 1,
        Some('-') => -1,
        Some(_) => return None,
    };
    let digits: String = characters.filter(char::is_ascii_digit).collect();
    let hours: i8 = digits.get(..2)?.parse().ok()?;
    let minutes: i8 = match digits.get(2..4) {
        Some(pair) => pair.parse().ok()?,
        None => 0,
    };
    UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn vietnamese_round_trips_through_utf16() {
        let text = "Trưởng phòng Hành chính";
        let encoded = encode_text(text);
        assert_eq!(encoded.form, StringForm::Hex);
        assert_eq!(&encoded.bytes[..2], &[0xFE, 0xFF]);
        assert_eq!(decode_text(&encoded.bytes), text);
        assert_eq!(encode_text("Ha Noi").form, StringForm::Literal);
    }

    #[test]
    fn pdf_doc_encoding_and_utf8() {
        assert_eq!(decode_text(b"a\x80b\xe9"), "a•bé");
        assert_eq!(decode_text(b"\xEF\xBB\xBFH\xc3\xa0"), "Hà");
    }

    #[test]
    fn dates_are_written_in_vietnam_time_and_read_back() {
        let instant = datetime!(2026-03-01 20:15:30 UTC);
        let text = format_pdf_date(instant);
        assert_eq!(text, "D:20260302031530+07'00'");
        assert_eq!(parse_pdf_date(&text), Some(instant));
        assert_eq!(
            parse_pdf_date("D:2026030203Z"),
            Some(datetime!(2026-03-02 03:00 UTC))
        );
        assert_eq!(
            parse_pdf_date("20260302031530-05'30"),
            Some(datetime!(2026-03-02 03:15:30 -5:30))
        );
        assert_eq!(parse_pdf_date("yesterday"), None);
        assert_eq!(parse_pdf_date("D:20261302"), None);
    }
}
