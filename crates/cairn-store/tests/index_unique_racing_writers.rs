//! A unique index is never violated by racing writers: many writers set different keys to
//! objects with the same value at once, in one commit batch (queued before the pipeline looks
//! at any of them) and from concurrent tasks; exactly one of each group commits, the others
//! fail as check failures naming the index and the entry that holds the value, and one write
//! that moves a value from one entry to another is no conflict with itself.

mod harness;

use std::sync::Arc;

use cairn_model::{encode_key, key};
use cairn_store::{
    CommitResult, Database, IndexSpec, IndexState, Kv, KvKeyList, KvValue, ListOptions,
    ListSelector, ManualClock,
};
use harness::{memory_db, submit, test_db, CLOCK_START_MS};

fn email(address: &str) -> KvValue {
    KvValue::Bytes(format!("{{\"email\": \"{address}\"}}").into_bytes())
}

async fn unique_db(db: &Database) {
    let spec = IndexSpec::new("by_email", key!["users"], &["email"]).unique();
    db.create_index(spec).await.expect("create");
    let info = db
        .wait_index("by_email")
        .await
        .expect("wait")
        .expect("declared");
    assert_eq!(info.state, IndexState::Ready);
}

async fn holders(db: &Database, address: &str) -> usize {
    db.list_keys(
        ListSelector::Prefix(key!["by_email", address]),
        ListOptions::default(),
    )
    .expect("list")
    .collect()
    .await
    .expect("listed")
    .len()
}

#[tokio::test]
async fn writers_queued_in_one_batch_take_a_value_once() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let (db, storage) = test_db(&clock);
    unique_db(&db).await;
    // Hold the evaluator inside a storage write, so every write below queues up and is
    // evaluated in the next batch, together.
    let gate = storage.hold_next_apply();
    let other = key!["other"];
    let first = submit(db.set(&other, KvValue::U64(0)));
    gate.wait_entered();
    let writes: Vec<_> = (0..16)
        .map(|i| {
            let address = if i % 2 == 0 { "same@x" } else { "other@x" };
            submit(
                db.atomic()
                    .set(&key!["users", i as i64], email(address))
                    .commit(),
            )
        })
        .collect();
    gate.release();
    first.await.expect("first write");
    let mut committed = [0, 0];
    for (i, write) in writes.into_iter().enumerate() {
        match write.await.expect("evaluated") {
            CommitResult::Committed { .. } => committed[i % 2] += 1,
            CommitResult::CheckFailed {
                failed_checks,
                reason,
            } => {
                assert!(failed_checks.is_empty());
                let reason = reason.expect("a reason");
                assert!(reason.contains("unique index \"by_email\""), "{reason}");
                assert!(reason.contains("belong to [\"users\", "), "{reason}");
            }
        }
    }
    assert_eq!(committed, [1, 1], "one writer per value");
    assert_eq!(holders(&db, "same@x").await, 1);
    assert_eq!(holders(&db, "other@x").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_share_a_value() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    unique_db(&db).await;
    const WRITERS: i64 = 8;
    const WRITES: usize = 60;
    const POOL: u64 = 4;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checker = {
        let (db, done) = (db.clone(), done.clone());
        tokio::spawn(async move {
            let mut looks = 0;
            // Every look is one snapshot: no value may be indexed twice in any of them.
            while !done.load(std::sync::atomic::Ordering::SeqCst) || looks == 0 {
                let entries = db
                    .list_keys(
                        ListSelector::Prefix(key!["by_email"]),
                        ListOptions::default(),
                    )
                    .expect("list")
                    .collect()
                    .await
                    .expect("listed");
                let mut addresses: Vec<_> = entries.iter().map(|e| e.key.0[1].clone()).collect();
                addresses.sort();
                addresses.dedup();
                assert_eq!(
                    addresses.len(),
                    entries.len(),
                    "a value indexed twice: {entries:?}"
                );
                looks += 1;
                tokio::task::yield_now().await;
            }
            looks
        })
    };
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut state = w as u64 + 1;
            let mut committed = 0;
            for _ in 0..WRITES {
                // xorshift: a fixed, different sequence of addresses per writer.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let address = format!("{}@x", state % POOL);
                let result = db
                    .atomic()
                    .set(&key!["users", w], email(&address))
                    .commit()
                    .await
                    .expect("evaluated");
                committed += usize::from(result.is_committed());
            }
            committed
        }));
    }
    let mut committed = 0;
    for task in tasks {
        committed += task.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(checker.await.expect("checker") > 0);
    assert!(committed > 0 && committed < WRITERS as usize * WRITES);
    // At the end: one entry per address held, each pointing at an entry holding it.
    let entries = db
        .list_keys(
            ListSelector::Prefix(key!["by_email"]),
            ListOptions::default(),
        )
        .expect("list")
        .collect()
        .await
        .expect("listed");
    assert!(entries.len() as u64 <= POOL);
    for e in &entries {
        let primary = key!["users", e.key.0[2].clone()];
        let value = db
            .get(&primary)
            .await
            .expect("get")
            .expect("indexed entry exists");
        let cairn_model::KeyPart::String(address) = &e.key.0[1] else {
            panic!("a string value");
        };
        assert_eq!(value.value, email(address));
    }
    let users = db
        .list(ListSelector::Prefix(key!["users"]), ListOptions::default())
        .expect("list");
    let users = cairn_store::KvList::collect(users).await.expect("listed");
    assert_eq!(
        users.len(),
        entries.len(),
        "every user holds an address, indexed once"
    );
}

#[tokio::test]
async fn one_write_may_move_a_value_between_its_own_entries() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    unique_db(&db).await;
    db.set(&key!["users", "a"], email("v@x"))
        .await
        .expect("set");
    let swap = db
        .atomic()
        .set(&key!["users", "a"], email("w@x"))
        .set(&key!["users", "b"], email("v@x"))
        .commit()
        .await
        .expect("evaluated");
    assert!(swap.is_committed(), "{swap:?}");
    let both = db
        .atomic()
        .set(&key!["users", "c"], email("z@x"))
        .set(&key!["users", "d"], email("z@x"))
        .commit()
        .await
        .expect("evaluated");
    assert!(
        !both.is_committed(),
        "two entries of one write took one value"
    );
    assert!(db.get(&key!["users", "c"]).await.expect("get").is_none());
    let index_key = encode_key(&key!["by_email", "v@x", "b"]);
    assert!(index_key.starts_with(&encode_key(&key!["by_email"])));
    assert!(db
        .get(&key!["by_email", "v@x", "b"])
        .await
        .expect("get")
        .is_some());
}
