//! Hostile and broken packets: each gives a clear one-line error (no panic), and leaves
//! the staging directory empty.

use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;

use base64::Engine as _;
use docgate::edxml::{read_packet, ArchiveProblem, EdxmlError, Limits, Packet};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const NAMESPACE: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";

/// A minimal edoc header in the SDK layout, with `manifest` and `attachments` spliced in.
fn edoc_packet(manifest: &str, attachments: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NAMESPACE}">
  <edXML:edXMLEnvelope xmlns:edXML="{NAMESPACE}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:From>
        <edXML:To><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:To>
        <edXML:Subject>Thử nghiệm</edXML:Subject>
      </edXML:MessageHeader>
    </edXML:edXMLHeader>
    <edXML:edXMLBody><edXML:edXMLManifest version="1.0">{manifest}</edXML:edXMLManifest></edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>{attachments}</AttachmentEncoded>
</edXML>
"#
    )
}

fn attachment_xml(content_id: &str, name: &str, base64_content: &str) -> String {
    format!(
        "<Attachment><ContentId>{content_id}</ContentId><AttachmentName>{name}</AttachmentName>\
         <ContentType>application/pdf</ContentType>\
         <edXML:ContentTransferEncoded xmlns:edXML=\"{NAMESPACE}\">{base64_content}</edXML:ContentTransferEncoded>\
         </Attachment>"
    )
}

/// A packet carrying one attachment whose ZIP bytes are `zip_bytes`.
fn packet_with_zip(zip_bytes: &[u8]) -> String {
    let content = base64::engine::general_purpose::STANDARD.encode(zip_bytes);
    edoc_packet("", &attachment_xml("cid:1", "file.pdf", &content))
}

/// A ZIP archive holding `entries`, written with the zip crate.
fn zip_of(entries: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(
            *name,
            SimpleFileOptions::default().compression_method(method),
        )
        .expect("the zip crate writes any entry name");
        zip.write_all(bytes).expect("writes into memory");
    }
    zip.finish().expect("finishes in memory").into_inner()
}

/// Reads `bytes` with `limits`, asserting the result is an error and that nothing is left
/// staged; returns the error.
fn refuse_with(bytes: &[u8], limits: &Limits) -> EdxmlError {
    let staging = tempfile::tempdir().expect("a staging directory");
    let result: Result<Packet, EdxmlError> = read_packet(bytes, staging.path(), limits);
    let error = match result {
        Ok(packet) => panic!("expected a refusal, read {packet:?}"),
        Err(error) => error,
    };
    assert_staging_empty(staging.path());
    let message = error.to_string();
    assert!(!message.contains('\n'), "one line: {message}");
    error
}

fn refuse(bytes: &[u8]) -> EdxmlError {
    refuse_with(bytes, &Limits::default())
}

fn assert_staging_empty(directory: &Path) {
    let left: Vec<_> = fs::read_dir(directory).expect("readable").collect();
    assert!(left.is_empty(), "staging dir must be empty, holds {left:?}");
}

fn assert_archive_problem(error: &EdxmlError, check: impl Fn(&ArchiveProblem) -> bool) {
    match error {
        EdxmlError::BadArchive { problem, .. } if check(problem) => {}
        other => panic!("unexpected error: {other:?} ({other})"),
    }
}

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let packet = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&lol3;</edXML>"#;
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::Doctype { offset: 22 }),
        "{error:?}"
    );
    assert!(error.to_string().contains("DOCTYPE"), "{error}");
}

#[test]
fn external_entity_is_refused_at_the_doctype() {
    let packet = r#"<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&xxe;</edXML>"#;
    assert!(matches!(
        refuse(packet.as_bytes()),
        EdxmlError::Doctype { .. }
    ));
}

#[test]
fn deep_nesting_is_refused() {
    let mut packet = format!("<edXML xmlns=\"{NAMESPACE}\">");
    packet.push_str(&"<a>".repeat(10_000));
    packet.push_str(&"</a>".repeat(10_000));
    packet.push_str("</edXML>");
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::TooDeep { limit: 32, .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("nested deeper than 32"),
        "{error}"
    );
}

