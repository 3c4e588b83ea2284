//! The `soak` workload: 64 tasks of mixed reads and writes over the preloaded keys for a
//! fixed time, so that a long run shows whether throughput, latency and memory stay flat.
//! The key space stays bounded (writes overwrite preloaded keys and 64 counters), so a
//! growing memory footprint would be the database's, not the data's.
//!
//! Mix per operation: 60% `get` of a random key, 20% `set` of a random key, 10% `sum` on one
//! of 64 counters, 10% `list` of 100 entries from a random key. One line per minute,
//! `soak t_s=<n> ops_per_s=<n> p50_us=<n> p99_us=<n> p999_us=<n> errors=<n>`, then the same
//! over the whole run with `t_s=total`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_model::{key, KvValue};
use cairn_store::{Kv, KvList, ListOptions, ListSelector};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

use crate::bench::percentile_us;

const TASKS: u64 = 64;
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// What the tasks record between two reports.
#[derive(Default)]
struct Interval {
    latencies_ns: Vec<u64>,
    errors: u64,
}

pub(crate) async fn run<K: Kv>(db: &K, keys: u64, duration: Duration) -> anyhow::Result<()> {
    let interval = Arc::new(Mutex::new(Interval::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let total_ops = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for t in 0..TASKS {
        let (db, interval, stop, total_ops) = (
            db.clone(),
            interval.clone(),
            stop.clone(),
            total_ops.clone(),
        );
        tasks.spawn(async move {
            let mut rng = SmallRng::seed_from_u64(0x50a4 ^ t);
            while !stop.load(Ordering::Relaxed) {
                let k = key!["bench", rng.random_range(0..keys.max(1))];
                let dice = rng.random_range(0..10u8);
                let started = Instant::now();
                let ok = match dice {
                    0..=5 => db.get(&k).await.is_ok(),
                    6 | 7 => {
                        let value = KvValue::Bytes(vec![dice; 100]);
                        db.set(&k, value).await.is_ok()
                    }
                    8 => {
                        let counter = key!["soak_counter", rng.random_range(0..64u64)];
                        db.atomic().sum(&counter, 1).commit().await.is_ok()
                    }
                    _ => list_100(&db, k).await,
                };
                let elapsed = started.elapsed().as_nanos() as u64;
                total_ops.fetch_add(1, Ordering::Relaxed);
                let mut slot = lock(&interval);
                slot.latencies_ns.push(elapsed);
                slot.errors += u64::from(!ok);
            }
        });
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    while started.elapsed() < duration {
        let left = duration.saturating_sub(started.elapsed());
        let wait = REPORT_EVERY.min(left);
        let mark = Instant::now();
        tokio::time::sleep(wait).await;
        let mut taken = std::mem::take(&mut *lock(&interval));
        taken.latencies_ns.sort_unstable();
        report(
            &format!("{}", started.elapsed().as_secs()),
            &taken.latencies_ns,
            mark.elapsed(),
            taken.errors,
        );
        errors += taken.errors;
        all.extend(taken.latencies_ns);
    }
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    all.sort_unstable();
    report("total", &all, started.elapsed(), errors);
    anyhow::ensure!(
        errors == 0,
        "{errors} operations failed during the soak run"
    );
    Ok(())
}

async fn list_100<K: Kv>(db: &K, from: cairn_model::Key) -> bool {
    let options = ListOptions {
        limit: Some(100),
        batch_size: 100,
        ..Default::default()
    };
    let selector = ListSelector::PrefixStart {
        prefix: key!["bench"],
        start: from,
    };
    match db.list(selector, options) {
        Ok(it) => it.collect().await.is_ok(),
        Err(_) => false,
    }
}

/// The interval's lock; a task that panicked while holding it left plain numbers behind.
fn lock(interval: &Mutex<Interval>) -> std::sync::MutexGuard<'_, Interval> {
    interval.lock().unwrap_or_else(|p| p.into_inner())
}

fn report(t: &str, sorted_ns: &[u64], elapsed: Duration, errors: u64) {
    let rate = sorted_ns.len() as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "soak t_s={t} ops_per_s={rate:.0} p50_us={} p99_us={} p999_us={} errors={errors}",
        percentile_us(sorted_ns, 0.50),
        percentile_us(sorted_ns, 0.99),
        percentile_us(sorted_ns, 0.999),
    );
}
