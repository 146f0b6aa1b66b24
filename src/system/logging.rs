//! Logging setup. Under journald (systemd connected stderr to the journal: `JOURNAL_STREAM`
//! names stderr's device and inode) every event goes to the journal in its native protocol
//! with its fields as journal fields — `document_id` becomes `DOCUMENT_ID`, and likewise
//! `axis_doc_id`, `organ_id`, `state` and `error_kind` — so `journalctl -u docgate
//! DOCUMENT_ID=…` finds a document's whole life. Otherwise, and if the journal socket cannot
//! be reached, human-readable lines go to stderr as before.
//!
//! The rules for every log call in the program:
//! - one line per state change of a document, with `document_id` (our ULID) and `state`
//!   (the new state); `axis_doc_id` and `organ_id` (the other agency) when known;
//!   `error_kind` (a short stable name) on every failure;
//! - never a secret (API token, token PIN, axis HMAC secret) and never document content
//!   (subject, file bytes); ids, states, counts and error descriptions only;
//! - field names are not prefixed in the journal, so a field must not be named like a
//!   journal field (`message`, `priority`, `code_file`, `code_line`, `syslog_identifier`,
//!   `target`, `errno`): the event's own text is the one `MESSAGE`.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The journal's `SYSLOG_IDENTIFIER` (`journalctl -t docgate`).
const SYSLOG_IDENTIFIER: &str = "docgate";

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`info`).
pub fn init() {
    if stderr_is_journal() {
        if let Some(journal) = journal_layer() {
            let _ = tracing_subscriber::registry()
                .with(filter())
                .with(journal)
                .try_init();
            return;
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The journal layer: field names as they are (no `F_` prefix), so `document_id` is
/// `DOCUMENT_ID`. `None` when the journal socket does not answer (then stderr is used,
/// which systemd still captures, as plain lines).
fn journal_layer() -> Option<tracing_journald::Layer> {
    match tracing_journald::layer() {
        Ok(layer) => Some(
            layer
                .with_field_prefix(None)
                .with_syslog_identifier(SYSLOG_IDENTIFIER.to_string()),
        ),
        Err(error) => {
            eprintln!("docgate: the journal does not answer ({error}); logging to stderr");
            None
        }
    }
}

/// Whether stderr is the journal stream systemd set up: `JOURNAL_STREAM` is `DEV:INODE`
/// of that stream (sd_journal_stream_fd(3), systemd.exec(5)); it must match stderr, or
/// stderr was redirected after systemd started us (a child, a shell redirection).
pub fn stderr_is_journal() -> bool {
    let Some(expected) = std::env::var("JOURNAL_STREAM")
        .ok()
        .and_then(|value| parse_journal_stream(&value))
    else {
        return false;
    };
    stderr_device_and_inode() == Some(expected)
}

/// `"8:12345"` → `(8, 12345)`.
fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (device, inode) = value.trim().split_once(':')?;
    Some((device.parse().ok()?, inode.parse().ok()?))
}

fn stderr_device_and_inode() -> Option<(u64, u64)> {
    let descriptor = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let metadata = std::fs::File::from(descriptor).metadata().ok()?;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_values_are_read_strictly() {
        let cases = [
            ("8:12345", Some((8, 12345))),
            ("0:1\n", Some((0, 1))),
            ("8:", None),
            (":1", None),
            ("8-1", None),
            ("a:b", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_journal_stream(input), expected, "{input:?}");
        }
    }
}
