//! Relaxed durability (`Durability::Relaxed`, opt-in) acknowledges writes once their batch is
//! handed to the operating system, and syncs later: writes are acknowledged and readable at
//! once, everything acknowledged is synced by the time the database is closed, and a data
//! directory written that way holds every acknowledged write after close and reopen (also
//! when reopened with the default, synced durability).

mod harness;

use cairn_model::key;
use cairn_store::Kv;
use cairn_store::{Database, Durability, KvValue, ManualClock, Versionstamp};
use harness::{config, test_db_with, CLOCK_START_MS};

const WRITES: u64 = 200;

#[tokio::test]
async fn relaxed_writes_survive_close_and_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(CLOCK_START_MS);
    let relaxed = config(&clock).durability(Durability::Relaxed);
    let db = Database::open_with(dir.path(), relaxed.clone()).expect("open");
    let mut last = Versionstamp::default();
    for i in 0..WRITES {
        let vs = db.set(&key!["k", i], KvValue::U64(i)).await.expect("set");
        assert!(vs > last);
        last = vs;
        let read = db
            .get(&key!["k", i])
            .await
            .expect("get")
            .expect("readable at once");
        assert_eq!(read.versionstamp, vs);
    }
    db.close();

    for reopen_config in [relaxed, config(&clock)] {
        let db = Database::open_with(dir.path(), reopen_config).expect("reopen");
        for i in 0..WRITES {
            let entry = db
                .get(&key!["k", i])
                .await
                .expect("get")
                .expect("persisted");
            assert_eq!(entry.value, KvValue::U64(i));
        }
        let vs = db.set(&key!["after"], KvValue::U64(0)).await.expect("set");
        assert!(vs > last);
        last = vs;
        db.close();
    }
}

#[tokio::test]
async fn closing_syncs_what_was_acknowledged() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, storage) = test_db_with(config(&clock).durability(Durability::Relaxed));
    for i in 0..WRITES {
        db.set(&key!["k", i], KvValue::U64(i)).await.expect("set");
    }
    db.close();
    assert!(
        storage.all_applies_synced(),
        "every applied batch is covered by a sync once closed"
    );
}
