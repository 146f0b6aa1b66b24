//! Fuzzes the file-name rule shared by the local API's uploads, edXML attachments and ZIP
//! entries (`docgate::edxml::check_file_name`, which the intake calls as
//! `workflow::intake::file_name_problem`): a name it accepts must be one plain name that
//! cannot leave the directory it is saved in — no `/` or `\`, not `.` or `..`, no NUL or
//! other control character — and every refusal is a one-line reason.
#![no_main]

use docgate::edxml::check_file_name;
use docgate::workflow::intake::file_name_problem;
use docgate_fuzz::{assert_one_line, assert_plain_file_name};
use libfuzzer_sys::fuzz_target;

/// The limit the intake uses (`MAX_FILE_NAME_BYTES`) and the edXML reader's default.
const MAX_NAME_BYTES: usize = 255;

fuzz_target!(|data: &[u8]| {
    // Names reach the rule as Rust strings: multipart headers and XML text are decoded first.
    let name = String::from_utf8_lossy(data);
    let verdict = check_file_name(&name, MAX_NAME_BYTES);
    assert_eq!(
        verdict.err(),
        file_name_problem(&name),
        "the intake and the edXML reader disagree about {name:?}"
    );
    match verdict {
        Ok(()) => {
            assert!(
                name.len() <= MAX_NAME_BYTES,
                "an over-long name was accepted"
            );
            assert_plain_file_name(&name);
        }
        Err(reason) => assert_one_line(reason),
    }
});
