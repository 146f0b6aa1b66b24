//! `sendEdoc`: a packet from a connected system, streamed to a staging file (size limit,
//! SHA-256, never whole in memory), checked (hash, edXML, routing rules), published and
//! committed with one delivery per recipient system — and only then answered OK. A retry
//! of the same bytes answers the first DocId again. Wakes the recipients' long polls after
//! the commit. Never answers OK before the commit and never writes a row itself.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::Extension;
use futures_util::StreamExt;

use super::auth::Caller;
use super::reply::Reply;
use super::routing::{self, Route};
use super::state::AxisState;
use crate::edxml::{self, EdxmlError, Header};
use crate::store::axis::{AxisStoreError, NewDelivery, NewPacket};
use crate::store::{BlobStore, StagedBlob, StoreError};
use crate::vdxp::{self, header, AxisAnswer, HubErrorCode, MessageType};

/// Chunks in flight between the connection and the file writer (each up to a few KiB
/// to 1 MiB as hyper hands them over): bounds the memory one upload holds.
const BODY_CHANNEL_DEPTH: usize = 8;
/// Bytes of an oversized body read and thrown away so the client reads the 413.
const OVERSIZE_DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

/// Why a request body did not become a staged file.
enum BodyError {
    TooLarge,
    Read(String),
    Write(std::io::Error),
    Store(StoreError),
}

/// `POST /sendEdoc`.
pub(crate) async fn send_edoc(
    State(state): State<AxisState>,
    Extension(caller): Extension<Caller>,
    request: Request,
) -> Result<Reply, Reply> {
    let limit = state.limits.max_packet_bytes;
    let (declared, hash_file) = match check_headers(&caller) {
        Ok(checked) => checked,
        Err(refusal) => {
            drain(request.into_body(), OVERSIZE_DRAIN_LIMIT).await;
            return Err(refusal);
        }
    };
    let declared_length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit) {
        drain(request.into_body(), OVERSIZE_DRAIN_LIMIT).await;
        return Err(Reply::too_large(limit));
    }
    let staged = match receive_body(state.store.blobs(), limit, request.into_body()).await {
        Ok(staged) => staged,
        Err(BodyError::TooLarge) => return Err(Reply::too_large(limit)),
        Err(BodyError::Read(reason)) => {
            return Err(Reply::refuse(
                HubErrorCode::BadRequest,
                format!("the request body could not be read ({reason}); send it again"),
            ))
        }
        Err(BodyError::Write(error)) => {
            return Err(Reply::internal(&format!(
                "cannot write a staging file: {error}; check free space in the state directory"
            )))
        }
        Err(BodyError::Store(error)) => return Err(Reply::internal(&error)),
    };
    if staged.size() == 0 {
        return Err(Reply::refuse(
            HubErrorCode::InvalidFile,
            "the request body is empty; send the .edxml file as the body",
        ));
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(staged.sha256(), &mut digest)
        .map_err(|_| Reply::internal(&"a staged file has no valid SHA-256"))?;
    if !vdxp::hash_file_matches(&hash_file, &digest) {
        return Err(Reply::refuse(
            HubErrorCode::InvalidFile,
            format!(
                "XroadVnpt-hash-file does not match the body (its SHA-256 is {}); the file changed or was cut short, send it again",
                staged.sha256()
            ),
        ));
    }
    let sender = caller.system_id.clone();
    let sha256 = staged.sha256().to_owned();
    if let Some(stored) = state
        .blocking(move |store| store.find_retry(&sender, &sha256))
        .await?
    {
        tracing::info!(system = %caller.system_id, axis_doc_id = %stored.doc_id, "a retried packet answered again");
        return replay(&stored.answer_json);
    }
    let header = parse(&state, &staged).await?;
    let route = routing::route_packet(
        &header,
        declared,
        &caller.system_id,
        &state.directory.current(),
    )?;
    if route.new_document {
        if let Some(document_id) = route.document_id.clone() {
            let organ = route.sender_organ.clone();
            let holder = state
                .blocking(move |store| store.new_document_holder(&organ, &document_id))
                .await?;
            if let Some(existing) = holder {
                return Err(duplicate(&route, &existing));
            }
        }
    }
    commit(&state, &caller, staged, route).await
}