#[test]
fn zip_bomb_by_ratio_is_refused_before_inflating() {
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let error = refuse(
        packet_with_zip(&zip_of(
            &[("bomb.pdf", &zeros)],
            CompressionMethod::Deflated,
        ))
        .as_bytes(),
    );
    assert_archive_problem(&error, |problem| {
        matches!(problem, ArchiveProblem::ExpansionRatio { limit: 100, .. })
    });
    assert!(error.to_string().contains("expand"), "{error}");
}

/// Rewrites the uncompressed size in every central directory header of `zip`.
fn patch_declared_size(zip: &mut [u8], declared: u32) {
    let mut index = 0;
    while index + 46 <= zip.len() {
        if zip[index..index + 4] == [0x50, 0x4b, 0x01, 0x02] {
            zip[index + 24..index + 28].copy_from_slice(&declared.to_le_bytes());
            index += 46;
        } else {
            index += 1;
        }
    }
}

#[test]
fn zip_declaring_a_gigabyte_is_refused_before_inflating() {
    let mut zip = zip_of(
        &[("big.pdf", &[7u8; 64 * 1024])],
        CompressionMethod::Deflated,
    );
    patch_declared_size(&mut zip, 1 << 30);
    let error = refuse(packet_with_zip(&zip).as_bytes());
    assert_archive_problem(
        &error,
        |problem| matches!(problem, ArchiveProblem::EntryTooLarge { declared, .. } if *declared == 1 << 30),
    );
}

#[test]
fn lying_zip_header_stops_at_the_declared_size() {
    let content: Vec<u8> = (0..200_000u32).map(|value| (value % 253) as u8).collect();
    let mut zip = zip_of(&[("liar.pdf", &content)], CompressionMethod::Deflated);
    patch_declared_size(&mut zip, 1000);
    let error = refuse(packet_with_zip(&zip).as_bytes());
    assert_archive_problem(&error, |problem| {
        matches!(
            problem,
            ArchiveProblem::LongerThanDeclared { declared: 1000 }
        )
    });
    assert!(error.to_string().contains("more bytes than"), "{error}");
}

#[test]
fn zip_with_two_entries_is_refused() {
    let zip = zip_of(
        &[("a.pdf", b"one"), ("b.pdf", b"two")],
        CompressionMethod::Deflated,
    );
    let error = refuse(packet_with_zip(&zip).as_bytes());
    assert_archive_problem(&error, |problem| {
        matches!(problem, ArchiveProblem::EntryCount { count: 2 })
    });
    assert!(error.to_string().contains("exactly one file"), "{error}");
}

#[test]
fn zip_entry_climbing_out_is_refused() {
    let zip = zip_of(
        &[("../../etc/passwd", b"root:x:0:0")],
        CompressionMethod::Deflated,
    );
    let error = refuse(packet_with_zip(&zip).as_bytes());
    assert_archive_problem(&error, |problem| {
        matches!(problem, ArchiveProblem::UnsafeEntryName { .. })
    });
    assert!(error.to_string().contains("../../etc/passwd"), "{error}");
}

#[test]
fn zip_entry_with_absolute_path_is_refused() {
    let zip = zip_of(
        &[("/etc/cron.d/evil", b"* * * * * root sh")],
        CompressionMethod::Deflated,
    );
    let error = refuse(packet_with_zip(&zip).as_bytes());
    assert_archive_problem(
        &error,
        |problem| matches!(problem, ArchiveProblem::UnsafeEntryName { reason, .. } if reason.contains("separator")),
    );
}

#[test]
fn zip_entry_with_nul_or_control_characters_is_refused() {
    for name in ["evil\0.pdf", "evil\u{1}.pdf", "bad\nname.pdf"] {
        let zip = zip_of(&[(name, b"x")], CompressionMethod::Stored);
        let error = refuse(packet_with_zip(&zip).as_bytes());
        assert_archive_problem(
            &error,
            |problem| matches!(problem, ArchiveProblem::UnsafeEntryName { reason, .. } if reason.contains("control")),
        );
    }
}

