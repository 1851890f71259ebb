//! The aggregate cache: the state each recently used stream's aggregate was left in by the
//! last command this process committed to it (or loaded), so that the next command on that
//! stream reads only the events after it instead of a snapshot and up to `snapshot_every`
//! events, each decoded, upcast and applied again.
//!
//! A cached state is a hint, never an answer: [`crate::AggregateStore`] still reads the
//! stream after the cached version before every command (another process, or a command
//! whose commit failed here, may have written since), and the append's expected version still
//! refuses a stale decision. So the cache can make a load cheaper, never wrong; a state is
//! only put in after its events committed, and never replaces a newer one.
//!
//! What it holds is what a snapshot holds (the aggregate's serialisable state, which the
//! domain keeps free of personal data so that snapshots need no encryption), in memory only,
//! bounded by [`crate::StoreOptions::cached_aggregates`] entries, least recently used out
//! first.

use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex, PoisonError};

use hashlink::LruCache;

/// One stream's cached aggregate.
pub(crate) struct Cached<A> {
    pub aggregate: A,
    /// The stream version the aggregate is at.
    pub version: usize,
    /// The number of the stream's latest snapshot, as a load would have found it.
    pub snapshot: Option<usize>,
}

type Key = (TypeId, String);

/// A bounded, least-recently-used map from (aggregate type, aggregate id) to its state.
pub(crate) struct AggregateCache {
    entries: Option<Mutex<LruCache<Key, Arc<dyn Any + Send + Sync>>>>,
}

impl AggregateCache {
    /// A cache of at most `capacity` aggregates; 0 caches nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: (capacity > 0).then(|| Mutex::new(LruCache::new(capacity))),
        }
    }

    /// Whether this cache holds anything at all (a capacity above 0): a caller skips
    /// copying a state it would put into a cache of nothing.
    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// A copy of the cached state of aggregate `id` of type `A`, if any.
    pub fn get<A: Clone + Send + Sync + 'static>(&self, id: &str) -> Option<Cached<A>> {
        let entries = self.entries.as_ref()?;
        let entry = entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(TypeId::of::<A>(), id.to_owned()))
            .cloned()?;
        let cached = entry.downcast_ref::<Cached<A>>()?;
        Some(Cached {
            aggregate: cached.aggregate.clone(),
            version: cached.version,
            snapshot: cached.snapshot,
        })
    }

    /// Caches `cached` as aggregate `id`'s state unless a newer one is cached already.
    pub fn put<A: Send + Sync + 'static>(&self, id: &str, cached: Cached<A>) {
        let Some(entries) = self.entries.as_ref() else {
            return;
        };
        let key = (TypeId::of::<A>(), id.to_owned());
        let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
        let newer = entries
            .get(&key)
            .and_then(|entry| entry.downcast_ref::<Cached<A>>())
            .is_some_and(|held| held.version > cached.version);
        if !newer {
            entries.insert(key, Arc::new(cached));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(aggregate: &str, version: usize) -> Cached<String> {
        Cached {
            aggregate: aggregate.to_owned(),
            version,
            snapshot: None,
        }
    }

    #[test]
    fn a_state_is_never_replaced_by_an_older_one() {
        let cache = AggregateCache::new(4);
        cache.put("a", cached("at 5", 5));
        cache.put("a", cached("at 3", 3));
        assert_eq!(
            cache.get::<String>("a").map(|c| c.aggregate),
            Some("at 5".into())
        );
        cache.put("a", cached("at 6", 6));
        assert_eq!(cache.get::<String>("a").map(|c| c.version), Some(6));
    }

    #[test]
    fn the_least_recently_used_state_goes_first_and_types_do_not_mix() {
        let cache = AggregateCache::new(2);
        cache.put("a", cached("a", 1));
        cache.put("b", cached("b", 1));
        assert!(cache.get::<String>("a").is_some());
        cache.put("c", cached("c", 1));
        assert!(
            cache.get::<String>("b").is_none(),
            "b was the least recently used"
        );
        assert!(cache.get::<String>("a").is_some());
        assert!(
            cache.get::<u32>("a").is_none(),
            "another aggregate type, another key"
        );
    }

    #[test]
    fn a_cache_of_no_entries_holds_nothing() {
        let cache = AggregateCache::new(0);
        cache.put("a", cached("a", 1));
        assert!(cache.get::<String>("a").is_none());
    }
}
