//! Checks make read-modify-write cycles serializable. Many tasks increment one counter
//! optimistically (read, then write `value + 1` guarded by a check on the versionstamp read,
//! retrying when the check fails) and no increment is lost; tasks moving amounts between
//! accounts the same way never create or destroy money (FoundationDB's "cycle" idea: an
//! invariant that any lost update or torn write would break).

mod harness;

use cairn_model::key;
use cairn_store::Kv;
use cairn_store::{CommitResult, Database, Key, KvValue, ManualClock, Versionstamp};
use harness::{config, CLOCK_START_MS};

const TASKS: u64 = 8;
const ROUNDS: u64 = 25;
const ACCOUNTS: u64 = 5;
const BALANCE_START: u64 = 1_000;

async fn read_u64(db: &Database, k: &Key) -> (u64, Option<Versionstamp>) {
    match db.get(k).await.expect("get") {
        Some(entry) => match entry.value {
            KvValue::U64(n) => (n, Some(entry.versionstamp)),
            other => panic!("expected a u64 at {k}, found {other}"),
        },
        None => (0, None),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimistic_increments_are_never_lost() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = cairn_store::Database::open_in_memory_with(config(&clock)).expect("open");
    let counter = key!["counter"];
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let db = db.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut stamps = Vec::new();
            for _ in 0..ROUNDS {
                loop {
                    let (n, vs) = read_u64(&db, &counter).await;
                    let result = db
                        .atomic()
                        .check(&counter, vs)
                        .set(&counter, KvValue::U64(n + 1))
                        .commit()
                        .await
                        .expect("commit");
                    match result {
                        CommitResult::Committed { versionstamp } => {
                            stamps.push(versionstamp);
                            break;
                        }
                        CommitResult::CheckFailed { failed_checks, .. } => {
                            assert_eq!(failed_checks, vec![0]);
                        }
                    }
                }
            }
            stamps
        }));
    }
    let mut stamps = Vec::new();
    for task in tasks {
        stamps.extend(task.await.expect("task"));
    }
    assert_eq!(read_u64(&db, &counter).await.0, TASKS * ROUNDS);
    stamps.sort();
    stamps.dedup();
    assert_eq!(
        stamps.len() as u64,
        TASKS * ROUNDS,
        "versionstamps are unique"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checked_transfers_preserve_the_total() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = cairn_store::Database::open_in_memory_with(config(&clock)).expect("open");
    let account = |i: u64| key!["account", i];
    for i in 0..ACCOUNTS {
        db.set(&account(i), KvValue::U64(BALANCE_START))
            .await
            .expect("seed");
    }
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                let from = account((t + r) % ACCOUNTS);
                let to = account((t + 2 * r + 1) % ACCOUNTS);
                if from == to {
                    continue;
                }
                loop {
                    let (a, a_vs) = read_u64(&db, &from).await;
                    let (b, b_vs) = read_u64(&db, &to).await;
                    let amount = (a / 10).min(t + r + 1);
                    let result = db
                        .atomic()
                        .check(&from, a_vs)
                        .check(&to, b_vs)
                        .set(&from, KvValue::U64(a - amount))
                        .set(&to, KvValue::U64(b + amount))
                        .commit()
                        .await
                        .expect("commit");
                    if result.is_committed() {
                        break;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let mut total = 0;
    for i in 0..ACCOUNTS {
        total += read_u64(&db, &account(i)).await.0;
    }
    assert_eq!(total, ACCOUNTS * BALANCE_START);
}
