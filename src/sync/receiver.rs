//! The receiver: long-polls the axis (`wait_for`, which answers at once when something
//! waits), lists waiting edoc and status deliveries, and for each one (a few at once): already committed →
//! acknowledge again; else fetch to a staging file → publish the packet blob → parse →
//! commit (document + attachments + its status 01 in the outbox; or the status against our
//! document; or, for a recall/update packet or a status 13 about a document we hold, a
//! pending request on it; or quarantine with the reason) → only then acknowledge `done`
//! (or `fail` for quarantine). Deliveries that would pass the storage quota stay on the axis.
//!
//! Never acknowledges before the commit returned; never drops a packet it fetched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::backoff::Backoff;
use super::client::{AxisClient, AxisError, Delivery};
use super::scheduler::{in_flight, Context, SyncError};
use crate::edxml::{
    read_packet_file, write_packet, AttachmentContent, BusinessDocType, EdocHeader, Header, Packet,
    StatusCode, StatusHeader,
};
use crate::store::{
    DeliveryOutcome, IncomingCommit, NewFile, NewIncomingDocument, NewIncomingStatus,
    NewQuarantine, NewReceivedRequest, NewStatusPacket, PacketBlob, PacketKind, ReceivedStatus,
    StoreError,
};
use crate::vdxp::{MessageType, TransportStatus};
use crate::workflow::business_packets::{
    iso_due_date, received_update_changes, receiver_change, ReceiverChange,
};
use crate::workflow::exchange::{arrival_status, check_quota, priority_of};

/// Deliveries taken at once. Each is independent (its own staging file, its own commit
/// keyed by its delivery id), so they may finish in any order.
const IN_FLIGHT: usize = 4;

pub(super) async fn run<C: AxisClient>(context: Arc<Context<C>>) {
    let mut backoff = Backoff::new(context.settings.retry_min_ms, context.settings.retry_max_ms);
    while !context.shutdown.is_triggered() {
        // Take what waits now (also at start: deliveries left from before a restart).
        let round = tokio::select! {
            round = receive_round(&context) => round,
            _ = context.shutdown.wait() => break,
        };
        match round {
            Ok(true) => backoff.reset(),
            Ok(false) => {
                // Something was left on the axis (quota) or failed alone: do not let the
                // long poll answer "something waits" in a tight loop.
                if !context.pause(backoff.next_delay()).await {
                    break;
                }
            }
            Err(error) => {
                let delay = backoff.next_delay();
                context.link.failed(
                    &context.now_text(),
                    &error.to_string(),
                    context.due_after(delay),
                );
                if backoff.failures() <= 1 {
                    tracing::warn!(%error, error_kind = error.kind(), retry_in_ms = delay.as_millis() as u64, "receiving failed; will retry");
                } else {
                    tracing::debug!(%error, error_kind = error.kind(), retry_in_ms = delay.as_millis() as u64, "receiving failed again; will retry");
                }
                if !context.pause(delay).await {
                    break;
                }
                continue;
            }
        }
        let waited = tokio::select! {
            waited = context.client.wait_for(context.settings.long_poll_secs) => waited,
            _ = context.shutdown.wait() => break,
        };
        match waited {
            Ok(_) => context.link.succeeded(&context.now_text()),
            Err(error) => {
                let delay = backoff.next_delay();
                context.link.failed(
                    &context.now_text(),
                    &error.to_string(),
                    context.due_after(delay),
                );
                if !context.pause(delay).await {
                    break;
                }
            }
        }
    }
}

/// One pass over the waiting deliveries, a few at once. `Ok(false)` when some were left for
/// later.
async fn receive_round<C: AxisClient>(context: &Context<C>) -> Result<bool, SyncError> {
    let complete = AtomicBool::new(true);
    for kind in [MessageType::Edoc, MessageType::Status] {
        let deliveries = context.client.list_received(kind).await?;
        context.link.succeeded(&context.now_text());
        let complete = &complete;
        in_flight(deliveries, IN_FLIGHT, |delivery| async move {
            if context.shutdown.is_triggered() {
                return Ok(());
            }
            match take(context, &delivery).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    complete.store(false, Ordering::Relaxed);
                    Ok(())
                }
                Err(SyncError::Axis(error)) if error.is_transient() => Err(SyncError::Axis(error)),
                Err(error) => {
                    complete.store(false, Ordering::Relaxed);
                    tracing::error!(axis_doc_id = %delivery.id, %error, error_kind = error.kind(), "cannot take a delivery; will retry");
                    Ok(())
                }
            }
        })
        .await?;
    }
    Ok(complete.load(Ordering::Relaxed))
}

