//! An enqueue is part of its atomic write: when a check fails, or a mutation fails, the
//! message is not stored and nothing is ever delivered. The same write with a holding check
//! enqueues exactly once.

mod harness;

use cairn_model::key;
use cairn_store::Kv;
use cairn_store::{CommitResult, EnqueueOptions, KvValue, ManualClock, Versionstamp};
use harness::queue::{drain_ready, payload, text};
use harness::{memory_db, CLOCK_START_MS};

#[tokio::test]
async fn failed_check_or_mutation_enqueues_nothing() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    let k = key!["guard"];
    db.set(&k, KvValue::Bytes(b"not a number".to_vec()))
        .await
        .expect("set");

    let failed = db
        .atomic()
        .check(&k, Some(Versionstamp::new(1, 1)))
        .enqueue(payload("check"), EnqueueOptions::default())
        .commit()
        .await
        .expect("commit");
    assert!(matches!(failed, CommitResult::CheckFailed { .. }));

    let error = db
        .atomic()
        .sum(&k, 1)
        .enqueue(payload("mutation"), EnqueueOptions::default())
        .commit()
        .await;
    assert!(error.is_err(), "a sum on bytes fails the write");

    assert!(drain_ready(&db).is_empty());
    let stats = db.queue_stats().expect("stats");
    assert_eq!((stats.ready, stats.delayed, stats.in_flight), (0, 0, 0));

    let current = db.get(&k).await.expect("get").map(|e| e.versionstamp);
    let ok = db
        .atomic()
        .check(&k, current)
        .enqueue(payload("held"), EnqueueOptions::default())
        .commit()
        .await
        .expect("commit");
    assert!(ok.is_committed());
    let got: Vec<String> = drain_ready(&db).iter().map(|d| text(&d.payload)).collect();
    assert_eq!(got, ["held"]);
}