/// `from`, `messagetype` and `hash-file`, as the contract requires them.
fn check_headers(caller: &Caller) -> Result<(MessageType, String), Reply> {
    let from = caller.header(header::FROM).ok_or_else(|| {
        Reply::refuse(
            HubErrorCode::BadRequest,
            "XroadVnpt-from is missing; sign it with the system id",
        )
    })?;
    if from != caller.system_id {
        return Err(Reply::refuse(
            HubErrorCode::BadCredentials,
            format!(
                "XroadVnpt-from {from:?} is not the calling system {:?}; a system sends only as itself",
                caller.system_id
            ),
        ));
    }
    let declared = caller
        .header(header::MESSAGE_TYPE)
        .and_then(MessageType::parse)
        .ok_or_else(|| {
            Reply::refuse(
                HubErrorCode::BadRequest,
                "XroadVnpt-messagetype must be edoc or status",
            )
        })?;
    let hash_file = caller.header(header::HASH_FILE).ok_or_else(|| {
        Reply::refuse(
            HubErrorCode::BadRequest,
            "XroadVnpt-hash-file is missing; sign the SHA-256 (hex) of the body",
        )
    })?;
    Ok((declared, hash_file.to_owned()))
}

/// Streams `body` into a staging file: the connection side reads chunks and hands them
/// over a bounded channel to a blocking thread that writes, hashes and fsyncs them.
async fn receive_body(blobs: &BlobStore, limit: u64, body: Body) -> Result<StagedBlob, BodyError> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(BODY_CHANNEL_DEPTH);
    let aborted = Arc::new(AtomicBool::new(false));
    let writer_aborted = aborted.clone();
    let blobs = blobs.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<Option<StagedBlob>, BodyError> {
        let mut file = blobs.writer(limit).map_err(BodyError::Store)?;
        while let Some(chunk) = receiver.blocking_recv() {
            file.write_all(&chunk).map_err(|error| {
                if error.kind() == std::io::ErrorKind::FileTooLarge {
                    BodyError::TooLarge
                } else {
                    BodyError::Write(error)
                }
            })?;
        }
        if writer_aborted.load(Ordering::SeqCst) {
            // Dropping the unfinished file deletes it.
            return Ok(None);
        }
        file.finish().map(Some).map_err(BodyError::Store)
    });
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                received = received.saturating_add(bytes.len() as u64);
                if received > limit {
                    failure = Some(BodyError::TooLarge);
                    break;
                }
                if sender.send(bytes).await.is_err() {
                    // The writer stopped; its own error says why.
                    break;
                }
            }
            Err(error) => {
                failure = Some(BodyError::Read(error.to_string()));
                break;
            }
        }
    }
    if failure.is_some() {
        aborted.store(true, Ordering::SeqCst);
    }
    drop(sender);
    let written = writer
        .await
        .map_err(|_| BodyError::Store(StoreError::Closed))?;
    if let Some(failure) = failure {
        if matches!(failure, BodyError::TooLarge) {
            drain_stream(&mut stream, OVERSIZE_DRAIN_LIMIT).await;
        }
        return Err(failure);
    }
    match written? {
        Some(staged) => Ok(staged),
        None => Err(BodyError::Read("the upload was interrupted".into())),
    }
}

/// Reads and discards up to `limit` bytes of a body.
async fn drain(body: Body, limit: u64) {
    drain_stream(&mut body.into_data_stream(), limit).await;
}

async fn drain_stream(stream: &mut axum::body::BodyDataStream, limit: u64) {
    let mut drained: u64 = 0;
    while let Some(Ok(chunk)) = stream.next().await {
        drained = drained.saturating_add(chunk.len() as u64);
        if drained > limit {
            break;
        }
    }
}

