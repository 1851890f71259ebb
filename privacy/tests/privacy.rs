//! Crypto-shredding through a real store, on PostgreSQL and SQLite: personal data is sealed
//! before hashing, read back in clear while the key lives, read back erased once it is
//! destroyed, and the log still verifies.

use std::sync::Arc;
use std::time::Duration;

use domain::ids::DataSubjectId;
use privacy::{KeyEncryptionKey, KeyOptions, SubjectKeys};
use serde_json::{Value, json};
use store::testing::TestDatabase;
use store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, Position, StoreOptions,
    StreamRef,
};
use uuid::Uuid;

fn kek(byte: u8) -> KeyEncryptionKey {
    KeyEncryptionKey::from_bytes(&[byte; 32]).unwrap()
}

async fn keys(db: &TestDatabase, kek: KeyEncryptionKey) -> SubjectKeys {
    SubjectKeys::connect(db.url(), kek, KeyOptions::default())
        .await
        .unwrap()
}

async fn sealed_store(db: &TestDatabase, keys: &SubjectKeys) -> EventStore {
    db.store_with(StoreOptions {
        codec: Arc::new(keys.codec()),
        ..StoreOptions::default()
    })
    .await
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "reads better at the call sites"
)]
fn pii(subject: Uuid, value: Value) -> Value {
    json!({"pii": {"subject": subject.to_string(), "value": value}})
}

fn erased(subject: Uuid) -> Value {
    json!({"pii": {"subject": subject.to_string(), "erased": true}})
}

async fn append(store: &EventStore, stream: &StreamRef, expected: ExpectedVersion, payload: Value) {
    store
        .append(AppendRequest {
            stream: stream.clone(),
            expected,
            metadata: EventMetadata::new(Uuid::now_v7(), None),
            events: vec![NewEvent {
                event_type: "StaffCommitmentRecorded".into(),
                event_version: "1".into(),
                payload,
            }],
            snapshot: None,
        })
        .await
        .unwrap();
}

/// Every stored payload, as the database holds it.
async fn stored_payloads(db: &TestDatabase) -> String {
    if db.is_postgres() {
        let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT payload::text FROM events ORDER BY position")
                .fetch_all(&pool)
                .await
                .unwrap();
        rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
    } else {
        let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
        let rows: Vec<(String,)> = sqlx::query_as("SELECT payload FROM events ORDER BY position")
            .fetch_all(&pool)
            .await
            .unwrap();
        rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
    }
}

async fn sealed_then_forgotten(db: TestDatabase) {
    let keys = keys(&db, kek(1)).await;
    let store = sealed_store(&db, &keys).await;
    let anna = Uuid::now_v7();
    let bo = Uuid::now_v7();
    let case = StreamRef::new("connection_case", "case-1");
    let payload = json!({
        "hsa_id": "SE2321000016-A1B2",
        "staff": [pii(anna, json!({"name": "Anna Andersson", "personnummer": "198112189876"})),
                  pii(bo, json!({"name": "Bo Berg"}))],
        "n": 1,
    });
    append(&store, &case, ExpectedVersion::NoStream, payload.clone()).await;

    let stored = stored_payloads(&db).await;
    for secret in ["Anna", "198112189876", "Bo Berg"] {
        assert!(
            !stored.contains(secret),
            "{secret} stored in clear: {stored}"
        );
    }
    assert!(stored.contains("sealed") && stored.contains("SE2321000016-A1B2"));
    let read = store.read_all(Position::START, 10).await.unwrap();
    assert_eq!(
        read[0].payload, payload,
        "read back in clear while the key lives"
    );

    assert!(keys.forget(DataSubjectId::from_uuid(anna)).await.unwrap());
    let read = store.read_stream(&case, 0, 10).await.unwrap();
    assert_eq!(read[0].payload["staff"][0], erased(anna));
    assert_eq!(
        read[0].payload["staff"][1], payload["staff"][1],
        "others untouched"
    );
    assert_eq!(read[0].payload["n"], 1);
    assert!(
        store.verify().await.unwrap().is_intact(),
        "the chain covers the ciphertext"
    );
    assert!(!keys.has_key(DataSubjectId::from_uuid(anna)).await.unwrap());
    assert!(
        !keys.forget(DataSubjectId::from_uuid(anna)).await.unwrap(),
        "forgetting again finds nothing, and is no error"
    );
}

