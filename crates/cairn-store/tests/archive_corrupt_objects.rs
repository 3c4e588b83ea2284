//! A torn or altered archive object is detected, never restored: a flipped byte in a log
//! segment, a truncated snapshot part and a missing segment each fail the restore with an
//! error naming the object (or the missing positions), and a restore into a directory that
//! already holds something is refused before anything is written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_model::key;
use cairn_store::archive::{
    restore, restore_to_dir, ArchiveConfig, ArchiveError, LocalDir, RestoreTarget,
};
use cairn_store::storage::MemoryStorage;
use cairn_store::{Config, Database, Kv, KvValue};

/// Archives 50 commits (several segments, two snapshots); returns the archive's root.
async fn archive(dir: &Path) -> PathBuf {
    let root = dir.join("archive");
    let mut config = ArchiveConfig::new(Arc::new(LocalDir::new(&root)), "db");
    config.ship_interval_ms = 1;
    config.snapshot_log_bytes = 1024;
    let db = Database::open_with(dir.join("db"), Config::default().archive(config)).expect("open");
    while !db.archive_status().expect("archiving").started {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    for i in 0..50u64 {
        db.set(&key!["k", i], KvValue::Bytes(vec![1; 100]))
            .await
            .expect("set");
        if i % 5 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    db.close();
    root
}

fn files(root: &Path, containing: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(containing) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn restore_latest(root: &Path) -> Result<(), ArchiveError> {
    let config = ArchiveConfig::new(Arc::new(LocalDir::new(root)), "db");
    restore(
        &config.prefixed(),
        RestoreTarget::Latest,
        &MemoryStorage::new(),
    )
    .map(|_| ())
}

#[tokio::test]
async fn a_flipped_byte_in_a_segment_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = archive(dir.path()).await;
    assert!(restore_latest(&root).is_ok());
    let segments = files(&root, "log-");
    let last = segments.last().expect("segments");
    let mut bytes = std::fs::read(last).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(last, bytes).expect("write");
    match restore_latest(&root) {
        Err(ArchiveError::Corrupt { object, reason }) => {
            assert!(object.contains("log-"), "{object}");
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_torn_snapshot_part_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = archive(dir.path()).await;
    for part in files(&root, "part-") {
        let bytes = std::fs::read(&part).expect("read");
        std::fs::write(&part, &bytes[..bytes.len() - 3]).expect("write");
    }
    assert!(matches!(
        restore_latest(&root),
        Err(ArchiveError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_missing_segment_is_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = archive(dir.path()).await;
    // Only the first snapshot, so the restore must replay every segment.
    for done in files(&root, "done").into_iter().skip(1) {
        std::fs::remove_file(done).expect("remove");
    }
    let segments = files(&root, "log-");
    assert!(segments.len() > 2, "{segments:?}");
    std::fs::remove_file(&segments[1]).expect("remove");
    match restore_latest(&root) {
        Err(ArchiveError::Gap(message)) => assert!(message.contains("missing"), "{message}"),
        other => panic!("expected a gap, got {other:?}"),
    }
}

#[tokio::test]
async fn a_target_that_holds_anything_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = archive(dir.path()).await;
    let config = ArchiveConfig::new(Arc::new(LocalDir::new(&root)), "db");
    let target = dir.path().join("occupied");
    std::fs::create_dir_all(&target).expect("mkdir");
    std::fs::write(target.join("keep-me"), b"x").expect("write");
    assert!(matches!(
        restore_to_dir(&config.prefixed(), RestoreTarget::Latest, &target, 8 << 20),
        Err(ArchiveError::TargetNotEmpty(_))
    ));
    assert_eq!(std::fs::read(target.join("keep-me")).expect("kept"), b"x");
    let fresh = dir.path().join("fresh");
    let report = restore_to_dir(&config.prefixed(), RestoreTarget::Latest, &fresh, 8 << 20)
        .expect("restore into a new directory");
    let db = Database::open(&fresh).expect("open restored");
    assert_eq!(
        db.get(&key!["k", 49u64])
            .await
            .expect("get")
            .map(|e| e.value),
        Some(KvValue::Bytes(vec![1; 100]))
    );
    assert!(report.commit_version >= 50);
}
