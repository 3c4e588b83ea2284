//! An index's keyspace `[NAME, ...]` belongs to the database: a client's write there is
//! refused (`StoreError::ReservedKey`, nothing of the write applied), an index cannot be
//! created over keys already there or overlapping another index, a drop frees the keyspace
//! once its entries are gone, and declaring the same index twice is not an error. Values
//! that cannot be decoded are not indexed, counted, and never fail a write; field values
//! whose index key would be too large likewise.

mod harness;

use cairn_model::key;
use cairn_store::{IndexSpec, IndexState, Kv, KvValue, ManualClock, StoreError};
use harness::{memory_db, CLOCK_START_MS};

#[tokio::test]
async fn writes_into_an_index_keyspace_are_refused() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    db.create_index(IndexSpec::new("by_e", key!["u"], &["e"]))
        .await
        .expect("create");
    let err = db
        .atomic()
        .set(&key!["u", 1i64], KvValue::U64(1))
        .set(&key!["by_e", "x"], KvValue::U64(1))
        .commit()
        .await
        .expect_err("refused");
    assert!(
        matches!(err, StoreError::ReservedKey { ref index, .. } if index == "by_e"),
        "{err}"
    );
    assert!(
        err.to_string().contains("only the database writes"),
        "{err}"
    );
    assert!(
        db.get(&key!["u", 1i64]).await.expect("get").is_none(),
        "nothing applied"
    );
    let err = db
        .delete(&key!["by_e"])
        .await
        .expect_err("the name key too");
    assert!(matches!(err, StoreError::ReservedKey { .. }));
}

#[tokio::test]
async fn creation_needs_an_empty_keyspace_of_its_own() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    db.set(&key!["taken", 1i64], KvValue::U64(1))
        .await
        .expect("set");
    let err = db
        .create_index(IndexSpec::new("taken", key!["u"], &["e"]))
        .await
        .expect_err("keys exist there");
    assert!(err.to_string().contains("keys exist under"), "{err}");
    db.create_index(IndexSpec::new("i", key!["u"], &["e"]))
        .await
        .expect("create");
    for (spec, why) in [
        (
            IndexSpec::new("j", key!["i", "x"], &["e"]),
            "prefix inside another's keyspace",
        ),
        (
            IndexSpec::new("i", key!["u"], &["f"]),
            "same name, other definition",
        ),
        (
            IndexSpec::new("k", key!["k"], &["e"]),
            "prefix covers its own keyspace",
        ),
    ] {
        assert!(db.create_index(spec).await.is_err(), "{why}");
    }
    let again = db
        .create_index(IndexSpec::new("i", key!["u"], &["e"]))
        .await
        .expect("same definition again");
    assert_eq!(again.spec.name, "i");
    // Another index over the same prefix is fine.
    db.create_index(IndexSpec::new("i2", key!["u"], &["e"]))
        .await
        .expect("second index");
}

#[tokio::test]
async fn a_drop_frees_the_keyspace_once_its_entries_are_gone() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    for i in 0..1500i64 {
        let value = KvValue::Bytes(format!("{{\"e\": {}}}", i % 7).into_bytes());
        db.set(&key!["u", i], value).await.expect("set");
    }
    db.create_index(IndexSpec::new("by_e", key!["u"], &["e"]))
        .await
        .expect("create");
    let info = db
        .wait_index("by_e")
        .await
        .expect("wait")
        .expect("declared");
    assert_eq!((info.state, info.entries), (IndexState::Ready, 1500));
    assert!(db.drop_index("by_e").await.expect("drop"));
    assert!(db.wait_index("by_e").await.expect("wait").is_none());
    assert!(!db.drop_index("by_e").await.expect("drop again"));
    assert_eq!(
        db.count(cairn_model::ListSelector::Prefix(key!["by_e"]))
            .await
            .expect("count"),
        0
    );
    db.set(&key!["by_e", 1i64], KvValue::U64(1))
        .await
        .expect("free again");
}

#[tokio::test]
async fn undecodable_and_oversized_values_are_counted_not_refused() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    db.create_index(IndexSpec::new("by_e", key!["u"], &["e"]))
        .await
        .expect("create");
    db.wait_index("by_e").await.expect("wait");
    db.set(&key!["u", 1i64], KvValue::V8(vec![0xff, 0x0f, 0x99]))
        .await
        .expect("an undecodable value is written");
    let long = "x".repeat(3000);
    db.set(
        &key!["u", 2i64],
        KvValue::Bytes(format!("{{\"e\": \"{long}\"}}").into_bytes()),
    )
    .await
    .expect("a value too long to index is written");
    db.set(
        &key!["u", 3i64],
        KvValue::Bytes(b"{\"e\": \"ok\"}".to_vec()),
    )
    .await
    .expect("set");
    let info = db.index("by_e").expect("info").expect("declared");
    assert_eq!((info.entries, info.undecodable, info.oversized), (1, 1, 1));
    db.set(
        &key!["u", 1i64],
        KvValue::Bytes(b"{\"e\": \"fixed\"}".to_vec()),
    )
    .await
    .expect("set");
    let info = db.index("by_e").expect("info").expect("declared");
    assert_eq!((info.entries, info.undecodable, info.oversized), (2, 0, 1));
}
