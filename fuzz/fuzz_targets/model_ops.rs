//! A random sequence of operations against an in-memory database and a plain reference model
//! (a map of values and versionstamps): sets, deletes, sums, mins, maxes, checked writes with
//! fresh and stale versionstamps, point reads and listings. Every answer must match the
//! model's.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cairn_model::{key, Key, KvList, KvValue, ListOptions, ListSelector, Versionstamp};
use cairn_store::{Database, Kv};
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

type Model = BTreeMap<u8, (KvValue, Versionstamp)>;

fn k(n: u8) -> Key {
    key!["k", i64::from(n % 8)]
}

fn value(v: u8) -> KvValue {
    if v % 5 == 0 {
        KvValue::Bytes(vec![v; 3])
    } else {
        KvValue::U64(u64::from(v) * 1_000_000_007)
    }
}

fuzz_target!(|data: &[u8]| {
    let db = Database::open_in_memory().expect("open");
    runtime().block_on(run(&db, data));
    db.close();
});

async fn run(db: &Database, data: &[u8]) {
    let mut model = Model::new();
    for op in data.chunks_exact(3).take(64) {
        let (kind, n, v) = (op[0] % 8, op[1] % 8, op[2]);
        let key = k(n);
        match kind {
            0 => {
                let r = db.atomic().set(&key, value(v)).commit().await.expect("set");
                let vs = r.versionstamp().expect("committed");
                model.insert(n, (value(v), vs));
            }
            1 => {
                db.atomic().delete(&key).commit().await.expect("delete");
                model.remove(&n);
            }
            2..=4 => {
                let operand = u64::from(v) << 40;
                let op = db.atomic();
                let op = match kind {
                    2 => op.sum(&key, operand),
                    3 => op.min(&key, operand),
                    _ => op.max(&key, operand),
                };
                let result = op.commit().await;
                match model.get(&n).map(|(value, _)| value.clone()) {
                    Some(KvValue::Bytes(_)) => {
                        assert!(result.is_err(), "a number mutation of bytes fails");
                    }
                    current => {
                        let current = match current {
                            Some(KvValue::U64(c)) => Some(c),
                            _ => None,
                        };
                        let new = match (kind, current) {
                            (_, None) => operand,
                            (2, Some(c)) => c.wrapping_add(operand),
                            (3, Some(c)) => c.min(operand),
                            (_, Some(c)) => c.max(operand),
                        };
                        let vs = result.expect("mutation").versionstamp().expect("committed");
                        model.insert(n, (KvValue::U64(new), vs));
                    }
                }
            }
            5 => {
                // A checked write: against the current versionstamp (or absence) when v is
                // even, against a stale one otherwise.
                let current = model.get(&n).map(|(_, vs)| *vs);
                let expected = if v % 2 == 0 {
                    current
                } else {
                    Some(Versionstamp::new(u64::from(v), 1))
                };
                let r = db
                    .atomic()
                    .check(&key, expected)
                    .set(&key, value(v))
                    .commit()
                    .await
                    .expect("checked write");
                if expected == current {
                    model.insert(n, (value(v), r.versionstamp().expect("check held")));
                } else {
                    assert!(!r.is_committed(), "a stale check fails");
                }
            }
            6 => {
                let got = db.get(&key).await.expect("get");
                let want = model.get(&n);
                assert_eq!(
                    got.map(|e| (e.value, e.versionstamp)),
                    want.cloned(),
                    "get {n}"
                );
            }
            _ => {
                let entries = db
                    .list(ListSelector::Prefix(key!["k"]), ListOptions::default())
                    .expect("list")
                    .collect()
                    .await
                    .expect("entries");
                let got: Vec<_> = entries
                    .into_iter()
                    .map(|e| (e.value, e.versionstamp))
                    .collect();
                let want: Vec<_> = model.values().cloned().collect();
                assert_eq!(got, want, "list");
            }
        }
    }
}
