//! The agency directory's rules, pure: which entries of an axis's answer are kept (codes
//! trimmed, blank or oversized ones dropped, one entry per code), which recipients of an
//! outgoing document are checked against it (never our own code), and, for a recipient the
//! directory does not hold, the closest entries to suggest — by edit distance over the
//! code (`strsim`'s Damerau–Levenshtein, so a swapped pair of digits counts as one typo)
//! and over the name, compared without case and without Vietnamese diacritics.
//!
//! Decides only: the cached rows are `store::directory`'s, the refresh is
//! `sync::directory`'s, and the intake (`intake.rs`) reads the store and calls these.

use crate::store::AgencyEntry;

/// Most entries suggested for one unknown recipient.
pub const MAX_SUGGESTIONS: usize = 3;
/// Least similarity (0 to 1, 1 = equal) an entry needs to be suggested: a 13-character
/// code may be up to 5 edits away.
const MIN_SIMILARITY: f64 = 0.6;
/// The similarity of a name that contains the whole query (at least
/// [`MIN_CONTAINED_CHARS`] characters of it): close, but below an exact code.
const CONTAINED_SIMILARITY: f64 = 0.9;
const MIN_CONTAINED_CHARS: usize = 3;
/// Longest code kept from the axis's answer (`LLL.KK.JJ.Xnn` is 13; test systems' codes
/// are a little longer).
const MAX_CODE_CHARS: usize = 64;
/// Longest name kept; longer names are cut (they only appear in messages).
const MAX_NAME_CHARS: usize = 300;

/// A recipient the directory does not hold, with the closest entries it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRecipient {
    /// Its place in `meta.to`.
    pub index: usize,
    pub code: String,
    /// Closest first, at most [`MAX_SUGGESTIONS`].
    pub suggestions: Vec<AgencyEntry>,
}

impl std::fmt::Display for UnknownRecipient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "meta.to[{}]: {} is not in the agency directory published by the axis; ",
            self.index, self.code
        )?;
        if self.suggestions.is_empty() {
            return write!(
                formatter,
                "check the recipient's mã định danh (agency code) with the recipient"
            );
        }
        let named: Vec<String> = self
            .suggestions
            .iter()
            .map(|entry| format!("{} ({})", entry.code, entry.name))
            .collect();
        let choices = match named.split_last() {
            Some((last, others)) if !others.is_empty() => {
                format!("{} or {last}", others.join(", "))
            }
            _ => named.join(""),
        };
        write!(formatter, "did you mean {choices}?")
    }
}

/// The recipients of one document that the directory does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.recipients.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct UnknownRecipients {
    pub recipients: Vec<UnknownRecipient>,
}

/// The recipients of `to` to look up in the directory, with their places: all but our
/// own code, which is fine whether or not the axis lists it.
pub fn recipients_to_check(to: &[String], own_code: &str) -> Vec<(usize, String)> {
    to.iter()
        .enumerate()
        .filter(|(_, code)| code.as_str() != own_code)
        .map(|(index, code)| (index, code.clone()))
        .collect()
}

/// Refuses `unknown` recipients (those the directory lacks), each with its suggestions
/// from `directory`; accepts when there are none.
pub fn refuse_unknown(
    unknown: Vec<(usize, String)>,
    directory: &[AgencyEntry],
) -> Result<(), UnknownRecipients> {
    if unknown.is_empty() {
        return Ok(());
    }
    let recipients = unknown
        .into_iter()
        .map(|(index, code)| UnknownRecipient {
            index,
            suggestions: suggest(directory, &code),
            code,
        })
        .collect();
    Err(UnknownRecipients { recipients })
}

/// The entries of `directory` closest to `query` (a code, or part of a name), closest
/// first, at most [`MAX_SUGGESTIONS`], none below [`MIN_SIMILARITY`].
pub fn suggest(directory: &[AgencyEntry], query: &str) -> Vec<AgencyEntry> {
    let query = Query::new(query);
    let mut scored: Vec<(f64, &AgencyEntry)> = directory
        .iter()
        .map(|entry| (query.similarity(entry), entry))
        .filter(|(similarity, _)| *similarity >= MIN_SIMILARITY)
        .collect();
    scored.sort_by(|(a, first), (b, second)| {
        b.total_cmp(a).then_with(|| first.code.cmp(&second.code))
    });
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, entry)| entry.clone())
        .collect()
}

