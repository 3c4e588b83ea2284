//! The bank-transfer isolation check: concurrent clients move money between accounts with
//! atomic writes (a check on both accounts' versionstamps, then a sum on each), and never
//! overdraw, because a transfer is decided on the balances it read and the checks make it
//! fail if either changed since. Concurrent readers take snapshots of every account.
//!
//! What must hold, and what each failure would mean:
//! - every snapshot sums to the opening total (else a read saw half a transfer: fractured);
//! - no balance is ever above the total (a debit that wrapped below zero: a transfer that
//!   was decided on a stale balance, i.e. a lost update or write skew);
//! - the final balances are the opening ones plus exactly the acknowledged transfers (else an
//!   acknowledged write was lost, or one that failed its checks was applied);
//! - each client's versionstamps increase (its commits are in real-time order).
//!
//! Runs over `cairn serve` with cairn-clients on their own connections, and on an embedded
//! database (the same code, through the `Kv` trait). `CAIRN_ISOLATION_OPS` (default 150)
//! sets the transfers per client; `CAIRN_ISOLATION_SEED` replays a run.

mod bank;
mod e2e;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bank::{account, balance};
use cairn_model::{CommitResult, Key, Kv, KvValue, Versionstamp};
use e2e::{env_u64, Server, READ_WRITE_TOKEN};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const ACCOUNTS: u64 = 6;
const OPENING_BALANCE: u64 = 100;
const TOTAL: u64 = ACCOUNTS * OPENING_BALANCE;
const WRITERS: u64 = 6;
const READERS: u64 = 2;

fn accounts() -> Vec<Key> {
    bank::accounts(ACCOUNTS)
}

/// What one writer was told.
#[derive(Default)]
struct Outcome {
    /// Net change per account of this writer's acknowledged transfers.
    deltas: Vec<i128>,
    committed: u64,
    conflicts: u64,
    anomalies: Vec<String>,
}

async fn writer<K: Kv>(db: K, w: u64, transfers: u64, seed: u64) -> Outcome {
    let mut rng = SmallRng::seed_from_u64(seed ^ w);
    let mut outcome = Outcome {
        deltas: vec![0; ACCOUNTS as usize],
        ..Outcome::default()
    };
    let mut last = Versionstamp::default();
    for _ in 0..transfers {
        let from = rng.random_range(0..ACCOUNTS);
        let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
        let keys = [account(from), account(to)];
        let read = db.get_many(&keys).await.expect("read both accounts");
        let available = balance(&read[0]);
        if available == 0 {
            continue;
        }
        let amount = rng.random_range(1..=available);
        let result = db
            .atomic()
            .check(&keys[0], read[0].as_ref().map(|e| e.versionstamp))
            .check(&keys[1], read[1].as_ref().map(|e| e.versionstamp))
            .sum(&keys[0], amount.wrapping_neg())
            .sum(&keys[1], amount)
            .commit()
            .await
            .expect("a transfer is answered");
        match result {
            CommitResult::Committed { versionstamp } => {
                if versionstamp <= last {
                    outcome.anomalies.push(format!(
                        "writer {w}: versionstamp {versionstamp} after {last}"
                    ));
                }
                last = versionstamp;
                outcome.committed += 1;
                outcome.deltas[from as usize] -= i128::from(amount);
                outcome.deltas[to as usize] += i128::from(amount);
            }
            CommitResult::CheckFailed { .. } => outcome.conflicts += 1,
        }
    }
    outcome
}

/// What is wrong with one snapshot of the balances.
fn snapshot_anomalies(balances: &[u64]) -> Vec<String> {
    let mut anomalies = Vec::new();
    let sum = balances.iter().fold(0u64, |s, b| s.wrapping_add(*b));
    if sum != TOTAL {
        anomalies.push(format!("fractured read: {balances:?} sum to {sum}"));
    }
    if balances.iter().any(|b| *b > TOTAL) {
        anomalies.push(format!("overdrawn account (lost update): {balances:?}"));
    }
    anomalies
}

