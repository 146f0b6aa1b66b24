//! Vietnamese names of the codes the clerk pages show: processing statuses (01…16, as
//! exchange.md §2 names them), document states and priorities. Presentation only.

use maud::{html, Markup};

/// The name of a processing status code, as a clerk knows it.
pub fn status_name_vi(code: &str) -> &'static str {
    match code {
        "01" => "Đã đến",
        "02" => "Từ chối tiếp nhận",
        "03" => "Đã tiếp nhận",
        "04" => "Đã phân công",
        "05" => "Đang xử lý",
        "06" => "Đã hoàn thành",
        "13" => "Yêu cầu thu hồi",
        "15" => "Đồng ý yêu cầu",
        "16" => "Từ chối yêu cầu",
        _ => "Trạng thái khác",
    }
}

/// A status as a coloured badge: open (waiting for the clerk), refused, done, or neutral.
pub fn status_badge(code: &str) -> Markup {
    let class = match code {
        "01" => "badge open",
        "02" | "16" => "badge refused",
        "06" | "15" => "badge done",
        _ => "badge",
    };
    html! { span class=(class) data-status=(code) { (code) " · " (status_name_vi(code)) } }
}

/// Where the gateway is with a document (its exchange state).
pub fn document_state_vi(state: &str) -> &'static str {
    match state {
        "accepted" => "Đã nhận, chờ ký số cơ quan",
        "signed" => "Đã ký số, chờ đóng gói",
        "packed" => "Đã đóng gói, chờ gửi",
        "sent" => "Đã gửi lên trục, chờ xác nhận",
        "queued" => "Trục đã nhận",
        "received" => "Đã nhận từ trục",
        "quarantined" => "Bị giữ lại do lỗi",
        "registered" => "Đã vào sổ (mật, không gửi qua mạng)",
        _ => "Trạng thái khác",
    }
}

/// Độ khẩn: 0 normal … 3 express (hỏa tốc), 4 express at a set time.
pub fn priority_vi(priority: u8) -> &'static str {
    match priority {
        0 => "Thường",
        1 => "Khẩn",
        2 => "Thượng khẩn",
        3 => "Hỏa tốc",
        _ => "Hỏa tốc hẹn giờ",
    }
}