#[test]
fn attachment_name_with_a_path_is_refused() {
    let zip = zip_of(&[("file.pdf", b"%PDF-1.7")], CompressionMethod::Deflated);
    let content = base64::engine::general_purpose::STANDARD.encode(zip);
    let packet = edoc_packet(
        "",
        &attachment_xml("cid:1", "../reports/file.pdf", &content),
    );
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::UnsafeAttachmentName { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("path separator"), "{error}");
}

#[test]
fn crc_mismatch_is_refused() {
    let content = b"The quick brown fox jumps over the lazy dog".repeat(10);
    let mut zip = zip_of(&[("fox.pdf", &content)], CompressionMethod::Stored);
    let data_at = zip
        .windows(9)
        .position(|window| window == b"The quick")
        .expect("stored data is visible");
    zip[data_at + 100] ^= 0x20;
    let error = refuse(packet_with_zip(&zip).as_bytes());
    assert_archive_problem(&error, |problem| {
        matches!(problem, ArchiveProblem::CrcMismatch)
    });
    assert!(error.to_string().contains("CRC-32"), "{error}");
}

#[test]
fn corrupt_compressed_data_is_refused() {
    let content: Vec<u8> = (0..50_000u32)
        .map(|value| (value * 31 % 97) as u8)
        .collect();
    let mut zip = zip_of(&[("data.pdf", &content)], CompressionMethod::Deflated);
    // The compressed data starts after the 30-byte local header and the name.
    for byte in &mut zip[40..60] {
        *byte ^= 0x5a;
    }
    let error = refuse(packet_with_zip(&zip).as_bytes());
    assert_archive_problem(&error, |problem| {
        matches!(
            problem,
            ArchiveProblem::CrcMismatch
                | ArchiveProblem::Corrupt { .. }
                | ArchiveProblem::ShorterThanDeclared { .. }
        )
    });
}

#[test]
fn truncated_zip_is_refused() {
    let content: Vec<u8> = (0..50_000u32)
        .map(|value| (value * 31 % 97) as u8)
        .collect();
    let zip = zip_of(&[("data.pdf", &content)], CompressionMethod::Deflated);
    let error = refuse(packet_with_zip(&zip[..zip.len() / 2]).as_bytes());
    assert_archive_problem(&error, |problem| {
        matches!(problem, ArchiveProblem::NotZip { .. })
    });
    assert!(error.to_string().contains("not a readable ZIP"), "{error}");
}

#[test]
fn base64_of_something_else_is_not_a_zip() {
    let error = refuse(packet_with_zip(b"%PDF-1.7 this was never zipped").as_bytes());
    assert_archive_problem(&error, |problem| {
        matches!(problem, ArchiveProblem::NotZip { .. })
    });
}

#[test]
fn truncated_xml_is_refused_with_the_offset() {
    let zip = zip_of(&[("file.pdf", b"%PDF-1.7")], CompressionMethod::Deflated);
    let packet = packet_with_zip(&zip);
    for cut in [10, 200, packet.len() - 100, packet.len() - 10] {
        let error = refuse(&packet.as_bytes()[..cut]);
        assert!(
            matches!(error, EdxmlError::Truncated { .. }),
            "cut at {cut}: {error:?}"
        );
        assert!(error.to_string().starts_with("truncated packet"), "{error}");
    }
}

#[test]
fn packet_over_the_size_limit_is_refused() {
    let zip = zip_of(&[("file.pdf", &[1u8; 100_000])], CompressionMethod::Stored);
    let limits = Limits {
        max_packet_bytes: 50_000,
        ..Limits::default()
    };
    let error = refuse_with(packet_with_zip(&zip).as_bytes(), &limits);
    assert!(
        matches!(error, EdxmlError::PacketTooLarge { limit: 50_000 }),
        "{error:?}"
    );
}

