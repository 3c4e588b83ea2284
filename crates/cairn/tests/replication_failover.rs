//! Synchronous replication loses no acknowledged write when the primary is lost.
//!
//! A primary with `--sync-replicas 1` and its replica, under write load from cairn-client
//! writers (sets of distinct keys and increments of one counter) and from the Deno runtime
//! (`tests/e2e/replication/deno_writer.ts`, which prints each acknowledged write), is killed
//! with SIGKILL at a moment chosen by the load (after a random number of acknowledgements).
//! The replica is promoted by hand (`cairn promote`), and on it:
//!
//! - every write acknowledged to any client is there, with its value;
//! - the counter holds at least the increments acknowledged and at most those attempted;
//! - the promotion started the next epoch.
//!
//! The promoted replica is the primary of the next cycle, with a new replica (an empty
//! directory, copied from the new primary's stream). `CAIRN_FAILOVER_CYCLES` sets the number
//! of cycles (default 3; `CAIRN_FAILOVER_CYCLES=20 cargo test --release -p cairn --test
//! replication_failover` is the long run), `CAIRN_FAILOVER_SEED` replays one.
//!
//! SIGKILL keeps the page cache, so a missing fsync on the replica would not show here; the
//! replica's batches are made durable by the same pipeline and sync as a primary's, which the
//! power-cut tests of cairn-store cover.

mod e2e;
mod replication;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_client::{Client, ClientOptions};
use cairn_model::{key, Key, Kv, KvList, KvValue, ListOptions, ListSelector};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use replication::{promote, Node, TOKEN, WAIT};

const WRITERS: u64 = 4;

/// What the clients of one cycle were told.
#[derive(Default)]
struct Acked {
    sets: Vec<(Key, u64)>,
    increments: u64,
    attempts: u64,
}

async fn connect(url: &str) -> Client {
    let mut options = ClientOptions::default();
    // Once the primary is gone, give up quickly: its loss ends the cycle.
    options.retry_budget = Duration::from_millis(300);
    options.request_timeout = Duration::from_secs(10);
    Client::connect_with(url, TOKEN, options)
        .await
        .expect("connect")
}

