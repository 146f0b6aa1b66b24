//! The register rules of NĐ 30/2020/NĐ-CP (Decree 30 on clerical work): which series an
//! outgoing document is numbered in, how its ký hiệu (notation) is composed from the
//! configured abbreviations, which registers and years exist, and when a year may be
//! closed. Pure functions; never touches the store (numbers are taken in `store::outgoing`,
//! inside the transaction that records the document) and never speaks HTTP.
//!
//! Vietnamese terms: sổ văn bản đi / đến — the outgoing / incoming register; số — the
//! document's number; ký hiệu — its notation; số đến — the incoming number.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::store::registers::RegisterKind;
use crate::store::RegisterSeries;
use crate::system::clock::vietnam_year;
use crate::system::config::RegisterSection;

/// The type abbreviations of NĐ 30/2020 Phụ lục III, by type name.
const BUILT_IN_TYPE_ABBREVIATIONS: &[(&str, &str)] = &[
    ("Nghị quyết", "NQ"),
    ("Quyết định", "QĐ"),
    ("Chỉ thị", "CT"),
    ("Quy chế", "QC"),
    ("Quy định", "QyĐ"),
    ("Thông cáo", "TC"),
    ("Thông báo", "TB"),
    ("Hướng dẫn", "HD"),
    ("Chương trình", "CTr"),
    ("Kế hoạch", "KH"),
    ("Phương án", "PA"),
    ("Đề án", "ĐA"),
    ("Dự án", "DA"),
    ("Báo cáo", "BC"),
    ("Biên bản", "BB"),
    ("Tờ trình", "TTr"),
    ("Hợp đồng", "HĐ"),
    ("Công điện", "CĐ"),
    ("Bản ghi nhớ", "BGN"),
    ("Bản thỏa thuận", "BTT"),
    ("Giấy ủy quyền", "GUQ"),
    ("Giấy mời", "GM"),
    ("Giấy giới thiệu", "GGT"),
    ("Giấy nghỉ phép", "GNP"),
    ("Phiếu gửi", "PG"),
    ("Phiếu chuyển", "PC"),
    ("Phiếu báo", "PB"),
];

/// The type name of a công văn (an administrative letter), whose ký hiệu names the agency
/// and the drafting unit rather than the type.
const CONG_VAN: &str = "công văn";

/// The earliest and latest register years the API and the command line accept.
pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 9999;

/// Why a register rule refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The office sent no ký hiệu and the configuration cannot compose one.
    #[error("meta.code_notation is empty and `{key}` is not set in the gateway's [register] configuration, so no ký hiệu can be composed for a {type_name:?}; send code_notation (e.g. UBND-VP), or ask IT to set {key}")]
    NotationNotConfigured {
        key: &'static str,
        type_name: String,
    },
    /// No abbreviation is known for the document's type name.
    #[error("meta.code_notation is empty and no abbreviation is known for the type {type_name:?} (NĐ 30/2020 Phụ lục III lists e.g. Quyết định, Tờ trình, Báo cáo); send code_notation, correct type.name, or ask IT to add it under [register.type_abbreviations]")]
    UnknownTypeAbbreviation { type_name: String },
    /// Not `out` or `in`.
    #[error("there is no register {0:?}; use `out` (sổ văn bản đi) or `in` (sổ văn bản đến)")]
    UnknownRegister(String),
    /// Not `general` or `secret`, or a series asked of the incoming register.
    #[error("{0}")]
    BadSeries(String),
    /// Not a year between 2000 and 9999.
    #[error("year {0:?} is not a year from 2000 to 9999")]
    BadYear(String),
    /// The year has not ended yet in Vietnam.
    #[error("the {year} register cannot be closed before the year has ended (it is {current} in Vietnam now); close it from 1 January {next} on", next = year + 1)]
    YearNotEnded { year: i32, current: i32 },
}

