//! Every packet of the conformance corpus (`shared/conformance/edxml/`) gives exactly the
//! outcome its README lists, and every conformance edoc survives a rewrite by our writer.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use docgate::edxml::{
    read_packet_file, write_packet, AttachmentContent, BusinessDocType, EdocHeader, EdxmlError,
    Header, Limits, OutgoingAttachment, Packet, StatusCode, StatusHeader,
};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/edxml")
}

fn read(relative: &str, staging: &Path) -> Result<Packet, EdxmlError> {
    read_packet_file(&corpus().join(relative), staging, &Limits::default())
}

fn edoc(packet: &Packet) -> &EdocHeader {
    match &packet.header {
        Header::Edoc(edoc) => edoc,
        other => panic!("expected an edoc packet, got {other:?}"),
    }
}

fn status(packet: &Packet) -> &StatusHeader {
    match &packet.header {
        Header::Status(status) => status,
        other => panic!("expected a status packet, got {other:?}"),
    }
}

fn staging() -> tempfile::TempDir {
    tempfile::tempdir().expect("a staging directory")
}

fn assert_empty(directory: &Path) {
    let left: Vec<_> = fs::read_dir(directory)
        .expect("staging dir is readable")
        .collect();
    assert!(left.is_empty(), "staging dir must be empty, holds {left:?}");
}

#[test]
fn every_corpus_file_is_covered() {
    let mut files = Vec::new();
    for folder in ["vdxp-sdk", "bkav-hub"] {
        for entry in fs::read_dir(corpus().join(folder)).expect("corpus folder") {
            files.push(format!(
                "{folder}/{}",
                entry.expect("entry").file_name().to_string_lossy()
            ));
        }
    }
    files.sort();
    assert_eq!(files.len(), 18, "the corpus changed: {files:?}");
}

#[test]
fn sdk_edoc_with_placeholder_content_parses_with_one_unreadable_attachment() {
    let dir = staging();
    let packet = read("vdxp-sdk/edoc.edxml", dir.path()).expect("vdxp-sdk/edoc.edxml parses");
    let header = edoc(&packet);
    assert_eq!(header.from.organ_id, "002.00.20.H13");
    assert_eq!(header.to.len(), 1);
    assert_eq!(
        header.document_id.as_deref(),
        Some("9fbfbad2-f1f8-4256-a2eb-50fb1061cddb")
    );
    assert!(header.business.is_none());
    assert_eq!(header.trace_headers.len(), 1);
    assert_eq!(packet.attachments.len(), 1);
    let attachment = &packet.attachments[0];
    assert_eq!(attachment.name, "GUIDE_INSTALL OPENVPN.SIGNED.PDF");
    assert_eq!(
        attachment.content_id_key(),
        "36b8a92e-f054-11e7-842b-005056b672fc"
    );
    assert_eq!(attachment.description.as_deref(), Some("Description 1"));
    match &attachment.content {
        AttachmentContent::Unreadable { reason } => assert!(reason.contains("'$'"), "{reason}"),
        other => panic!("the placeholder cannot decode, got {other:?}"),
    }
}

#[test]
fn sdk_edoc_new_with_stray_bytes_is_refused_naming_them() {
    let dir = staging();
    let error = read("vdxp-sdk/edoc_new.edxml", dir.path()).expect_err("stray bytes before <?xml");
    assert_eq!(
        error.to_string(),
        "not an edXML packet: 4 unexpected bytes before the XML declaration at offset 0"
    );
    assert_empty(dir.path());
}

/// The one file inside the corpus's attachment ZIPs.
const CORPUS_FILE_SIZE: u64 = 388_347;
const CORPUS_FILE_CRC: u32 = 0xea85_1a7b;

fn check_corpus_attachment(packet: &Packet) {
    assert_eq!(packet.attachments.len(), 1);
    let attachment = &packet.attachments[0];
    assert_eq!(attachment.name, "1896_QD-TTg_m_294779.doc");
    assert_eq!(attachment.content_id, "cid:209");
    let AttachmentContent::Extracted(file) = &attachment.content else {
        panic!(
            "the corpus attachment extracts, got {:?}",
            attachment.content
        );
    };
    assert_eq!(file.size, CORPUS_FILE_SIZE);
    let bytes = fs::read(file.staged_path()).expect("the staged file reads");
    assert_eq!(bytes.len() as u64, CORPUS_FILE_SIZE);
    assert_eq!(crc32(&bytes), CORPUS_FILE_CRC);
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    assert_eq!(file.sha256, hex::encode(digest.as_ref()));
}