async fn writer(
    db: Client,
    cycle: u64,
    w: u64,
    seed: u64,
    acked: Arc<Mutex<Acked>>,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = SmallRng::seed_from_u64(seed);
    for n in 0u64.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if rng.random_bool(0.25) {
            acked.lock().expect("lock").attempts += 1;
            if db.atomic().sum(&key!["counter"], 1).commit().await.is_ok() {
                acked.lock().expect("lock").increments += 1;
                count.fetch_add(1, Ordering::SeqCst);
            }
        } else {
            let k = key!["acked", cycle, w, n];
            if db.set(&k, KvValue::U64(n)).await.is_ok() {
                acked.lock().expect("lock").sets.push((k, n));
                count.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Every entry under `prefix` on `db`.
async fn entries(db: &Client, prefix: Key) -> BTreeMap<Key, KvValue> {
    let mut list = db
        .list(ListSelector::Prefix(prefix), ListOptions::default())
        .expect("list");
    let mut out = BTreeMap::new();
    while let Some(entry) = list.next().await {
        let entry = entry.expect("an entry");
        out.insert(entry.key, entry.value);
    }
    out
}

#[test]
fn acknowledged_writes_survive_the_primary_s_loss() {
    let cycles = e2e::env_u64("CAIRN_FAILOVER_CYCLES", 3);
    let seed = e2e::env_u64("CAIRN_FAILOVER_SEED", rand::random());
    println!("CAIRN_FAILOVER_SEED={seed}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let deno = e2e::deno_binary();
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let sync = ["--sync-replicas", "1", "--sync-timeout-ms", "30000"];
    let mut primary = Node::start(&dirs.path().join("node-0"), &sync);
    let mut counter_floor = 0u64;
    let mut counter_ceiling = 0u64;
    for cycle in 0..cycles {
        let mut args = vec!["--replica-of", primary.url.as_str()];
        args.extend(sync);
        let replica = Node::start(&dirs.path().join(format!("node-{}", cycle + 1)), &args);
        primary.wait_until("the replica connected", |n| {
            n.metric("cairn_replication_replicas", &["database=\"default\""]) == Some(1.0)
        });
        let target = rng.random_range(100..600u64);
        let acked = Arc::new(Mutex::new(Acked::default()));
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let deno_dir = dirs.path().join("deno-dir");
        let mut command = Command::new(&deno);
        let mut deno_writer = e2e::deno_script(
            &mut command,
            "replication/deno_writer.ts",
            &primary.url,
            TOKEN,
            &deno_dir,
        )
        .arg(cycle.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the Deno writer");
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (acked, count, stop) = (acked.clone(), count.clone(), stop.clone());
                let url = primary.url.clone();
                let seed = rng.random();
                runtime.spawn(async move {
                    writer(connect(&url).await, cycle, w, seed, acked, count, stop).await
                })
            })
            .collect();
        // The load decides when the primary dies: after `target` acknowledgements.
        let deadline = std::time::Instant::now() + WAIT;
        while count.load(Ordering::SeqCst) < target {
            assert!(
                std::time::Instant::now() < deadline,
                "no load\n{}",
                primary.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        primary.kill();
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            runtime.block_on(w).expect("writer");
        }
        let _ = deno_writer.kill();
        let output = deno_writer
            .wait_with_output()
            .expect("the Deno writer's output");
        let deno_acked: Vec<u64> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("acked ")?.parse().ok())
            .collect();

        let text = promote(&replica);
        assert!(text.contains(&format!("epoch {}", cycle + 1)), "{text}");
        let acked = acked.lock().expect("lock");
        counter_floor += acked.increments;
        counter_ceiling += acked.attempts;
        runtime.block_on(async {
            let db = connect(&replica.url).await;
            let found = entries(&db, key!["acked", cycle]).await;
            for (k, v) in &acked.sets {
                assert_eq!(
                    found.get(k),
                    Some(&KvValue::U64(*v)),
                    "cycle {cycle}: acknowledged write {k} lost (seed {seed})\n{}",
                    replica.log()
                );
            }
            // JavaScript numbers: floats.
            let from_deno = entries(&db, key!["deno", cycle as f64]).await;
            for n in &deno_acked {
                let k = key!["deno", cycle as f64, *n as f64];
                assert!(
                    from_deno.contains_key(&k),
                    "cycle {cycle}: the Deno runtime's acknowledged write {k} lost (seed {seed})"
                );
            }
            let counter = match db.get(&key!["counter"]).await.expect("get") {
                Some(entry) => match entry.value {
                    KvValue::U64(n) => n,
                    other => panic!("counter holds {other:?}"),
                },
                None => 0,
            };
            assert!(
                counter_floor <= counter && counter <= counter_ceiling,
                "cycle {cycle}: counter {counter} outside [{counter_floor}, {counter_ceiling}] (seed {seed})"
            );
            println!(
                "cycle {cycle}: {} sets, {} increments, {} Deno writes acknowledged and found after promotion",
                acked.sets.len(),
                acked.increments,
                deno_acked.len()
            );
        });
        assert_eq!(
            replica.metric("cairn_replication_epoch", &["database=\"default\""]),
            Some((cycle + 1) as f64)
        );
        drop(acked);
        primary = replica;
    }
}

/// The negative control: without synchronous replication, writes acknowledged while the
/// replica is stopped (SIGSTOP) are lost with the primary (the replica is killed and
/// restarted before its promotion, so nothing it had not applied survives), and the check
/// above sees it.
#[test]
fn without_sync_replicas_a_stopped_replica_loses_acknowledged_writes() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let mut primary = Node::start(&dirs.path().join("primary"), &[]);
    let mut replica = Node::start(
        &dirs.path().join("replica"),
        &["--replica-of", primary.url.as_str()],
    );
    primary.wait_until("the replica connected", |n| {
        n.metric("cairn_replication_replicas", &["database=\"default\""]) == Some(1.0)
    });
    let written: Vec<Key> = runtime.block_on(async {
        let db = connect(&primary.url).await;
        let mut written = Vec::new();
        for n in 0..50u64 {
            if n == 25 {
                replica.signal("STOP");
            }
            let k = key!["acked", n];
            db.set(&k, KvValue::U64(n)).await.expect("acknowledged");
            written.push(k);
        }
        written
    });
    // What the stopped replica has not applied yet (in its socket, at best) dies with it.
    primary.kill();
    replica.kill_and_restart();
    promote(&replica);
    let lost = runtime.block_on(async {
        let db = connect(&replica.url).await;
        let found = entries(&db, key!["acked"]).await;
        written.iter().filter(|k| !found.contains_key(k)).count()
    });
    assert!(
        lost >= 20,
        "only {lost} of the 25 writes acknowledged while the replica was stopped are missing"
    );
}