/// How the gateway composes a ký hiệu when the office sends none (from `[register]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotationRules {
    agency: Option<String>,
    unit: Option<String>,
    /// Lower-cased type name → abbreviation: the built-ins, then the configuration's.
    types: BTreeMap<String, String>,
}

impl NotationRules {
    /// The rules from an optional `[register]` section.
    pub fn from_config(section: Option<&RegisterSection>) -> NotationRules {
        let mut types: BTreeMap<String, String> = BUILT_IN_TYPE_ABBREVIATIONS
            .iter()
            .map(|(name, abbreviation)| (type_key(name), abbreviation.to_string()))
            .collect();
        let Some(section) = section else {
            return NotationRules {
                types,
                ..NotationRules::default()
            };
        };
        for (name, abbreviation) in &section.type_abbreviations {
            types.insert(type_key(name), abbreviation.clone());
        }
        NotationRules {
            agency: section.agency_abbreviation.clone(),
            unit: section.unit_abbreviation.clone(),
            types,
        }
    }

    /// The ký hiệu of a document of `type_name`: `{agency}-{unit}` for a công văn
    /// (`123/UBND-VP`), `{type}-{agency}` for every other type (`05/QĐ-UBND`).
    pub fn compose(&self, type_name: &str) -> Result<String, RegisterError> {
        let missing = |key| RegisterError::NotationNotConfigured {
            key,
            type_name: type_name.trim().to_string(),
        };
        let agency = self
            .agency
            .as_deref()
            .ok_or_else(|| missing("register.agency_abbreviation"))?;
        let key = type_key(type_name);
        if key == CONG_VAN {
            let unit = self
                .unit
                .as_deref()
                .ok_or_else(|| missing("register.unit_abbreviation"))?;
            return Ok(format!("{agency}-{unit}"));
        }
        let abbreviation =
            self.types
                .get(&key)
                .ok_or_else(|| RegisterError::UnknownTypeAbbreviation {
                    type_name: type_name.trim().to_string(),
                })?;
        Ok(format!("{abbreviation}-{agency}"))
    }
}

/// Type names compare trimmed, with single spaces and case-insensitively ("Quyết  định"
/// and "quyết định" are the same type).
fn type_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The series an outgoing document is numbered in.
pub fn series_for(secret: bool) -> RegisterSeries {
    if secret {
        RegisterSeries::Secret
    } else {
        RegisterSeries::General
    }
}

/// Which register a request names, from the API's / command line's `out|in` and
/// optional `general|secret`.
pub fn parse_register(register: &str, series: Option<&str>) -> Result<RegisterKind, RegisterError> {
    match (register, series) {
        ("out", None) => Ok(RegisterKind::Outgoing(RegisterSeries::General)),
        ("out", Some(series)) => RegisterSeries::parse(series)
            .map(RegisterKind::Outgoing)
            .ok_or_else(|| {
                RegisterError::BadSeries(format!("series {series:?} is not `general` or `secret`"))
            }),
        ("in", None) => Ok(RegisterKind::Incoming),
        ("in", Some(_)) => Err(RegisterError::BadSeries(
            "the incoming register has no series; leave series out".into(),
        )),
        (other, _) => Err(RegisterError::UnknownRegister(other.to_string())),
    }
}

/// A register year from text: exactly four digits, 2000 to 9999.
pub fn parse_year(text: &str) -> Result<i32, RegisterError> {
    Some(text)
        .filter(|text| text.len() == 4 && text.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|text| text.parse::<i32>().ok())
        .filter(|year| (FIRST_YEAR..=LAST_YEAR).contains(year))
        .ok_or_else(|| RegisterError::BadYear(text.to_string()))
}