/// CRC-32 (IEEE), computed independently of the zip crate.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn sdk_replacement_reads_its_replacement_list() {
    let dir = staging();
    let packet = read("vdxp-sdk/edoc_replacement.edxml", dir.path()).expect("parses");
    let business = edoc(&packet).business.as_ref().expect("a Bussiness block");
    assert_eq!(business.business_doc_type, BusinessDocType::Replace);
    assert_eq!(business.replacement_info_list.len(), 2);
    let first = &business.replacement_info_list[0];
    assert_eq!(
        first.document_id.as_deref(),
        Some("000.00.00.G22,2014/01/30,7806/VPCP-TTĐT")
    );
    assert_eq!(first.organ_ids, ["000.00.00.H41", "000.00.00.H14"]);
    check_corpus_attachment(&packet);
}

#[test]
fn sdk_revocation_is_a_recall() {
    let dir = staging();
    let packet = read("vdxp-sdk/edoc_revocation.edxml", dir.path()).expect("parses");
    let business = edoc(&packet).business.as_ref().expect("a Bussiness block");
    assert_eq!(business.business_doc_type, BusinessDocType::Recall);
    assert_eq!(
        business.business_doc_reason.as_deref(),
        Some("Thu hồi văn bản điện tử")
    );
    check_corpus_attachment(&packet);
}

