//! The status page's enrolment section: where the box stands with provincial IT (its
//! standing, agency, configuration bundle, link certificate and renewals, the last
//! failure), in the page's language. A box configured by hand shows only its standing, in
//! one line of the box's section. Renders the facts; decides nothing.

use maud::{html, Markup};

use super::{class, or_dash, t, Lang};
use crate::enrolment::status::Standing;
use crate::web::facts::{Severity, StatusFacts};

/// How bad a standing is, and its words.
pub(super) fn standing_words(standing: Standing, lang: Lang) -> (Severity, &'static str) {
    match standing {
        Standing::Manual => (
            Severity::Ok,
            t(
                lang,
                "cấu hình thủ công (không dùng mã cấp phép)",
                "configured by hand (not enrolled)",
            ),
        ),
        Standing::NotProvisioned => (
            Severity::Failing,
            t(lang, "Chưa được cấp phép", "Not provisioned"),
        ),
        Standing::Enrolled => (Severity::Ok, t(lang, "Đã cấp phép", "Enrolled")),
        Standing::InGrace => (
            Severity::Warning,
            t(
                lang,
                "Gói cấu hình đã hết hạn — đang trong thời gian gia hạn",
                "Configuration bundle expired — in its grace period",
            ),
        ),
        Standing::Lapsed => (
            Severity::Failing,
            t(
                lang,
                "Gói cấu hình đã hết hạn — ngừng trao đổi văn bản",
                "Configuration bundle lapsed — no exchange",
            ),
        ),
        Standing::CertificateExpired => (
            Severity::Failing,
            t(
                lang,
                "Chứng thư số kết nối trục đã hết hạn",
                "Link certificate expired",
            ),
        ),
        Standing::Decommissioned => (
            Severity::Failing,
            t(lang, "Đã bị thu hồi cấp phép", "Decommissioned"),
        ),
    }
}

