//! Build → parse → equal, over generated headers (Vietnamese text, XML special characters,
//! inner whitespace) and generated attachments; and one large attachment streamed through
//! write and read with its SHA-256 checked.

use std::fs;
use std::io::{self, Read};

use docgate::edxml::{
    read_packet_file, write_packet, AttachmentContent, AttachmentSource, Business, BusinessDocType,
    Code, DocumentType, EdocHeader, Header, Limits, Organization, OtherInfo, OutgoingAttachment,
    PromulgationInfo, Receiver, ReplacementInfo, ResponseFor, SignerInfo, StaffInfo, StatusCode,
    StatusHeader, TraceHeader,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

/// Text as producers write it: Vietnamese, markup characters, inner whitespace. Values are
/// trimmed on read, so generated values are trimmed and non-empty.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđĐỆƯ<&>\"'; \t\r\n/.,:()-]{1,30}"
        .prop_map(|value| value.trim_matches([' ', '\t', '\r', '\n']).to_owned())
        .prop_filter("a value is never blank", |value| !value.is_empty())
}

fn optional() -> impl Strategy<Value = Option<String>> {
    of(text())
}

fn organization() -> impl Strategy<Value = Organization> {
    (
        text(),
        optional(),
        optional(),
        optional(),
        optional(),
        optional(),
        optional(),
        optional(),
    )
        .prop_map(
            |(
                organ_id,
                organization_in_charge,
                organ_name,
                organ_add,
                email,
                telephone,
                fax,
                website,
            )| Organization {
                organ_id,
                organization_in_charge,
                organ_name,
                organ_add,
                email,
                telephone,
                fax,
                website,
            },
        )
}

fn staff_info() -> impl Strategy<Value = StaffInfo> {
    (optional(), optional(), optional(), optional()).prop_map(
        |(department, staff, email, mobile)| StaffInfo {
            department,
            staff,
            email,
            mobile,
        },
    )
}

fn response_for() -> impl Strategy<Value = ResponseFor> {
    (optional(), optional(), optional(), optional()).prop_map(
        |(organ_id, code, promulgation_date, document_id)| ResponseFor {
            organ_id,
            code,
            promulgation_date,
            document_id,
        },
    )
}

fn business() -> impl Strategy<Value = Business> {
    let doc_type = prop_oneof![
        Just(BusinessDocType::New),
        Just(BusinessDocType::Recall),
        Just(BusinessDocType::Update),
        Just(BusinessDocType::Replace)
    ];
    (
        optional(),
        doc_type,
        optional(),
        optional(),
        staff_info(),
        vec(
            (optional(), optional()).prop_map(|(organ_id, receiver_type)| Receiver {
                organ_id,
                receiver_type,
            }),
            0..3,
        ),
        vec(
            (optional(), vec(text(), 0..3)).prop_map(|(document_id, organ_ids)| ReplacementInfo {
                document_id,
                organ_ids,
            }),
            0..3,
        ),
        optional(),
        optional(),
    )
        .prop_map(
            |(
                document_id,
                business_doc_type,
                business_doc_reason,
                paper,
                staff_info,
                receiver_list,
                replacement_info_list,
                document_info,
                document_receiver,
            )| Business {
                document_id,
                business_doc_type,
                business_doc_reason,
                paper,
                staff_info,
                receiver_list,
                replacement_info_list,
                document_info,
                document_receiver,
            },
        )
}

fn edoc_header() -> impl Strategy<Value = Header> {
    let parties = (organization(), vec(organization(), 1..3), optional());
    let document = (
        (optional(), optional()).prop_map(|(code_number, code_notation)| Code {
            code_number,
            code_notation,
        }),
        (optional(), optional()).prop_map(|(place, promulgation_date)| PromulgationInfo {
            place,
            promulgation_date,
        }),
        (optional(), optional(), optional()).prop_map(|(document_type, type_detail, type_name)| {
            DocumentType {
                document_type,
                type_detail,
                type_name,
            }
        }),
        optional(),
        optional(),
        (optional(), optional(), optional()).prop_map(|(competence, position, full_name)| {
            SignerInfo {
                competence,
                position,
                full_name,
            }
        }),
        optional(),
    );
    let other_info = (
        optional(),
        optional(),
        optional(),
        optional(),
        optional(),
        vec(text(), 0..3),
    )
        .prop_map(
            |(
                priority,
                sphere_of_promulgation,
                typer_notation,
                promulgation_amount,
                page_amount,
                appendixes,
            )| OtherInfo {
                priority,
                sphere_of_promulgation,
                typer_notation,
                promulgation_amount,
                page_amount,
                appendixes,
            },
        );
    let routing = (
        vec(text(), 0..3),
        other_info,
        // Entries without any value are dropped on read, so each carries a DocumentId.
        vec(
            (response_for(), text()).prop_map(|(response, id)| ResponseFor {
                document_id: Some(id),
                ..response
            }),
            0..2,
        ),
        optional(),
        vec(
            (optional(), optional()).prop_map(|(organ_id, timestamp)| TraceHeader {
                organ_id,
                timestamp,
            }),
            0..3,
        ),
        of(business()),
    );
    (parties, document, routing).prop_map(
        |(
            (from, to, document_id),
            (code, promulgation_info, document_type, subject, content, signer_info, due_date),
            (to_places, other_info, response_for, steering_type, trace_headers, business),
        )| {
            Header::Edoc(EdocHeader {
                from,
                to,
                document_id,
                code,
                promulgation_info,
                document_type,
                subject,
                content,
                signer_info,
                due_date,
                to_places,
                other_info,
                response_for,
                steering_type,
                trace_headers,
                business,
            })
        },
    )
}

