//! The server crash test: `cairn serve` under load from concurrent cairn-client writers —
//! checked bank transfers (a check on both accounts plus two sums), counter sums, and sets with
//! expiry — is killed with SIGKILL at a random moment and restarted on the same data directory,
//! again and again. After each restart:
//!
//! - every acknowledged write is there (each set with its value; the counter at least the
//!   number of acknowledged increments and at most the number attempted);
//! - no atomic write is partly visible: the bank's total is conserved;
//! - versionstamps keep increasing across the crash.
//!
//! While the load runs, a reader checks that every snapshot read of all accounts sees the
//! conserved total (no fractured read) and every client checks that the versionstamps it is
//! given increase in real-time order.
//!
//! `CAIRN_SERVER_CRASH_CYCLES` (default 5) sets the number of kills; 1000 on demand:
//! `CAIRN_SERVER_CRASH_CYCLES=1000 cargo test --release -p cairn --test crash_server`.
//! `CAIRN_SERVER_CRASH_SEED` replays a run's kill timings and operation mix.

mod e2e;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_client::{Client, ClientOptions};
use cairn_model::{key, CommitResult, Key, Kv, KvValue, Versionstamp};
use e2e::{Server, READ_WRITE_TOKEN};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const ACCOUNTS: u64 = 10;
const OPENING_BALANCE: u64 = 1000;
const WRITERS: u64 = 6;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn account(i: u64) -> Key {
    key!["bank", i]
}

fn accounts() -> Vec<Key> {
    (0..ACCOUNTS).map(account).collect()
}

fn total(values: &[Option<cairn_model::Entry>]) -> u64 {
    values
        .iter()
        .fold(0u64, |sum, e| match e.as_ref().map(|e| &e.value) {
            Some(KvValue::U64(n)) => sum.wrapping_add(*n),
            other => panic!("account holds {other:?}"),
        })
}

/// What the writers of one cycle were told.
#[derive(Default)]
struct Acked {
    /// Sets acknowledged: key and value.
    sets: Vec<(Key, u64)>,
    /// Counter increments acknowledged, and attempted (acknowledged or not).
    increments: u64,
    attempts: u64,
    /// The highest versionstamp any acknowledgement carried.
    newest: Versionstamp,
    /// Violations seen during the load.
    anomalies: Vec<String>,
}

async fn connect(url: &str) -> Client {
    let mut options = ClientOptions::default();
    // When the server dies, give up quickly: the kill is the end of the cycle.
    options.retry_budget = Duration::from_millis(300);
    options.request_timeout = Duration::from_secs(10);
    Client::connect_with(url, READ_WRITE_TOKEN, options)
        .await
        .expect("connect")
}

async fn writer(
    db: Client,
    cycle: u64,
    w: u64,
    seed: u64,
    acked: Arc<Mutex<Acked>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut last = Versionstamp::default();
    for n in 0u64.. {
        // The restarted server might reuse the port; the kill ends the cycle regardless.
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let result = match rng.random_range(0..3) {
            0 => {
                let k = key!["acked", cycle, w, n];
                let r = db
                    .set_expiring(&k, KvValue::U64(n), Duration::from_secs(86_400))
                    .await;
                r.map(|stamp| {
                    acked.lock().expect("lock").sets.push((k, n));
                    Some(stamp)
                })
            }
            1 => {
                acked.lock().expect("lock").attempts += 1;
                let r = db.atomic().sum(&key!["counter"], 1).commit().await;
                r.map(|c| {
                    acked.lock().expect("lock").increments += 1;
                    c.versionstamp()
                })
            }
            _ => {
                let (a, b) = (rng.random_range(0..ACCOUNTS), rng.random_range(0..ACCOUNTS));
                let amount = rng.random_range(1..100u64);
                let keys = [account(a), account(b)];
                let current = match db.get_many(&keys).await {
                    Ok(c) => c,
                    Err(_) => return,
                };
                let stamps: Vec<_> = current
                    .iter()
                    .map(|e| e.as_ref().map(|e| e.versionstamp))
                    .collect();
                let r = db
                    .atomic()
                    .check(&keys[0], stamps[0])
                    .check(&keys[1], stamps[1])
                    .sum(&keys[0], amount.wrapping_neg())
                    .sum(&keys[1], amount)
                    .commit()
                    .await;
                r.map(|c| match c {
                    CommitResult::Committed { versionstamp } => Some(versionstamp),
                    CommitResult::CheckFailed { .. } => None,
                })
            }
        };
        match result {
            Ok(Some(stamp)) => {
                let mut acked = acked.lock().expect("lock");
                if stamp <= last {
                    acked
                        .anomalies
                        .push(format!("writer {w}: versionstamp {stamp} after {last}"));
                }
                last = stamp;
                acked.newest = acked.newest.max(stamp);
            }
            Ok(None) => {}
            // The server is gone (or going): the cycle is over for this writer.
            Err(_) => return,
        }
    }
}

