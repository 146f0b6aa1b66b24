//! What the `token` check can find, in words: the agency seal's key file, or the agency's
//! USB token as its worker last found it (present and logged in, still being looked for,
//! absent, its PIN refused or locked, unusable, or not used at all without `[axis]`), and
//! documents waiting for a seal that failed for another reason. Each [`TokenFinding`] has
//! a stable key, a severity and its text in English and Vietnamese with the next step;
//! `checks.rs` decides which holds, `findings.rs` wraps it as a [`super::Finding`].

use super::findings::Text;
use super::Severity;

/// One finding of the `token` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFinding {
    /// `[signing] key_file`: no token.
    KeyFileInUse,
    /// The token is present and logged in.
    Ready { label: String },
    /// Documents wait for the seal: `problem` is the sealer's last failure.
    SealWaiting { problem: String, on_token: bool },
    /// The token worker has not finished its first look (the service just started).
    Starting { label: String },
    /// Not in the slot list, or stopped answering (`reason`: what the worker saw).
    Absent { label: String, reason: String },
    /// The token refused the PIN in `pin_file` (PKCS#11 `code`).
    PinRefused {
        label: String,
        pin_file: String,
        code: String,
    },
    /// The token locked its user PIN.
    PinLocked { label: String },
    /// Not usable as configured (module, PIN file, key, certificate): the worker's words.
    Unusable { label: String, reason: String },
    /// `[signing]` names a token but without `[axis]` nothing is sealed, so no worker
    /// looks at it.
    Unused { label: String },
}

