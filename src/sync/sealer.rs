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
//! state says why. A timestamp authority that does not answer is not a sealing failure:
//! the B-B seals wait for their timestamp, tried again with a backoff of their own.
//!
//! What it sees goes into the link state's `SealWatch` (`seal_watch.rs`) for the status
//! facts: each TSA answer or failure, the time of every signature with the agency key,
//! and — every [`TOKEN_LOOK`] whether or not anything waits to be sealed, and at each
//! round and each failure — the token's own state (present and logged in, absent, PIN
//! refused, …) and its seal certificate once logged in, copied from the token worker's
//! board (no PKCS#11 call; the worker checks a ready token every 5 s and looks for a
//! missing one every second). Never talks to the axis.

use std::cell::Cell;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Backoff;
use super::client::AxisClient;
use super::scheduler::{Context, SyncError, IDLE_POLL};
use super::seal_watch::{observed_stamper, SealWatch, TimedSigner};
use crate::signature::batch;
use crate::signature::pades::{self, PadesLevel, SignatureDetails, VisibleSeal};
use crate::signature::pdf::{SealImage, SealImageError};
use crate::signature::timestamp::TsaClient;
use crate::signature::verify::verify_pdf;
use crate::signature::DocumentSigner;
use crate::store::evidence::NewEvidenceBatch;
use crate::store::DocumentState;
use crate::store::{
    PackableDocument, PacketBlob, SealedFile, Store, StoreError, UnstampedDocument,
};
use crate::system::clock::SharedClock;
use crate::workflow::{AgencyKey, SignaturePolicy};

/// Documents sealed per look at the database.
const BATCH: u32 = 16;

/// How often the token worker's board is copied into the seal watch. A copy is a mutex
/// read; how fresh the board is depends on the worker's own check (5 s for a ready token).
const TOKEN_LOOK: Duration = Duration::from_secs(1);

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

/// When the timestamps of B-B seals are next tried, after the TSA failed.
struct TsaRetry {
    backoff: Backoff,
    next: Option<Instant>,
}

impl TsaRetry {
    fn due(&self) -> bool {
        self.next.is_none_or(|next| Instant::now() >= next)
    }

    /// Takes a round's outcome: a TSA failure schedules the next try and is no error.
    fn take(&mut self, stamped: Result<usize, SyncError>) -> Result<usize, SyncError> {
        match stamped {
            Err(SyncError::Timestamp(error)) => {
                let delay = self.backoff.next_delay();
                self.next = Some(Instant::now() + delay);
                let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                if self.backoff.failures() <= 1 {
                    tracing::warn!(%error, error_kind = "tsa_unavailable", retry_in_ms, "the timestamp authority did not answer; B-B seals wait for their timestamp");
                } else {
                    tracing::debug!(%error, error_kind = "tsa_unavailable", retry_in_ms, "the timestamp authority did not answer again");
                }
                Ok(0)
            }
            other => {
                if other.is_ok() {
                    self.backoff.reset();
                    self.next = None;
                }
                other
            }
        }
    }
}

pub(super) async fn run<C: AxisClient>(context: Arc<Context<C>>) {
    let Some(settings) = context.settings.sealing.clone() else {
        return;
    };
    // In the same task, so the token's state is copied even while a round or a retry
    // pause takes long (the rounds' blocking work runs off the runtime).
    tokio::join!(
        seal_loop(&context, &settings),
        watch_token(&context, &settings.key)
    );
}

/// Copies the token's state (and its certificate once logged in) into the seal watch every
/// [`TOKEN_LOOK`] until shutdown; nothing to do with a key file.
async fn watch_token<C: AxisClient>(context: &Context<C>, key: &AgencyKey) {
    if !matches!(key, AgencyKey::Token(_)) {
        return;
    }
    let watch = context.link.seal_watch();
    loop {
        watch.publish_token(key);
        if !context.pause(TOKEN_LOOK).await {
            break;
        }
    }
}

