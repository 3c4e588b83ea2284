//! One behaviour suite written against the [`Kv`] trait only, run on the embedded database
//! and on cairn-client against a real `cairn serve`: the same code, unchanged, must see the
//! same behaviour from a directory and from a URL.
//!
//! Each check uses its own key prefix, so the checks share one database. Waits (expiry,
//! watch) are bounded polls, never assertions on elapsed time.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use cairn_model::{
    key, CommitResult, Entry, Key, KeyPart, Kv, KvList, KvValue, KvWatch, ListOptions,
    ListSelector, MutationKind,
};
use num_bigint::BigInt;

/// Longest bounded wait of a check (expiry, watch).
const WAIT: Duration = Duration::from_secs(30);

/// Runs every check; panics with the check's name at the first failure.
pub async fn run_all<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    set_get_delete(db).await;
    key_types_and_order(db).await;
    get_many(db).await;
    list(db).await;
    checks(db).await;
    racing_writers(db).await;
    sum_min_max(db).await;
    versionstamped_keys(db).await;
    expiry(db).await;
    watch(db).await;
    limits(db).await;
}

fn bytes(b: &[u8]) -> KvValue {
    KvValue::Bytes(b.to_vec())
}

async fn value<K: Kv>(db: &K, key: &Key) -> Option<KvValue>
where
    K::Error: Debug,
{
    db.get(key).await.expect("get").map(|e| e.value)
}

async fn list_all<K: Kv>(db: &K, selector: ListSelector, options: ListOptions) -> Vec<Entry>
where
    K::Error: Debug,
{
    db.list(selector, options)
        .expect("list")
        .collect()
        .await
        .expect("listing")
}

async fn set_get_delete<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    let k = key!["basics", "alice"];
    assert_eq!(db.get(&k).await.expect("get"), None);
    let stamp = db.set(&k, bytes(b"hi")).await.expect("set");
    let entry = db.get(&k).await.expect("get").expect("just set");
    assert_eq!(entry.value, bytes(b"hi"));
    assert_eq!(entry.versionstamp, stamp);
    assert_eq!(entry.key, k);
    for v in [
        KvValue::U64(u64::MAX),
        KvValue::V8(vec![0xff, 0x0f, 0x22, 0x01, 0x78]),
    ] {
        db.set(&k, v.clone()).await.expect("set");
        assert_eq!(value(db, &k).await, Some(v));
    }
    let later = db.delete(&k).await.expect("delete");
    assert!(later > stamp, "versionstamps increase");
    assert_eq!(db.get(&k).await.expect("get"), None);
}

async fn key_types_and_order<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    // In the cross-type order: bytes < string < integer < float < false < true.
    let parts: Vec<KeyPart> = vec![
        KeyPart::Bytes(vec![]),
        KeyPart::Bytes(vec![0, 0xff, 1]),
        KeyPart::String(String::new()),
        KeyPart::String("a\0b ünï".into()),
        KeyPart::Int(BigInt::from(-1) << 100),
        KeyPart::Int(BigInt::from(-5)),
        KeyPart::Int(BigInt::from(0)),
        KeyPart::Int(BigInt::from(300)),
        KeyPart::Int(BigInt::from(1) << 100),
        KeyPart::Float(f64::NEG_INFINITY),
        KeyPart::Float(-1.5),
        KeyPart::Float(0.0),
        KeyPart::Float(1.5),
        KeyPart::Float(f64::INFINITY),
        KeyPart::Bool(false),
        KeyPart::Bool(true),
    ];
    // Written in reverse, so only the store's order can put them right.
    for (i, part) in parts.iter().enumerate().rev() {
        let k = Key(vec![KeyPart::from("types"), part.clone()]);
        db.set(&k, KvValue::U64(i as u64)).await.expect("set");
        assert_eq!(value(db, &k).await, Some(KvValue::U64(i as u64)), "{k}");
    }
    let listed = list_all(
        db,
        ListSelector::Prefix(key!["types"]),
        ListOptions::default(),
    )
    .await;
    let order: Vec<KvValue> = listed.iter().map(|e| e.value.clone()).collect();
    let expected: Vec<KvValue> = (0..parts.len() as u64).map(KvValue::U64).collect();
    assert_eq!(order, expected, "the cross-type order");
    for (entry, part) in listed.iter().zip(&parts) {
        assert_eq!(entry.key.0.get(1), Some(part), "keys round trip");
    }
}

async fn get_many<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    db.set(&key!["many", 1], KvValue::U64(1))
        .await
        .expect("set");
    db.set(&key!["many", 3], KvValue::U64(3))
        .await
        .expect("set");
    let keys: Vec<Key> = (1..=3).map(|i| key!["many", i]).collect();
    let found = db.get_many(&keys).await.expect("get_many");
    let values: Vec<Option<KvValue>> = found.into_iter().map(|e| e.map(|e| e.value)).collect();
    assert_eq!(values, [Some(KvValue::U64(1)), None, Some(KvValue::U64(3))]);
    let eleven: Vec<Key> = (0..11).map(|i| key!["many", i]).collect();
    assert!(db.get_many(&eleven).await.is_err(), "11 keys are refused");
}