fn status_header() -> impl Strategy<Value = Header> {
    (
        organization(),
        response_for(),
        staff_info(),
        0..StatusCode::ALL.len(),
        optional(),
        optional(),
    )
        .prop_map(
            |(from, response_for, staff_info, code_index, description, timestamp)| {
                Header::Status(StatusHeader {
                    from,
                    response_for,
                    staff_info,
                    status_code: StatusCode::ALL[code_index],
                    description,
                    timestamp,
                })
            },
        )
}

/// A generated attachment: name, description, content type, bytes.
type GeneratedAttachment = (String, Option<String>, Option<String>, Vec<u8>);

fn attachments() -> impl Strategy<Value = Vec<GeneratedAttachment>> {
    vec(
        (
            "[a-zA-Z0-9àếđỆ][a-zA-Z0-9àếđỆ _.()-]{0,20}\\.(pdf|docx|txt)",
            optional(),
            of("application/[a-z]{1,10}"),
            vec(any::<u8>(), 0..3000),
        ),
        0..4,
    )
}

fn round_trip(header: &Header, generated: &[GeneratedAttachment]) -> Result<(), TestCaseError> {
    let directory = tempfile::tempdir().expect("a temp directory");
    let outgoing: Vec<OutgoingAttachment> = generated
        .iter()
        .map(
            |(name, description, content_type, bytes)| OutgoingAttachment {
                content_id: None,
                name: name.clone(),
                description: description.clone(),
                content_type: content_type.clone(),
                source: AttachmentSource::Reader(std::sync::Mutex::new(Box::new(io::Cursor::new(
                    bytes.clone(),
                )))),
            },
        )
        .collect();
    let path = directory.path().join("packet.edxml");
    write_packet(header, &outgoing, fs::File::create(&path).expect("create"))
        .expect("a valid packet is written");
    let staging = tempfile::tempdir().expect("a staging directory");
    let packet = read_packet_file(&path, staging.path(), &Limits::default())
        .expect("our own packet reads back");
    prop_assert_eq!(&packet.header, header);
    prop_assert_eq!(packet.attachments.len(), generated.len());
    for (index, (read, (name, description, content_type, bytes))) in
        packet.attachments.iter().zip(generated).enumerate()
    {
        prop_assert_eq!(&read.name, name);
        prop_assert_eq!(&read.description, description);
        prop_assert_eq!(&read.content_type, content_type);
        prop_assert_eq!(read.content_id.clone(), format!("cid:{}", index + 1));
        let AttachmentContent::Extracted(file) = &read.content else {
            return Err(TestCaseError::fail(format!(
                "attachment {index} is unreadable: {:?}",
                read.content
            )));
        };
        prop_assert_eq!(&file.zip_entry_name, name);
        prop_assert_eq!(&fs::read(file.staged_path()).expect("staged file"), bytes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn edoc_packets_round_trip(header in edoc_header(), generated in attachments()) {
        round_trip(&header, &generated)?;
    }

    #[test]
    fn status_packets_round_trip(header in status_header()) {
        round_trip(&header, &[])?;
    }

    #[test]
    fn headers_round_trip_through_json(header in prop_oneof![edoc_header(), status_header()]) {
        let json = serde_json::to_string(&header).expect("a header serializes");
        let back: Header = serde_json::from_str(&json).expect("and reads back");
        prop_assert_eq!(back, header);
    }
}

/// Pseudo-random bytes, generated on the fly (xorshift64), hashed as they are handed out.
struct GeneratedFile {
    state: u64,
    remaining: u64,
    digest: ring::digest::Context,
}

impl Read for GeneratedFile {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = buffer
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX))
            / 8
            * 8;
        let count = if count == 0 {
            buffer.len().min(self.remaining as usize)
        } else {
            count
        };
        for chunk in buffer[..count].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.digest.update(&buffer[..count]);
        self.remaining -= count as u64;
        Ok(count)
    }
}

#[test]
fn a_large_attachment_streams_through_write_and_read() {
    const SIZE: u64 = 50 * 1024 * 1024;
    let directory = tempfile::tempdir().expect("a temp directory");
    let generated = std::sync::Arc::new(std::sync::Mutex::new(GeneratedFile {
        state: 0x9e37_79b9_7f4a_7c15,
        remaining: SIZE,
        digest: ring::digest::Context::new(&ring::digest::SHA256),
    }));
    struct Shared(std::sync::Arc<std::sync::Mutex<GeneratedFile>>);
    impl Read for Shared {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").read(buffer)
        }
    }
    let agency = Organization {
        organ_id: "000.00.00.H41".into(),
        ..Organization::default()
    };
    let header = Header::Edoc(EdocHeader {
        from: agency.clone(),
        to: vec![agency],
        ..EdocHeader::default()
    });
    let attachment =
        OutgoingAttachment::from_reader("big.pdf", Box::new(Shared(generated.clone())));
    let path = directory.path().join("big.edxml");
    write_packet(
        &header,
        &[attachment],
        fs::File::create(&path).expect("create"),
    )
    .expect("written");
    let expected = {
        let mut generated = generated.lock().expect("not poisoned");
        assert_eq!(generated.remaining, 0);
        hex::encode(
            std::mem::replace(
                &mut generated.digest,
                ring::digest::Context::new(&ring::digest::SHA256),
            )
            .finish(),
        )
    };
    let staging = tempfile::tempdir().expect("a staging directory");
    let packet = read_packet_file(&path, staging.path(), &Limits::default()).expect("reads back");
    let AttachmentContent::Extracted(file) = &packet.attachments[0].content else {
        panic!("extracts, got {:?}", packet.attachments[0].content);
    };
    assert_eq!(file.size, SIZE);
    assert_eq!(file.sha256, expected);
}