/// Takes one delivery. `Ok(false)`: left on the axis for now (quota).
async fn take<C: AxisClient>(context: &Context<C>, delivery: &Delivery) -> Result<bool, SyncError> {
    let id = delivery.id.clone();
    let known = context
        .blocking(move |store| Ok(store.incoming_delivery(&id)?))
        .await?;
    if let Some(outcome) = known {
        // Committed before; the acknowledgement was lost. Say it again.
        acknowledge(context, &delivery.id, outcome).await?;
        return Ok(true);
    }
    let used = context.store.storage_usage().total();
    if let Err(full) = check_quota(
        used,
        delivery.size.unwrap_or(0),
        context.settings.disk_quota_bytes,
    ) {
        context
            .link
            .update(|link| link.incoming_paused = Some(full.to_string()));
        return Ok(false);
    }
    context.link.update(|link| link.incoming_paused = None);
    let staging = context.store.blobs().staging_file_path();
    let fetched = context
        .client
        .fetch(delivery, &staging, context.settings.limits.max_packet_bytes)
        .await;
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(error) => {
            let _ = tokio::fs::remove_file(&staging).await;
            if error.is_transient() {
                return Err(error.into());
            }
            let outcome =
                quarantine(context, delivery, None, format!("cannot fetch: {error}")).await?;
            acknowledge(context, &delivery.id, outcome).await?;
            return Ok(true);
        }
    };
    let packet = context
        .blocking(move |store| {
            let blobs = store.blobs();
            let staged = blobs.adopt_staged(&staging, &fetched.sha256, fetched.size)?;
            let published = blobs.publish(staged)?;
            Ok(PacketBlob {
                sha256: published.sha256,
                size: published.size,
            })
        })
        .await?;
    let outcome = commit(context, delivery, packet).await?;
    acknowledge(context, &delivery.id, outcome).await?;
    Ok(true)
}

/// Parses the published packet and commits what it is.
async fn commit<C: AxisClient>(
    context: &Context<C>,
    delivery: &Delivery,
    packet: PacketBlob,
) -> Result<DeliveryOutcome, SyncError> {
    let limits = context.settings.limits.clone();
    let sha256 = packet.sha256.clone();
    let parsed = context
        .blocking(move |store| {
            let blobs = store.blobs();
            let path = blobs.blob_path(&sha256)?;
            Ok(read_packet_file(&path, blobs.staging_dir(), &limits))
        })
        .await?;
    let parsed = match parsed {
        Ok(parsed) => parsed,
        // Our disk, not the packet: the delivery stays on the axis and is taken again
        // (found by tools/chaos: a full disk quarantined good documents).
        Err(error) if error.is_local() => return Err(error.into()),
        Err(error) => {
            let reason = format!("the packet is not readable edXML: {error}");
            return quarantine(context, delivery, Some(packet), reason).await;
        }
    };
    match (&parsed.header, delivery.kind) {
        (Header::Edoc(_), MessageType::Edoc) => {
            commit_document(context, delivery, packet, parsed).await
        }
        (Header::Status(status), MessageType::Status) => {
            let status = status.clone();
            commit_status(context, delivery, packet, status).await
        }
        _ => {
            let reason = format!(
                "the axis listed it as {} but the packet is of the other kind",
                delivery.kind.as_str()
            );
            quarantine(context, delivery, Some(packet), reason).await
        }
    }
}

