//! Whether a failed write may have been applied, told by its error. A write whose batch's
//! sync failed was applied to storage first, and may be on disk after a restart; a write
//! refused by the checks before it reached the pipeline (the database poisoned or closed
//! already) changed nothing. Both used to fail with the same `Poisoned` or `Closed`, so the
//! server answered both with the same 503 and a client that retried it could apply a `sum`
//! twice. Now only the refusals before submission are `StoreError::NotApplied` (the server's
//! "not applied" 503); the pipeline's answers after submission stay `Poisoned`.

mod harness;

use cairn_model::key;
use cairn_store::{EnqueueOptions, Kv, KvValue, ManualClock, StoreError};
use harness::queue::{payload, LONG_LEASE};
use harness::{test_db, CLOCK_START_MS};

fn is_not_applied_poisoned(error: &StoreError) -> bool {
    matches!(error, StoreError::NotApplied(cause) if matches!(**cause, StoreError::Poisoned(_)))
}

#[tokio::test]
async fn a_write_whose_sync_failed_is_not_refused_before_submission() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    storage.fail_sync_in(1);
    let failed = db
        .atomic()
        .sum(&key!["n"], 1)
        .commit()
        .await
        .expect_err("its sync failed");
    assert!(
        matches!(failed, StoreError::Poisoned(_)),
        "applied, then its sync failed: it may be on disk: {failed:?}"
    );

    let later = db
        .atomic()
        .sum(&key!["n"], 1)
        .commit()
        .await
        .expect_err("poisoned");
    assert!(is_not_applied_poisoned(&later), "{later:?}");
    assert!(matches!(later.root(), StoreError::Poisoned(_)));
    // The message stays the cause's own.
    assert_eq!(later.to_string(), later.root().to_string());
    assert!(later.to_string().contains("reopen"), "{later}");
}

#[tokio::test]
async fn a_queue_settlement_on_a_poisoned_database_is_refused_before_submission() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    db.enqueue(payload("a"), EnqueueOptions::default())
        .await
        .expect("enqueue");
    let delivery = db.dequeue(LONG_LEASE).expect("dequeue").expect("ready");
    storage.fail_sync_in(1);
    db.set(&key!["x"], KvValue::U64(1))
        .await
        .expect_err("its sync failed");

    let refused = db.ack(&delivery.id).await.expect_err("poisoned");
    assert!(is_not_applied_poisoned(&refused), "{refused:?}");
}

#[tokio::test]
async fn a_write_to_a_closed_database_is_refused_before_submission() {
    let (db, _storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    let other = db.clone();
    db.close();
    let refused = other
        .set(&key!["late"], KvValue::U64(0))
        .await
        .expect_err("closed");
    assert!(
        matches!(&refused, StoreError::NotApplied(cause) if matches!(**cause, StoreError::Closed)),
        "{refused:?}"
    );
    assert_eq!(refused.to_string(), "database is closed");
}