#[test]
fn too_many_attachments_are_refused() {
    let zip = zip_of(&[("file.pdf", b"%PDF")], CompressionMethod::Deflated);
    let content = base64::engine::general_purpose::STANDARD.encode(zip);
    let attachments: String = (1..=4)
        .map(|index| attachment_xml(&format!("cid:{index}"), "file.pdf", &content))
        .collect();
    let limits = Limits {
        max_attachments: 3,
        ..Limits::default()
    };
    let error = refuse_with(edoc_packet("", &attachments).as_bytes(), &limits);
    assert!(
        matches!(error, EdxmlError::TooManyAttachments { limit: 3, .. }),
        "{error:?}"
    );
}

#[test]
fn attachments_over_the_total_budget_are_refused() {
    let zip = zip_of(&[("file.pdf", &[9u8; 30_000])], CompressionMethod::Stored);
    let content = base64::engine::general_purpose::STANDARD.encode(zip);
    let attachments: String = (1..=3)
        .map(|index| attachment_xml(&format!("cid:{index}"), "file.pdf", &content))
        .collect();
    let limits = Limits {
        max_total_attachment_bytes: 70_000,
        ..Limits::default()
    };
    let error = refuse_with(edoc_packet("", &attachments).as_bytes(), &limits);
    assert!(
        matches!(error, EdxmlError::AttachmentsTooLarge { limit: 70_000 }),
        "{error:?}"
    );
}

#[test]
fn invalid_utf8_is_refused() {
    let mut packet = edoc_packet("", "").into_bytes();
    let subject_at = packet
        .windows(5)
        .position(|window| window == b"Th\xe1\xbb\xad")
        .expect("the subject");
    packet[subject_at + 2] = 0xff;
    let error = refuse(&packet);
    assert!(matches!(error, EdxmlError::InvalidUtf8 { .. }), "{error:?}");
    assert!(error.to_string().contains("UTF-8"), "{error}");
}

#[test]
fn wrong_root_is_refused() {
    let error =
        refuse(format!("<?xml version=\"1.0\"?><html xmlns=\"{NAMESPACE}\"></html>").as_bytes());
    assert!(matches!(error, EdxmlError::WrongRoot { .. }), "{error:?}");
    assert!(
        error.to_string().contains("the root element is <html>"),
        "{error}"
    );
}

#[test]
fn wrong_namespace_is_refused() {
    let packet = edoc_packet("", "").replace(
        &format!("<edXML xmlns=\"{NAMESPACE}\">"),
        "<edXML xmlns=\"urn:other\">",
    );
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::WrongRoot { ref namespace, .. } if namespace == "urn:other"),
        "{error:?}"
    );
}

#[test]
fn unknown_status_code_is_refused() {
    let packet = format!(
        r#"<edXML xmlns="{NAMESPACE}"><edXMLEnvelope><edXMLHeader><MessageHeader>
        <From><OrganId>000.00.00.H41</OrganId></From><StatusCode>99</StatusCode>
        </MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"#
    );
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::UnknownStatusCode { ref code } if code == "99"),
        "{error:?}"
    );
    assert!(error.to_string().contains("\"99\""), "{error}");
}

#[test]
fn unknown_entity_is_refused() {
    let packet = edoc_packet("", "").replace("Thử nghiệm", "a &foo; b");
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::UnknownEntity { ref name, .. } if name == "foo"),
        "{error:?}"
    );
    assert!(error.to_string().contains("&foo;"), "{error}");
}

#[test]
fn huge_header_text_is_refused() {
    let packet = edoc_packet("", "").replace("Thử nghiệm", &"x".repeat(5 * 1024 * 1024));
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::HeaderTooLarge { .. }),
        "{error:?}"
    );
}

#[test]
fn huge_signature_counts_against_the_header() {
    let signature = format!(
        "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">{}</Signature>",
        "A".repeat(5 * 1024 * 1024)
    );
    let packet = edoc_packet("", "").replace(
        "</edXML:edXMLHeader>",
        &format!("{signature}</edXML:edXMLHeader>"),
    );
    assert!(matches!(
        refuse(packet.as_bytes()),
        EdxmlError::HeaderTooLarge { .. }
    ));
}

