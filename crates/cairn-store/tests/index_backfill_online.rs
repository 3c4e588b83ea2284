//! Creating an index over existing data builds it online: on a directory of 20,000 entries,
//! writers keep inserting, rewriting and deleting entries under the prefix while the
//! backfill runs; once it is ready the index holds exactly the entries recomputed from the
//! data. Closing the database in the middle of a backfill and opening it again resumes the
//! build where its last durable step left it, with the same result. Progress is reported as
//! entries visited while building.

mod harness;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cairn_model::{encode_key, key, Key, KeyPart};
use cairn_store::{
    Database, IndexSpec, IndexState, Kv, KvKeyList, KvList, KvValue, ListOptions, ListSelector,
};

const ENTRIES: i64 = 20_000;
const GROUPS: i64 = 100;

fn value(group: i64) -> KvValue {
    KvValue::Bytes(format!("{{\"g\": \"g{group}\"}}").into_bytes())
}

async fn load(db: &Database) {
    for chunk in 0..ENTRIES / 1000 {
        let mut op = db.atomic();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            op = op.set(&key!["u", i], value(i % GROUPS));
        }
        assert!(op.commit().await.expect("load").is_committed());
    }
}

/// The index entries the data calls for, and those the index holds.
async fn expected_and_actual(db: &Database) -> (BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>) {
    let data = db
        .list(ListSelector::Prefix(key!["u"]), ListOptions::default())
        .expect("list")
        .collect()
        .await
        .expect("listed");
    let expected = data
        .iter()
        .filter_map(|e| {
            let KvValue::Bytes(json) = &e.value else {
                return None;
            };
            let text = std::str::from_utf8(json).ok()?;
            let group = text.strip_prefix("{\"g\": \"")?.strip_suffix("\"}")?;
            let mut parts = vec![KeyPart::from("by_g"), KeyPart::from(group)];
            parts.extend(e.key.0.iter().skip(1).cloned());
            Some(encode_key(&Key(parts)))
        })
        .collect();
    let actual = db
        .list_keys(ListSelector::Prefix(key!["by_g"]), ListOptions::default())
        .expect("list")
        .collect()
        .await
        .expect("listed")
        .iter()
        .map(|e| encode_key(&e.key))
        .collect();
    (expected, actual)
}

fn spec() -> IndexSpec {
    IndexSpec::new("by_g", key!["u"], &["g"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_during_the_backfill_are_indexed_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(dir.path()).expect("open");
    load(&db).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(Ordering::SeqCst) {
                // Spread over the whole prefix: behind the backfill's cursor and ahead of it.
                let i = (n * 7919) % (ENTRIES + 500);
                let k = key!["u", i];
                match n % 4 {
                    0 => db.delete(&k).await.map(drop),
                    1 => db.set(&k, KvValue::U64(1)).await.map(drop),
                    _ => db.set(&k, value(n % GROUPS)).await.map(drop),
                }
                .expect("write");
                n += 1;
            }
            n
        })
    };
    let info = db.create_index(spec()).await.expect("create");
    assert!(
        matches!(info.state, IndexState::Building { .. }),
        "{info:?}"
    );
    let ready = db
        .wait_index("by_g")
        .await
        .expect("wait")
        .expect("declared");
    assert_eq!(ready.state, IndexState::Ready);
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.expect("writer");
    assert!(written > 0);
    let (expected, actual) = expected_and_actual(&db).await;
    assert_eq!(actual.len(), expected.len());
    assert!(actual == expected, "index differs from its recomputation");
    let info = db.index("by_g").expect("info").expect("declared");
    assert_eq!(info.entries, expected.len() as u64);
    db.close();
}

#[tokio::test]
async fn a_backfill_cut_short_by_a_restart_resumes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(dir.path()).expect("open");
    load(&db).await;
    db.create_index(spec()).await.expect("create");
    // Closing stops the worker after its step in flight: usually mid-build.
    db.close();
    let db = Database::open(dir.path()).expect("reopen");
    let state = db.index("by_g").expect("info").expect("declared").state;
    assert!(
        matches!(state, IndexState::Building { .. } | IndexState::Ready),
        "{state:?}"
    );
    db.set(&key!["u", 5], value(7)).await.expect("write");
    let ready = db
        .wait_index("by_g")
        .await
        .expect("wait")
        .expect("declared");
    assert_eq!(ready.state, IndexState::Ready);
    let (expected, actual) = expected_and_actual(&db).await;
    assert_eq!(actual.len(), ENTRIES as usize);
    assert!(actual == expected, "index differs from its recomputation");
    db.close();
}
