//! The `meta` of a new outgoing document, as office software sends it to the local API
//! (DESIGN.md, "Local API"), and the rules it must meet before anything is stored.

use serde::{Deserialize, Serialize};
use time::macros::format_description;

use crate::system::config::is_agency_code;

/// Most recipients one document may name.
const MAX_RECIPIENTS: usize = 200;
/// The longest trích yếu (summary) one provincial hub accepts.
const MAX_SUBJECT_CHARS: usize = 500;

/// Metadata of a new outgoing document. Unknown fields are refused so that a misspelt
/// field is reported rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutgoingMeta {
    /// Recipient agency codes.
    pub to: Vec<String>,
    /// Trích yếu: what the document is about.
    pub subject: String,
    #[serde(rename = "type")]
    pub document_type: DocumentTypeMeta,
    /// Số: `null` asks the gateway for the register's next number.
    pub code_number: Option<u32>,
    /// Ký hiệu, e.g. `UBND-VP`; `null` or absent: composed from the `[register]`
    /// configuration (`workflow::register`).
    #[serde(default)]
    pub code_notation: Option<String>,
    pub signer: SignerMeta,
    /// 0 normal, 1 urgent, 2 very urgent, 3 express, 4 express at a set time.
    #[serde(default)]
    pub priority: u8,
    /// Deadline for handling, `YYYY-MM-DD`.
    #[serde(default)]
    pub due_date: Option<String>,
    /// Optional longer content (edXML `Content`).
    #[serde(default)]
    pub content: Option<String>,
    /// Place of promulgation (edXML `PromulgationInfo/Place`), e.g. `Nghệ An`.
    #[serde(default)]
    pub place: Option<String>,
    /// A secret document (văn bản mật): numbered in the secret series and recorded in the
    /// outgoing register, but never sent over the exchange network.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// For the register: the unit or person keeping the file copy (đơn vị, người nhận bản
    /// lưu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_copy_keeper: Option<String>,
    /// For the register: the number of copies issued (số lượng bản).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<u32>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Document type: code and name (e.g. `1`, `Công văn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentTypeMeta {
    pub code: u8,
    pub name: String,
}

/// Who signed for the agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerMeta {
    /// Thẩm quyền: `TM.`, `KT.`, `TL.`, `TUQ.`, or empty when signing in one's own right.
    #[serde(default)]
    pub competence: Option<String>,
    pub position: String,
    pub name: String,
}

/// A rule `meta` broke: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("meta.{field}: {problem}")]
pub struct MetaError {
    pub field: String,
    pub problem: String,
}

fn refuse(field: impl Into<String>, problem: impl Into<String>) -> MetaError {
    MetaError {
        field: field.into(),
        problem: problem.into(),
    }
}

impl OutgoingMeta {
    /// Parses and validates `meta` JSON.
    pub fn parse(json: &[u8], extra_agency_codes: &[String]) -> Result<OutgoingMeta, MetaError> {
        let meta: OutgoingMeta = serde_json::from_slice(json).map_err(|error| {
            refuse(
                "",
                format!(
                    "is not the expected JSON ({}); see the API documentation for the fields",
                    one_line(&error.to_string())
                ),
            )
        })?;
        meta.validate(extra_agency_codes)?;
        Ok(meta)
    }

