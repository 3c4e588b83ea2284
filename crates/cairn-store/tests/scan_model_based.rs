//! Keys-only listings, counts and aggregates against a reference model, on random data: u64s,
//! V8 numbers (doubles, small integers, NaN) and bigints, JSON numbers as bytes and as V8
//! strings, objects with a numeric field, other values; some expired. Every selector shape
//! (prefix, prefix with start or end, range), both directions, limits, batch sizes and
//! cursors for `list_keys` (which must list exactly what `list` lists); counts and aggregates
//! over the same selectors, whole and in pages of a few entries (what the server answers per
//! request), equal the model's.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_model::{encode_key, key, Aggregate, Key, ListSelector, Number};
use cairn_store::{
    AggregateOptions, Database, Kv, KvKeyList, KvList, KvValue, ListOptions, ManualClock,
    ScanBudget,
};
use num_bigint::BigInt;
use proptest::prelude::*;

use harness::CLOCK_START_MS;

#[derive(Debug, Clone)]
enum Val {
    U64(u64),
    Double(f64),
    SmallInt(i8),
    BigInt(i64),
    JsonBytes(i32),
    JsonText(f64),
    Field(i8),
    Other,
}

impl Val {
    fn encode(&self) -> KvValue {
        let v8_string = |text: &str| {
            let mut out = vec![0xff, 0x0f, b'"', text.len() as u8];
            out.extend_from_slice(text.as_bytes());
            KvValue::V8(out)
        };
        match self {
            Val::U64(n) => KvValue::U64(*n),
            Val::Double(x) => KvValue::V8(cairn_model::v8::encode_number(*x)),
            Val::SmallInt(n) => {
                let n = i32::from(*n);
                KvValue::V8(vec![0xff, 0x0f, b'I', ((n << 1) ^ (n >> 31)) as u8])
            }
            Val::BigInt(n) => KvValue::V8(cairn_model::v8::encode_bigint(&BigInt::from(*n))),
            Val::JsonBytes(n) => KvValue::Bytes(n.to_string().into_bytes()),
            Val::JsonText(x) => v8_string(&format!("{x:?}")),
            Val::Field(n) => KvValue::Bytes(format!("{{\"p\": {{\"q\": {n}}}}}").into_bytes()),
            Val::Other => v8_string("text"),
        }
    }

    /// The number an aggregate of the values finds.
    fn number(&self) -> Option<Number> {
        match self {
            Val::U64(n) => Some(Number::Int(i128::from(*n))),
            Val::Double(x) if x.is_nan() => None,
            Val::Double(x) => Some(Number::Float(*x)),
            Val::SmallInt(n) => Some(Number::Float(f64::from(*n))),
            Val::BigInt(n) => Some(Number::Int(i128::from(*n))),
            Val::JsonBytes(n) => Some(Number::Int(i128::from(*n))),
            Val::JsonText(x) => Some(Number::Float(*x)),
            Val::Field(_) | Val::Other => None,
        }
    }

    /// The number an aggregate of field `p.q` finds.
    fn field(&self) -> Option<Number> {
        match self {
            Val::Field(n) => Some(Number::Int(i128::from(*n))),
            _ => None,
        }
    }
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        any::<u64>().prop_map(Val::U64),
        prop_oneof![Just(f64::NAN), -1e6..1e6f64, Just(f64::INFINITY)].prop_map(Val::Double),
        (-50i8..50).prop_map(Val::SmallInt),
        any::<i64>().prop_map(Val::BigInt),
        any::<i32>().prop_map(Val::JsonBytes),
        (-1e3..1e3f64).prop_map(|x| Val::JsonText(x + 0.5)),
        (-50i8..50).prop_map(Val::Field),
        Just(Val::Other),
    ]
}

fn all_keys() -> Vec<Key> {
    let mut keys = vec![key!["a"], key!["b"]];
    for i in 0..12i64 {
        keys.push(key!["a", i]);
        keys.push(key!["a", i, "x"]);
    }
    keys
}

fn selectors() -> Vec<ListSelector> {
    vec![
        ListSelector::Prefix(key!["a"]),
        ListSelector::Prefix(key!["a", 3i64]),
        ListSelector::Prefix(key![]),
        ListSelector::PrefixStart {
            prefix: key!["a"],
            start: key!["a", 5i64],
        },
        ListSelector::PrefixEnd {
            prefix: key!["a"],
            end: key!["a", 7i64, "x"],
        },
        ListSelector::Range {
            start: key!["a", 2i64],
            end: key!["b"],
        },
    ]
}

/// The model's live entries `selector` covers, in key order.
fn covered<'a>(
    model: &'a BTreeMap<Vec<u8>, (Key, Val)>,
    selector: &ListSelector,
) -> Vec<&'a (Key, Val)> {
    let (start, end) = selector.range().expect("valid");
    model.range(start..end).map(|(_, entry)| entry).collect()
}

fn reference(values: impl Iterator<Item = Option<Number>>) -> Aggregate {
    let mut a = Aggregate::default();
    values.for_each(|n| a.add(n));
    a
}

