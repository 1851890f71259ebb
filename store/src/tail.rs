//! The tail: the newest events of the log as this process's live followers last read them,
//! so that after a commit one of them reads the new events from the database and the others
//! are answered from memory ([`crate::EventStore::read_tail`]).
//!
//! A server runs nine followers of the log (seven projectors, the webhook outbox and the
//! audit), each woken by the same commits and each reading, decoding and upcasting the same
//! new events. The tail holds what the last of those reads returned, a contiguous stretch of
//! the log `(after, end]`, and answers a read from it only when the answer is the one the
//! database would give:
//!
//! * the stretch holds the event right after the reader's position (a reader is never
//!   answered across a hole: positions are dense and the stretch contiguous);
//! * the answer is a full page (`limit` events), or else the stretch reaches every position
//!   this process knows was committed (its own commits, and what other processes announced),
//!   and the read that filled it up to `end` stopped short of its own limit, so `end` was the
//!   head of the log when it ran. A follower answered short believes it caught up, and pauses
//!   until the next wake-up: it must not be answered short of a commit whose wake-up it has
//!   already taken.
//!
//! Everything else reads the database (one reader at a time, so that followers woken
//! together make one read, not nine) and the result extends the stretch when it continues
//! it. Because commit order is position order, an event once read never gains a predecessor,
//! so a stretch stays true for as long as it is held.
//!
//! What it holds is decoded events, personal data included, for the same followers that would
//! hold them anyway: at most [`crate::StoreOptions::tail_events`] of them, each for at most
//! [`MAX_AGE`], and none after [`crate::EventStore::clear_tail`] (which erasing a data subject
//! calls). Readers that serve clients (the feed, history) read the database, never the tail.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::model::{Position, RecordedEvent};

/// How long an event stays in the tail after it was read.
pub const MAX_AGE: Duration = Duration::from_secs(5);

pub(crate) struct Tail {
    capacity: usize,
    held: Mutex<Held>,
    /// Readers that would fill the tail take turns: a second reader woken by the same commit
    /// waits for the first and is then answered from what it read.
    pub filling: tokio::sync::Mutex<()>,
    /// The highest position other processes announced (PostgreSQL notifications).
    announced: AtomicU64,
    /// Counts [`Tail::clear`]s: a read that began before one does not fill the tail.
    epoch: AtomicU64,
}

#[derive(Default)]
struct Held {
    /// The position before the first held event.
    after: u64,
    /// The events after `after`, contiguous, each with when it was read.
    events: VecDeque<(Instant, Arc<RecordedEvent>)>,
    /// The read that brought the last held event asked for more than it got: the last held
    /// event was the head of the log when it ran.
    complete: bool,
}

impl Held {
    fn end(&self) -> u64 {
        self.events.back().map_or(self.after, |(_, e)| e.position.0)
    }

    /// Drops events read longer than `max_age` ago, and the oldest beyond `capacity`.
    fn expire(&mut self, now: Instant, capacity: usize) {
        while let Some((read, event)) = self.events.front() {
            if self.events.len() <= capacity && now.duration_since(*read) < MAX_AGE {
                break;
            }
            self.after = event.position.0;
            self.events.pop_front();
        }
    }
}

