//! The sealer: with `[signing]`, every outgoing document in `accepted` gets the agency seal
//! (PAdES, on the token) before the packer may take it — `accepted` → `signed`. The sealed
//! PDF replaces the submitted one as a new blob, in one commit with the state. When the TSA
//! answers, the seal is B-T at once; when it does not, the seal is B-B and a second loop
//! adds the timestamp once the TSA answers again (into the same signature, changing no
//! signed byte); the packer sends a B-B document only after the configured delay.
//!
//! It also signs the evidence log: the records written since the last batch, as one
//! Merkle batch per round (one token operation; `signature::batch`).
//!
//! With `[signing] seal_image`, the seal is visible: the agency's red seal picture over the
//! left third of the leader's visible signature (or where `seal_position` says, or at the
//! bottom right of the last page), with the signing time under it. The picture is decoded
//! once, when the gateway starts.
//!
//! When the token is absent or refuses its PIN, documents wait in `accepted` and the link
//! state says why. Never talks to the axis.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::backoff::Backoff;
use super::client::AxisClient;
use super::scheduler::{Context, SyncError, IDLE_POLL};
use crate::signature::batch;
use crate::signature::pades::{self, PadesLevel, SignatureDetails, VisibleSeal};
use crate::signature::pdf::{SealImage, SealImageError};
use crate::signature::timestamp::{TimestampError, TsaClient};
use crate::signature::verify::verify_pdf;
use crate::store::evidence::NewEvidenceBatch;
use crate::store::DocumentState;
use crate::store::{
    PackableDocument, PacketBlob, SealedFile, Store, StoreError, UnstampedDocument,
};
use crate::workflow::{AgencyKey, SignaturePolicy};

/// Documents sealed per look at the database.
const BATCH: u32 = 16;

/// What the sealer needs from `[signing]`.
#[derive(Debug, Clone)]
pub struct SealingSettings {
    pub key: AgencyKey,
    pub policy: Arc<SignaturePolicy>,
    pub tsa: Option<TsaClient>,
    /// With a TSA: how long a B-B seal waits for its timestamp before it is sent anyway
    /// (`None`: it waits for B-T).
    pub send_without_timestamp_after: Option<Duration>,
    /// The visible seal from `[signing] seal_image`; invisible when `None`.
    pub visible_seal: Option<VisibleSeal>,
}

impl SealingSettings {
    /// The visible seal `[signing]` asks for (`seal_image`, `seal_position`), its picture
    /// decoded; `None` without `seal_image`.
    pub fn visible_seal_from(
        section: &crate::system::config::SigningSection,
    ) -> Result<Option<VisibleSeal>, SealImageError> {
        let Some(path) = &section.seal_image else {
            return Ok(None);
        };
        Ok(Some(VisibleSeal {
            image: Arc::new(SealImage::load(path)?),
            over_leaders_signature: true,
            position_mm: section.seal_position.map(|[x, y]| (x, y)),
        }))
    }
}

pub(super) async fn run<C: AxisClient>(context: Arc<Context<C>>) {
    let Some(settings) = context.settings.sealing.clone() else {
        return;
    };
    let mut backoff = Backoff::new(context.settings.retry_min_ms, context.settings.retry_max_ms);
    while !context.shutdown.is_triggered() {
        let round = seal_round(&context, &settings).await;
        let stamped = stamp_round(&context, &settings)
            .await
            .and(evidence_round(&context, &settings).await);
        match (round, stamped) {
            (Ok(0), Ok(_)) => {
                context.link.update(|link| link.sealing = None);
                backoff.reset();
                tokio::select! {
                    _ = context.store.outgoing_accepted() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = context.shutdown.wait() => break,
                }
            }
            (Ok(_), Ok(_)) => {
                context.link.update(|link| link.sealing = None);
                backoff.reset();
            }
            (Err(error), _) | (_, Err(error)) => {
                let delay = backoff.next_delay();
                if backoff.failures() <= 1 {
                    tracing::warn!(%error, error_kind = error.kind(), retry_in_ms = delay.as_millis() as u64, "cannot seal or timestamp outgoing documents; will retry");
                } else {
                    tracing::debug!(%error, error_kind = error.kind(), retry_in_ms = delay.as_millis() as u64, "sealing failed again; will retry");
                }
                context
                    .link
                    .update(|link| link.sealing = Some(error.to_string()));
                if !context.pause(delay).await {
                    break;
                }
            }
        }
    }
}

