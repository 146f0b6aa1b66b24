//! The sender: the outbox in priority order (express first, then oldest) → the axis, a few
//! requests in flight at once (started in that order). Before
//! each request the row is committed `sent`; on OK it becomes `queued` with the axis's
//! DocId; a permanent refusal is recorded and never retried; a passing failure backs off
//! and retries the same bytes (the axis answers a repeated packet with its first DocId, so
//! a retry after a crash cannot make a second copy). Edoc and status packets alike.
//! Packets about one document go one at a time, in outbox order, so the axis (and the
//! recipient) get a clerk's 04, 05, 06 in the order they were set.

use std::sync::Arc;

use super::backoff::Backoff;
use super::client::{AxisClient, AxisError, OutgoingPacket};
use super::scheduler::{in_flight, Context, SyncError, IDLE_POLL};
use crate::store::{OutboxItem, PacketKind};
use crate::vdxp::MessageType;

/// Packets taken per look at the outbox (the order is re-read after each batch, so an
/// express document queued meanwhile goes next).
const BATCH: u32 = 16;

/// Requests to the axis at once. Rows are independent and a resend is answered with the
/// first answer, so their order of completion does not matter; they are started in
/// priority order. Four hides the round trips and the axis's commit without flooding a
/// slow link.
const IN_FLIGHT: usize = 4;

pub(super) async fn run<C: AxisClient>(context: Arc<Context<C>>) {
    let mut backoff = Backoff::new(context.settings.retry_min_ms, context.settings.retry_max_ms);
    while !context.shutdown.is_triggered() {
        let batch = context
            .blocking(|store| {
                let depth = store.outbox_depth()?;
                Ok((store.next_outbox_batch(BATCH)?, depth))
            })
            .await;
        let items = match batch {
            Ok((items, depth)) => {
                context.link.update(|link| link.outbox_depth = depth);
                first_per_document(items)
            }
            Err(error) => {
                tracing::error!(%error, error_kind = error.kind(), "cannot read the outbox");
                if !context.pause(backoff.next_delay()).await {
                    break;
                }
                continue;
            }
        };
        if items.is_empty() {
            tokio::select! {
                _ = context.outbox_wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = context.shutdown.wait() => break,
            }
            continue;
        }
        let context = &context;
        let sent = in_flight(items, IN_FLIGHT, |item| async move {
            send(context, &item).await.map_err(|error| (item.id, error))
        })
        .await;
        if let Err((outbox, error)) = sent {
            let delay = backoff.next_delay();
            context.link.failed(
                &context.now_text(),
                &error.to_string(),
                context.due_after(delay),
            );
            if backoff.failures() <= 1 {
                tracing::warn!(outbox, %error, error_kind = error.kind(), retry_in_ms = delay.as_millis() as u64, "sending failed; will retry");
            } else {
                tracing::debug!(outbox, %error, error_kind = error.kind(), retry_in_ms = delay.as_millis() as u64, "sending failed again; will retry");
            }
            if !context.pause(delay).await {
                return;
            }
        } else {
            backoff.reset();
        }
    }
}

/// The first packet of each document in the batch (the batch is in send order); the
/// others wait for the next round.
fn first_per_document(items: Vec<OutboxItem>) -> Vec<OutboxItem> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|item| seen.insert(item.document.clone()))
        .collect()
}

/// Sends one packet. `Err` only for a passing failure (the row stays waiting).
async fn send<C: AxisClient>(context: &Context<C>, item: &OutboxItem) -> Result<(), SyncError> {
    // Committed before the request: after a crash the row is still waiting and is sent
    // again with the same bytes.
    let waiting = context
        .store
        .mark_sending(item.id, context.now_text())
        .await?;
    if !waiting {
        tracing::info!(outbox = item.id, document_id = %item.document, "packet withdrawn before sending; not sent");
        return Ok(());
    }
    if item.attempts == 0 {
        tracing::info!(outbox = item.id, document_id = %item.document, packet = item.kind.as_str(), state = "sent", "packet handed to the axis");
    }
    let packet = OutgoingPacket {
        path: context.store.blobs().blob_path(&item.packet.sha256)?,
        size: item.packet.size,
        sha256: item.packet.sha256.clone(),
        kind: match item.kind {
            PacketKind::Edoc => MessageType::Edoc,
            PacketKind::Status => MessageType::Status,
        },
    };
    match context.client.send_packet(&packet).await {
        Ok(doc_id) => {
            context
                .store
                .mark_queued(item.id, doc_id.clone(), context.now_text())
                .await?;
            context.link.succeeded(&context.now_text());
            tracing::info!(outbox = item.id, document_id = %item.document, axis_doc_id = %doc_id, packet = item.kind.as_str(), state = "queued", "packet queued at the axis");
            Ok(())
        }
        Err(AxisError::Permanent {
            operation,
            code,
            reason,
        }) => {
            let reason = format!("{operation}: code {code}: {reason}");
            context
                .store
                .record_refusal(item.id, reason.clone(), context.now_text())
                .await?;
            // The axis answered, so the link itself works.
            context.link.succeeded(&context.now_text());
            tracing::warn!(outbox = item.id, document_id = %item.document, packet = item.kind.as_str(), state = "refused", error_kind = "axis_refused", %reason, "the axis refused a packet; it will not be retried");
            Ok(())
        }
        Err(error) => {
            let _ = context
                .store
                .record_send_error(item.id, error.to_string(), context.now_text())
                .await;
            Err(error.into())
        }
    }
}
