//! Power loss, simulated through the storage seam: concurrent writers commit checked atomic
//! writes; at a random moment the test takes what a machine would find after losing power
//! (only what was synced: `MemoryStorage::power_loss`), reopens a database on it and checks
//! that every write acknowledged before that moment is there, that no atomic write is partly
//! there, and that versionstamps go on increasing. A SIGKILL cannot catch a missing sync (the
//! kernel keeps the killed process's writes); this can, and the negative control proves it:
//! with syncs skipped, the same check must report lost writes.
//!
//! `CAIRN_POWER_LOSS_CYCLES` (default 50) sets the number of cycles.

use cairn_store::{Kv, KvList};
use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_model::{key, KeyPart, KvValue, Versionstamp};
use cairn_store::storage::{FaultStorage, MemoryStorage};
use cairn_store::{CommitResult, Config, Database, ListOptions, ListSelector};
use parking_lot::Mutex;
use rand::Rng;

const WRITERS: u64 = 6;

type Disk = Arc<FaultStorage<MemoryStorage>>;

fn cycles() -> u64 {
    std::env::var("CAIRN_POWER_LOSS_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn u64_of(value: &KvValue) -> u64 {
    match value {
        KvValue::U64(n) => *n,
        other => panic!("expected a u64, found {other:?}"),
    }
}

/// Runs writers until `acks_wanted` writes are acknowledged, then "loses power": returns the
/// surviving disk, the writes acknowledged before the loss, and the newest versionstamp seen.
async fn run_until_power_loss(
    disk: Disk,
    acks_wanted: usize,
) -> (MemoryStorage, Vec<(u64, u64)>, Versionstamp) {
    let db = Database::open_storage(disk.clone(), Config::default()).expect("open");
    let acks: Arc<Mutex<Vec<(u64, u64, Versionstamp)>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (db, acks) = (db.clone(), acks.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let current = db.get(&key!["w", w]).await.expect("get");
                let seq = current.as_ref().map_or(0, |e| u64_of(&e.value)) + 1;
                let result = db
                    .atomic()
                    .check(&key!["w", w], current.map(|e| e.versionstamp))
                    .set(&key!["w", w], KvValue::U64(seq))
                    .set(&key!["log", w, seq], KvValue::U64(seq))
                    .sum(&key!["total"], 1)
                    .commit()
                    .await;
                match result {
                    Ok(CommitResult::Committed { versionstamp }) => {
                        acks.lock().push((w, seq, versionstamp))
                    }
                    Ok(CommitResult::CheckFailed { .. }) => {
                        panic!("writer {w} is the only writer of its key")
                    }
                    Err(_) => return, // the database is closing
                }
            }
        }));
    }
    while acks.lock().len() < acks_wanted {
        tokio::task::yield_now().await;
    }
    // Order matters: every write in `before` was acknowledged, hence synced, before the loss.
    let before: Vec<_> = acks.lock().clone();
    let survivor = disk.inner().power_loss();
    for task in &tasks {
        task.abort();
    }
    db.close();
    let newest = before.iter().map(|a| a.2).max().unwrap_or_default();
    (
        survivor,
        before.into_iter().map(|(w, s, _)| (w, s)).collect(),
        newest,
    )
}

/// Checks the recovered database; `Err` describes the first violation.
async fn verify(
    db: &Database,
    acked: &[(u64, u64)],
    newest_before: Versionstamp,
) -> Result<Versionstamp, String> {
    let mut counters = BTreeMap::new();
    let mut newest = Versionstamp::default();
    for w in 0..WRITERS {
        let entry = db.get(&key!["w", w]).await.map_err(|e| e.to_string())?;
        if let Some(e) = &entry {
            newest = newest.max(e.versionstamp);
        }
        counters.insert(w, entry.map_or(0, |e| u64_of(&e.value)));
    }
    for (w, seq) in acked {
        if counters.get(w).copied().unwrap_or(0) < *seq {
            return Err(format!(
                "acknowledged write w{w}#{seq} lost (recovered w{w} = {:?})",
                counters.get(w)
            ));
        }
    }
    let log = db
        .list(ListSelector::Prefix(key!["log"]), ListOptions::default())
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let mut per_writer: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for entry in &log {
        let (Some(KeyPart::Int(w)), Some(KeyPart::Int(seq))) =
            (entry.key.parts().get(1), entry.key.parts().get(2))
        else {
            return Err(format!("unexpected log key {}", entry.key));
        };
        let w: u64 = w.try_into().map_err(|_| "writer id".to_string())?;
        let seq: u64 = seq.try_into().map_err(|_| "seq".to_string())?;
        per_writer.entry(w).or_default().push(seq);
    }
    for (w, n) in &counters {
        let expected: Vec<u64> = (1..=*n).collect();
        let found = per_writer.get(w).cloned().unwrap_or_default();
        if found != expected {
            return Err(format!(
                "partial write: w{w} = {n} but its log holds {found:?}"
            ));
        }
    }
    let total = db
        .get(&key!["total"])
        .await
        .map_err(|e| e.to_string())?
        .map_or(0, |e| u64_of(&e.value));
    let sum: u64 = counters.values().sum();
    if total != sum {
        return Err(format!(
            "partial write: total {total} but the counters add up to {sum}"
        ));
    }
    if newest < newest_before && !acked.is_empty() {
        return Err(format!("newest recovered versionstamp {newest} is older than the newest acknowledged {newest_before}"));
    }
    Ok(newest)
}

/// Runs `cycles` power losses in a row; each cycle's survivor is the next cycle's disk.
async fn run(cycles: u64, skip_syncs: bool) -> Result<u64, String> {
    let mut rng = rand::rng();
    let mut memory = MemoryStorage::new();
    let mut acknowledged = 0u64;
    let mut newest_ever = Versionstamp::default();
    for cycle in 0..cycles {
        let disk: Disk = Arc::new(FaultStorage::new(memory));
        disk.skip_syncs(skip_syncs);
        let wanted = rng.random_range(1..200);
        let (survivor, acked, newest_before) = run_until_power_loss(disk, wanted).await;
        acknowledged += acked.len() as u64;
        let recovered = Arc::new(survivor);
        let db = Database::open_storage(recovered.clone(), Config::default())
            .map_err(|e| e.to_string())?;
        let newest = verify(&db, &acked, newest_before)
            .await
            .map_err(|e| format!("cycle {cycle}: {e}"))?;
        // The next commit on the recovered database must come after everything recovered.
        let next = db
            .set(&key!["probe"], KvValue::U64(cycle))
            .await
            .map_err(|e| e.to_string())?;
        if next <= newest || next <= newest_ever {
            return Err(format!(
                "cycle {cycle}: versionstamp {next} after recovering {newest}"
            ));
        }
        newest_ever = next;
        db.close();
        // The next cycle starts from this recovered disk, probe included (close synced it).
        memory = recovered.power_loss();
    }
    Ok(acknowledged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_loss_keeps_every_acknowledged_write() {
    let acknowledged = run(cycles(), false).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(acknowledged > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_syncs_loses_writes() {
    // The same harness with syncs skipped must notice: otherwise it could not catch anything.
    let outcome = run(10, true).await;
    let error = outcome.expect_err("skipping syncs must lose acknowledged writes");
    assert!(error.contains("lost"), "{error}");
}
