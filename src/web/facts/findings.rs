//! What each health check can find, in words: a [`Finding`] per outcome (the database
//! answers, the link is down, a certificate expires in 12 days, the timestamp authority
//! did not answer…) carrying its variable parts (errors, dates, counts, URLs), with a
//! stable key, the component it belongs to, how bad it is, and its text in English and in
//! Vietnamese — what is wrong and the next step (the `token` check's findings are worded
//! in `token_findings.rs`, the `provisioning` check's in `provisioning_findings.rs`, the `update` check's in `update_findings.rs`). `facts.rs` decides which finding holds; this module only words
//! it. The JSON (`/healthz`, `/api/v1/status`, `docgate status`) carries the English; the
//! status page shows the Vietnamese by default.

use time::OffsetDateTime;

pub use super::provisioning_findings::ProvisioningFinding;
pub use super::token_findings::TokenFinding;
pub use super::update_findings::UpdateFinding;
use super::Severity;
use crate::system::clock::VIETNAM;

/// One finding of a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    StoreAnswers,
    StoreUnavailable {
        error: String,
    },
    /// No configuration file to re-read (a test or the demo).
    ConfigLoaded,
    ConfigValid,
    ConfigBroken {
        error: String,
    },
    ConfigUnchecked,
    Standalone,
    LinkUp,
    /// `error`: the last failure; `None` before the first answer.
    LinkDown {
        error: Option<String>,
    },
    /// The `token` check: the key file or the token, and documents waiting for the seal.
    Token(TokenFinding),
    CertificateValid {
        role: &'static str,
        days: i64,
    },
    CertificateExpiring {
        role: &'static str,
        days: i64,
        not_after: String,
    },
    CertificateExpired {
        role: &'static str,
        not_after: String,
    },
    CertificateNotYetValid {
        role: &'static str,
    },
    CertificateUnreadable {
        role: &'static str,
        problem: String,
    },
    DiskOk {
        percent: u64,
    },
    DiskFilling {
        percent: u64,
    },
    DiskFull {
        used: u64,
        quota: u64,
    },
    ClockOk,
    ClockLost {
        now: String,
    },
    ClockWentBack {
        now: String,
        newest: String,
    },
    TsaNotConfigured,
    TsaNotTried {
        url: String,
    },
    TsaAnswering {
        url: String,
        at: String,
    },
    /// `wait_minutes`: how long a B-B seal waits for its timestamp before it leaves
    /// without one; `None`: it waits until the TSA answers.
    TsaFailing {
        url: String,
        at: String,
        error: String,
        wait_minutes: Option<u64>,
    },
    /// The agency directory's last successful refresh was `days` ago.
    DirectoryStale {
        refreshed_at: String,
        days: i64,
    },
    /// The `provisioning` check: where an enrolled box stands with provincial IT.
    Provisioning(ProvisioningFinding),
    /// The `update` check: the appliance's system slots.
    Update(UpdateFinding),
}

/// A finding in one language: what was found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub what: String,
    pub next_step: Option<String>,
}

impl Text {
    pub(super) fn fact(what: impl Into<String>) -> Text {
        Text {
            what: what.into(),
            next_step: None,
        }
    }

    pub(super) fn with_step(what: impl Into<String>, next_step: impl Into<String>) -> Text {
        Text {
            what: what.into(),
            next_step: Some(next_step.into()),
        }
    }

    /// One line: what, then ` — ` and the next step.
    pub fn line(&self) -> String {
        match &self.next_step {
            Some(step) => format!("{} — {step}", self.what),
            None => self.what.clone(),
        }
    }
}

