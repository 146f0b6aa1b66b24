//! The clerk's business statuses (QCVN 102:2016 status codes, NĐ 30/2020 registers): which
//! status may follow which on an incoming document, what a recall or update request is
//! answered with, and the text rules for a status description. Pure functions over facts
//! the caller read; never touches the store, files or HTTP.
//!
//! The transitions, for an incoming document (01 is automatic on arrival):
//!
//! | from | may go to |
//! |---|---|
//! | 01 arrived | 02 refused (reason required), 03 accepted |
//! | 03 accepted | 04, 05, 06 |
//! | 04 assigned | 04 (reassigned), 05, 06 |
//! | 05 being handled | 06 |
//! | 02, 06 | nothing (final) |
//!
//! 15 (agree) and 16 (refuse) only answer a pending recall or update request; 13 is the
//! sender's (`/recall`); a cancelled document takes nothing more.

use crate::edxml::StatusCode;
use crate::store::Direction;

/// Longest status description accepted (characters).
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// A recall or update request the sender made about a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Recall,
    Update,
    Replace,
}

impl RequestKind {
    /// The spelling stored in `business_requests.kind` and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Recall => "recall",
            RequestKind::Update => "update",
            RequestKind::Replace => "replace",
        }
    }

    pub fn parse(text: &str) -> Option<RequestKind> {
        match text {
            "recall" => Some(RequestKind::Recall),
            "update" => Some(RequestKind::Update),
            "replace" => Some(RequestKind::Replace),
            _ => None,
        }
    }
}

/// What the rules need to know about a document, as read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentFacts {
    pub direction: Direction,
    /// The last status this office set (incoming); `None` reads as 01.
    pub business_status: Option<StatusCode>,
    pub cancelled: bool,
    pub quarantined: bool,
    /// The oldest recall/update request received and not yet answered.
    pub pending_request: Option<RequestKind>,
}

/// What a permitted status request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPlan {
    /// 02…06: the document's business status moves on; `register` for 03 (số đến).
    Progress { register: bool },
    /// 15 (`agree`) or 16: answers the pending request.
    Answer { kind: RequestKind, agree: bool },
}

/// Why a status cannot be set. Each message names the codes and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusRuleError {
    #[error("{given:?} is not a status code; use one of 02, 03, 04, 05, 06 (or 15/16 to answer a recall or update request), written with two digits")]
    UnknownCode { given: String },
    #[error("description {problem}")]
    BadDescription { problem: String },
    #[error("statuses 02–06 are set by the receiver; to take a document back use /recall")]
    OutgoingDocument,
    #[error("status 01 (arrived) is sent automatically when a document arrives; the clerk sets 02 (refuse) or 03 (accept)")]
    Automatic,
    #[error("status 13 (recall requested) is the sender's; to take back one of our outgoing documents use POST /api/v1/documents/{{id}}/recall")]
    RecallViaStatus,
    #[error("status {requested} needs a reason: say in `description` why the document is refused (misaddressed, wrong, invalid)")]
    ReasonRequired { requested: &'static str },
    #[error(
        "status {requested} ({requested_name}) cannot follow {current} ({current_name}): {advice}"
    )]
    Illegal {
        requested: &'static str,
        requested_name: &'static str,
        current: &'static str,
        current_name: &'static str,
        advice: &'static str,
    },
    #[error(
        "status {requested} answers a recall or update request, and this document has none pending"
    )]
    NoPendingRequest { requested: &'static str },
    #[error("the document was cancelled in the register after an agreed recall; it takes no more statuses")]
    Cancelled,
    #[error("the document is quarantined (its packet was unusable); it takes no business status — see quarantine_reason")]
    Quarantined,
}

/// A short English name of a status code, as used in messages.
pub fn status_name(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Arrived => "arrived",
        StatusCode::Refused => "refused",
        StatusCode::Accepted => "accepted",
        StatusCode::Assigned => "assigned",
        StatusCode::Processing => "being handled",
        StatusCode::Completed => "handling completed",
        StatusCode::RecallRequested => "recall requested",
        StatusCode::RecallAgreed => "request agreed",
        StatusCode::RecallRefused => "request refused",
    }
}

/// Reads a status code as the API takes it: exactly two digits, one of the nine codes.
pub fn parse_status_code(text: &str) -> Result<StatusCode, StatusRuleError> {
    let unknown = || StatusRuleError::UnknownCode {
        given: text.to_string(),
    };
    if text.len() != 2 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(unknown());
    }
    StatusCode::parse(text).ok_or_else(unknown)
}

