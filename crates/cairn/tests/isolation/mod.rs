//! A list-append workload and its history checker, in the manner of Jepsen's Elle: each key
//! holds a list of unique elements; an append transaction reads one or two keys and, with a
//! check on each read versionstamp, writes each list back with a new element at its end (two
//! keys: the same element in both, one atomic write); a read transaction reads two or three
//! keys in one snapshot. Every operation is recorded with its real-time start and end.
//!
//! [`check`] then looks for:
//! - lost updates: an acknowledged append missing from the final list of any of its keys;
//! - phantoms and duplicates: an element in a list that no append attempted, or twice;
//! - divergence: a read of a key that is not a prefix of its final list;
//! - stale reads: a read missing an append that was acknowledged before the read began;
//! - reads from the future: a read holding an append that began after the read ended;
//! - fractured reads: a read of both keys of a two-key append seeing it in only one;
//! - versionstamps: not increasing in real-time order across acknowledged appends, not
//!   increasing along each final list, or a read's versionstamp that is not the one of the
//!   append that wrote the list it returned.

// Each test file that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use cairn_model::{key, CommitResult, Key, Kv, KvValue, Versionstamp};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Keys the workload spreads over: few, so transactions conflict.
pub const KEYS: usize = 6;
/// Attempts of one append before it gives up (each lost race is a failed check).
const APPEND_ATTEMPTS: usize = 25;

pub fn list_key(k: usize) -> Key {
    key!["la", k as u64]
}

/// What became of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged, with the commit's versionstamp.
    Acked(Versionstamp),
    /// Every attempt lost its race: never written.
    GaveUp,
    /// The answer was lost (an error): written or not.
    Unknown,
}

#[derive(Debug, Clone)]
pub enum Op {
    Append {
        keys: Vec<usize>,
        element: u64,
        start: Instant,
        end: Instant,
        outcome: Outcome,
    },
    Read {
        keys: Vec<usize>,
        /// Each key's list and the versionstamp of its entry (None: no entry).
        lists: Vec<(Vec<u64>, Option<Versionstamp>)>,
        start: Instant,
        end: Instant,
    },
}

fn decode(value: Option<&KvValue>) -> Vec<u64> {
    match value {
        Some(KvValue::Bytes(bytes)) => bytes
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        Some(other) => panic!("list values are bytes, found {other:?}"),
        None => Vec::new(),
    }
}

fn encode(list: &[u64]) -> KvValue {
    KvValue::Bytes(list.iter().flat_map(|e| e.to_be_bytes()).collect())
}

