//! Per-webhook pacing: a token bucket and exponential backoff with jitter. Pure functions of the
//! instants they are given, so they are tested without a clock.
//!
//! The bucket counts a message when Slack *answered* it, not when it was sent: the next message
//! then leaves at least one interval after Slack saw the previous one, so the spacing holds as
//! Slack sees it even when the network delays a request.

use std::time::Duration;

use tokio::time::Instant;

/// `burst` tokens at most; one comes back every `interval`.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    interval: Duration,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(interval: Duration, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            interval,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if now > self.at {
            let gained = now.duration_since(self.at).as_secs_f64() / self.interval.as_secs_f64();
            self.tokens = (self.tokens + gained).min(self.burst);
            self.at = now;
        }
    }

    /// When a message may be sent (now, or when the next token is back).
    pub(crate) fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            (self.at + self.interval.mul_f64(1.0 - self.tokens)).max(now)
        }
    }

    /// Takes one token at `now` (may go below zero when Slack answered late: then the next
    /// message waits longer).
    pub(crate) fn take(&mut self, now: Instant) {
        self.refill(now);
        self.tokens -= 1.0;
    }

    /// Nothing may be sent before `until` (a `Retry-After`): empties the bucket up to then.
    pub(crate) fn pause_until(&mut self, until: Instant, now: Instant) {
        self.refill(now);
        if until > now {
            let wait = until.duration_since(now).as_secs_f64() / self.interval.as_secs_f64();
            self.tokens = self.tokens.min(1.0 - wait);
        }
    }
}

/// Delay before retry number `retry` (1 for the first retry): `initial · 2^(retry-1)` capped at
/// `max`, of which the upper half is jittered by `unit` (a number in `[0, 1)`).
pub(crate) fn backoff(retry: u32, initial: Duration, max: Duration, unit: f64) -> Duration {
    let exp = retry.saturating_sub(1).min(30);
    let full = initial.saturating_mul(1_u32 << exp).min(max);
    let half = full / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// A number in `[0, 1)` that differs from call to call (jitter; not for secrets).
pub(crate) fn jitter_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    // 53 random bits make an exactly representable fraction.
    #[allow(clippy::cast_precision_loss)]
    let fraction = (hasher.finish() >> 11) as f64 / (1_u64 << 53) as f64;
    fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut bucket = TokenBucket::new(second, 2, t0);
        assert_eq!(bucket.ready_at(t0), t0);
        bucket.take(t0);
        assert_eq!(bucket.ready_at(t0), t0);
        bucket.take(t0);
        assert_eq!(bucket.ready_at(t0), t0 + second);
        let t1 = t0 + second;
        bucket.take(t1);
        assert_eq!(bucket.ready_at(t1), t1 + second);
    }

    #[test]
    fn a_late_answer_pushes_the_next_message_back() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut bucket = TokenBucket::new(second, 1, t0);
        bucket.take(t0 + Duration::from_millis(300));
        assert_eq!(bucket.ready_at(t0), t0 + Duration::from_millis(1300));
    }

    #[test]
    fn retry_after_empties_the_bucket_until_then() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(Duration::from_millis(100), 5, t0);
        bucket.pause_until(t0 + Duration::from_secs(2), t0);
        assert_eq!(bucket.ready_at(t0), t0 + Duration::from_secs(2));
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_in_the_upper_half() {
        let ms = Duration::from_millis;
        assert_eq!(backoff(1, ms(100), ms(1000), 0.0), ms(50));
        assert_eq!(
            backoff(1, ms(100), ms(1000), 0.999_999),
            Duration::from_nanos(99_999_950)
        );
        assert_eq!(backoff(3, ms(100), ms(1000), 0.0), ms(200));
        assert_eq!(backoff(10, ms(100), ms(1000), 0.0), ms(500));
        assert_eq!(backoff(60, ms(100), ms(1000), 0.0), ms(500));
        let unit = jitter_unit();
        assert!((0.0..1.0).contains(&unit));
    }
}
