//! A watcher that subscribes while a commit is between its evaluation and its publish must be
//! woken by that commit.
//!
//! The bug: the evaluator collected a batch's changed keys only `if watch.is_active()`. With
//! no other watcher open, a watch started while a `set` of its key was in flight read the old
//! snapshot (the batch was not published yet), and the batch then woke nobody: its changed
//! keys had not been collected. Through `@deno/kv` the change arrived only with the next
//! keep-alive, ~5 s later; an embedded `Watch::next` could wait until the key changed again.

mod harness;

use cairn_model::key;
use cairn_store::{Kv, KvValue, KvWatch, ManualClock};
use harness::{submit, test_db, BACKGROUND_WAIT_MAX, CLOCK_START_MS};

#[tokio::test]
async fn a_watch_started_during_a_commit_sees_that_commit() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    // The evaluator has evaluated the set and is held inside the storage write.
    let gate = storage.hold_next_apply();
    let light = key!["light"];
    let set = submit(db.set(&light, KvValue::U64(1)));
    gate.wait_entered();

    let mut watch = db.watch(vec![light.clone()]).expect("watch");
    let first = watch.next().await.expect("first report");
    assert_eq!(first, vec![None], "the set is not published yet");

    // The watcher is waiting for a change when the batch is published.
    let second = submit(watch.next());
    gate.release();
    set.await.expect("set committed");
    let second = tokio::time::timeout(BACKGROUND_WAIT_MAX, second)
        .await
        .expect("the watcher was never woken by the commit it raced")
        .expect("second report");
    assert_eq!(second[0].as_ref().map(|e| &e.value), Some(&KvValue::U64(1)));
}

#[tokio::test]
async fn many_watches_racing_commits_each_see_the_last_value() {
    let (db, _storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    for round in 0..200u64 {
        let k = key!["race", round];
        let mut watch = db.watch(vec![k.clone()]).expect("watch");
        let writer = {
            let (db, k) = (db.clone(), k.clone());
            tokio::spawn(async move { db.set(&k, KvValue::U64(round)).await })
        };
        // Whatever the interleaving, the watch ends up reporting the write.
        let seen = tokio::time::timeout(BACKGROUND_WAIT_MAX, async {
            loop {
                let now = watch.next().await.expect("report");
                if now[0].is_some() {
                    return now;
                }
            }
        })
        .await
        .expect("a racing commit was missed");
        assert_eq!(
            seen[0].as_ref().map(|e| &e.value),
            Some(&KvValue::U64(round))
        );
        writer.await.expect("join").expect("set");
    }
}