/// Runs `ops` random operations as client `client` (elements are `client << 32 | n`);
/// returns the history. Stops early at the first error (a lost answer, a dead server).
pub async fn run_client<K: Kv>(db: &K, client: u64, ops: u64, seed: u64) -> Vec<Op> {
    let mut rng = SmallRng::seed_from_u64(seed ^ client.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut history = Vec::new();
    let mut next_element = 0u64;
    for _ in 0..ops {
        let key_count = if rng.random_bool(0.6) { 1 } else { 2 };
        let read_only = rng.random_bool(0.4);
        let mut keys: Vec<usize> = Vec::new();
        let wanted = if read_only { key_count + 1 } else { key_count };
        while keys.len() < wanted {
            let k = rng.random_range(0..KEYS);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let db_keys: Vec<Key> = keys.iter().map(|&k| list_key(k)).collect();
        if read_only {
            let start = Instant::now();
            let Ok(entries) = db.get_many(&db_keys).await else {
                break;
            };
            let end = Instant::now();
            let lists = entries
                .iter()
                .map(|e| {
                    (
                        decode(e.as_ref().map(|e| &e.value)),
                        e.as_ref().map(|e| e.versionstamp),
                    )
                })
                .collect();
            history.push(Op::Read {
                keys,
                lists,
                start,
                end,
            });
            continue;
        }
        next_element += 1;
        let element = client << 32 | next_element;
        let start = Instant::now();
        let mut outcome = Outcome::GaveUp;
        for _ in 0..APPEND_ATTEMPTS {
            let Ok(entries) = db.get_many(&db_keys).await else {
                outcome = Outcome::Unknown;
                break;
            };
            let mut op = db.atomic();
            for (key, entry) in db_keys.iter().zip(&entries) {
                let mut list = decode(entry.as_ref().map(|e| &e.value));
                list.push(element);
                op = op
                    .check(key, entry.as_ref().map(|e| e.versionstamp))
                    .set(key, encode(&list));
            }
            match op.commit().await {
                Ok(CommitResult::Committed { versionstamp }) => {
                    outcome = Outcome::Acked(versionstamp);
                    break;
                }
                Ok(CommitResult::CheckFailed { .. }) => continue,
                Err(_) => {
                    outcome = Outcome::Unknown;
                    break;
                }
            }
        }
        let end = Instant::now();
        history.push(Op::Append {
            keys,
            element,
            start,
            end,
            outcome,
        });
        if outcome == Outcome::Unknown {
            break;
        }
    }
    history
}

/// Reads every key's final list.
pub async fn final_lists<K: Kv>(db: &K) -> Vec<Vec<u64>> {
    let keys: Vec<Key> = (0..KEYS).map(list_key).collect();
    let entries = db.get_many(&keys).await.expect("final read");
    entries
        .iter()
        .map(|e| decode(e.as_ref().map(|e| &e.value)))
        .collect()
}

/// What the checker counted, for the reports.
#[derive(Debug, Default)]
pub struct Summary {
    pub acked_appends: usize,
    pub unknown_appends: usize,
    pub reads: usize,
}

/// Checks a history against the final lists; returns every anomaly found (empty: none).
pub fn check(history: &[Op], finals: &[Vec<u64>]) -> (Summary, Vec<String>) {
    let mut anomalies = Vec::new();
    let mut summary = Summary::default();
    let appends: HashMap<u64, (&Vec<usize>, Instant, Instant, Outcome)> = history
        .iter()
        .filter_map(|op| match op {
            Op::Append {
                keys,
                element,
                start,
                end,
                outcome,
            } => Some((*element, (keys, *start, *end, *outcome))),
            Op::Read { .. } => None,
        })
        .collect();
    // Final lists: no phantom, no duplicate, no lost update, versionstamps in list order.
    for (k, list) in finals.iter().enumerate() {
        let mut seen = HashSet::new();
        let mut last_vs = None;
        for e in list {
            if !seen.insert(*e) {
                anomalies.push(format!("duplicate element {e:#x} in key {k}"));
            }
            match appends.get(e) {
                None => anomalies.push(format!("phantom element {e:#x} in key {k}")),
                Some((keys, _, _, outcome)) => {
                    if !keys.contains(&k) {
                        anomalies.push(format!("element {e:#x} in key {k}, appended elsewhere"));
                    }
                    if *outcome == Outcome::GaveUp {
                        anomalies.push(format!("element {e:#x} of a failed append in key {k}"));
                    }
                    if let Outcome::Acked(vs) = outcome {
                        if last_vs.is_some_and(|last| last >= *vs) {
                            anomalies.push(format!(
                                "key {k}: element {e:#x} follows one with a later versionstamp"
                            ));
                        }
                        last_vs = Some(*vs);
                    }
                }
            }
        }
    }
    for (e, (keys, _, _, outcome)) in &appends {
        match outcome {
            Outcome::Acked(_) => {
                summary.acked_appends += 1;
                for k in keys.iter() {
                    if !finals[*k].contains(e) {
                        anomalies.push(format!("lost update: element {e:#x} missing from {k}"));
                    }
                }
            }
            Outcome::Unknown => {
                summary.unknown_appends += 1;
                let present: Vec<bool> = keys.iter().map(|k| finals[*k].contains(e)).collect();
                if present.iter().any(|p| *p) && !present.iter().all(|p| *p) {
                    anomalies.push(format!(
                        "element {e:#x} partly applied: {keys:?} {present:?}"
                    ));
                }
            }
            Outcome::GaveUp => {}
        }
    }
    // Reads.
    let acked: Vec<(u64, &Vec<usize>, Instant, Instant, Versionstamp)> = appends
        .iter()
        .filter_map(|(e, (keys, start, end, outcome))| match outcome {
            Outcome::Acked(vs) => Some((*e, *keys, *start, *end, *vs)),
            _ => None,
        })
        .collect();
    for op in history {
        let Op::Read {
            keys,
            lists,
            start,
            end,
        } = op
        else {
            continue;
        };
        summary.reads += 1;
        for (k, (list, vs)) in keys.iter().zip(lists) {
            if !finals[*k].starts_with(list) {
                anomalies.push(format!("read of key {k} is not a prefix of its final list"));
            }
            if let (Some(last), Some(vs)) = (list.last(), vs) {
                if let Some((_, _, _, Outcome::Acked(written))) = appends.get(last) {
                    if written != vs {
                        anomalies.push(format!(
                            "read of key {k}: versionstamp {vs} but its last element was \
                             written at {written}"
                        ));
                    }
                }
            }
            for (e, append_keys, a_start, a_end, _) in &acked {
                if !append_keys.contains(k) {
                    continue;
                }
                if a_end < start && !list.contains(e) {
                    anomalies.push(format!(
                        "stale read of key {k}: misses {e:#x}, acknowledged before the read began"
                    ));
                }
                if a_start > end && list.contains(e) {
                    anomalies.push(format!(
                        "read of key {k} from the future: holds {e:#x}, begun after the read"
                    ));
                }
            }
        }
        // Fractured reads: an append to two keys seen in one and not the other.
        for (e, (append_keys, _, _, _)) in &appends {
            let both: Vec<usize> = append_keys
                .iter()
                .filter_map(|k| keys.iter().position(|rk| rk == k))
                .collect();
            if both.len() == 2 {
                let seen: Vec<bool> = both.iter().map(|&i| lists[i].0.contains(e)).collect();
                if seen[0] != seen[1] {
                    anomalies.push(format!(
                        "fractured read: element {e:#x} of keys {append_keys:?} seen in one only"
                    ));
                }
            }
        }
    }
    // Versionstamps in real-time order.
    for a in &acked {
        for b in &acked {
            if a.3 < b.2 && a.4 >= b.4 {
                anomalies.push(format!(
                    "versionstamps out of real-time order: {:#x} acknowledged before {:#x} \
                     began, yet {} >= {}",
                    a.0, b.0, a.4, b.4
                ));
            }
        }
    }
    (summary, anomalies)
}