/// Seals, timestamps and signs evidence in rounds until shutdown.
async fn seal_loop<C: AxisClient>(context: &Context<C>, settings: &SealingSettings) {
    let (min_ms, max_ms) = (context.settings.retry_min_ms, context.settings.retry_max_ms);
    let mut backoff = Backoff::new(min_ms, max_ms);
    let mut tsa_retry = TsaRetry {
        backoff: Backoff::new(min_ms, max_ms),
        next: None,
    };
    let watch = context.link.seal_watch();
    while !context.shutdown.is_triggered() {
        // Also here, so that a failure below is never shown beside an older token state.
        watch.publish_token(&settings.key);
        let round = seal_round(context, settings).await;
        let stamped = if tsa_retry.due() {
            tsa_retry.take(stamp_round(context, settings).await)
        } else {
            Ok(0)
        };
        let stamped = stamped.and(evidence_round(context, settings).await);
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
                watch.publish_token(&settings.key);
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
        let (watch, clock) = (context.link.seal_watch().clone(), context.clock.clone());
        let file = context
            .blocking(move |store| seal(store, &settings, &watch, &clock, &document, now))
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

/// A signer for the agency key whose signatures are timed into `watch`, or why the key
/// cannot sign now.
fn timed_signer(
    settings: &SealingSettings,
    watch: &SealWatch,
) -> Result<Box<dyn DocumentSigner>, SyncError> {
    let signer = settings
        .key
        .signer()
        .map_err(|error| SyncError::Seal(error.to_string()))?;
    Ok(Box::new(TimedSigner::new(signer, watch.clone())))
}

/// Seals one document's main PDF into a new blob (blocking).
fn seal(
    store: &Store,
    settings: &SealingSettings,
    watch: &SealWatch,
    clock: &SharedClock,
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
    let signer = timed_signer(settings, watch)?;
    let details = SignatureDetails {
        signer_name: None,
        reason: Some("Đóng dấu cơ quan (agency seal)".into()),
        location: None,
        visible_seal: settings.visible_seal.clone(),
    };
    let handle = tokio::runtime::Handle::current();
    let stamp = settings
        .tsa
        .as_ref()
        .map(|tsa| observed_stamper(tsa, watch, clock, &handle));
    let stamper: Option<pades::Stamper<'_>> = stamp.as_ref().map(|stamp| stamp as _);
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
    let (settings, at) = (settings.clone(), context.now_text());
    let watch = context.link.seal_watch().clone();
    let batch = context
        .blocking(move |_| {
            let items: Vec<[u8; 32]> = records
                .iter()
                .map(|record| crate::store::evidence::decode_hash(&record.hash))
                .collect::<Result<_, _>>()?;
            let slices: Vec<&[u8]> = items.iter().map(|item| item.as_slice()).collect();
            let signer = timed_signer(&settings, &watch)?;
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

/// Adds timestamps to B-B seals while the TSA answers; the number done. Stops at the first
/// [`SyncError::Timestamp`] (the TSA is not answering; the others would fail the same way).
async fn stamp_round<C: AxisClient>(
    context: &Context<C>,
    settings: &SealingSettings,
) -> Result<usize, SyncError> {
    let Some(tsa) = &settings.tsa else {
        return Ok(0);
    };
    let waiting = context
        .blocking(|store| Ok(store.unstamped_documents(BATCH)?))
        .await?;
    let mut done = 0;
    for document in waiting {
        let id = document.id.clone();
        let (tsa, clock) = (tsa.clone(), context.clock.clone());
        let watch = context.link.seal_watch().clone();
        let stamped = context
            .blocking(move |store| stamp(store, &tsa, &watch, &clock, &document))
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

/// Adds the timestamp to a copy of the sealed PDF and stores the copy (blocking). A
/// failure of the TSA itself is [`SyncError::Timestamp`].
fn stamp(
    store: &Store,
    tsa: &TsaClient,
    watch: &SealWatch,
    clock: &SharedClock,
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
    let observed = observed_stamper(tsa, watch, clock, &handle);
    let tsa_failed = Cell::new(false);
    let stamp = |message: &[u8]| {
        let answer = observed(message);
        tsa_failed.set(answer.is_err());
        answer
    };
    let result = pades::add_timestamp(&working, None, &stamp)
        .map_err(|error| {
            if tsa_failed.get() {
                SyncError::Timestamp(error.to_string())
            } else {
                SyncError::Seal(format!("timestamp of {}: {error}", document.id))
            }
        })
        .and_then(|()| adopt(store, &working));
    let _ = std::fs::remove_file(&working);
    result
}
