//! Requests to the axis in flight, for the scheduler's liveness. A task blocked inside one
//! request still "runs", so the scheduler's heartbeat could not tell it from a working
//! one; [`Watched`] wraps the adapter and notes when each request started and how long
//! the adapter said it may take ([`AxisClient::timeout`]). A request still in flight after
//! twice that limit means the adapter's own timeout did not fire: the loop is stuck, and
//! the heartbeat stops (`scheduler.rs`), so the systemd watchdog restarts the service.
//!
//! Owns only the bookkeeping (a mutex held for an insert or a scan); never cancels a
//! request itself and never looks at what a request carries.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::client::{
    Agency, AxisCall, AxisClient, AxisError, Delivery, FetchedPacket, OutgoingPacket, SentDelivery,
};
use crate::vdxp::{MessageType, TransportStatus};

/// How many times its own limit a request may be in flight before the loop counts as stuck.
const STUCK_FACTOR: u32 = 2;

/// A request past its bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    /// What the request does, in words.
    pub what: &'static str,
    /// How long it has been in flight.
    pub age: Duration,
    /// How long it could be in flight before counting as stuck (twice its limit).
    pub bound: Duration,
}

#[derive(Debug)]
struct Open {
    what: &'static str,
    started: Instant,
    bound: Duration,
}

#[derive(Debug, Default)]
struct Requests {
    next_id: u64,
    open: HashMap<u64, Open>,
}

/// The requests in flight. Cheap to clone; clones share the list.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    requests: Arc<Mutex<Requests>>,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, Requests> {
        self.requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes a request that may take `limit`; it is struck off when the guard is dropped
    /// (answered, failed, or abandoned with its future).
    pub fn start(&self, call: AxisCall, limit: Duration) -> RequestGuard {
        let mut requests = self.lock();
        let id = requests.next_id;
        requests.next_id = requests.next_id.wrapping_add(1);
        requests.open.insert(
            id,
            Open {
                what: call.describe(),
                started: Instant::now(),
                bound: limit.saturating_mul(STUCK_FACTOR),
            },
        );
        RequestGuard {
            in_flight: self.clone(),
            id,
        }
    }

    /// The request furthest past its bound, if any is.
    pub fn overdue(&self) -> Option<Overdue> {
        let now = Instant::now();
        self.lock()
            .open
            .values()
            .filter_map(|open| {
                let age = now.saturating_duration_since(open.started);
                (age > open.bound).then_some(Overdue {
                    what: open.what,
                    age,
                    bound: open.bound,
                })
            })
            .max_by_key(|overdue| overdue.age.saturating_sub(overdue.bound))
    }

    /// How many requests are in flight.
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Whether no request is in flight.
    pub fn is_empty(&self) -> bool {
        self.lock().open.is_empty()
    }
}

/// One request in flight; dropping it strikes the request off.
#[derive(Debug)]
pub struct RequestGuard {
    in_flight: InFlight,
    id: u64,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.in_flight.lock().open.remove(&self.id);
    }
}

/// An adapter whose every request is noted in an [`InFlight`] list.
pub(super) struct Watched<C> {
    inner: C,
    in_flight: InFlight,
}

impl<C: AxisClient> Watched<C> {
    pub(super) fn new(inner: C, in_flight: InFlight) -> Watched<C> {
        Watched { inner, in_flight }
    }

    fn note(&self, call: AxisCall) -> RequestGuard {
        self.in_flight.start(call, self.inner.timeout(call))
    }
}

impl<C: AxisClient> AxisClient for Watched<C> {
    async fn send_packet(&self, packet: &OutgoingPacket) -> Result<String, AxisError> {
        let _noted = self.note(AxisCall::Send { bytes: packet.size });
        self.inner.send_packet(packet).await
    }

    async fn list_received(&self, kind: MessageType) -> Result<Vec<Delivery>, AxisError> {
        let _noted = self.note(AxisCall::Small);
        self.inner.list_received(kind).await
    }

    async fn fetch(
        &self,
        delivery: &Delivery,
        destination: &Path,
        max_bytes: u64,
    ) -> Result<FetchedPacket, AxisError> {
        let _noted = self.note(AxisCall::fetch_of(delivery, max_bytes));
        self.inner.fetch(delivery, destination, max_bytes).await
    }

    async fn acknowledge(
        &self,
        delivery_id: &str,
        status: TransportStatus,
    ) -> Result<(), AxisError> {
        let _noted = self.note(AxisCall::Small);
        self.inner.acknowledge(delivery_id, status).await
    }

    async fn wait_for(&self, seconds: u64) -> Result<u64, AxisError> {
        let _noted = self.note(AxisCall::WaitFor { seconds });
        self.inner.wait_for(seconds).await
    }

    async fn list_sent(&self, doc_id: Option<&str>) -> Result<Vec<SentDelivery>, AxisError> {
        let _noted = self.note(AxisCall::Small);
        self.inner.list_sent(doc_id).await
    }

    async fn list_agencies(&self) -> Result<Vec<Agency>, AxisError> {
        let _noted = self.note(AxisCall::Small);
        self.inner.list_agencies().await
    }

    fn timeout(&self, call: AxisCall) -> Duration {
        self.inner.timeout(call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_past_twice_its_limit_is_overdue_until_it_ends() {
        let in_flight = InFlight::default();
        let quick = in_flight.start(AxisCall::Small, Duration::from_millis(10));
        let slow = in_flight.start(AxisCall::WaitFor { seconds: 1 }, Duration::from_secs(60));
        assert_eq!(in_flight.len(), 2);
        assert_eq!(in_flight.overdue(), None, "just started");
        std::thread::sleep(Duration::from_millis(30));
        let overdue = in_flight.overdue().expect("the quick one is overdue");
        assert_eq!(overdue.what, "list or acknowledge");
        assert_eq!(overdue.bound, Duration::from_millis(20));
        assert!(overdue.age >= Duration::from_millis(30));
        drop(quick);
        assert_eq!(
            in_flight.overdue(),
            None,
            "the slow one is within its bound"
        );
        drop(slow);
        assert!(in_flight.is_empty());
    }
}
