//! The sender's and the directory's views: `getSentEdocList` (per-recipient transport
//! state of what the caller sent) and `getAgenciesList` (every agency code, its system and
//! name). Read-only; never shows a caller anything another system sent.

use axum::extract::State;
use axum::Extension;

use super::auth::Caller;
use super::reply::Reply;
use super::state::AxisState;
use crate::vdxp::{header, AgencyItem, AxisAnswer, HubErrorCode, SentItem, TransportStatus};

/// Most deliveries one list answers.
const MAX_LIST: u32 = 500;

/// `getSentEdocList` [docId optional = the sender's DocId].
pub(crate) async fn sent_list(
    State(state): State<AxisState>,
    Extension(caller): Extension<Caller>,
) -> Result<Reply, Reply> {
    let doc_id = caller.header(header::DOC_ID).map(str::to_owned);
    let system = caller.system_id.clone();
    let wanted = doc_id.clone();
    let (exists, sent) = state
        .blocking(move |store| {
            let exists = match &wanted {
                Some(doc_id) => store.packet_exists(&system, doc_id)?,
                None => true,
            };
            let sent = store.sent_deliveries(&system, wanted.as_deref(), MAX_LIST)?;
            Ok((exists, sent))
        })
        .await?;
    if !exists {
        return Err(Reply::refuse(
            HubErrorCode::UnknownDocId,
            format!(
                "this system sent no packet {:?}; use the DocId sendEdoc answered",
                doc_id.unwrap_or_default()
            ),
        ));
    }
    let items: Vec<SentItem> = sent
        .into_iter()
        .map(|record| {
            let acknowledged = record.state != TransportStatus::Processing;
            SentItem {
                sender_doc_id: record.packet_doc_id,
                receiver_doc_id: record.delivery_id,
                from_code: record.sender_organ,
                to_code: record.recipient_organs.join(","),
                send_status: TransportStatus::Done.as_str().to_owned(),
                send_status_desc: String::new(),
                receive_status: record.state.as_str().to_owned(),
                receive_status_desc: String::new(),
                sent_time: record.sent_at,
                received_time: if acknowledged {
                    record.updated_at
                } else {
                    String::new()
                },
                title: record.title,
                notation: record.notation,
            }
        })
        .collect();
    let mut answer = AxisAnswer::ok();
    answer.count = Some(items.len() as u64);
    answer.data = Some(serde_json::to_value(items).map_err(|error| Reply::internal(&error))?);
    Ok(Reply::ok(answer))
}

/// `getAgenciesList`.
pub(crate) async fn agencies_list(
    State(state): State<AxisState>,
    Extension(_caller): Extension<Caller>,
) -> Result<Reply, Reply> {
    let directory = state.directory.current();
    let items: Vec<AgencyItem> = directory
        .agencies()
        .map(|(code, system_id, name)| AgencyItem {
            code: code.to_owned(),
            name: name.to_owned(),
            system_id: system_id.to_owned(),
        })
        .collect();
    let mut answer = AxisAnswer::ok();
    answer.count = Some(items.len() as u64);
    answer.data = Some(serde_json::to_value(items).map_err(|error| Reply::internal(&error))?);
    Ok(Reply::ok(answer))
}