impl Finding {
    /// The check it belongs to: `store`, `config`, `link`, `token`, `certificate`,
    /// `disk`, `clock`, `tsa`, `directory`, `provisioning` or `update`.
    pub fn component(&self) -> &'static str {
        use Finding::*;
        match self {
            StoreAnswers | StoreUnavailable { .. } => "store",
            ConfigLoaded | ConfigValid | ConfigBroken { .. } | ConfigUnchecked => "config",
            Standalone | LinkUp | LinkDown { .. } => "link",
            Token(_) => "token",
            CertificateValid { .. }
            | CertificateExpiring { .. }
            | CertificateExpired { .. }
            | CertificateNotYetValid { .. }
            | CertificateUnreadable { .. } => "certificate",
            DiskOk { .. } | DiskFilling { .. } | DiskFull { .. } => "disk",
            ClockOk | ClockLost { .. } | ClockWentBack { .. } => "clock",
            TsaNotConfigured | TsaNotTried { .. } | TsaAnswering { .. } | TsaFailing { .. } => {
                "tsa"
            }
            DirectoryStale { .. } => "directory",
            Provisioning(_) => "provisioning",
            Update(_) => "update",
        }
    }

    /// A stable key of what was found, for monitoring and translations.
    pub fn kind(&self) -> &'static str {
        use Finding::*;
        match self {
            StoreAnswers => "store_answers",
            StoreUnavailable { .. } => "store_unavailable",
            ConfigLoaded => "config_loaded",
            ConfigValid => "config_valid",
            ConfigBroken { .. } => "config_broken",
            ConfigUnchecked => "config_unchecked",
            Standalone => "link_standalone",
            LinkUp => "link_up",
            LinkDown { .. } => "link_down",
            Token(token) => token.kind(),
            CertificateValid { .. } => "certificate_valid",
            CertificateExpiring { .. } => "certificate_expiring",
            CertificateExpired { .. } => "certificate_expired",
            CertificateNotYetValid { .. } => "certificate_not_yet_valid",
            CertificateUnreadable { .. } => "certificate_unreadable",
            DiskOk { .. } => "disk_ok",
            DiskFilling { .. } => "disk_filling",
            DiskFull { .. } => "disk_full",
            ClockOk => "clock_ok",
            ClockLost { .. } => "clock_lost",
            ClockWentBack { .. } => "clock_went_back",
            TsaNotConfigured => "tsa_not_configured",
            TsaNotTried { .. } => "tsa_not_tried",
            TsaAnswering { .. } => "tsa_answering",
            TsaFailing { .. } => "tsa_failing",
            DirectoryStale { .. } => "directory_stale",
            Provisioning(provisioning) => provisioning.kind(),
            Update(update) => update.kind(),
        }
    }

    /// How bad it is. A failing TSA is a warning: seals are still made (B-B) and wait for
    /// their timestamp.
    pub fn severity(&self) -> Severity {
        use Finding::*;
        match self {
            Token(token) => token.severity(),
            Provisioning(provisioning) => provisioning.severity(),
            Update(update) => update.severity(),
            StoreUnavailable { .. }
            | ConfigBroken { .. }
            | ConfigUnchecked
            | LinkDown { .. }
            | CertificateExpired { .. }
            | CertificateNotYetValid { .. }
            | CertificateUnreadable { .. }
            | DiskFull { .. }
            | ClockLost { .. } => Severity::Failing,
            CertificateExpiring { .. }
            | DiskFilling { .. }
            | ClockWentBack { .. }
            | TsaFailing { .. }
            | DirectoryStale { .. } => Severity::Warning,
            _ => Severity::Ok,
        }
    }

    /// In English (the JSON, `docgate status`, `?lang=en`).
    pub fn english(&self) -> Text {
        use Finding::*;
        match self {
            StoreAnswers => Text::fact("the database answers"),
            StoreUnavailable { error } => Text::with_step(
                format!("store: {error}; documents cannot be accepted"),
                "restart the service, and call provincial IT if it persists",
            ),
            ConfigLoaded => Text::fact("configuration loaded"),
            ConfigValid => Text::fact("the configuration file is valid"),
            ConfigBroken { error } => Text::with_step(
                format!("config: the configuration file no longer loads ({error}); the gateway would not start again"),
                "fix it before any restart",
            ),
            ConfigUnchecked => Text::with_step(
                "config: the check did not finish",
                "reload the page; restart the service if it keeps happening",
            ),
            Standalone => Text::fact("no axis configured (stand-alone)"),
            LinkUp => Text::fact("connected to the axis"),
            LinkDown { error } => Text::with_step(
                match error {
                    Some(error) => format!("axis link down: {error}"),
                    None => "axis link not yet established".to_owned(),
                },
                "check the network cable and the line to the provincial axis; documents wait here and leave by themselves when it is back",
            ),
            Token(token) => token.english(),
            CertificateValid { role, days } => {
                Text::fact(format!("{} is valid for {days} more days", role_en(role)))
            }
            CertificateExpiring { role, days, not_after } => Text::with_step(
                format!("{} expires in {days} days ({not_after})", role_en(role)),
                "ask provincial IT to renew it",
            ),
            CertificateExpired { role, not_after } => Text::with_step(
                format!(
                    "{} has expired ({not_after}); the box cannot work with it",
                    role_en(role)
                ),
                "ask provincial IT for a new one",
            ),
            CertificateNotYetValid { role } => Text::with_step(
                format!("{} is not valid yet", role_en(role)),
                "check the box's clock",
            ),
            CertificateUnreadable { role, problem } => Text::with_step(
                format!("{} cannot be read: {problem}", role_en(role)),
                "check the certificate the configuration names, or call provincial IT",
            ),
            DiskOk { percent } => Text::fact(format!("disk: {percent}% of the quota in use")),
            DiskFilling { percent } => Text::with_step(
                format!("disk: {percent}% of the quota in use"),
                "check the link so the backlog drains",
            ),
            DiskFull { used, quota } => Text::with_step(
                format!("disk: {used} of the {quota}-byte quota in use; new documents are refused"),
                "they are accepted again once the backlog is sent (check the link) or limits.disk_quota_bytes is raised",
            ),
            ClockOk => Text::fact("the clock looks right"),
            ClockLost { now } => Text::with_step(
                format!("clock: the box says {now}"),
                "set the time (NTP) — registers and certificates depend on it",
            ),
            ClockWentBack { now, newest } => Text::with_step(
                format!("clock: the box says {now} but it recorded a document at {newest}; the clock went back"),
                "check time sync (NTP)",
            ),
            TsaNotConfigured => Text::fact("timestamp authority: not configured"),
            TsaNotTried { url } => {
                Text::fact(format!("the timestamp authority at {url}: not tried yet"))
            }
            TsaAnswering { url, at } => {
                Text::fact(format!("the timestamp authority at {url} answered at {at}"))
            }
            TsaFailing { url, at, error, wait_minutes } => Text::with_step(
                format!("the timestamp authority at {url} did not answer at {at} ({error}); seals are made without a timestamp (B-B) meanwhile"),
                match wait_minutes {
                    Some(minutes) => format!("documents wait for their timestamp up to {minutes} minutes, then leave without it; check the network path to {url}"),
                    None => format!("documents wait for their timestamp until it answers; check the network path to {url}"),
                },
            ),
            DirectoryStale { refreshed_at, days } => Text::with_step(
                format!("the agency directory was last refreshed from the axis {days} days ago ({refreshed_at}); recipients are checked against that list"),
                "check the link to the axis; if it is up, ask the axis's operator whether getAgenciesList answers",
            ),
            Provisioning(provisioning) => provisioning.english(),
            Update(update) => update.english(),
        }
    }

    /// In Vietnamese (the status page's default).
    pub fn vietnamese(&self) -> Text {
        use Finding::*;
        match self {
            StoreAnswers => Text::fact("Cơ sở dữ liệu hoạt động bình thường"),
            StoreUnavailable { error } => Text::with_step(
                format!("Cơ sở dữ liệu không phản hồi ({error}); thiết bị không thể nhận văn bản mới"),
                "Khởi động lại dịch vụ docgate; nếu vẫn lỗi, liên hệ bộ phận CNTT của tỉnh",
            ),
            ConfigLoaded => Text::fact("Đã nạp cấu hình"),
            ConfigValid => Text::fact("Tệp cấu hình hợp lệ"),
            ConfigBroken { error } => Text::with_step(
                format!("Tệp cấu hình không còn đọc được ({error}); nếu khởi động lại, thiết bị sẽ không chạy được"),
                "Sửa tệp cấu hình trước khi khởi động lại thiết bị",
            ),
            ConfigUnchecked => Text::with_step(
                "Chưa kiểm tra xong tệp cấu hình",
                "Tải lại trang; nếu vẫn lặp lại, khởi động lại dịch vụ docgate",
            ),
            Standalone => Text::fact("Chưa cấu hình trục liên thông (chạy độc lập)"),
            LinkUp => Text::fact("Đã kết nối tới trục liên thông tỉnh"),
            LinkDown { error } => Text::with_step(
                match error {
                    Some(error) => format!("Mất kết nối tới trục liên thông tỉnh: {error}"),
                    None => "Chưa kết nối được tới trục liên thông tỉnh".to_owned(),
                },
                "Kiểm tra cáp mạng và đường truyền tới trục liên thông tỉnh; văn bản được giữ lại và tự động gửi đi khi có kết nối",
            ),
            Token(token) => token.vietnamese(),
            CertificateValid { role, days } => Text::fact(format!(
                "{} còn hiệu lực {days} ngày",
                capitalised(role_vi(role))
            )),
            CertificateExpiring { role, days, not_after } => Text::with_step(
                format!(
                    "{} sẽ hết hạn sau {days} ngày (ngày {})",
                    capitalised(role_vi(role)),
                    vi_date(not_after)
                ),
                "Đề nghị bộ phận CNTT của tỉnh gia hạn chứng thư số trước ngày hết hạn",
            ),
            CertificateExpired { role, not_after } => Text::with_step(
                format!(
                    "{} đã hết hạn (ngày {}); thiết bị không thể làm việc với chứng thư này",
                    capitalised(role_vi(role)),
                    vi_date(not_after)
                ),
                "Đề nghị bộ phận CNTT của tỉnh cấp chứng thư số mới",
            ),
            CertificateNotYetValid { role } => Text::with_step(
                format!("{} chưa đến ngày có hiệu lực", capitalised(role_vi(role))),
                "Kiểm tra đồng hồ của thiết bị (đồng bộ thời gian NTP)",
            ),
            CertificateUnreadable { role, problem } => Text::with_step(
                format!("Không đọc được {}: {problem}", role_vi(role)),
                "Kiểm tra chứng thư số khai báo trong cấu hình, hoặc liên hệ bộ phận CNTT của tỉnh",
            ),
            DiskOk { percent } => Text::fact(format!("Đã dùng {percent}% hạn mức lưu trữ")),
            DiskFilling { percent } => Text::with_step(
                format!("Đã dùng {percent}% hạn mức lưu trữ"),
                "Kiểm tra kết nối tới trục để văn bản tồn đọng được gửi đi",
            ),
            DiskFull { used, quota } => Text::with_step(
                format!("Đã dùng hết hạn mức lưu trữ ({used} trên {quota} byte); văn bản mới bị từ chối"),
                "Kiểm tra kết nối tới trục để văn bản tồn đọng được gửi đi, hoặc tăng hạn mức (limits.disk_quota_bytes)",
            ),
            ClockOk => Text::fact("Giờ hệ thống hợp lý"),
            ClockLost { now } => Text::with_step(
                format!("Đồng hồ thiết bị đang chỉ {}, bị sai", vi_time(now)),
                "Cài đặt lại giờ (đồng bộ NTP); sổ đăng ký văn bản và chứng thư số phụ thuộc vào giờ hệ thống",
            ),
            ClockWentBack { now, newest } => Text::with_step(
                format!(
                    "Đồng hồ thiết bị chỉ {} nhưng đã ghi nhận văn bản lúc {}; đồng hồ bị lùi",
                    vi_time(now),
                    vi_time(newest)
                ),
                "Kiểm tra đồng bộ thời gian (NTP)",
            ),
            TsaNotConfigured => Text::fact("Chưa cấu hình dịch vụ cấp dấu thời gian"),
            TsaNotTried { url } => {
                Text::fact(format!("Dịch vụ cấp dấu thời gian tại {url}: chưa thử"))
            }
            TsaAnswering { url, at } => Text::fact(format!(
                "Dịch vụ cấp dấu thời gian tại {url} đã trả lời lúc {}",
                vi_time(at)
            )),
            TsaFailing { url, at, error, wait_minutes } => Text::with_step(
                format!(
                    "Dịch vụ cấp dấu thời gian tại {url} không trả lời lúc {} ({error}); văn bản tạm được ký số không kèm dấu thời gian (B-B)",
                    vi_time(at)
                ),
                match wait_minutes {
                    Some(minutes) => format!("Văn bản chờ dấu thời gian tối đa {minutes} phút rồi được gửi đi không kèm dấu thời gian; kiểm tra đường mạng tới {url}"),
                    None => format!("Văn bản được giữ lại cho tới khi có dấu thời gian; kiểm tra đường mạng tới {url}"),
                },
            ),
            DirectoryStale { refreshed_at, days } => Text::with_step(
                format!(
                    "Danh bạ cơ quan chưa được cập nhật từ trục liên thông {days} ngày nay (lần cuối lúc {}); nơi nhận văn bản đi vẫn được kiểm tra theo danh bạ cũ",
                    vi_time(refreshed_at)
                ),
                "Kiểm tra kết nối tới trục; nếu vẫn kết nối, đề nghị đơn vị quản lý trục kiểm tra dịch vụ danh bạ (getAgenciesList)",
            ),
            Provisioning(provisioning) => provisioning.vietnamese(),
            Update(update) => update.vietnamese(),
        }
    }
}

