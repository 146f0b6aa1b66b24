//! The axis's rules, as pure functions: which system(s) a packet goes to and which
//! refusal (hub error code) it earns, and which transport-state change a receiver may make.
//! Decides only; never reads the store, never touches files or HTTP.

use std::collections::BTreeMap;

use super::config::Directory;
use crate::edxml::{BusinessDocType, EdocHeader, Header, StatusHeader};
use crate::vdxp::{HubErrorCode, MessageType, TransportStatus};

/// Why a request is refused: the hub error code and a description the sender can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: HubErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: HubErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// Where an accepted packet goes and what the store records about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub sender_organ: String,
    pub message_type: MessageType,
    pub document_id: Option<String>,
    pub business_doc_type: Option<u8>,
    /// An edoc without a business block, or with BussinessDocType 0.
    pub new_document: bool,
    pub title: String,
    pub notation: String,
    /// One entry per recipient system, in system-id order.
    pub recipients: Vec<Recipient>,
}

/// One recipient system and the agency codes of it the packet is addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub system_id: String,
    pub organs: Vec<String>,
}

/// Routes a parsed packet sent by `caller` with `messagetype` = `declared`.
pub fn route_packet(
    header: &Header,
    declared: MessageType,
    caller: &str,
    directory: &Directory,
) -> Result<Route, Refusal> {
    let actual = match header {
        Header::Edoc(_) => MessageType::Edoc,
        Header::Status(_) => MessageType::Status,
    };
    if actual != declared {
        return Err(Refusal::new(
            HubErrorCode::NotStandard,
            format!(
                "the packet is an {} packet but XroadVnpt-messagetype says {}; send it with messagetype {}",
                actual.as_str(),
                declared.as_str(),
                actual.as_str()
            ),
        ));
    }
    let from = match header {
        Header::Edoc(edoc) => &edoc.from.organ_id,
        Header::Status(status) => &status.from.organ_id,
    };
    let caller_serves = directory
        .system(caller)
        .is_some_and(|system| system.serves(from));
    if !caller_serves {
        return Err(Refusal::new(
            HubErrorCode::SenderNotRegistered,
            format!("system {caller} may not send as agency {from:?} (From.OrganId); ask the axis operator to register the code for this system"),
        ));
    }
    match header {
        Header::Edoc(edoc) => route_edoc(edoc, directory),
        Header::Status(status) => route_status(status, directory),
    }
}

fn route_edoc(edoc: &EdocHeader, directory: &Directory) -> Result<Route, Refusal> {
    if edoc.to.is_empty() {
        return Err(Refusal::new(
            HubErrorCode::UnknownRecipient,
            "the packet names no recipient (To); add at least one agency code",
        ));
    }
    let mut recipients: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for to in &edoc.to {
        let Some((system_id, system)) = directory.system_for_agency(&to.organ_id) else {
            return Err(Refusal::new(
                HubErrorCode::UnknownRecipient,
                format!(
                    "recipient {:?} (To.OrganId) is not in this axis's directory; check the code with getAgenciesList",
                    to.organ_id
                ),
            ));
        };
        if system.locked {
            return Err(locked(&to.organ_id, system_id));
        }
        let organs = recipients.entry(system_id.to_owned()).or_default();
        if !organs.contains(&to.organ_id) {
            organs.push(to.organ_id.clone());
        }
    }
    let business_doc_type = edoc
        .business
        .as_ref()
        .map_or(BusinessDocType::New, |business| business.business_doc_type);
    let notation = match (&edoc.code.code_number, &edoc.code.code_notation) {
        (Some(number), Some(notation)) => format!("{number}/{notation}"),
        (Some(number), None) => number.clone(),
        (None, Some(notation)) => notation.clone(),
        (None, None) => String::new(),
    };
    Ok(Route {
        sender_organ: edoc.from.organ_id.clone(),
        message_type: MessageType::Edoc,
        document_id: edoc.document_id.clone(),
        business_doc_type: Some(business_doc_type.number()),
        new_document: business_doc_type == BusinessDocType::New,
        title: edoc.subject.clone().unwrap_or_default(),
        notation,
        recipients: into_recipients(recipients),
    })
}

