//! `cairn bench`: the workloads, on a fresh embedded database of 1,000,000 keys, or with
//! `--url` on a KV Connect server through cairn-client (the same code: the workloads are
//! written against the `Kv` trait).
//!
//! The workloads are defined identically in `bench/deno_local.ts`, which runs them on Deno's
//! own local KV, so the two sets of figures can stand side by side:
//!
//! - `atomic_c1` / `atomic_c64`: durable atomic writes, each one check (must not exist) and
//!   one set of a 100-byte value under a fresh random key, from 1 and 64 concurrent writers
//!   (`atomic_c256`: 256, for a server whose round trip is longer than a sync);
//! - `get`: random point reads of the preloaded keys, one reader (`get_c64`: 64 readers);
//! - `list`: the whole preloaded prefix in batches of 100; figures in entries per second,
//!   latencies per batch;
//! - `queue` (not run by default): durable enqueue → delivery → acknowledgement, see
//!   `bench_queue.rs`;
//! - `soak` (not run by default): 64 tasks of mixed reads and writes for `--duration-s`,
//!   a line per minute, see `bench_soak.rs` and `bench/soak.sh`;
//! - `indexes`, `count`, `sum`, `list_keys` (not run by default): secondary indexes and
//!   scans, see `bench_index.rs`;
//! - `replication_lag` (not run by default, `--url` and `--replica-url` only): writes at
//!   `--rate` per second while a probe times each write's arrival on the replica, see
//!   `bench_replication.rs` and `bench/replication.sh`;
//! - `expiry` (not run by default, embedded only): keys written at `--expiry-rate` per
//!   second, each expiring a second later, for `--duration-s` (default 60); the sweeper's
//!   backlog sampled each second, see `bench_expiry.rs`.
//!
//! Output: one line per workload, `<workload> <ops_per_s> p50_us=<n> p99_us=<n>`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use cairn_model::{key, KvValue};
use cairn_store::{
    CommitResult, Config, Database, Durability, Kv, KvList, ListOptions, ListSelector,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Directory for the benchmark database (a fresh temporary one by default). It must not
    /// hold a database already.
    #[arg(long)]
    path: Option<PathBuf>,
    /// Keys preloaded.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Multiplies every workload's operation count (0.1 for a quick run).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Workloads to run, comma-separated.
    #[arg(long, default_value = "atomic_c1,atomic_c64,get,list")]
    workloads: String,
    /// Seconds to wait after loading, for background compaction to finish.
    #[arg(long, default_value_t = 5)]
    settle_s: u64,
    /// Acknowledge writes before they are synced (see the README on durability modes).
    #[arg(long, conflicts_with = "url")]
    relaxed: bool,
    /// Run the workloads against a KV Connect server (e.g. a `cairn serve`) instead of an
    /// embedded database. Its database should be empty: the keys are preloaded through it.
    #[arg(long, conflicts_with = "path")]
    url: Option<String>,
    /// The access token for --url.
    #[arg(long, env = "DENO_KV_ACCESS_TOKEN", hide_env_values = true)]
    access_token: Option<String>,
    /// Archive the embedded database continuously to DEST (a directory or s3://…) while the
    /// workloads run; the archive's largest lag is printed at the end.
    #[arg(long, conflicts_with = "url")]
    archive: Option<String>,
    /// How long the `soak` workload runs, in seconds (default 1800), and how long the
    /// `expiry` workload writes (default 60).
    #[arg(long)]
    duration_s: Option<u64>,
    /// Keys per second the `expiry` workload writes (each expiring a second later).
    #[arg(long, default_value_t = 50_000)]
    expiry_rate: u64,
    /// Keep no statistics in the embedded database (to measure what they cost).
    #[arg(long, conflicts_with = "url")]
    no_stats: bool,
    /// The `replication_lag` workload's replica of --url (started with
    /// --replica-endpoints replica, so that its reads are its own).
    #[arg(long, requires = "url")]
    replica_url: Option<String>,
    /// Writes per second of the `replication_lag` workload.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
}

const VALUE_BYTES: usize = 100;
const LOAD_BATCH: u64 = 1000;

fn value() -> KvValue {
    KvValue::Bytes(vec![0x5a; VALUE_BYTES])
}

/// Latencies of one workload, in nanoseconds.
pub(crate) struct Figures {
    pub(crate) ops: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latencies_ns: Vec<u64>,
}

