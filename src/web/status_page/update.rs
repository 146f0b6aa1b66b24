//! The status page's rows about the appliance's system slots (A/B): the slot running and
//! its version, the other slot's version and whether it failed to come up, and which one
//! the next boot starts. Nothing on a box that is not an appliance. Renders; decides
//! nothing.

use maud::{html, Markup};

use super::{t, Lang};
use crate::system::update_slots::SlotFacts;
use crate::web::facts::StatusFacts;

/// Rows for the box's `dl` (none without an updater status).
pub(super) fn update_rows(facts: &StatusFacts, lang: Lang) -> Markup {
    html! {
        @if let Some(update) = &facts.update {
            dt { (t(lang, "Phân vùng đang chạy", "Running slot")) }
            dd id="running-slot" { (slot_words(&update.running, lang)) }
            @if let Some(other) = &update.other {
                dt { (t(lang, "Phân vùng dự phòng", "Other slot")) }
                dd id="other-slot" {
                    (slot_words(other, lang))
                    @if update.rolled_back_from().is_some() {
                        " — " span.warning { (t(lang, "không khởi động được, đã quay về phân vùng đang chạy", "failed to come up; the box went back")) }
                    }
                }
            }
            dt { (t(lang, "Lần khởi động tới", "Next boot")) }
            dd id="next-boot" {
                (update.next_boot)
                @if update.update_pending() {
                    " (" (t(lang, "bản cập nhật chờ khởi động lại", "an update waits for a reboot")) ")"
                }
            }
        }
    }
}

fn slot_words(slot: &SlotFacts, lang: Lang) -> String {
    let version = slot
        .version
        .as_deref()
        .unwrap_or(t(lang, "chưa cài", "empty"));
    match &slot.installed_at {
        Some(at) => format!(
            "{} — {version} ({} {at})",
            slot.slot,
            t(lang, "cài lúc", "installed")
        ),
        None => format!("{} — {version}", slot.slot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrolment::status::{ProvisioningStatus, Standing};
    use crate::system::update_slots::parse;

    fn rows(json: Option<&str>, lang: Lang) -> String {
        let mut facts =
            super::super::provisioning::tests::facts(ProvisioningStatus::bare(Standing::Manual));
        facts.update = json.map(|json| parse(json, "0.1.0").expect("parse"));
        update_rows(&facts, lang).into_string()
    }

    #[test]
    fn the_slots_show_their_versions_and_a_failed_update() {
        assert_eq!(rows(None, Lang::Vi), "", "not an appliance");
        let pending = rows(
            Some(include_str!(
                "../../../tests/fixtures/rauc/status-update-pending.json"
            )),
            Lang::En,
        );
        assert!(
            pending.contains("<dd id=\"running-slot\">A — 0.1.0</dd>"),
            "{pending}"
        );
        assert!(
            pending.contains("B — 0.2.0 (installed 2026-11-22T15:09:21Z)"),
            "{pending}"
        );
        assert!(
            pending.contains("an update waits for a reboot"),
            "{pending}"
        );
        let rolled_back = rows(
            Some(include_str!(
                "../../../tests/fixtures/rauc/status-rolled-back.json"
            )),
            Lang::Vi,
        );
        assert!(
            rolled_back.contains("không khởi động được, đã quay về phân vùng đang chạy"),
            "{rolled_back}"
        );
        assert!(!rolled_back.contains("chờ khởi động lại"), "{rolled_back}");
    }
}
