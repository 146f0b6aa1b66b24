//! The printable page of a register year: every column of NĐ 30/2020 Phụ lục IV under
//! Vietnamese headers, an A4 landscape print stylesheet, no script. Built with `maud`,
//! which escapes every value it interpolates (text and attributes alike): nothing from a
//! document can become markup.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::register_export::{rows_of, vietnamese_date, RegisterExport};
use crate::store::registers::RegisterKind;
use crate::store::RegisterSeries;

/// The stylesheet: fixed text, no value from a document.
const STYLE: &str = r#"
@page { size: A4 landscape; margin: 12mm 10mm; }
body { font-family: "Times New Roman", serif; font-size: 11pt; margin: 0 auto; max-width: 287mm; }
h1 { font-size: 15pt; text-align: center; margin: 4mm 0 1mm; }
p.agency { text-transform: uppercase; font-weight: bold; margin: 0; }
p.meta { text-align: center; margin: 0 0 4mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #000; padding: 1mm 1.5mm; vertical-align: top; }
th { font-weight: bold; text-align: center; }
td { white-space: pre-wrap; overflow-wrap: anywhere; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; }
td.id { font-family: monospace; font-size: 8pt; }
@media print { p.hint { display: none; } }
"#;

/// The page title, e.g. `SỔ ĐĂNG KÝ VĂN BẢN ĐI — năm 2026`.
pub fn title(kind: RegisterKind, year: i32) -> String {
    let which = match kind {
        RegisterKind::Outgoing(RegisterSeries::General) => "ĐI",
        RegisterKind::Outgoing(RegisterSeries::Secret) => "ĐI (MẬT)",
        RegisterKind::Incoming => "ĐẾN",
    };
    format!("SỔ ĐĂNG KÝ VĂN BẢN {which} — năm {year}")
}

/// The whole page.
pub fn page(export: &RegisterExport) -> String {
    let title = title(export.kind, export.year);
    let (headers, rows) = rows_of(&export.entries);
    let markup: Markup = html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                p.agency { (export.organ_name) }
                h1 { (title) }
                p.meta {
                    "Số văn bản: " (export.entries.len())
                    @if let Some(closed) = &export.closed {
                        " · Đã khóa sổ ngày "
                        (closed.at.get(..10).map(vietnamese_date).unwrap_or_default())
                        " · SHA-256 " code { (closed.digest) }
                    }
                }
                table {
                    thead {
                        tr {
                            @for header in headers { th scope="col" { (header) } }
                        }
                    }
                    tbody {
                        @for row in &rows {
                            tr {
                                @for (index, cell) in row.iter().enumerate() {
                                    @if index + 1 == row.len() {
                                        td.id { (cell) }
                                    } @else {
                                        td { (cell) }
                                    }
                                }
                            }
                        }
                    }
                }
                p.hint { "In trên khổ A4 ngang (Ctrl+P)." }
            }
        }
    };
    markup.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::registers::{OutgoingRegisterRow, RegisterRows};

    #[test]
    fn every_value_is_escaped() {
        let row = OutgoingRegisterRow {
            id: "ID1".into(),
            document_id: Some("x,2026/03/01,01/UBND-VP".into()),
            code_number: Some(1),
            code_notation: Some("UBND-VP".into()),
            state: "queued".into(),
            subject: "<script>alert(1)</script> & \"quotes\"".into(),
            meta_json:
                r#"{"type": {"name": "Công văn"}, "signer": {"name": "<b>A</b>"}, "to": ["<i>"]}"#
                    .into(),
            created_at: "2026-03-01T01:00:00.000Z".into(),
            queued_at: None,
            quarantine_reason: Some("</td><td>".into()),
            cancelled_at: None,
            cancel_reason: None,
            replaces: None,
            replaced_by: Vec::new(),
            recalls_agreed: Vec::new(),
        };
        let export = RegisterExport::new(
            RegisterKind::Outgoing(RegisterSeries::General),
            2026,
            "UBND <xã>",
            None,
            &RegisterRows::Outgoing(vec![row]),
        );
        let html = page(&export);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>A"), "{html}");
        assert!(
            html.contains("từ chối: &lt;/td&gt;&lt;td&gt;</td>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
        assert!(html.contains("UBND &lt;xã&gt;"));
        assert!(html.contains("SỔ ĐĂNG KÝ VĂN BẢN ĐI — năm 2026"));
        assert!(html.contains("size: A4 landscape"));
        assert!(html.contains("Tên loại và trích yếu nội dung văn bản"));
    }
}