async fn list<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    const N: u64 = 1500;
    for chunk in (0..N).collect::<Vec<_>>().chunks(500) {
        let mut op = db.atomic();
        for &i in chunk {
            op = op.set(&key!["list", i], KvValue::U64(i));
        }
        assert!(op.commit().await.expect("commit").is_committed());
    }
    let numbers = |entries: &[Entry]| -> Vec<u64> {
        entries
            .iter()
            .map(|e| match e.value {
                KvValue::U64(n) => n,
                ref other => panic!("unexpected value {other:?}"),
            })
            .collect()
    };
    let prefix = || ListSelector::Prefix(key!["list"]);

    let all = list_all(db, prefix(), ListOptions::default()).await;
    assert_eq!(
        numbers(&all),
        (0..N).collect::<Vec<_>>(),
        "prefix, more than 1,000"
    );

    let reverse = ListOptions {
        reverse: true,
        limit: Some(3),
        ..Default::default()
    };
    assert_eq!(
        numbers(&list_all(db, prefix(), reverse).await),
        [1499, 1498, 1497]
    );

    let range = ListSelector::Range {
        start: key!["list", 10],
        end: key!["list", 13],
    };
    assert_eq!(
        numbers(&list_all(db, range, ListOptions::default()).await),
        [10, 11, 12]
    );
    let start = ListSelector::PrefixStart {
        prefix: key!["list"],
        start: key!["list", 1497],
    };
    assert_eq!(
        numbers(&list_all(db, start, ListOptions::default()).await),
        [1497, 1498, 1499]
    );
    let end = ListSelector::PrefixEnd {
        prefix: key!["list"],
        end: key!["list", 2],
    };
    assert_eq!(
        numbers(&list_all(db, end, ListOptions::default()).await),
        [0, 1]
    );

    // Pages of 7 with small batches, resumed from cursors: every entry once, in order.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let options = ListOptions {
            limit: Some(7),
            batch_size: 3,
            cursor: cursor.take(),
            ..Default::default()
        };
        let mut it = db.list(prefix(), options).expect("list");
        let mut page = Vec::new();
        while let Some(entry) = it.next().await {
            page.push(entry.expect("entry"));
        }
        if page.is_empty() {
            break;
        }
        seen.extend(numbers(&page));
        cursor = Some(it.cursor());
        if seen.len() > 70 {
            break;
        }
    }
    assert_eq!(
        seen,
        (0..seen.len() as u64).collect::<Vec<_>>(),
        "cursor pages"
    );

    let big_batch = ListOptions {
        batch_size: 1000,
        ..Default::default()
    };
    assert_eq!(list_all(db, prefix(), big_batch).await.len(), N as usize);
    let too_big = ListOptions {
        batch_size: 1001,
        ..Default::default()
    };
    assert!(
        db.list(prefix(), too_big).is_err(),
        "batch size over the read limit"
    );
    let bad_cursor = ListOptions {
        cursor: Some("not base64!".into()),
        ..Default::default()
    };
    assert!(db.list(prefix(), bad_cursor).is_err(), "malformed cursor");
}

async fn checks<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    let k = key!["checks", "k"];
    let created = db
        .atomic()
        .check(&k, None)
        .set(&k, bytes(b"1"))
        .commit()
        .await;
    let stamp = created
        .expect("commit")
        .versionstamp()
        .expect("must-not-exist holds");
    let again = db
        .atomic()
        .check(&k, None)
        .set(&k, bytes(b"2"))
        .commit()
        .await;
    assert_eq!(
        again.expect("commit"),
        CommitResult::CheckFailed {
            failed_checks: vec![0],
            reason: None,
        }
    );
    let fresh = db
        .atomic()
        .check(&k, Some(stamp))
        .set(&k, bytes(b"3"))
        .commit()
        .await;
    assert!(fresh.expect("commit").is_committed(), "fresh versionstamp");
    let stale = db
        .atomic()
        .check(&k, Some(stamp))
        .set(&k, bytes(b"4"))
        .commit()
        .await;
    assert!(!stale.expect("commit").is_committed(), "stale versionstamp");
    assert_eq!(value(db, &k).await, Some(bytes(b"3")));
}

