//! The database behaves like a plain reference model: a `BTreeMap` from encoded key to value,
//! versionstamp and expire-at, with the rules of kv-connect.md §3–§5 written out directly.
//! Random sequences of sets (with and without expiry), deletes, u64 `sum`/`min`/`max`, atomic
//! writes with checks (absent, a versionstamp from an earlier read, a stale one), moves of a
//! manual clock, and rounds of concurrent atomic writes run against both; every `get`,
//! `get_many` and `list` (prefix, start/end, range; forward and reverse; limits; batch sizes;
//! resumed from a cursor) is compared with the model, and so is the whole visible state after
//! every write.
//!
//! The order of concurrent writes is the pipeline's to choose, so a round is checked by
//! replaying its committed writes in versionstamp order: each must be one the model commits at
//! that position, and each write that failed its checks or a mutation must fail that way in
//! one of the states the replay passes through. Versionstamps are unique and increase.
//!
//! One variant runs in memory; another, with fewer cases, on a fjall directory that is also
//! closed and reopened mid-sequence.

mod harness;

use cairn_store::{Kv, KvList};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use cairn_model::{key, Key};
use cairn_store::{
    AtomicOperation, CommitResult, Config, Database, KvValue, ListOptions, ListSelector,
    ManualClock, StoreError, Versionstamp,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use harness::CLOCK_START_MS;

// The key space: few keys, so that operations collide; nesting, so that prefixes matter.

fn keys() -> Vec<Key> {
    vec![
        key!["p"],
        key!["p", 0i64],
        key!["p", 0i64, "x"],
        key!["p", 1i64],
        key!["p", 1.5f64],
        key!["p", 2i64],
        key!["p", 2i64, "x"],
        key!["p", 2i64, "y"],
        key!["p", "s"],
        key!["q", 0i64],
        key!["q", 0i64, false],
        key![vec![0u8, 255]],
        key![true],
    ]
}

fn prefixes() -> Vec<Key> {
    vec![
        key![],
        key!["p"],
        key!["p", 0i64],
        key!["p", 2i64],
        key!["q"],
        key!["zz"],
    ]
}

// Operations.

#[derive(Debug, Clone)]
enum Mutation {
    Set {
        key: usize,
        value: KvValue,
        expire_in_ms: Option<u64>,
    },
    Delete {
        key: usize,
    },
    Sum {
        key: usize,
        n: u64,
    },
    Min {
        key: usize,
        n: u64,
    },
    Max {
        key: usize,
        n: u64,
    },
}

#[derive(Debug, Clone)]
enum CheckSpec {
    /// The key must not exist.
    Absent,
    /// The versionstamp a `get` returns just before the write.
    FromRead,
    /// Some versionstamp the key had at any earlier time (usually stale).
    Stale(Index),
}

#[derive(Debug, Clone)]
struct WriteSpec {
    checks: Vec<(usize, CheckSpec)>,
    mutations: Vec<Mutation>,
}

#[derive(Debug, Clone)]
enum SelectorSpec {
    Prefix(usize),
    PrefixStart(usize, usize),
    PrefixEnd(usize, usize),
    Range(usize, usize),
}

#[derive(Debug, Clone)]
struct ListSpec {
    selector: SelectorSpec,
    reverse: bool,
    limit: Option<usize>,
    batch_size: usize,
    /// Stop after this many entries (1 ≤ n ≤ all) and resume from the cursor.
    split: Option<Index>,
}

#[derive(Debug, Clone)]
enum Op {
    /// One mutation through `set`, `set_expiring`, `delete` or a one-mutation atomic.
    Single(Mutation),
    Atomic(WriteSpec),
    Concurrent(Vec<WriteSpec>),
    Get(usize),
    GetMany(Vec<usize>),
    List(ListSpec),
    Advance(u64),
    /// Close and reopen (on-disk variant only; a no-op in memory).
    Reopen,
}

// Strategies.

fn key_index() -> impl Strategy<Value = usize> {
    0..keys().len()
}

fn value() -> impl Strategy<Value = KvValue> {
    prop_oneof![
        5 => (0u64..4).prop_map(KvValue::U64),
        1 => Just(KvValue::U64(u64::MAX)),
        1 => vec(any::<u8>(), 0..3).prop_map(KvValue::Bytes),
        1 => vec(any::<u8>(), 0..3).prop_map(KvValue::V8),
    ]
}

fn operand() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..4, 1 => Just(u64::MAX), 1 => Just(u64::MAX - 1), 1 => Just(1 << 63)]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let expire = prop_oneof![3 => Just(None), 2 => (1u64..60).prop_map(Some)];
    prop_oneof![
        4 => (key_index(), value(), expire).prop_map(|(key, value, expire_in_ms)| Mutation::Set {
            key,
            value,
            expire_in_ms
        }),
        2 => key_index().prop_map(|key| Mutation::Delete { key }),
        2 => (key_index(), operand()).prop_map(|(key, n)| Mutation::Sum { key, n }),
        1 => (key_index(), operand()).prop_map(|(key, n)| Mutation::Min { key, n }),
        1 => (key_index(), operand()).prop_map(|(key, n)| Mutation::Max { key, n }),
    ]
}

