//! Format version 2 (secondary indexes) against a fixture of version 1: a directory laid out
//! byte by byte as a version 1 cairn wrote it (meta keys and data records of
//! `docs/design/storage.md`, written straight through `FjallStorage`, not through this
//! build's writers) opens, its data reads back, and it stays version 1 while it has no index
//! (a version 1 cairn still opens it). The commit that declares the first index raises it to
//! 2, which a version 1 build refuses (`UnsupportedFormat`) instead of writing under an
//! index's prefix without maintaining it; the index is built from the old data.

use cairn_model::{encode_key, key};
use cairn_store::meta::{format_version, FORMAT_VERSION, FORMAT_VERSION_WITHOUT_INDEXES};
use cairn_store::storage::{FjallStorage, Keyspace, Storage, WriteBatch};
use cairn_store::{Database, IndexSpec, IndexState, Kv, KvValue};

/// A version 1 data record: tag 01, versionstamp, encoding, expire-at (0 = never), value.
fn v1_record(commit: u64, encoding: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&commit.to_be_bytes());
    out.extend_from_slice(&[0, 0, encoding]);
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn write_v1_fixture(dir: &std::path::Path) {
    let storage = FjallStorage::open(dir, 8 * 1024 * 1024).expect("open fjall directly");
    let mut batch = WriteBatch::default();
    batch.put(
        Keyspace::Meta,
        b"format_version".to_vec(),
        1u32.to_be_bytes().to_vec(),
    );
    batch.put(Keyspace::Meta, b"database_id".to_vec(), [7u8; 16].to_vec());
    batch.put(
        Keyspace::Meta,
        b"commit_version".to_vec(),
        2u64.to_be_bytes().to_vec(),
    );
    let alice = br#"{"email": "a@x"}"#;
    let bob = br#"{"email": "b@x"}"#;
    batch.put(
        Keyspace::Data,
        encode_key(&key!["users", "alice"]),
        v1_record(1, 3, alice),
    );
    batch.put(
        Keyspace::Data,
        encode_key(&key!["users", "bob"]),
        v1_record(2, 3, bob),
    );
    storage.apply(batch).expect("apply");
    storage.sync().expect("sync");
}

fn stored_version(dir: &std::path::Path) -> Option<u32> {
    let storage = FjallStorage::open(dir, 8 * 1024 * 1024).expect("open fjall directly");
    format_version(storage.snapshot().as_ref()).expect("read")
}

#[tokio::test]
async fn a_version_1_directory_opens_and_becomes_2_with_its_first_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_v1_fixture(dir.path());

    let db = Database::open(dir.path()).expect("a version 1 directory opens");
    let alice = db.get(&key!["users", "alice"]).await.expect("get");
    assert_eq!(
        alice.expect("kept").value,
        KvValue::Bytes(br#"{"email": "a@x"}"#.to_vec())
    );
    db.set(
        &key!["users", "carol"],
        KvValue::Bytes(br#"{"email": "c@x"}"#.to_vec()),
    )
    .await
    .expect("write");
    db.close();
    assert_eq!(
        stored_version(dir.path()),
        Some(FORMAT_VERSION_WITHOUT_INDEXES),
        "writes alone keep a directory readable by version 1"
    );

    let db = Database::open(dir.path()).expect("open");
    db.create_index(IndexSpec::new("by_email", key!["users"], &["email"]).unique())
        .await
        .expect("create");
    let info = db
        .wait_index("by_email")
        .await
        .expect("wait")
        .expect("declared");
    assert_eq!(info.state, IndexState::Ready);
    assert_eq!(info.entries, 3);
    assert!(db
        .get(&key!["by_email", "b@x", "bob"])
        .await
        .expect("get")
        .is_some());
    db.close();
    assert_eq!(stored_version(dir.path()), Some(FORMAT_VERSION));
    assert_eq!(FORMAT_VERSION, 2);

    // The catalog survives the restart: the index is maintained at once.
    let db = Database::open(dir.path()).expect("reopen");
    let refused = db
        .atomic()
        .set(
            &key!["users", "dave"],
            KvValue::Bytes(br#"{"email": "a@x"}"#.to_vec()),
        )
        .commit()
        .await
        .expect("evaluated");
    assert!(
        !refused.is_committed(),
        "the unique index holds after a restart"
    );
    db.close();
}