impl Figures {
    /// The figures of `ops` operations started at `started` by `tasks`, each returning its
    /// latencies in nanoseconds: waits for every task (the first failure is the answer).
    pub(crate) async fn gather(
        mut tasks: JoinSet<anyhow::Result<Vec<u64>>>,
        ops: u64,
        started: Instant,
    ) -> anyhow::Result<Figures> {
        let mut latencies_ns = Vec::with_capacity(ops as usize);
        while let Some(r) = tasks.join_next().await {
            latencies_ns.extend(r??);
        }
        Ok(Figures {
            ops,
            elapsed: started.elapsed(),
            latencies_ns,
        })
    }

    pub(crate) fn print(mut self, name: &str) {
        self.latencies_ns.sort_unstable();
        let pct = |p| percentile_us(&self.latencies_ns, p);
        let rate = self.ops as f64 / self.elapsed.as_secs_f64();
        println!("{name} {rate:.0} p50_us={} p99_us={}", pct(0.50), pct(0.99));
    }
}

/// The `p` quantile (0..=1) of sorted latencies in nanoseconds, in microseconds.
pub(crate) fn percentile_us(sorted_ns: &[u64], p: f64) -> u64 {
    let n = sorted_ns.len();
    if n == 0 {
        return 0;
    }
    let i = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
    sorted_ns.get(i).copied().unwrap_or(0) / 1000
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.url {
        let client = crate::data::connect(url, args.access_token.as_deref()).await?;
        if args.workloads == "replication_lag" {
            let Some(replica_url) = &args.replica_url else {
                anyhow::bail!("the replication_lag workload needs --replica-url");
            };
            let replica = crate::data::connect(replica_url, args.access_token.as_deref()).await?;
            let duration = Duration::from_secs(args.duration_s.unwrap_or(30));
            return crate::bench_replication::run(&client, &replica, args.rate, duration).await;
        }
        let queue = crate::bench_queue::QueueDb::Remote(client.clone());
        return workloads(&client, &queue, &args).await;
    }
    let temp;
    let path = match &args.path {
        Some(p) => p.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let durability = if args.relaxed {
        Durability::Relaxed
    } else {
        Durability::Sync
    };
    let mut config = Config::default()
        .durability(durability)
        .stats(!args.no_stats);
    if let Some(dest) = &args.archive {
        let archive = cairn_store::archive::ArchiveConfig::new(
            crate::backup_cmd::destination(dest)?,
            "bench",
        );
        config = config.archive(archive);
    }
    let db = Database::open_with(&path, config)
        .with_context(|| format!("opening {}", path.display()))?;
    let queue = crate::bench_queue::QueueDb::Embedded(db.clone());
    workloads(&db, &queue, &args).await?;
    if let Some(status) = db.archive_status() {
        println!(
            "archive lag_ms_p99<={} lag_ms_max={} errors={} snapshots={}",
            status
                .lag_ms_quantile(0.99)
                .map_or("-".to_owned(), |ms| ms.to_string()),
            status.lag_ms_max,
            status.errors,
            status.snapshots
        );
    }
    db.close();
    Ok(())
}

/// Preloads the keys, waits for the engine to settle, then runs each workload on `db`.
async fn workloads<K: cairn_model::KvIndexes>(
    db: &K,
    queue: &crate::bench_queue::QueueDb,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    let started = Instant::now();
    load(db, args.keys).await?;
    eprintln!(
        "# loaded {} keys in {:.1} s",
        args.keys,
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(args.settle_s)).await;

    let scaled = |n: u64| ((n as f64 * args.scale) as u64).max(1);
    for workload in args.workloads.split(',').map(str::trim) {
        let figures = match workload {
            "atomic_c1" => atomic(db, 1, scaled(5_000)).await?,
            "atomic_c64" => atomic(db, 64, scaled(200_000)).await?,
            "atomic_c256" => atomic(db, 256, scaled(200_000)).await?,
            "get" => get(db, args.keys, 1, scaled(500_000)).await?,
            "get_c64" => get(db, args.keys, 64, scaled(500_000)).await?,
            "list" => list(db, args.keys).await?,
            "list_keys" => crate::bench_index::list_keys(db, args.keys).await?,
            "count" => crate::bench_index::count(db, args.keys).await?,
            "sum" => crate::bench_index::sum(db, args.keys).await?,
            "indexes" => {
                crate::bench_index::indexes(db, scaled(200_000)).await?;
                continue;
            }
            "soak" => {
                let duration = Duration::from_secs(args.duration_s.unwrap_or(1800));
                crate::bench_soak::run(db, args.keys, duration).await?;
                continue;
            }
            "queue" => {
                let run = crate::bench_queue::run(queue, scaled(100_000)).await?;
                Figures {
                    ops: run.ops,
                    elapsed: run.elapsed,
                    latencies_ns: run.latencies_ns,
                }
            }
            "expiry" => {
                let crate::bench_queue::QueueDb::Embedded(db) = queue else {
                    anyhow::bail!("the expiry workload runs on an embedded database, not --url");
                };
                let duration = Duration::from_secs(args.duration_s.unwrap_or(60));
                crate::bench_expiry::run(db, args.expiry_rate, duration).await?;
                continue;
            }
            other => anyhow::bail!("unknown workload {other:?}"),
        };
        figures.print(workload);
    }
    Ok(())
}

/// Preloads `["bench", i]` for every i below `keys`, several large atomic writes at a time.
async fn load<K: Kv>(db: &K, keys: u64) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    let batches = keys.div_ceil(LOAD_BATCH);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for _ in 0..8 {
        let (db, next) = (db.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b >= batches {
                    return anyhow::Ok(());
                }
                let mut op = db.atomic();
                for i in b * LOAD_BATCH..((b + 1) * LOAD_BATCH).min(keys) {
                    op = op.set(&key!["bench", i], value());
                }
                ensure!(op.commit().await?.is_committed(), "preload write failed");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

/// `writers` tasks commit check-absent + set of fresh random keys, `ops` in total.
async fn atomic<K: Kv>(db: &K, writers: u64, ops: u64) -> anyhow::Result<Figures> {
    let per_writer = ops.div_ceil(writers);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for w in 0..writers {
        let db = db.clone();
        tasks.spawn(async move {
            let mut rng = SmallRng::seed_from_u64(rand::random::<u64>() ^ w);
            let mut latencies = Vec::with_capacity(per_writer as usize);
            for _ in 0..per_writer {
                let k = key!["bench_w", rng.random::<u64>()];
                let t = Instant::now();
                let result = db
                    .atomic()
                    .check(&k, None)
                    .set(&k, value())
                    .commit()
                    .await?;
                latencies.push(t.elapsed().as_nanos() as u64);
                ensure!(
                    matches!(result, CommitResult::Committed { .. }),
                    "check failed on a fresh key"
                );
            }
            anyhow::Ok(latencies)
        });
    }
    Figures::gather(tasks, per_writer * writers, started).await
}

/// Random point reads of the preloaded keys from `readers` tasks, `ops` in total.
async fn get<K: Kv>(db: &K, keys: u64, readers: u64, ops: u64) -> anyhow::Result<Figures> {
    let per_reader = ops.div_ceil(readers);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for r in 0..readers {
        let db = db.clone();
        tasks.spawn(async move {
            let mut rng = SmallRng::seed_from_u64(42 ^ r);
            let mut latencies = Vec::with_capacity(per_reader as usize);
            for _ in 0..per_reader {
                let k = key!["bench", rng.random_range(0..keys)];
                let t = Instant::now();
                let entry = db.get(&k).await?;
                latencies.push(t.elapsed().as_nanos() as u64);
                ensure!(entry.is_some(), "preloaded key {k} missing");
            }
            anyhow::Ok(latencies)
        });
    }
    Figures::gather(tasks, per_reader * readers, started).await
}

/// The whole preloaded prefix in batches of 100; latency per batch.
async fn list<K: Kv>(db: &K, keys: u64) -> anyhow::Result<Figures> {
    const BATCH: u64 = 100;
    let options = ListOptions {
        batch_size: BATCH as usize,
        ..Default::default()
    };
    let started = Instant::now();
    let mut it = db.list(ListSelector::Prefix(key!["bench"]), options)?;
    let mut latencies_ns = Vec::with_capacity((keys / BATCH) as usize);
    let mut count = 0u64;
    let mut t = Instant::now();
    while let Some(entry) = it.next().await {
        entry?;
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