/// Snapshots of every account until `stop`; returns the anomalies seen and the reads made.
async fn reader<K: Kv>(db: K, stop: Arc<AtomicBool>) -> (Vec<String>, u64) {
    let keys = accounts();
    let (mut anomalies, mut reads) = (Vec::new(), 0);
    while !stop.load(Ordering::SeqCst) {
        let values = db.get_many(&keys).await.expect("snapshot of the accounts");
        reads += 1;
        let balances: Vec<u64> = values.iter().map(balance).collect();
        anomalies.extend(snapshot_anomalies(&balances));
        // An embedded read completes without ever waiting: without this, readers would keep
        // the runtime's threads from the writers.
        tokio::task::yield_now().await;
    }
    (anomalies, reads)
}

/// Opens the accounts, runs the writers and readers on `connect()`ed handles, checks.
async fn run<K, F, Fut>(connect: F)
where
    K: Kv,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = K>,
{
    let transfers = env_u64("CAIRN_ISOLATION_OPS", 150);
    let seed = env_u64("CAIRN_ISOLATION_SEED", rand::random());
    eprintln!("CAIRN_ISOLATION_SEED={seed}");
    let db = connect().await;
    let mut opening = db.atomic();
    for k in accounts() {
        opening = opening
            .check(&k, None)
            .set(&k, KvValue::U64(OPENING_BALANCE));
    }
    assert!(opening
        .commit()
        .await
        .expect("open the accounts")
        .is_committed());

    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..READERS {
        readers.push(tokio::spawn(reader(connect().await, stop.clone())));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        writers.push(tokio::spawn(writer(connect().await, w, transfers, seed)));
    }
    let mut expected: Vec<i128> = vec![i128::from(OPENING_BALANCE); ACCOUNTS as usize];
    let (mut anomalies, mut committed, mut conflicts) = (Vec::new(), 0, 0);
    for task in writers {
        let outcome = task.await.expect("writer task");
        for (e, d) in expected.iter_mut().zip(&outcome.deltas) {
            *e += d;
        }
        committed += outcome.committed;
        conflicts += outcome.conflicts;
        anomalies.extend(outcome.anomalies);
    }
    stop.store(true, Ordering::SeqCst);
    let mut reads = 0;
    for task in readers {
        let (seen, n) = task.await.expect("reader task");
        anomalies.extend(seen);
        reads += n;
    }
    let finals: Vec<i128> = db
        .get_many(&accounts())
        .await
        .expect("final balances")
        .iter()
        .map(|e| i128::from(balance(e)))
        .collect();
    if finals != expected {
        anomalies.push(format!(
            "final balances {finals:?}, acknowledged transfers give {expected:?}"
        ));
    }
    eprintln!(
        "{committed} transfers committed, {conflicts} refused by their checks, {reads} snapshots"
    );
    assert!(committed > 0, "some transfers committed");
    assert!(anomalies.is_empty(), "seed {seed}: {anomalies:#?}");
}

#[test]
fn bank_transfers_over_the_server_conserve_money_in_every_snapshot() {
    let server = Server::start();
    let url = server.url().to_owned();
    e2e::runtime().block_on(run(|| {
        let url = url.clone();
        async move {
            cairn_client::Client::connect(&url, READ_WRITE_TOKEN)
                .await
                .expect("connect")
        }
    }));
}

#[test]
fn bank_transfers_on_an_embedded_database_conserve_money_in_every_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = cairn_store::Database::open(dir.path()).expect("open");
    e2e::runtime().block_on(run(|| {
        let db = db.clone();
        async move { db }
    }));
    db.close();
}

/// The negative control: doctored snapshots — half a transfer seen, a debit decided on a
/// stale balance — are reported. A check that cannot fail proves nothing.
#[test]
fn the_checker_reports_fractured_and_overdrawn_snapshots() {
    let mut balances = vec![OPENING_BALANCE; ACCOUNTS as usize];
    assert!(snapshot_anomalies(&balances).is_empty());
    // Only the debit of a transfer of 30 is visible.
    balances[0] -= 30;
    assert!(snapshot_anomalies(&balances)[0].contains("fractured"));
    // Two transfers of 100 from account 0, both decided on its opening balance.
    balances[0] = OPENING_BALANCE.wrapping_sub(200);
    balances[1] += 100;
    balances[2] += 100;
    let found = snapshot_anomalies(&balances);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("overdrawn"));
}