    /// Checks every field; the first rule broken is reported.
    pub fn validate(&self, extra_agency_codes: &[String]) -> Result<(), MetaError> {
        if self.to.is_empty() {
            return Err(refuse(
                "to",
                "names no recipient; list at least one agency code",
            ));
        }
        if self.to.len() > MAX_RECIPIENTS {
            return Err(refuse(
                "to",
                format!("names more than {MAX_RECIPIENTS} recipients"),
            ));
        }
        for (index, code) in self.to.iter().enumerate() {
            if !is_agency_code(code, extra_agency_codes) {
                return Err(refuse(
                    format!("to[{index}]"),
                    format!("{code:?} is not an agency code of the form LLL.KK.JJ.Xnn (e.g. 000.00.00.H41)"),
                ));
            }
            if self.to[..index].contains(code) {
                return Err(refuse(
                    format!("to[{index}]"),
                    format!("{code} is listed twice"),
                ));
            }
        }
        text_field("subject", &self.subject, MAX_SUBJECT_CHARS)?;
        if self.document_type.code == 0 {
            return Err(refuse(
                "type.code",
                "must be 1 or more (1 administrative, 2 legal normative)",
            ));
        }
        text_field("type.name", &self.document_type.name, 100)?;
        if self.code_number == Some(0) {
            return Err(refuse(
                "code_number",
                "must be 1 or more, or null to have the next number assigned",
            ));
        }
        if let Some(notation) = &self.code_notation {
            notation_field(notation)?;
        }
        if let Some(competence) = &self.signer.competence {
            optional_text_field("signer.competence", competence, 20)?;
        }
        text_field("signer.position", &self.signer.position, 200)?;
        text_field("signer.name", &self.signer.name, 200)?;
        if self.priority > 4 {
            return Err(refuse(
                "priority",
                "must be 0 (normal) to 4 (express at a set time)",
            ));
        }
        if let Some(due_date) = &self.due_date {
            let format = format_description!("[year]-[month]-[day]");
            if time::Date::parse(due_date, format).is_err() {
                return Err(refuse(
                    "due_date",
                    format!("{due_date:?} is not a date written YYYY-MM-DD"),
                ));
            }
        }
        if let Some(content) = &self.content {
            optional_text_field("content", content, 20_000)?;
        }
        if let Some(place) = &self.place {
            optional_text_field("place", place, 200)?;
        }
        if let Some(keeper) = &self.file_copy_keeper {
            optional_text_field("file_copy_keeper", keeper, 200)?;
        }
        if self.copies == Some(0) || self.copies.is_some_and(|copies| copies > 100_000) {
            return Err(refuse("copies", "must be 1 to 100000 when given"));
        }
        Ok(())
    }
}

/// Parser messages quote the input (e.g. an unknown field's name); control characters in
/// it are escaped so that every error stays one line in logs and answers.
fn one_line(message: &str) -> String {
    let mut line = String::with_capacity(message.len());
    for character in message.chars() {
        if character.is_control() {
            line.extend(character.escape_default());
        } else {
            line.push(character);
        }
    }
    line
}

fn text_field(field: &str, value: &str, max_chars: usize) -> Result<(), MetaError> {
    if value.trim().is_empty() {
        return Err(refuse(field, "is empty"));
    }
    optional_text_field(field, value, max_chars)
}