impl Tail {
    /// A tail of at most `capacity` events; 0 holds nothing and answers nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            held: Mutex::new(Held::default()),
            filling: tokio::sync::Mutex::new(()),
            announced: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        }
    }

    /// To pass to [`Tail::fill`] with the result of a read that begins now.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether a read after `after` starts before the held stretch: such a reader reads the
    /// database without waiting for its turn, and its result is not kept.
    pub fn behind(&self, after: Position) -> bool {
        after.0
            < self
                .held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .after
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Another process announced that the log reaches `head`.
    pub fn announce(&self, head: Position) {
        self.announced.fetch_max(head.0, Ordering::AcqRel);
    }

    /// A notification on the store's channel: its payload is the head the append reached,
    /// as the store's writer puts it there (`CAST(position AS TEXT)`).
    pub fn notified(&self, payload: &str) {
        if let Ok(head) = payload.parse() {
            self.announce(Position(head));
        }
    }

    /// The events after `after`, at most `limit`, when the tail can answer as the database
    /// would; `local_head` is the last position this process committed.
    pub fn serve(
        &self,
        after: Position,
        limit: u64,
        local_head: Position,
    ) -> Option<Vec<Arc<RecordedEvent>>> {
        let known_head = local_head.0.max(self.announced.load(Ordering::Acquire));
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.expire(Instant::now(), self.capacity);
        let end = held.end();
        if after.0 < held.after || after.0 >= end {
            return None;
        }
        let first = held.events.partition_point(|(_, e)| e.position <= after);
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        let available = held.events.len() - first;
        if available < wanted && !(held.complete && end >= known_head) {
            return None;
        }
        Some(
            held.events
                .range(first..first + available.min(wanted))
                .map(|(_, e)| Arc::clone(e))
                .collect(),
        )
    }

    /// Keeps what `read_all(after, limit)` returned when it continues the held stretch (or
    /// replaces a stretch it passed); a read from behind the stretch, or one that began
    /// before the tail was last cleared (`epoch`), changes nothing.
    pub fn fill(&self, epoch: u64, after: Position, limit: u64, events: &[Arc<RecordedEvent>]) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let complete = (events.len() as u64) < limit;
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        let end = held.end();
        if after.0 > end || held.events.is_empty() && after.0 != held.after {
            *held = Held {
                after: after.0,
                events: VecDeque::new(),
                complete: false,
            };
        } else if after.0 < held.after {
            return;
        }
        let end = held.end();
        let new = events.iter().filter(|e| e.position.0 > end);
        let mut added = false;
        for event in new {
            held.events.push_back((now, Arc::clone(event)));
            added = true;
        }
        // The read told something about the head only if it reached past what was held.
        if added || after.0 == end {
            held.complete = complete;
        }
        held.expire(now, self.capacity);
    }

    /// Forgets every held event.
    pub fn clear(&self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let end = held.end();
        *held = Held {
            after: end,
            events: VecDeque::new(),
            complete: false,
        };
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::canonical::EventHash;
    use crate::model::{EventMetadata, StreamRef};

    fn event(position: u64) -> RecordedEvent {
        RecordedEvent {
            position: Position(position),
            stream: StreamRef::new("case", "c-1"),
            version: position,
            event_id: Uuid::now_v7(),
            event_type: "Happened".into(),
            event_version: "1".into(),
            payload: serde_json::json!({ "n": position }),
            metadata: EventMetadata::new(Uuid::now_v7(), None),
            recorded_at: Utc::now(),
            prev_hash: EventHash([0; 32]),
            hash: EventHash([0; 32]),
        }
    }

    fn events(range: std::ops::RangeInclusive<u64>) -> Vec<Arc<RecordedEvent>> {
        range.map(|position| Arc::new(event(position))).collect()
    }

    fn positions(events: &[Arc<RecordedEvent>]) -> Vec<u64> {
        events.iter().map(|e| e.position.0).collect()
    }

    #[test]
    fn a_reader_at_the_same_place_is_answered_from_what_the_first_read() {
        let tail = Tail::new(100);
        tail.fill(0, Position(10), 500, &events(11..=13));
        let served = tail.serve(Position(10), 500, Position(13)).expect("served");
        assert_eq!(positions(&served), [11, 12, 13]);
        let served = tail.serve(Position(11), 500, Position(13)).expect("served");
        assert_eq!(positions(&served), [12, 13]);
        let served = tail.serve(Position(11), 1, Position(13)).expect("served");
        assert_eq!(positions(&served), [12]);
    }

    #[test]
    fn a_reader_at_the_end_of_the_tail_reads_the_database() {
        let tail = Tail::new(100);
        tail.fill(0, Position(10), 500, &events(11..=13));
        assert!(tail.serve(Position(13), 500, Position(13)).is_none());
    }

    #[test]
    fn a_reader_is_not_answered_short_of_a_commit_this_process_made_since() {
        let tail = Tail::new(100);
        tail.fill(0, Position(10), 500, &events(11..=13));
        // Position 14 committed here after the read: a short answer would let the reader
        // pause with 14 unread and its wake-up taken.
        assert!(tail.serve(Position(11), 500, Position(14)).is_none());
        // A full page is still an answer the database would give.
        let served = tail.serve(Position(11), 2, Position(14)).expect("served");
        assert_eq!(positions(&served), [12, 13]);
    }

    #[test]
    fn a_reader_is_not_answered_short_of_what_another_process_announced() {
        let tail = Tail::new(100);
        tail.fill(0, Position(10), 500, &events(11..=13));
        tail.notified("not a position");
        tail.notified("20");
        assert!(tail.serve(Position(11), 500, Position(13)).is_none());
    }

    #[test]
    fn a_full_page_says_nothing_about_the_head() {
        let tail = Tail::new(100);
        // The read asked for 3 and got 3: more may follow.
        tail.fill(0, Position(10), 3, &events(11..=13));
        assert!(tail.serve(Position(11), 500, Position(13)).is_none());
        assert!(tail.serve(Position(11), 2, Position(13)).is_some());
        // The next read from the end got less than it asked for: now the tail is the head.
        tail.fill(0, Position(13), 3, &events(14..=14));
        let served = tail.serve(Position(11), 500, Position(14)).expect("served");
        assert_eq!(positions(&served), [12, 13, 14]);
    }

    #[test]
    fn a_reader_behind_the_tail_reads_the_database_and_leaves_the_tail_alone() {
        let tail = Tail::new(100);
        tail.fill(0, Position(10), 500, &events(11..=13));
        assert!(tail.serve(Position(5), 500, Position(13)).is_none());
        tail.fill(0, Position(5), 3, &events(6..=8));
        let served = tail.serve(Position(10), 500, Position(13)).expect("served");
        assert_eq!(positions(&served), [11, 12, 13]);
    }

    #[test]
    fn a_read_past_the_tail_replaces_it() {
        let tail = Tail::new(100);
        tail.fill(0, Position(10), 500, &events(11..=13));
        tail.fill(0, Position(20), 500, &events(21..=22));
        assert!(tail.serve(Position(11), 500, Position(22)).is_none());
        let served = tail.serve(Position(20), 500, Position(22)).expect("served");
        assert_eq!(positions(&served), [21, 22]);
    }

    #[test]
    fn the_tail_keeps_only_its_capacity_newest_events() {
        let tail = Tail::new(3);
        tail.fill(0, Position(0), 500, &events(1..=5));
        assert!(tail.serve(Position(1), 500, Position(5)).is_none());
        let served = tail.serve(Position(2), 500, Position(5)).expect("served");
        assert_eq!(positions(&served), [3, 4, 5]);
    }

    #[test]
    fn a_cleared_tail_answers_nothing_and_goes_on_from_its_end() {
        let tail = Tail::new(100);
        tail.fill(tail.epoch(), Position(10), 500, &events(11..=13));
        let before = tail.epoch();
        tail.clear();
        assert!(tail.serve(Position(10), 500, Position(13)).is_none());
        // A read that began before the clearing (with what it decoded then) is not kept.
        tail.fill(before, Position(13), 500, &events(14..=14));
        assert!(tail.serve(Position(13), 500, Position(14)).is_none());
        tail.fill(tail.epoch(), Position(13), 500, &events(14..=14));
        let served = tail.serve(Position(13), 500, Position(14)).expect("served");
        assert_eq!(positions(&served), [14]);
    }

    #[test]
    fn a_tail_of_no_events_answers_nothing() {
        let tail = Tail::new(0);
        tail.fill(0, Position(10), 500, &events(11..=13));
        assert!(tail.serve(Position(10), 500, Position(13)).is_none());
    }
}
