//! `cairn bench` workloads of secondary indexes and scans (not run by default; `bench/
//! embedded.sh` runs their Deno equivalents from `bench/deno_local.ts` beside them):
//!
//! - `indexes`: `atomic_c64` (64 writers, check "must not exist" + set under a fresh random
//!   key) with an object value of ~100 bytes (`{"email": ..., "team": ..., "score": n}` as
//!   JSON), three times in one run: under a prefix with no index (`atomic_c64_idx0`), one
//!   (`_idx1`: unique email) and three (`_idx3`: + team, + team and score). Deno's local KV
//!   has no declared indexes; its figures are the same writes maintaining the same index
//!   entries by hand in each atomic write, the way Deno KV users do it;
//! - `count`: counts the 1,000,000 preloaded keys (entries per second; latency of the whole
//!   count);
//! - `sum`: sums 1,000,000 u64 values (loaded by the workload, outside the timing);
//! - `list_keys`: the whole preloaded prefix without values, in batches of 100, as `list`.

use std::time::Instant;

use anyhow::ensure;
use cairn_model::{
    key, AggregateOptions, IndexSpec, Key, KvIndexes, KvKeyList, KvValue, ListOptions,
    ListSelector, Number,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

use crate::bench::Figures;

/// Writers of the index workloads.
const WRITERS: u64 = 64;
/// Values loaded by `sum`, in writes of this many.
const SUM_LOAD_BATCH: u64 = 1000;

fn object(id: u64) -> KvValue {
    let text = format!(
        r#"{{"email":"user{id:020}@example.com","team":"team{}","score":{},"pad":"xxxxxxxxxxxx"}}"#,
        id % 1000,
        id % 100_000
    );
    KvValue::Bytes(text.into_bytes())
}

/// `atomic_c64` with an object value under `prefix` (which carries 0, 1 or 3 indexes).
async fn write_objects<K: KvIndexes>(db: &K, prefix: &str, ops: u64) -> anyhow::Result<Figures> {
    let per_writer = ops.div_ceil(WRITERS);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for w in 0..WRITERS {
        let (db, prefix) = (db.clone(), prefix.to_owned());
        tasks.spawn(async move {
            let mut rng = SmallRng::seed_from_u64(rand::random::<u64>() ^ w);
            let mut latencies = Vec::with_capacity(per_writer as usize);
            for _ in 0..per_writer {
                let id = rng.random::<u64>();
                let k = key![prefix.as_str(), id];
                let t = Instant::now();
                let result = db
                    .atomic()
                    .check(&k, None)
                    .set(&k, object(id))
                    .commit()
                    .await?;
                latencies.push(t.elapsed().as_nanos() as u64);
                ensure!(
                    result.is_committed(),
                    "write of a fresh key failed: {result:?}"
                );
            }
            anyhow::Ok(latencies)
        });
    }
    Figures::gather(tasks, per_writer * WRITERS, started).await
}

/// The three `atomic_c64` runs with 0, 1 and 3 indexes.
pub async fn indexes<K: KvIndexes>(db: &K, ops: u64) -> anyhow::Result<()> {
    let declare = [
        IndexSpec::new("bi1_email", key!["bench_i1"], &["email"]).unique(),
        IndexSpec::new("bi3_email", key!["bench_i3"], &["email"]).unique(),
        IndexSpec::new("bi3_team", key!["bench_i3"], &["team"]),
        IndexSpec::new("bi3_team_score", key!["bench_i3"], &["team", "score"]),
    ];
    for spec in declare {
        db.create_index(spec).await?;
    }
    for (prefix, name) in [
        ("bench_i0", "atomic_c64_idx0"),
        ("bench_i1", "atomic_c64_idx1"),
        ("bench_i3", "atomic_c64_idx3"),
    ] {
        write_objects(db, prefix, ops).await?.print(name);
    }
    Ok(())
}

/// Counts the preloaded prefix.
pub async fn count<K: KvIndexes>(db: &K, keys: u64) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let n = db.count(ListSelector::Prefix(key!["bench"])).await?;
    let elapsed = started.elapsed();
    ensure!(n == keys, "counted {n} of {keys} keys");
    Ok(Figures {
        ops: n,
        elapsed,
        latencies_ns: vec![elapsed.as_nanos() as u64],
    })
}

/// Loads `keys` u64 values, then sums them.
pub async fn sum<K: KvIndexes>(db: &K, keys: u64) -> anyhow::Result<Figures> {
    let prefix = || ListSelector::Prefix(key!["bench_n"]);
    if db.count(prefix()).await? != keys {
        for b in 0..keys.div_ceil(SUM_LOAD_BATCH) {
            let mut op = db.atomic();
            for i in b * SUM_LOAD_BATCH..((b + 1) * SUM_LOAD_BATCH).min(keys) {
                op = op.set(&key!["bench_n", i], KvValue::U64(i));
            }
            ensure!(op.commit().await?.is_committed(), "sum preload failed");
        }
    }
    let started = Instant::now();
    let total = db.aggregate(prefix(), AggregateOptions::default()).await?;
    let elapsed = started.elapsed();
    let expected = i128::from(keys) * (i128::from(keys) - 1) / 2;
    ensure!(total.sum == Number::Int(expected), "sum {:?}", total.sum);
    Ok(Figures {
        ops: total.count,
        elapsed,
        latencies_ns: vec![elapsed.as_nanos() as u64],
    })
}

/// The whole preloaded prefix without values, in batches of 100; latency per batch.
pub async fn list_keys<K: KvIndexes>(db: &K, keys: u64) -> anyhow::Result<Figures> {
    const BATCH: u64 = 100;
    let options = ListOptions {
        batch_size: BATCH as usize,
        ..Default::default()
    };
    let started = Instant::now();
    let mut it = db.list_keys(ListSelector::Prefix(key!["bench"]), options)?;
    let mut latencies_ns = Vec::with_capacity((keys / BATCH) as usize);
    let (mut count, mut t) = (0u64, Instant::now());
    while let Some(entry) = it.next().await {
        let _: Key = entry?.key;
        count += 1;
        if count.is_multiple_of(BATCH) {
            latencies_ns.push(t.elapsed().as_nanos() as u64);
            t = Instant::now();
        }
    }
    ensure!(count == keys, "listed {count} of {keys} keys");
    Ok(Figures {
        ops: count,
        elapsed: started.elapsed(),
        latencies_ns,
    })
}