fn optional_text_field(field: &str, value: &str, max_chars: usize) -> Result<(), MetaError> {
    if value.chars().count() > max_chars {
        return Err(refuse(
            field,
            format!("is longer than {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(refuse(field, "contains control characters"));
    }
    Ok(())
}

/// A ký hiệu becomes part of the DocumentId (`…,{number}/{notation}`), so it may not
/// contain the separators `,` and `/`, nor spaces.
fn notation_field(value: &str) -> Result<(), MetaError> {
    text_field("code_notation", value, 50)?;
    if value
        .chars()
        .any(|c| c == ',' || c == '/' || c.is_whitespace())
    {
        return Err(refuse(
            "code_notation",
            format!("{value:?} may not contain ',', '/' or spaces (write e.g. UBND-VP)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"{"to": ["000.00.00.H41"], "subject": "Về việc báo cáo", "type": {"code": 1, "name": "Công văn"},
        "code_number": null, "code_notation": "UBND-VP", "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
        "priority": 0, "due_date": "2026-12-31"}"#;

    #[test]
    fn the_design_sample_is_accepted() {
        let meta = OutgoingMeta::parse(SAMPLE.as_bytes(), &[]).expect("sample meta");
        assert_eq!(meta.code_number, None);
        assert_eq!(meta.signer.competence.as_deref(), Some("TM."));
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let cases = [
            (r#""to": ["000.00.00.H41"]"#, r#""to": []"#, "meta.to"),
            (
                r#""to": ["000.00.00.H41"]"#,
                r#""to": ["H41"]"#,
                "meta.to[0]",
            ),
            (
                r#""to": ["000.00.00.H41"]"#,
                r#""to": ["000.00.00.H41", "000.00.00.H41"]"#,
                "meta.to[1]",
            ),
            (
                r#""subject": "Về việc báo cáo""#,
                r#""subject": "  ""#,
                "meta.subject",
            ),
            (
                r#""subject": "Về việc báo cáo""#,
                r#""subject": "a\u0007b""#,
                "meta.subject",
            ),
            (
                r#""code_notation": "UBND-VP""#,
                r#""code_notation": "UBND/VP""#,
                "meta.code_notation",
            ),
            (
                r#""code_number": null"#,
                r#""code_number": 0"#,
                "meta.code_number",
            ),
            (r#""code_number": null"#, r#""code_number": -3"#, "meta."),
            (r#""priority": 0"#, r#""priority": 9"#, "meta.priority"),
            (
                r#""due_date": "2026-12-31""#,
                r#""due_date": "31/12/2026""#,
                "meta.due_date",
            ),
            (
                r#""due_date": "2026-12-31""#,
                r#""due_date": "2026-02-30""#,
                "meta.due_date",
            ),
            (
                r#""priority": 0"#,
                r#""priority": 0, "extra": 1"#,
                "unknown field",
            ),
            (
                r#""position": "Chủ tịch""#,
                r#""position": """#,
                "meta.signer.position",
            ),
        ];
        for (from, to, expected) in cases {
            let json = SAMPLE.replace(from, to);
            assert_ne!(json, SAMPLE, "case {to} did not change the sample");
            let error = OutgoingMeta::parse(json.as_bytes(), &[])
                .expect_err(to)
                .to_string();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }

    #[test]
    fn errors_quoting_the_input_stay_on_one_line() {
        // Found by the `document_meta` fuzz target: a field name with a line break.
        let error = OutgoingMeta::parse(b"{\"tt\\n\xc3\xa1\": 1}", &[]).expect_err("unknown field");
        assert!(!error.to_string().contains('\n'), "{error}");
    }

    #[test]
    fn notation_may_be_left_to_the_register_and_secret_defaults_to_false() {
        let meta = OutgoingMeta::parse(
            SAMPLE
                .replace(r#""code_notation": "UBND-VP""#, r#""code_notation": null"#)
                .as_bytes(),
            &[],
        )
        .expect("null notation");
        assert_eq!(meta.code_notation, None);
        assert!(!meta.secret);
        let without = SAMPLE.replace(r#""code_notation": "UBND-VP", "#, "");
        assert_ne!(without, SAMPLE);
        assert_eq!(
            OutgoingMeta::parse(without.as_bytes(), &[])
                .expect("absent")
                .code_notation,
            None
        );
        let secret = SAMPLE.replace(
            r#""priority": 0"#,
            r#""priority": 0, "secret": true, "copies": 3, "file_copy_keeper": "VT""#,
        );
        let meta = OutgoingMeta::parse(secret.as_bytes(), &[]).expect("secret");
        assert!(meta.secret);
        assert_eq!(meta.copies, Some(3));
        // A document that is not secret is stored exactly as before the field existed.
        let plain = OutgoingMeta::parse(SAMPLE.as_bytes(), &[]).expect("sample");
        assert!(!serde_json::to_string(&plain)
            .expect("json")
            .contains("secret"));
        let zero = SAMPLE.replace(r#""priority": 0"#, r#""priority": 0, "copies": 0"#);
        assert!(OutgoingMeta::parse(zero.as_bytes(), &[]).is_err());
    }

    #[test]
    fn oversized_subject_is_refused() {
        let json = SAMPLE.replace("Về việc báo cáo", &"ă".repeat(501));
        assert!(OutgoingMeta::parse(json.as_bytes(), &[]).is_err());
    }
}