fn check() -> impl Strategy<Value = (usize, CheckSpec)> {
    let spec = prop_oneof![
        Just(CheckSpec::Absent),
        Just(CheckSpec::FromRead),
        any::<Index>().prop_map(CheckSpec::Stale),
    ];
    (key_index(), spec)
}

fn write() -> impl Strategy<Value = WriteSpec> {
    (vec(check(), 0..3), vec(mutation(), 0..5))
        .prop_map(|(checks, mutations)| WriteSpec { checks, mutations })
}

fn list_spec() -> impl Strategy<Value = ListSpec> {
    let prefix = 0..prefixes().len();
    let selector = prop_oneof![
        2 => prefix.clone().prop_map(SelectorSpec::Prefix),
        1 => (prefix.clone(), key_index()).prop_map(|(p, s)| SelectorSpec::PrefixStart(p, s)),
        1 => (prefix, key_index()).prop_map(|(p, e)| SelectorSpec::PrefixEnd(p, e)),
        1 => (key_index(), key_index()).prop_map(|(s, e)| SelectorSpec::Range(s, e)),
    ];
    let limit = prop_oneof![2 => Just(None), 1 => (0usize..6).prop_map(Some)];
    let batch_size = prop_oneof![Just(1usize), Just(2), Just(1000)];
    let split = proptest::option::of(any::<Index>());
    (selector, any::<bool>(), limit, batch_size, split).prop_map(
        |(selector, reverse, limit, batch_size, split)| ListSpec {
            selector,
            reverse,
            limit,
            batch_size,
            split,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => mutation().prop_map(Op::Single),
        4 => write().prop_map(Op::Atomic),
        2 => vec(write(), 2..6).prop_map(Op::Concurrent),
        2 => key_index().prop_map(Op::Get),
        2 => vec(key_index(), 1..=10).prop_map(Op::GetMany),
        3 => list_spec().prop_map(Op::List),
        2 => (1u64..40).prop_map(Op::Advance),
        1 => Just(Op::Reopen),
    ]
}

// The reference model.

#[derive(Debug, Clone, PartialEq)]
struct Record {
    value: KvValue,
    versionstamp: Versionstamp,
    expire_at_ms: Option<u64>,
}

/// A mutation with its key encoded and its expiry made absolute.
#[derive(Debug, Clone)]
enum Change {
    Set(KvValue, Option<u64>),
    Delete,
    Sum(u64),
    Min(u64),
    Max(u64),
}

/// A write as the model sees it: encoded keys, resolved check versionstamps.
#[derive(Debug, Clone)]
struct ModelWrite {
    checks: Vec<(Vec<u8>, Option<Versionstamp>)>,
    mutations: Vec<(Vec<u8>, Change)>,
}

/// The final state of each key a committing write touches.
type Effects = BTreeMap<Vec<u8>, Option<(KvValue, Option<u64>)>>;

#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Commits(Effects),
    ChecksFail(Vec<u32>),
    MutationFails(String),
}

#[derive(Debug, Clone)]
struct Model {
    data: BTreeMap<Vec<u8>, Record>,
    now_ms: u64,
}

fn live(expire_at_ms: Option<u64>, now_ms: u64) -> bool {
    expire_at_ms.is_none_or(|at| at > now_ms)
}

impl Model {
    fn visible(&self, key: &[u8]) -> Option<&Record> {
        self.data
            .get(key)
            .filter(|r| live(r.expire_at_ms, self.now_ms))
    }

