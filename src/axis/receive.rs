//! The receiving side: `getReceivedEdocList`, `getEdoc` (base64 in the SDK's JSON, or raw
//! bytes with `format: raw`, both streamed from the file with bounded memory),
//! `updateStatus` (the transport acknowledgement) and the `waitForEdoc` long poll. A caller
//! only ever sees its own deliveries. Never deletes anything: acknowledged deliveries
//! leave the list but stay in the store.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header as http_header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use futures_util::stream::{self, StreamExt};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::auth::Caller;
use super::reply::Reply;
use super::routing;
use super::state::AxisState;
use crate::store::axis::DeliveryRecord;
use crate::vdxp::{header, AxisAnswer, HubErrorCode, MessageType, ReceivedItem, TransportStatus};

/// Most deliveries one list answers.
const MAX_LIST: u32 = 500;
/// Raw bytes per base64 chunk: a multiple of 3, so chunks encode without padding between.
const BASE64_CHUNK_BYTES: usize = 48 * 1024;
/// Read buffer of a raw download.
const RAW_CHUNK_BYTES: usize = 64 * 1024;
/// The SDK's JSON around the base64 of a `getEdoc` answer.
const JSON_PREFIX: &str = r#"{"status":"OK","ErrorCode":"0","ErrorDesc":"","data":""#;
const JSON_SUFFIX: &str = r#""}"#;
/// How often a compare-and-set of a delivery's state is retried when it races.
const TRANSITION_ATTEMPTS: usize = 4;

/// `getReceivedEdocList` [messagetype optional].
pub(crate) async fn received_list(
    State(state): State<AxisState>,
    Extension(caller): Extension<Caller>,
) -> Result<Reply, Reply> {
    let message_type = match caller.header(header::MESSAGE_TYPE) {
        None => None,
        Some(text) => Some(MessageType::parse(text).ok_or_else(|| {
            Reply::refuse(
                HubErrorCode::BadRequest,
                format!("XroadVnpt-messagetype {text:?} is neither edoc nor status"),
            )
        })?),
    };
    let system = caller.system_id.clone();
    let deliveries = state
        .blocking(move |store| store.waiting_deliveries(&system, message_type, MAX_LIST))
        .await?;
    let items: Vec<ReceivedItem> = deliveries.iter().map(received_item).collect();
    let mut answer = AxisAnswer::ok();
    answer.count = Some(items.len() as u64);
    answer.data = Some(serde_json::to_value(items).map_err(|error| Reply::internal(&error))?);
    Ok(Reply::ok(answer))
}

fn received_item(delivery: &DeliveryRecord) -> ReceivedItem {
    ReceivedItem {
        doc_id: delivery.delivery_id.clone(),
        service_type: header::SERVICE_TYPE_EDOC.to_owned(),
        message_type: delivery.message_type.as_str().to_owned(),
        created_time: delivery.created_at.clone(),
        updated_time: delivery.updated_at.clone(),
        from: delivery.sender_organ.clone(),
        to: delivery.recipient_organs.join(","),
        status: delivery.state.as_str().to_owned(),
        status_desc: String::new(),
        size: Some(delivery.size),
    }
}

/// The caller's delivery named by the signed `docId`, or the refusal (32 / 31).
async fn own_delivery(state: &AxisState, caller: &Caller) -> Result<DeliveryRecord, Reply> {
    let delivery_id = caller
        .header(header::DOC_ID)
        .ok_or_else(|| Reply::refuse(HubErrorCode::BadRequest, "XroadVnpt-docId is missing"))?
        .to_owned();
    let system = caller.system_id.clone();
    let wanted = delivery_id.clone();
    state
        .blocking(move |store| store.delivery(&system, &wanted))
        .await?
        .ok_or_else(|| {
            Reply::refuse(
                HubErrorCode::UnknownDocId,
                format!("no packet {delivery_id:?} for this system; take docId from getReceivedEdocList"),
            )
        })
}

