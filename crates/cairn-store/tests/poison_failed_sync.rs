//! A failed durable sync poisons the database, as a failed flush poisons fjall: the writes
//! whose batch it was meant to cover fail with `StoreError::Poisoned` (they were never
//! acknowledged, and readers never see them), every later write fails the same way with a
//! message that says what happened and what to do, `Database::poisoned` reports it, and reads
//! of what was committed before keep working. The sync is never retried.

mod harness;

use cairn_model::key;
use cairn_store::{Kv, KvList};
use cairn_store::{KvValue, ListOptions, ListSelector, ManualClock, StoreError};
use harness::{changelog_versionstamps, submit, test_db, CLOCK_START_MS};

fn assert_poisoned(err: &StoreError) {
    assert!(matches!(err.root(), StoreError::Poisoned(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("poisoned"), "{message}");
    assert!(message.contains("injected failure of sync"), "{message}");
    assert!(message.contains("reopen"), "{message}");
}

#[tokio::test]
async fn the_nth_failed_sync_poisons_every_later_write() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    let committed = db.set(&key!["before"], KvValue::U64(1)).await.expect("set");
    storage.fail_sync_in(3);
    db.set(&key!["first"], KvValue::U64(1))
        .await
        .expect("sync 1 succeeds");
    db.set(&key!["second"], KvValue::U64(2))
        .await
        .expect("sync 2 succeeds");
    assert!(db.poisoned().is_none());
    let log_before = changelog_versionstamps(&db);

    let err = db
        .set(&key!["third"], KvValue::U64(3))
        .await
        .expect_err("sync 3 fails");
    assert_poisoned(&err);
    assert_poisoned(&db.poisoned().expect("poisoned"));
    let syncs = storage.syncs();

    // Reads work and show exactly what was acknowledged.
    let before = db
        .get(&key!["before"])
        .await
        .expect("get")
        .expect("committed");
    assert_eq!(before.versionstamp, committed);
    assert_eq!(db.get(&key!["third"]).await.expect("get"), None);
    let listed = db
        .list(ListSelector::Prefix(key![]), ListOptions::default())
        .expect("list")
        .collect()
        .await
        .expect("collect");
    assert_eq!(listed.len(), 3);
    assert_eq!(changelog_versionstamps(&db), log_before);

    // Every later write fails, whatever it is, and nothing is synced again.
    for attempt in [
        db.set(&key!["later"], KvValue::U64(4)).await.map(|_| ()),
        db.delete(&key!["before"]).await.map(|_| ()),
        db.atomic()
            .check(&key!["before"], Some(committed))
            .sum(&key!["n"], 1)
            .commit()
            .await
            .map(|_| ()),
    ] {
        assert_poisoned(&attempt.expect_err("poisoned databases accept no writes"));
    }
    assert_eq!(storage.syncs(), syncs, "a failed sync is never retried");
    assert_eq!(
        db.get(&key!["before"]).await.expect("get").map(|e| e.value),
        Some(KvValue::U64(1))
    );
}

#[tokio::test]
async fn every_write_of_the_failed_batch_fails() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    db.set(&key!["taken"], KvValue::U64(0)).await.expect("set");

    let gate = storage.hold_next_apply();
    let blocker = submit(db.atomic().set(&key!["blocker"], KvValue::U64(0)).commit());
    gate.wait_entered();
    let batch: Vec<_> = (0..5u64)
        .map(|i| submit(db.atomic().set(&key!["w", i], KvValue::U64(i)).commit()))
        .collect();
    // Fail the sync of the blocker's batch; the queued batch comes after it.
    storage.fail_sync_in(1);
    gate.release();

    assert_poisoned(&blocker.await.expect_err("its sync failed"));
    for write in batch {
        assert_poisoned(&write.await.expect_err("after the failed sync"));
    }
    for i in 0..5u64 {
        assert_eq!(db.get(&key!["w", i]).await.expect("get"), None);
    }
    assert_eq!(db.get(&key!["blocker"]).await.expect("get"), None);
    assert!(db.get(&key!["taken"]).await.expect("get").is_some());
}
