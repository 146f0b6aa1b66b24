//! What the `provisioning` check can find, in words: where an enrolled box stands with
//! provincial IT — its configuration bundle current, in its grace period or lapsed, its
//! link certificate expired while it was offline, the box decommissioned — and the last
//! renewal or bundle check that failed. Each [`ProvisioningFinding`] has a stable key, a
//! severity and its text in English and Vietnamese with the next step; `checks.rs`
//! decides which hold, `findings.rs` wraps them as a [`super::Finding`]. A box configured
//! by hand has no such finding.

use super::findings::{vi_date, vi_time, Text};
use super::Severity;

/// One finding of the `provisioning` check (instants are RFC 3339 UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisioningFinding {
    /// Enrolled, the bundle current.
    Enrolled {
        agency_code: String,
        bundle_expires_at: String,
    },
    /// The bundle expired at `expired_at`; the box keeps working until `grace_ends_at`.
    InGrace {
        expired_at: String,
        grace_ends_at: String,
    },
    /// The bundle expired and its grace ended: the box no longer exchanges.
    Lapsed {
        expired_at: String,
        grace_ended_at: String,
    },
    /// The link certificate expired before it could be renewed.
    CertificateExpired { not_after: String },
    /// Provincial IT decommissioned the box.
    Decommissioned,
    /// The last renewal or bundle check failed (the keeper tries again by itself).
    LastFailed { error: String },
    /// Not enrolled (the gateway does not run then; kept for completeness).
    NotProvisioned,
}

