//! The expiry sweeper used to remove at most 512 keys per 200 ms of
//! real time, about 2,560 keys/s however many were due: past that rate expired entries piled
//! up (invisible to reads, yet stored, and stepped over by every scan), and a burst of 64,000
//! keys expiring together took at least 25 s to reclaim (125 sweeps, each after a 200 ms wait
//! that nothing shortened). The sweeper now sweeps batch after batch while work remains, one
//! batch in flight at a time, and idles only once caught up.
//!
//! The first test moves the clock once, to make the burst due, and never again, then waits
//! for the index to empty, giving up after `BACKGROUND_WAIT_MAX` (20 s) of real time: the
//! harness's guard against hanging, measured here by a deadline rather than by counting
//! polls (which a loaded machine stretches). That guard is below the old pace's 25 s floor,
//! so the old sweeper fails it on any machine; the new one needs a few seconds of a debug
//! build. Nothing asserts how fast the new one is. The second test holds the sweeper's first
//! commit inside the storage write to look at the backlog it reports and at where foreground
//! writes land.

mod harness;

use std::time::{Duration, Instant};

use cairn_model::key;
use cairn_store::record::ChangeOp;
use cairn_store::storage::{Keyspace, Scan, Storage};
use cairn_store::{
    Database, Kv, KvValue, ManualClock, Versionstamp, EXPIRY_SWEEP_KEYS_MAX, EXPIRY_SWEEP_KEYS_MIN,
};
use harness::{
    submit, test_db, wait_until, TestStorage, BACKGROUND_POLL, BACKGROUND_WAIT_MAX, CLOCK_START_MS,
};

const TTL_MS: u64 = 50;
/// Keys per atomic write while loading (the default limit on mutations per write).
const WRITE_KEYS: u64 = 1000;

/// Writes `["bulk", i]` for i in `range`, each expiring `ttl_ms` from now.
async fn write_expiring(db: &Database, range: std::ops::Range<u64>, ttl_ms: u64) {
    let mut i = range.start;
    while i < range.end {
        let mut write = db.atomic();
        for j in i..(i + WRITE_KEYS).min(range.end) {
            write = write.set_expiring(
                &key!["bulk", j],
                KvValue::U64(j),
                Duration::from_millis(ttl_ms),
            );
        }
        assert!(write.commit().await.expect("commit").is_committed());
        i += WRITE_KEYS;
    }
}

/// Entries of the expiry index, expired or not, up to `limit`.
fn index_entries(storage: &TestStorage, limit: usize) -> usize {
    let scan = Scan {
        start: &[],
        end: &[0xFF; 9],
        reverse: false,
        limit,
    };
    let entries = storage.snapshot().scan(Keyspace::Expiry, scan);
    entries.expect("scan the expiry index").len()
}

/// The sweeper's commits in the changelog (every op a delete of a `bulk` key): versionstamp
/// and number of keys removed, oldest first.
fn removals(db: &Database) -> Vec<(Versionstamp, usize)> {
    let prefix = key!["bulk"].encode();
    let prefix = &prefix[..prefix.len() - 1];
    let log = db.changelog(None, usize::MAX).expect("changelog");
    log.into_iter()
        .filter(|(_, record)| {
            record
                .ops
                .iter()
                .all(|op| matches!(op, ChangeOp::Delete { key } if key.starts_with(prefix)))
        })
        .map(|(vs, record)| (vs, record.ops.len()))
        .collect()
}

/// Waits until `done` holds; panics with `what` once [`BACKGROUND_WAIT_MAX`] of real time has
/// passed (a deadline, unlike `harness::wait_until`'s count of polls).
async fn wait_until_deadline(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + BACKGROUND_WAIT_MAX;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(BACKGROUND_POLL).await;
    }
}

#[tokio::test]
async fn a_burst_of_expiries_is_swept_without_pausing_between_batches() {
    const BURST: u64 = 64_000;
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, storage) = test_db(&clock);
    write_expiring(&db, 0..BURST, TTL_MS).await;
    let keep = key!["keep"];
    db.set(&keep, KvValue::U64(1)).await.expect("set");
    assert_eq!(db.expiry_backlog().expect("backlog"), 0, "nothing due yet");

    clock.advance(TTL_MS);
    // Storage holds the applied state, which may run ahead of the published one that the
    // backlog counts; looking at storage first keeps the backlog's scans few.
    wait_until_deadline("the sweeper to catch up", || {
        index_entries(&storage, 1) == 0 && db.expiry_backlog().expect("backlog") == 0
    })
    .await;

    // Everything due is physically gone; the rest stays.
    let data = storage
        .snapshot()
        .count(Keyspace::Data)
        .expect("count data");
    assert_eq!(data, 1, "only the key without expiry is left");
    assert!(db.get(&keep).await.expect("get").is_some());
    let removals = removals(&db);
    let removed: usize = removals.iter().map(|(_, n)| n).sum();
    assert_eq!(removed as u64, BURST, "one delete per expired key");
    assert!(
        removals.iter().all(|&(_, n)| n <= EXPIRY_SWEEP_KEYS_MAX),
        "every sweep is a bounded batch"
    );
}

/// While the sweeper's first commit is held in the storage write, the backlog counts every
/// due entry and none of those not yet due; a write submitted meanwhile commits before the
/// sweeper's second batch (the sweeper waits for each of its commits before sending the
/// next, so foreground writes are not queued behind a run of sweeps).
#[tokio::test]
async fn the_backlog_counts_due_entries_and_writes_go_between_sweeps() {
    let due = 3 * EXPIRY_SWEEP_KEYS_MIN as u64 + 10;
    let later = 7;
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, storage) = test_db(&clock);
    write_expiring(&db, 0..due, TTL_MS).await;
    write_expiring(&db, due..due + later, 100 * TTL_MS).await;

    let gate = storage.hold_next_apply();
    clock.advance(TTL_MS);
    gate.wait_entered();
    assert_eq!(db.expiry_backlog().expect("backlog"), due);
    let foreground_key = key!["foreground"];
    let foreground = submit(db.set(&foreground_key, KvValue::U64(0)));
    gate.release();
    let foreground = foreground.await.expect("foreground write");

    wait_until("the sweeper to catch up", || {
        db.expiry_backlog().expect("backlog") == 0
    })
    .await;
    let removals = removals(&db);
    let removed: usize = removals.iter().map(|(_, n)| n).sum();
    assert_eq!(removed as u64, due);
    assert!(removals.len() >= 2, "more than one batch: {removals:?}");
    assert!(removals[0].0 < foreground && foreground < removals[1].0);
    assert_eq!(index_entries(&storage, 100), later as usize, "not yet due");
}