#[test]
fn updates_read_their_receiver_list() {
    for file in ["vdxp-sdk/edoc_update.edxml", "bkav-hub/edoc_update.edxml"] {
        let dir = staging();
        let packet = read(file, dir.path()).unwrap_or_else(|error| panic!("{file}: {error}"));
        let header = edoc(&packet);
        assert_eq!(header.to.len(), 3, "{file}");
        let business = header.business.as_ref().expect("a Bussiness block");
        assert_eq!(
            business.business_doc_type,
            BusinessDocType::Update,
            "{file}"
        );
        assert_eq!(business.document_info.as_deref(), Some("1"));
        assert_eq!(business.document_receiver.as_deref(), Some("1"));
        let receivers: Vec<_> = business
            .receiver_list
            .iter()
            .map(|receiver| {
                (
                    receiver.organ_id.as_deref(),
                    receiver.receiver_type.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            receivers,
            [
                (Some("000.00.00.H41"), Some("0")),
                (Some("000.00.00.H14"), Some("1"))
            ]
        );
        assert_eq!(
            business.staff_info.staff.as_deref(),
            Some("Nguyễn Thị Ngọc Trâm")
        );
        check_corpus_attachment(&packet);
    }
}

#[test]
fn hub_new_edoc_parses_with_one_attachment() {
    let dir = staging();
    let packet = read("bkav-hub/edoc_new.edxml", dir.path()).expect("parses");
    let header = edoc(&packet);
    assert_eq!(
        header
            .business
            .as_ref()
            .map(|business| business.business_doc_type),
        Some(BusinessDocType::New)
    );
    assert_eq!(header.code.code_number.as_deref(), Some("2491"));
    assert_eq!(header.code.code_notation.as_deref(), Some("STC-BCTC"));
    assert_eq!(header.to_places.len(), 2);
    check_corpus_attachment(&packet);
    drop(packet);
    assert_empty(dir.path());
}

#[test]
fn status_packets_read_code_response_for_and_timestamp() {
    let cases = [
        ("vdxp-sdk/status.edxml", StatusCode::Arrived),
        ("vdxp-sdk/status_inbox_01.edxml", StatusCode::Arrived),
        ("vdxp-sdk/status_rejection_02.edxml", StatusCode::Refused),
        ("vdxp-sdk/status_acceptance_03.edxml", StatusCode::Accepted),
        ("vdxp-sdk/status_assignment_04.edxml", StatusCode::Assigned),
        (
            "vdxp-sdk/status_processing_05.edxml",
            StatusCode::Processing,
        ),
        ("vdxp-sdk/status_finish_06.edxml", StatusCode::Completed),
        (
            "vdxp-sdk/status_cancellation_13.edxml",
            StatusCode::RecallRequested,
        ),
        (
            "vdxp-sdk/status_change-acceptance_15.edxml",
            StatusCode::RecallAgreed,
        ),
        (
            "vdxp-sdk/status_change-rejection_16.edxml",
            StatusCode::RecallRefused,
        ),
        (
            "bkav-hub/status_processing_05.edxml",
            StatusCode::Processing,
        ),
    ];
    for (file, code) in cases {
        let dir = staging();
        let packet = read(file, dir.path()).unwrap_or_else(|error| panic!("{file}: {error}"));
        let header = status(&packet);
        assert_eq!(header.status_code, code, "{file}");
        assert!(packet.attachments.is_empty(), "{file}");
        // Status 13 travels from the sender to the receiver; the others the other way.
        let (from, about) = if code == StatusCode::RecallRequested {
            ("000.00.00.G22", "000.00.00.H41")
        } else {
            ("000.00.00.H41", "000.00.00.G22")
        };
        assert_eq!(header.from.organ_id, from, "{file}");
        assert_eq!(
            header.response_for.organ_id.as_deref(),
            Some(about),
            "{file}"
        );
        assert_eq!(
            header.response_for.document_id.as_deref(),
            Some("000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"),
            "{file}"
        );
        assert!(header.response_for.code.is_some(), "{file}");
        let timestamp = header.timestamp.as_deref().expect("a Timestamp");
        assert!(
            docgate::edxml::is_valid_timestamp(timestamp),
            "{file}: {timestamp}"
        );
    }
}

/// Reads the staged bytes of every extracted attachment.
fn attachment_bytes(packet: &Packet) -> Vec<Option<Vec<u8>>> {
    packet
        .attachments
        .iter()
        .map(|attachment| match &attachment.content {
            AttachmentContent::Extracted(file) => {
                let mut bytes = Vec::new();
                fs::File::open(file.staged_path())
                    .and_then(|mut staged| staged.read_to_end(&mut bytes))
                    .expect("the staged file reads");
                Some(bytes)
            }
            AttachmentContent::Unreadable { .. } => None,
        })
        .collect()
}

#[test]
fn every_conformance_edoc_survives_a_rewrite() {
    let edocs = [
        "vdxp-sdk/edoc.edxml",
        "vdxp-sdk/edoc_replacement.edxml",
        "vdxp-sdk/edoc_revocation.edxml",
        "vdxp-sdk/edoc_update.edxml",
        "bkav-hub/edoc_new.edxml",
        "bkav-hub/edoc_update.edxml",
    ];
    for file in edocs {
        let dir = staging();
        let original = read(file, dir.path()).unwrap_or_else(|error| panic!("{file}: {error}"));
        let original_bytes = attachment_bytes(&original);
        // An unreadable attachment has no bytes to send again, so it is left out.
        let outgoing: Vec<OutgoingAttachment> = original
            .attachments
            .iter()
            .filter_map(|attachment| match &attachment.content {
                AttachmentContent::Extracted(extracted) => Some(OutgoingAttachment {
                    content_id: Some(attachment.content_id.clone()),
                    name: attachment.name.clone(),
                    description: attachment.description.clone(),
                    content_type: attachment.content_type.clone(),
                    source: docgate::edxml::AttachmentSource::File(
                        extracted.staged_path().to_owned(),
                    ),
                }),
                AttachmentContent::Unreadable { .. } => None,
            })
            .collect();
        let rewritten_path = dir.path().join("rewritten.edxml");
        let output = fs::File::create(&rewritten_path).expect("create the rewrite");
        write_packet(&original.header, &outgoing, output)
            .unwrap_or_else(|error| panic!("{file}: {error}"));
        let second_dir = staging();
        let reread = read_packet_file(&rewritten_path, second_dir.path(), &Limits::default())
            .unwrap_or_else(|error| panic!("{file} rewritten: {error}"));
        assert_eq!(reread.header, original.header, "{file}");
        let expected: Vec<_> = original_bytes.into_iter().flatten().map(Some).collect();
        assert_eq!(attachment_bytes(&reread), expected, "{file}");
        for (before, after) in original
            .attachments
            .iter()
            .filter(|attachment| matches!(attachment.content, AttachmentContent::Extracted(_)))
            .zip(&reread.attachments)
        {
            assert_eq!(before.name, after.name, "{file}");
            assert_eq!(before.content_id_key(), after.content_id_key(), "{file}");
            assert_eq!(before.description, after.description, "{file}");
            assert_eq!(before.content_type, after.content_type, "{file}");
        }
    }
}