/// `getEdoc` [docId, format optional].
pub(crate) async fn get_edoc(
    State(state): State<AxisState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, Reply> {
    let delivery = own_delivery(&state, &caller).await?;
    let raw = caller
        .header(header::FORMAT)
        .is_some_and(|format| format.eq_ignore_ascii_case(header::FORMAT_RAW));
    let sha256 = delivery.sha256.clone();
    let file = state
        .blocking(move |store| store.blobs().open_blob(&sha256))
        .await?;
    let file = tokio::fs::File::from_std(file);
    let size = delivery.size;
    let mut response = if raw {
        let body = Body::from_stream(ReaderStream::with_capacity(file, RAW_CHUNK_BYTES));
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            http_header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Ok(value) = HeaderValue::from_str(&delivery.sha256) {
            headers.insert("x-content-sha256", value);
        }
        headers.insert(http_header::CONTENT_LENGTH, HeaderValue::from(size));
        response
    } else {
        let encoded_length = size.div_ceil(3) * 4;
        let length = JSON_PREFIX.len() as u64 + encoded_length + JSON_SUFFIX.len() as u64;
        let body = stream::once(async {
            Ok::<Bytes, std::io::Error>(Bytes::from_static(JSON_PREFIX.as_bytes()))
        })
        .chain(base64_stream(file))
        .chain(stream::once(async {
            Ok(Bytes::from_static(JSON_SUFFIX.as_bytes()))
        }));
        let mut response = (StatusCode::OK, Body::from_stream(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            http_header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(http_header::CONTENT_LENGTH, HeaderValue::from(length));
        response
    };
    response.headers_mut().insert(
        http_header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The file as base64, one chunk of [`BASE64_CHUNK_BYTES`] input bytes at a time.
fn base64_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    stream::try_unfold((file, false), |(mut file, finished)| async move {
        if finished {
            return Ok(None);
        }
        let mut buffer = vec![0u8; BASE64_CHUNK_BYTES];
        let mut filled = 0;
        while filled < buffer.len() {
            let read = file.read(&mut buffer[filled..]).await?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        if filled == 0 {
            return Ok(None);
        }
        let at_end = filled < buffer.len();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&buffer[..filled]);
        Ok(Some((Bytes::from(encoded), (file, at_end))))
    })
}

/// `updateStatus` [docId, status].
pub(crate) async fn update_status(
    State(state): State<AxisState>,
    Extension(caller): Extension<Caller>,
) -> Result<Reply, Reply> {
    let requested = caller
        .header(header::STATUS)
        .and_then(TransportStatus::parse)
        .ok_or_else(|| {
            Reply::refuse(
                HubErrorCode::BadRequest,
                "XroadVnpt-status must be processing, done or fail",
            )
        })?;
    for _ in 0..TRANSITION_ATTEMPTS {
        let delivery = own_delivery(&state, &caller).await?;
        let Some(new) = routing::transport_transition(delivery.state, requested)? else {
            return Ok(Reply::ok(AxisAnswer::ok()));
        };
        let moved = state
            .store
            .set_delivery_state(
                &caller.system_id,
                &delivery.delivery_id,
                delivery.state,
                new,
                state.now_text(),
            )
            .await
            .map_err(|error| Reply::internal(&error))?;
        if moved {
            tracing::info!(system = %caller.system_id, axis_doc_id = %delivery.delivery_id, state = new.as_str(), "delivery acknowledged");
            return Ok(Reply::ok(AxisAnswer::ok()));
        }
    }
    Err(Reply::internal(
        &"the delivery's state kept changing under concurrent updates",
    ))
}

/// `waitForEdoc` [wait = seconds]: answers as soon as something waits for the caller, or
/// with count 0 once `wait` (capped by `long_poll_max_secs`) has passed or the axis stops.
pub(crate) async fn wait_for_edoc(
    State(state): State<AxisState>,
    Extension(caller): Extension<Caller>,
) -> Result<Reply, Reply> {
    let wait = match caller.header(header::WAIT) {
        None => state.limits.long_poll_max,
        Some(text) => Duration::from_secs(text.parse::<u64>().map_err(|_| {
            Reply::refuse(
                HubErrorCode::BadRequest,
                format!("XroadVnpt-wait {text:?} is not a whole number of seconds"),
            )
        })?),
    }
    .min(state.limits.long_poll_max);
    let deadline = tokio::time::Instant::now() + wait;
    // Subscribe before counting, so a commit between the two still wakes us.
    let mut changes = state
        .wakeups
        .subscribe(&caller.system_id)
        .ok_or_else(|| Reply::internal(&"no wake-up channel for an authenticated system"))?;
    changes.borrow_and_update();
    loop {
        let system = caller.system_id.clone();
        let count = state
            .blocking(move |store| store.count_waiting(&system))
            .await?;
        if count > 0 || tokio::time::Instant::now() >= deadline || state.shutdown.is_triggered() {
            let mut answer = AxisAnswer::ok();
            answer.count = Some(count);
            return Ok(Reply::ok(answer));
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    tokio::time::sleep_until(deadline).await;
                }
            }
            () = tokio::time::sleep_until(deadline) => {}
            () = state.shutdown.wait() => {}
        }
    }
}
