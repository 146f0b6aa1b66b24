//! The file-name rule shared by attachment names and ZIP entry names: a name a clerk can
//! save a file under, and nothing that could climb out of a directory or hide its real
//! extension. Owns the rule only; callers decide whether a bad name is fatal.

/// Checks that `name` is a safe plain file name of at most `max_bytes` bytes of UTF-8.
///
/// Refused: empty names, `.` and `..`, path separators (`/` and `\`, so also absolute and
/// drive paths), NUL and other control characters, Unicode bidirectional overrides (which
/// can disguise `gpj.exe` as `exe.jpg`), and names longer than `max_bytes`.
///
/// Returns the reason for refusal, phrased to follow "refused: ".
pub fn check_file_name(name: &str, max_bytes: usize) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.len() > max_bytes {
        return Err("the name is too long");
    }
    if name == "." || name == ".." {
        return Err("the name is a relative directory reference");
    }
    if name.contains(['/', '\\']) {
        return Err("the name contains a path separator");
    }
    if name.chars().any(char::is_control) {
        return Err("the name contains a control character");
    }
    if name.chars().any(is_bidi_control) {
        return Err("the name contains a bidirectional text control character");
    }
    if name.trim() != name {
        return Err("the name starts or ends with whitespace");
    }
    Ok(())
}

/// Unicode bidirectional embedding, override and isolate controls.
fn is_bidi_control(character: char) -> bool {
    matches!(character, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::check_file_name;

    #[test]
    fn accepts_ordinary_vietnamese_names() {
        assert!(check_file_name("Quyết định 1896_QD-TTg.pdf", 255).is_ok());
        assert!(check_file_name("GUIDE_INSTALL OPENVPN.SIGNED.PDF", 255).is_ok());
    }

    #[test]
    fn refuses_unsafe_names() {
        for name in [
            "",
            ".",
            "..",
            "../../etc/passwd",
            "/etc/passwd",
            "C:\\Windows\\x.dll",
            "a\0b",
            "a\nb",
            "evil\u{202E}fdp.exe",
            " padded.pdf",
        ] {
            assert!(
                check_file_name(name, 255).is_err(),
                "{name:?} must be refused"
            );
        }
        assert!(check_file_name(&"a".repeat(256), 255).is_err());
    }
}
