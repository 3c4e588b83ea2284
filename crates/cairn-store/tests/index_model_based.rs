//! Secondary indexes against a reference model. Random sequences of sets (JSON objects as
//! bytes, V8 objects, undecodable V8, u64s, plain strings; some expiring), deletes, u64 sums,
//! clock moves (so that the sweeper removes entries through the pipeline), index creations
//! (a plain, a compound and a unique index over `["u"]`) and drops, clean restarts and power
//! losses (`MemoryStorage::power_loss`: only what was synced survives, e.g. with a backfill
//! step in flight) run against a database and a model of its logical state.
//!
//! At each check, on one snapshot of the stored state: every ready index holds exactly the
//! entries recomputed from the stored entries under its prefix (key, expiry, and the entry's
//! key as value), its counters match, and a dropped index has left nothing behind. The
//! model predicts which writes a unique index refuses (as a check failure with a reason) and
//! whether a unique index's backfill fails; `count`, `list_keys` and `aggregate` equal the
//! model's live entries. Every wait is for a notification (`wait_index`) or bounded.

mod harness;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use cairn_model::{encode_key, key, Key, KeyPart};
use cairn_store::record::DataRecord;
use cairn_store::storage::{Keyspace, MemoryStorage, Scan, Storage};
use cairn_store::{
    AggregateOptions, CommitResult, Config, Database, IndexSpec, IndexState, Kv, KvKeyList,
    KvValue, ListOptions, ListSelector, ManualClock, Number, StoreError,
};
use proptest::prelude::*;

use harness::CLOCK_START_MS;

/// Keys `["u", 0..SLOTS]` are under the indexed prefix; slot `SLOTS` is `["u"]` itself and
/// `SLOTS + 1` is `["v", 0]`, neither indexed.
const SLOTS: usize = 6;

const E: [&str; 3] = ["a", "b", "c"];
const K: [&str; 3] = ["x", "y", "z"];

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Obj {
        e: Option<usize>,
        n: Option<i8>,
        k: Option<usize>,
        json: bool,
    },
    Undecodable,
    Num(u64),
    Text,
}

impl Val {
    fn encode(&self) -> KvValue {
        match self {
            Val::Obj {
                e,
                n,
                k,
                json: true,
            } => {
                let mut fields = Vec::new();
                if let Some(e) = e {
                    fields.push(format!("\"e\": \"{}\"", E[*e]));
                }
                if let Some(n) = n {
                    fields.push(format!("\"n\": {n}"));
                }
                if let Some(k) = k {
                    fields.push(format!("\"k\": \"{}\"", K[*k]));
                }
                KvValue::Bytes(format!("{{{}}}", fields.join(", ")).into_bytes())
            }
            Val::Obj {
                e,
                n,
                k,
                json: false,
            } => {
                let mut out = vec![0xff, 0x0f, b'o'];
                let mut count = 0u8;
                let string = |out: &mut Vec<u8>, s: &str| {
                    out.extend_from_slice(&[b'"', s.len() as u8]);
                    out.extend_from_slice(s.as_bytes());
                };
                if let Some(e) = e {
                    string(&mut out, "e");
                    string(&mut out, E[*e]);
                    count += 1;
                }
                if let Some(n) = n {
                    string(&mut out, "n");
                    let n = i32::from(*n);
                    out.extend_from_slice(&[b'I', ((n << 1) ^ (n >> 31)) as u8]);
                    count += 1;
                }
                if let Some(k) = k {
                    string(&mut out, "k");
                    string(&mut out, K[*k]);
                    count += 1;
                }
                out.extend_from_slice(&[b'{', count]);
                KvValue::V8(out)
            }
            Val::Undecodable => KvValue::V8(vec![0xff, 0x0f, 0x99]),
            Val::Num(n) => KvValue::U64(*n),
            Val::Text => KvValue::V8(vec![0xff, 0x0f, b'"', 5, b'h', b'e', b'l', b'l', b'o']),
        }
    }