/// Seals what waits in `accepted`; the number sealed.
async fn seal_round<C: AxisClient>(
    context: &Context<C>,
    settings: &SealingSettings,
) -> Result<usize, SyncError> {
    let documents = context
        .blocking(|store| Ok(store.packable_documents(DocumentState::Accepted, None, BATCH)?))
        .await?;
    let mut sealed = 0;
    for document in documents {
        let id = document.id.clone();
        let (settings, now) = (settings.clone(), context.clock.now());
        let file = context
            .blocking(move |store| seal(store, &settings, &document, now))
            .await?;
        let level = file.level.clone();
        if context
            .store
            .record_seal(id.clone(), file, context.now_text())
            .await?
        {
            tracing::info!(document_id = %id, level = %level, state = "signed", "agency seal applied");
            context.packable_wake.notify_one();
            sealed += 1;
        }
    }
    Ok(sealed)
}

/// Seals one document's main PDF into a new blob (blocking).
fn seal(
    store: &Store,
    settings: &SealingSettings,
    document: &PackableDocument,
    now: time::OffsetDateTime,
) -> Result<SealedFile, SyncError> {
    let blobs = store.blobs();
    let main = document
        .files
        .first()
        .ok_or(SyncError::Seal("the document has no file to seal".into()))?;
    let input = blobs.blob_path(&main.sha256)?;
    let output = blobs.staging_file_path();
    let signer = settings
        .key
        .signer()
        .map_err(|error| SyncError::Seal(error.to_string()))?;
    let details = SignatureDetails {
        signer_name: None,
        reason: Some("Đóng dấu cơ quan (agency seal)".into()),
        location: None,
        visible_seal: settings.visible_seal.clone(),
    };
    let handle = tokio::runtime::Handle::current();
    let stamp = |message: &[u8]| -> Result<Vec<u8>, TimestampError> {
        match &settings.tsa {
            Some(tsa) => handle.block_on(tsa.stamp(message)),
            None => Err(TimestampError::Request {
                reason: "no timestamp authority".into(),
            }),
        }
    };
    let stamper: Option<pades::Stamper<'_>> = settings.tsa.as_ref().map(|_| &stamp as _);
    let result = pades::sign_pdf(&input, &output, signer.as_ref(), now, &details, stamper);
    let signed = match result {
        Ok(signed) => signed,
        Err(error) => {
            let _ = std::fs::remove_file(&output);
            return Err(SyncError::Seal(error.to_string()));
        }
    };
    if let Some(error) = &signed.timestamp_error {
        tracing::warn!(document_id = %document.id, %error, error_kind = "tsa_unavailable", "sealed without a timestamp (B-B); the timestamp will be added when the TSA answers");
    }
    let report = verify_pdf(&output, settings.policy.trust(), now)
        .map_err(|error| SyncError::Seal(error.to_string()))
        .and_then(|report| {
            serde_json::to_string(&report).map_err(|error| SyncError::Seal(error.to_string()))
        });
    let file = adopt(store, &output);
    let _ = std::fs::remove_file(&output);
    Ok(SealedFile {
        file: file?,
        level: match signed.level {
            PadesLevel::BB => "B-B",
            PadesLevel::BT => "B-T",
        }
        .into(),
        report_json: report?,
    })
}

/// Copies a finished file into the blob store (hashed on the way) and publishes it.
fn adopt(store: &Store, path: &Path) -> Result<PacketBlob, SyncError> {
    let blobs = store.blobs();
    let io = |action: &'static str| {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    };
    let mut source = std::fs::File::open(path).map_err(io("open a sealed PDF"))?;
    let mut writer = blobs.writer(u64::MAX)?;
    std::io::copy(&mut source, &mut writer).map_err(io("copy a sealed PDF"))?;
    writer.flush().map_err(io("copy a sealed PDF"))?;
    let published = blobs.publish(writer.finish()?)?;
    Ok(PacketBlob {
        sha256: published.sha256,
        size: published.size,
    })
}

