//! A database whose disk stalls must not stall anything else. `atomic_write` used to hand its
//! request to the pipeline with a blocking `send` on a bounded channel: once the commit queue
//! was full, the caller's *thread* blocked until the pipeline drained. On an async runtime
//! with one worker (the server with one HTTP thread) one stalled database froze every task,
//! reads of every database included. Now a caller waits for room asynchronously, and the
//! queue is bounded in writes and in bytes (`Config::commit_queue_bytes_max`) for its whole
//! way through the pipeline; `try_atomic_write` refuses at once with `Overloaded` instead of
//! waiting, and a refused write is never applied.
//!
//! Each test runs its runtime on a thread of its own and waits for it with a generous bound,
//! so that a blocked runtime fails the test instead of hanging it.

use std::sync::Arc;
use std::time::Duration;

use cairn_model::{key, AtomicWrite, Mutation, MutationKind};
use cairn_store::limits::COMMIT_QUEUE_DEPTH;
use cairn_store::storage::{FaultStorage, MemoryStorage};
use cairn_store::{Config, Database, Kv, KvValue, StoreError};

/// More writes than the old pipeline could take in before a sender blocked: the channel
/// (4,096), the batch being evaluated and those waiting for a writer (64 batches of up to
/// 1,024 writes), and one batch per writer thread.
const WRITES: u64 = 80_000;

/// Longest a test's runtime may take; only a blocked runtime comes near it.
const RUNTIME_BOUND: Duration = Duration::from_secs(120);

/// Runs `test` on a current-thread runtime (one thread for every task) on a thread of its
/// own, and fails if it does not finish within [`RUNTIME_BOUND`].
fn on_one_thread<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        runtime.block_on(test());
        let _ = done_tx.send(());
    });
    match done.recv_timeout(RUNTIME_BOUND) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the runtime's only thread is blocked: a stalled database stalled it")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the test panicked on its runtime thread (see its message above)")
        }
    }
}

/// A database whose syncs the test can hold, like a disk that stopped answering.
fn stallable(config: Config) -> (Database, Stall) {
    let storage = Arc::new(FaultStorage::new(MemoryStorage::new()));
    let db = Database::open_storage(storage.clone(), config).expect("open");
    (db, Stall(storage))
}

/// Holds and releases a database's syncs; releases them when dropped, so that a failing test
/// can close its database (closing waits for the pipeline) and report its failure.
struct Stall(Arc<FaultStorage<MemoryStorage>>);

impl Stall {
    fn hold_syncs(&self, hold: bool) {
        self.0.hold_syncs(hold);
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        self.0.hold_syncs(false);
    }
}

/// Yields to the runtime until `done` holds, a bounded number of times.
async fn yield_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1_000_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

#[test]
fn a_stalled_database_stalls_neither_its_reads_nor_other_databases() {
    on_one_thread(|| async {
        let (stalled, storage) = stallable(Config::default());
        stalled
            .set(&key!["seed"], KvValue::U64(7))
            .await
            .expect("set before the stall");
        let other = Database::open_in_memory().expect("open");

        storage.hold_syncs(true);
        let writers: Vec<_> = (0..WRITES)
            .map(|i| {
                let db = stalled.clone();
                tokio::spawn(async move { db.set(&key!["w", i], KvValue::U64(i)).await })
            })
            .collect();
        // Every writer has run up to its wait: the queue is full, the rest wait for room.
        yield_until("the commit queue filled up", || {
            stalled.commit_queue_usage().0 == COMMIT_QUEUE_DEPTH
        })
        .await;
        for _ in 0..1000 {
            tokio::task::yield_now().await;
        }
        assert_eq!(stalled.commit_queue_usage().0, COMMIT_QUEUE_DEPTH);

        // The same thread still serves reads of the stalled database...
        let seed = stalled
            .get(&key!["seed"])
            .await
            .expect("read")
            .expect("seed");
        assert_eq!(seed.value, KvValue::U64(7));
        assert_eq!(stalled.get(&key!["w", 0u64]).await.expect("read"), None);
        // ...and reads and writes of another database.
        other
            .set(&key!["elsewhere"], KvValue::U64(1))
            .await
            .expect("a write to another database");
        let elsewhere = other.get(&key!["elsewhere"]).await.expect("read");
        assert_eq!(elsewhere.map(|e| e.value), Some(KvValue::U64(1)));

        // Once the disk answers again, every waiting write goes through.
        storage.hold_syncs(false);
        for writer in writers {
            writer
                .await
                .expect("writer task")
                .expect("write after the stall");
        }
        assert_eq!(stalled.commit_queue_usage(), (0, 0));
        let last = stalled.get(&key!["w", WRITES - 1]).await.expect("read");
        assert_eq!(last.map(|e| e.value), Some(KvValue::U64(WRITES - 1)));
    });
}