    fn verdict(&self, write: &ModelWrite) -> Verdict {
        let failed: Vec<u32> = write
            .checks
            .iter()
            .enumerate()
            .filter(|(_, (key, vs))| self.visible(key).map(|r| r.versionstamp) != *vs)
            .map(|(i, _)| u32::try_from(i).expect("few checks"))
            .collect();
        if !failed.is_empty() {
            return Verdict::ChecksFail(failed);
        }
        let mut effects = Effects::new();
        for (key, change) in &write.mutations {
            let current = match effects.get(key) {
                Some(state) => state
                    .clone()
                    .filter(|(_, at)| live(*at, self.now_ms))
                    .map(|(v, _)| v),
                None => self.visible(key).map(|r| r.value.clone()),
            };
            let (name, n, combine): (&str, u64, fn(u64, u64) -> u64) = match change {
                Change::Set(value, at) => {
                    effects.insert(key.clone(), Some((value.clone(), *at)));
                    continue;
                }
                Change::Delete => {
                    effects.insert(key.clone(), None);
                    continue;
                }
                Change::Sum(n) => ("sum", *n, u64::wrapping_add),
                Change::Min(n) => ("min", *n, u64::min),
                Change::Max(n) => ("max", *n, u64::max),
            };
            let result = match current {
                None => n,
                Some(KvValue::U64(stored)) => combine(stored, n),
                Some(_) => {
                    return Verdict::MutationFails(format!(
                        "Failed to perform '{name}' mutation on a non-U64 value in the database"
                    ))
                }
            };
            effects.insert(key.clone(), Some((KvValue::U64(result), None)));
        }
        Verdict::Commits(effects)
    }

    fn apply(&mut self, effects: &Effects, versionstamp: Versionstamp) {
        for (key, state) in effects {
            match state {
                Some((value, expire_at_ms)) => {
                    let record = Record {
                        value: value.clone(),
                        versionstamp,
                        expire_at_ms: *expire_at_ms,
                    };
                    self.data.insert(key.clone(), record);
                }
                None => {
                    self.data.remove(key);
                }
            }
        }
    }

    /// Live entries in `[start, end)`, in key order.
    fn range(&self, start: &[u8], end: &[u8]) -> Vec<(Vec<u8>, KvValue, Versionstamp)> {
        if start >= end {
            return Vec::new();
        }
        self.data
            .range::<[u8], _>((
                std::ops::Bound::Included(start),
                std::ops::Bound::Excluded(end),
            ))
            .filter(|(_, r)| live(r.expire_at_ms, self.now_ms))
            .map(|(k, r)| (k.clone(), r.value.clone(), r.versionstamp))
            .collect()
    }
}

// Running a sequence against both.

struct Run {
    db: Option<Database>,
    clock: ManualClock,
    config: Config,
    /// The data directory, for the on-disk variant.
    dir: Option<PathBuf>,
    model: Model,
    keys: Vec<Key>,
    prefixes: Vec<Key>,
    /// Every versionstamp each key has had, for stale checks.
    history: BTreeMap<Vec<u8>, Vec<Versionstamp>>,
    last_versionstamp: Versionstamp,
}

fn entry_triple(e: cairn_store::Entry) -> (Vec<u8>, KvValue, Versionstamp) {
    (e.key.encode(), e.value, e.versionstamp)
}

impl Run {
    fn new(dir: Option<PathBuf>) -> Run {
        let clock = ManualClock::new(CLOCK_START_MS);
        let config = harness::config(&clock);
        let db = match &dir {
            Some(dir) => Database::open_with(dir, config.clone()),
            None => Database::open_in_memory_with(config.clone()),
        }
        .expect("open");
        Run {
            db: Some(db),
            clock,
            config,
            dir,
            model: Model {
                data: BTreeMap::new(),
                now_ms: CLOCK_START_MS,
            },
            keys: keys(),
            prefixes: prefixes(),
            history: BTreeMap::new(),
            last_versionstamp: Versionstamp::default(),
        }
    }

    fn db(&self) -> &Database {
        self.db.as_ref().expect("open database")
    }

