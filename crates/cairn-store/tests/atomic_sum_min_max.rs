//! `sum`, `min` and `max` through the database as Deno clients expect them (kv-connect.md §5):
//! `KvU64` sums wrap modulo 2^64, `min`/`max` compare unsigned, a missing (or expired) key
//! takes the operand; V8 bigint and number sums honour `sum_min`/`sum_max`, either clamping or
//! failing the whole write with denokv's message; and every mutation of a write sees the
//! results of the mutations before it in the same write.

mod harness;

use cairn_store::Kv;
use std::time::Duration;

use cairn_model::v8::{encode_bigint, encode_number};
use cairn_model::{key, Key, KeyPart, MutationKind};
use cairn_store::{Database, KvValue, ManualClock, StoreError};
use harness::{memory_db, CLOCK_START_MS};

/// The V8 encoding of the bigint `n`, as Deno writes it.
fn bigint(n: i64) -> KvValue {
    let KeyPart::Int(n) = KeyPart::from(n) else {
        unreachable!("an i64 is an integer key part");
    };
    KvValue::V8(encode_bigint(&n))
}

fn number(x: f64) -> KvValue {
    KvValue::V8(encode_number(x))
}

fn v8_sum(value: KvValue, min: Option<KvValue>, max: Option<KvValue>, clamp: bool) -> MutationKind {
    MutationKind::Sum {
        value,
        min,
        max,
        clamp,
    }
}

async fn value(db: &Database, k: &Key) -> Option<KvValue> {
    db.get(k).await.expect("get").map(|e| e.value)
}

async fn mutate(db: &Database, k: &Key, kind: MutationKind) -> Result<(), StoreError> {
    db.atomic()
        .mutate(k, kind, None)
        .commit()
        .await
        .map(|r| assert!(r.is_committed(), "no checks, so committed: {r:?}"))
}

#[tokio::test]
async fn u64_sum_wraps_and_min_max_compare_unsigned() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let k = key!["n"];

    db.atomic()
        .sum(&k, u64::MAX - 1)
        .commit()
        .await
        .expect("sum");
    assert_eq!(value(&db, &k).await, Some(KvValue::U64(u64::MAX - 1)));
    db.atomic().sum(&k, 3).commit().await.expect("sum");
    assert_eq!(
        value(&db, &k).await,
        Some(KvValue::U64(1)),
        "wraps modulo 2^64"
    );

    db.atomic().max(&k, u64::MAX).commit().await.expect("max");
    assert_eq!(value(&db, &k).await, Some(KvValue::U64(u64::MAX)));
    db.atomic().max(&k, 5).commit().await.expect("max");
    assert_eq!(
        value(&db, &k).await,
        Some(KvValue::U64(u64::MAX)),
        "unsigned: u64::MAX is the largest"
    );
    db.atomic().min(&k, 1 << 63).commit().await.expect("min");
    assert_eq!(value(&db, &k).await, Some(KvValue::U64(1 << 63)));
    db.atomic().min(&k, 7).commit().await.expect("min");
    assert_eq!(value(&db, &k).await, Some(KvValue::U64(7)));

    // Missing keys take the operand.
    for (name, op) in [("sum", 0u8), ("min", 1), ("max", 2)] {
        let fresh = key!["fresh", name];
        let atomic = db.atomic();
        let atomic = match op {
            0 => atomic.sum(&fresh, 42),
            1 => atomic.min(&fresh, 42),
            _ => atomic.max(&fresh, 42),
        };
        atomic.commit().await.expect("commit");
        assert_eq!(value(&db, &fresh).await, Some(KvValue::U64(42)), "{name}");
    }
}

#[tokio::test]
async fn mutations_of_one_write_see_each_other() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    let k = key!["n"];
    db.atomic()
        .set(&k, KvValue::U64(10))
        .sum(&k, 5)
        .max(&k, 3)
        .min(&k, 12)
        .sum(&k, u64::MAX) // -1
        .commit()
        .await
        .expect("commit");
    assert_eq!(value(&db, &k).await, Some(KvValue::U64(11)));

    // A key that expired counts as missing for the u64 operations.
    db.set_expiring(
        &k,
        KvValue::Bytes(b"gone soon".to_vec()),
        Duration::from_millis(10),
    )
    .await
    .expect("set");
    clock.advance(10);
    db.atomic()
        .sum(&k, 4)
        .commit()
        .await
        .expect("sum on expired");
    assert_eq!(value(&db, &k).await, Some(KvValue::U64(4)));
}