impl TokenFinding {
    /// A stable key of what was found.
    pub fn kind(&self) -> &'static str {
        use TokenFinding::*;
        match self {
            KeyFileInUse => "seal_key_file",
            Ready { .. } => "token_answers",
            SealWaiting { .. } => "seal_waiting",
            Starting { .. } => "token_starting",
            Absent { .. } => "token_absent",
            PinRefused { .. } => "token_pin_refused",
            PinLocked { .. } => "token_pin_locked",
            Unusable { .. } => "token_unusable",
            Unused { .. } => "token_unused",
        }
    }

    /// How bad it is: anything that keeps the seal from being made fails; a token still
    /// being looked for right after start is a warning.
    pub fn severity(&self) -> Severity {
        use TokenFinding::*;
        match self {
            KeyFileInUse | Ready { .. } | Unused { .. } => Severity::Ok,
            Starting { .. } => Severity::Warning,
            SealWaiting { .. }
            | Absent { .. }
            | PinRefused { .. }
            | PinLocked { .. }
            | Unusable { .. } => Severity::Failing,
        }
    }

    /// In English.
    pub fn english(&self) -> Text {
        use TokenFinding::*;
        match self {
            KeyFileInUse => Text::fact("the agency key file is in use"),
            Ready { label } => Text::fact(format!("token '{label}' is present and logged in")),
            SealWaiting { problem, on_token } => Text::with_step(
                format!("agency seal: {problem}"),
                if *on_token {
                    "plug the agency's USB token in and check its PIN file; outgoing documents wait and are sealed as soon as it answers"
                } else {
                    "check the key file named in [signing]; outgoing documents wait until it can seal"
                },
            ),
            Starting { label } => Text::with_step(
                format!("looking for token '{label}' (the service has just started)"),
                "wait a few seconds and reload; if it stays, check the token and its PKCS#11 module",
            ),
            Absent { label, reason } => Text::with_step(
                format!("token '{label}' {reason}; is the USB token plugged in?"),
                "plug the agency's USB token in; docgate finds it by itself within seconds, and outgoing documents wait for the seal until then",
            ),
            PinRefused { label, pin_file, code } => Text::with_step(
                format!("token '{label}' refused the PIN in {pin_file} ({code})"),
                "write the right PIN into that file: docgate tries a new PIN once when the file changes and never repeats a refused one, so the token does not lock itself",
            ),
            PinLocked { label } => Text::with_step(
                format!("token '{label}' has locked its user PIN after too many wrong attempts"),
                "the agency's security officer must unblock it with the SO PIN (the token vendor's tool)",
            ),
            Unusable { label, reason } => Text::with_step(
                format!("token '{label}' cannot be used: {reason}"),
                "check the token, its PIN file and [signing]; call provincial IT if it persists",
            ),
            Unused { label } => Text::fact(format!(
                "token '{label}' is not used: without [axis] nothing is sealed"
            )),
        }
    }

    /// In Vietnamese.
    pub fn vietnamese(&self) -> Text {
        use TokenFinding::*;
        match self {
            KeyFileInUse => Text::fact("Đang dùng tệp khóa chữ ký số của cơ quan"),
            Ready { label } => Text::fact(format!(
                "USB token '{label}' đã cắm và đã đăng nhập, sẵn sàng ký số"
            )),
            SealWaiting { problem, on_token } => Text::with_step(
                format!("Chưa đóng dấu (ký số cơ quan) được văn bản đi: {problem}"),
                if *on_token {
                    "Cắm USB token của cơ quan vào thiết bị và kiểm tra tệp mã PIN; văn bản đi được giữ lại và tự động ký số khi token sẵn sàng"
                } else {
                    "Kiểm tra tệp khóa khai báo trong mục [signing]; văn bản đi được giữ lại cho tới khi ký số được"
                },
            ),
            Starting { label } => Text::with_step(
                format!("Đang tìm USB token '{label}' (dịch vụ vừa khởi động)"),
                "Chờ vài giây rồi tải lại trang; nếu vẫn vậy, kiểm tra USB token và trình điều khiển token (PKCS#11)",
            ),
            Absent { label, reason } => Text::with_step(
                format!("Không tìm thấy USB token '{label}' ({reason}); USB token đã được cắm vào thiết bị chưa?"),
                "Cắm USB token của cơ quan vào thiết bị; docgate tự nhận lại token trong vài giây, văn bản đi được giữ lại và tự động ký số khi token sẵn sàng",
            ),
            PinRefused { label, pin_file, code } => Text::with_step(
                format!("USB token '{label}' từ chối mã PIN trong tệp {pin_file} ({code})"),
                "Ghi đúng mã PIN vào tệp này; docgate chỉ thử mã PIN mới một lần khi tệp thay đổi và không thử lại mã PIN đã bị từ chối, để token không bị khóa",
            ),
            PinLocked { label } => Text::with_step(
                format!("USB token '{label}' đã khóa mã PIN sau nhiều lần nhập sai"),
                "Cán bộ quản trị token của cơ quan cần mở khóa bằng mã SO PIN (công cụ của nhà cung cấp token) trước khi docgate ký số được",
            ),
            Unusable { label, reason } => Text::with_step(
                format!("USB token '{label}' chưa dùng được: {reason}"),
                "Kiểm tra USB token, tệp mã PIN và mục [signing] trong cấu hình; nếu vẫn lỗi, liên hệ bộ phận CNTT của tỉnh",
            ),
            Unused { label } => Text::fact(format!(
                "USB token '{label}' chưa được dùng: chưa cấu hình trục liên thông nên không có văn bản nào cần ký số"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_token_fails_with_the_plug_it_in_step_in_both_languages() {
        let absent = TokenFinding::Absent {
            label: "agency-seal".into(),
            reason: "not found in slot list".into(),
        };
        assert_eq!(absent.severity(), Severity::Failing);
        assert_eq!(absent.kind(), "token_absent");
        let english = absent.english();
        assert_eq!(
            english.what,
            "token 'agency-seal' not found in slot list; is the USB token plugged in?"
        );
        assert!(english
            .next_step
            .is_some_and(|step| step.contains("plug the agency's USB token in")));
        let vietnamese = absent.vietnamese();
        assert!(
            vietnamese
                .what
                .starts_with("Không tìm thấy USB token 'agency-seal'"),
            "{vietnamese:?}"
        );
        assert!(vietnamese
            .next_step
            .is_some_and(|step| step.starts_with("Cắm USB token của cơ quan")));
    }

    #[test]
    fn only_a_token_that_cannot_seal_fails() {
        let label = || "agency-seal".to_owned();
        let ok = [
            TokenFinding::KeyFileInUse,
            TokenFinding::Ready { label: label() },
            TokenFinding::Unused { label: label() },
        ];
        for finding in ok {
            assert_eq!(finding.severity(), Severity::Ok, "{finding:?}");
        }
        assert_eq!(
            TokenFinding::Starting { label: label() }.severity(),
            Severity::Warning
        );
        let failing = [
            TokenFinding::PinRefused {
                label: label(),
                pin_file: "/run/credentials/docgate.service/token-pin".into(),
                code: "CKR_PIN_INCORRECT".into(),
            },
            TokenFinding::PinLocked { label: label() },
            TokenFinding::Unusable {
                label: label(),
                reason: "r".into(),
            },
        ];
        for finding in failing {
            assert_eq!(finding.severity(), Severity::Failing, "{finding:?}");
            assert!(finding.english().next_step.is_some(), "{finding:?}");
            assert!(finding.vietnamese().next_step.is_some(), "{finding:?}");
            assert_ne!(finding.english(), finding.vietnamese());
        }
    }
}