    async fn step(&mut self, op: &Op) {
        match op {
            Op::Single(m) => self.single(m).await,
            Op::Atomic(spec) => {
                let (write, model) = self.prepare(spec).await;
                let result = write.commit().await;
                self.settle(&model, result);
                self.check_everything().await;
            }
            Op::Concurrent(specs) => self.concurrent(specs).await,
            Op::Get(k) => {
                let got = self.db().get(&self.keys[*k]).await.expect("get");
                assert_eq!(
                    got.map(entry_triple),
                    self.expected(*k),
                    "get {}",
                    self.keys[*k]
                );
            }
            Op::GetMany(ks) => {
                let keys: Vec<Key> = ks.iter().map(|k| self.keys[*k].clone()).collect();
                let got = self.db().get_many(&keys).await.expect("get_many");
                assert_eq!(got.len(), ks.len());
                for (entry, k) in got.into_iter().zip(ks) {
                    assert_eq!(
                        entry.map(entry_triple),
                        self.expected(*k),
                        "get_many {}",
                        self.keys[*k]
                    );
                }
            }
            Op::List(spec) => self.list(spec).await,
            Op::Advance(ms) => {
                self.clock.advance(*ms);
                self.model.now_ms += ms;
                self.check_everything().await;
            }
            Op::Reopen => {
                if let Some(dir) = &self.dir {
                    if let Some(db) = self.db.take() {
                        db.close();
                    }
                    let db = Database::open_with(dir, self.config.clone()).expect("reopen");
                    self.db = Some(db);
                    self.check_everything().await;
                }
            }
        }
    }

    fn expected(&self, k: usize) -> Option<(Vec<u8>, KvValue, Versionstamp)> {
        let key = self.keys[k].encode();
        self.model
            .visible(&key)
            .map(|r| (key.clone(), r.value.clone(), r.versionstamp))
    }

    /// Builds the database write and the model's view of it; check versionstamps "from a
    /// read" are read from the database here.
    async fn prepare(&self, spec: &WriteSpec) -> (AtomicOperation<Database>, ModelWrite) {
        let mut write = self.db().atomic();
        let mut model = ModelWrite {
            checks: Vec::new(),
            mutations: Vec::new(),
        };
        for (k, check) in &spec.checks {
            let key = &self.keys[*k];
            let encoded = key.encode();
            let versionstamp = match check {
                CheckSpec::Absent => None,
                CheckSpec::FromRead => {
                    let read = self.db().get(key).await.expect("get");
                    let read = read.map(entry_triple);
                    assert_eq!(read, self.expected(*k), "read for a check on {key}");
                    read.map(|(_, _, vs)| vs)
                }
                CheckSpec::Stale(i) => match self.history.get(&encoded) {
                    Some(seen) if !seen.is_empty() => Some(seen[i.index(seen.len())]),
                    // Never issued: commit versions start at 1.
                    _ => Some(Versionstamp::default()),
                },
            };
            write = write.check(key, versionstamp);
            model.checks.push((encoded, versionstamp));
        }
        for m in &spec.mutations {
            let (w, change) = self.mutation(write, m);
            write = w;
            model.mutations.push(change);
        }
        (write, model)
    }

    fn mutation(
        &self,
        write: AtomicOperation<Database>,
        m: &Mutation,
    ) -> (AtomicOperation<Database>, (Vec<u8>, Change)) {
        let now = self.model.now_ms;
        match m {
            Mutation::Set {
                key,
                value,
                expire_in_ms: None,
            } => (
                write.set(&self.keys[*key], value.clone()),
                (self.keys[*key].encode(), Change::Set(value.clone(), None)),
            ),
            Mutation::Set {
                key,
                value,
                expire_in_ms: Some(ms),
            } => (
                write.set_expiring(&self.keys[*key], value.clone(), Duration::from_millis(*ms)),
                (
                    self.keys[*key].encode(),
                    Change::Set(value.clone(), Some(now + ms)),
                ),
            ),
            Mutation::Delete { key } => (
                write.delete(&self.keys[*key]),
                (self.keys[*key].encode(), Change::Delete),
            ),
            Mutation::Sum { key, n } => (
                write.sum(&self.keys[*key], *n),
                (self.keys[*key].encode(), Change::Sum(*n)),
            ),
            Mutation::Min { key, n } => (
                write.min(&self.keys[*key], *n),
                (self.keys[*key].encode(), Change::Min(*n)),
            ),
            Mutation::Max { key, n } => (
                write.max(&self.keys[*key], *n),
                (self.keys[*key].encode(), Change::Max(*n)),
            ),
        }
    }

    /// One mutation through the convenience API where there is one.
    async fn single(&mut self, m: &Mutation) {
        let (_, change) = self.mutation(self.db().atomic(), m);
        let model = ModelWrite {
            checks: Vec::new(),
            mutations: vec![change],
        };
        let db = self.db().clone();
        let result = match m {
            Mutation::Set {
                key,
                value,
                expire_in_ms: None,
            } => db.set(&self.keys[*key], value.clone()).await,
            Mutation::Set {
                key,
                value,
                expire_in_ms: Some(ms),
            } => {
                db.set_expiring(&self.keys[*key], value.clone(), Duration::from_millis(*ms))
                    .await
            }
            Mutation::Delete { key } => db.delete(&self.keys[*key]).await,
            _ => {
                let (write, _) = self.mutation(db.atomic(), m);
                write
                    .commit()
                    .await
                    .map(|r| r.versionstamp().expect("no checks, so committed"))
            }
        };
        self.settle(
            &model,
            result.map(|versionstamp| CommitResult::Committed { versionstamp }),
        );
        self.check_everything().await;
    }