async fn commit_document<C: AxisClient>(
    context: &Context<C>,
    delivery: &Delivery,
    packet: PacketBlob,
    parsed: Packet,
) -> Result<DeliveryOutcome, SyncError> {
    let Header::Edoc(header) = parsed.header else {
        return Err(SyncError::Task);
    };
    let business_type = header
        .business
        .as_ref()
        .map_or(BusinessDocType::New, |business| business.business_doc_type);
    let mut note_added = None;
    if matches!(
        business_type,
        BusinessDocType::Recall | BusinessDocType::Update
    ) {
        match business_request(context, delivery, &packet, &header, business_type).await? {
            Some(outcome) => return Ok(outcome),
            // An update naming us as a new receiver: we get the document now.
            None => note_added = Some("added as a receiver by the sender's update".to_string()),
        }
    }
    let replaces_document_id = (business_type == BusinessDocType::Replace)
        .then(|| {
            header.business.as_ref().and_then(|business| {
                business
                    .replacement_info_list
                    .iter()
                    .find_map(|replaced| replaced.document_id.clone())
            })
        })
        .flatten();
    let now = context.clock.now();
    let status_header = arrival_status(&header, &context.settings.organ, now);
    let attachments = parsed.attachments;
    // Attachment files and the status-01 packet become blobs before the one commit.
    let (files, notes, status_packet) = context
        .blocking(move |store| {
            let blobs = store.blobs();
            let mut files = Vec::new();
            let mut notes = Vec::new();
            for attachment in attachments {
                match attachment.content {
                    AttachmentContent::Extracted(file) => {
                        let (sha256, size) = (file.sha256.clone(), file.size);
                        let path =
                            file.into_staged_file()
                                .keep()
                                .map_err(|error| StoreError::Io {
                                    action: "keep an extracted attachment",
                                    path: error.path.to_path_buf(),
                                    source: error.error,
                                })?;
                        let published = blobs.publish(blobs.adopt_staged(&path, &sha256, size)?)?;
                        files.push(NewFile {
                            name: attachment.name,
                            content_type: attachment
                                .content_type
                                .unwrap_or_else(|| "application/octet-stream".into()),
                            sha256: published.sha256,
                            size: published.size,
                        });
                    }
                    AttachmentContent::Unreadable { reason } => {
                        notes.push(format!(
                            "attachment {:?} unreadable: {reason}",
                            attachment.name
                        ));
                    }
                }
            }
            let mut writer = blobs.writer(u64::MAX)?;
            write_packet(&status_header, &[], &mut writer)?;
            let published = blobs.publish(writer.finish()?)?;
            Ok((files, notes, published))
        })
        .await?;
    let signatures_json = match context.settings.signatures.clone() {
        Some(policy) => {
            let (document, at) = (files.first().cloned(), now);
            context
                .blocking(move |store| {
                    let Some(document) = document else {
                        return Ok(None);
                    };
                    let path = store.blobs().blob_path(&document.sha256)?;
                    Ok(Some(signature_report(&policy, &path, at)))
                })
                .await?
        }
        None => None,
    };
    let id = ulid::Ulid::new().to_string();
    let document = NewIncomingDocument {
        id: id.clone(),
        axis_doc_id: delivery.id.clone(),
        document_id: header.document_id.clone(),
        subject: header.subject.clone().unwrap_or_default(),
        code_number: header
            .code
            .code_number
            .as_deref()
            .and_then(|number| number.trim().parse().ok()),
        code_notation: header.code.code_notation.clone(),
        priority: priority_of(&header),
        peer_organ: header.from.organ_id.clone(),
        meta_json: header_json(&header)?,
        packet: packet.clone(),
        files,
        note: notes
            .into_iter()
            .chain(note_added)
            .collect::<Vec<_>>()
            .join("; "),
        signatures_json,
        status: NewStatusPacket {
            packet: PacketBlob {
                sha256: status_packet.sha256,
                size: status_packet.size,
            },
            organ_id: context.settings.organ.organ_id.clone(),
            code: "01".into(),
            description: "Đã đến (received by the gateway)".into(),
            packet_timestamp: crate::workflow::exchange::edxml_timestamp(now),
        },
        at: context.now_text(),
        due_date: iso_due_date(header.due_date.as_deref()),
        replaces_document_id,
    };
    match context.store.commit_incoming(document).await {
        Ok(IncomingCommit::Committed) => {
            tracing::info!(document_id = %id, axis_doc_id = %delivery.id, organ_id = %header.from.organ_id, state = "received", "incoming document received");
            context.outbox_wake.notify_one();
            Ok(DeliveryOutcome::Document)
        }
        Ok(IncomingCommit::AlreadyCommitted(outcome)) => Ok(outcome),
        Err(StoreError::DuplicateDocumentId { document_id }) => {
            let reason = format!(
                "a document with DocumentId {document_id} was already received; a second new (or replacement) packet cannot reuse it"
            );
            quarantine(context, delivery, Some(packet), reason).await
        }
        Err(error) => Err(error.into()),
    }
}

