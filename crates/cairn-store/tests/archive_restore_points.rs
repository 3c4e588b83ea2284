//! Restore at many points equals a reference model at that point. A seeded mixed workload
//! (sets, expiring sets, deletes, u64 sums, queue messages) runs against a database that
//! archives continuously to a directory, with a manual clock that moves; the database is
//! closed and reopened in the middle (the archive continues the same range). Then the archive
//! is restored at random commit versions and at random times, and at the latest point, and
//! every restored database must hold exactly what the model held then: the visible entries at
//! that moment's clock, and the number of queue messages.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_model::{key, Key};
use cairn_store::archive::{restore, ArchiveConfig, Catalog, LocalDir, RestoreTarget};
use cairn_store::storage::MemoryStorage;
use cairn_store::{
    Clock, Config, Database, EnqueueOptions, Kv, KvList, KvValue, ListOptions, ListSelector,
    ManualClock,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const START_MS: u64 = 1_700_000_000_000;

#[derive(Clone, Default)]
struct Model {
    /// Key → (value, expire-at).
    entries: BTreeMap<Key, (KvValue, Option<u64>)>,
    queued: u64,
}

impl Model {
    fn visible(&self, now_ms: u64) -> Vec<(Key, KvValue)> {
        self.entries
            .iter()
            .filter(|(_, (_, at))| at.is_none_or(|at| now_ms < at))
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

/// A point of the workload: the commit version that made it, its clock, the model after it.
struct Point {
    commit_version: u64,
    time_ms: u64,
    model: Model,
}

fn config(dest: &Arc<LocalDir>, clock: &Arc<ManualClock>) -> Config {
    let mut archive = ArchiveConfig::new(dest.clone(), "db");
    archive.ship_interval_ms = 5;
    // Snapshots every few kilobytes of log: restores start from many different snapshots.
    archive.snapshot_log_bytes = 8 * 1024;
    archive.retention_snapshots = 1000;
    archive.retention_ms = u64::MAX / 4;
    Config::default().clock(clock.clone()).archive(archive)
}

async fn visible(db: &Database) -> Vec<(Key, KvValue)> {
    let mut out = Vec::new();
    let mut list = db
        .list(ListSelector::Prefix(key![]), ListOptions::default())
        .expect("list");
    while let Some(entry) = list.next().await {
        let entry = entry.expect("entry");
        out.push((entry.key, entry.value));
    }
    out
}

/// One random operation, applied to both; returns its commit version and the clock when it
/// was committed (the clock may move afterwards).
async fn step(
    db: &Database,
    rng: &mut StdRng,
    model: &mut Model,
    clock: &ManualClock,
) -> (u64, u64) {
    let k = key!["k", rng.random_range(0..24u64)];
    let now = clock.now_ms();
    let result = match rng.random_range(0..10) {
        0..=3 => {
            let v = KvValue::U64(rng.random_range(0..1000));
            model.entries.insert(k.clone(), (v.clone(), None));
            db.atomic().set(&k, v).commit().await
        }
        4 => {
            let ms = rng.random_range(1..2000);
            let v = KvValue::Bytes(vec![7; rng.random_range(0..64)]);
            model.entries.insert(k.clone(), (v.clone(), Some(now + ms)));
            db.atomic()
                .set_expiring(&k, v, Duration::from_millis(ms))
                .commit()
                .await
        }
        5 | 6 => {
            model.entries.remove(&k);
            db.atomic().delete(&k).commit().await
        }
        7 | 8 => {
            let s = key!["sum", rng.random_range(0..4u64)];
            let n = rng.random_range(1..100u64);
            let old = match model.entries.get(&s) {
                Some((KvValue::U64(x), _)) => *x,
                _ => 0,
            };
            model
                .entries
                .insert(s.clone(), (KvValue::U64(old.wrapping_add(n)), None));
            db.atomic().sum(&s, n).commit().await
        }
        _ => {
            model.queued += 1;
            let options = EnqueueOptions {
                delay: Duration::from_secs(3600),
                ..Default::default()
            };
            db.enqueue(vec![1, 2, 3], options).await
        }
    };
    let commit = result.expect("commit");
    if rng.random_bool(0.3) {
        clock.advance(rng.random_range(1..300));
    }
    (
        commit.versionstamp().expect("committed").commit_version(),
        now,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_at_random_points_equals_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = Arc::new(LocalDir::new(dir.path().join("archive")));
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut rng = StdRng::seed_from_u64(13);
    let mut model = Model::default();
    let mut points: Vec<Point> = Vec::new();
    for _round in 0..2 {
        let db = Database::open_with(dir.path().join("db"), config(&dest, &clock)).expect("open");
        // The archive reaches back to its first snapshot, taken once the archiver started.
        while !db.archive_status().expect("archiving").started {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for _ in 0..300 {
            let (commit_version, time_ms) = step(&db, &mut rng, &mut model, &clock).await;
            points.push(Point {
                commit_version,
                time_ms,
                model: model.clone(),
            });
        }
        // Closing ships every published batch.
        db.close();
    }
    let prefixed = ArchiveConfig::new(dest.clone(), "db");
    let catalog = Catalog::load(&prefixed.prefixed()).expect("catalog");
    assert_eq!(
        catalog.ranges.len(),
        1,
        "a clean restart continues the range"
    );
    assert!(catalog.ranges.values().all(|r| r.snapshots.len() > 3));

    let mut targets: Vec<(RestoreTarget, usize)> = Vec::new();
    for _ in 0..40 {
        let i = rng.random_range(0..points.len());
        targets.push((RestoreTarget::CommitVersion(points[i].commit_version), i));
    }
    for _ in 0..15 {
        // Every commit made at that clock reading is in, and none after.
        let t = points[rng.random_range(0..points.len())].time_ms;
        let last = points
            .iter()
            .rposition(|p| p.time_ms <= t)
            .expect("a point");
        targets.push((RestoreTarget::TimeMs(t), last));
    }
    targets.push((RestoreTarget::Latest, points.len() - 1));
    for (target, i) in targets {
        let point = &points[i];
        let storage = Arc::new(MemoryStorage::new());
        let report = restore(&prefixed.prefixed(), target, storage.as_ref()).expect("restore");
        if let RestoreTarget::CommitVersion(_) = target {
            assert_eq!(report.commit_version, point.commit_version, "{target:?}");
        }
        let restored_clock = Arc::new(ManualClock::new(point.time_ms));
        let db = Database::open_storage(storage, Config::default().clock(restored_clock))
            .expect("open restored");
        assert_eq!(
            visible(&db).await,
            point.model.visible(point.time_ms),
            "{target:?}"
        );
        let stats = db.queue_stats().expect("stats");
        assert_eq!(
            stats.delayed + stats.ready,
            point.model.queued,
            "{target:?}"
        );
        db.close();
    }
}