    /// The model value of a stored value (the test wrote every one of them).
    fn decode(value: &KvValue, known: &HashMap<Vec<u8>, Val>) -> Val {
        match value {
            KvValue::U64(n) => Val::Num(*n),
            other => known
                .get(&other.to_bytes())
                .cloned()
                .unwrap_or_else(|| panic!("a value the test never wrote: {other:?}")),
        }
    }
}

/// The three indexes the test declares.
fn spec(which: usize) -> IndexSpec {
    match which {
        0 => IndexSpec::new("by_e", key!["u"], &["e"]),
        1 => IndexSpec::new("by_en", key!["u"], &["e", "n"]),
        _ => IndexSpec::new("uniq", key!["u"], &["k"]).unique(),
    }
}

/// The key parts an index takes from a value, or `None` when it is not indexed.
fn parts(which: usize, val: &Val) -> Option<Vec<KeyPart>> {
    let Val::Obj { e, n, k, .. } = val else {
        return None;
    };
    let e = || e.map(|e| KeyPart::String(E[e].into()));
    let n = || n.map(|n| KeyPart::Float(f64::from(n)));
    match which {
        0 => Some(vec![e()?]),
        1 => Some(vec![e()?, n()?]),
        _ => Some(vec![k.map(|k| KeyPart::String(K[k].into()))?]),
    }
}

fn slot_key(slot: usize) -> Key {
    match slot {
        s if s < SLOTS => key!["u", s as i64],
        s if s == SLOTS => key!["u"],
        _ => key!["v", 0i64],
    }
}

#[derive(Debug, Clone)]
enum Op {
    Set {
        slot: usize,
        val: Val,
        ttl_ms: Option<u64>,
    },
    Delete(usize),
    Sum(usize, u64),
    Advance(u64),
    Create {
        which: usize,
        wait: bool,
    },
    Drop(usize),
    Restart {
        power_loss: bool,
    },
    Check,
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        6 => (
            prop::option::weighted(0.8, 0..E.len()),
            prop::option::weighted(0.7, -3i8..4),
            prop::option::weighted(0.6, 0..K.len()),
            any::<bool>()
        )
            .prop_map(|(e, n, k, json)| Val::Obj { e, n, k, json }),
        1 => Just(Val::Undecodable),
        1 => (0u64..5).prop_map(Val::Num),
        1 => Just(Val::Text),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (0..SLOTS + 2, val(), prop::option::weighted(0.2, 1u64..100))
            .prop_map(|(slot, val, ttl_ms)| Op::Set { slot, val, ttl_ms }),
        6 => (0..SLOTS + 2).prop_map(Op::Delete),
        3 => (0..SLOTS, 1u64..4).prop_map(|(s, n)| Op::Sum(s, n)),
        5 => (0u64..150).prop_map(Op::Advance),
        6 => (0usize..3, any::<bool>()).prop_map(|(which, wait)| Op::Create { which, wait }),
        3 => (0usize..3).prop_map(Op::Drop),
        3 => any::<bool>().prop_map(|power_loss| Op::Restart { power_loss }),
        6 => Just(Op::Check),
    ]
}

/// What the model knows of an index.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Declared {
    /// Built, or still building (a plain index created without waiting).
    Maintained,
    /// A unique index whose backfill met a duplicate.
    Failed,
}

struct Model {
    now_ms: u64,
    /// Logical state: value and expiry of every key written (expired ones count as absent).
    entries: BTreeMap<Key, (Val, Option<u64>)>,
    indexes: BTreeMap<usize, Declared>,
    /// Every non-u64 value written, by its bytes.
    known: HashMap<Vec<u8>, Val>,
}

impl Model {
    fn live(&self, key: &Key) -> Option<&Val> {
        self.entries
            .get(key)
            .filter(|(_, at)| at.is_none_or(|at| at > self.now_ms))
            .map(|(v, _)| v)
    }

