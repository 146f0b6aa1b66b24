//! The registers as people read them (NĐ 30/2020 Phụ lục IV): each stored row becomes an
//! entry with the register's columns, exported as JSON, as CSV (UTF-8 with BOM for Excel,
//! Vietnamese headers, spreadsheet formulas neutralised) or as a printable HTML page
//! (`register_html`); and closing a year, which records the SHA-256 of the CSV export.
//!
//! The CSV export is canonical: the same rows always give the same bytes (no time of
//! export, no closure state in it), so its digest proves what the register held when it
//! was closed. Reads rows through `store`; writes nothing but the closure.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::register::{check_year_ended, RegisterError};
use crate::store::registers::{
    AgreedRecall, CloseOutcome, IncomingRegisterRow, OutgoingRegisterRow, RegisterClosure,
    RegisterDigest, RegisterKind, RegisterRows,
};
use crate::store::{Store, StoreError};
use crate::system::clock::{rfc3339_utc, VIETNAM};

/// Column headers of the outgoing register (sổ đăng ký văn bản đi), NĐ 30/2020 Phụ lục IV,
/// then our own id.
pub const OUTGOING_HEADERS: [&str; 11] = [
    "Số, ký hiệu văn bản",
    "Ngày tháng văn bản",
    "Tên loại và trích yếu nội dung văn bản",
    "Người ký",
    "Nơi nhận văn bản",
    "Đơn vị, người nhận bản lưu",
    "Số lượng bản",
    "Ngày chuyển",
    "Ký nhận",
    "Ghi chú",
    "Mã trên cổng (id)",
];

/// Column headers of the incoming register (sổ đăng ký văn bản đến), then our own id.
pub const INCOMING_HEADERS: [&str; 11] = [
    "Ngày đến",
    "Số đến",
    "Tác giả",
    "Số, ký hiệu",
    "Ngày tháng",
    "Tên loại và trích yếu nội dung",
    "Đơn vị hoặc người nhận",
    "Ngày chuyển",
    "Ký nhận",
    "Ghi chú",
    "Mã trên cổng (id)",
];

/// Why an export or a closing failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the register as CSV: {0}")]
    Csv(String),
    #[error("format {0:?} is not `json`, `csv` or `html`")]
    BadFormat(String),
    #[error("the {year} {register} register still has {count} document(s) waiting to be sent; their \"date sent\" would change the closed register, so close it once they have left (see GET /api/v1/link)")]
    NotAllSent {
        register: &'static str,
        year: i32,
        count: u32,
    },
}

/// One entry of the outgoing register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutgoingEntry {
    /// Our id (ULID).
    pub id: String,
    pub number: u32,
    pub notation: String,
    /// `05/QĐ-UBND`: the number, zero-padded below 10, and the notation.
    pub number_notation: String,
    /// The document's date, `YYYY-MM-DD`.
    pub date: Option<String>,
    pub type_name: String,
    pub summary: String,
    /// Competence, position and name, e.g. `TM. Chủ tịch Nguyễn Văn A`.
    pub signer: String,
    /// Recipient agency codes.
    pub recipients: Vec<String>,
    /// Đơn vị, người nhận bản lưu (from `meta.file_copy_keeper`), else empty.
    pub file_copy_keeper: String,
    /// Số lượng bản (from `meta.copies`).
    pub copies: Option<u32>,
    /// When the axis confirmed it holds the document (Vietnam date, `YYYY-MM-DD`).
    pub date_sent: Option<String>,
    /// Cancelled, replaced, refused, secret…, in Vietnamese.
    pub notes: Vec<String>,
    pub state: String,
}

/// One entry of the incoming register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncomingEntry {
    pub id: String,
    /// Số đến.
    pub incoming_number: u32,
    /// Vietnam date it arrived, `YYYY-MM-DD`.
    pub date_received: String,
    /// The sending agency: its name and code.
    pub author: String,
    pub number_notation: String,
    /// The document's own date, `YYYY-MM-DD`.
    pub document_date: Option<String>,
    pub type_name: String,
    pub summary: String,
    /// Đơn vị hoặc người nhận: not known to the gateway yet, so empty.
    pub handling_unit: String,
    /// When it was passed on for handling (status 04), `YYYY-MM-DD`.
    pub date_passed_on: Option<String>,
    pub notes: Vec<String>,
}

/// A register's entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Entries {
    Outgoing(Vec<OutgoingEntry>),
    Incoming(Vec<IncomingEntry>),
}