#[test]
fn stray_bytes_before_the_declaration_are_refused_with_the_offset() {
    let packet = format!("1212{}", edoc_packet("", ""));
    let error = refuse(packet.as_bytes());
    assert_eq!(
        error.to_string(),
        "not an edXML packet: 4 unexpected bytes before the XML declaration at offset 0"
    );
}

#[test]
fn stray_text_before_the_root_is_refused() {
    let packet = edoc_packet("", "").replacen("\n<edXML", "\ngarbage<edXML", 1);
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::BytesBeforeRoot { count: 8, .. }),
        "{error:?}"
    );
}

#[test]
fn content_after_the_root_is_refused() {
    let packet = format!("{}<edXML/>", edoc_packet("", ""));
    assert!(matches!(
        refuse(packet.as_bytes()),
        EdxmlError::ContentAfterRoot { .. }
    ));
}

#[test]
fn manifest_reference_without_its_attachment_is_refused() {
    let manifest = "<edXML:Reference><edXML:ContentId>cid:7</edXML:ContentId><edXML:AttachmentName>x.pdf</edXML:AttachmentName></edXML:Reference>";
    let error = refuse(edoc_packet(manifest, "").as_bytes());
    assert!(
        matches!(error, EdxmlError::MissingAttachment { ref content_id } if content_id == "cid:7"),
        "{error:?}"
    );
}

#[test]
fn missing_message_header_is_refused() {
    let packet = format!(
        "<edXML xmlns=\"{NAMESPACE}\"><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>"
    );
    assert!(matches!(
        refuse(packet.as_bytes()),
        EdxmlError::MissingMessageHeader
    ));
}

#[test]
fn undeclared_element_prefix_is_refused() {
    let packet = edoc_packet("", "").replace(
        "<edXML:Subject>Thử nghiệm</edXML:Subject>",
        "<x:Subject>a</x:Subject>",
    );
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::UndeclaredPrefix { ref prefix, .. } if prefix == "x"),
        "{error:?}"
    );
}

#[test]
fn too_many_elements_are_refused() {
    let packet = edoc_packet("", "").replace(
        "<edXML:Subject>",
        &format!("{}<edXML:Subject>", "<b/>".repeat(30_000)),
    );
    assert!(matches!(
        refuse(packet.as_bytes()),
        EdxmlError::TooManyElements { limit: 20_000, .. }
    ));
}

#[test]
fn other_encodings_are_refused() {
    let packet = edoc_packet("", "").replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"");
    assert!(matches!(
        refuse(packet.as_bytes()),
        EdxmlError::UnsupportedEncoding { .. }
    ));
}

#[test]
fn empty_and_non_xml_input_is_refused() {
    assert!(matches!(refuse(b""), EdxmlError::Empty));
    assert!(matches!(
        refuse(b"PK\x03\x04 not xml at all"),
        EdxmlError::BytesBeforeRoot { .. } | EdxmlError::Truncated { .. }
    ));
}

#[test]
fn garbage_in_the_base64_is_unreadable_but_the_packet_reads() {
    let packet = edoc_packet("", &attachment_xml("cid:1", "file.pdf", "UEsDBA&amp;=="));
    let staging = tempfile::tempdir().expect("a staging directory");
    let read = read_packet(packet.as_bytes(), staging.path(), &Limits::default())
        .expect("the packet reads");
    assert_eq!(read.attachments.len(), 1);
    assert!(
        matches!(&read.attachments[0].content, docgate::edxml::AttachmentContent::Unreadable { reason } if reason.contains("reference"))
    );
    drop(read);
    assert_staging_empty(staging.path());
}

/// Found by the fuzzer: quick-xml echoes a broken end tag, line break and all, and the
/// message must still be one line.
#[test]
fn broken_end_tag_with_a_line_break_gives_a_one_line_message() {
    let packet = edoc_packet("", "").replace(
        "<edXML:Subject>Thử nghiệm</edXML:Subject>",
        "<edXML:Subject>Thử nghiệm</edXML:Subject:\r\n          <edXML:Fax>",
    );
    let error = refuse(packet.as_bytes());
    assert!(
        matches!(error, EdxmlError::MalformedXml { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("\\r\\n"), "{error}");
}
