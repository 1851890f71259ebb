//! When to try again: exponential backoff with full jitter, a cap, a limit, and the
//! receiver's `Retry-After`.
//!
//! After the *n*-th failed attempt the next one waits a uniformly random time in
//! `[0, min(cap, base · 2^(n−1))]` ("full jitter"): receivers that failed together (an outage)
//! are not hit again together, which Standard Webhooks recommends so that retries do not
//! recreate the load that caused the failure. After `max_attempts` failed attempts the
//! delivery is parked. A `Retry-After` from the receiver (seconds or an HTTP date) raises the
//! wait to at least what it asks, but never beyond the cap.
//!
//! With the defaults (base 5 s, cap 1 h, 12 attempts) the ceilings run 5 s, 10 s, 20 s, …,
//! 42 min 40 s, 1 h, so a delivery is parked after at most about 2 h 25 min of waiting
//! (half that on average); a longer outage ends in parked deliveries that an operator
//! redelivers once the receiver is back (`Webhooks::redeliver`), in order.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The retry schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling of the first wait.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
    /// Failed attempts before a delivery is parked (at least 1).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(3600),
            max_attempts: 12,
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the wait after the `failed`-th failed attempt (1 for the first).
    pub fn ceiling(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(63);
        let factor = 1_u64 << doublings;
        let base = u64::try_from(self.base.as_millis()).unwrap_or(u64::MAX);
        let cap = u64::try_from(self.cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(base.saturating_mul(factor).min(cap))
    }

    /// The wait after the `failed`-th failed attempt, given a uniformly random `roll` and
    /// what the receiver asked for.
    pub fn delay(&self, failed: u32, roll: u64, retry_after: Option<Duration>) -> Duration {
        let ceiling = u64::try_from(self.ceiling(failed).as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(roll % ceiling.saturating_add(1));
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.cap)),
            None => jittered,
        }
    }

    /// Whether `failed` failed attempts park the delivery.
    pub fn exhausted(&self, failed: u32) -> bool {
        failed >= self.max_attempts.max(1)
    }
}

/// A uniformly random 64-bit number for the jitter.
pub(crate) fn roll() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        // No randomness available: fall back to the clock's nanoseconds, which still spreads
        // receivers apart.
        u64::from(Utc::now().timestamp_subsec_nanos())
    })
}

/// `Retry-After` as seconds or as an HTTP date, relative to `now`.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_from_the_base_up_to_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.ceiling(1), Duration::from_secs(5));
        assert_eq!(policy.ceiling(2), Duration::from_secs(10));
        assert_eq!(policy.ceiling(10), Duration::from_secs(2560));
        assert_eq!(policy.ceiling(11), Duration::from_secs(3600));
        assert_eq!(policy.ceiling(500), Duration::from_secs(3600));
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling_and_spreads_over_it() {
        let policy = RetryPolicy::default();
        for failed in 1..=14 {
            let ceiling = policy.ceiling(failed);
            let delays: Vec<Duration> = (0..2000)
                .map(|_| policy.delay(failed, roll(), None))
                .collect();
            assert!(delays.iter().all(|d| *d <= ceiling));
            let low = delays.iter().filter(|d| **d < ceiling / 4).count();
            let high = delays.iter().filter(|d| **d > ceiling * 3 / 4).count();
            assert!(
                low > 300 && high > 300,
                "attempt {failed}: {low} low, {high} high"
            );
        }
        assert_eq!(policy.delay(1, 0, None), Duration::ZERO);
        assert_eq!(policy.delay(1, 5000, None), Duration::from_secs(5));
    }

    #[test]
    fn retry_after_raises_the_wait_but_not_beyond_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, 0, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert_eq!(
            policy.delay(1, 0, Some(Duration::from_secs(86_400))),
            Duration::from_secs(3600)
        );
        let now = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Mon, 02 Mar 2026 09:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn the_limit_parks_after_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(!policy.exhausted(2));
        assert!(policy.exhausted(3));
    }
}