impl Entries {
    pub fn len(&self) -> usize {
        match self {
            Entries::Outgoing(entries) => entries.len(),
            Entries::Incoming(entries) => entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A register year as exported.
#[derive(Debug, Clone)]
pub struct RegisterExport {
    pub kind: RegisterKind,
    pub year: i32,
    /// Our agency's name, for the printed page.
    pub organ_name: String,
    pub closed: Option<RegisterClosure>,
    pub entries: Entries,
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
    Html,
}

impl ExportFormat {
    pub fn parse(value: Option<&str>) -> Result<ExportFormat, ExportError> {
        match value {
            None | Some("json") => Ok(ExportFormat::Json),
            Some("csv") => Ok(ExportFormat::Csv),
            Some("html") => Ok(ExportFormat::Html),
            Some(other) => Err(ExportError::BadFormat(other.to_string())),
        }
    }

    /// The HTTP content type of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Json => "application/json",
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Html => "text/html; charset=utf-8",
        }
    }
}

impl RegisterExport {
    /// The export of `rows`, with the closure if there is one.
    pub fn new(
        kind: RegisterKind,
        year: i32,
        organ_name: &str,
        closed: Option<RegisterClosure>,
        rows: &RegisterRows,
    ) -> RegisterExport {
        RegisterExport {
            kind,
            year,
            organ_name: organ_name.to_string(),
            closed,
            entries: entries(rows),
        }
    }

    /// Reads a register year through the store and makes its export.
    pub fn read(
        store: &Store,
        kind: RegisterKind,
        year: i32,
        organ_name: &str,
    ) -> Result<RegisterExport, StoreError> {
        let rows = store.register_rows(kind, year)?;
        let closed = store.register_closure(kind, year)?;
        Ok(RegisterExport::new(kind, year, organ_name, closed, &rows))
    }

    /// `{"register", "year", "series"?, "closed", "entries"}`.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::json!({
            "register": match self.kind { RegisterKind::Outgoing(_) => "out", RegisterKind::Incoming => "in" },
            "year": self.year,
            "closed": self.closed,
            "entries": self.entries,
        });
        if let (Some(series), Some(object)) = (self.kind.series(), value.as_object_mut()) {
            object.insert("series".into(), series.as_str().into());
        }
        value
    }

    /// The export in `format`, as bytes.
    pub fn render(&self, format: ExportFormat) -> Result<Vec<u8>, ExportError> {
        match format {
            ExportFormat::Json => serde_json::to_vec(&self.to_json())
                .map_err(|error| ExportError::Csv(error.to_string())),
            ExportFormat::Csv => to_csv(&self.entries),
            ExportFormat::Html => Ok(super::register_html::page(self).into_bytes()),
        }
    }
}

/// The entries of stored rows.
pub fn entries(rows: &RegisterRows) -> Entries {
    match rows {
        RegisterRows::Outgoing(rows) => {
            Entries::Outgoing(rows.iter().map(outgoing_entry).collect())
        }
        RegisterRows::Incoming(rows) => {
            Entries::Incoming(rows.iter().map(incoming_entry).collect())
        }
    }
}

/// A string field of stored JSON, trimmed; empty when absent.
fn text(value: &Value, path: &[&str]) -> String {
    let mut current = value;
    for key in path {
        current = &current[*key];
    }
    current
        .as_str()
        .map(str::trim)
        .unwrap_or_default()
        .to_string()
}

/// `yyyy/MM/dd` (edXML) → `YYYY-MM-DD`, when it is a date.
fn edxml_to_iso(date: &str) -> Option<String> {
    let format = time::macros::format_description!("[year]/[month]/[day]");
    time::Date::parse(date.trim(), format)
        .ok()
        .map(|date| date.to_string())
}

/// An RFC 3339 instant → its Vietnam date, `YYYY-MM-DD`.
fn vietnam_date(rfc3339: &str) -> Option<String> {
    OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|instant| instant.to_offset(VIETNAM).date().to_string())
}

/// `YYYY-MM-DD` → `dd/mm/yyyy`, as Vietnamese registers write dates.
pub(super) fn vietnamese_date(iso: &str) -> String {
    match iso.split('-').collect::<Vec<_>>().as_slice() {
        [year, month, day] => format!("{day}/{month}/{year}"),
        _ => iso.to_string(),
    }
}

fn number_notation(number: Option<u32>, notation: Option<&str>) -> String {
    match (number, notation) {
        (Some(number), Some(notation)) => format!("{number:02}/{notation}"),
        (Some(number), None) => format!("{number:02}"),
        (None, Some(notation)) => notation.to_string(),
        (None, None) => String::new(),
    }
}

