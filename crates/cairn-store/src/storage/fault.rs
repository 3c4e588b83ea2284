//! A fault-injecting layer over any [`Storage`], for tests: fail the Nth write or sync with an
//! I/O error, pretend to sync without doing it (the negative control of the crash tests: a
//! harness that cannot catch a missing sync proves nothing), make every sync slow, so that
//! the pipeline's writers have several in flight at once, or hold every sync until released
//! (a disk that stalls).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::{Keyspace, Snapshot, Storage, WriteBatch};
use crate::error::StorageError;

/// Wraps a storage and injects faults into it.
pub struct FaultStorage<S> {
    inner: S,
    applies: AtomicU64,
    syncs: AtomicU64,
    fail_apply_at: AtomicU64,
    fail_sync_at: AtomicU64,
    skip_syncs: AtomicBool,
    sync_delay_us: AtomicU64,
    /// The operating system error the injected failures carry.
    errno: AtomicI32,
    /// While true, syncs wait (on `released`) before doing anything.
    held: Mutex<bool>,
    released: Condvar,
}

impl<S: Storage> FaultStorage<S> {
    /// No faults until one is armed.
    pub fn new(inner: S) -> Self {
        FaultStorage {
            inner,
            applies: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            fail_apply_at: AtomicU64::new(u64::MAX),
            fail_sync_at: AtomicU64::new(u64::MAX),
            skip_syncs: AtomicBool::new(false),
            sync_delay_us: AtomicU64::new(0),
            errno: AtomicI32::new(EIO),
            held: Mutex::new(false),
            released: Condvar::new(),
        }
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The `n`th apply from now on (1 = the next) fails, and every later one.
    pub fn fail_apply_after(&self, n: u64) {
        let at = self.applies.load(Ordering::SeqCst) + n;
        self.fail_apply_at.store(at, Ordering::SeqCst);
    }

    /// The `n`th sync from now on (1 = the next) fails, and every later one.
    pub fn fail_sync_after(&self, n: u64) {
        let at = self.syncs.load(Ordering::SeqCst) + n;
        self.fail_sync_at.store(at, Ordering::SeqCst);
    }

    /// Every sync takes at least `delay` to answer (after it has captured what it makes
    /// durable, as a disk would: what is applied meanwhile is not covered).
    pub fn slow_syncs(&self, delay: std::time::Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.sync_delay_us.store(us, Ordering::SeqCst);
    }

    /// The operating system error (`errno`) injected failures carry: EIO (5) unless set, as
    /// a failing disk reports; ENOSPC (28) for a full one.
    pub fn fail_with_errno(&self, errno: i32) {
        self.errno.store(errno, Ordering::SeqCst);
    }

    /// When true, every sync from now on waits until `hold_syncs(false)`, as on a disk that
    /// stopped answering; syncs already waiting go on at the release.
    pub fn hold_syncs(&self, hold: bool) {
        *self.held.lock() = hold;
        if !hold {
            self.released.notify_all();
        }
    }

    /// When true, `sync` reports success without syncing.
    pub fn skip_syncs(&self, skip: bool) {
        self.skip_syncs.store(skip, Ordering::SeqCst);
    }

    /// Syncs that were asked for so far.
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }
}

const EIO: i32 = 5;

fn injected(what: &'static str, errno: &AtomicI32) -> StorageError {
    let errno = errno.load(Ordering::SeqCst);
    StorageError::io(what, std::io::Error::from_raw_os_error(errno))
}

impl<S: Storage> Storage for FaultStorage<S> {
    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let n = self.applies.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= self.fail_apply_at.load(Ordering::SeqCst) {
            return Err(injected("injected I/O error on a write", &self.errno));
        }
        self.inner.apply(batch)
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.inner.flush()
    }

    fn sync(&self) -> Result<(), StorageError> {
        let n = self.syncs.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut held = self.held.lock();
            while *held {
                self.released.wait(&mut held);
            }
        }
        let result = if n >= self.fail_sync_at.load(Ordering::SeqCst) {
            Err(injected("injected I/O error on a sync", &self.errno))
        } else if self.skip_syncs.load(Ordering::SeqCst) {
            Ok(())
        } else {
            self.inner.sync()
        };
        let delay = self.sync_delay_us.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_micros(delay));
        }
        result
    }

    fn get_latest(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get_latest(keyspace, key)
    }

    fn snapshot(&self) -> Arc<dyn Snapshot> {
        self.inner.snapshot()
    }
}