async fn a_subject_named_again_gets_a_new_key_that_opens_only_the_new_data(db: TestDatabase) {
    let keys = keys(&db, kek(1)).await;
    let store = sealed_store(&db, &keys).await;
    let anna = Uuid::now_v7();
    let case = StreamRef::new("connection_case", "case-2");
    append(
        &store,
        &case,
        ExpectedVersion::NoStream,
        json!({"p": pii(anna, json!("old"))}),
    )
    .await;
    keys.forget(DataSubjectId::from_uuid(anna)).await.unwrap();
    append(
        &store,
        &case,
        ExpectedVersion::Exact(1),
        json!({"p": pii(anna, json!("new"))}),
    )
    .await;
    let read = store.read_stream(&case, 0, 10).await.unwrap();
    assert_eq!(read[0].payload["p"], erased(anna));
    assert_eq!(read[1].payload["p"], pii(anna, json!("new")));
}

async fn two_instances_agree_on_keys_and_a_forget_reaches_the_other_within_the_cache_ttl(
    db: TestDatabase,
) {
    let short = KeyOptions {
        cache_ttl: Duration::from_millis(200),
        ..KeyOptions::default()
    };
    let one = SubjectKeys::connect(db.url(), kek(1), short.clone())
        .await
        .unwrap();
    let two = SubjectKeys::connect(db.url(), kek(1), short).await.unwrap();
    let store_one = sealed_store(&db, &one).await;
    let store_two = sealed_store(&db, &two).await;
    let anna = Uuid::now_v7();
    let case = StreamRef::new("connection_case", "case-3");
    append(
        &store_one,
        &case,
        ExpectedVersion::NoStream,
        json!({"p": pii(anna, json!("Anna"))}),
    )
    .await;
    let read = store_two.read_stream(&case, 0, 10).await.unwrap();
    assert_eq!(read[0].payload["p"], pii(anna, json!("Anna")));
    one.forget(DataSubjectId::from_uuid(anna)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let read = store_two.read_stream(&case, 0, 10).await.unwrap();
    assert_eq!(read[0].payload["p"], erased(anna));
}

async fn the_wrong_key_encryption_key_is_an_error_not_an_erasure(db: TestDatabase) {
    let right = keys(&db, kek(1)).await;
    let store = sealed_store(&db, &right).await;
    let anna = Uuid::now_v7();
    let case = StreamRef::new("connection_case", "case-4");
    append(
        &store,
        &case,
        ExpectedVersion::NoStream,
        json!({"p": pii(anna, json!("Anna"))}),
    )
    .await;
    let wrong = keys(&db, kek(2)).await;
    let other = sealed_store(&db, &wrong).await;
    let error = other.read_stream(&case, 0, 10).await.unwrap_err();
    assert_eq!(error.code(), "store.codec");
    assert!(!error.to_string().contains("Anna"));
}

/// A key table that cannot be reached (a database outage, an exhausted pool) is a passing
/// failure the API answers with 503, not a broken payload.
async fn a_key_table_out_of_reach_makes_the_store_unavailable(db: TestDatabase) {
    let keys = keys(&db, kek(1)).await;
    let store = sealed_store(&db, &keys).await;
    keys.close().await;
    let refused = store
        .append(AppendRequest {
            stream: StreamRef::new("connection_case", "case-5"),
            expected: ExpectedVersion::NoStream,
            metadata: EventMetadata::new(Uuid::now_v7(), None),
            events: vec![NewEvent {
                event_type: "StaffCommitmentRecorded".into(),
                event_version: "1".into(),
                payload: json!({"p": pii(Uuid::now_v7(), json!("Anna"))}),
            }],
            snapshot: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "store.unavailable", "{refused:?}");
    assert!(refused.is_retryable());
    assert_eq!(store.head().await.unwrap(), Position::START);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(store::testing::TestDatabase::postgres().await).await;
            })*
        }
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(store::testing::TestDatabase::sqlite()).await;
            })*
        }
    };
}

both_backends!(
    sealed_then_forgotten,
    a_subject_named_again_gets_a_new_key_that_opens_only_the_new_data,
    two_instances_agree_on_keys_and_a_forget_reaches_the_other_within_the_cache_ttl,
    the_wrong_key_encryption_key_is_an_error_not_an_erasure,
    a_key_table_out_of_reach_makes_the_store_unavailable,
);