/// Reads the staged packet with the edXML codec (on a blocking thread, attachments
/// extracted to the scratch directory and deleted at once); answers its header.
async fn parse(state: &AxisState, staged: &StagedBlob) -> Result<Header, Reply> {
    let path = staged.path().to_owned();
    let scratch = state.store.scratch_dir().to_owned();
    let limits = edxml::Limits {
        max_packet_bytes: state.limits.max_packet_bytes,
        ..edxml::Limits::default()
    };
    let parsed = tokio::task::spawn_blocking(move || {
        edxml::read_packet_file(&path, &scratch, &limits).map(|packet| packet.header)
    })
    .await
    .map_err(|_| Reply::internal(&"the packet reader did not finish"))?;
    parsed.map_err(|error| match error {
        EdxmlError::OpenInput { .. } | EdxmlError::Staging { .. } | EdxmlError::Output { .. } => {
            Reply::internal(&error)
        }
        other => Reply::refuse(
            HubErrorCode::NotStandard,
            format!("the packet does not follow QCVN 102:2016: {other}"),
        ),
    })
}

/// Publishes the file, commits the packet and its deliveries, wakes the recipients.
async fn commit(
    state: &AxisState,
    caller: &Caller,
    staged: StagedBlob,
    route: Route,
) -> Result<Reply, Reply> {
    let published = {
        let store = state.store.clone();
        tokio::task::spawn_blocking(move || store.blobs().publish(staged))
            .await
            .map_err(|_| Reply::internal(&"publishing a packet did not finish"))?
            .map_err(|error| Reply::internal(&error))?
    };
    let doc_id = ulid::Ulid::new().to_string();
    let mut answer = AxisAnswer::ok();
    answer.doc_id = Some(doc_id.clone());
    let answer_json = serde_json::to_string(&answer).map_err(|error| Reply::internal(&error))?;
    let packet = NewPacket {
        doc_id,
        sender_system: caller.system_id.clone(),
        sender_organ: route.sender_organ.clone(),
        message_type: route.message_type,
        document_id: route.document_id.clone(),
        business_doc_type: route.business_doc_type,
        new_document: route.new_document,
        title: route.title.clone(),
        notation: route.notation.clone(),
        sha256: published.sha256,
        size: published.size,
        answer_json,
        deliveries: route
            .recipients
            .iter()
            .map(|recipient| NewDelivery {
                delivery_id: ulid::Ulid::new().to_string(),
                recipient_system: recipient.system_id.clone(),
                recipient_organs: recipient.organs.clone(),
            })
            .collect(),
        at: state.now_text(),
    };
    match state.store.accept_packet(packet).await {
        Ok(accepted) => {
            if !accepted.replayed {
                for recipient in &route.recipients {
                    state.wakeups.wake(&recipient.system_id);
                }
                tracing::info!(
                    system = %caller.system_id,
                    axis_doc_id = %accepted.doc_id,
                    kind = route.message_type.as_str(),
                    recipients = route.recipients.len(),
                    "packet accepted"
                );
            }
            replay(&accepted.answer_json)
        }
        Err(AxisStoreError::DuplicateNewDocument {
            existing_doc_id, ..
        }) => Err(duplicate(&route, &existing_doc_id)),
        Err(AxisStoreError::Store(error)) => Err(Reply::internal(&error)),
    }
}

fn duplicate(route: &Route, existing_doc_id: &str) -> Reply {
    Reply::refuse(
        HubErrorCode::DuplicateDocument,
        format!(
            "{} already sent a new document with DocumentId {:?} (DocId {existing_doc_id}); give the new document its own number, or send it as an update or replacement",
            route.sender_organ,
            route.document_id.as_deref().unwrap_or_default()
        ),
    )
}

/// The committed answer, as stored.
fn replay(answer_json: &str) -> Result<Reply, Reply> {
    serde_json::from_str::<AxisAnswer>(answer_json)
        .map(Reply::ok)
        .map_err(|error| Reply::internal(&error))
}