    fn live_under_prefix(&self) -> Vec<(Key, Val)> {
        (0..SLOTS)
            .filter_map(|s| {
                let k = slot_key(s);
                self.live(&k).map(|v| (k, v.clone()))
            })
            .collect()
    }

    /// Whether the unique index refuses `val` at `slot`: another live entry holds its value.
    fn unique_refuses(&self, slot: usize, val: &Val) -> bool {
        if slot >= SLOTS || self.indexes.get(&2) != Some(&Declared::Maintained) {
            return false;
        }
        let Some(mine) = parts(2, val) else {
            return false;
        };
        let me = slot_key(slot);
        self.live_under_prefix()
            .iter()
            .any(|(k, v)| *k != me && parts(2, v).as_ref() == Some(&mine))
    }

    /// Whether a unique backfill now would meet a duplicate.
    fn has_duplicates(&self) -> bool {
        let mut seen = BTreeSet::new();
        self.live_under_prefix()
            .iter()
            .filter_map(|(_, v)| parts(2, v))
            .any(|p| !seen.insert(encode_key(&Key(p))))
    }
}

struct Run {
    clock: ManualClock,
    storage: Arc<MemoryStorage>,
    db: Database,
    model: Model,
}

fn open(storage: &Arc<MemoryStorage>, clock: &ManualClock) -> Database {
    let config = Config::default().clock(Arc::new(clock.clone()));
    Database::open_storage(storage.clone(), config).expect("open")
}

impl Run {
    async fn apply(&mut self, op: &Op) {
        match op {
            Op::Set { slot, val, ttl_ms } => self.set(*slot, val, *ttl_ms).await,
            Op::Delete(slot) => {
                self.db.delete(&slot_key(*slot)).await.expect("delete");
                self.model.entries.remove(&slot_key(*slot));
            }
            Op::Sum(slot, n) => self.sum(*slot, *n).await,
            Op::Advance(ms) => {
                self.clock.advance(*ms);
                self.model.now_ms += ms;
            }
            Op::Create { which, wait } => self.create(*which, *wait).await,
            Op::Drop(which) => {
                let dropped = self.db.drop_index(&spec(*which).name).await.expect("drop");
                assert_eq!(dropped, self.model.indexes.remove(which).is_some());
                let gone = self.db.wait_index(&spec(*which).name).await.expect("wait");
                assert!(gone.is_none(), "a dropped index is gone once waited for");
            }
            Op::Restart { power_loss } => {
                if *power_loss {
                    // What a machine finds after losing power now: the database keeps
                    // running on the old storage until dropped, like a dying process.
                    let survivor = Arc::new(self.storage.power_loss());
                    self.storage = survivor;
                } else {
                    self.db.clone().close();
                }
                self.db = open(&self.storage, &self.clock);
            }
            Op::Check => self.check().await,
        }
    }

    async fn set(&mut self, slot: usize, val: &Val, ttl_ms: Option<u64>) {
        let key = slot_key(slot);
        let encoded = val.encode();
        if !matches!(encoded, KvValue::U64(_)) {
            self.model.known.insert(encoded.to_bytes(), val.clone());
        }
        let refused = self.model.unique_refuses(slot, val);
        let op = match ttl_ms {
            Some(ms) => self
                .db
                .atomic()
                .set_expiring(&key, encoded, Duration::from_millis(ms)),
            None => self.db.atomic().set(&key, encoded),
        };
        match op.commit().await.expect("set") {
            CommitResult::Committed { .. } => {
                assert!(!refused, "the unique index let {val:?} into slot {slot}");
                let at = ttl_ms.map(|ms| self.model.now_ms + ms);
                self.model.entries.insert(key, (val.clone(), at));
            }
            CommitResult::CheckFailed {
                failed_checks,
                reason,
            } => {
                assert!(refused, "{val:?} at slot {slot} refused: {reason:?}");
                assert!(failed_checks.is_empty());
                let reason = reason.expect("a unique refusal says why");
                assert!(reason.contains("unique index \"uniq\""), "{reason}");
            }
        }
    }

