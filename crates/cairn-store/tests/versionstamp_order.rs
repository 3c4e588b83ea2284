//! Versionstamps are strictly increasing across the whole database (kv-connect.md §4): from
//! one write to the next, among the writes of one commit batch (in the order the batch
//! evaluated them, which is their arrival order), and across a close and reopen of a data
//! directory, where the last commit version is recovered from `meta`. Every committed write
//! gets its own; the versionstamp a read returns is the one the write returned.

mod harness;

use cairn_model::key;
use cairn_store::Kv;
use cairn_store::{Database, KvValue, ManualClock, Versionstamp};
use harness::{config, memory_db, submit, test_db, CLOCK_START_MS};

#[tokio::test]
async fn sequential_writes_increase() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let mut last = Versionstamp::default();
    for i in 0..50u64 {
        let k = key!["k", i % 7];
        let vs = if i % 3 == 0 {
            db.delete(&k).await.expect("delete")
        } else {
            db.set(&k, KvValue::U64(i)).await.expect("set")
        };
        assert!(vs > last, "write {i}: {vs} after {last}");
        if i % 3 != 0 {
            let read = db.get(&k).await.expect("get").expect("just written");
            assert_eq!(read.versionstamp, vs);
        }
        last = vs;
    }
    // Check-only writes and writes with no effect still commit with a fresh versionstamp.
    let vs = db
        .atomic()
        .check(&key!["nothing"], None)
        .commit()
        .await
        .expect("commit")
        .versionstamp()
        .expect("committed");
    assert!(vs > last);
}

#[tokio::test]
async fn writes_of_one_batch_are_ordered_by_arrival() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    let before = db.set(&key!["before"], KvValue::U64(0)).await.expect("set");

    let gate = storage.hold_next_apply();
    let blocker = submit(db.atomic().set(&key!["blocker"], KvValue::U64(0)).commit());
    gate.wait_entered();
    let queued: Vec<_> = (0..20u64)
        .map(|i| {
            submit(
                db.atomic()
                    .sum(&key!["shared"], 1)
                    .set(&key!["w", i], KvValue::U64(i))
                    .commit(),
            )
        })
        .collect();
    gate.release();
    let blocker = blocker
        .await
        .expect("commit")
        .versionstamp()
        .expect("committed");
    let mut stamps = Vec::new();
    for write in queued {
        stamps.push(
            write
                .await
                .expect("commit")
                .versionstamp()
                .expect("committed"),
        );
    }

    assert!(blocker > before);
    let batch = stamps[0].commit_version();
    assert!(batch > blocker.commit_version());
    for pair in stamps.windows(2) {
        assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
        assert_eq!(pair[1].commit_version(), batch, "one batch");
    }
    for (i, vs) in stamps.iter().enumerate() {
        let read = db
            .get(&key!["w", i as u64])
            .await
            .expect("get")
            .expect("written");
        assert_eq!(read.versionstamp, *vs);
    }
    let shared = db.get(&key!["shared"]).await.expect("get").expect("summed");
    assert_eq!(shared.value, KvValue::U64(20));
    assert_eq!(
        Some(&shared.versionstamp),
        stamps.last(),
        "last writer's stamp"
    );

    let after = db.set(&key!["after"], KvValue::U64(0)).await.expect("set");
    assert!(after > stamps[19]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_get_unique_increasing_stamps() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let floor = db.set(&key!["floor"], KvValue::U64(0)).await.expect("set");
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut own = Vec::new();
            for i in 0..30u64 {
                let vs = db
                    .set(&key!["t", t, i], KvValue::U64(i))
                    .await
                    .expect("set");
                own.push(vs);
            }
            own
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let own = task.await.expect("task");
        // Each task's own writes were sequential, so their stamps increase.
        assert!(own.windows(2).all(|p| p[0] < p[1]));
        all.extend(own);
    }
    assert!(all.iter().all(|vs| *vs > floor));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 8 * 30);
}

#[tokio::test]
async fn stamps_keep_increasing_across_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(CLOCK_START_MS);
    let open = || Database::open_with(dir.path(), config(&clock)).expect("open fjall directory");

    let db = open();
    let id = db.database_id();
    let mut last = Versionstamp::default();
    for i in 0..10u64 {
        let vs = db.set(&key!["k", i], KvValue::U64(i)).await.expect("set");
        assert!(vs > last);
        last = vs;
    }
    db.close();

    for round in 0..3u64 {
        let db = open();
        assert_eq!(db.database_id(), id, "the id is fixed at creation");
        let read = db
            .get(&key!["k", 9u64])
            .await
            .expect("get")
            .expect("persisted");
        assert!(read.versionstamp <= last);
        let vs = db
            .set(&key!["round", round], KvValue::U64(round))
            .await
            .expect("set");
        assert!(vs > last, "after reopen {round}: {vs} must follow {last}");
        last = vs;
        db.close();
    }
}