/// A query prepared once for comparing with every entry.
struct Query {
    code: String,
    folded: String,
}

impl Query {
    fn new(text: &str) -> Query {
        Query {
            code: text.trim().to_uppercase(),
            folded: fold(text),
        }
    }

    fn similarity(&self, entry: &AgencyEntry) -> f64 {
        let by_code =
            strsim::normalized_damerau_levenshtein(&self.code, &entry.code.to_uppercase());
        by_code.max(self.name_similarity(&entry.name))
    }

    fn name_similarity(&self, name: &str) -> f64 {
        if self.folded.is_empty() {
            return 0.0;
        }
        let name = fold(name);
        if self.folded.chars().count() >= MIN_CONTAINED_CHARS && name.contains(&self.folded) {
            return CONTAINED_SIMILARITY
                .max(strsim::normalized_damerau_levenshtein(&self.folded, &name));
        }
        strsim::normalized_damerau_levenshtein(&self.folded, &name)
    }
}

/// `text` for comparing names: lower case, without Vietnamese diacritics (precomposed or
/// as combining marks; đ as d), runs of white space as one space, trimmed.
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for character in text.chars().flat_map(char::to_lowercase) {
        if ('\u{300}'..='\u{36f}').contains(&character) {
            continue;
        }
        if character.is_whitespace() {
            if !folded.is_empty() && !folded.ends_with(' ') {
                folded.push(' ');
            }
            continue;
        }
        folded.push(base_letter(character));
    }
    let trimmed = folded.trim_end().len();
    folded.truncate(trimmed);
    folded
}

/// The Vietnamese letters with a diacritic, lower case, by the letter they are built on.
const VIETNAMESE_LETTERS: &[(&str, char)] = &[
    ("àáảãạăằắẳẵặâầấẩẫậ", 'a'),
    ("èéẻẽẹêềếểễệ", 'e'),
    ("ìíỉĩị", 'i'),
    ("òóỏõọôồốổỗộơờớởỡợ", 'o'),
    ("ùúủũụưừứửữự", 'u'),
    ("ỳýỷỹỵ", 'y'),
    ("đ", 'd'),
];

fn base_letter(character: char) -> char {
    VIETNAMESE_LETTERS
        .iter()
        .find(|(letters, _)| letters.contains(character))
        .map_or(character, |(_, base)| *base)
}

/// The entries of an axis's answer worth keeping, in its order: codes trimmed, entries
/// with a blank, oversized or control-character code dropped, the first of each code kept,
/// names trimmed, stripped of control characters and cut to [`MAX_NAME_CHARS`].
pub fn clean_directory(entries: Vec<AgencyEntry>) -> Vec<AgencyEntry> {
    let mut seen = std::collections::HashSet::new();
    entries
        .into_iter()
        .filter_map(|entry| {
            let code = entry.code.trim().to_string();
            let usable = !code.is_empty()
                && code.chars().count() <= MAX_CODE_CHARS
                && !code.chars().any(char::is_control);
            (usable && seen.insert(code.clone())).then(|| AgencyEntry {
                code,
                name: clean_text(&entry.name, MAX_NAME_CHARS),
                system_id: clean_text(&entry.system_id, MAX_CODE_CHARS),
            })
        })
        .collect()
}