async fn commit_status<C: AxisClient>(
    context: &Context<C>,
    delivery: &Delivery,
    packet: PacketBlob,
    status: StatusHeader,
) -> Result<DeliveryOutcome, SyncError> {
    let Some(document_id) = status.response_for.document_id.clone() else {
        let reason = "the status packet names no ResponseFor/DocumentId".to_string();
        return quarantine(context, delivery, Some(packet), reason).await;
    };
    let lookup = document_id.clone();
    let ours = context
        .blocking(move |store| Ok(store.outgoing_by_document_id(&lookup)?))
        .await?;
    let Some(document) = ours else {
        if status.status_code == StatusCode::RecallRequested {
            return recall_status(context, delivery, packet, status, document_id).await;
        }
        let reason = format!(
            "the status is about {document_id}, which is not one of our outgoing documents"
        );
        return quarantine(context, delivery, Some(packet), reason).await;
    };
    let record = NewIncomingStatus {
        axis_doc_id: delivery.id.clone(),
        document,
        organ_id: status.from.organ_id.clone(),
        code: status.status_code.code().to_string(),
        description: status.description.clone().unwrap_or_default(),
        packet_timestamp: status.timestamp.clone(),
        packet,
        at: context.now_text(),
    };
    match context.store.record_incoming_status(record).await? {
        IncomingCommit::Committed => Ok(DeliveryOutcome::Status),
        IncomingCommit::AlreadyCommitted(outcome) => Ok(outcome),
    }
}

/// A recall or update packet (BussinessDocType 1/2) about a document the sender sent us
/// before: recorded as a pending request on it (no new document). `Ok(None)`: an update
/// adding us as a receiver of a document we do not hold, to commit as a new document.
async fn business_request<C: AxisClient>(
    context: &Context<C>,
    delivery: &Delivery,
    packet: &PacketBlob,
    header: &EdocHeader,
    business_type: BusinessDocType,
) -> Result<Option<DeliveryOutcome>, SyncError> {
    let kind = if business_type == BusinessDocType::Recall {
        "recall"
    } else {
        "update"
    };
    let Some(document_id) = header.document_id.clone() else {
        let reason = format!("the {kind} packet names no DocumentId");
        return quarantine(context, delivery, Some(packet.clone()), reason)
            .await
            .map(Some);
    };
    let (lookup, sender) = (document_id.clone(), header.from.organ_id.clone());
    let held = context
        .blocking(move |store| Ok(store.incoming_by_document_id(&lookup, &sender)?))
        .await?;
    let Some(document) = held else {
        let us = &context.settings.organ.organ_id;
        if business_type == BusinessDocType::Update
            && receiver_change(header, us) == ReceiverChange::Added
        {
            return Ok(None);
        }
        let reason = format!(
            "a {kind} (BussinessDocType {}) for DocumentId {document_id}, which {} never sent us",
            business_type.number(),
            header.from.organ_id
        );
        return quarantine(context, delivery, Some(packet.clone()), reason)
            .await
            .map(Some);
    };
    let reason = header
        .business
        .as_ref()
        .and_then(|business| business.business_doc_reason.clone())
        .unwrap_or_default();
    let request = NewReceivedRequest {
        axis_doc_id: delivery.id.clone(),
        document,
        kind: kind.to_string(),
        organ_id: header.from.organ_id.clone(),
        reason,
        changes_json: (business_type == BusinessDocType::Update)
            .then(|| received_update_changes(header).to_string()),
        packet: packet.clone(),
        status: None,
        at: context.now_text(),
    };
    let outcome = match context.store.record_received_request(request).await? {
        IncomingCommit::Committed => DeliveryOutcome::Document,
        IncomingCommit::AlreadyCommitted(outcome) => outcome,
    };
    tracing::info!(axis_doc_id = %delivery.id, edxml_document_id = %document_id, kind, "request received about an incoming document");
    Ok(Some(outcome))
}