/// A year may be closed once it has ended in Vietnam (from 00:00 on 1 January after it).
pub fn check_year_ended(year: i32, now: OffsetDateTime) -> Result<(), RegisterError> {
    let current = vietnam_year(now);
    if year < current {
        Ok(())
    } else {
        Err(RegisterError::YearNotEnded { year, current })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn configured() -> NotationRules {
        NotationRules::from_config(Some(&RegisterSection {
            agency_abbreviation: Some("UBND".into()),
            unit_abbreviation: Some("VP".into()),
            type_abbreviations: [("Kế hoạch".to_string(), "KHo".to_string())].into(),
        }))
    }

    #[test]
    fn notation_follows_decree_30() {
        let rules = configured();
        let cases = [
            ("Công văn", "UBND-VP"),
            ("  công   VĂN ", "UBND-VP"),
            ("Quyết định", "QĐ-UBND"),
            ("Quy định", "QyĐ-UBND"),
            ("Tờ trình", "TTr-UBND"),
            ("Giấy mời", "GM-UBND"),
            ("Phiếu báo", "PB-UBND"),
            ("Kế hoạch", "KHo-UBND"), // the configuration overrides the built-in KH
        ];
        for (type_name, expected) in cases {
            assert_eq!(
                rules.compose(type_name).as_deref(),
                Ok(expected),
                "{type_name}"
            );
        }
    }

    #[test]
    fn every_built_in_abbreviation_is_a_valid_notation_part() {
        assert_eq!(BUILT_IN_TYPE_ABBREVIATIONS.len(), 27);
        for (name, abbreviation) in BUILT_IN_TYPE_ABBREVIATIONS {
            assert!(
                abbreviation.chars().all(char::is_alphanumeric),
                "{name}: {abbreviation}"
            );
        }
    }

    #[test]
    fn missing_configuration_names_the_key() {
        let none = NotationRules::from_config(None);
        let error = none.compose("Quyết định").expect_err("no agency");
        assert!(
            error.to_string().contains("register.agency_abbreviation"),
            "{error}"
        );
        let agency_only = NotationRules::from_config(Some(&RegisterSection {
            agency_abbreviation: Some("UBND".into()),
            ..RegisterSection::default()
        }));
        assert_eq!(agency_only.compose("Quyết định").as_deref(), Ok("QĐ-UBND"));
        let error = agency_only.compose("Công văn").expect_err("no unit");
        assert!(
            error.to_string().contains("register.unit_abbreviation"),
            "{error}"
        );
        let error = configured()
            .compose("Thư cảm ơn")
            .expect_err("unknown type");
        assert!(matches!(
            error,
            RegisterError::UnknownTypeAbbreviation { .. }
        ));
        assert!(error.to_string().contains("register.type_abbreviations"));
    }

    #[test]
    fn registers_and_series() {
        use RegisterSeries::*;
        assert_eq!(
            parse_register("out", None),
            Ok(RegisterKind::Outgoing(General))
        );
        assert_eq!(
            parse_register("out", Some("secret")).map(RegisterKind::name),
            Ok("out-secret")
        );
        assert_eq!(parse_register("in", None).map(RegisterKind::name), Ok("in"));
        assert!(parse_register("in", Some("secret")).is_err());
        assert!(parse_register("out", Some("mật")).is_err());
        assert!(parse_register("di", None).is_err());
        assert!(parse_register("out", Some("")).is_err());
        assert_eq!(series_for(true), Secret);
        assert_eq!(series_for(false), General);
    }

    #[test]
    fn years() {
        assert_eq!(parse_year("2026"), Ok(2026));
        for bad in [
            "", "26", "1999", "10000", "20x6", "+2026", "-2026", "2026.0", " 2026", "+202",
        ] {
            assert!(parse_year(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_year_ends_at_midnight_vietnam_time() {
        // 16:59:59 UTC on 31 December is 23:59:59 in Hà Nội: 2026 has not ended.
        assert!(check_year_ended(2026, datetime!(2026-12-31 16:59:59 UTC)).is_err());
        assert!(check_year_ended(2026, datetime!(2026-12-31 17:00:00 UTC)).is_ok());
        assert!(check_year_ended(2027, datetime!(2026-12-31 17:00:00 UTC)).is_err());
        assert!(check_year_ended(2030, datetime!(2026-06-01 00:00 UTC)).is_err());
    }
}