    async fn sum(&mut self, slot: usize, n: u64) {
        let key = slot_key(slot);
        let result = self.db.atomic().sum(&key, n).commit().await;
        match self.model.live(&key).cloned() {
            None => {
                assert!(result.expect("sum").is_committed());
                self.model.entries.insert(key, (Val::Num(n), None));
            }
            Some(Val::Num(m)) => {
                assert!(result.expect("sum").is_committed());
                self.model
                    .entries
                    .insert(key, (Val::Num(m.wrapping_add(n)), None));
            }
            Some(_) => assert!(
                matches!(result, Err(StoreError::Mutation(_))),
                "a sum over a non-u64 fails: {result:?}"
            ),
        }
    }

    async fn create(&mut self, which: usize, wait: bool) {
        let spec = spec(which);
        if self.model.indexes.contains_key(&which) {
            // Declaring it again with the same definition is not an error.
            let info = self.db.create_index(spec).await.expect("create again");
            assert!(!matches!(info.state, IndexState::Dropping));
            return;
        }
        let duplicates = which == 2 && self.model.has_duplicates();
        self.db.create_index(spec.clone()).await.expect("create");
        // A unique index is waited for so that the model knows what it enforces.
        if !wait && which != 2 {
            self.model.indexes.insert(which, Declared::Maintained);
            return;
        }
        let info = self.db.wait_index(&spec.name).await.expect("wait");
        let info = info.expect("declared");
        let declared = match info.state {
            IndexState::Ready => Declared::Maintained,
            IndexState::Failed { reason } => {
                assert!(reason.contains("unique index"), "{reason}");
                Declared::Failed
            }
            other => panic!("waited for {} and found it {other:?}", spec.name),
        };
        assert_eq!(declared == Declared::Failed, duplicates, "backfill of uniq");
        self.model.indexes.insert(which, declared);
    }

    async fn check(&mut self) {
        for which in 0..3 {
            let info = self.db.wait_index(&spec(which).name).await.expect("wait");
            assert_eq!(info.is_some(), self.model.indexes.contains_key(&which));
        }
        let snapshot = self.storage.snapshot();
        let infos = cairn_store::meta::indexes(snapshot.as_ref()).expect("catalog");
        let scan = |start: Vec<u8>| {
            let mut end = start.clone();
            end.push(0xff);
            snapshot
                .scan(
                    Keyspace::Data,
                    Scan {
                        start: &start,
                        end: &end,
                        reverse: false,
                        limit: usize::MAX,
                    },
                )
                .expect("scan")
                .into_iter()
                .map(|(k, v)| (k, DataRecord::decode(&v).expect("a record")))
                .collect::<Vec<_>>()
        };
        let mut prefix = encode_key(&key!["u"]);
        let stored = scan(prefix.clone());
        prefix.push(0);
        for which in 0..3 {
            let spec = spec(which);
            let actual: BTreeMap<Vec<u8>, (Option<u64>, KvValue)> = scan(spec.keyspace())
                .into_iter()
                .map(|(k, r)| (k, (r.expire_at_ms, r.value)))
                .collect();
            match self.model.indexes.get(&which) {
                None => assert!(actual.is_empty(), "{} left entries behind", spec.name),
                Some(Declared::Failed) => {}
                Some(Declared::Maintained) => {
                    let mut expected = BTreeMap::new();
                    let mut undecodable = 0;
                    for (k, record) in &stored {
                        if k.len() < prefix.len() {
                            continue;
                        }
                        let val = Val::decode(&record.value, &self.model.known);
                        undecodable += u64::from(val == Val::Undecodable);
                        let Some(mut parts) = parts(which, &val) else {
                            continue;
                        };
                        let primary = cairn_model::decode_key(k).expect("a key");
                        parts.insert(0, KeyPart::String(spec.name.clone()));
                        parts.extend(primary.0.iter().skip(1).cloned());
                        let value = KvValue::V8(cairn_model::v8::encode_key_array(&primary));
                        expected.insert(encode_key(&Key(parts)), (record.expire_at_ms, value));
                    }
                    assert_eq!(actual, expected, "entries of {}", spec.name);
                    let info = infos
                        .iter()
                        .find(|i| i.spec.name == spec.name)
                        .expect("in the catalog");
                    assert_eq!(info.entries, expected.len() as u64, "{info:?}");
                    assert_eq!(info.undecodable, undecodable, "{info:?}");
                    assert_eq!(info.oversized, 0);
                    // Read through the API: the live entries only.
                    let listed: Vec<Vec<u8>> = self
                        .db
                        .list_keys(
                            ListSelector::Prefix(key![spec.name.as_str()]),
                            ListOptions::default(),
                        )
                        .expect("list keys")
                        .collect()
                        .await
                        .expect("listed")
                        .into_iter()
                        .map(|e| encode_key(&e.key))
                        .collect();
                    let live: Vec<Vec<u8>> = expected
                        .iter()
                        .filter(|(_, (at, _))| at.is_none_or(|at| at > self.model.now_ms))
                        .map(|(k, _)| k.clone())
                        .collect();
                    assert_eq!(listed, live, "live entries of {}", spec.name);
                }
            }
        }
        self.check_reads().await;
    }