fn role_en(role: &str) -> &str {
    match role {
        "link" => "the axis link certificate",
        "link-ca" => "the axis CA certificate",
        "agency" => "the agency seal certificate",
        other => other,
    }
}

fn role_vi(role: &str) -> &str {
    match role {
        "link" => "chứng thư số kết nối trục liên thông",
        "link-ca" => "chứng thư số CA của trục liên thông",
        "agency" => "chứng thư số của chữ ký số cơ quan",
        other => other,
    }
}

/// The text with its first letter in upper case.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn vietnam_time(rfc3339: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|instant| instant.to_offset(VIETNAM))
}

/// `dd/mm/yyyy` in Vietnam time, or the text as it is when it is not RFC 3339.
pub(super) fn vi_date(rfc3339: &str) -> String {
    vietnam_time(rfc3339)
        .and_then(|instant| {
            instant
                .format(time::macros::format_description!("[day]/[month]/[year]"))
                .ok()
        })
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// `HH:MM dd/mm/yyyy` in Vietnam time, or the text as it is when it is not RFC 3339.
pub(super) fn vi_time(rfc3339: &str) -> String {
    vietnam_time(rfc3339)
        .and_then(|instant| {
            instant
                .format(time::macros::format_description!(
                    "[hour]:[minute] [day]/[month]/[year]"
                ))
                .ok()
        })
        .unwrap_or_else(|| rfc3339.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_tsa_is_a_warning_with_the_wait_and_the_path_to_check() {
        let finding = Finding::TsaFailing {
            url: "http://tsa.test/".into(),
            at: "2026-11-22T01:30:00.000Z".into(),
            error: "connection refused".into(),
            wait_minutes: Some(30),
        };
        assert_eq!(finding.severity(), Severity::Warning);
        assert_eq!(finding.component(), "tsa");
        let english = finding.english().line();
        assert!(
            english.contains("documents wait for their timestamp up to 30 minutes"),
            "{english}"
        );
        assert!(english.contains("check the network path to http://tsa.test/"));
        let vietnamese = finding.vietnamese();
        assert!(vietnamese.what.contains("08:30 22/11/2026"), "Vietnam time");
        assert!(
            vietnamese.what.contains("connection refused"),
            "the error as it is"
        );
        assert!(vietnamese
            .next_step
            .is_some_and(|step| step.contains("tối đa 30 phút")));
    }

    #[test]
    fn every_finding_has_words_in_both_languages() {
        let findings = [
            Finding::StoreUnavailable { error: "e".into() },
            Finding::ConfigBroken { error: "e".into() },
            Finding::LinkDown { error: None },
            Finding::Token(TokenFinding::SealWaiting {
                problem: "p".into(),
                on_token: true,
            }),
            Finding::Token(TokenFinding::Absent {
                label: "agency-seal".into(),
                reason: "not found in slot list".into(),
            }),
            Finding::CertificateExpiring {
                role: "agency",
                days: 12,
                not_after: "2027-01-01T00:00:00.000Z".into(),
            },
            Finding::CertificateExpired {
                role: "link",
                not_after: "2026-01-01T00:00:00.000Z".into(),
            },
            Finding::DiskFull { used: 5, quota: 4 },
            Finding::ClockLost {
                now: "1970-01-01T00:00:00.000Z".into(),
            },
            Finding::TsaNotTried { url: "u".into() },
            Finding::DirectoryStale {
                refreshed_at: "2026-11-20T00:00:00.000Z".into(),
                days: 3,
            },
        ];
        for finding in findings {
            let (english, vietnamese) = (finding.english(), finding.vietnamese());
            assert_ne!(english, vietnamese, "{finding:?}");
            assert!(!vietnamese.what.is_empty());
            if finding.severity() != Severity::Ok {
                assert!(english.next_step.is_some(), "{finding:?}");
                assert!(vietnamese.next_step.is_some(), "{finding:?}");
            }
        }
        let expiring = Finding::CertificateExpiring {
            role: "agency",
            days: 12,
            not_after: "2027-01-01T00:00:00.000Z".into(),
        };
        assert_eq!(
            expiring.vietnamese().what,
            "Chứng thư số của chữ ký số cơ quan sẽ hết hạn sau 12 ngày (ngày 01/01/2027)"
        );
    }
}
