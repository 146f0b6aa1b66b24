//! The helpers behind `docgate edxml parse|build`: JSON and text output, and a build from
//! the JSON that parse printed.

use std::fs;
use std::path::{Path, PathBuf};

use docgate::edxml::command::{build_packet, parse_to_json, parse_to_text};
use docgate::edxml::EdxmlError;

fn corpus(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/edxml")
        .join(relative)
}

#[test]
fn parse_prints_header_and_attachments_as_json() {
    let json = parse_to_json(&corpus("bkav-hub/edoc_new.edxml")).expect("parses");
    assert_eq!(json["header"]["kind"], "edoc");
    assert_eq!(json["header"]["business"]["business_doc_type"], 0);
    let attachment = &json["attachments"][0];
    assert_eq!(attachment["name"], "1896_QD-TTg_m_294779.doc");
    assert_eq!(attachment["content_id"], "cid:209");
    assert_eq!(attachment["size"], 388_347);
    assert_eq!(attachment["sha256"].as_str().map(str::len), Some(64));
    assert!(attachment.get("unreadable").is_none());

    let json = parse_to_json(&corpus("vdxp-sdk/edoc.edxml")).expect("parses");
    let reason = json["attachments"][0]["unreadable"]
        .as_str()
        .expect("an unreadable reason");
    assert!(reason.contains("not base64"), "{reason}");

    let json = parse_to_json(&corpus("vdxp-sdk/status_acceptance_03.edxml")).expect("parses");
    assert_eq!(json["header"]["kind"], "status");
    assert_eq!(json["header"]["status_code"], "03");
}

#[test]
fn parse_refusal_is_one_line() {
    let error = parse_to_json(&corpus("vdxp-sdk/edoc_new.edxml")).expect_err("stray bytes");
    let message = error.to_string();
    assert!(!message.contains('\n'));
    assert!(message.contains("offset 0"), "{message}");
    assert!(matches!(
        parse_to_json(Path::new("/nonexistent/packet.edxml")),
        Err(EdxmlError::OpenInput { .. })
    ));
}

#[test]
fn text_summary_names_the_essentials() {
    let text = parse_to_text(&corpus("vdxp-sdk/edoc_update.edxml")).expect("parses");
    assert!(
        text.starts_with("edoc packet from 000.00.00.G22\n"),
        "{text}"
    );
    assert!(text.contains("business: update"), "{text}");
    assert!(text.contains("attachments: 1"), "{text}");
    assert!(text.contains("388347 bytes"), "{text}");
    let text = parse_to_text(&corpus("vdxp-sdk/status_rejection_02.edxml")).expect("parses");
    assert!(text.contains("status: 02 Refused"), "{text}");
}

#[test]
fn build_from_the_json_parse_printed_round_trips() {
    let directory = tempfile::tempdir().expect("a temp directory");
    let original = parse_to_json(&corpus("vdxp-sdk/edoc_replacement.edxml")).expect("parses");
    // Both the whole parse output and its header object are accepted as META.json.
    let whole = directory.path().join("whole.json");
    fs::write(&whole, original.to_string()).expect("write");
    let header_only = directory.path().join("meta.json");
    fs::write(&header_only, original["header"].to_string()).expect("write");
    let attachment = directory.path().join("Công văn 12.pdf");
    fs::write(&attachment, b"%PDF-1.7 a tiny document").expect("write");
    for meta in [&whole, &header_only] {
        let out = directory.path().join("out.edxml");
        build_packet(meta, std::slice::from_ref(&attachment), &out).expect("builds");
        let rebuilt = parse_to_json(&out).expect("our packet parses");
        assert_eq!(rebuilt["header"], original["header"]);
        assert_eq!(rebuilt["attachments"][0]["name"], "Công văn 12.pdf");
        assert_eq!(rebuilt["attachments"][0]["content_type"], "application/pdf");
        assert_eq!(rebuilt["attachments"][0]["size"], 24);
    }
    let leftovers: Vec<_> = fs::read_dir(directory.path())
        .expect("readable")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn build_refuses_bad_metadata_and_leaves_no_output() {
    let directory = tempfile::tempdir().expect("a temp directory");
    let out = directory.path().join("out.edxml");
    let cases = [
        ("not json", "invalid metadata file"),
        (
            r#"{"kind": "edoc", "from": {"organ_id": "A"}, "to": [], "subjet": "typo"}"#,
            "subjet",
        ),
        (
            r#"{"kind": "edoc", "from": {"organ_id": "A"}, "to": []}"#,
            "at least one To",
        ),
        (
            r#"{"kind": "status", "from": {"organ_id": "A"}, "status_code": "99"}"#,
            "99",
        ),
        (
            r#"{"kind": "edoc", "from": {"organ_id": " "}, "to": [{"organ_id": "B"}]}"#,
            "From needs an OrganId",
        ),
        (
            r#"{"kind": "edoc", "from": {"organ_id": "A"}, "to": [{"organ_id": "B"}], "subject": "bell \u0007"}"#,
            "Subject contains",
        ),
    ];
    for (meta, expected) in cases {
        let path = directory.path().join("meta.json");
        fs::write(&path, meta).expect("write");
        let error = build_packet(&path, &[], &out).expect_err(meta);
        assert!(error.to_string().contains(expected), "{meta}: {error}");
        assert!(!out.exists(), "{meta}: nothing is written");
    }
    let missing = build_packet(
        &directory.path().join("meta.json"),
        &[directory.path().join("absent.pdf")],
        &out,
    );
    assert!(missing.is_err());
}
