//! Concurrency: a follower never skips an event, and racing appenders have one winner.

use std::time::Instant;

use store::testing::TestDatabase;
use store::{EventStore, ExpectedVersion, Position, StoreError, StoreOptions};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::{request, stream};

/// A small xorshift generator: enough randomness to vary the interleavings, no dependency.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        Self(Uuid::new_v4().as_u64_pair().0 | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Several stores (separate pools and writer tasks, as separate processes would have), each
/// with several tasks appending 1–3 events to random streams, while one reader polls
/// `read_all` in small pages from the last position it saw. Every page must start right
/// after the reader's last position and be dense; at the end the reader's sequence must be
/// the whole log. Repeated for many rounds on the same growing log.
pub async fn concurrent_writers_never_let_a_reader_skip_an_event(db: TestDatabase) {
    const ROUNDS: usize = 20;
    const STORES: usize = 3;
    const WRITERS_PER_STORE: usize = 4;
    const APPENDS_PER_WRITER: usize = 12;
    const STREAMS: u64 = 10;
    const PAGE: u64 = 5;

    // Durability is not what is tested here; NORMAL keeps the SQLite run quick. Three SQLite
    // writers take turns at one file lock: on a loaded two-core machine one of them can wait
    // longer than the default five seconds, which is a timeout, not an ordering failure.
    let options = StoreOptions {
        sqlite_durable: false,
        acquire_timeout: std::time::Duration::from_secs(30),
        ..StoreOptions::default()
    };
    let reader = db.store_with(options.clone()).await;
    let mut writers = Vec::new();
    for _ in 0..STORES {
        writers.push(
            EventStore::connect(db.url(), options.clone())
                .await
                .unwrap(),
        );
    }

    let started = Instant::now();
    let mut seen: Vec<(Position, Uuid, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let mut last = Position::START;
    let mut polls = 0_u64;
    for round in 0..ROUNDS {
        let mut tasks = JoinSet::new();
        for (s, store) in writers.iter().enumerate() {
            for w in 0..WRITERS_PER_STORE {
                let store = store.clone();
                tasks.spawn(async move {
                    let mut rng = Rng::seeded();
                    for _ in 0..APPENDS_PER_WRITER {
                        let case = stream(&format!("s{}", rng.below(STREAMS)));
                        let n = usize::try_from(rng.below(3)).unwrap() + 1;
                        store
                            .append(request(&case, ExpectedVersion::Any, n))
                            .await
                            .unwrap_or_else(|e| panic!("round {round} store {s} task {w}: {e}"));
                        if rng.below(4) == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                });
            }
        }
        loop {
            polls += 1;
            let page = reader.read_all(last, PAGE).await.unwrap();
            for (i, event) in page.iter().enumerate() {
                assert_eq!(
                    event.position,
                    Position(last.0 + 1 + i as u64),
                    "round {round}: page after {last} is not dense from {}",
                    last.next()
                );
                if let Some((_, _, previous_at)) = seen.last() {
                    assert!(event.recorded_at >= *previous_at, "recorded_at went back");
                }
                seen.push((event.position, event.event_id, event.recorded_at));
            }
            if let Some(event) = page.last() {
                last = event.position;
                continue;
            }
            while let Some(finished) = tasks.try_join_next() {
                finished.unwrap();
            }
            if tasks.is_empty() && reader.head().await.unwrap() == last {
                break;
            }
            tokio::task::yield_now().await;
        }
    }

    let expected_appends = ROUNDS * STORES * WRITERS_PER_STORE * APPENDS_PER_WRITER;
    let mut full = Vec::new();
    let mut after = Position::START;
    loop {
        let page = reader.read_all(after, 1000).await.unwrap();
        let Some(tail) = page.last() else { break };
        after = tail.position;
        full.extend(
            page.into_iter()
                .map(|e| (e.position, e.event_id, e.recorded_at)),
        );
    }
    assert_eq!(full, seen, "the follower's sequence is the whole log");
    assert!(full.len() >= expected_appends && full.len() <= 3 * expected_appends);
    assert!(reader.verify().await.unwrap().is_intact());
    eprintln!(
        "gap test: {ROUNDS} rounds, {expected_appends} appends, {} events, {polls} polls, {:?}",
        full.len(),
        started.elapsed()
    );
}

/// Many appenders, spread over two stores, append to one stream at the same expected
/// version: exactly one wins each round, every other gets a conflict naming the new version.
pub async fn racing_appenders_on_one_stream_produce_exactly_one_winner(db: TestDatabase) {
    const ROUNDS: usize = 6;
    const RACERS: usize = 10;
    let first = db.store().await;
    let second = EventStore::connect(db.url(), StoreOptions::default())
        .await
        .unwrap();
    let case = stream("contested");
    let mut current = 0;
    for round in 0..ROUNDS {
        let mut racers = JoinSet::new();
        for i in 0..RACERS {
            let store = if i % 2 == 0 { &first } else { &second }.clone();
            let case = case.clone();
            racers.spawn(async move {
                store
                    .append(request(&case, ExpectedVersion::Exact(current), 2))
                    .await
            });
        }
        let mut winners = 0;
        while let Some(answer) = racers.join_next().await {
            match answer.unwrap() {
                Ok(outcome) => {
                    winners += 1;
                    assert_eq!(outcome.first_version, current + 1);
                }
                Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, current + 2),
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners, 1, "round {round}");
        current += 2;
        let events = first.read_stream(&case, 0, 1000).await.unwrap();
        assert_eq!(events.len() as u64, current);
    }
    assert!(first.verify().await.unwrap().is_intact());
}
