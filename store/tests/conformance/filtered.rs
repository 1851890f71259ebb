//! `EventStore::read_all_where`: a follower that may see only some events (the API's feed)
//! tests each row's metadata before anything is decoded, and decodes only what it returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use store::testing::TestDatabase;
use store::{
    AppendRequest, CodecContext, CodecError, EventMetadata, ExpectedVersion, PayloadCodec,
    Position, StoreOptions,
};
use uuid::Uuid;

use super::{actor, new_event, stream};

/// Counts what it decodes: payloads, and pages (each a key query for an encrypting codec).
#[derive(Clone, Default)]
struct Counting {
    payloads: Arc<AtomicU64>,
    pages: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl PayloadCodec for Counting {
    async fn encode(&self, _: &CodecContext<'_>, payload: Value) -> Result<Value, CodecError> {
        Ok(payload)
    }

    async fn decode(&self, _: &CodecContext<'_>, stored: Value) -> Result<Value, CodecError> {
        self.payloads.fetch_add(1, Ordering::Relaxed);
        Ok(stored)
    }

    async fn decode_page(
        &self,
        items: Vec<(CodecContext<'_>, Value)>,
    ) -> Result<Vec<Value>, CodecError> {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.payloads
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        Ok(items.into_iter().map(|(_, stored)| stored).collect())
    }
}

impl Counting {
    fn take(&self) -> (u64, u64) {
        (
            self.payloads.swap(0, Ordering::Relaxed),
            self.pages.swap(0, Ordering::Relaxed),
        )
    }
}

/// `n` events, one in `every` of them in region `a`, the rest in `b`.
async fn interleaved(store: &store::EventStore, n: usize, every: usize) {
    for (batch, chunk) in (0..n).collect::<Vec<_>>().chunks(100).enumerate() {
        for i in chunk {
            let region = if i % every == every - 1 { "a" } else { "b" };
            let mut metadata = EventMetadata::new(Uuid::now_v7(), Some(actor()));
            metadata.extra.insert("tenant_region".into(), region.into());
            store
                .append(AppendRequest {
                    stream: stream(&format!("case-{batch}-{i}")),
                    expected: ExpectedVersion::NoStream,
                    metadata,
                    events: vec![new_event("Noted", json!({"i": i, "region": region}))],
                    snapshot: None,
                })
                .await
                .unwrap();
        }
    }
}

fn in_a(metadata: &EventMetadata) -> bool {
    metadata.extra.get("tenant_region").map(String::as_str) == Some("a")
}

pub async fn a_filtered_read_decodes_only_the_events_it_returns(db: TestDatabase) {
    let codec = Counting::default();
    let store = db
        .store_with(StoreOptions {
            codec: Arc::new(codec.clone()),
            ..StoreOptions::default()
        })
        .await;
    // 3,000 events; the caller may see one in 100 (30). A feed request asks for up to 100
    // and scans at most 10,000.
    interleaved(&store, 3000, 100).await;
    codec.take();

    // Before: a page of the log at a time, every event decoded, then filtered.
    let mut scanned = 0;
    let mut after = Position::START;
    let mut kept = Vec::new();
    loop {
        let page = store.read_all(after, 1000).await.unwrap();
        let full = page.len() == 1000;
        for event in page {
            scanned += 1;
            after = event.position;
            if in_a(&event.metadata) {
                kept.push(event);
            }
        }
        if !full {
            break;
        }
    }
    let (before_decoded, before_pages) = codec.take();

    // After: metadata first, decode what is returned.
    let read = store
        .read_all_where(Position::START, 100, 10_000, in_a)
        .await
        .unwrap();
    let (after_decoded, after_pages) = codec.take();
    eprintln!(
        "feed scan of {scanned} events, {} visible: before {before_decoded} decoded in \
         {before_pages} codec pages; after {after_decoded} decoded in {after_pages} codec page",
        read.events.len()
    );

    assert_eq!(read.events.len(), 30);
    assert_eq!(read.scanned, 3000);
    assert!(read.at_head);
    assert_eq!(read.last_scanned, Position(3000));
    assert_eq!(
        read.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        kept.iter().map(|e| e.position).collect::<Vec<_>>(),
        "the same events as filtering after decoding"
    );
    assert_eq!(read.events[0].payload["region"], "a", "decoded");
    assert_eq!(before_decoded, 3000);
    assert_eq!(after_decoded, 30, "only what it returns is decoded");
    assert_eq!(after_pages, 1, "in one page");
    assert!(before_pages >= 3);

    // A limit stops the scan at the last kept event; a budget bounds it.
    let first = store
        .read_all_where(Position::START, 2, 10_000, in_a)
        .await
        .unwrap();
    assert_eq!(first.events.len(), 2);
    assert_eq!(first.last_scanned, Position(200));
    assert!(!first.at_head);
    assert_eq!(codec.take().0, 2);
    let bounded = store
        .read_all_where(Position::START, 100, 250, in_a)
        .await
        .unwrap();
    assert_eq!((bounded.events.len(), bounded.scanned), (2, 250));
    assert_eq!(bounded.last_scanned, Position(250));
    assert!(!bounded.at_head);
}
