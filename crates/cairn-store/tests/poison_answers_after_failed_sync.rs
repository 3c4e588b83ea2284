//! After a failed sync, every answer of the batch it was meant to cover, and of every batch
//! after it, is `Poisoned` — not only the committed ones.
//!
//! The bug: the writer turned only `Committed` outcomes into `Poisoned`. A write whose check
//! failed against a write of the lost batch still got `CheckFailed`, reporting a conflict with
//! state that never became durable (after a reopen the key it "conflicted" with is absent).

mod harness;

use cairn_model::key;
use cairn_store::{Kv, KvValue, ManualClock, StoreError};
use harness::{submit, test_db, CLOCK_START_MS};

#[tokio::test]
async fn a_check_decided_against_a_lost_batch_is_answered_poisoned() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    // The first commit's sync is held, so the next two writes queue up behind it and are
    // evaluated together in the batch whose sync fails.
    let gate = storage.hold_next_sync();
    let (first_key, k, other) = (key!["first"], key!["k"], key!["other"]);
    let first = submit(db.set(&first_key, KvValue::U64(0)));
    gate.wait_entered();
    storage.fail_sync_in(1); // the held sync is already counted: the next one fails

    let set = submit(db.set(&k, KvValue::U64(1)));
    let checked = submit(
        db.atomic()
            .check(&k, None)
            .set(&other, KvValue::U64(2))
            .commit(),
    );
    gate.release();

    first.await.expect("the first sync succeeded");
    let set = set.await.expect_err("its sync failed");
    assert!(matches!(set, StoreError::Poisoned(_)), "{set:?}");
    // Decided against `k` as the lost batch wrote it: that decision must not be reported.
    let checked = checked.await.expect_err("decided on state that was lost");
    assert!(matches!(checked, StoreError::Poisoned(_)), "{checked:?}");
    assert!(db.get(&k).await.expect("read").is_none());
}
