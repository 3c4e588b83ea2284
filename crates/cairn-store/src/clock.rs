//! Time, behind a trait so that expiry and queue delivery can be tested on a clock the test
//! controls instead of on sleeps.
//!
//! Background work that waits for a moment in time (the queue dispatcher) registers a
//! [`ClockWatcher`]: a clock that can jump (a [`ManualClock`]) calls it whenever it is moved, so
//! a test that advances the clock wakes the waiting thread at once, deterministically.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Wall-clock milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Asks to be told when the clock is moved by hand. Clocks that only move with real time
    /// ignore this (the default): waiters then wake on their own timed waits.
    fn watch(&self, _watcher: Weak<dyn ClockWatcher>) {}
}

/// Something waiting for a moment in time, woken when a clock is moved by hand.
pub trait ClockWatcher: Send + Sync {
    /// The clock now shows a different time; look at it again.
    fn clock_moved(&self);
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // A clock before 1970 is a misconfigured machine; treating it as the epoch keeps
        // every expiry in the future rather than failing every operation.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to; for tests. Moving it wakes every [`ClockWatcher`]
/// registered with it.
#[derive(Default, Clone)]
pub struct ManualClock {
    now_ms: Arc<AtomicU64>,
    watchers: Arc<Mutex<Vec<Weak<dyn ClockWatcher>>>>,
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualClock")
            .field("now_ms", &self.now_ms())
            .finish_non_exhaustive()
    }
}

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        ManualClock {
            now_ms: Arc::new(AtomicU64::new(now_ms)),
            watchers: Arc::default(),
        }
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
        self.moved();
    }

    /// Sets the clock.
    pub fn set(&self, now_ms: u64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
        self.moved();
    }

    /// Wakes the watchers still alive and forgets the others. The list is copied first so a
    /// watcher may register or move the clock itself without deadlocking.
    fn moved(&self) {
        let live: Vec<Arc<dyn ClockWatcher>> = {
            let mut watchers = self.watchers.lock();
            watchers.retain(|w| w.strong_count() > 0);
            watchers.iter().filter_map(Weak::upgrade).collect()
        };
        for watcher in live {
            watcher.clock_moved();
        }
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    fn watch(&self, watcher: Weak<dyn ClockWatcher>) {
        let mut watchers = self.watchers.lock();
        watchers.retain(|w| w.strong_count() > 0);
        watchers.push(watcher);
    }
}