    /// `count`, `list_keys` and `aggregate` against the model's live entries.
    async fn check_reads(&self) {
        let live = self.model.live_under_prefix();
        let selector = || ListSelector::Prefix(key!["u"]);
        assert_eq!(
            self.db.count(selector()).await.expect("count"),
            live.len() as u64
        );
        let keys: Vec<Key> = self
            .db
            .list_keys(selector(), ListOptions::default())
            .expect("list keys")
            .collect()
            .await
            .expect("listed")
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(
            keys,
            live.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
        );
        let of_values = self
            .db
            .aggregate(selector(), AggregateOptions::default())
            .await
            .expect("aggregate");
        let nums: Vec<u64> = live
            .iter()
            .filter_map(|(_, v)| match v {
                Val::Num(n) => Some(*n),
                _ => None,
            })
            .collect();
        assert_eq!(of_values.count, nums.len() as u64);
        assert_eq!(of_values.skipped, (live.len() - nums.len()) as u64);
        assert_eq!(
            of_values.sum,
            Number::Int(nums.iter().map(|n| i128::from(*n)).sum())
        );
        let field = AggregateOptions {
            field: Some("n".into()),
        };
        let of_n = self
            .db
            .aggregate(selector(), field)
            .await
            .expect("aggregate n");
        let ns: Vec<f64> = live
            .iter()
            .filter_map(|(_, v)| match v {
                Val::Obj { n: Some(n), .. } => Some(f64::from(*n)),
                _ => None,
            })
            .collect();
        assert_eq!(of_n.count, ns.len() as u64);
        assert_eq!(of_n.sum.as_f64(), ns.iter().sum::<f64>());
        let min = ns.iter().copied().reduce(f64::min);
        assert_eq!(of_n.min.map(Number::as_f64), min);
        let max = ns.iter().copied().reduce(f64::max);
        assert_eq!(of_n.max.map(Number::as_f64), max);
    }
}

fn run(ops: &[Op]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let clock = ManualClock::new(CLOCK_START_MS);
        let storage = Arc::new(MemoryStorage::new());
        let db = open(&storage, &clock);
        let mut run = Run {
            clock,
            storage,
            db,
            model: Model {
                now_ms: CLOCK_START_MS,
                entries: BTreeMap::new(),
                indexes: BTreeMap::new(),
                known: HashMap::new(),
            },
        };
        for op in ops {
            run.apply(op).await;
        }
        run.apply(&Op::Check).await;
        run.db.close();
    });
}

fn cases(default: u32) -> u32 {
    std::env::var("CAIRN_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn indexes_equal_their_recomputation(ops in prop::collection::vec(op(), 1..50)) {
        run(&ops);
    }
}
