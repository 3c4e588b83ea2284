//! `cairn bench --workloads replication_lag --url PRIMARY --replica-url REPLICA`: how far a
//! replica trails its primary under a steady write rate.
//!
//! Writers commit sets of 100-byte values on the primary at `--rate` per second (paced in
//! ticks of [`TICK`], at most [`WRITES_IN_FLIGHT_MAX`] in flight) for `--duration-s` seconds.
//! Beside them a probe measures the lag end to end, as a reader of the replica sees it: it
//! writes a counter to the primary, and from the moment the write is acknowledged reads the
//! replica (its own endpoint: start it with `--replica-endpoints replica`) until the new
//! value is there; then again. The summary line:
//! `replication_lag <writes_per_s> p50_us=<n> p99_us=<n> probes=<n> write_p50_us=<n>
//! write_p99_us=<n>`: the rate achieved, the lag's percentiles, how many probes, and the
//! writes' own latency.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use cairn_client::Client;
use cairn_model::{key, Kv, KvValue};
use tokio::task::JoinSet;

use crate::bench::percentile_us;

/// The writes are paced in ticks of this length.
const TICK: Duration = Duration::from_millis(10);
/// Most writes in flight; past it the writers fall behind their schedule (and say so).
const WRITES_IN_FLIGHT_MAX: usize = 256;
/// Longest a probe waits for its write on the replica.
const PROBE_WAIT: Duration = Duration::from_secs(30);
const VALUE_BYTES: usize = 100;

pub(crate) async fn run(
    primary: &Client,
    replica: &Client,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<()> {
    ensure!(rate > 0, "--rate must be positive");
    let probe = tokio::spawn(probe(primary.clone(), replica.clone(), duration));
    let started = Instant::now();
    let mut writes = JoinSet::new();
    let mut latencies_ns = Vec::new();
    let mut written = 0u64;
    let mut behind = false;
    let ticks = (duration.as_millis() / TICK.as_millis()) as u64;
    for tick in 1..=ticks {
        let due = rate * tick * TICK.as_millis() as u64 / 1000;
        while written < due {
            let db = primary.clone();
            let n = written;
            writes.spawn(async move {
                let t = Instant::now();
                db.set(
                    &key!["lag_bench", n],
                    KvValue::Bytes(vec![0x5a; VALUE_BYTES]),
                )
                .await?;
                anyhow::Ok(t.elapsed().as_nanos() as u64)
            });
            written += 1;
            while writes.len() >= WRITES_IN_FLIGHT_MAX {
                behind = true;
                if let Some(done) = writes.join_next().await {
                    latencies_ns.push(done??);
                }
            }
        }
        while let Some(done) = writes.try_join_next() {
            latencies_ns.push(done??);
        }
        let next = started + TICK * tick as u32;
        tokio::time::sleep_until(next.into()).await;
    }
    while let Some(done) = writes.join_next().await {
        latencies_ns.push(done??);
    }
    let elapsed = started.elapsed();
    let mut lags_ns = probe.await??;
    if behind {
        eprintln!("# replication_lag: the writers fell behind {rate}/s ({WRITES_IN_FLIGHT_MAX} in flight)");
    }
    lags_ns.sort_unstable();
    latencies_ns.sort_unstable();
    println!(
        "replication_lag {:.0} p50_us={} p99_us={} probes={} write_p50_us={} write_p99_us={}",
        written as f64 / elapsed.as_secs_f64(),
        percentile_us(&lags_ns, 0.50),
        percentile_us(&lags_ns, 0.99),
        lags_ns.len(),
        percentile_us(&latencies_ns, 0.50),
        percentile_us(&latencies_ns, 0.99),
    );
    Ok(())
}

/// Writes a counter on the primary and times, from each acknowledgement, until the replica
/// shows it; for `duration`. The lags, in nanoseconds.
async fn probe(primary: Client, replica: Client, duration: Duration) -> anyhow::Result<Vec<u64>> {
    let k = key!["lag_probe"];
    let started = Instant::now();
    let mut lags = Vec::new();
    for n in 1u64.. {
        if started.elapsed() >= duration {
            break;
        }
        primary.set(&k, KvValue::U64(n)).await?;
        let acknowledged = Instant::now();
        loop {
            if let Some(entry) = replica.get(&k).await? {
                if entry.value == KvValue::U64(n) {
                    break;
                }
            }
            if acknowledged.elapsed() > PROBE_WAIT {
                bail!("probe {n} not on the replica after {PROBE_WAIT:?}");
            }
        }
        lags.push(acknowledged.elapsed().as_nanos() as u64);
    }
    Ok(lags)
}
