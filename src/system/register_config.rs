//! The optional `[register]` section of the gateway's configuration: the abbreviations the
//! outgoing register composes a ký hiệu (notation, e.g. `UBND-VP` in `123/UBND-VP`) from
//! when the office sends none. Validated with the rest of the file by
//! `GatewayConfig::load`; only the shape of each value is checked here — which
//! abbreviation a document gets is decided by `workflow::register`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::ConfigError;

/// Longest abbreviation accepted (characters); a whole ký hiệu is at most 50.
const MAX_ABBREVIATION_CHARS: usize = 20;

/// `[register]`: abbreviations for composing the ký hiệu of outgoing documents.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegisterSection {
    /// The agency's abbreviation, e.g. `UBND` (Ủy ban nhân dân).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_abbreviation: Option<String>,
    /// The drafting unit's abbreviation, e.g. `VP` (Văn phòng); used for công văn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_abbreviation: Option<String>,
    /// Document type name (as in `meta.type.name`, e.g. `Quyết định`) → abbreviation,
    /// overriding or adding to the built-in list of NĐ 30/2020 Phụ lục III.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub type_abbreviations: BTreeMap<String, String>,
}

impl RegisterSection {
    /// Checks that every abbreviation can stand in a ký hiệu.
    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, problem: String| {
            ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            problem,
            fix: "write a short abbreviation of letters and digits such as UBND or VP (no '/', ',', '-' or spaces)",
        }
        };
        if let Some(agency) = &self.agency_abbreviation {
            abbreviation_problem(agency).map_or(Ok(()), |problem| {
                Err(invalid("register.agency_abbreviation", problem))
            })?;
        }
        if let Some(unit) = &self.unit_abbreviation {
            abbreviation_problem(unit).map_or(Ok(()), |problem| {
                Err(invalid("register.unit_abbreviation", problem))
            })?;
        }
        for (type_name, abbreviation) in &self.type_abbreviations {
            if type_name.trim().is_empty() {
                return Err(invalid(
                    "register.type_abbreviations",
                    "has an empty type name".into(),
                ));
            }
            if let Some(problem) = abbreviation_problem(abbreviation) {
                return Err(invalid(
                    "register.type_abbreviations",
                    format!("entry {type_name:?}: {problem}"),
                ));
            }
        }
        Ok(())
    }
}

/// Why `value` cannot be one part of a ký hiệu, if it cannot: the parts are joined with
/// `-`, and the whole becomes part of the DocumentId (`…,{number}/{notation}`).
fn abbreviation_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("is empty".into());
    }
    if value.chars().count() > MAX_ABBREVIATION_CHARS {
        return Some(format!(
            "{value:?} is longer than {MAX_ABBREVIATION_CHARS} characters"
        ));
    }
    if !value.chars().all(char::is_alphanumeric) {
        return Some(format!(
            "{value:?} has characters other than letters and digits"
        ));
    }
    None
}

/// The commented example `docgate config init` writes.
pub(super) const EXAMPLE: &str = r#"
# The outgoing register (sổ văn bản đi). When the office software sends no code_notation,
# the ký hiệu is composed from these: a công văn gets {agency}-{unit} (123/UBND-VP), other
# types {type}-{agency} (05/QĐ-UBND) with the type abbreviations of NĐ 30/2020 Phụ lục III.
# [register]
# agency_abbreviation = "UBND"
# unit_abbreviation = "VP"
# [register.type_abbreviations]      # optional: override or add, by meta.type.name
# "Kế hoạch" = "KH"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviations() {
        for good in ["UBND", "VP", "QĐ", "QyĐ", "TTr", "S1"] {
            assert_eq!(abbreviation_problem(good), None, "{good}");
        }
        for bad in ["", "U-B", "U B", "U/B", "U,B", &"A".repeat(21)] {
            assert!(abbreviation_problem(bad).is_some(), "{bad:?}");
        }
    }
}
