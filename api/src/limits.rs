//! Bounded work per client and per caller: rate limits on failed authentication (per client
//! address), on commands and on data-subject lookups and forgets (per caller), each answering
//! 429 `too_many_requests` with `Retry-After`.
//!
//! The limits are `governor`'s keyed GCRA limiters (a sustained rate and a burst per key), one
//! per kind, in this instance's memory: with several instances behind a balancer each allows
//! its own share. Keys are forgotten once their state is back to full (`retain_recent`), so
//! their memory follows the clients active in the last burst period.
//!
//! * **Failed authentication** counts requests whose token is missing or not valid, by the
//!   connection's address. Once an address has spent its burst, every request it sends that
//!   needs a token gets 429 *before* the token is looked at, until the rate has refilled a
//!   request: a client guessing tokens learns nothing more, and the server spends no signature
//!   check on it. Behind a reverse proxy every client has the proxy's address: limit there and
//!   set `limits.failed_auth_per_minute = 0`.
//! * **Commands** (writes under a domain permission) and **privacy** (`lookup`, `forget`) are
//!   counted per caller: the token's subject, role, region and organisation.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::Principal;
use crate::config::LimitSettings;
use crate::problem::{ApiError, ProblemCode};

/// Keys above which a limiter drops the keys whose state is back to full.
const RETAIN_ABOVE: usize = 10_000;
/// Blocked addresses kept at most; expired ones are dropped first.
const MAX_BLOCKED: usize = 100_000;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// One keyed limit.
struct Limit<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> Limit<K> {
    /// `None` when `per_period` is 0 (the limit is off).
    fn new(per_period: u32, burst: u32, period: Duration) -> Option<Self> {
        let rate = NonZeroU32::new(per_period)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        let replenish = period / rate.get();
        let quota = Quota::with_period(replenish.max(Duration::from_nanos(1)))?.allow_burst(burst);
        Some(Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        })
    }

    /// Takes one request from `key`'s budget; when it is spent, how long until one is back.
    fn take(&self, key: &K) -> Result<(), Duration> {
        if self.limiter.len() > RETAIN_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Which per-caller budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Nothing counted (reads).
    None,
    /// A command: a write under a domain permission.
    Commands,
    /// A data-subject lookup or forget.
    Privacy,
}

/// The instance's rate limits.
pub struct Limits {
    failed_auth: Option<Limit<IpAddr>>,
    /// Addresses that spent their failed-authentication budget, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    commands: Option<Limit<String>>,
    privacy: Option<Limit<String>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("failed_auth", &self.failed_auth.is_some())
            .field("commands", &self.commands.is_some())
            .field("privacy", &self.privacy.is_some())
            .finish_non_exhaustive()
    }
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            failed_auth: Limit::new(
                settings.failed_auth_per_minute,
                settings.failed_auth_burst,
                minute,
            ),
            blocked: Mutex::new(HashMap::new()),
            commands: Limit::new(
                settings.commands_per_second,
                settings.commands_burst,
                Duration::from_secs(1),
            ),
            privacy: Limit::new(settings.privacy_per_minute, settings.privacy_burst, minute),
        }
    }

    fn blocked(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// 429 when `address` spent its failed-authentication budget and it has not refilled.
    pub fn check_address(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(address) = address else {
            return Ok(());
        };
        let now = Instant::now();
        let mut blocked = self.blocked();
        match blocked.get(&address) {
            Some(until) if *until > now => Err(ApiError::too_many_requests(
                ProblemCode::TooManyRequests,
                "too many requests from this address failed authentication; wait before \
                 trying again",
                *until - now,
            )),
            Some(_) => {
                blocked.remove(&address);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed authentication from `address`. Once its budget is spent the address is
    /// refused until a request is back in it, and this request is answered with that 429
    /// rather than its 401.
    pub fn failed_authentication(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(limit), Some(address)) = (&self.failed_auth, address) else {
            return Ok(());
        };
        let Err(wait) = limit.take(&address) else {
            return Ok(());
        };
        let now = Instant::now();
        {
            let mut blocked = self.blocked();
            if blocked.len() >= MAX_BLOCKED {
                blocked.retain(|_, until| *until > now);
            }
            if blocked.len() < MAX_BLOCKED {
                blocked.insert(address, now + wait);
            }
        }
        tracing::warn!(
            client = %address,
            retry_after_seconds = wait.as_secs(),
            "a client address spent its failed-authentication budget"
        );
        self.check_address(Some(address))
    }

    /// Takes one request from the caller's `budget`; 429 when it is spent.
    pub fn check_caller(&self, principal: &Principal, budget: Budget) -> Result<(), ApiError> {
        let (limit, what) = match budget {
            Budget::None => return Ok(()),
            Budget::Commands => (&self.commands, "commands"),
            Budget::Privacy => (&self.privacy, "data-subject lookups and forgets"),
        };
        let Some(limit) = limit else {
            return Ok(());
        };
        limit.take(&caller_key(principal)).map_err(|wait| {
            ApiError::too_many_requests(
                ProblemCode::TooManyRequests,
                format!("this caller sent too many {what}; wait before sending more"),
                wait,
            )
        })
    }
}

/// The caller a per-caller budget belongs to: subject, role, region and organisation.
pub fn caller_key(principal: &Principal) -> String {
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}",
        principal.actor().subject.as_str(),
        principal.role(),
        principal.region(),
        principal
            .provider_org()
            .map(ToString::to_string)
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LimitSettings {
        LimitSettings {
            failed_auth_per_minute: 1,
            failed_auth_burst: 2,
            commands_per_second: 1,
            commands_burst: 3,
            privacy_per_minute: 0,
            ..LimitSettings::default()
        }
    }

    #[test]
    fn an_address_is_refused_once_its_failures_spend_the_burst() {
        let limits = Limits::new(&settings());
        let address = Some(IpAddr::from([192, 0, 2, 7]));
        let other = Some(IpAddr::from([192, 0, 2, 8]));
        limits.failed_authentication(address).unwrap();
        limits.failed_authentication(address).unwrap();
        assert!(limits.check_address(address).is_ok(), "the burst is 2");
        let refused = limits.failed_authentication(address).unwrap_err();
        assert_eq!(refused.status().as_u16(), 429);
        let refused = limits.check_address(address).unwrap_err();
        assert_eq!(refused.status().as_u16(), 429);
        assert_eq!(refused.code(), "too_many_requests");
        assert!(limits.check_address(other).is_ok(), "per address");
        assert!(limits.check_address(None).is_ok());
    }

    #[test]
    fn commands_are_counted_per_caller_and_a_zero_rate_is_no_limit() {
        let limits = Limits::new(&settings());
        let officer = Principal::from_claims("o", "officer", "dalarna", None).unwrap();
        let other = Principal::from_claims("o", "officer", "varmland", None).unwrap();
        for _ in 0..3 {
            limits.check_caller(&officer, Budget::Commands).unwrap();
        }
        let refused = limits.check_caller(&officer, Budget::Commands).unwrap_err();
        assert_eq!(refused.status().as_u16(), 429);
        limits.check_caller(&other, Budget::Commands).unwrap();
        for _ in 0..100 {
            limits.check_caller(&officer, Budget::Privacy).unwrap();
            limits.check_caller(&officer, Budget::None).unwrap();
        }
    }
}
