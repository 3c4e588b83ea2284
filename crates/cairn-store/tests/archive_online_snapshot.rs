//! `backup_snapshot` takes a consistent snapshot while writes continue: a writer keeps
//! committing `["k", i]` together with `["count"] = i + 1` in one atomic write, snapshots are
//! taken in the middle of it, and each restored snapshot holds exactly the keys `0..count` —
//! a prefix of the commits, never a torn one — at the commit version its trailer names.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cairn_model::key;
use cairn_store::archive::{backup_snapshot, restore, ArchiveConfig, LocalDir, RestoreTarget};
use cairn_store::storage::MemoryStorage;
use cairn_store::{Config, Database, Kv, KvList, KvValue, ListOptions, ListSelector};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_taken_during_writes_are_consistent_prefixes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path().join("db")).expect("open");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                db.atomic()
                    .set(&key!["k", i], KvValue::U64(i))
                    .set(&key!["count"], KvValue::U64(i + 1))
                    .commit()
                    .await
                    .expect("commit");
                i += 1;
            }
            i
        })
    };
    let dest = Arc::new(LocalDir::new(dir.path().join("archive")));
    let config = ArchiveConfig::new(dest, "db");
    let mut taken = Vec::new();
    while taken.len() < 4 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let config = config.clone();
        let db = db.clone();
        let done = tokio::task::spawn_blocking(move || backup_snapshot(&db, &config))
            .await
            .expect("join")
            .expect("snapshot");
        taken.push(done);
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.expect("writer");
    assert!(written > 0);
    let mut counts = Vec::new();
    for done in taken {
        let storage = Arc::new(MemoryStorage::new());
        let target = RestoreTarget::CommitVersion(done.commit_version);
        let report = restore(&config.prefixed(), target, storage.as_ref()).expect("restore");
        assert_eq!(report.range, done.range);
        let restored = Database::open_storage(storage, Config::default()).expect("open");
        let count = match restored.get(&key!["count"]).await.expect("get") {
            Some(entry) => match entry.value {
                KvValue::U64(n) => n,
                other => panic!("count is {other:?}"),
            },
            None => 0,
        };
        let mut keys = Vec::new();
        let mut list = restored
            .list(ListSelector::Prefix(key!["k"]), ListOptions::default())
            .expect("list");
        while let Some(entry) = list.next().await {
            keys.push(entry.expect("entry").value);
        }
        let expected: Vec<KvValue> = (0..count).map(KvValue::U64).collect();
        assert_eq!(
            keys, expected,
            "snapshot at commit version {}",
            done.commit_version
        );
        counts.push(count);
    }
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(counts.last().is_some_and(|c| *c > 0), "{counts:?}");
}