#[tokio::test]
async fn bigint_sums_check_or_clamp_their_bounds() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let k = key!["big"];
    let (lo, hi) = (Some(bigint(0)), Some(bigint(10)));

    // A missing key takes the operand; its bounds are not applied to the first value.
    mutate(&db, &k, v8_sum(bigint(5), lo.clone(), hi.clone(), false))
        .await
        .expect("first sum");
    assert_eq!(value(&db, &k).await, Some(bigint(5)));

    mutate(&db, &k, v8_sum(bigint(5), lo.clone(), hi.clone(), false))
        .await
        .expect("reaches the upper bound exactly");
    assert_eq!(value(&db, &k).await, Some(bigint(10)));

    let err = mutate(&db, &k, v8_sum(bigint(1), lo.clone(), hi.clone(), false))
        .await
        .expect_err("above the upper bound without clamp");
    assert!(matches!(err, StoreError::Mutation(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "The result of a Sum operation would exceed its range limit"
    );
    assert_eq!(value(&db, &k).await, Some(bigint(10)), "unchanged");

    mutate(&db, &k, v8_sum(bigint(1000), lo.clone(), hi.clone(), true))
        .await
        .expect("clamped");
    assert_eq!(value(&db, &k).await, Some(bigint(10)));
    mutate(&db, &k, v8_sum(bigint(-1000), lo.clone(), hi.clone(), true))
        .await
        .expect("clamped");
    assert_eq!(value(&db, &k).await, Some(bigint(0)));
    let err = mutate(&db, &k, v8_sum(bigint(-1), lo, hi, false))
        .await
        .expect_err("below the lower bound without clamp");
    assert_eq!(
        err.to_string(),
        "The result of a Sum operation would exceed its range limit"
    );

    // Unbounded bigint sums go past 64 bits.
    let huge = i64::MAX;
    mutate(&db, &k, v8_sum(bigint(huge), None, None, false))
        .await
        .expect("sum");
    mutate(&db, &k, v8_sum(bigint(huge), None, None, false))
        .await
        .expect("sum");
    let expected = {
        let KeyPart::Int(h) = KeyPart::from(huge) else {
            unreachable!("integer part");
        };
        KvValue::V8(encode_bigint(&(h.clone() + h)))
    };
    assert_eq!(value(&db, &k).await, Some(expected));

    // Mixed types fail with denokv's messages.
    let err = mutate(&db, &k, v8_sum(number(1.0), None, None, false))
        .await
        .expect_err("number onto bigint");
    assert_eq!(err.to_string(), "Cannot sum BigInt with Number");
    let err = mutate(&db, &k, v8_sum(bigint(1), Some(number(0.0)), None, false))
        .await
        .expect_err("bound of another type");
    assert_eq!(
        err.to_string(),
        "Min/max parameters have different types than the operand"
    );
}

#[tokio::test]
async fn number_sums_and_bigints_onto_u64() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let k = key!["float"];
    mutate(&db, &k, v8_sum(number(0.5), None, None, false))
        .await
        .expect("first");
    mutate(
        &db,
        &k,
        v8_sum(number(0.25), Some(number(-1.0)), Some(number(1.0)), false),
    )
    .await
    .expect("in range");
    assert_eq!(value(&db, &k).await, Some(number(0.75)));
    mutate(
        &db,
        &k,
        v8_sum(number(5.0), Some(number(-1.0)), Some(number(1.0)), true),
    )
    .await
    .expect("clamped");
    assert_eq!(value(&db, &k).await, Some(number(1.0)));

    // A bigint operand onto a stored KvU64, unbounded, is a wrapping u64 sum (old clients).
    let u = key!["u64"];
    db.set(&u, KvValue::U64(u64::MAX)).await.expect("set");
    mutate(&db, &u, v8_sum(bigint(2), None, None, false))
        .await
        .expect("compat sum");
    assert_eq!(value(&db, &u).await, Some(KvValue::U64(1)));
    let err = mutate(&db, &u, v8_sum(bigint(-1), None, None, false))
        .await
        .expect_err("negative bigint onto KvU64");
    assert_eq!(err.to_string(), "Cannot sum KvU64 with BigInt");
    assert_eq!(value(&db, &u).await, Some(KvValue::U64(1)));

    // Bounds are refused with a KvU64 operand.
    let err = mutate(
        &db,
        &u,
        v8_sum(KvValue::U64(1), None, Some(KvValue::U64(5)), false),
    )
    .await
    .expect_err("bounds with KvU64");
    assert_eq!(
        err.to_string(),
        "Cannot use min/max parameters with KvU64 operands"
    );
}
