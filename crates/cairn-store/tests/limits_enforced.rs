//! Requests outside the bounds of `Limits` (kv-connect.md §6) are refused before they reach
//! the pipeline with `StoreError::Limit` and a message naming the bound: oversized keys and
//! values, too many checks or mutations, too large a write in total, `get_many` of more than
//! ten keys, snapshot reads of too many ranges or entries. Nothing of a refused write is
//! stored. A key with an integer part over 255 bytes cannot be encoded: every operation that
//! takes one answers `StoreError::InvalidKey`, none panics, and 255 bytes still work. Limits
//! are configurable, more generously than Deno's.

mod harness;

use cairn_model::{key, Key, KeyPart, Limits};
use cairn_store::{
    Database, KvValue, ListOptions, ListSelector, ManualClock, ReadRange, StoreError,
};
use cairn_store::{Kv, KvList};
use harness::{changelog_versionstamps, config, memory_db, CLOCK_START_MS};

fn assert_limit(result: Result<impl std::fmt::Debug, StoreError>, needle: &str) {
    match result {
        Err(err @ StoreError::Limit(_)) => {
            let message = err.to_string();
            assert!(
                message.contains(needle),
                "{message:?} should mention {needle:?}"
            );
        }
        other => panic!("expected a limit error mentioning {needle:?}, got {other:?}"),
    }
}

fn int_part(n: i64) -> KeyPart {
    KeyPart::from(n)
}

/// An integer key part whose magnitude takes `bytes` bytes: 2^(8·bytes) − 1.
fn int_of_bytes(bytes: u32) -> KeyPart {
    let (KeyPart::Int(two), KeyPart::Int(one)) = (int_part(2), int_part(1)) else {
        unreachable!("integer parts");
    };
    KeyPart::Int(two.pow(8 * bytes) - one)
}

#[tokio::test]
async fn oversized_writes_are_refused_and_write_nothing() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    db.set(&key!["seed"], KvValue::U64(0)).await.expect("set");
    let log = changelog_versionstamps(&db);

    let big_key = key![vec![7u8; 3000]];
    assert_limit(
        db.set(&big_key, KvValue::U64(0)).await,
        "exceeds the limit of 2048 bytes",
    );
    assert_limit(
        db.atomic().check(&big_key, None).commit().await,
        "exceeds the limit of 2048 bytes",
    );
    assert_limit(
        db.set(&key!["v"], KvValue::Bytes(vec![0; 65_537])).await,
        "value of 65537 bytes exceeds the limit of 65536 bytes",
    );
    assert_limit(
        db.set(&key!["v"], KvValue::V8(vec![0; 65_537])).await,
        "exceeds the limit of 65536 bytes",
    );
    // Exactly at the bounds is fine.
    db.set(&key!["v"], KvValue::Bytes(vec![0; 65_536]))
        .await
        .expect("a value of exactly 64 KiB");
    let mut at_bound = key!["k"];
    let encoded_len = |k: &Key| k.encode().len();
    at_bound
        .0
        .push(KeyPart::Bytes(vec![1; 2048 - encoded_len(&at_bound) - 2]));
    assert_eq!(encoded_len(&at_bound), 2048);
    db.set(&at_bound, KvValue::U64(0))
        .await
        .expect("a key of exactly 2048 bytes");

    let mut many = db.atomic();
    for i in 0..1001u64 {
        many = many.set(&key!["m", i], KvValue::U64(i));
    }
    assert_limit(
        many.commit().await,
        "too many mutations: 1001 (at most 1000",
    );
    let mut checks = db.atomic();
    for i in 0..101u64 {
        checks = checks.check(&key!["c", i], None);
    }
    assert_limit(
        checks.set(&key!["c"], KvValue::U64(0)).commit().await,
        "too many checks: 101 (at most 100)",
    );
    let mut huge = db.atomic();
    for i in 0..13u64 {
        huge = huge.set(&key!["h", i], KvValue::Bytes(vec![0; 65_536]));
    }
    assert_limit(huge.commit().await, "total atomic write size");
    assert_limit(
        db.atomic()
            .set(&Key::default(), KvValue::U64(0))
            .commit()
            .await,
        "key cannot be empty",
    );

    for prefix in ["m", "c", "h"] {
        let listed = db
            .list(ListSelector::Prefix(key![prefix]), ListOptions::default())
            .expect("list")
            .collect()
            .await
            .expect("collect");
        assert!(
            listed.is_empty(),
            "nothing of a refused write under {prefix:?}"
        );
    }
    assert_eq!(
        changelog_versionstamps(&db).len(),
        log.len() + 2,
        "only the two writes at the bounds committed"
    );
}

