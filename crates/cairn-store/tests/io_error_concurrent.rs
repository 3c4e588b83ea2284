//! Failed syncs while several are in flight: the pipeline's writers sync overlapping groups
//! of batches and finish them in order. Slow syncs (through the fault layer) keep several in
//! flight; the Nth fails. Whatever the interleaving: every acknowledged write survives a power
//! loss, no write is partly there, each writer's surviving writes are a prefix of what it
//! wrote, and nothing is acknowledged once the database reports itself poisoned.

use std::sync::Arc;
use std::time::Duration;

use cairn_model::{key, KvValue};
use cairn_store::storage::{FaultStorage, MemoryStorage};
use cairn_store::{Config, Database, Kv, KvList, ListOptions, ListSelector, StoreError};

const WRITERS: u64 = 16;
const WRITES_EACH: u64 = 40;

/// Writer `w` writes `["log", w, i]` for i = 1, 2, … and adds 1 to `["count", w]` in the same
/// atomic write, one at a time, until a write fails; returns how many were acknowledged.
/// Writers pause for different times between writes, so that batches reach the writers while
/// other batches' syncs are in flight.
async fn write_until_failure(db: Database, w: u64) -> u64 {
    let mut acked = 0;
    for i in 1..=WRITES_EACH {
        tokio::time::sleep(Duration::from_micros((w * 137 + i * 71) % 1500)).await;
        let result = db
            .atomic()
            .set(&key!["log", w, i], KvValue::U64(i))
            .sum(&key!["count", w], 1)
            .commit()
            .await;
        match result {
            Ok(r) => {
                assert!(r.is_committed());
                acked = i;
            }
            // Poisoned by this write's failed sync, or refused before submission
            // (`NotApplied`) because another writer's sync failed first.
            Err(e) if matches!(e.root(), StoreError::Poisoned(_)) => {
                let reason = e.to_string();
                assert!(reason.contains("injected I/O error"), "{reason}");
                // Poisoned for good: nothing later is acknowledged.
                let later = db.set(&key!["after", w], KvValue::U64(0)).await;
                assert!(
                    matches!(
                        later.as_ref().map_err(StoreError::root),
                        Err(StoreError::Poisoned(_))
                    ),
                    "{later:?}"
                );
                break;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    acked
}

/// What writer `w` left after a power loss: the indexes of its log entries, and its count.
async fn survivors(db: &Database, w: u64) -> (Vec<u64>, u64) {
    let log = db
        .list(ListSelector::Prefix(key!["log", w]), ListOptions::default())
        .expect("list")
        .collect()
        .await
        .expect("entries");
    let found = log
        .iter()
        .map(|e| match e.value {
            KvValue::U64(n) => n,
            _ => panic!("u64 values only"),
        })
        .collect();
    let count = match db
        .get(&key!["count", w])
        .await
        .expect("get")
        .map(|e| e.value)
    {
        Some(KvValue::U64(n)) => n,
        _ => 0,
    };
    (found, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_among_overlapping_ones_loses_nothing_acknowledged() {
    // Early syncs rarely overlap (the writers start in step); later ones mostly do.
    for n in 1..=30u64 {
        let disk = Arc::new(FaultStorage::new(MemoryStorage::new()));
        let db = Database::open_storage(disk.clone(), Config::default()).expect("open");
        disk.slow_syncs(Duration::from_millis(2));
        disk.fail_sync_after(n);
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(write_until_failure(db.clone(), w)))
            .collect();
        let mut acked = Vec::new();
        for task in tasks {
            acked.push(task.await.expect("writer task"));
        }
        assert!(db.poisoned().is_some(), "sync #{n} was injected to fail");
        db.close();

        let reopened =
            Database::open_storage(Arc::new(disk.inner().power_loss()), Config::default())
                .expect("reopen");
        for (w, &acked) in (0..WRITERS).zip(&acked) {
            let (found, count) = survivors(&reopened, w).await;
            let prefix: Vec<u64> = (1..=found.len() as u64).collect();
            assert_eq!(found, prefix, "sync #{n}, writer {w}: a prefix survives");
            assert!(
                found.len() as u64 >= acked,
                "sync #{n}, writer {w}: {acked} acknowledged, {} survived",
                found.len()
            );
            // One write in flight at a time: at most the one whose answer was an error may
            // have reached the disk without being acknowledged.
            assert!(found.len() as u64 <= acked + 1, "sync #{n}, writer {w}");
            assert_eq!(
                count,
                found.len() as u64,
                "sync #{n}, writer {w}: all or nothing"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_slow_syncs_answer_every_writer_in_order() {
    let disk = Arc::new(FaultStorage::new(MemoryStorage::new()));
    let db = Database::open_storage(disk.clone(), Config::default()).expect("open");
    disk.slow_syncs(Duration::from_millis(2));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write_until_failure(db.clone(), w)))
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("writer task"), WRITES_EACH);
    }
    // Versionstamps of one writer increase, and the log reads back whole.
    let mut last = None;
    for i in 1..=WRITES_EACH {
        let entry = db
            .get(&key!["log", 0u64, i])
            .await
            .expect("get")
            .expect("present");
        assert!(last < Some(entry.versionstamp));
        last = Some(entry.versionstamp);
    }
    db.close();
    let reopened = Database::open_storage(Arc::new(disk.inner().power_loss()), Config::default())
        .expect("reopen");
    for w in 0..WRITERS {
        assert_eq!(survivors(&reopened, w).await.1, WRITES_EACH);
    }
}
