//! Retry delays after failures: exponential from `retry_min_ms`, capped at `retry_max_ms`,
//! with random jitter (from `ring`'s system random source) so that many gateways coming
//! back after an outage do not hit the axis in step. Owns the arithmetic only.

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

/// The delay sequence of one retrying loop.
#[derive(Debug)]
pub struct Backoff {
    min_ms: u64,
    max_ms: u64,
    failures: u32,
    random: SystemRandom,
}

impl Backoff {
    pub fn new(min_ms: u64, max_ms: u64) -> Backoff {
        let min_ms = min_ms.max(1);
        Backoff {
            min_ms,
            max_ms: max_ms.max(min_ms),
            failures: 0,
            random: SystemRandom::new(),
        }
    }

    /// The delay before the next try after one more failure: a random point between
    /// `min` and the current ceiling (`min · 2^failures`, at most `max`).
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .min_ms
            .saturating_mul(1u64 << self.failures.min(32))
            .min(self.max_ms);
        self.failures = self.failures.saturating_add(1);
        let mut bytes = [0u8; 8];
        // A failed random source only loses the jitter, never the wait itself.
        let random = match self.random.fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => u64::MAX,
        };
        let span = ceiling - self.min_ms;
        let jitter = if span == 0 { 0 } else { random % (span + 1) };
        Duration::from_millis(self.min_ms + jitter)
    }

    /// A success: the next failure starts again from `min`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_bounds_and_grow() {
        let mut backoff = Backoff::new(200, 30_000);
        let first = backoff.next_delay();
        assert_eq!(first, Duration::from_millis(200));
        let mut longest = Duration::ZERO;
        for _ in 0..100 {
            let delay = backoff.next_delay();
            assert!(delay >= Duration::from_millis(200), "{delay:?}");
            assert!(delay <= Duration::from_millis(30_000), "{delay:?}");
            longest = longest.max(delay);
        }
        assert!(longest > Duration::from_millis(5_000), "{longest:?}");
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(200));
    }

    #[test]
    fn odd_bounds_are_tolerated() {
        let mut backoff = Backoff::new(0, 0);
        assert_eq!(backoff.next_delay(), Duration::from_millis(1));
        let mut backoff = Backoff::new(500, 100);
        for _ in 0..70 {
            assert_eq!(backoff.next_delay(), Duration::from_millis(500));
        }
    }
}
