//! Watching keys: the first report is the current state, each later report follows a commit
//! that changed a watched key (sets, deletes, sums, and the sweeper's expiry removals), a
//! watcher that does not look in a while gets one report of the latest state rather than a
//! backlog, and the key count is bounded.

mod harness;

use cairn_store::{Kv, KvWatch};
use std::time::Duration;

use cairn_model::key;
use cairn_store::{KvValue, ManualClock, StoreError};
use harness::{memory_db, CLOCK_START_MS};

fn bytes(s: &str) -> KvValue {
    KvValue::Bytes(s.as_bytes().to_vec())
}

fn values(entries: &[Option<cairn_store::Entry>]) -> Vec<Option<KvValue>> {
    entries
        .iter()
        .map(|e| e.as_ref().map(|e| e.value.clone()))
        .collect()
}

#[tokio::test]
async fn reports_initial_state_then_each_change() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    db.set(&key!["a"], bytes("1")).await.expect("set");
    let mut watch = db.watch(vec![key!["a"], key!["b"]]).expect("watch");
    assert_eq!(
        values(&watch.next().await.expect("initial")),
        vec![Some(bytes("1")), None]
    );

    db.set(&key!["b"], bytes("2")).await.expect("set b");
    assert_eq!(
        values(&watch.next().await.expect("after set")),
        vec![Some(bytes("1")), Some(bytes("2"))]
    );

    db.atomic()
        .sum(&key!["a2"], 1)
        .delete(&key!["a"])
        .commit()
        .await
        .expect("delete a");
    assert_eq!(
        values(&watch.next().await.expect("after delete")),
        vec![None, Some(bytes("2"))]
    );
}

#[tokio::test]
async fn commits_to_other_keys_do_not_produce_reports() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let mut watch = db.watch(vec![key!["watched"]]).expect("watch");
    watch.next().await.expect("initial");
    for i in 0..20u64 {
        db.set(&key!["other", i], KvValue::U64(i))
            .await
            .expect("set other");
    }
    db.set(&key!["watched"], bytes("x"))
        .await
        .expect("set watched");
    // The next report is the watched key's change, not one per unrelated commit.
    assert_eq!(
        values(&watch.next().await.expect("change")),
        vec![Some(bytes("x"))]
    );
}

#[tokio::test]
async fn a_slow_watcher_gets_the_latest_state_once() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let mut watch = db.watch(vec![key!["n"]]).expect("watch");
    watch.next().await.expect("initial");
    for i in 0..500u64 {
        db.set(&key!["n"], KvValue::U64(i)).await.expect("set");
    }
    assert_eq!(
        values(&watch.next().await.expect("latest")),
        vec![Some(KvValue::U64(499))]
    );
    // Nothing more is owed: a further commit is needed for another report.
    db.set(&key!["n"], KvValue::U64(1000)).await.expect("set");
    assert_eq!(
        values(&watch.next().await.expect("next")),
        vec![Some(KvValue::U64(1000))]
    );
}

#[tokio::test]
async fn expiry_removal_wakes_the_watcher() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    db.set_expiring(&key!["session"], bytes("tok"), Duration::from_secs(1))
        .await
        .expect("set");
    let mut watch = db.watch(vec![key!["session"]]).expect("watch");
    assert_eq!(
        values(&watch.next().await.expect("initial")),
        vec![Some(bytes("tok"))]
    );
    // The watcher is already waiting when the key's time passes: only the sweeper's removal,
    // a commit, can wake it (bounded by the harness's background wait so that a regression
    // fails instead of hanging).
    let waiting = harness::submit(watch.next());
    clock.advance(1_000);
    let next = tokio::time::timeout(harness::BACKGROUND_WAIT_MAX, waiting).await;
    assert_eq!(
        values(&next.expect("woken by the sweeper").expect("report")),
        vec![None]
    );
}

#[tokio::test]
async fn too_many_keys_are_refused() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let keys = (0..11u64).map(|i| key!["k", i]).collect();
    assert!(matches!(db.watch(keys), Err(StoreError::Limit(_))));
}
