//! The directory task: asks the axis for its agency directory (`getAgenciesList`) at start
//! and then every [`REFRESH_EVERY`], and replaces the cached copy in the store, which the
//! intake checks outgoing recipients against (`workflow::directory`). After a failure it
//! retries with the scheduler's [`Backoff`]; after a refusal by the axis (an axis without
//! the operation) it waits for the next regular refresh instead.
//!
//! An empty or unusable answer never replaces a good cache: it is a failed refresh, logged
//! as a warning, and the old directory stays. A failure here never stops or slows the other
//! tasks. The task counts as alive for the scheduler's heartbeat while it sleeps between
//! refreshes (it only ends on shutdown), and its one request is watched like theirs.

use std::sync::Arc;
use std::time::Duration;

use super::backoff::Backoff;
use super::client::{Agency, AxisClient, AxisError};
use super::scheduler::{Context, SyncError};
use crate::store::AgencyEntry;
use crate::workflow::directory::clean_directory;

/// How often the directory is refreshed after a success.
pub(super) const REFRESH_EVERY: Duration = Duration::from_secs(6 * 60 * 60);

pub(super) async fn run<C: AxisClient>(context: Arc<Context<C>>) {
    run_every(&context, REFRESH_EVERY).await;
}

/// Refreshes now, then every `interval` after a success; backs off after a failure. Ends
/// on shutdown.
pub(super) async fn run_every<C: AxisClient>(context: &Context<C>, interval: Duration) {
    let mut backoff = Backoff::new(context.settings.retry_min_ms, context.settings.retry_max_ms);
    while !context.shutdown.is_triggered() {
        // A request in flight is abandoned on shutdown; the replacement is atomic, so the
        // cache is either the old one or the new one.
        let refreshed = tokio::select! {
            refreshed = refresh(context) => refreshed,
            _ = context.shutdown.wait() => return,
        };
        let wait = match refreshed {
            Ok(agencies) => {
                backoff.reset();
                tracing::info!(agencies, "agency directory refreshed from the axis");
                interval
            }
            Err(error) => after_failure(&error, &mut backoff, interval),
        };
        if !context.pause(wait).await {
            return;
        }
    }
}

/// Logs a failed refresh and answers how long to wait before the next one.
fn after_failure(error: &SyncError, backoff: &mut Backoff, interval: Duration) -> Duration {
    if let SyncError::Axis(AxisError::Permanent { .. }) = error {
        tracing::warn!(%error, error_kind = error.kind(), retry_in_secs = interval.as_secs(), "the axis refused to give its agency directory; the cached directory is kept, and recipients are checked against it (if any)");
        return interval;
    }
    let delay = backoff.next_delay();
    if backoff.failures() <= 1 {
        tracing::warn!(%error, error_kind = error.kind(), retry_in_ms = delay.as_millis() as u64, "cannot refresh the agency directory; the cached directory is kept; will retry");
    } else {
        tracing::debug!(%error, error_kind = error.kind(), retry_in_ms = delay.as_millis() as u64, "cannot refresh the agency directory again; will retry");
    }
    delay
}

/// One refresh: ask, clean, replace. Answers how many agencies the directory now holds.
async fn refresh<C: AxisClient>(context: &Context<C>) -> Result<u64, SyncError> {
    let agencies = context.client.list_agencies().await?;
    let entries = clean_directory(agencies.into_iter().map(entry).collect());
    if entries.is_empty() {
        return Err(SyncError::EmptyDirectory);
    }
    Ok(context
        .store
        .replace_agency_directory(entries, context.now_text())
        .await?)
}

fn entry(agency: Agency) -> AgencyEntry {
    AgencyEntry {
        code: agency.code,
        name: agency.name,
        system_id: agency.system_id,
    }
}
