//! Listing returns exactly the keys its selector names, in key order or reversed, up to its
//! limit, whatever the batch size: a prefix lists the keys strictly under it (not the prefix
//! key itself, not a string that merely starts with the same characters), `start` is
//! inclusive, `end` exclusive, and a start or end key outside its prefix is refused as Deno
//! refuses it. Listings of more entries than one read may return (1000) are complete.

mod harness;

use cairn_model::{key, Key};
use cairn_store::{Database, KvValue, ListOptions, ListSelector, ManualClock, StoreError};
use cairn_store::{Kv, KvList};
use harness::{memory_db, CLOCK_START_MS};

async fn list(db: &Database, selector: ListSelector, options: ListOptions) -> Vec<Key> {
    db.list(selector, options)
        .expect("list")
        .collect()
        .await
        .expect("collect")
        .into_iter()
        .map(|e| e.key)
        .collect()
}

async fn keys(db: &Database, selector: ListSelector) -> Vec<Key> {
    list(db, selector, ListOptions::default()).await
}

async fn seeded() -> Database {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let mut write = db.atomic();
    for k in [
        key!["a"],
        key!["a", 1u64],
        key!["a", 2u64],
        key!["a", 2u64, "deep"],
        key!["a", 3u64],
        key!["a", "text"],
        key!["ab"],
        key!["ab", 1u64],
        key!["b", 1u64],
        key![vec![1u8, 2]],
        key![true],
    ] {
        write = write.set(&k, KvValue::U64(0));
    }
    write.commit().await.expect("seed");
    db
}

#[tokio::test]
async fn a_prefix_lists_what_is_strictly_under_it() {
    let db = seeded().await;
    assert_eq!(
        keys(&db, ListSelector::Prefix(key!["a"])).await,
        vec![
            key!["a", "text"],
            key!["a", 1u64],
            key!["a", 2u64],
            key!["a", 2u64, "deep"],
            key!["a", 3u64],
        ],
        "no [\"a\"] itself, no [\"ab\"…]; strings sort before integers"
    );
    assert_eq!(
        keys(&db, ListSelector::Prefix(key!["a", 2u64])).await,
        vec![key!["a", 2u64, "deep"]]
    );
    assert_eq!(keys(&db, ListSelector::Prefix(key!["zzz"])).await, vec![]);
    let everything = keys(&db, ListSelector::Prefix(key![])).await;
    assert_eq!(everything.len(), 11, "the empty prefix lists every key");
    assert_eq!(
        everything.first(),
        Some(&key![vec![1u8, 2]]),
        "bytes sort first"
    );
    assert_eq!(everything.last(), Some(&key![true]), "booleans sort last");
    let mut sorted = everything.clone();
    sorted.sort();
    assert_eq!(everything, sorted);
}

#[tokio::test]
async fn start_is_inclusive_and_end_exclusive() {
    let db = seeded().await;
    assert_eq!(
        keys(
            &db,
            ListSelector::PrefixStart {
                prefix: key!["a"],
                start: key!["a", 2u64]
            }
        )
        .await,
        vec![key!["a", 2u64], key!["a", 2u64, "deep"], key!["a", 3u64]]
    );
    assert_eq!(
        keys(
            &db,
            ListSelector::PrefixEnd {
                prefix: key!["a"],
                end: key!["a", 2u64]
            }
        )
        .await,
        vec![key!["a", "text"], key!["a", 1u64]]
    );
    assert_eq!(
        keys(
            &db,
            ListSelector::Range {
                start: key!["a", 2u64],
                end: key!["ab", 1u64]
            }
        )
        .await,
        vec![
            key!["a", 2u64],
            key!["a", 2u64, "deep"],
            key!["a", 3u64],
            key!["ab"]
        ]
    );
    assert_eq!(
        keys(
            &db,
            ListSelector::Range {
                start: key!["b"],
                end: key!["a"]
            }
        )
        .await,
        vec![],
        "an inverted range is empty"
    );
}

