//! `GET /clerk/incoming` and `GET /clerk/outgoing`: the clerk's two lists, newest first, a
//! page at a time. Incoming shows who sent what and what is waiting for the clerk (with
//! the overdue ones marked); outgoing shows each recipient's latest status. Reads through
//! the store's list and document queries; decides nothing.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, Frame, Nav};
use super::names::{document_state_vi, status_badge, status_name_vi};
use super::session::ClerkSession;
use crate::store::{Direction, DocumentRecord, ListFilter};
use crate::web::documents::{read, today};
use crate::web::AppState;

/// Documents per page.
const PAGE: u32 = 25;

/// Query of the lists.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// A cursor from the previous page.
    cursor: Option<String>,
    /// Incoming: `open` (awaiting the clerk, the default) or `all`.
    show: Option<String>,
}

/// `GET /clerk/incoming[?show=all][&cursor=]`.
pub async fn incoming(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Query(query): Query<ListQuery>,
) -> Response {
    let open_only = query.show.as_deref() != Some("all");
    let filter = filter(&state, Direction::Incoming, query.cursor, open_only);
    let (documents, next) = match page(&state, filter).await {
        Ok(page) => page,
        Err(error) => {
            return layout::error_page(&state.organ_name, Some(&session), &error, "/clerk/incoming")
        }
    };
    let show = if open_only { "open" } else { "all" };
    let content = html! {
        h2 { "Văn bản đến" }
        p.meta {
            @if open_only {
                "Đang hiện văn bản chờ tiếp nhận. " a href="/clerk/incoming?show=all" #show-all { "Xem tất cả" }
            } @else {
                "Đang hiện tất cả văn bản đến. " a href="/clerk/incoming" #show-open { "Chỉ xem văn bản chờ tiếp nhận" }
            }
        }
        @if documents.is_empty() {
            p #empty { "Không có văn bản nào." }
        }
        ul.documents #incoming-list {
            @for document in &documents { (incoming_item(document)) }
        }
        (pager("/clerk/incoming", show, next.as_deref()))
    };
    layout::page(
        frame(&state, &session, "Văn bản đến", Nav::Incoming),
        content,
    )
}

/// `GET /clerk/outgoing[?cursor=]`.
pub async fn outgoing(
    State(state): State<AppState>,
    Extension(session): Extension<ClerkSession>,
    Query(query): Query<ListQuery>,
) -> Response {
    let filter = filter(&state, Direction::Outgoing, query.cursor, false);
    let (documents, next) = match page(&state, filter).await {
        Ok(page) => page,
        Err(error) => {
            return layout::error_page(&state.organ_name, Some(&session), &error, "/clerk/outgoing")
        }
    };
    let content = html! {
        h2 { "Văn bản đi" }
        @if documents.is_empty() {
            p #empty { "Chưa có văn bản đi nào." }
        }
        ul.documents #outgoing-list {
            @for document in &documents { (outgoing_item(document)) }
        }
        (pager("/clerk/outgoing", "all", next.as_deref()))
    };
    layout::page(
        frame(&state, &session, "Văn bản đi", Nav::Outgoing),
        content,
    )
}

fn frame<'a>(
    state: &'a AppState,
    session: &'a ClerkSession,
    title: &'a str,
    current: Nav,
) -> Frame<'a> {
    Frame {
        title,
        organ_name: &state.organ_name,
        session: Some(session),
        current,
    }
}

fn filter(
    state: &AppState,
    direction: Direction,
    cursor: Option<String>,
    open_only: bool,
) -> ListFilter {
    ListFilter {
        direction: Some(direction),
        state: None,
        since: None,
        // A cursor that is not a ULID is dropped (the first page shows) rather than refused:
        // it only ever comes from our own "next page" link.
        before_id: cursor
            .filter(|cursor| ulid::Ulid::from_string(cursor).is_ok())
            .map(|cursor| cursor.to_ascii_uppercase()),
        limit: PAGE,
        business_status: open_only.then(|| "01".to_string()),
        overdue: None,
        today: today(state),
        priority_min: None,
        subject_contains: None,
    }
}

