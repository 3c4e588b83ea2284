//! An entry set with an expiry is visible up to the millisecond before its expire-at and
//! absent from that millisecond on, on a clock the test controls: `get`, `get_many`, `list`,
//! `snapshot_read` and atomic checks all treat it as missing, whether or not the sweeper has
//! physically removed it yet. Rewriting the key without an expiry makes it permanent.

mod harness;

use cairn_store::{Kv, KvList};
use std::time::Duration;

use cairn_model::key;
use cairn_store::{CommitResult, KvValue, ListOptions, ListSelector, ManualClock, ReadRange};
use harness::{memory_db, CLOCK_START_MS};

const TTL_MS: u64 = 100;

#[tokio::test]
async fn expired_entries_disappear_from_every_read() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    let k = key!["session", "abc"];
    let vs = db
        .set_expiring(
            &k,
            KvValue::Bytes(b"token".to_vec()),
            Duration::from_millis(TTL_MS),
        )
        .await
        .expect("set");
    db.set(&key!["session", "permanent"], KvValue::U64(1))
        .await
        .expect("set");

    clock.advance(TTL_MS - 1);
    let entry = db.get(&k).await.expect("get").expect("not yet expired");
    assert_eq!(entry.versionstamp, vs);
    assert_eq!(
        db.get_many(std::slice::from_ref(&k))
            .await
            .expect("get_many")[0]
            .as_ref()
            .map(|e| e.versionstamp),
        Some(vs)
    );
    let listed = db
        .list(
            ListSelector::Prefix(key!["session"]),
            ListOptions::default(),
        )
        .expect("list")
        .collect()
        .await
        .expect("collect");
    assert_eq!(listed.len(), 2);
    let held = db
        .atomic()
        .check(&k, Some(vs))
        .commit()
        .await
        .expect("commit");
    assert!(held.is_committed(), "the check sees the live entry");

    clock.advance(1); // now == expire-at: expired
    assert_eq!(db.get(&k).await.expect("get"), None);
    assert_eq!(
        db.get_many(std::slice::from_ref(&k))
            .await
            .expect("get_many"),
        vec![None]
    );
    let listed = db
        .list(
            ListSelector::Prefix(key!["session"]),
            ListOptions::default(),
        )
        .expect("list")
        .collect()
        .await
        .expect("collect");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key!["session", "permanent"]);
    let mut end = key!["session"].encode();
    end.push(0xFF);
    let ranges = db
        .snapshot_read(&[ReadRange {
            start: k.encode(),
            end,
            limit: 10,
            reverse: false,
        }])
        .await
        .expect("snapshot read");
    assert_eq!(ranges[0].len(), 1, "only the permanent entry");

    // Checks: the old versionstamp no longer matches, "must not exist" holds.
    let stale = db
        .atomic()
        .check(&k, Some(vs))
        .set(&k, KvValue::U64(0))
        .commit()
        .await
        .expect("commit");
    assert_eq!(
        stale,
        CommitResult::CheckFailed {
            failed_checks: vec![0],
            reason: None,
        }
    );
    let fresh = db
        .atomic()
        .check(&k, None)
        .set(&k, KvValue::U64(2))
        .commit()
        .await
        .expect("commit");
    assert!(fresh.is_committed(), "an expired key counts as absent");
    clock.advance(1_000_000);
    assert_eq!(
        db.get(&k).await.expect("get").map(|e| e.value),
        Some(KvValue::U64(2)),
        "rewritten without expiry: permanent"
    );
}

#[tokio::test]
async fn listing_skips_expired_entries_across_batches() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    // Even keys expire, odd keys stay; runs of expired entries are longer than a batch.
    let mut write = db.atomic();
    for i in 0..60u64 {
        let k = key!["n", i];
        write = if i % 5 == 4 {
            write.set(&k, KvValue::U64(i))
        } else {
            write.set_expiring(&k, KvValue::U64(i), Duration::from_millis(TTL_MS))
        };
    }
    write.commit().await.expect("commit");
    clock.advance(TTL_MS);

    let live: Vec<u64> = (0..60).filter(|i| i % 5 == 4).collect();
    for reverse in [false, true] {
        for batch_size in [1, 2, 3, 1000] {
            for limit in [None, Some(1), Some(5), Some(100)] {
                let mut expected = live.clone();
                if reverse {
                    expected.reverse();
                }
                expected.truncate(limit.unwrap_or(usize::MAX));
                let options = ListOptions {
                    limit,
                    reverse,
                    batch_size,
                    cursor: None,
                };
                let got: Vec<u64> = db
                    .list(ListSelector::Prefix(key!["n"]), options)
                    .expect("list")
                    .collect()
                    .await
                    .expect("collect")
                    .into_iter()
                    .map(|e| match e.value {
                        KvValue::U64(n) => n,
                        other => panic!("unexpected value {other}"),
                    })
                    .collect();
                assert_eq!(
                    got, expected,
                    "reverse {reverse}, batch size {batch_size}, limit {limit:?}"
                );
            }
        }
    }
}