fn same(a: &Aggregate, b: &Aggregate) -> bool {
    let close = |x: Number, y: Number| {
        x.total_cmp(y) == std::cmp::Ordering::Equal
            || (x.as_f64() - y.as_f64()).abs() <= 1e-9 * x.as_f64().abs().max(1.0)
    };
    a.count == b.count
        && a.skipped == b.skipped
        && close(a.sum, b.sum)
        && a.min.zip(b.min).is_none_or(|(x, y)| x == y)
        && a.max.zip(b.max).is_none_or(|(x, y)| x == y)
        && a.min.is_some() == b.min.is_some()
}

async fn check(db: &Database, model: &BTreeMap<Vec<u8>, (Key, Val)>, options: ListOptions) {
    for selector in selectors() {
        let live = covered(model, &selector);
        // list_keys lists what list lists.
        let keys = db
            .list_keys(selector.clone(), options.clone())
            .expect("list keys")
            .collect()
            .await
            .expect("listed");
        let entries = db
            .list(selector.clone(), options.clone())
            .expect("list")
            .collect()
            .await
            .expect("listed");
        let listed: Vec<_> = entries.iter().map(|e| (&e.key, e.versionstamp)).collect();
        let keyed: Vec<_> = keys.iter().map(|e| (&e.key, e.versionstamp)).collect();
        assert_eq!(keyed, listed, "{selector:?} {options:?}");
        let mut expected: Vec<&Key> = live.iter().map(|(k, _)| k).collect();
        if options.reverse {
            expected.reverse();
        }
        expected.truncate(options.limit.unwrap_or(usize::MAX));
        assert_eq!(keys.iter().map(|e| &e.key).collect::<Vec<_>>(), expected);
        // Resuming from the cursor of a listing cut after one key gives the rest.
        if keys.len() > 1 {
            let mut first = db
                .list_keys(
                    selector.clone(),
                    ListOptions {
                        limit: Some(1),
                        ..options.clone()
                    },
                )
                .expect("list keys");
            first.next().await.expect("one").expect("read");
            let rest = db
                .list_keys(
                    selector.clone(),
                    ListOptions {
                        cursor: Some(first.cursor()),
                        limit: options.limit.map(|l| l - 1),
                        ..options.clone()
                    },
                )
                .expect("resume")
                .collect()
                .await
                .expect("listed");
            assert_eq!(rest, keys[1..]);
        }

        assert_eq!(
            db.count(selector.clone()).await.expect("count"),
            live.len() as u64
        );
        let whole = db
            .aggregate(selector.clone(), AggregateOptions::default())
            .await
            .expect("aggregate");
        let expected = reference(live.iter().map(|(_, v)| v.number()));
        assert!(
            same(&whole, &expected),
            "{selector:?}: {whole:?} != {expected:?}"
        );
        let field = AggregateOptions {
            field: Some("p.q".into()),
        };
        let of_field = db
            .aggregate(selector.clone(), field.clone())
            .await
            .expect("aggregate");
        let expected_field = reference(live.iter().map(|(_, v)| v.field()));
        assert!(
            same(&of_field, &expected_field),
            "{of_field:?} != {expected_field:?}"
        );

        // In pages of three entries, as the server answers per request (each page reads the
        // snapshot published when it starts; the sweeper may remove expired entries between
        // them, which changes no live count).
        let (start, end) = selector.range().expect("valid");
        let (mut from, mut count) = (start.clone(), 0);
        loop {
            let page = db
                .count_page(&from, &end, ScanBudget::entries(3))
                .expect("page");
            count += page.count;
            match page.resume {
                Some(next) => from = next,
                None => break,
            }
        }
        let (mut from, mut paged) = (start, Aggregate::default());
        loop {
            let page = db
                .aggregate_page(&from, &end, &field, ScanBudget::entries(3))
                .expect("page");
            paged.merge(&page.aggregate);
            match page.resume {
                Some(next) => from = next,
                None => break,
            }
        }
        assert_eq!(count, live.len() as u64);
        assert!(same(&paged, &of_field), "{paged:?} != {of_field:?}");
    }
}

fn run(writes: &[(usize, Val, bool)], options: ListOptions, advance_ms: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let clock = ManualClock::new(CLOCK_START_MS);
        let db = harness::memory_db(&clock);
        let keys = all_keys();
        let mut model = BTreeMap::new();
        let mut expiring = Vec::new();
        for (slot, val, expires) in writes {
            let key = &keys[slot % keys.len()];
            if *expires {
                db.set_expiring(key, val.encode(), Duration::from_millis(10))
                    .await
                    .expect("set");
                expiring.push(encode_key(key));
            } else {
                db.set(key, val.encode()).await.expect("set");
                expiring.retain(|k| *k != encode_key(key));
            }
            model.insert(encode_key(key), (key.clone(), val.clone()));
        }
        clock.advance(advance_ms);
        if advance_ms >= 10 {
            for k in &expiring {
                model.remove(k);
            }
        }
        check(&db, &model, options).await;
        db.close();
    });
}

fn options() -> impl Strategy<Value = ListOptions> {
    (any::<bool>(), prop::option::of(1usize..8), 1usize..5).prop_map(|(reverse, limit, batch)| {
        ListOptions {
            reverse,
            limit,
            batch_size: batch,
            cursor: None,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn keys_counts_and_aggregates_match_the_model(
        writes in prop::collection::vec((0usize..26, val(), prop::bool::weighted(0.15)), 0..40),
        options in options(),
        advance_ms in prop_oneof![Just(0u64), Just(20u64)],
    ) {
        run(&writes, options, advance_ms);
    }
}