/// One page of full documents (the lists show senders and recipients, which only the full
/// record has; a page is 25 small reads).
async fn page(
    state: &AppState,
    filter: ListFilter,
) -> Result<(Vec<DocumentRecord>, Option<String>), crate::web::ApiError> {
    let today = filter.today.clone();
    read(state, move |store| {
        let page = store.list_documents(&filter)?;
        let mut documents = Vec::with_capacity(page.documents.len());
        for summary in &page.documents {
            if let Some(mut document) = store.document(&summary.id)? {
                document.summary.mark_overdue(&today);
                documents.push(document);
            }
        }
        Ok((documents, page.next_cursor))
    })
    .await
}

fn pager(path: &str, show: &str, next: Option<&str>) -> Markup {
    html! {
        @if let Some(next) = next {
            p.pager { a #next-page href={ (path) "?show=" (show) "&cursor=" (next) } { "Trang sau →" } }
        }
    }
}

/// `Số 12/UBND-VP` or what is known of it.
pub fn number_and_notation(document: &DocumentRecord) -> String {
    let summary = &document.summary;
    match (summary.code_number, summary.code_notation.as_deref()) {
        (Some(number), Some(notation)) => format!("Số {number}/{notation}"),
        (Some(number), None) => format!("Số {number}"),
        (None, Some(notation)) => notation.to_string(),
        (None, None) => String::new(),
    }
}

/// The sender of an incoming document: name and code as the packet says.
pub fn sender(document: &DocumentRecord) -> String {
    let from = &document.meta["from"];
    let name = from["organ_name"].as_str().unwrap_or_default().trim();
    let code = document
        .exchange
        .peer_organ
        .as_deref()
        .or_else(|| from["organ_id"].as_str())
        .unwrap_or_default();
    match (name.is_empty(), code.is_empty()) {
        (false, false) => format!("{name} ({code})"),
        (false, true) => name.to_string(),
        _ => code.to_string(),
    }
}

fn incoming_item(document: &DocumentRecord) -> Markup {
    let summary = &document.summary;
    let code = summary.business_status.as_deref().unwrap_or("01");
    html! {
        li.document data-id=(summary.id) {
            a.subject href={ "/clerk/documents/" (summary.id) } { (subject(document)) }
            div.meta {
                (number_and_notation(document)) " · " "Từ: " (sender(document))
            }
            div.meta {
                (status_badge(code)) " "
                @if let Some(number) = summary.incoming_number { "Số đến: " (number) " · " }
                "Nhận lúc: " (local_time(&summary.created_at))
                @if let Some(due) = &summary.due_date { " · Hạn xử lý: " (due) }
                @if summary.overdue { " " span.overdue { "QUÁ HẠN" } }
                @if document.business.cancelled.is_some() { " " span.badge.refused { "Đã thu hồi" } }
            }
        }
    }
}

fn outgoing_item(document: &DocumentRecord) -> Markup {
    let summary = &document.summary;
    html! {
        li.document data-id=(summary.id) {
            a.subject href={ "/clerk/documents/" (summary.id) } { (subject(document)) }
            div.meta {
                (number_and_notation(document)) " · " (document_state_vi(&summary.state))
                " · " (local_time(&summary.created_at))
                @if document.business.cancelled.is_some() { " " span.badge.refused { "Đã thu hồi" } }
            }
            @if let Some(recipients) = &document.business.recipients {
                div.meta.recipients {
                    @for recipient in recipients {
                        span.recipient data-organ=(recipient.organ_id) {
                            (recipient.organ_id) ": "
                            @match recipient.latest_code.as_deref() {
                                Some(code) => (status_name_vi(code)),
                                None => "chưa có trạng thái",
                            }
                        }
                        " "
                    }
                }
            }
        }
    }
}

/// The subject, or a placeholder when a packet had none.
pub fn subject(document: &DocumentRecord) -> &str {
    if document.summary.subject.trim().is_empty() {
        "(không có trích yếu)"
    } else {
        &document.summary.subject
    }
}

/// An RFC 3339 UTC instant as `dd/MM/yyyy HH:mm` Vietnam time (as stored when unreadable).
pub fn local_time(rfc3339: &str) -> String {
    let format = time::macros::format_description!("[day]/[month]/[year] [hour]:[minute]");
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|instant| instant.to_offset(time::macros::offset!(+7)))
        .and_then(|local| local.format(&format).ok())
        .unwrap_or_else(|| rfc3339.to_string())
}
