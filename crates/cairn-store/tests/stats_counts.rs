//! `Database::stats` counts what the database did: commits by result (committed, check
//! failed, rejected by a bound, poisoned), their latency, durable syncs, writes per published
//! batch, reads by kind, expired keys the sweeper removed and the expiry backlog; and with
//! `Config::stats(false)` it counts nothing.

mod harness;

use std::time::Duration;

use cairn_model::key;
use cairn_store::stats::{CommitOutcome, ReadKind};
use cairn_store::{Kv, KvValue, ListOptions, ListSelector, ManualClock};
use harness::{config, test_db, test_db_with, wait_until, CLOCK_START_MS};

#[tokio::test]
async fn commits_are_counted_by_result_with_their_latency_and_syncs() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    for i in 0..3u64 {
        db.set(&key!["k", i], KvValue::U64(i)).await.expect("set");
    }
    let check_failed = db
        .atomic()
        .check(&key!["k", 0u64], None)
        .set(&key!["never"], KvValue::U64(0))
        .commit()
        .await
        .expect("answered");
    assert!(!check_failed.is_committed());
    let too_long = KvValue::Bytes(vec![0; 70_000]);
    db.set(&key!["big"], too_long)
        .await
        .expect_err("over the value bound");
    storage.fail_sync_in(1);
    db.set(&key!["lost"], KvValue::U64(1))
        .await
        .expect_err("poisoned");
    db.set(&key!["after"], KvValue::U64(1))
        .await
        .expect_err("still poisoned");

    let stats = db.stats();
    assert_eq!(stats.commits(CommitOutcome::Committed), 3);
    assert_eq!(stats.commits(CommitOutcome::CheckFailed), 1);
    assert_eq!(stats.commits(CommitOutcome::Rejected), 1);
    assert_eq!(stats.commits(CommitOutcome::Poisoned), 2);
    // Latency of every write that reached the pipeline (not of the refused ones).
    assert_eq!(stats.commit_latency_ns.count(), 5);
    assert!(stats.sync_ns.count() >= 4, "{:?}", stats.sync_ns);
    assert_eq!(stats.commits_in_flight, 0);
    assert_eq!(stats.commit_bytes_in_flight, 0);
    assert!(stats.poisoned.is_some());
    // Only sound batches are announced: the three writes and the failed check.
    assert_eq!(stats.batch_writes.count(), 4);
    assert_eq!(stats.batch_writes.sum, 4);
}

#[tokio::test]
async fn reads_are_counted_by_kind() {
    let (db, _storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    db.set(&key!["a"], KvValue::U64(1)).await.expect("set");
    db.get(&key!["a"]).await.expect("get");
    db.get(&key!["b"]).await.expect("get");
    db.get_many(&[key!["a"], key!["b"]])
        .await
        .expect("get_many");
    db.list(ListSelector::Prefix(key![]), ListOptions::default())
        .expect("list");
    let stats = db.stats();
    assert_eq!(stats.reads_total(ReadKind::Get), 2);
    assert_eq!(stats.reads_total(ReadKind::GetMany), 1);
    assert_eq!(stats.reads_total(ReadKind::List), 1);
    assert_eq!(stats.reads_total(ReadKind::SnapshotRead), 0);
    // Timed: the first read of each kind, then one in READ_TIMING_SAMPLE.
    assert_eq!(stats.reads(ReadKind::Get).count(), 1);
    assert_eq!(stats.reads(ReadKind::List).count(), 1);
    assert_eq!(stats.reads(ReadKind::SnapshotRead).count(), 0);
}

#[tokio::test]
async fn expired_keys_are_a_backlog_until_swept_then_counted() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, _storage) = test_db(&clock);
    for i in 0..3u64 {
        db.set_expiring(&key!["e", i], KvValue::U64(i), Duration::from_millis(10))
            .await
            .expect("set");
    }
    db.set(&key!["kept"], KvValue::U64(0)).await.expect("set");
    assert_eq!(db.expiry_backlog().expect("backlog"), 0, "nothing due yet");
    assert_eq!(db.approximate_key_count().expect("keys"), 4);
    clock.advance(10);
    wait_until("the sweeper's removals", || {
        db.stats().expired_keys_swept == 3
    })
    .await;
    assert_eq!(db.expiry_backlog().expect("backlog"), 0);
}

#[tokio::test]
async fn with_stats_off_nothing_is_counted() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, _storage) = test_db_with(config(&clock).stats(false));
    db.set(&key!["a"], KvValue::U64(1)).await.expect("set");
    db.get(&key!["a"]).await.expect("get");
    let stats = db.stats();
    assert!(!stats.enabled);
    assert_eq!(stats.commits(CommitOutcome::Committed), 0);
    assert_eq!(stats.commit_latency_ns.count(), 0);
    assert_eq!(stats.sync_ns.count(), 0);
    assert_eq!(stats.reads(ReadKind::Get).count(), 0);
    assert_eq!(stats.reads_total(ReadKind::Get), 0);
    assert_eq!(stats.batches, 0);
}
