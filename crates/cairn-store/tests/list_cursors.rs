//! A list cursor resumes a listing exactly after the last entry returned: for every selector
//! kind, both directions, any batch size and every split point, the resumed listing is the
//! rest of the original one, with nothing repeated or skipped; paging with a limit and the
//! cursor visits every entry once. Cursors name a position, not a snapshot, so entries written
//! after the position are seen on resume. Malformed or out-of-range cursors are refused.

mod harness;

use base64::Engine as _;
use cairn_model::{key, Key};
use cairn_store::{Database, KvValue, ListOptions, ListSelector, ManualClock, StoreError};
use cairn_store::{Kv, KvList};
use harness::{memory_db, CLOCK_START_MS};

async fn seeded() -> Database {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let mut write = db.atomic();
    write = write.set(&key!["p"], KvValue::U64(0));
    for i in 0..12u64 {
        write = write.set(&key!["p", i], KvValue::U64(i));
        if i % 4 == 0 {
            write = write.set(&key!["p", i, "sub"], KvValue::U64(i));
        }
    }
    write = write.set(&key!["q", 0u64], KvValue::U64(0));
    write.commit().await.expect("seed");
    db
}

fn selectors() -> Vec<ListSelector> {
    vec![
        ListSelector::Prefix(key!["p"]),
        ListSelector::Prefix(key![]),
        ListSelector::PrefixStart {
            prefix: key!["p"],
            start: key!["p", 3u64],
        },
        ListSelector::PrefixEnd {
            prefix: key!["p"],
            end: key!["p", 9u64],
        },
        ListSelector::Range {
            start: key!["p", 2u64],
            end: key!["q", 0u64],
        },
        ListSelector::Range {
            start: key!["p", 4u64, "sub"],
            end: key!["p", 8u64],
        },
    ]
}

async fn list_all(db: &Database, selector: &ListSelector, options: ListOptions) -> Vec<Key> {
    db.list(selector.clone(), options)
        .expect("list")
        .collect()
        .await
        .expect("collect")
        .into_iter()
        .map(|e| e.key)
        .collect()
}

#[tokio::test]
async fn resuming_from_a_cursor_gives_exactly_the_rest() {
    let db = seeded().await;
    for selector in selectors() {
        for reverse in [false, true] {
            for batch_size in [1, 3, 1000] {
                let options = ListOptions {
                    reverse,
                    batch_size,
                    ..ListOptions::default()
                };
                let all = list_all(&db, &selector, options.clone()).await;
                assert!(!all.is_empty());
                for split in 1..=all.len() {
                    let mut it = db.list(selector.clone(), options.clone()).expect("list");
                    assert_eq!(it.cursor(), "", "no cursor before the first entry");
                    for expected in &all[..split] {
                        let entry = it.next().await.expect("entry").expect("entry");
                        assert_eq!(&entry.key, expected);
                    }
                    let resumed = ListOptions {
                        cursor: Some(it.cursor()),
                        ..options.clone()
                    };
                    let rest = list_all(&db, &selector, resumed).await;
                    assert_eq!(
                        rest,
                        all[split..],
                        "{selector:?}, reverse {reverse}, batch {batch_size}, split {split}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn paging_with_a_limit_visits_every_entry_once() {
    let db = seeded().await;
    for selector in selectors() {
        for reverse in [false, true] {
            for page_size in [1, 2, 5] {
                let all = list_all(
                    &db,
                    &selector,
                    ListOptions {
                        reverse,
                        ..ListOptions::default()
                    },
                )
                .await;
                let mut paged = Vec::new();
                let mut cursor = None;
                loop {
                    let mut it = db
                        .list(
                            selector.clone(),
                            ListOptions {
                                limit: Some(page_size),
                                reverse,
                                cursor: cursor.clone(),
                                ..ListOptions::default()
                            },
                        )
                        .expect("list");
                    let mut page = Vec::new();
                    while let Some(entry) = it.next().await {
                        page.push(entry.expect("entry").key);
                    }
                    assert!(page.len() <= page_size);
                    if page.is_empty() {
                        break;
                    }
                    cursor = Some(it.cursor());
                    paged.extend(page);
                }
                assert_eq!(
                    paged, all,
                    "{selector:?}, reverse {reverse}, page {page_size}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_cursor_names_a_position_not_a_snapshot() {
    let db = seeded().await;
    let selector = ListSelector::Prefix(key!["p"]);
    let mut it = db
        .list(selector.clone(), ListOptions::default())
        .expect("list");
    let mut last = None;
    for _ in 0..3 {
        last = Some(it.next().await.expect("entry").expect("entry").key);
    }
    assert_eq!(last, Some(key!["p", 1u64]));
    let cursor = it.cursor();

    db.set(&key!["p", 0u64, "late"], KvValue::U64(0))
        .await
        .expect("set before");
    db.set(&key!["p", 1u64, "late"], KvValue::U64(0))
        .await
        .expect("set after");
    db.delete(&key!["p", 2u64]).await.expect("delete");
    let rest = list_all(
        &db,
        &selector,
        ListOptions {
            cursor: Some(cursor),
            ..ListOptions::default()
        },
    )
    .await;
    assert_eq!(rest.first(), Some(&key!["p", 1u64, "late"]));
    assert_eq!(rest.get(1), Some(&key!["p", 3u64]));
    assert!(!rest.contains(&key!["p", 0u64, "late"]));
}

#[tokio::test]
async fn malformed_or_out_of_range_cursors_are_refused() {
    let db = seeded().await;
    // Cursors are relative to the selector's common prefix, here ["p"]'s encoding followed by
    // the integer tag: a tail naming integer 9 lies past the end, integer 1 before the start.
    let selector = ListSelector::Range {
        start: key!["p", 4u64, "sub"],
        end: key!["p", 8u64],
    };
    let tail = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE.encode(bytes);
    for cursor in ["not base64 !".to_owned(), tail(&[0x09]), tail(&[0x01])] {
        for reverse in [false, true] {
            let options = ListOptions {
                cursor: Some(cursor.clone()),
                reverse,
                ..ListOptions::default()
            };
            match db.list(selector.clone(), options) {
                Err(err @ StoreError::InvalidArgument(_)) => {
                    assert!(err.to_string().contains("cursor"), "{err}");
                }
                Err(other) => panic!("cursor {cursor:?}: expected InvalidArgument, got {other:?}"),
                Ok(_) => panic!("cursor {cursor:?} must be refused"),
            }
        }
    }
    // A tail inside the range is a valid position: [0x06] completes ["p", 6].
    let options = ListOptions {
        cursor: Some(tail(&[0x06])),
        ..ListOptions::default()
    };
    let rest = list_all(&db, &selector, options).await;
    assert_eq!(rest, vec![key!["p", 7u64]]);
}
