//! A failing archive destination never stops commits. While it fails, archiving retries and
//! keeps the log; when it comes back, everything is shipped with no gap. Past the local bound
//! on unshipped log, and after a restart with batches that were never shipped, the archive
//! records a gap: a new range opens with a new snapshot, a restore inside the gap is refused
//! with a clear error, and a restore to the latest point has every acknowledged write.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_model::key;
use cairn_store::archive::{
    restore, ArchiveConfig, ArchiveError, Catalog, Destination, LocalDir, RestoreTarget,
};
use cairn_store::storage::MemoryStorage;
use cairn_store::{Config, Database, Kv, KvValue};

/// A directory destination that fails every call while `down` is set.
struct Flaky {
    dir: LocalDir,
    down: AtomicBool,
}

impl Flaky {
    fn check(&self) -> Result<(), ArchiveError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ArchiveError::Destination("injected outage".into()));
        }
        Ok(())
    }
}

impl Destination for Flaky {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.check()?;
        self.dir.put(name, bytes)
    }
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        self.check()?;
        self.dir.get(name)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, ArchiveError> {
        self.check()?;
        self.dir.list(prefix)
    }
    fn delete(&self, name: &str) -> Result<(), ArchiveError> {
        self.check()?;
        self.dir.delete(name)
    }
    fn describe(&self) -> String {
        "flaky".into()
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    dest: Arc<Flaky>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = Arc::new(Flaky {
        dir: LocalDir::new(dir.path().join("archive")),
        down: AtomicBool::new(false),
    });
    Setup {
        path: dir.path().join("db"),
        _dir: dir,
        dest,
    }
}

fn open(setup: &Setup, unshipped_bytes_max: u64) -> Database {
    let mut archive = ArchiveConfig::new(setup.dest.clone(), "db");
    archive.ship_interval_ms = 5;
    archive.unshipped_bytes_max = unshipped_bytes_max;
    Database::open_with(&setup.path, Config::default().archive(archive)).expect("open")
}

async fn until(db: &Database, done: impl Fn(&cairn_store::archive::ArchiveStatus) -> bool) {
    while !done(&db.archive_status().expect("archiving")) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Writes keys `from..to`; returns the last commit version.
async fn write(db: &Database, from: u64, to: u64) -> u64 {
    let mut last = 0;
    for i in from..to {
        let vs = db
            .set(&key!["k", i], KvValue::U64(i))
            .await
            .expect("commits never stop");
        last = vs.commit_version();
    }
    last
}

async fn restored_keys(setup: &Setup, target: RestoreTarget) -> Result<u64, ArchiveError> {
    let config = ArchiveConfig::new(setup.dest.clone(), "db");
    let storage = Arc::new(MemoryStorage::new());
    restore(&config.prefixed(), target, storage.as_ref())?;
    let db = Database::open_storage(storage, Config::default()).expect("open restored");
    let mut n = 0;
    let mut list = db
        .list(
            cairn_store::ListSelector::Prefix(key!["k"]),
            Default::default(),
        )
        .expect("list");
    while let Some(entry) = cairn_store::KvList::next(&mut list).await {
        entry.expect("entry");
        n += 1;
    }
    Ok(n)
}

fn ranges(setup: &Setup) -> Vec<String> {
    let config = ArchiveConfig::new(setup.dest.clone(), "db");
    let catalog = Catalog::load(&config.prefixed()).expect("catalog");
    catalog
        .summaries(&config.prefixed())
        .expect("summaries")
        .into_iter()
        .map(|s| s.reason)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_within_the_bound_is_caught_up_without_a_gap() {
    let s = setup();
    let db = open(&s, 64 * 1024 * 1024);
    until(&db, |st| st.started).await;
    let before = write(&db, 0, 20).await;
    s.dest.down.store(true, Ordering::SeqCst);
    let during = write(&db, 20, 60).await;
    until(&db, |st| st.errors > 0).await;
    assert!(db.archive_status().expect("status").shipped_commit_version < during);
    s.dest.down.store(false, Ordering::SeqCst);
    until(&db, |st| st.shipped_commit_version >= during).await;
    db.close();
    assert_eq!(ranges(&s).len(), 1);
    for (cv, keys) in [(before, 20), (during - 10, 50), (during, 60)] {
        assert_eq!(
            restored_keys(&s, RestoreTarget::CommitVersion(cv))
                .await
                .expect("restore"),
            keys
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_bound_a_gap_is_recorded_and_a_new_range_has_everything() {
    let s = setup();
    let db = open(&s, 2048);
    until(&db, |st| st.started).await;
    let before = write(&db, 0, 10).await;
    until(&db, |st| st.shipped_commit_version >= before).await;
    s.dest.down.store(true, Ordering::SeqCst);
    let during = write(&db, 10, 200).await;
    until(&db, |st| st.errors > 0).await;
    s.dest.down.store(false, Ordering::SeqCst);
    until(&db, |st| {
        st.ranges_opened == 2 && st.shipped_commit_version >= during
    })
    .await;
    let after = write(&db, 200, 210).await;
    until(&db, |st| st.shipped_commit_version >= after).await;
    db.close();
    let reasons = ranges(&s);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[1].contains("overflow"), "{reasons:?}");
    assert_eq!(
        restored_keys(&s, RestoreTarget::CommitVersion(before))
            .await
            .expect("before"),
        10
    );
    match restored_keys(&s, RestoreTarget::CommitVersion(before + 5)).await {
        Err(ArchiveError::Gap(message)) => {
            assert!(message.contains("between range 1"), "{message}")
        }
        other => panic!("a point in the gap must be refused, got {other:?}"),
    }
    assert_eq!(
        restored_keys(&s, RestoreTarget::Latest)
            .await
            .expect("latest"),
        210
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_unshipped_batches_opens_a_new_range() {
    let s = setup();
    let db = open(&s, 64 * 1024 * 1024);
    until(&db, |st| st.started).await;
    let before = write(&db, 0, 10).await;
    until(&db, |st| st.shipped_commit_version >= before).await;
    s.dest.down.store(true, Ordering::SeqCst);
    write(&db, 10, 30).await;
    // Closing tries a few times, then gives up: those batches never reach the archive.
    db.close();
    s.dest.down.store(false, Ordering::SeqCst);
    let db = open(&s, 64 * 1024 * 1024);
    until(&db, |st| st.started).await;
    let after = write(&db, 30, 40).await;
    until(&db, |st| st.shipped_commit_version >= after).await;
    db.close();
    let reasons = ranges(&s);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[1].starts_with("restart"), "{reasons:?}");
    assert!(matches!(
        restored_keys(&s, RestoreTarget::CommitVersion(before + 3)).await,
        Err(ArchiveError::Gap(_))
    ));
    assert_eq!(
        restored_keys(&s, RestoreTarget::Latest)
            .await
            .expect("latest"),
        40
    );
}
