//! Checks shared by the fuzz targets: what every error message and every accepted file name
//! must look like, whatever the input was. A failed check panics, which libFuzzer reports
//! as a crash with the input that caused it.

use std::path::{Component, Path};

/// Every message docgate answers or logs is one line: a client or a log reader must never
/// see a second line forged from the input.
pub fn assert_one_line(message: &str) {
    assert!(
        !message.contains(['\n', '\r', '\u{2028}', '\u{2029}']),
        "multi-line message: {message:?}"
    );
}

/// A file name the intake or the edXML reader accepted is one plain name: saved in any
/// directory it stays in that directory, and it carries nothing that a path, a terminal or
/// a file list would read as structure.
pub fn assert_plain_file_name(name: &str) {
    assert!(!name.is_empty(), "an empty name was accepted");
    assert!(
        !name.contains(['/', '\\', '\0']),
        "a name with a separator or NUL was accepted: {name:?}"
    );
    assert!(
        name != "." && name != "..",
        "a directory reference was accepted: {name:?}"
    );
    assert!(
        !name.chars().any(char::is_control),
        "a name with a control character was accepted: {name:?}"
    );
    let components: Vec<Component<'_>> = Path::new(name).components().collect();
    assert_eq!(
        components,
        [Component::Normal(name.as_ref())],
        "{name:?} is not one plain path component"
    );
    let base = Path::new("/var/lib/docgate/export");
    let saved = base.join(name);
    assert_eq!(saved.parent(), Some(base), "{name:?} leaves its directory");
    assert_eq!(
        saved.file_name(),
        Some(name.as_ref()),
        "{name:?} is not saved under its own name"
    );
}