fn route_status(status: &StatusHeader, directory: &Directory) -> Result<Route, Refusal> {
    let Some(original_sender) = status.response_for.organ_id.as_deref() else {
        return Err(Refusal::new(
            HubErrorCode::NotStandard,
            "the status packet has no ResponseFor.OrganId; name the agency that sent the document",
        ));
    };
    let Some((system_id, system)) = directory.system_for_agency(original_sender) else {
        return Err(Refusal::new(
            HubErrorCode::UnknownRecipient,
            format!("ResponseFor.OrganId {original_sender:?} is not in this axis's directory; check the code with getAgenciesList"),
        ));
    };
    if system.locked {
        return Err(locked(original_sender, system_id));
    }
    Ok(Route {
        sender_organ: status.from.organ_id.clone(),
        message_type: MessageType::Status,
        document_id: status.response_for.document_id.clone(),
        business_doc_type: None,
        new_document: false,
        title: format!("status {}", status.status_code),
        notation: status.response_for.code.clone().unwrap_or_default(),
        recipients: vec![Recipient {
            system_id: system_id.to_owned(),
            organs: vec![original_sender.to_owned()],
        }],
    })
}

fn locked(organ_id: &str, system_id: &str) -> Refusal {
    Refusal::new(
        HubErrorCode::RecipientLocked,
        format!("recipient {organ_id:?} (system {system_id}) is locked at this axis; retry later or contact the axis operator"),
    )
}

fn into_recipients(recipients: BTreeMap<String, Vec<String>>) -> Vec<Recipient> {
    recipients
        .into_iter()
        .map(|(system_id, organs)| Recipient { system_id, organs })
        .collect()
}