async fn reader(db: Client, acked: Arc<Mutex<Acked>>, stop: Arc<AtomicBool>) {
    let keys = accounts();
    while !stop.load(Ordering::SeqCst) {
        match db.get_many(&keys).await {
            Ok(values) => {
                let sum = total(&values);
                if sum != ACCOUNTS * OPENING_BALANCE {
                    acked
                        .lock()
                        .expect("lock")
                        .anomalies
                        .push(format!("fractured read: the accounts sum to {sum}"));
                }
            }
            Err(_) => return,
        }
    }
}

/// Checks what must have survived the crash.
async fn verify(db: &Client, acked: &Acked, counter_floor: u64, counter_ceiling: u64) {
    for chunk in acked.sets.chunks(10) {
        let keys: Vec<Key> = chunk.iter().map(|(k, _)| k.clone()).collect();
        let found = db.get_many(&keys).await.expect("get_many after restart");
        for ((k, n), entry) in chunk.iter().zip(found) {
            assert_eq!(
                entry.map(|e| e.value),
                Some(KvValue::U64(*n)),
                "acknowledged set of {k} lost"
            );
        }
    }
    let balances = db.get_many(&accounts()).await.expect("accounts");
    assert_eq!(
        total(&balances),
        ACCOUNTS * OPENING_BALANCE,
        "a transfer is partly visible"
    );
    let counter = match db.get(&key!["counter"]).await.expect("counter") {
        Some(e) => match e.value {
            KvValue::U64(n) => n,
            other => panic!("counter holds {other:?}"),
        },
        None => 0,
    };
    assert!(
        (counter_floor..=counter_ceiling).contains(&counter),
        "counter {counter} outside [{counter_floor}, {counter_ceiling}] (acknowledged, attempted)"
    );
    let after = db
        .set(&key!["probe"], KvValue::U64(0))
        .await
        .expect("a write after restart");
    assert!(
        after > acked.newest,
        "versionstamp {after} not after {}",
        acked.newest
    );
}

#[test]
fn acknowledged_writes_survive_sigkill_of_the_server() {
    let cycles = env_u64("CAIRN_SERVER_CRASH_CYCLES", 5);
    let seed = env_u64("CAIRN_SERVER_CRASH_SEED", rand::random());
    eprintln!("CAIRN_SERVER_CRASH_SEED={seed} CAIRN_SERVER_CRASH_CYCLES={cycles}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut server = Server::start();
    let (mut acked_increments, mut attempted_increments) = (0u64, 0u64);
    let acknowledged_sets = AtomicU64::new(0);
    runtime.block_on(async {
        let db = connect(server.url()).await;
        let mut open = db.atomic();
        for k in accounts() {
            open = open.check(&k, None).set(&k, KvValue::U64(OPENING_BALANCE));
        }
        assert!(open.commit().await.expect("open accounts").is_committed());
    });
    for cycle in 0..cycles {
        let acked = Arc::new(Mutex::new(Acked::default()));
        let kill_after = Duration::from_millis(rng.random_range(100..700));
        let seeds: Vec<u64> = (0..WRITERS).map(|_| rng.random()).collect();
        let url = server.url().to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = runtime.block_on(async {
            let db = connect(&url).await;
            let mut tasks = Vec::new();
            for (w, seed) in seeds.into_iter().enumerate() {
                let task = writer(
                    db.clone(),
                    cycle,
                    w as u64,
                    seed,
                    acked.clone(),
                    stop.clone(),
                );
                tasks.push(tokio::spawn(task));
            }
            tasks.push(tokio::spawn(reader(
                db.clone(),
                acked.clone(),
                stop.clone(),
            )));
            tokio::time::sleep(kill_after).await;
            tasks
        });
        server.kill_and_restart();
        stop.store(true, Ordering::SeqCst);
        runtime.block_on(async {
            for task in tasks {
                task.await.expect("load task");
            }
        });
        let acked = std::mem::take(&mut *acked.lock().expect("lock"));
        assert!(
            acked.anomalies.is_empty(),
            "cycle {cycle}: {:?}",
            acked.anomalies
        );
        acked_increments += acked.increments;
        attempted_increments += acked.attempts;
        acknowledged_sets.fetch_add(acked.sets.len() as u64, Ordering::Relaxed);
        runtime.block_on(async {
            let db = connect(server.url()).await;
            verify(&db, &acked, acked_increments, attempted_increments).await;
        });
    }
    eprintln!(
        "{cycles} kills; {} acknowledged sets and {acked_increments} acknowledged increments verified",
        acknowledged_sets.load(Ordering::Relaxed)
    );
}