impl ProvisioningFinding {
    /// A stable key of what was found.
    pub fn kind(&self) -> &'static str {
        use ProvisioningFinding::*;
        match self {
            Enrolled { .. } => "provisioning_enrolled",
            InGrace { .. } => "bundle_in_grace",
            Lapsed { .. } => "bundle_lapsed",
            CertificateExpired { .. } => "link_certificate_expired",
            Decommissioned => "decommissioned",
            LastFailed { .. } => "provisioning_error",
            NotProvisioned => "not_provisioned",
        }
    }

    /// How bad it is: anything that stops the exchange fails; working on borrowed time,
    /// or a renewal that failed once, is a warning.
    pub fn severity(&self) -> Severity {
        use ProvisioningFinding::*;
        match self {
            Enrolled { .. } => Severity::Ok,
            InGrace { .. } | LastFailed { .. } => Severity::Warning,
            Lapsed { .. } | CertificateExpired { .. } | Decommissioned | NotProvisioned => {
                Severity::Failing
            }
        }
    }

    /// In English.
    pub fn english(&self) -> Text {
        use ProvisioningFinding::*;
        match self {
            Enrolled { agency_code, bundle_expires_at } => Text::fact(format!(
                "enrolled with provincial IT as {agency_code}; the configuration bundle is valid until {bundle_expires_at}"
            )),
            InGrace { expired_at, grace_ends_at } => Text::with_step(
                format!("the configuration bundle expired on {expired_at}; the box keeps working until {grace_ends_at} (grace)"),
                "check the link to the axis: the box fetches a fresh bundle by itself as soon as the axis answers",
            ),
            Lapsed { expired_at, grace_ended_at } => Text::with_step(
                format!("the configuration bundle expired on {expired_at} and its grace ended on {grace_ended_at}; the box no longer sends or receives"),
                "check the link to the axis and ask provincial IT about this box's configuration; if it does not come back, ask for a new code and run `docgate enroll`",
            ),
            CertificateExpired { not_after } => Text::with_step(
                format!("the link certificate expired ({not_after}) while the box was offline; the box no longer sends or receives"),
                "ask provincial IT for a new code and run `docgate enroll`",
            ),
            Decommissioned => Text::with_step(
                "this box was decommissioned by provincial IT; it no longer sends or receives",
                "if it should still be in service, call provincial IT",
            ),
            LastFailed { error } => Text::with_step(
                format!("the last renewal or configuration check with the axis failed: {error}"),
                "check the link to the axis; the box tries again by itself",
            ),
            NotProvisioned => Text::with_step(
                "the box is not enrolled with provincial IT",
                "open the status page and enter the code from provincial IT, or run `docgate enroll`",
            ),
        }
    }

    /// In Vietnamese.
    pub fn vietnamese(&self) -> Text {
        use ProvisioningFinding::*;
        match self {
            Enrolled { agency_code, bundle_expires_at } => Text::fact(format!(
                "Đã được cấp phép với mã cơ quan {agency_code}; gói cấu hình có hiệu lực đến ngày {}",
                vi_date(bundle_expires_at)
            )),
            InGrace { expired_at, grace_ends_at } => Text::with_step(
                format!(
                    "Gói cấu hình đã hết hạn ngày {}; thiết bị vẫn hoạt động đến {} (thời gian gia hạn)",
                    vi_date(expired_at),
                    vi_time(grace_ends_at)
                ),
                "Kiểm tra kết nối tới trục liên thông: thiết bị tự tải gói cấu hình mới ngay khi trục trả lời",
            ),
            Lapsed { expired_at, grace_ended_at } => Text::with_step(
                format!(
                    "Gói cấu hình đã hết hạn ngày {} và hết thời gian gia hạn lúc {}; thiết bị không còn gửi, nhận văn bản",
                    vi_date(expired_at),
                    vi_time(grace_ended_at)
                ),
                "Kiểm tra kết nối tới trục và liên hệ bộ phận CNTT của tỉnh; nếu không khắc phục được, đề nghị cấp mã mới rồi chạy lệnh docgate enroll",
            ),
            CertificateExpired { not_after } => Text::with_step(
                format!(
                    "Chứng thư số kết nối trục đã hết hạn (ngày {}) trong lúc thiết bị mất kết nối; thiết bị không còn gửi, nhận văn bản",
                    vi_date(not_after)
                ),
                "Đề nghị bộ phận CNTT của tỉnh cấp mã cấp phép mới rồi chạy lệnh docgate enroll",
            ),
            Decommissioned => Text::with_step(
                "Thiết bị đã bị bộ phận CNTT của tỉnh thu hồi cấp phép; thiết bị không còn gửi, nhận văn bản",
                "Nếu thiết bị vẫn cần hoạt động, liên hệ bộ phận CNTT của tỉnh",
            ),
            LastFailed { error } => Text::with_step(
                format!("Lần gia hạn hoặc kiểm tra cấu hình gần nhất với trục bị lỗi: {error}"),
                "Kiểm tra kết nối tới trục; thiết bị sẽ tự thử lại",
            ),
            NotProvisioned => Text::with_step(
                "Thiết bị chưa được cấp phép",
                "Mở trang tình trạng thiết bị và nhập mã cấp phép do bộ phận CNTT của tỉnh cung cấp, hoặc chạy lệnh docgate enroll",
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
            ProvisioningFinding::Enrolled {
                agency_code: "000.01.20.H41".into(),
                bundle_expires_at: "2026-12-01T00:00:00Z".into(),
            },
            ProvisioningFinding::InGrace {
                expired_at: "2026-11-20T00:00:00Z".into(),
                grace_ends_at: "2026-11-27T00:00:00Z".into(),
            },
            ProvisioningFinding::Lapsed {
                expired_at: "2026-11-01T00:00:00Z".into(),
                grace_ended_at: "2026-11-08T00:00:00Z".into(),
            },
            ProvisioningFinding::CertificateExpired {
                not_after: "2026-11-10T00:00:00Z".into(),
            },
            ProvisioningFinding::Decommissioned,
            ProvisioningFinding::LastFailed {
                error: "cannot reach the axis".into(),
            },
            ProvisioningFinding::NotProvisioned,
        ];
        let severities: Vec<_> = findings.iter().map(ProvisioningFinding::severity).collect();
        assert_eq!(
            severities,
            [
                Severity::Ok,
                Severity::Warning,
                Severity::Failing,
                Severity::Failing,
                Severity::Failing,
                Severity::Warning,
                Severity::Failing,
            ]
        );
        for finding in &findings {
            let (english, vietnamese) = (finding.english(), finding.vietnamese());
            assert_ne!(english, vietnamese, "{finding:?}");
            if finding.severity() != Severity::Ok {
                assert!(english.next_step.is_some(), "{finding:?}");
                assert!(vietnamese.next_step.is_some(), "{finding:?}");
            }
        }
        let grace = findings[1].english().line();
        assert_eq!(
            grace,
            "the configuration bundle expired on 2026-11-20T00:00:00Z; the box keeps working until 2026-11-27T00:00:00Z (grace) — check the link to the axis: the box fetches a fresh bundle by itself as soon as the axis answers"
        );
        assert!(
            findings[1].vietnamese().what.contains("07:00 27/11/2026"),
            "Vietnam time: {:?}",
            findings[1].vietnamese()
        );
        assert!(findings[3]
            .english()
            .line()
            .contains("ask provincial IT for a new code and run `docgate enroll`"));
        assert_eq!(
            findings[4].english().what,
            "this box was decommissioned by provincial IT; it no longer sends or receives"
        );
    }
}