    /// Compares a sequential write's outcome with the model's verdict and applies it.
    fn settle(&mut self, write: &ModelWrite, result: Result<CommitResult, StoreError>) {
        match (self.model.verdict(write), result) {
            (Verdict::Commits(effects), Ok(CommitResult::Committed { versionstamp })) => {
                assert!(
                    versionstamp > self.last_versionstamp,
                    "{versionstamp} must follow {}",
                    self.last_versionstamp
                );
                self.commit(&effects, versionstamp);
            }
            (
                Verdict::ChecksFail(expected),
                Ok(CommitResult::CheckFailed { failed_checks, .. }),
            ) => {
                assert_eq!(failed_checks, expected, "failed check indexes of {write:?}");
            }
            (Verdict::MutationFails(expected), Err(err)) => {
                assert!(matches!(err, StoreError::Mutation(_)), "{err:?}");
                assert_eq!(err.to_string(), expected);
            }
            (verdict, result) => {
                panic!("model says {verdict:?}, database says {result:?} for {write:?}")
            }
        }
    }

    fn commit(&mut self, effects: &Effects, versionstamp: Versionstamp) {
        self.model.apply(effects, versionstamp);
        for (key, state) in effects {
            if state.is_some() {
                self.history
                    .entry(key.clone())
                    .or_default()
                    .push(versionstamp);
            }
        }
        self.last_versionstamp = self.last_versionstamp.max(versionstamp);
    }