#[tokio::test]
async fn start_or_end_outside_the_prefix_is_refused() {
    let db = seeded().await;
    for selector in [
        ListSelector::PrefixStart {
            prefix: key!["b"],
            start: key!["a", 1u64],
        },
        ListSelector::PrefixStart {
            prefix: key!["a"],
            start: key!["a"],
        },
        ListSelector::PrefixEnd {
            prefix: key!["a"],
            end: key!["ab", 1u64],
        },
        ListSelector::PrefixEnd {
            prefix: key!["a"],
            end: key!["a"],
        },
    ] {
        match db.list(selector.clone(), ListOptions::default()) {
            Err(err @ StoreError::InvalidArgument(_)) => {
                assert!(
                    err.to_string()
                        .contains("not in the keyspace defined by prefix"),
                    "{err}"
                );
            }
            Err(other) => panic!("{selector:?}: expected InvalidArgument, got {other:?}"),
            Ok(it) => {
                let listed = it.collect().await.expect("collect");
                panic!("{selector:?} must be refused, listed {listed:?}");
            }
        }
    }
}

#[tokio::test]
async fn reverse_and_limit_with_any_batch_size() {
    let db = seeded().await;
    let all = keys(&db, ListSelector::Prefix(key!["a"])).await;
    for batch_size in [1, 2, 1000] {
        for limit in [None, Some(0), Some(1), Some(3), Some(5), Some(50)] {
            for reverse in [false, true] {
                let mut expected = all.clone();
                if reverse {
                    expected.reverse();
                }
                expected.truncate(limit.unwrap_or(usize::MAX));
                let options = ListOptions {
                    limit,
                    reverse,
                    batch_size,
                    cursor: None,
                };
                assert_eq!(
                    list(&db, ListSelector::Prefix(key!["a"]), options).await,
                    expected,
                    "batch size {batch_size}, limit {limit:?}, reverse {reverse}"
                );
            }
        }
    }
}

#[tokio::test]
async fn listings_larger_than_one_read_are_complete() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    const N: u64 = 2_345;
    for chunk in (0..N).collect::<Vec<_>>().chunks(500) {
        let mut write = db.atomic();
        for &i in chunk {
            write = write.set(&key!["n", i], KvValue::U64(i));
        }
        write.commit().await.expect("seed");
    }
    let expected: Vec<Key> = (0..N).map(|i| key!["n", i]).collect();
    for batch_size in [1, 100, 1000] {
        for reverse in [false, true] {
            let options = ListOptions {
                reverse,
                batch_size,
                ..ListOptions::default()
            };
            let mut got = list(&db, ListSelector::Prefix(key!["n"]), options).await;
            if reverse {
                got.reverse();
            }
            assert_eq!(got, expected, "batch size {batch_size}, reverse {reverse}");
        }
    }
    let options = ListOptions {
        limit: Some(1_500),
        batch_size: 1000,
        ..ListOptions::default()
    };
    assert_eq!(
        list(&db, ListSelector::Prefix(key!["n"]), options).await,
        expected[..1_500]
    );
}

#[tokio::test]
async fn a_listing_reads_one_snapshot() {
    let db = seeded().await;
    let mut it = db
        .list(
            ListSelector::Prefix(key!["a"]),
            ListOptions {
                batch_size: 1,
                ..ListOptions::default()
            },
        )
        .expect("list");
    let first = it.next().await.expect("an entry").expect("entry");
    assert_eq!(first.key, key!["a", "text"]);
    db.delete(&key!["a", 3u64]).await.expect("delete");
    db.set(&key!["a", 2u64, "new"], KvValue::U64(1))
        .await
        .expect("set");
    let rest: Vec<Key> = it
        .collect()
        .await
        .expect("collect")
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(
        rest,
        vec![
            key!["a", 1u64],
            key!["a", 2u64],
            key!["a", 2u64, "deep"],
            key!["a", 3u64]
        ],
        "writes after the listing began are not seen by it"
    );
}
