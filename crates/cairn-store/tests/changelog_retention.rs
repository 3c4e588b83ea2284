//! The changelog is bounded (`Config::changelog_retention`): by count, it keeps the newest
//! entries and drops the oldest as later batches commit, also after one batch appended far more
//! than the bound; by age, entries older than the retention on the database clock are dropped
//! once that clock has moved on. Trimming never removes an entry a bound does not require.

mod harness;

use cairn_model::key;
use cairn_store::Kv;
use cairn_store::{Database, KvValue, ManualClock, Versionstamp};
use harness::{changelog_versionstamps, config, submit, test_db_with, wait_until, CLOCK_START_MS};

const KEEP: u64 = 5;
const FOREVER_MS: u64 = u64::MAX / 2;

async fn write(db: &Database, i: u64) -> Versionstamp {
    db.set(&key!["k", i % 3], KvValue::U64(i))
        .await
        .expect("set")
}

/// The changelog is exactly the newest `KEEP` of `written`.
fn assert_newest_kept(db: &Database, written: &[Versionstamp]) {
    let kept = changelog_versionstamps(db);
    let newest = &written[written.len().saturating_sub(KEEP as usize)..];
    assert_eq!(kept, newest);
}

#[tokio::test]
async fn count_retention_keeps_the_newest_entries() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, storage) = test_db_with(config(&clock).changelog_retention(KEEP, FOREVER_MS));
    let mut written = Vec::new();
    for i in 0..3 {
        written.push(write(&db, i).await);
    }
    assert_eq!(
        changelog_versionstamps(&db),
        written,
        "under the bound: all kept"
    );
    for i in 3..20 {
        written.push(write(&db, i).await);
        assert_newest_kept(&db, &written);
    }

    // One batch of 20 writes: more than the bound at once.
    let gate = storage.hold_next_apply();
    let blocker = submit(db.atomic().set(&key!["blocker"], KvValue::U64(0)).commit());
    gate.wait_entered();
    let burst: Vec<_> = (0..20u64)
        .map(|i| submit(db.atomic().set(&key!["burst", i], KvValue::U64(i)).commit()))
        .collect();
    gate.release();
    written.push(
        blocker
            .await
            .expect("commit")
            .versionstamp()
            .expect("committed"),
    );
    for w in burst {
        written.push(w.await.expect("commit").versionstamp().expect("committed"));
    }
    let kept = changelog_versionstamps(&db);
    assert!(
        kept.windows(2).all(|p| p[0] < p[1]) && written.ends_with(&kept),
        "whatever is kept is a suffix of the log"
    );

    // Idle housekeeping trims what the burst left over.
    wait_until("the changelog to shrink back to its bound", || {
        changelog_versionstamps(&db).len() as u64 <= KEEP
    })
    .await;
    assert_newest_kept(&db, &written);
}

#[tokio::test]
async fn age_retention_drops_entries_older_than_the_bound() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let retention_ms = 60_000;
    let db = harness::test_db_with(config(&clock).changelog_retention(u64::MAX, retention_ms)).0;
    let mut old = Vec::new();
    for i in 0..10 {
        old.push(write(&db, i).await);
        clock.advance(1_000);
    }
    assert_eq!(changelog_versionstamps(&db), old);

    // The first six entries are now older than the retention; the last four are not.
    clock.set(CLOCK_START_MS + 5_000 + retention_ms + 500);
    let new = write(&db, 10).await;
    let mut expected = old[6..].to_vec();
    expected.push(new);
    assert_eq!(changelog_versionstamps(&db), expected);

    clock.advance(retention_ms * 10);
    let newest = write(&db, 11).await;
    assert_eq!(changelog_versionstamps(&db), vec![newest]);
}