#[tokio::test]
async fn oversized_reads_are_refused() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let keys: Vec<Key> = (0..11u64).map(|i| key!["k", i]).collect();
    assert_limit(db.get_many(&keys).await, "too many keys: 11 (at most 10)");
    assert_eq!(db.get_many(&keys[..10]).await.expect("ten keys").len(), 10);

    let range = |limit| ReadRange {
        start: vec![0x02],
        end: vec![0x03],
        limit,
        reverse: false,
    };
    assert_limit(
        db.snapshot_read(&vec![range(1); 11]).await,
        "too many ranges: 11",
    );
    assert_limit(
        db.snapshot_read(&[range(600), range(401)]).await,
        "too many entries requested: 1001",
    );
    assert_limit(
        db.snapshot_read(&[ReadRange {
            start: vec![0x02; 2050],
            ..range(1)
        }])
        .await,
        "key of 2050 bytes exceeds the limit of 2049 bytes",
    );
    db.snapshot_read(&[range(500), range(500)])
        .await
        .expect("exactly 1000 entries");

    for batch_size in [0, 1001] {
        let options = ListOptions {
            batch_size,
            ..ListOptions::default()
        };
        match db.list(ListSelector::Prefix(key!["k"]), options) {
            Err(err @ StoreError::InvalidArgument(_)) => {
                assert!(err.to_string().contains("batch size"), "{err}");
            }
            Err(other) => panic!("expected InvalidArgument, got {other:?}"),
            Ok(_) => panic!("batch size {batch_size} must be refused"),
        }
    }
}

#[tokio::test]
async fn integer_key_parts_over_255_bytes_are_invalid_keys() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let too_big = Key(vec![KeyPart::from("n"), int_of_bytes(256)]);
    let negative = {
        let KeyPart::Int(n) = int_of_bytes(300) else {
            unreachable!("integer part");
        };
        Key(vec![KeyPart::Int(-n)])
    };
    let assert_invalid = |result: Result<(), StoreError>| match result {
        Err(err @ StoreError::InvalidKey(_)) => {
            assert!(err.to_string().contains("limited to 255 bytes"), "{err}");
        }
        other => panic!("expected InvalidKey, got {other:?}"),
    };
    for k in [&too_big, &negative] {
        assert_invalid(db.get(k).await.map(|_| ()));
        assert_invalid(db.get_many(&[key!["fine"], k.clone()]).await.map(|_| ()));
        assert_invalid(db.set(k, KvValue::U64(0)).await.map(|_| ()));
        assert_invalid(db.delete(k).await.map(|_| ()));
        assert_invalid(db.atomic().check(k, None).commit().await.map(|_| ()));
        assert_invalid(
            db.atomic()
                .set(&key!["fine"], KvValue::U64(0))
                .sum(k, 1)
                .commit()
                .await
                .map(|_| ()),
        );
        assert_invalid(
            db.list(ListSelector::Prefix(k.clone()), ListOptions::default())
                .map(|_| ()),
        );
        assert_invalid(
            db.list(
                ListSelector::Range {
                    start: key![],
                    end: k.clone(),
                },
                ListOptions::default(),
            )
            .map(|_| ()),
        );
    }
    assert_eq!(
        db.get(&key!["fine"]).await.expect("get"),
        None,
        "nothing written"
    );

    // 255 bytes is the largest integer a key holds.
    let largest = Key(vec![KeyPart::from("n"), int_of_bytes(255)]);
    db.set(&largest, KvValue::U64(1)).await.expect("set");
    let listed = db
        .list(ListSelector::Prefix(key!["n"]), ListOptions::default())
        .expect("list")
        .collect()
        .await
        .expect("collect");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, largest);
}

#[tokio::test]
async fn limits_can_be_configured_more_generously() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let mut limits = Limits::default();
    limits.get_many_keys_max = 20;
    limits.value_bytes_max = 100_000;
    let db = Database::open_in_memory_with(config(&clock).limits(limits)).expect("open");
    let keys: Vec<Key> = (0..20u64).map(|i| key!["k", i]).collect();
    assert_eq!(db.get_many(&keys).await.expect("20 keys").len(), 20);
    db.set(&key!["v"], KvValue::Bytes(vec![0; 100_000]))
        .await
        .expect("a larger value");
    assert_limit(
        db.set(&key!["v"], KvValue::Bytes(vec![0; 100_001])).await,
        "exceeds the limit of 100000 bytes",
    );
}
