//! Storage errors keep their cause. They used to be `StorageError::Engine(String)`: the
//! operating system's error was formatted into a message, so a full disk (ENOSPC, fixed by
//! freeing space) and a failing one (EIO, fixed by replacing it) could be told apart only by
//! reading text. Now an I/O failure keeps its `io::Error` as the source, and
//! `StorageError::kind` (and `StoreError::storage_kind`) names the category, for callers, log
//! fields and metric labels. `io::ErrorKind` alone would not do: EIO has no kind of its own.

use std::error::Error as _;
use std::sync::Arc;

use cairn_model::key;
use cairn_store::storage::{FaultStorage, MemoryStorage, Storage, StorageErrorKind, WriteBatch};
use cairn_store::{Config, Database, Kv, KvValue, StorageError, StoreError};

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

fn failed_sync(errno: i32) -> StorageError {
    let storage = FaultStorage::new(MemoryStorage::new());
    storage.fail_with_errno(errno);
    storage.fail_sync_after(1);
    storage.apply(WriteBatch::default()).expect("apply");
    storage.sync().expect_err("the injected failure")
}

fn os_error(error: &StorageError) -> Option<i32> {
    let source = error.source()?.downcast_ref::<std::io::Error>()?;
    source.raw_os_error()
}

#[test]
fn an_injected_enospc_and_an_injected_eio_are_told_apart() {
    let full = failed_sync(ENOSPC);
    let failing = failed_sync(EIO);

    assert_eq!(full.kind(), StorageErrorKind::DiskFull);
    assert_eq!(full.io_kind(), Some(std::io::ErrorKind::StorageFull));
    assert_eq!(failing.kind(), StorageErrorKind::DeviceIo);
    assert_ne!(failing.io_kind(), Some(std::io::ErrorKind::StorageFull));

    // The operating system's error is the source, not a copy of its message.
    assert_eq!(os_error(&full), Some(ENOSPC));
    assert_eq!(os_error(&failing), Some(EIO));
    assert_eq!(full.io_error().and_then(|e| e.raw_os_error()), Some(ENOSPC));

    // Stable names for log fields and metric labels; messages say what happened.
    assert_eq!(full.kind().as_str(), "disk_full");
    assert_eq!(failing.kind().as_str(), "device_io");
    assert!(
        full.to_string().contains("No space left on device"),
        "{full}"
    );
    assert!(
        failing.to_string().contains("Input/output error"),
        "{failing}"
    );

    let store = StoreError::from(full);
    assert_eq!(store.storage_kind(), Some(StorageErrorKind::DiskFull));
    assert!(store.source().is_some());
}

#[test]
fn an_error_of_the_real_storage_keeps_its_kind() {
    // A database "directory" below a regular file: creating it fails with ENOTDIR.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a directory").expect("write");
    let Err(error) = Database::open_with(file.join("db"), Config::default()) else {
        panic!("opened a database below a regular file");
    };
    assert_eq!(
        error.storage_kind(),
        Some(StorageErrorKind::OtherIo),
        "{error}"
    );
    let StoreError::Storage(storage) = &error else {
        panic!("a storage error: {error:?}");
    };
    assert_eq!(storage.io_kind(), Some(std::io::ErrorKind::NotADirectory));
}

#[tokio::test]
async fn a_database_poisoned_by_a_full_disk_says_so() {
    let storage = Arc::new(FaultStorage::new(MemoryStorage::new()));
    let db = Database::open_storage(storage.clone(), Config::default()).expect("open");
    storage.fail_with_errno(ENOSPC);
    storage.fail_sync_after(1);
    let error = db
        .set(&key!["k"], KvValue::U64(1))
        .await
        .expect_err("the sync fails");
    assert!(matches!(error, StoreError::Poisoned(_)), "{error:?}");
    assert!(
        error.to_string().contains("No space left on device"),
        "{error}"
    );
}
