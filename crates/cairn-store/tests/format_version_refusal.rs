//! A data directory written by a newer cairn (its `meta` format version is larger than
//! `cairn_store::meta::FORMAT_VERSION`) is refused at open with `StoreError::UnsupportedFormat`
//! and a message saying to upgrade, instead of being misread; the refusal changes nothing, so
//! the directory opens again once its version is one this build reads. Unreadable `meta`
//! bytes are a corruption error, never a panic.
//!
//! The meta key is written straight through `Storage::apply` on `FjallStorage`, the way a
//! future cairn would have left it.

use cairn_store::Kv;
use std::path::Path;

use cairn_model::key;
use cairn_store::meta::FORMAT_VERSION;
use cairn_store::storage::{FjallStorage, Keyspace, Storage, WriteBatch};
use cairn_store::{Config, Database, KvValue, StorageError, StoreError};

/// The `meta` key holding the format version (a u32, big-endian), as `meta.rs` lays it out.
const FORMAT_KEY: &[u8] = b"format_version";

fn write_format(dir: &Path, bytes: Vec<u8>) {
    let storage = FjallStorage::open(dir, 8 * 1024 * 1024).expect("open fjall directly");
    let mut batch = WriteBatch::default();
    batch.put(Keyspace::Meta, FORMAT_KEY.to_vec(), bytes);
    storage.apply(batch).expect("apply");
    storage.sync().expect("sync");
}

#[tokio::test]
async fn a_newer_format_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(dir.path()).expect("create");
    let vs = db.set(&key!["kept"], KvValue::U64(7)).await.expect("set");
    db.close();

    write_format(dir.path(), (FORMAT_VERSION + 1).to_be_bytes().to_vec());
    let err = Database::open_with(dir.path(), Config::default())
        .err()
        .expect("a newer format must be refused");
    match &err {
        StoreError::UnsupportedFormat { found, supported } => {
            assert_eq!(*found, FORMAT_VERSION + 1);
            assert_eq!(*supported, FORMAT_VERSION);
        }
        other => panic!("expected UnsupportedFormat, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&format!("format version {}", FORMAT_VERSION + 1)),
        "{message}"
    );
    assert!(message.contains("upgrade cairn"), "{message}");

    // Put the version back: the data is intact and versionstamps continue.
    write_format(dir.path(), FORMAT_VERSION.to_be_bytes().to_vec());
    let db = Database::open(dir.path()).expect("open");
    let entry = db.get(&key!["kept"]).await.expect("get").expect("intact");
    assert_eq!(entry.versionstamp, vs);
    assert!(db.set(&key!["next"], KvValue::U64(0)).await.expect("set") > vs);
}

#[test]
fn a_directory_holding_only_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_format(dir.path(), u32::MAX.to_be_bytes().to_vec());
    let err = Database::open(dir.path()).err().expect("refused");
    assert!(
        matches!(
            err,
            StoreError::UnsupportedFormat {
                found: u32::MAX,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unreadable_format_bytes_are_a_corruption_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_format(dir.path(), vec![0, 1]);
    let err = Database::open(dir.path()).err().expect("refused");
    assert!(
        matches!(
            err,
            StoreError::Storage(StorageError::Corrupt {
                keyspace: "meta",
                ..
            })
        ),
        "{err:?}"
    );
}
