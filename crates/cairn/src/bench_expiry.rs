//! `cairn bench --workloads expiry`: whether the expiry sweeper keeps up. Keys are written at
//! `--expiry-rate` per second for `--duration-s` seconds (default 60), each expiring
//! [`TTL_MS`] after it is written, so from then on keys expire at that rate too, while the
//! writes go on. Each second the workload samples `Database::expiry_backlog()` (expired
//! entries not yet removed) and prints `# expiry t_s=<n> written=<n> backlog=<n>`; when the
//! writing stops, it keeps sampling until the last key has expired and the backlog is zero
//! (at most [`DRAIN_WAIT`]). The summary line:
//! `expiry <keys_per_s> p50_us=<n> p99_us=<n> backlog_max=<n> backlog_end=<n> drained_ms=<n>`:
//! the rate written (= the rate expiring), the latency of the writes (each a durable atomic
//! write of [`WRITE_KEYS`] keys, sharing the pipeline with the sweeper), the largest backlog
//! sampled while writing, the backlog when the writing stopped, and how long after the last
//! key's expiry the backlog reached zero. Embedded only: the backlog is a `Database` call.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use cairn_model::{key, KvValue};
use cairn_store::{Database, Kv};
use tokio::task::JoinSet;

use crate::bench::percentile_us;

/// Each key expires this long after it is written, in milliseconds.
const TTL_MS: u64 = 1_000;
/// Keys per atomic write.
const WRITE_KEYS: u64 = 250;
/// The writes are paced in ticks of this length.
const TICK: Duration = Duration::from_millis(10);
/// Most writes in flight; past it the writer falls behind its schedule (and says so).
const WRITES_IN_FLIGHT_MAX: usize = 64;
/// How often the backlog is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Longest the workload waits, after the last key expired, for the backlog to reach zero.
const DRAIN_WAIT: Duration = Duration::from_secs(60);
const VALUE_BYTES: usize = 100;

/// Backlog samples while writing.
#[derive(Default)]
struct Samples {
    max: u64,
    last: u64,
}

pub(crate) async fn run(db: &Database, rate: u64, duration: Duration) -> anyhow::Result<()> {
    ensure!(rate > 0, "--expiry-rate must be positive");
    let started = Instant::now();
    let mut writes = JoinSet::new();
    let mut latencies_ns = Vec::new();
    let mut samples = Samples::default();
    let mut next_sample = started + SAMPLE_EVERY;
    let mut written = 0u64;
    let ticks = (duration.as_millis() / TICK.as_millis()) as u64;
    for tick in 1..=ticks {
        // Keys due by the end of this tick, in writes of WRITE_KEYS.
        let due = rate * tick * TICK.as_millis() as u64 / 1000;
        while written < due {
            let n = WRITE_KEYS.min(due - written);
            writes.spawn(write(db.clone(), written, n));
            written += n;
            while writes.len() >= WRITES_IN_FLIGHT_MAX {
                collect(&mut writes, &mut latencies_ns).await?;
            }
        }
        while let Some(r) = writes.try_join_next() {
            latencies_ns.push(r??);
        }
        if Instant::now() >= next_sample {
            next_sample += SAMPLE_EVERY;
            sample(db, started, written, &mut samples)?;
        }
        tokio::time::sleep_until((started + TICK * tick as u32).into()).await;
    }
    while !writes.is_empty() {
        collect(&mut writes, &mut latencies_ns).await?;
    }
    let elapsed = started.elapsed();
    sample(db, started, written, &mut samples)?;
    let drained = drain(db, started, written).await?;
    latencies_ns.sort_unstable();
    let pct = |p| percentile_us(&latencies_ns, p);
    println!(
        "expiry {:.0} p50_us={} p99_us={} backlog_max={} backlog_end={} drained_ms={}",
        written as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        samples.max,
        samples.last,
        drained.as_millis(),
    );
    Ok(())
}

/// Writes keys `first..first + n`, expiring after [`TTL_MS`]; returns the latency in ns.
async fn write(db: Database, first: u64, n: u64) -> anyhow::Result<u64> {
    let ttl = Duration::from_millis(TTL_MS);
    let value = KvValue::Bytes(vec![0x5a; VALUE_BYTES]);
    let mut op = db.atomic();
    for i in first..first + n {
        op = op.set_expiring(&key!["exp", i], value.clone(), ttl);
    }
    let t = Instant::now();
    ensure!(op.commit().await?.is_committed(), "expiring write failed");
    Ok(t.elapsed().as_nanos() as u64)
}

async fn collect(
    writes: &mut JoinSet<anyhow::Result<u64>>,
    latencies_ns: &mut Vec<u64>,
) -> anyhow::Result<()> {
    if let Some(r) = writes.join_next().await {
        latencies_ns.push(r??);
    }
    Ok(())
}

fn sample(
    db: &Database,
    started: Instant,
    written: u64,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    let backlog = db.expiry_backlog().context("reading the expiry backlog")?;
    samples.max = samples.max.max(backlog);
    samples.last = backlog;
    eprintln!(
        "# expiry t_s={} written={written} backlog={backlog}",
        started.elapsed().as_secs()
    );
    Ok(())
}

/// Waits until every key written has expired and the backlog is zero; returns how long that
/// took after the last key's expiry.
async fn drain(db: &Database, started: Instant, written: u64) -> anyhow::Result<Duration> {
    let last_expiry = Instant::now() + Duration::from_millis(TTL_MS);
    tokio::time::sleep_until(last_expiry.into()).await;
    let mut samples = Samples::default();
    loop {
        if db.expiry_backlog().context("reading the expiry backlog")? == 0 {
            sample(db, started, written, &mut samples)?;
            return Ok(last_expiry.elapsed());
        }
        ensure!(
            last_expiry.elapsed() < DRAIN_WAIT,
            "the backlog did not reach zero within {DRAIN_WAIT:?} after the last expiry"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