/// A description must fit in [`MAX_DESCRIPTION_CHARS`] and carry no control characters
/// (a newline is a control character too: the description travels in one XML element and
/// is shown on one line in registers).
pub fn check_description(description: &str) -> Result<(), StatusRuleError> {
    let count = description.chars().count();
    if count > MAX_DESCRIPTION_CHARS {
        return Err(StatusRuleError::BadDescription {
            problem: format!(
                "has {count} characters, more than the {MAX_DESCRIPTION_CHARS} allowed; shorten it"
            ),
        });
    }
    if description.chars().any(char::is_control) {
        return Err(StatusRuleError::BadDescription {
            problem: "contains control characters (newlines, tabs, …); send one line of text"
                .into(),
        });
    }
    Ok(())
}

/// Decides whether the clerk may set `requested` on the document `facts` describe.
pub fn plan_status(
    facts: &DocumentFacts,
    requested: StatusCode,
    description: &str,
) -> Result<StatusPlan, StatusRuleError> {
    check_description(description)?;
    if facts.direction == Direction::Outgoing {
        return Err(StatusRuleError::OutgoingDocument);
    }
    if facts.quarantined {
        return Err(StatusRuleError::Quarantined);
    }
    if facts.cancelled {
        return Err(StatusRuleError::Cancelled);
    }
    match requested {
        StatusCode::Arrived => Err(StatusRuleError::Automatic),
        StatusCode::RecallRequested => Err(StatusRuleError::RecallViaStatus),
        StatusCode::RecallAgreed | StatusCode::RecallRefused => match facts.pending_request {
            Some(kind) => Ok(StatusPlan::Answer {
                kind,
                agree: requested == StatusCode::RecallAgreed,
            }),
            None => Err(StatusRuleError::NoPendingRequest {
                requested: requested.code(),
            }),
        },
        _ => {
            let current = facts.business_status.unwrap_or(StatusCode::Arrived);
            check_transition(current, requested)?;
            if requested == StatusCode::Refused && description.trim().is_empty() {
                return Err(StatusRuleError::ReasonRequired {
                    requested: requested.code(),
                });
            }
            Ok(StatusPlan::Progress {
                register: requested == StatusCode::Accepted,
            })
        }
    }
}

/// The transition table of the module comment, for 02…06.
fn check_transition(current: StatusCode, requested: StatusCode) -> Result<(), StatusRuleError> {
    use StatusCode::{Accepted, Arrived, Assigned, Completed, Processing, Refused};
    let advice = match (current, requested) {
        (Arrived, Refused | Accepted)
        | (Accepted, Assigned | Processing | Completed)
        | (Assigned, Assigned | Processing | Completed)
        | (Processing, Completed) => return Ok(()),
        (Arrived, _) => "accept the document (03) first",
        (Refused, _) => "the document was refused; that is final",
        (Completed, _) => "handling is completed; that is final",
        (Accepted, Accepted) => "the document is already accepted and registered",
        (Accepted | Assigned | Processing, Refused) => {
            "a document already accepted and registered cannot be refused; complete its handling (06) instead"
        }
        (Processing, Processing) => "the document is already being handled; set 06 when handling is completed",
        (Processing, _) | (Assigned, _) => "statuses only move forward: 04 → 05 → 06",
        _ => "see the allowed transitions in the README",
    };
    Err(StatusRuleError::Illegal {
        requested: requested.code(),
        requested_name: status_name(requested),
        current: current.code(),
        current_name: status_name(current),
        advice,
    })
}