/// Evidence records signed per batch at most (a proof is then at most 12 hashes).
const EVIDENCE_BATCH: u32 = 4096;

/// Signs the evidence records written since the last batch as one Merkle batch (one token
/// operation); the number of records signed.
async fn evidence_round<C: AxisClient>(
    context: &Context<C>,
    settings: &SealingSettings,
) -> Result<usize, SyncError> {
    let records = context
        .blocking(|store| Ok(store.unbatched_evidence(EVIDENCE_BATCH)?))
        .await?;
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(0);
    };
    let (first_seq, last_seq, count) = (first.seq, last.seq, records.len());
    let (key, at) = (settings.key.clone(), context.now_text());
    let batch = context
        .blocking(move |_| {
            let items: Vec<[u8; 32]> = records
                .iter()
                .map(|record| crate::store::evidence::decode_hash(&record.hash))
                .collect::<Result<_, _>>()?;
            let slices: Vec<&[u8]> = items.iter().map(|item| item.as_slice()).collect();
            let signer = key
                .signer()
                .map_err(|error| SyncError::Seal(error.to_string()))?;
            let signed = batch::sign_batch(signer.as_ref(), &slices)
                .map_err(|error| SyncError::Seal(format!("evidence batch: {error}")))?;
            let proofs = signed
                .proofs
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| SyncError::Seal(error.to_string()))?;
            Ok(NewEvidenceBatch {
                first_seq,
                last_seq,
                root: hex::encode(signed.root),
                signature: signed.root_signature,
                proofs,
                at,
            })
        })
        .await?;
    if context.store.record_evidence_batch(batch).await? {
        tracing::debug!(first_seq, last_seq, "evidence batch signed");
        Ok(count)
    } else {
        Ok(0)
    }
}

/// Adds timestamps to B-B seals while the TSA answers; the number done.
async fn stamp_round<C: AxisClient>(
    context: &Context<C>,
    settings: &SealingSettings,
) -> Result<usize, SyncError> {
    if settings.tsa.is_none() {
        return Ok(0);
    }
    let waiting = context
        .blocking(|store| Ok(store.unstamped_documents(BATCH)?))
        .await?;
    let mut done = 0;
    for document in waiting {
        let id = document.id.clone();
        let settings = settings.clone();
        let stamped = context
            .blocking(move |store| stamp(store, &settings, &document))
            .await?;
        if context
            .store
            .record_timestamp(id.clone(), stamped, context.now_text())
            .await?
        {
            tracing::info!(document_id = %id, "seal timestamped (B-T)");
            context.packable_wake.notify_one();
            done += 1;
        }
    }
    Ok(done)
}

/// Adds the timestamp to a copy of the sealed PDF and stores the copy (blocking).
fn stamp(
    store: &Store,
    settings: &SealingSettings,
    document: &UnstampedDocument,
) -> Result<PacketBlob, SyncError> {
    let blobs = store.blobs();
    let working = blobs.staging_file_path();
    std::fs::copy(blobs.blob_path(&document.file_sha256)?, &working).map_err(|source| {
        StoreError::Io {
            action: "copy a sealed PDF to timestamp it",
            path: working.clone(),
            source,
        }
    })?;
    let handle = tokio::runtime::Handle::current();
    let stamp = |message: &[u8]| -> Result<Vec<u8>, TimestampError> {
        match &settings.tsa {
            Some(tsa) => handle.block_on(tsa.stamp(message)),
            None => Err(TimestampError::Request {
                reason: "no timestamp authority".into(),
            }),
        }
    };
    let result = pades::add_timestamp(&working, None, &stamp)
        .map_err(|error| SyncError::Seal(format!("timestamp of {}: {error}", document.id)))
        .and_then(|()| adopt(store, &working));
    let _ = std::fs::remove_file(&working);
    result
}
