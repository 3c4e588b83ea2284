//! Shared scaffolding of the behaviour tests: databases on a [`ManualClock`], a storage layer
//! that can hold the evaluator at its next storage write or fail the Nth durable sync, and a
//! way to queue several writes before the pipeline looks at any of them.
//!
//! Not a test target itself (cargo only builds `tests/*.rs`); each behaviour file includes it
//! with `mod harness;` and uses what it needs.
#![allow(
    dead_code,
    reason = "each test file uses a different subset of the harness"
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use cairn_store::storage::{Keyspace, MemoryStorage, Snapshot, Storage, WriteBatch};
use cairn_store::{Config, Database, ManualClock, StorageError, Versionstamp};
use parking_lot::Mutex;

/// Where every test clock starts: far from zero, so that "expired" never means "at the epoch".
pub const CLOCK_START_MS: u64 = 1_700_000_000_000;

/// Upper bound on how long a test waits for background work (the sweeper, the pipeline's idle
/// housekeeping) before failing. A guard against hanging, not a timing assertion.
pub const BACKGROUND_WAIT_MAX: Duration = Duration::from_secs(20);
/// Pause between two looks at background progress.
pub const BACKGROUND_POLL: Duration = Duration::from_millis(5);

/// A config whose clock is `clock`.
pub fn config(clock: &ManualClock) -> Config {
    Config::default().clock(Arc::new(clock.clone()))
}

/// An in-memory database on a manual clock.
pub fn memory_db(clock: &ManualClock) -> Database {
    Database::open_in_memory_with(config(clock)).expect("open in-memory database")
}

/// A database on a fresh [`TestStorage`], returned too so the test can steer and inspect it.
pub fn test_db(clock: &ManualClock) -> (Database, Arc<TestStorage>) {
    test_db_with(config(clock))
}

/// Like [`test_db`], with a config of the test's choosing.
pub fn test_db_with(config: Config) -> (Database, Arc<TestStorage>) {
    let storage = Arc::new(TestStorage::default());
    let db = Database::open_storage(storage.clone(), config).expect("open on test storage");
    (db, storage)
}

/// Polls `future` once, so that everything it does before its first wait happens now (for a
/// commit: the request is in the pipeline's queue when this returns), and hands back a future
/// for the rest.
pub fn submit<'a, F>(future: F) -> Pin<Box<dyn Future<Output = F::Output> + Send + 'a>>
where
    F: Future + Send + 'a,
    F::Output: Send + 'a,
{
    let mut future = Box::pin(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => Box::pin(async move { output }),
        Poll::Pending => future,
    }
}

/// Waits until `done` holds, checking every [`BACKGROUND_POLL`]; panics with `what` after
/// [`BACKGROUND_WAIT_MAX`]. For background work that has no notification to wait on.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let rounds = BACKGROUND_WAIT_MAX.as_millis() / BACKGROUND_POLL.as_millis();
    for _ in 0..rounds {
        if done() {
            return;
        }
        tokio::time::sleep(BACKGROUND_POLL).await;
    }
    panic!("gave up waiting for {what}");
}

/// The latest state of a data key as stored, expired or not (what the sweeper reclaims).
pub fn stored(storage: &TestStorage, key: &[u8]) -> Option<Vec<u8>> {
    storage
        .snapshot()
        .get(Keyspace::Data, key)
        .expect("read test storage")
}

/// Every versionstamp in the changelog, oldest first.
pub fn changelog_versionstamps(db: &Database) -> Vec<Versionstamp> {
    db.changelog(None, usize::MAX)
        .expect("read changelog")
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

/// A held storage write or sync: the pipeline thread is blocked inside `Storage::apply` or
/// `Storage::sync` until released.
pub struct Gate {
    entered: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

type Hold = (mpsc::Sender<()>, mpsc::Receiver<()>);

impl Gate {
    fn new() -> (Gate, Hold) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let gate = Gate {
            entered: entered_rx,
            release: release_tx,
        };
        (gate, (entered_tx, release_rx))
    }

    fn pass(hold: Option<Hold>) {
        if let Some((entered, release)) = hold {
            let _ = entered.send(());
            let _ = release.recv_timeout(BACKGROUND_WAIT_MAX);
        }
    }

    /// Blocks until a pipeline thread is inside the held `apply` or `sync`.
    pub fn wait_entered(&self) {
        self.entered
            .recv_timeout(BACKGROUND_WAIT_MAX)
            .expect("the pipeline never reached the held storage call");
    }

    /// Lets the held call proceed.
    pub fn release(self) {
        // The evaluator may have gone already (database dropped); nothing to release then.
        let _ = self.release.send(());
    }
}

/// [`MemoryStorage`] with fault and scheduling hooks.
#[derive(Default)]
pub struct TestStorage {
    inner: MemoryStorage,
    gate: Mutex<Option<Hold>>,
    sync_gate: Mutex<Option<Hold>>,
    /// 1-based number of the sync that fails (counted from arming); 0 = none.
    fail_sync_at: AtomicU64,
    syncs: AtomicU64,
    applies: AtomicU64,
    /// `applies` as of the last successful sync.
    applies_synced: AtomicU64,
}

impl TestStorage {
    /// Holds the next `apply` until the returned gate is released.
    pub fn hold_next_apply(&self) -> Gate {
        let (gate, hold) = Gate::new();
        *self.gate.lock() = Some(hold);
        gate
    }

    /// Holds the next `sync` until the returned gate is released (a failure armed with
    /// [`TestStorage::fail_sync_in`] for that sync happens after the release).
    pub fn hold_next_sync(&self) -> Gate {
        let (gate, hold) = Gate::new();
        *self.sync_gate.lock() = Some(hold);
        gate
    }

    /// Makes the `n`th sync from now (1 = the next one) fail.
    pub fn fail_sync_in(&self, n: u64) {
        let done = self.syncs.load(Ordering::SeqCst);
        self.fail_sync_at.store(done + n, Ordering::SeqCst);
    }

    /// Syncs attempted so far.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }

    /// Whether every applied batch has been covered by a successful sync.
    pub fn all_applies_synced(&self) -> bool {
        self.applies.load(Ordering::SeqCst) == self.applies_synced.load(Ordering::SeqCst)
    }
}

impl Storage for TestStorage {
    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let hold = self.gate.lock().take();
        Gate::pass(hold);
        self.inner.apply(batch)?;
        self.applies.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.inner.flush()
    }

    fn sync(&self) -> Result<(), StorageError> {
        let n = self.syncs.fetch_add(1, Ordering::SeqCst) + 1;
        let hold = self.sync_gate.lock().take();
        Gate::pass(hold);
        if n == self.fail_sync_at.load(Ordering::SeqCst) {
            return Err(StorageError::Engine(format!(
                "injected failure of sync #{n}"
            )));
        }
        let applied = self.applies.load(Ordering::SeqCst);
        self.inner.sync()?;
        self.applies_synced.store(applied, Ordering::SeqCst);
        Ok(())
    }

    fn get_latest(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get_latest(keyspace, key)
    }

    fn snapshot(&self) -> Arc<dyn Snapshot> {
        self.inner.snapshot()
    }
}

pub mod queue;