async fn racing_writers<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    let k = key!["race", "slot"];
    let tasks: Vec<_> = (0..16u64)
        .map(|i| {
            let db = db.clone();
            let k = k.clone();
            tokio::spawn(async move {
                db.atomic()
                    .check(&k, None)
                    .set(&k, KvValue::U64(i))
                    .commit()
                    .await
                    .expect("commit")
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if task.await.expect("task").is_committed() {
            winners.push(i as u64);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    assert_eq!(value(db, &k).await, Some(KvValue::U64(winners[0])));
}

async fn sum_min_max<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    let k = key!["counters", "n"];
    db.set(&k, KvValue::U64(u64::MAX - 1)).await.expect("set");
    db.atomic().sum(&k, 3).commit().await.expect("sum");
    assert_eq!(value(db, &k).await, Some(KvValue::U64(1)), "sum wraps");
    db.atomic().max(&k, 10).commit().await.expect("max");
    db.atomic().min(&k, 7).commit().await.expect("min");
    assert_eq!(value(db, &k).await, Some(KvValue::U64(7)));
    let absent = key!["counters", "fresh"];
    db.atomic().min(&absent, 9).commit().await.expect("min");
    assert_eq!(
        value(db, &absent).await,
        Some(KvValue::U64(9)),
        "absent takes the operand"
    );

    // A type mismatch fails the whole write: the set before it is not applied either.
    let text = key!["counters", "text"];
    let side = key!["counters", "side-effect"];
    db.set(&text, bytes(b"not a number")).await.expect("set");
    let failed = db
        .atomic()
        .set(&side, KvValue::U64(1))
        .sum(&text, 1)
        .commit()
        .await
        .expect_err("sum on bytes must fail");
    let message = failed.to_string();
    assert!(message.contains("non-U64"), "{message}");
    assert_eq!(value(db, &side).await, None, "all or nothing");
}

async fn versionstamped_keys<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    let prefix = key!["stamped"];
    let kind = MutationKind::SetSuffixVersionstampedKey(bytes(b"v"));
    let result = db
        .atomic()
        .mutate(&prefix, kind, None)
        .commit()
        .await
        .expect("commit");
    let stamp = result.versionstamp().expect("committed");
    let listed = list_all(db, ListSelector::Prefix(prefix), ListOptions::default()).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].key,
        key!["stamped", stamp.to_string()],
        "the key ends with the commit's versionstamp"
    );
}

async fn expiry<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    let k = key!["expiry", "short"];
    let keep = key!["expiry", "kept"];
    db.set_expiring(&k, bytes(b"x"), Duration::from_millis(200))
        .await
        .expect("set");
    db.set_expiring(&keep, bytes(b"y"), Duration::from_secs(3600))
        .await
        .expect("set");
    let deadline = Instant::now() + WAIT;
    while db.get(&k).await.expect("get").is_some() {
        assert!(Instant::now() < deadline, "expired key still visible");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(value(db, &keep).await, Some(bytes(b"y")));
    let listed = list_all(
        db,
        ListSelector::Prefix(key!["expiry"]),
        ListOptions::default(),
    )
    .await;
    assert_eq!(listed.len(), 1, "expired entries are not listed");
}

async fn next_report<W: KvWatch>(watch: &mut W) -> Vec<Option<Entry>>
where
    W::Error: Debug,
{
    tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("a watch report within the bound")
        .expect("watch")
}

async fn watch<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    let a = key!["watch", "a"];
    let b = key!["watch", "b"];
    db.set(&a, KvValue::U64(1)).await.expect("set");
    let mut watch = db.watch(vec![a.clone(), b.clone()]).expect("watch");
    let initial = next_report(&mut watch).await;
    assert_eq!(
        initial[0].as_ref().map(|e| &e.value),
        Some(&KvValue::U64(1))
    );
    assert_eq!(initial[1], None);
    db.set(&b, KvValue::U64(2)).await.expect("set");
    let second = next_report(&mut watch).await;
    assert_eq!(second[1].as_ref().map(|e| &e.value), Some(&KvValue::U64(2)));
    db.delete(&a).await.expect("delete");
    let third = next_report(&mut watch).await;
    assert_eq!(third[0], None, "deletion reported");
    assert!(third[1].is_some());
    assert!(
        db.watch((0..11).map(|i| key!["w", i]).collect()).is_err(),
        "11 keys"
    );
}

async fn limits<K: Kv>(db: &K)
where
    K::Error: Debug,
{
    // The largest value is accepted; one byte more is refused with a reason.
    let k = key!["limits", "value"];
    db.set(&k, KvValue::Bytes(vec![7; 65_536]))
        .await
        .expect("largest value");
    let err = db
        .set(&k, KvValue::Bytes(vec![7; 65_537]))
        .await
        .expect_err("value over the limit");
    assert!(err.to_string().contains("value of 65537 bytes"), "{err}");
    // A key of 2,048 encoded bytes: a string part of 2,046 characters plus tag and end.
    let largest = Key(vec![KeyPart::String("k".repeat(2046))]);
    db.set(&largest, KvValue::U64(1))
        .await
        .expect("largest key");
    let over = Key(vec![KeyPart::String("k".repeat(2047))]);
    let err = db
        .set(&over, KvValue::U64(1))
        .await
        .expect_err("key over the limit");
    assert!(err.to_string().contains("2049 bytes"), "{err}");
    let mut op = db.atomic();
    for i in 0..1001u64 {
        op = op.set(&key!["limits", "m", i], KvValue::U64(i));
    }
    let err = op.commit().await.expect_err("1,001 mutations");
    assert!(err.to_string().contains("too many mutations"), "{err}");
    let listed = list_all(
        db,
        ListSelector::Prefix(key!["limits", "m"]),
        ListOptions::default(),
    )
    .await;
    assert!(listed.is_empty(), "a refused write writes nothing");
}