/// The state a delivery moves to when its receiver reports `requested`: `Ok(None)` when
/// nothing changes (repeating a state is fine), a refusal when a final state would change.
pub fn transport_transition(
    current: TransportStatus,
    requested: TransportStatus,
) -> Result<Option<TransportStatus>, Refusal> {
    use TransportStatus::{Done, Fail, Processing};
    match (current, requested) {
        (current, requested) if current == requested => Ok(None),
        (Processing, Done | Fail) => Ok(Some(requested)),
        (Done | Fail, _) | (Processing, Processing) => Err(Refusal::new(
            HubErrorCode::BadRequest,
            format!(
                "the delivery was already acknowledged {}; that is final and cannot become {}",
                current.as_str(),
                requested.as_str()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::axis::config::AxisConfig;
    use crate::edxml::{Business, Organization, ResponseFor, StaffInfo, StatusCode};

    fn directory() -> Directory {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = crate::demo::pki::TestCa::create("CA", dir.path(), "ca").expect("ca");
        ca.issue_server("axis", dir.path(), "axis").expect("server");
        let secret = "0123456789abcdef0123456789abcdef";
        let text = format!(
            r#"
[axis]
listen = "127.0.0.1:0"
state_dir = "state"
[tls]
certificate = "axis.pem"
key = "axis.key"
client_ca = "ca.pem"
[[systems]]
id = "sys-a"
name = "A"
secret = "{secret}"
agencies = ["001.01.10.H41"]
[[systems]]
id = "sys-b"
name = "B"
secret = "{secret}"
agencies = ["000.00.00.H41", "000.00.01.H41"]
[[systems]]
id = "sys-locked"
name = "L"
secret = "{secret}"
agencies = ["000.00.09.H41"]
locked = true
"#
        );
        AxisConfig::parse(&text, &dir.path().join("axis.toml"))
            .expect("config")
            .directory()
    }

    fn organ(code: &str) -> Organization {
        Organization {
            organ_id: code.into(),
            ..Organization::default()
        }
    }

    fn edoc(from: &str, to: &[&str], business: Option<BusinessDocType>) -> Header {
        Header::Edoc(EdocHeader {
            from: organ(from),
            to: to.iter().map(|code| organ(code)).collect(),
            document_id: Some(format!("{from},2026/11/21,1/UBND")),
            business: business.map(|business_doc_type| Business {
                business_doc_type,
                ..Business::default()
            }),
            ..EdocHeader::default()
        })
    }

    fn status(from: &str, response_for: Option<&str>) -> Header {
        Header::Status(StatusHeader {
            from: organ(from),
            response_for: ResponseFor {
                organ_id: response_for.map(str::to_owned),
                ..ResponseFor::default()
            },
            staff_info: StaffInfo::default(),
            status_code: StatusCode::Accepted,
            description: None,
            timestamp: None,
        })
    }

    fn code(result: Result<Route, Refusal>) -> Option<HubErrorCode> {
        result.err().map(|refusal| refusal.code)
    }

    #[test]
    fn packets_are_routed_or_refused_with_the_hub_code() {
        let directory = directory();
        let check = |header: &Header, declared, caller: &str| {
            code(route_packet(header, declared, caller, &directory))
        };
        use HubErrorCode::*;
        use MessageType::{Edoc, Status};
        let cases: Vec<(Header, MessageType, &str, Option<HubErrorCode>)> = vec![
            (
                edoc("001.01.10.H41", &["000.00.00.H41"], None),
                Edoc,
                "sys-a",
                None,
            ),
            (
                edoc("001.01.10.H41", &["000.00.00.H41"], None),
                Status,
                "sys-a",
                Some(NotStandard),
            ),
            (
                edoc("000.00.00.H41", &["000.00.00.H41"], None),
                Edoc,
                "sys-a",
                Some(SenderNotRegistered),
            ),
            (
                edoc("001.01.10.H41", &["000.00.77.H41"], None),
                Edoc,
                "sys-a",
                Some(UnknownRecipient),
            ),
            (
                edoc("001.01.10.H41", &[], None),
                Edoc,
                "sys-a",
                Some(UnknownRecipient),
            ),
            (
                edoc("001.01.10.H41", &["000.00.09.H41"], None),
                Edoc,
                "sys-a",
                Some(RecipientLocked),
            ),
            (
                status("000.00.00.H41", Some("001.01.10.H41")),
                Status,
                "sys-b",
                None,
            ),
            (
                status("000.00.00.H41", Some("001.01.10.H41")),
                Edoc,
                "sys-b",
                Some(NotStandard),
            ),
            (
                status("001.01.10.H41", Some("001.01.10.H41")),
                Status,
                "sys-b",
                Some(SenderNotRegistered),
            ),
            (
                status("000.00.00.H41", Some("000.00.55.H41")),
                Status,
                "sys-b",
                Some(UnknownRecipient),
            ),
            (
                status("000.00.00.H41", None),
                Status,
                "sys-b",
                Some(NotStandard),
            ),
            (
                status("000.00.00.H41", Some("000.00.09.H41")),
                Status,
                "sys-b",
                Some(RecipientLocked),
            ),
        ];
        for (index, (header, declared, caller, expected)) in cases.iter().enumerate() {
            assert_eq!(check(header, *declared, caller), *expected, "case {index}");
        }
    }

    #[test]
    fn recipients_are_grouped_by_system() {
        let directory = directory();
        let header = edoc(
            "001.01.10.H41",
            &[
                "000.00.00.H41",
                "000.00.01.H41",
                "001.01.10.H41",
                "000.00.00.H41",
            ],
            Some(BusinessDocType::Update),
        );
        let route = route_packet(&header, MessageType::Edoc, "sys-a", &directory).expect("route");
        assert_eq!(
            route.recipients,
            vec![
                Recipient {
                    system_id: "sys-a".into(),
                    organs: vec!["001.01.10.H41".into()]
                },
                Recipient {
                    system_id: "sys-b".into(),
                    organs: vec!["000.00.00.H41".into(), "000.00.01.H41".into()]
                },
            ]
        );
        assert!(!route.new_document);
        assert_eq!(route.business_doc_type, Some(2));
        let new = route_packet(
            &edoc(
                "001.01.10.H41",
                &["000.00.00.H41"],
                Some(BusinessDocType::New),
            ),
            MessageType::Edoc,
            "sys-a",
            &directory,
        )
        .expect("route");
        assert!(new.new_document);
        let status = route_packet(
            &status("000.00.00.H41", Some("001.01.10.H41")),
            MessageType::Status,
            "sys-b",
            &directory,
        )
        .expect("route");
        assert_eq!(status.recipients[0].system_id, "sys-a");
    }

    #[test]
    fn final_transport_states_do_not_change() {
        use TransportStatus::{Done, Fail, Processing};
        let cases = [
            (Processing, Processing, Ok(None)),
            (Processing, Done, Ok(Some(Done))),
            (Processing, Fail, Ok(Some(Fail))),
            (Done, Done, Ok(None)),
            (Fail, Fail, Ok(None)),
            (Done, Fail, Err(HubErrorCode::BadRequest)),
            (Fail, Done, Err(HubErrorCode::BadRequest)),
            (Done, Processing, Err(HubErrorCode::BadRequest)),
        ];
        for (current, requested, expected) in cases {
            let got = transport_transition(current, requested).map_err(|refusal| refusal.code);
            assert_eq!(got, expected, "{current:?} → {requested:?}");
        }
    }
}