fn cancellation_note(at: &Option<String>, reason: &Option<String>) -> Option<String> {
    let at = at.as_deref()?;
    let date = vietnam_date(at)
        .map(|date| vietnamese_date(&date))
        .unwrap_or_default();
    Some(match reason.as_deref().map(str::trim) {
        Some(reason) if !reason.is_empty() => format!("Đã hủy (thu hồi) ngày {date}: {reason}"),
        _ => format!("Đã hủy (thu hồi) ngày {date}"),
    })
}

/// A recipient's agreement to our recall: the document is recalled for it (thu hồi).
fn recall_note(recall: &AgreedRecall) -> String {
    let date = recall
        .answered_at
        .as_deref()
        .and_then(vietnam_date)
        .map(|date| format!(" ngày {}", vietnamese_date(&date)))
        .unwrap_or_default();
    match recall.reason.trim() {
        "" => format!("Đã thu hồi{date} ({} đồng ý)", recall.organ_id),
        reason => format!("Đã thu hồi{date} ({} đồng ý): {reason}", recall.organ_id),
    }
}

fn outgoing_entry(row: &OutgoingRegisterRow) -> OutgoingEntry {
    let meta: Value = serde_json::from_str(&row.meta_json).unwrap_or(Value::Null);
    let signer = ["competence", "position", "name"]
        .iter()
        .map(|key| text(&meta, &["signer", key]))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let recipients = meta["to"]
        .as_array()
        .map(|to| {
            to.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut notes = Vec::new();
    if row.state == "registered" {
        notes.push("Văn bản mật: không gửi qua mạng".to_string());
    }
    if let Some(note) = cancellation_note(&row.cancelled_at, &row.cancel_reason) {
        notes.push(note);
    }
    notes.extend(row.recalls_agreed.iter().map(recall_note));
    if let Some(replaced) = &row.replaces {
        notes.push(format!("Thay thế văn bản {replaced}"));
    }
    for replacement in &row.replaced_by {
        notes.push(format!("Được thay thế bởi văn bản {replacement}"));
    }
    if let Some(reason) = &row.quarantine_reason {
        notes.push(format!("Trục liên thông từ chối: {reason}"));
    }
    let notation = row.code_notation.clone().unwrap_or_default();
    OutgoingEntry {
        id: row.id.clone(),
        number: row.code_number.unwrap_or_default(),
        number_notation: number_notation(row.code_number, row.code_notation.as_deref()),
        notation,
        date: row
            .document_id
            .as_deref()
            .and_then(|id| id.split(',').nth(1))
            .and_then(edxml_to_iso)
            .or_else(|| vietnam_date(&row.created_at)),
        type_name: text(&meta, &["type", "name"]),
        summary: row.subject.clone(),
        signer,
        recipients,
        file_copy_keeper: text(&meta, &["file_copy_keeper"]),
        copies: meta["copies"]
            .as_u64()
            .and_then(|copies| u32::try_from(copies).ok()),
        date_sent: row.queued_at.as_deref().and_then(vietnam_date),
        notes,
        state: row.state.clone(),
    }
}

fn incoming_entry(row: &IncomingRegisterRow) -> IncomingEntry {
    let meta: Value = serde_json::from_str(&row.meta_json).unwrap_or(Value::Null);
    let organ_name = text(&meta, &["from", "organ_name"]);
    let organ_id = row
        .peer_organ
        .clone()
        .unwrap_or_else(|| text(&meta, &["from", "organ_id"]));
    let author = match (organ_name.is_empty(), organ_id.is_empty()) {
        (false, false) => format!("{organ_name} ({organ_id})"),
        (false, true) => organ_name,
        _ => organ_id,
    };
    let mut notes = Vec::new();
    if let Some(note) = cancellation_note(&row.cancelled_at, &row.cancel_reason) {
        notes.push(note);
    }
    if let Some(replaced) = &row.replaces {
        notes.push(format!("Thay thế văn bản {replaced}"));
    }
    for replacement in &row.replaced_by {
        notes.push(format!("Được thay thế bởi văn bản {replacement}"));
    }
    if let Some(due) = &row.due_date {
        notes.push(format!("Hạn giải quyết: {}", vietnamese_date(due)));
    }
    IncomingEntry {
        id: row.id.clone(),
        incoming_number: row.incoming_number,
        date_received: vietnam_date(&row.received_at).unwrap_or_default(),
        author,
        number_notation: number_notation(row.code_number, row.code_notation.as_deref()),
        document_date: edxml_to_iso(&text(&meta, &["promulgation_info", "promulgation_date"])),
        type_name: text(&meta, &["document_type", "type_name"]),
        summary: row.subject.clone(),
        handling_unit: String::new(),
        date_passed_on: row.passed_on_at.as_deref().and_then(vietnam_date),
        notes,
    }
}

/// "Tên loại và trích yếu": the type name, then the summary.
pub(super) fn type_and_summary(type_name: &str, summary: &str) -> String {
    match (type_name.is_empty(), summary.is_empty()) {
        (false, false) => format!("{type_name}: {summary}"),
        (false, true) => type_name.to_string(),
        _ => summary.to_string(),
    }
}

/// The cells of each entry in column order, dates as `dd/mm/yyyy`.
pub(super) fn rows_of(entries: &Entries) -> (&'static [&'static str], Vec<Vec<String>>) {
    let date = |date: &Option<String>| date.as_deref().map(vietnamese_date).unwrap_or_default();
    match entries {
        Entries::Outgoing(entries) => (
            &OUTGOING_HEADERS,
            entries
                .iter()
                .map(|entry| {
                    vec![
                        entry.number_notation.clone(),
                        date(&entry.date),
                        type_and_summary(&entry.type_name, &entry.summary),
                        entry.signer.clone(),
                        entry.recipients.join("; "),
                        entry.file_copy_keeper.clone(),
                        entry
                            .copies
                            .map(|copies| copies.to_string())
                            .unwrap_or_default(),
                        date(&entry.date_sent),
                        String::new(),
                        entry.notes.join("; "),
                        entry.id.clone(),
                    ]
                })
                .collect(),
        ),
        Entries::Incoming(entries) => (
            &INCOMING_HEADERS,
            entries
                .iter()
                .map(|entry| {
                    vec![
                        vietnamese_date(&entry.date_received),
                        entry.incoming_number.to_string(),
                        entry.author.clone(),
                        entry.number_notation.clone(),
                        date(&entry.document_date),
                        type_and_summary(&entry.type_name, &entry.summary),
                        entry.handling_unit.clone(),
                        date(&entry.date_passed_on),
                        String::new(),
                        entry.notes.join("; "),
                        entry.id.clone(),
                    ]
                })
                .collect(),
        ),
    }
}

/// A cell a spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return, or their full-width forms) gets a leading apostrophe, so it is
/// shown as text (OWASP, "CSV Injection").
pub fn neutralise_formula(cell: &str) -> String {
    const TRIGGERS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];
    match cell.chars().next() {
        Some(first) if TRIGGERS.contains(&first) => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// The CSV export: UTF-8 with a byte-order mark (so Excel reads Vietnamese right), one
/// header row, then one row per entry; every cell quoted as needed and neutralised.
pub fn to_csv(entries: &Entries) -> Result<Vec<u8>, ExportError> {
    let (headers, rows) = rows_of(entries);
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    writer
        .write_record(headers)
        .map_err(|error| ExportError::Csv(error.to_string()))?;
    for row in rows {
        writer
            .write_record(row.iter().map(|cell| neutralise_formula(cell)))
            .map_err(|error| ExportError::Csv(error.to_string()))?;
    }
    writer
        .into_inner()
        .map_err(|error| ExportError::Csv(error.to_string()))
}

/// The digest of a register's rows: SHA-256 (hex) of their CSV export.
pub fn digest(rows: &RegisterRows) -> Result<RegisterDigest, ExportError> {
    let csv = to_csv(&entries(rows))?;
    Ok(RegisterDigest {
        digest: hex::encode(ring::digest::digest(&ring::digest::SHA256, &csv).as_ref()),
        entries: u32::try_from(rows.len()).unwrap_or(u32::MAX),
    })
}

/// Closes `kind`'s register for `year` once the year has ended in Vietnam and (outgoing)
/// every document of it has left: records the digest of its CSV export in
/// `register_closures` and in the evidence log, in one transaction. Closing again gives
/// the first closure while the register is unchanged.
pub async fn close_register(
    store: &Store,
    kind: RegisterKind,
    year: i32,
    now: OffsetDateTime,
) -> Result<CloseOutcome, ExportError> {
    check_year_ended(year, now)?;
    if let Some(series) = kind.series() {
        let reader = store.clone();
        let count = tokio::task::spawn_blocking(move || reader.unsent_outgoing(series, year))
            .await
            .map_err(|_| StoreError::Closed)??;
        if count > 0 {
            return Err(ExportError::NotAllSent {
                register: kind.name(),
                year,
                count,
            });
        }
    }
    store
        .close_register(kind, year, rfc3339_utc(now), digest)
        .await?
}

#[cfg(test)]
#[path = "register_export_tests.rs"]
mod tests;