/// The enrolment with provincial IT (nothing for a box configured by hand).
pub(super) fn provisioning_section(facts: &StatusFacts, lang: Lang) -> Markup {
    let provisioning = &facts.provisioning;
    let (severity, words) = standing_words(provisioning.standing, lang);
    html! {
        @if provisioning.standing != Standing::Manual {
            section id="provisioning" {
                h2 { (t(lang, "Cấp phép kết nối trục", "Enrolment with provincial IT")) }
                dl {
                    dt { (t(lang, "Trạng thái", "Standing")) }
                    dd id="standing" {
                        @if severity == Severity::Ok { (words) } @else { span.(class(severity)) { (words) } }
                    }
                    @if let Some(agency_code) = &provisioning.agency_code {
                        dt { (t(lang, "Cơ quan", "Agency")) }
                        dd id="provisioned-agency" { (facts.agency.organ_name) " (" (agency_code) ")" }
                    }
                    dt { (t(lang, "Gói cấu hình", "Configuration bundle")) }
                    dd id="bundle" {
                        @if let Some(serial) = provisioning.bundle_serial { "#" (serial) ", " }
                        (t(lang, "hiệu lực đến", "valid until")) " "
                        (or_dash(provisioning.bundle_expires_at.as_deref()))
                        @if matches!(provisioning.standing, Standing::InGrace | Standing::Lapsed) {
                            "; " (t(lang, "gia hạn đến", "grace until")) " "
                            (or_dash(provisioning.grace_ends_at.as_deref()))
                        }
                    }
                    dt { (t(lang, "Chứng thư số kết nối", "Link certificate")) }
                    dd id="link-certificate" {
                        (t(lang, "hết hạn", "expires")) " "
                        (or_dash(provisioning.certificate_not_after.as_deref()))
                        "; " (t(lang, "tự gia hạn từ", "renewed from")) " "
                        (or_dash(provisioning.renew_from.as_deref()))
                    }
                    dt { (t(lang, "Gia hạn gần nhất", "Last renewal")) }
                    dd id="last-renewal" { (or_dash(provisioning.last_renewal_at.as_deref())) }
                    dt { (t(lang, "Kiểm tra cấu hình gần nhất", "Last bundle check")) }
                    dd id="last-bundle-check" { (or_dash(provisioning.last_bundle_check_at.as_deref())) }
                    @if let Some(error) = &provisioning.last_error {
                        dt { (t(lang, "Lỗi gần nhất", "Last error")) }
                        dd id="provisioning-error" { span.warning { (error) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::enrolment::status::ProvisioningStatus;
    use crate::store::QueueCounts;
    use crate::sync::{LinkSnapshot, TsaContact};
    use crate::web::facts::{Agency, DirectoryFacts, Disk, Seal, TsaFacts};

    /// Facts of a quiet box with `provisioning` (shared with the other sections' tests).
    pub(in crate::web::status_page) fn facts(provisioning: ProvisioningStatus) -> StatusFacts {
        StatusFacts {
            agency: Agency {
                organ_id: "000.01.20.H41".into(),
                organ_name: "UBND xã <Mới>".into(),
            },
            version: "0.1.0",
            now: "2026-11-22T08:00:00Z".into(),
            started_at: "2026-11-22T07:00:00Z".into(),
            uptime_secs: 3_600,
            link: LinkSnapshot::default(),
            queues: QueueCounts::default(),
            oldest_waiting_secs: None,
            seal: Seal {
                configured: false,
                token_label: None,
                problem: None,
                token: None,
                tsa_url: None,
                tsa: TsaFacts {
                    state: "not_configured",
                    contact: TsaContact::default(),
                },
            },
            directory: DirectoryFacts::default(),
            certificates: Vec::new(),
            disk: Disk {
                used_bytes: 0,
                quota_bytes: 1,
                percent: 0,
            },
            provisioning,
            update: None,
            checks: Vec::new(),
        }
    }

    #[test]
    fn an_enrolled_box_shows_its_bundle_certificate_and_last_error() {
        let status = ProvisioningStatus {
            agency_code: Some("000.01.20.H41".into()),
            bundle_serial: Some(4),
            bundle_expires_at: Some("2026-11-20T00:00:00Z".into()),
            grace_ends_at: Some("2026-11-27T00:00:00Z".into()),
            certificate_not_after: Some("2027-01-01T00:00:00Z".into()),
            renew_from: Some("2026-12-01T00:00:00Z".into()),
            last_renewal_at: Some("2026-11-01T00:00:00Z".into()),
            last_error: Some("cannot reach <the axis>".into()),
            ..ProvisioningStatus::bare(Standing::InGrace)
        };
        let page = super::super::render(&facts(status), Lang::Vi).into_string();
        assert!(page.contains("id=\"provisioning\""), "{page}");
        assert!(
            page.contains("<span class=\"warning\">Gói cấu hình đã hết hạn — đang trong thời gian gia hạn</span>"),
            "{page}"
        );
        assert!(
            page.contains("UBND xã &lt;Mới&gt; (000.01.20.H41)"),
            "{page}"
        );
        assert!(
            page.contains(
                "#4, hiệu lực đến 2026-11-20T00:00:00Z; gia hạn đến 2026-11-27T00:00:00Z"
            ),
            "{page}"
        );
        assert!(
            page.contains("hết hạn 2027-01-01T00:00:00Z; tự gia hạn từ 2026-12-01T00:00:00Z"),
            "{page}"
        );
        assert!(page.contains("cannot reach &lt;the axis&gt;"), "{page}");
        let english = super::super::render(
            &facts(ProvisioningStatus::bare(Standing::Decommissioned)),
            Lang::En,
        )
        .into_string();
        assert!(
            english.contains("<span class=\"failing\">Decommissioned</span>"),
            "{english}"
        );
    }

    #[test]
    fn a_box_configured_by_hand_says_so_in_one_line() {
        let page =
            super::super::render(&facts(ProvisioningStatus::bare(Standing::Manual)), Lang::En)
                .into_string();
        assert!(!page.contains("id=\"provisioning\""), "{page}");
        assert!(
            page.contains("<dd id=\"standing\">configured by hand (not enrolled)</dd>"),
            "{page}"
        );
    }
}