/// Whether an incoming document is past its due date (`YYYY-MM-DD`, compared with
/// `today` in Vietnam time) and still open: not refused, not completed, not cancelled.
pub fn is_overdue(
    due_date: Option<&str>,
    business_status: Option<&str>,
    cancelled: bool,
    today: &str,
) -> bool {
    let Some(due) = due_date else { return false };
    let closed = matches!(business_status, Some("02") | Some("06"));
    !closed && !cancelled && due < today
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatusCode::*;

    fn incoming(status: StatusCode) -> DocumentFacts {
        DocumentFacts {
            direction: Direction::Incoming,
            business_status: Some(status),
            cancelled: false,
            quarantined: false,
            pending_request: None,
        }
    }

    #[test]
    fn the_transition_table() {
        let allowed = [
            (Arrived, Refused),
            (Arrived, Accepted),
            (Accepted, Assigned),
            (Accepted, Processing),
            (Accepted, Completed),
            (Assigned, Assigned),
            (Assigned, Processing),
            (Assigned, Completed),
            (Processing, Completed),
        ];
        let clerk = [Refused, Accepted, Assigned, Processing, Completed];
        for current in [Arrived, Refused, Accepted, Assigned, Processing, Completed] {
            for requested in clerk {
                let result = plan_status(&incoming(current), requested, "lý do");
                if allowed.contains(&(current, requested)) {
                    assert_eq!(
                        result,
                        Ok(StatusPlan::Progress {
                            register: requested == Accepted
                        }),
                        "{current} → {requested}"
                    );
                } else {
                    assert!(
                        matches!(result, Err(StatusRuleError::Illegal { .. })),
                        "{current} → {requested}: {result:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn messages_name_both_codes_and_what_to_do() {
        let error = plan_status(&incoming(Arrived), Completed, "").expect_err("06 before 03");
        assert_eq!(
            error.to_string(),
            "status 06 (handling completed) cannot follow 01 (arrived): accept the document (03) first"
        );
        let error = plan_status(&incoming(Accepted), Refused, "x").expect_err("02 after 03");
        assert!(error.to_string().contains("cannot be refused"), "{error}");
    }

    #[test]
    fn refusal_needs_a_reason() {
        assert_eq!(
            plan_status(&incoming(Arrived), Refused, "  "),
            Err(StatusRuleError::ReasonRequired { requested: "02" })
        );
        assert!(plan_status(&incoming(Arrived), Accepted, "").is_ok());
    }

    #[test]
    fn no_status_means_arrived() {
        let mut facts = incoming(Arrived);
        facts.business_status = None;
        assert!(plan_status(&facts, Accepted, "").is_ok());
        assert!(plan_status(&facts, Assigned, "").is_err());
    }

    #[test]
    fn outgoing_automatic_recall_cancelled_quarantined() {
        let mut outgoing = incoming(Arrived);
        outgoing.direction = Direction::Outgoing;
        assert_eq!(
            plan_status(&outgoing, Accepted, ""),
            Err(StatusRuleError::OutgoingDocument)
        );
        assert!(plan_status(&outgoing, Accepted, "")
            .expect_err("refused")
            .to_string()
            .contains("/recall"));
        assert_eq!(
            plan_status(&incoming(Accepted), Arrived, ""),
            Err(StatusRuleError::Automatic)
        );
        assert_eq!(
            plan_status(&incoming(Accepted), RecallRequested, ""),
            Err(StatusRuleError::RecallViaStatus)
        );
        let mut cancelled = incoming(Accepted);
        cancelled.cancelled = true;
        cancelled.pending_request = Some(RequestKind::Update);
        assert_eq!(
            plan_status(&cancelled, RecallAgreed, ""),
            Err(StatusRuleError::Cancelled)
        );
        let mut quarantined = incoming(Arrived);
        quarantined.quarantined = true;
        assert_eq!(
            plan_status(&quarantined, Accepted, ""),
            Err(StatusRuleError::Quarantined)
        );
    }

    #[test]
    fn answers_need_a_pending_request() {
        assert_eq!(
            plan_status(&incoming(Accepted), RecallAgreed, ""),
            Err(StatusRuleError::NoPendingRequest { requested: "15" })
        );
        let mut facts = incoming(Completed);
        facts.pending_request = Some(RequestKind::Recall);
        assert_eq!(
            plan_status(&facts, RecallAgreed, ""),
            Ok(StatusPlan::Answer {
                kind: RequestKind::Recall,
                agree: true
            })
        );
        assert_eq!(
            plan_status(&facts, RecallRefused, "không đồng ý"),
            Ok(StatusPlan::Answer {
                kind: RequestKind::Recall,
                agree: false
            })
        );
    }

    #[test]
    fn codes_are_two_digits() {
        assert_eq!(parse_status_code("03"), Ok(Accepted));
        assert_eq!(parse_status_code("16"), Ok(RecallRefused));
        for bad in ["07", "3", "abc", "", "003", " 03", "١٢"] {
            assert!(
                matches!(
                    parse_status_code(bad),
                    Err(StatusRuleError::UnknownCode { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn descriptions() {
        assert!(check_description(&"ă".repeat(MAX_DESCRIPTION_CHARS)).is_ok());
        assert!(check_description(&"ă".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
        assert!(check_description("a\nb").is_err());
        assert!(check_description("a\u{7}").is_err());
    }

    #[test]
    fn overdue() {
        assert!(is_overdue(
            Some("2026-01-01"),
            Some("03"),
            false,
            "2026-01-02"
        ));
        assert!(!is_overdue(
            Some("2026-01-02"),
            Some("03"),
            false,
            "2026-01-02"
        ));
        assert!(!is_overdue(
            Some("2026-01-01"),
            Some("06"),
            false,
            "2026-01-02"
        ));
        assert!(!is_overdue(
            Some("2026-01-01"),
            Some("02"),
            false,
            "2026-01-02"
        ));
        assert!(!is_overdue(
            Some("2026-01-01"),
            Some("04"),
            true,
            "2026-01-02"
        ));
        assert!(!is_overdue(None, Some("01"), false, "2026-01-02"));
    }
}
