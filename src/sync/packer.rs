//! The packer: outgoing documents in the packable state (`accepted`, or `signed` when
//! `[signing]` seals them first: see `pack_from`) become edXML packets written into the
//! blob store, then `packed` with one `edoc` row in the outbox. The packet's bytes are
//! fixed from here on: every retry sends exactly these bytes. Never talks to the axis.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::backoff::Backoff;
use super::client::AxisClient;
use super::scheduler::{in_flight, Context, SyncError, IDLE_POLL};
use crate::store::{DocumentState, PackableDocument};
use crate::system::clock::rfc3339_utc;
use crate::workflow::exchange::outgoing_header;

/// Documents packed per look at the database.
const BATCH: u32 = 16;

/// Documents packed at once: packing is CPU work (deflate, base64, SHA-256) on the blocking
/// pool, so about one per core.
const IN_FLIGHT: usize = 2;

pub(super) async fn run<C: AxisClient>(context: Arc<Context<C>>) {
    let mut backoff = Backoff::new(context.settings.retry_min_ms, context.settings.retry_max_ms);
    while !context.shutdown.is_triggered() {
        let batch = context
            .blocking({
                let (state, cutoff) = pack_from(&context);
                move |store| Ok(store.packable_documents(state, cutoff.as_deref(), BATCH)?)
            })
            .await;
        let documents = match batch {
            Ok(documents) => documents,
            Err(error) => {
                tracing::error!(%error, error_kind = error.kind(), "cannot read the documents to pack");
                if !context.pause(backoff.next_delay()).await {
                    break;
                }
                continue;
            }
        };
        if documents.is_empty() {
            // Woken by the store the moment the office hands in a document; the poll is
            // only a safety net.
            tokio::select! {
                _ = context.store.outgoing_accepted() => {}
                _ = context.packable_wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = context.shutdown.wait() => break,
            }
            continue;
        }
        // A document that cannot be packed does not hold up the others.
        let failed = AtomicBool::new(false);
        let (context, failed_ref) = (&context, &failed);
        let _ = in_flight(documents, IN_FLIGHT, |document| async move {
            let id = document.id.clone();
            match pack(context, document).await {
                Ok(()) => context.outbox_wake.notify_one(),
                Err(error) => {
                    failed_ref.store(true, Ordering::Relaxed);
                    tracing::warn!(document_id = %id, %error, error_kind = error.kind(), "cannot pack an outgoing document; will retry");
                }
            }
            Ok::<(), ()>(())
        })
        .await;
        if failed.load(Ordering::Relaxed) {
            if !context.pause(backoff.next_delay()).await {
                break;
            }
        } else {
            backoff.reset();
        }
    }
}

/// Which documents are packable: `accepted` ones without `[signing]`; with it, `signed`
/// ones at B-T, or at B-B when no TSA is configured or the timestamp was awaited long
/// enough (the cut-off for `sealed_at`).
fn pack_from<C>(context: &Context<C>) -> (DocumentState, Option<String>) {
    let Some(sealing) = &context.settings.sealing else {
        return (DocumentState::Accepted, None);
    };
    let cutoff = match (&sealing.tsa, sealing.send_without_timestamp_after) {
        (None, _) => "9999-12-31T23:59:59Z".to_string(),
        (Some(_), None) => String::new(),
        (Some(_), Some(delay)) => time::Duration::try_from(delay)
            .map(|delay| rfc3339_utc(context.clock.now() - delay))
            .unwrap_or_default(),
    };
    (DocumentState::Signed, Some(cutoff))
}

/// Writes one document's packet into the blob store and records it.
async fn pack<C: AxisClient>(
    context: &Context<C>,
    document: PackableDocument,
) -> Result<(), SyncError> {
    let now = context.clock.now();
    let (header, priority) = outgoing_header(&document, &context.settings.organ, now)?;
    let id = document.id.clone();
    let (from_state, _) = pack_from(context);
    let packet = context
        .blocking(move |store| {
            crate::workflow::exchange::publish_edoc_packet::<SyncError>(
                store,
                &header,
                &document.files,
            )
        })
        .await?;
    let packed = context
        .store
        .mark_packed(
            id.clone(),
            from_state,
            packet.clone(),
            priority,
            context.now_text(),
        )
        .await?;
    if packed {
        tracing::info!(document_id = %id, packet_sha256 = %packet.sha256, size = packet.size, state = "packed", "document packed");
    }
    Ok(())
}