fn clean_text(text: &str, max_chars: usize) -> String {
    text.trim()
        .chars()
        .filter(|character| !character.is_control())
        .take(max_chars)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: &str, name: &str) -> AgencyEntry {
        AgencyEntry {
            code: code.into(),
            name: name.into(),
            system_id: String::new(),
        }
    }

    fn directory() -> Vec<AgencyEntry> {
        vec![
            entry("000.00.00.H41", "UBND tỉnh Thử Nghiệm"),
            entry("001.00.10.H41", "UBND huyện Thử Nghiệm"),
            entry("001.01.10.H41", "UBND xã Thử Nghiệm"),
            entry("002.00.20.H13", "Sở Tài chính"),
            entry("003.00.30.G22", "Sở Giáo dục và Đào tạo"),
        ]
    }

    fn codes(entries: &[AgencyEntry]) -> Vec<&str> {
        entries.iter().map(|entry| entry.code.as_str()).collect()
    }

    #[test]
    fn one_digit_off_suggests_the_real_code_first() {
        let directory = directory();
        let suggestions = suggest(&directory, "001.01.11.H41");
        assert_eq!(suggestions[0].code, "001.01.10.H41");
        assert!(suggestions.len() <= MAX_SUGGESTIONS);
        // Two digits swapped is one edit, closer than any other code.
        assert_eq!(
            suggest(&directory, "001.01.01.H41")[0].code,
            "001.01.10.H41"
        );
        assert_eq!(
            suggest(&directory, "000.00.00.H14")[0].code,
            "000.00.00.H41"
        );
    }

    #[test]
    fn at_most_three_and_nothing_far_away() {
        let directory = directory();
        assert_eq!(
            codes(&suggest(&directory, "001.00.00.H41")),
            ["000.00.00.H41", "001.00.10.H41", "001.01.10.H41"]
        );
        assert!(suggest(&directory, "999.99.99.Z99").is_empty());
        assert!(suggest(&[], "001.01.10.H41").is_empty());
        assert!(suggest(&directory, "").is_empty());
    }

    #[test]
    fn names_match_without_case_or_diacritics() {
        let directory = directory();
        assert_eq!(
            codes(&suggest(&directory, "so giao duc va dao tao")),
            ["003.00.30.G22"]
        );
        assert_eq!(suggest(&directory, "TÀI CHÍNH")[0].code, "002.00.20.H13");
        assert_eq!(
            suggest(&directory, "ubnd xa thu nghiem")[0].code,
            "001.01.10.H41"
        );
        // Combining marks (NFD) fold the same as precomposed letters.
        assert_eq!(fold("Tha\u{300}nh pho\u{302}\u{301}"), "thanh pho");
        assert_eq!(fold("  Đà   Nẵng "), "da nang");
    }

    #[test]
    fn the_message_names_the_code_and_the_suggestions() {
        let directory = directory();
        let refused =
            refuse_unknown(vec![(1, "000.00.00.H42".into())], &directory).expect_err("unknown");
        let message = refused.to_string();
        assert!(
            message.starts_with("meta.to[1]: 000.00.00.H42 is not in the agency directory"),
            "{message}"
        );
        assert!(
            message.contains("did you mean 000.00.00.H41 (UBND tỉnh Thử Nghiệm)"),
            "{message}"
        );
        let nothing_close = refuse_unknown(vec![(0, "999.99.99.Z99".into())], &directory)
            .expect_err("unknown")
            .to_string();
        assert!(
            nothing_close.contains("check the recipient's"),
            "{nothing_close}"
        );
        let two = refuse_unknown(
            vec![(0, "001.01.11.H41".into()), (2, "001.00.11.H41".into())],
            &directory,
        )
        .expect_err("unknown");
        assert_eq!(two.recipients.len(), 2);
        assert!(
            two.to_string().contains("; meta.to[2]: 001.00.11.H41"),
            "{two}"
        );
        assert!(refuse_unknown(Vec::new(), &directory).is_ok());
    }

    #[test]
    fn three_suggestions_read_as_a_list() {
        let unknown = UnknownRecipient {
            index: 0,
            code: "X".into(),
            suggestions: vec![entry("A", "a"), entry("B", "b"), entry("C", "c")],
        };
        assert!(unknown
            .to_string()
            .ends_with("did you mean A (a), B (b) or C (c)?"));
    }

    #[test]
    fn our_own_code_is_never_checked() {
        let to = vec![
            "001.00.10.H41".to_string(),
            "001.01.10.H41".to_string(),
            "000.00.00.H41".to_string(),
        ];
        assert_eq!(
            recipients_to_check(&to, "001.01.10.H41"),
            vec![
                (0, "001.00.10.H41".to_string()),
                (2, "000.00.00.H41".to_string())
            ]
        );
    }

    #[test]
    fn an_answer_is_cleaned_before_it_is_kept() {
        let cleaned = clean_directory(vec![
            entry(" 001.01.10.H41 ", "  UBND xã\u{7} Thử Nghiệm "),
            entry("001.01.10.H41", "second copy"),
            entry("   ", "blank"),
            entry(&"9".repeat(65), "too long"),
            entry("bad\ncode", "control"),
            entry("000.00.00.H41", &"x".repeat(400)),
        ]);
        assert_eq!(codes(&cleaned), ["001.01.10.H41", "000.00.00.H41"]);
        assert_eq!(cleaned[0].name, "UBND xã Thử Nghiệm");
        assert_eq!(cleaned[1].name.chars().count(), MAX_NAME_CHARS);
    }
}
