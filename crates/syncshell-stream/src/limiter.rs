//! A token-bucket rate limiter with time as an input.

use std::time::{Duration, Instant};

const NANOS: u128 = 1_000_000_000;

/// Caps bytes per second. Tokens (bytes) refill continuously at `rate` per second up to
/// `burst`; [`TokenBucket::reserve`] takes tokens for a frame and says how long to wait
/// before sending it. A frame larger than the bucket is allowed: it runs the bucket into
/// debt, and later frames wait for the debt to be repaid, so the long-run rate holds.
///
/// The clock is an input (`now`), so the limiter is deterministic; a `now` earlier than a
/// previous one refills nothing.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    /// Tokens times 10^9, negative when in debt.
    scaled: i128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` bytes refilling at `bytes_per_second`, starting at `now`.
    /// Both are at least 1.
    pub fn new(bytes_per_second: u64, burst: u64, now: Instant) -> Self {
        let burst = burst.max(1);
        TokenBucket {
            rate: bytes_per_second.max(1),
            burst,
            scaled: i128::from(burst) * NANOS as i128,
            last: now,
        }
    }

    /// The refill rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    fn refill(&mut self, now: Instant) {
        let Some(elapsed) = now.checked_duration_since(self.last) else {
            return;
        };
        self.last = now;
        let add = elapsed.as_nanos().saturating_mul(u128::from(self.rate));
        let cap = i128::from(self.burst) * NANOS as i128;
        let add = i128::try_from(add).unwrap_or(i128::MAX);
        self.scaled = self.scaled.saturating_add(add).min(cap);
    }

    /// Takes `bytes` tokens at time `now` and returns how long to wait before sending them
    /// (zero when the bucket had enough).
    pub fn reserve(&mut self, now: Instant, bytes: u64) -> Duration {
        self.refill(now);
        self.scaled -= i128::from(bytes) * NANOS as i128;
        if self.scaled >= 0 {
            return Duration::ZERO;
        }
        let debt = self.scaled.unsigned_abs();
        let nanos = debt.div_ceil(u128::from(self.rate));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_run_rate_holds_on_a_simulated_clock() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100_000, 64 * 1024, t0);
        let mut now = t0;
        let frame = 65_552u64;
        let n = 200u64;
        for _ in 0..n {
            now += b.reserve(now, frame);
        }
        let sent = frame * n;
        let elapsed = now - t0;
        // Everything beyond the initial burst is paced at exactly the rate (to the nanosecond).
        let min = Duration::from_nanos((sent - 64 * 1024) * 1_000_000_000 / 100_000);
        assert!(elapsed >= min, "{elapsed:?} < {min:?}");
        assert!(elapsed <= min + Duration::from_millis(1), "{elapsed:?}");
    }

    #[test]
    fn burst_is_free_and_idle_time_refills_only_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, 5000, t0);
        assert_eq!(b.reserve(t0, 5000), Duration::ZERO);
        assert_eq!(b.reserve(t0, 1000), Duration::from_secs(1));
        // A long idle time refills at most `burst`.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.reserve(later, 5000), Duration::ZERO);
        assert!(b.reserve(later, 1) > Duration::ZERO);
        // A clock that goes backwards refills nothing and does not panic.
        assert!(b.reserve(t0, 1) > Duration::ZERO);
    }
}
