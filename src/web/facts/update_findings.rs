//! What the `update` check can find, in words: on the appliance, the system slot that
//! runs and its version, an update installed and waiting for the next reboot, an update
//! that failed to come up (the box went back to the slot it ran before), or an updater
//! status that cannot be read. Each [`UpdateFinding`] has a stable key, a severity and its
//! text in English and Vietnamese; [`check`] decides which hold from the slots read. A
//! box that is not an appliance (no status file) has no such finding.

use super::findings::{Finding, Text};
use super::Severity;
use crate::system::update_slots::UpdateSlots;

/// The `update` check: nothing without a status file; otherwise the slot running, an
/// update waiting for a reboot, and one that failed to come up; or why the file is unusable.
pub(super) fn check(read: &Result<Option<UpdateSlots>, String>) -> Vec<Finding> {
    let slots = match read {
        Ok(None) => return Vec::new(),
        Ok(Some(slots)) => slots,
        Err(error) => {
            return vec![Finding::Update(UpdateFinding::Unreadable {
                error: error.clone(),
            })]
        }
    };
    let running_version = slots.running.version.clone().unwrap_or_default();
    let mut findings = vec![Finding::Update(UpdateFinding::Running {
        slot: slots.running.slot.clone(),
        version: running_version.clone(),
    })];
    if let Some(other) = slots.other.as_ref().filter(|_| slots.update_pending()) {
        findings.push(Finding::Update(UpdateFinding::Pending {
            slot: other.slot.clone(),
            version: other.version.clone().unwrap_or_else(|| "?".into()),
        }));
    }
    if let Some(failed) = slots.rolled_back_from() {
        findings.push(Finding::Update(UpdateFinding::RolledBack {
            failed_version: failed.to_owned(),
            running_version,
        }));
    }
    findings
}

/// One finding of the `update` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateFinding {
    /// The slot running and its version.
    Running { slot: String, version: String },
    /// An update is installed in `slot` and starts at the next reboot.
    Pending { slot: String, version: String },
    /// The update to `failed_version` did not come up healthy; `running_version` runs.
    RolledBack {
        failed_version: String,
        running_version: String,
    },
    /// The updater's status file cannot be read.
    Unreadable { error: String },
}

impl UpdateFinding {
    /// A stable key of what was found.
    pub fn kind(&self) -> &'static str {
        match self {
            UpdateFinding::Running { .. } => "update_running",
            UpdateFinding::Pending { .. } => "update_pending",
            UpdateFinding::RolledBack { .. } => "update_rolled_back",
            UpdateFinding::Unreadable { .. } => "update_status_unreadable",
        }
    }

    /// A failed update is a warning (the box works, on the version it had); nothing here
    /// stops the exchange.
    pub fn severity(&self) -> Severity {
        match self {
            UpdateFinding::Running { .. } | UpdateFinding::Pending { .. } => Severity::Ok,
            UpdateFinding::RolledBack { .. } | UpdateFinding::Unreadable { .. } => {
                Severity::Warning
            }
        }
    }

    /// In English.
    pub fn english(&self) -> Text {
        match self {
            UpdateFinding::Running { slot, version } => {
                Text::fact(format!("system slot {slot} runs version {version}"))
            }
            UpdateFinding::Pending { slot, version } => Text::fact(format!(
                "update {version} is installed in slot {slot} and starts at the next reboot"
            )),
            UpdateFinding::RolledBack {
                failed_version,
                running_version,
            } => Text::with_step(
                format!(
                    "the update to {failed_version} did not come up healthy; the box went back to {running_version}"
                ),
                "nothing is lost and the box keeps working; tell provincial IT which version failed",
            ),
            UpdateFinding::Unreadable { error } => Text::with_step(
                format!("update status: {error}"),
                "the box keeps working; tell provincial IT (the docgate-update-status unit)",
            ),
        }
    }

    /// In Vietnamese.
    pub fn vietnamese(&self) -> Text {
        match self {
            UpdateFinding::Running { slot, version } => Text::fact(format!(
                "Hệ thống đang chạy phân vùng {slot}, phiên bản {version}"
            )),
            UpdateFinding::Pending { slot, version } => Text::fact(format!(
                "Bản cập nhật {version} đã được cài vào phân vùng {slot} và sẽ chạy sau lần khởi động lại tới"
            )),
            UpdateFinding::RolledBack {
                failed_version,
                running_version,
            } => Text::with_step(
                format!(
                    "Bản cập nhật {failed_version} không khởi động được; thiết bị đã quay về phiên bản {running_version}"
                ),
                "Không mất dữ liệu và thiết bị vẫn hoạt động; báo cho bộ phận CNTT của tỉnh phiên bản bị lỗi",
            ),
            UpdateFinding::Unreadable { error } => Text::with_step(
                format!("Không đọc được tình trạng cập nhật: {error}"),
                "Thiết bị vẫn hoạt động; báo cho bộ phận CNTT của tỉnh (dịch vụ docgate-update-status)",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_finding_has_its_severity_and_words_in_both_languages() {
        let findings = [
            UpdateFinding::Running {
                slot: "A".into(),
                version: "0.2.0".into(),
            },
            UpdateFinding::Pending {
                slot: "B".into(),
                version: "0.3.0".into(),
            },
            UpdateFinding::RolledBack {
                failed_version: "0.3.0".into(),
                running_version: "0.2.0".into(),
            },
            UpdateFinding::Unreadable {
                error: "not JSON".into(),
            },
        ];
        let severities: Vec<_> = findings.iter().map(UpdateFinding::severity).collect();
        assert_eq!(
            severities,
            [
                Severity::Ok,
                Severity::Ok,
                Severity::Warning,
                Severity::Warning
            ]
        );
        for finding in &findings {
            let (english, vietnamese) = (finding.english(), finding.vietnamese());
            assert_ne!(english, vietnamese, "{finding:?}");
            if finding.severity() != Severity::Ok {
                assert!(english.next_step.is_some() && vietnamese.next_step.is_some());
            }
        }
        assert_eq!(
            findings[2].english().what,
            "the update to 0.3.0 did not come up healthy; the box went back to 0.2.0"
        );
    }

    fn kinds(read: &Result<Option<UpdateSlots>, String>) -> Vec<&'static str> {
        check(read).iter().map(Finding::kind).collect()
    }

    #[test]
    fn the_check_follows_the_slots() {
        use crate::system::update_slots::parse;
        let pending = include_str!("../../../tests/fixtures/rauc/status-update-pending.json");
        let rolled_back = include_str!("../../../tests/fixtures/rauc/status-rolled-back.json");
        assert!(kinds(&Ok(None)).is_empty(), "not an appliance");
        assert_eq!(
            kinds(&Ok(Some(parse(pending, "0.1.0").expect("parse")))),
            ["update_running", "update_pending"]
        );
        assert_eq!(
            kinds(&Ok(Some(parse(rolled_back, "0.1.0").expect("parse")))),
            ["update_running", "update_rolled_back"]
        );
        assert_eq!(kinds(&Err("bad".into())), ["update_status_unreadable"]);
    }
}
