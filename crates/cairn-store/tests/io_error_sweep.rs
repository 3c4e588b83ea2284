//! A sweep of I/O failures through the storage seam: for N = 1, 2, …, the Nth durable sync
//! (and, separately, the Nth storage write) fails. After the failure no write is acknowledged,
//! the database reports itself poisoned with a clear error, and what survives a power loss —
//! what a reopened database finds — is exactly the acknowledged writes, in order.

use cairn_store::{Kv, KvList};
use std::sync::Arc;

use cairn_model::{key, KvValue};
use cairn_store::storage::{FaultStorage, MemoryStorage};
use cairn_store::{Config, Database, ListOptions, ListSelector, StoreError};

/// Sequential writes until one fails; returns the acknowledged sequence numbers.
async fn write_until_failure(db: &Database) -> Vec<u64> {
    let mut acked = Vec::new();
    for seq in 1..=200u64 {
        let result = db
            .atomic()
            .set(&key!["log", seq], KvValue::U64(seq))
            .sum(&key!["count"], 1)
            .commit()
            .await;
        match result {
            Ok(_) => acked.push(seq),
            Err(StoreError::Poisoned(reason)) => {
                assert!(
                    reason.reason.contains("injected I/O error"),
                    "poison names its cause: {reason}"
                );
                break;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    acked
}

async fn survivors(disk: &FaultStorage<MemoryStorage>) -> (Vec<u64>, u64) {
    let db = Database::open_storage(Arc::new(disk.inner().power_loss()), Config::default())
        .expect("reopen");
    let log = db
        .list(ListSelector::Prefix(key!["log"]), ListOptions::default())
        .expect("list")
        .collect()
        .await
        .expect("entries");
    let seqs = log
        .iter()
        .map(|e| match e.value {
            KvValue::U64(n) => n,
            _ => panic!("u64 values only"),
        })
        .collect();
    let count = match db.get(&key!["count"]).await.expect("get").map(|e| e.value) {
        Some(KvValue::U64(n)) => n,
        _ => 0,
    };
    (seqs, count)
}

async fn check_poisoned_for_good(db: &Database) {
    let later = db.set(&key!["after"], KvValue::U64(0)).await;
    assert!(
        matches!(
            later.as_ref().map_err(StoreError::root),
            Err(StoreError::Poisoned(_))
        ),
        "{later:?}"
    );
    assert!(db.poisoned().is_some());
    let message = db.poisoned().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("reopen"),
        "the error says what to do: {message}"
    );
}

#[tokio::test]
async fn the_nth_failed_sync_leaves_exactly_the_acknowledged_prefix() {
    for n in 1..=25u64 {
        let disk = Arc::new(FaultStorage::new(MemoryStorage::new()));
        let db = Database::open_storage(disk.clone(), Config::default()).expect("open");
        disk.fail_sync_after(n);
        let acked = write_until_failure(&db).await;
        assert!(acked.len() < 200, "sync {n} was injected to fail");
        check_poisoned_for_good(&db).await;
        db.close();
        let (found, count) = survivors(&disk).await;
        assert_eq!(
            found, acked,
            "sync #{n}: the survivors are exactly the acknowledged writes"
        );
        assert_eq!(
            count,
            acked.len() as u64,
            "sync #{n}: no write is partly there"
        );
    }
}

#[tokio::test]
async fn the_nth_failed_storage_write_leaves_exactly_the_acknowledged_prefix() {
    for n in 1..=25u64 {
        let disk = Arc::new(FaultStorage::new(MemoryStorage::new()));
        let db = Database::open_storage(disk.clone(), Config::default()).expect("open");
        disk.fail_apply_after(n);
        let acked = write_until_failure(&db).await;
        check_poisoned_for_good(&db).await;
        db.close();
        let (found, count) = survivors(&disk).await;
        assert_eq!(found, acked, "write #{n}");
        assert_eq!(count, acked.len() as u64, "write #{n}");
    }
}
