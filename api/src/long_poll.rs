//! The feed's long polls (`GET /v1/feed?wait=`): how many may wait, and what wakes them.
//!
//! * [`LongPolls`] caps the polls waiting at once, in this instance (`limits.long_polls`) and
//!   per caller (`limits.long_polls_per_caller`); a poll over either cap answers 429
//!   `too_many_long_polls` with `Retry-After` at once, without reading the log. A follower
//!   needs one open request at a time.
//! * [`FeedSignal`] wakes the waiting polls when the log may have grown. One task
//!   ([`FeedSignal::pump`]) listens to the store (this process's commits; on PostgreSQL every
//!   process's `NOTIFY`, through one listener for all polls) and coalesces: the first commit
//!   wakes the polls at once, and every commit in the next `limits.long_poll_coalesce_
//!   milliseconds` joins one more wake-up at its end. However fast the log grows, a poll
//!   rescans at most once per window, not once per commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use store::EventStore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::auth::Principal;
use crate::limits::caller_key;
use crate::problem::{ApiError, ProblemCode};

/// Wakes waiting feed requests when the log may have grown. Cheap to clone; one
/// [`FeedSignal::pump`] task drives it from the store's wake-ups.
#[derive(Debug, Clone)]
pub struct FeedSignal {
    sender: Arc<watch::Sender<u64>>,
    coalesce: Duration,
}

impl Default for FeedSignal {
    fn default() -> Self {
        Self::new(Duration::from_millis(50))
    }
}

impl FeedSignal {
    /// A signal that wakes its waiters at most once per `coalesce` (after the first wake-up,
    /// which is immediate).
    pub fn new(coalesce: Duration) -> Self {
        Self {
            sender: Arc::new(watch::channel(0).0),
            coalesce,
        }
    }

    /// A receiver that has seen everything so far: its `changed()` completes at the next
    /// wake-up.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }

    /// How many wake-ups were sent so far.
    pub fn wakeups(&self) -> u64 {
        *self.sender.borrow()
    }

    fn wake(&self) {
        self.sender
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Forwards the store's wake-ups, coalesced, until `shutdown` completes. A lost listener
    /// connection is re-established after a second.
    pub async fn pump(self, store: EventStore, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let listened = tokio::select! {
                () = &mut shutdown => return,
                listened = store.listen() => listened,
            };
            match listened {
                Ok(mut wakeups) => loop {
                    let woke = tokio::select! {
                        () = &mut shutdown => return,
                        woke = wakeups.wait() => woke,
                    };
                    if let Err(error) = woke {
                        tracing::warn!(code = error.code(), %error, "the feed's listener failed; listening again");
                        break;
                    }
                    self.wake();
                    if self.coalesce.is_zero() {
                        continue;
                    }
                    // Commits during the window join one wake-up at its end.
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = tokio::time::sleep(self.coalesce) => {}
                    }
                    let mut more = false;
                    let mut failed = false;
                    while let Some(woke) = wakeups.wait().now_or_never() {
                        more = true;
                        if woke.is_err() {
                            failed = true;
                            break;
                        }
                    }
                    if more {
                        self.wake();
                    }
                    if failed {
                        break;
                    }
                },
                Err(error) => {
                    tracing::warn!(code = error.code(), %error, "the feed cannot listen for new events; retrying");
                }
            }
            // Wake waiters anyway: they rescan, and nothing is missed while reconnecting.
            self.wake();
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// The cap on long polls waiting at once. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LongPolls {
    global: Arc<Semaphore>,
    per_caller: Arc<Mutex<HashMap<String, usize>>>,
    per_caller_max: usize,
}

/// A long poll's place; dropping it frees the place.
#[derive(Debug)]
pub struct LongPollPermit {
    _global: OwnedSemaphorePermit,
    caller: String,
    per_caller: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for LongPollPermit {
    fn drop(&mut self) {
        let mut counts = self
            .per_caller
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.caller);
            }
        }
    }
}

impl LongPolls {
    pub fn new(global: usize, per_caller: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global)),
            per_caller: Arc::new(Mutex::new(HashMap::new())),
            per_caller_max: per_caller,
        }
    }

    /// A place for one of `principal`'s long polls; 429 `too_many_long_polls` when the
    /// instance or the caller has as many waiting as allowed.
    pub fn admit(&self, principal: &Principal) -> Result<LongPollPermit, ApiError> {
        let busy = |detail: &str| {
            ApiError::too_many_requests(
                ProblemCode::TooManyLongPolls,
                detail,
                Duration::from_secs(1),
            )
        };
        let caller = caller_key(principal);
        let mut counts = self
            .per_caller
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.get(&caller).copied().unwrap_or(0);
        if count >= self.per_caller_max {
            return Err(busy(&format!(
                "this caller has {count} long polls waiting, the most allowed; follow the feed \
                 with one open request at a time"
            )));
        }
        let global = self.global.clone().try_acquire_owned().map_err(|_| {
            busy("the server has as many long polls waiting as it allows; retry shortly")
        })?;
        counts.insert(caller.clone(), count + 1);
        drop(counts);
        Ok(LongPollPermit {
            _global: global,
            caller,
            per_caller: self.per_caller.clone(),
        })
    }

    /// Long polls waiting now.
    pub fn waiting(&self) -> usize {
        self.per_caller
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_polls_are_capped_per_caller_and_in_all() {
        let polls = LongPolls::new(3, 2);
        let a = Principal::from_claims("a", "officer", "dalarna", None).unwrap();
        let b = Principal::from_claims("b", "officer", "dalarna", None).unwrap();
        let c = Principal::from_claims("c", "officer", "dalarna", None).unwrap();
        let first = polls.admit(&a).unwrap();
        let _second = polls.admit(&a).unwrap();
        let refused = polls.admit(&a).unwrap_err();
        assert_eq!(
            (refused.status().as_u16(), refused.code().as_str()),
            (429, "too_many_long_polls")
        );
        let _third = polls.admit(&b).unwrap();
        assert_eq!(polls.admit(&c).unwrap_err().code(), "too_many_long_polls");
        drop(first);
        assert_eq!(polls.waiting(), 2);
        let _again = polls.admit(&c).unwrap();
        assert_eq!(polls.admit(&a).unwrap_err().code(), "too_many_long_polls");
    }
}
