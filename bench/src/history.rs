//! Realistic logs for the replay case: the projections crate's generator
//! (`projections::testing::realistic`), appended through the store in large batches.

use std::time::Instant;

use store::EventStore;

use projections::testing::realistic::history_batch;
pub use projections::testing::realistic::{cached_real_registry as registry, hsa};

use crate::error::{Context, Result};

/// Cases appended per store call.
const CASES_PER_BATCH: usize = 100;

/// Appends case histories until the log holds at least `target` events; returns the head.
pub async fn generate(store: &EventStore, target: u64) -> Result<u64> {
    let started = Instant::now();
    let mut cases = 0_usize;
    let mut last_print = Instant::now();
    loop {
        let head = store.head().await.context("reading the head")?.get();
        if head >= target {
            eprintln!(
                "replay: {head} events in {cases} cases generated and appended in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(head);
        }
        if last_print.elapsed().as_secs() >= 10 {
            last_print = Instant::now();
            eprintln!("replay: generating, {head} of {target} events");
        }
        let requests = history_batch(cases, CASES_PER_BATCH);
        cases += CASES_PER_BATCH;
        for answer in store.append_batch(requests).await {
            answer.context("appending a generated history")?;
        }
    }
}