    async fn concurrent(&mut self, specs: &[WriteSpec]) {
        let mut writes = Vec::new();
        let mut models = Vec::new();
        for spec in specs {
            let (write, model) = self.prepare(spec).await;
            writes.push(write);
            models.push(model);
        }
        let tasks: Vec<_> = writes
            .into_iter()
            .map(|w| tokio::spawn(w.commit()))
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("commit task"));
        }

        // Replay the committed writes in versionstamp order.
        let mut committed: Vec<(Versionstamp, usize)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                Ok(CommitResult::Committed { versionstamp }) => Some((*versionstamp, i)),
                _ => None,
            })
            .collect();
        committed.sort();
        assert!(
            committed.windows(2).all(|p| p[0].0 < p[1].0),
            "versionstamps are unique: {committed:?}"
        );
        let mut states = vec![self.model.clone()];
        for (versionstamp, i) in &committed {
            assert!(*versionstamp > self.last_versionstamp);
            let at = states.last().expect("initial state");
            let Verdict::Commits(effects) = at.verdict(&models[*i]) else {
                panic!(
                    "write {i} committed as {versionstamp}, but at that position the model says {:?}: {:?}",
                    at.verdict(&models[*i]),
                    models[*i]
                );
            };
            let mut next = at.clone();
            next.apply(&effects, *versionstamp);
            states.push(next);
            self.commit(&effects, *versionstamp);
        }
        // Every failure happened in one of the states the writes passed through.
        for (i, result) in results.into_iter().enumerate() {
            let expected = match result {
                Ok(CommitResult::Committed { .. }) => continue,
                Ok(CommitResult::CheckFailed { failed_checks, .. }) => {
                    Verdict::ChecksFail(failed_checks)
                }
                Err(err @ StoreError::Mutation(_)) => Verdict::MutationFails(err.to_string()),
                Err(err) => panic!("write {i}: unexpected error {err:?}"),
            };
            assert!(
                states.iter().any(|s| s.verdict(&models[i]) == expected),
                "write {i} reported {expected:?}, which no state of the round explains: {:?}",
                models[i]
            );
        }
        self.model = states.pop().expect("final state");
        self.check_everything().await;
    }

    /// The whole visible state equals the model's.
    async fn check_everything(&self) {
        let listed: Vec<_> = self
            .db()
            .list(
                ListSelector::Prefix(key![]),
                ListOptions {
                    batch_size: 1000,
                    ..ListOptions::default()
                },
            )
            .expect("list")
            .collect()
            .await
            .expect("collect")
            .into_iter()
            .map(entry_triple)
            .collect();
        assert_eq!(listed, self.model.range(&[0x00], &[0xFF]), "whole state");
    }

    /// The selector, its `[start, end)` by the rules of kv-connect.md §2, and whether Deno
    /// accepts it (a start or end key must lie strictly under its prefix).
    fn selector(&self, spec: &SelectorSpec) -> (ListSelector, Vec<u8>, Vec<u8>, bool) {
        let with = |k: &Key, byte: u8| {
            let mut e = k.encode();
            e.push(byte);
            e
        };
        let under = |prefix: &Key, k: &Key| {
            let (p, e) = (prefix.encode(), k.encode());
            e.len() > p.len() && e.starts_with(&p)
        };
        match spec {
            SelectorSpec::Prefix(p) => {
                let p = &self.prefixes[*p];
                (
                    ListSelector::Prefix(p.clone()),
                    with(p, 0x00),
                    with(p, 0xFF),
                    true,
                )
            }
            SelectorSpec::PrefixStart(p, s) => {
                let (p, s) = (&self.prefixes[*p], &self.keys[*s]);
                let selector = ListSelector::PrefixStart {
                    prefix: p.clone(),
                    start: s.clone(),
                };
                (selector, s.encode(), with(p, 0xFF), under(p, s))
            }
            SelectorSpec::PrefixEnd(p, e) => {
                let (p, e) = (&self.prefixes[*p], &self.keys[*e]);
                let selector = ListSelector::PrefixEnd {
                    prefix: p.clone(),
                    end: e.clone(),
                };
                (selector, with(p, 0x00), e.encode(), under(p, e))
            }
            SelectorSpec::Range(s, e) => {
                let (s, e) = (&self.keys[*s], &self.keys[*e]);
                let selector = ListSelector::Range {
                    start: s.clone(),
                    end: e.clone(),
                };
                (selector, s.encode(), e.encode(), true)
            }
        }
    }

    async fn list(&self, spec: &ListSpec) {
        let (selector, start, end, valid) = self.selector(&spec.selector);
        let options = ListOptions {
            limit: spec.limit,
            reverse: spec.reverse,
            batch_size: spec.batch_size,
            cursor: None,
        };
        let listing = self.db().list(selector.clone(), options.clone());
        if !valid {
            assert!(
                matches!(listing, Err(StoreError::InvalidArgument(_))),
                "{selector:?} must be refused"
            );
            return;
        }
        let mut it = listing.expect("list");
        let mut all = self.model.range(&start, &end);
        if spec.reverse {
            all.reverse();
        }
        let expected: Vec<_> = all
            .iter()
            .take(spec.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect();
        let split = match spec.split {
            Some(i) if !expected.is_empty() => i.index(expected.len()) + 1,
            _ => expected.len(),
        };
        let mut got = Vec::new();
        for _ in 0..split {
            let entry = it.next().await.expect("an entry").expect("entry");
            got.push(entry_triple(entry));
        }
        assert_eq!(got, expected[..split], "{spec:?}");
        if split < expected.len() || spec.split.is_some() {
            // Resume from the cursor without a limit: exactly the rest of the listing.
            if split == 0 {
                return;
            }
            let resumed = ListOptions {
                limit: None,
                cursor: Some(it.cursor()),
                ..options
            };
            let rest: Vec<_> = self
                .db()
                .list(selector, resumed)
                .expect("resume")
                .collect()
                .await
                .expect("collect")
                .into_iter()
                .map(entry_triple)
                .collect();
            assert_eq!(rest, all[split..], "resumed {spec:?}");
        } else {
            assert!(
                it.next().await.is_none(),
                "nothing past the expected entries: {spec:?}"
            );
        }
    }
}

fn run(ops: &[Op], dir: Option<PathBuf>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut run = Run::new(dir);
        for op in ops {
            run.step(op).await;
        }
        if let Some(db) = run.db.take() {
            db.close();
        }
    });
}

/// Cases per property: the default, or `CAIRN_MODEL_CASES` for longer runs on demand.
fn cases(default: u32) -> u32 {
    std::env::var("CAIRN_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), ..ProptestConfig::default() })]

    #[test]
    fn in_memory_database_matches_the_model(ops in vec(op(), 1..60)) {
        run(&ops, None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128) / 8, ..ProptestConfig::default() })]

    #[test]
    fn fjall_database_matches_the_model(ops in vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("temp dir");
        run(&ops, Some(dir.path().to_path_buf()));
    }
}
