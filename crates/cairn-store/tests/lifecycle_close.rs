//! Closing a database finishes the writes already queued before it stops: each of them is
//! answered (committed, here) and durable, so a data directory reopened afterwards holds them.
//! Other handles then fail with `StoreError::Closed` instead of hanging.

mod harness;

use cairn_model::key;
use cairn_store::Kv;
use cairn_store::{Database, KvValue, ManualClock, StoreError};
use harness::{config, submit, CLOCK_START_MS};

#[tokio::test]
async fn close_finishes_queued_writes_and_refuses_later_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = Database::open_with(dir.path(), config(&clock)).expect("open");
    let other = db.clone();

    let queued: Vec<_> = (0..50u64)
        .map(|i| submit(db.atomic().set(&key!["q", i], KvValue::U64(i)).commit()))
        .collect();
    db.close();
    let mut stamps = Vec::new();
    for write in queued {
        let result = write.await.expect("a queued write is answered");
        stamps.push(result.versionstamp().expect("and committed"));
    }

    let err = other
        .set(&key!["late"], KvValue::U64(0))
        .await
        .expect_err("closed");
    assert!(matches!(err.root(), StoreError::Closed), "{err:?}");
    assert_eq!(err.to_string(), "database is closed");
    drop(other);

    let db = Database::open_with(dir.path(), config(&clock)).expect("reopen");
    for (i, vs) in stamps.iter().enumerate() {
        let entry = db
            .get(&key!["q", i as u64])
            .await
            .expect("get")
            .expect("durable");
        assert_eq!(entry.versionstamp, *vs);
    }
    assert_eq!(db.get(&key!["late"]).await.expect("get"), None);
}