/// A status 13 (recall requested) about one of our incoming documents: the recall request
/// is created, or completed when its BussinessDocType 1 packet came first.
async fn recall_status<C: AxisClient>(
    context: &Context<C>,
    delivery: &Delivery,
    packet: PacketBlob,
    status: StatusHeader,
    document_id: String,
) -> Result<DeliveryOutcome, SyncError> {
    let (lookup, sender) = (document_id.clone(), status.from.organ_id.clone());
    let held = context
        .blocking(move |store| Ok(store.incoming_by_document_id(&lookup, &sender)?))
        .await?;
    let Some(document) = held else {
        let reason = format!(
            "a status 13 (recall) about {document_id}, which {} never sent us",
            status.from.organ_id
        );
        return quarantine(context, delivery, Some(packet), reason).await;
    };
    let description = status.description.clone().unwrap_or_default();
    let request = NewReceivedRequest {
        axis_doc_id: delivery.id.clone(),
        document,
        kind: "recall".into(),
        organ_id: status.from.organ_id.clone(),
        reason: description.clone(),
        changes_json: None,
        packet,
        status: Some(ReceivedStatus {
            code: status.status_code.code().to_string(),
            description,
            packet_timestamp: status.timestamp.clone(),
        }),
        at: context.now_text(),
    };
    match context.store.record_received_request(request).await? {
        IncomingCommit::Committed => Ok(DeliveryOutcome::Status),
        IncomingCommit::AlreadyCommitted(outcome) => Ok(outcome),
    }
}

/// Keeps a delivery that cannot be used, with the reason; it is acknowledged `fail`.
async fn quarantine<C: AxisClient>(
    context: &Context<C>,
    delivery: &Delivery,
    packet: Option<PacketBlob>,
    reason: String,
) -> Result<DeliveryOutcome, SyncError> {
    tracing::warn!(axis_doc_id = %delivery.id, organ_id = %delivery.from, state = "quarantined", error_kind = "quarantined", %reason, "incoming packet quarantined");
    let kind = match delivery.kind {
        MessageType::Edoc => PacketKind::Edoc,
        MessageType::Status => PacketKind::Status,
    };
    let quarantine = NewQuarantine {
        axis_doc_id: delivery.id.clone(),
        kind,
        reason,
        packet,
        peer_organ: Some(delivery.from.clone()).filter(|from| !from.is_empty()),
        document_row: (kind == PacketKind::Edoc).then(|| ulid::Ulid::new().to_string()),
        at: context.now_text(),
    };
    match context.store.commit_quarantined(quarantine).await? {
        IncomingCommit::Committed => Ok(DeliveryOutcome::Quarantined),
        IncomingCommit::AlreadyCommitted(outcome) => Ok(outcome),
    }
}

/// The transport acknowledgement, after the commit: `done`, or `fail` for quarantine.
async fn acknowledge<C: AxisClient>(
    context: &Context<C>,
    delivery_id: &str,
    outcome: DeliveryOutcome,
) -> Result<(), AxisError> {
    let status = match outcome {
        DeliveryOutcome::Quarantined => TransportStatus::Fail,
        DeliveryOutcome::Document | DeliveryOutcome::Status => TransportStatus::Done,
    };
    context.client.acknowledge(delivery_id, status).await
}

/// The verification report of the document's main file, as stored JSON; a file that is
/// not a readable PDF gets a report saying so (the document is still received: the clerk
/// decides).
fn signature_report(
    policy: &crate::workflow::SignaturePolicy,
    path: &std::path::Path,
    now: time::OffsetDateTime,
) -> String {
    let report = match crate::signature::verify::verify_pdf(path, policy.trust(), now) {
        Ok(report) => serde_json::to_value(&report),
        Err(error) => Ok(serde_json::json!({
            "valid": false,
            "signatures": [],
            "error": error.to_string(),
        })),
    };
    report
        .map(|report| report.to_string())
        .unwrap_or_else(|error| {
            serde_json::json!({"valid": false, "error": error.to_string()}).to_string()
        })
}

fn header_json(header: &EdocHeader) -> Result<String, SyncError> {
    serde_json::to_string(header)
        .map_err(|error| SyncError::Store(StoreError::Decode(error.to_string())))
}
