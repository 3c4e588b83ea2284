//! The sweeper physically removes entries whose expire-at has passed, and each removal is a
//! commit of its own: a changelog entry with `Delete` ops under a versionstamp no write got,
//! ordered among the writes' versionstamps. It removes more keys than fit one sweep, cleans
//! the expiry index, and leaves alone a key that was rewritten without expiry before its time.
//!
//! The sweeper runs on a real-time interval; the tests wait for its changelog entry with a
//! bounded poll (there is no notification to wait on) and never assert on elapsed time.

mod harness;

use cairn_store::Kv;
use std::time::Duration;

use cairn_model::key;
use cairn_store::record::ChangeOp;
use cairn_store::storage::{Keyspace, Scan, Storage};
use cairn_store::{Database, KvValue, ManualClock, Versionstamp};
use harness::{stored, test_db, wait_until, CLOCK_START_MS};

const TTL_MS: u64 = 50;

/// Versionstamps of changelog entries that delete `key`.
fn deletions_of(db: &Database, key: &[u8]) -> Vec<Versionstamp> {
    db.changelog(None, usize::MAX)
        .expect("changelog")
        .into_iter()
        .filter(|(_, record)| {
            record
                .ops
                .iter()
                .any(|op| matches!(op, ChangeOp::Delete { key: k } if k == key))
        })
        .map(|(vs, _)| vs)
        .collect()
}

#[tokio::test]
async fn expired_entry_is_removed_by_a_commit_of_its_own() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, storage) = test_db(&clock);
    let k = key!["cache", 1u64];
    let encoded = k.encode();
    let set_vs = db
        .set_expiring(&k, KvValue::U64(1), Duration::from_millis(TTL_MS))
        .await
        .expect("set");
    assert!(stored(&storage, &encoded).is_some());

    clock.advance(TTL_MS);
    wait_until("the sweeper's deletion", || {
        !deletions_of(&db, &encoded).is_empty()
    })
    .await;

    let removals = deletions_of(&db, &encoded);
    assert_eq!(removals.len(), 1);
    let removal = removals[0];
    assert!(removal > set_vs, "the removal follows the write");
    let log = db.changelog(None, usize::MAX).expect("changelog");
    let (_, record) = log
        .iter()
        .find(|(vs, _)| *vs == removal)
        .expect("the removal is in the changelog");
    assert_eq!(
        record.ops,
        vec![ChangeOp::Delete {
            key: encoded.clone()
        }]
    );
    assert_eq!(stored(&storage, &encoded), None, "physically gone");
    let index = storage
        .snapshot()
        .scan(
            Keyspace::Expiry,
            Scan {
                start: &[],
                end: &[0xFF; 9],
                reverse: false,
                limit: 10,
            },
        )
        .expect("scan expiry index");
    assert!(index.is_empty(), "index entry removed: {index:?}");

    let later = db.set(&key!["later"], KvValue::U64(0)).await.expect("set");
    assert!(later > removal);
}

#[tokio::test]
async fn more_keys_than_one_sweep_are_all_removed() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, storage) = test_db(&clock);
    let count = cairn_store::EXPIRY_SWEEP_KEYS_MIN as u64 + 88;
    let mut write = db.atomic();
    for i in 0..count {
        write = write.set_expiring(
            &key!["bulk", i],
            KvValue::U64(i),
            Duration::from_millis(TTL_MS),
        );
    }
    write.commit().await.expect("commit");
    let keep = key!["keep"];
    db.set(&keep, KvValue::U64(1)).await.expect("set");

    clock.advance(TTL_MS);
    let deletes = || -> u64 {
        let log = db.changelog(None, usize::MAX).expect("changelog");
        let ops = log.iter().flat_map(|(_, r)| r.ops.iter());
        ops.filter(|op| matches!(op, ChangeOp::Delete { .. }))
            .count() as u64
    };
    wait_until("every expired key to be swept", || deletes() >= count).await;
    assert_eq!(deletes(), count, "one Delete per expired key");
    // What readers were shown is applied to storage: every expired key is physically gone.
    assert!((0..count).all(|i| stored(&storage, &key!["bulk", i].encode()).is_none()));
    assert!(stored(&storage, &keep.encode()).is_some());
}

#[tokio::test]
async fn a_key_rewritten_without_expiry_is_not_swept() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, storage) = test_db(&clock);
    let rewritten = key!["rewritten"];
    let witness = key!["witness"];
    db.set_expiring(&rewritten, KvValue::U64(1), Duration::from_millis(TTL_MS))
        .await
        .expect("set");
    let permanent_vs = db.set(&rewritten, KvValue::U64(2)).await.expect("rewrite");
    // The witness expires after the rewritten key would have: the sweeper scans the index
    // earliest first, so once the witness is gone the rewritten key has had its chance.
    db.set_expiring(&witness, KvValue::U64(3), Duration::from_millis(2 * TTL_MS))
        .await
        .expect("set witness");

    clock.advance(3 * TTL_MS);
    let witness_key = witness.encode();
    wait_until("the witness to be swept", || {
        !deletions_of(&db, &witness_key).is_empty()
    })
    .await;

    assert!(deletions_of(&db, &rewritten.encode()).is_empty());
    assert!(stored(&storage, &rewritten.encode()).is_some());
    let entry = db.get(&rewritten).await.expect("get").expect("still there");
    assert_eq!(entry.value, KvValue::U64(2));
    assert_eq!(entry.versionstamp, permanent_vs);
}

/// Sweeps start where the sweep before found its first candidate (so they do not step over
/// every tombstone of the index's head each time); an entry written behind that point, with
/// an expire-at already past, is still reclaimed, by the periodic sweep from the beginning.
#[tokio::test]
async fn an_entry_written_behind_the_sweep_is_still_reclaimed() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, storage) = test_db(&clock);
    let ahead = key!["cache", "ahead"];
    db.set_expiring(&ahead, KvValue::U64(1), Duration::from_millis(TTL_MS))
        .await
        .expect("set");
    clock.advance(TTL_MS);
    let ahead_encoded = ahead.encode();
    wait_until("the first key's removal", || {
        stored(&storage, &ahead_encoded).is_none()
    })
    .await;

    // Expired before the first key's time: behind where the sweeps now start.
    let behind = key!["cache", "behind"];
    let write = cairn_model::AtomicWrite {
        mutations: vec![cairn_model::Mutation {
            key: behind.encode(),
            kind: cairn_model::MutationKind::Set(KvValue::U64(2)),
            expire_at_ms: Some(CLOCK_START_MS + 1),
        }],
        ..Default::default()
    };
    assert!(db.atomic_write(write).await.expect("write").is_committed());
    assert_eq!(
        db.get(&behind).await.expect("get"),
        None,
        "invisible at once"
    );
    let behind_encoded = behind.encode();
    assert!(stored(&storage, &behind_encoded).is_some());
    wait_until("the key behind the sweep's removal", || {
        stored(&storage, &behind_encoded).is_none()
    })
    .await;
}