/// The byte bound of the queue used below: room for 17 of the writes of [`big_write`].
const QUEUE_BYTES: usize = 1024 * 1024;
/// Value size of [`big_write`].
const VALUE_BYTES: usize = 60_000;

fn big_write(i: u64) -> AtomicWrite {
    AtomicWrite {
        mutations: vec![Mutation {
            key: cairn_model::encode_key(&key!["big", i]),
            kind: MutationKind::Set(KvValue::Bytes(vec![i as u8; VALUE_BYTES])),
            expire_at_ms: None,
        }],
        ..Default::default()
    }
}

#[test]
fn the_commit_queue_holds_at_most_its_bytes_and_refuses_without_applying() {
    on_one_thread(|| async {
        let config = Config::default().commit_queue_bytes_max(QUEUE_BYTES);
        let (db, storage) = stallable(config);
        storage.hold_syncs(true);
        let writers: Vec<_> = (0..40u64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move { db.atomic_write(big_write(i)).await })
            })
            .collect();
        yield_until("the writers reached the queue", || {
            db.commit_queue_usage().0 > 0
        })
        .await;
        for _ in 0..1000 {
            tokio::task::yield_now().await;
        }
        let (writes, bytes) = db.commit_queue_usage();
        assert!(bytes <= QUEUE_BYTES, "{bytes} bytes queued");
        assert!(
            bytes + VALUE_BYTES > QUEUE_BYTES,
            "the queue has room left: {writes} writes of {bytes} bytes"
        );
        assert!(writes < 40, "{writes} writes admitted");

        // Not waiting: refused at once, and never applied.
        let refused = db
            .try_atomic_write(big_write(1000))
            .await
            .expect_err("a full queue refuses");
        let StoreError::Overloaded(reason) = &refused else {
            panic!("expected Overloaded, got {refused:?}");
        };
        let message = refused.to_string();
        assert!(
            message.contains("nothing of this write was applied"),
            "{message}"
        );
        assert!(reason.contains(&QUEUE_BYTES.to_string()), "{reason}");

        storage.hold_syncs(false);
        for writer in writers {
            writer
                .await
                .expect("writer task")
                .expect("write after the stall");
        }
        for i in [0u64, 39] {
            let entry = db
                .get(&key!["big", i])
                .await
                .expect("read")
                .expect("written");
            assert_eq!(entry.value, KvValue::Bytes(vec![i as u8; VALUE_BYTES]));
        }
        assert_eq!(db.get(&key!["big", 1000u64]).await.expect("read"), None);
        // With room again, the same write is taken without waiting.
        db.try_atomic_write(big_write(1000))
            .await
            .expect("room after the stall");
    });
}

#[test]
fn a_commit_queue_smaller_than_the_largest_write_is_refused_at_open() {
    let config = Config::default().commit_queue_bytes_max(100_000);
    let error = Database::open_in_memory_with(config)
        .err()
        .expect("refused");
    assert!(matches!(error, StoreError::InvalidArgument(_)), "{error:?}");
    assert!(
        error.to_string().contains("commit_queue_bytes_max"),
        "{error}"
    );
}
