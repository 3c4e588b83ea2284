//! An acknowledgement is a commit: once `ack` has answered, the removal is durable and a
//! power loss (only what was synced survives: `MemoryStorage::power_loss`) does not bring the
//! message back. An acknowledgement whose sync failed was never answered with success, and
//! the message is delivered again after recovery. The negative control, with syncs skipped,
//! shows the check would catch an acknowledgement answered before it was durable.

mod harness;

use std::sync::Arc;

use cairn_store::storage::{FaultStorage, MemoryStorage};
use cairn_store::{Database, EnqueueOptions, ManualClock, StoreError};
use harness::queue::{drain_ready, payload, text, LONG_LEASE};
use harness::{config, CLOCK_START_MS};

type Disk = Arc<FaultStorage<MemoryStorage>>;

async fn with_two_messages(clock: &ManualClock) -> (Database, Disk) {
    let disk: Disk = Arc::new(FaultStorage::new(MemoryStorage::new()));
    let db = Database::open_storage(disk.clone(), config(clock)).expect("open");
    for name in ["a", "b"] {
        db.enqueue(payload(name), EnqueueOptions::default())
            .await
            .expect("enqueue");
    }
    (db, disk)
}

/// What a database reopened after a power loss now delivers.
fn after_power_loss(disk: &Disk, clock: &ManualClock) -> Vec<String> {
    let survivor = Arc::new(disk.inner().power_loss());
    let db = Database::open_storage(survivor, config(clock)).expect("reopen");
    let names = drain_ready(&db).iter().map(|d| text(&d.payload)).collect();
    db.close();
    names
}

#[tokio::test]
async fn an_answered_ack_survives_power_loss() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, disk) = with_two_messages(&clock).await;
    let first = db.dequeue(LONG_LEASE).expect("dequeue").expect("ready");
    assert_eq!(text(&first.payload), "a");
    db.ack(&first.id).await.expect("ack");
    assert_eq!(after_power_loss(&disk, &clock), ["b"]);
    db.close();
}

#[tokio::test]
async fn an_ack_whose_sync_failed_was_not_answered_and_the_message_returns() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, disk) = with_two_messages(&clock).await;
    let first = db.dequeue(LONG_LEASE).expect("dequeue").expect("ready");
    disk.fail_sync_after(1);
    let error = db.ack(&first.id).await.expect_err("the sync failed");
    assert!(matches!(error, StoreError::Poisoned(_)), "{error}");
    assert_eq!(after_power_loss(&disk, &clock), ["a", "b"]);
    db.close();
}

#[tokio::test]
async fn negative_control_without_syncs_the_ack_is_lost() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, disk) = with_two_messages(&clock).await;
    let first = db.dequeue(LONG_LEASE).expect("dequeue").expect("ready");
    disk.skip_syncs(true);
    db.ack(&first.id)
        .await
        .expect("answered without a real sync");
    assert_eq!(
        after_power_loss(&disk, &clock),
        ["a", "b"],
        "a harness that cannot see a lost ack proves nothing"
    );
    db.close();
}
