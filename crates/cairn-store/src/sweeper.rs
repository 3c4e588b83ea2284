//! The expiry sweeper: a thread that finds keys whose expire-at has passed (through the
//! `expiry` index, earliest first) and asks the pipeline to remove them. The removal is a
//! commit like any other, with a versionstamp and a changelog entry, so watchers and replicas
//! see it. Reads already hide expired keys; the sweeper only reclaims their space.
//!
//! **Pace.** While work remains the sweeper sweeps without pause, one batch at a time; it
//! idles [`EXPIRY_SWEEP_INTERVAL_MS`] only once a sweep finds less than a full batch (or
//! until a [`ManualClock`](crate::ManualClock) is moved: it wakes at once). A fixed pace would
//! cap expiry at one batch per interval (2,560 keys/s at 512 keys per 200 ms); past that,
//! expired entries would pile up and every scan would step over them. A batch is
//! [`EXPIRY_SWEEP_KEYS_MIN`] keys after idling and doubles after each full one, up to
//! [`EXPIRY_SWEEP_KEYS_MAX`]: with one batch in flight, the sweeper removes a batch per
//! commit latency, and a busy pipeline's latency is long (tens of milliseconds when the
//! writes that make the keys expire keep it busy), so small batches alone would fall behind.
//!
//! **Yielding to foreground writes.** Only one expiry request is in flight: after sending a
//! batch the sweeper waits until its commit is published before it scans again. The expiry
//! request goes through the same queue as every write, so writes submitted meanwhile are
//! queued ahead of the next batch and share group commits with it; a sweep never holds the
//! evaluator longer than one batch. The sweeper learns that its commit is published from
//! the pipeline's announcement of the batch that carried it (it subscribes to
//! [`crate::pipeline::announce`]); the wait is bounded ([`EXPIRY_COMMIT_WAIT_MS_MAX`]): a
//! stalled or poisoned pipeline makes it give up and idle, and the next sweep looks at the
//! same place again (removing an entry twice is harmless).
//!
//! **Where a sweep starts.** Each removal leaves a tombstone at the head of the index until
//! the engine compacts it away, so a sweep does not start at the beginning of the index but
//! where the last published sweep ended, stepping over no tombstone. An entry written behind
//! that point (an expire-at already in the past) is invisible at once and is reclaimed by the
//! sweep from the beginning made every [`FULL_SWEEP_EVERY`] idle wake-ups.
//!
//! **Backlog.** [`backlog`] counts the index entries due (expire-at ≤ now) from where every
//! due entry is known to be removed, at most [`EXPIRY_BACKLOG_COUNT_MAX`]: the work the
//! sweeper has not done yet, for `Database::expiry_backlog` and the metrics built on it.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TryRecvError};
use parking_lot::Mutex;

use crate::clock::ClockWatcher;
use crate::error::Result;
use crate::pipeline::announce::{BatchEffects, Subscriber};
use crate::pipeline::{ExpiryCandidate, Request, Shared};
use crate::record::{expiry_key, split_expiry_key};
use crate::storage::{Keyspace, Scan};

/// Expired keys the first sweep after idling removes, in one commit.
pub const EXPIRY_SWEEP_KEYS_MIN: usize = 512;
/// Most expired keys one sweep removes, in one commit: the longest a sweep holds the
/// evaluator (and the writes queued behind it) is one batch of this many point reads and
/// deletes. Measured on this project's 2-core VM at 50,000 expiring keys/s, a cap of 512
/// let the backlog grow by ~30,000 a second; 4,096 kept it bounded (`bench/README.md`).
pub const EXPIRY_SWEEP_KEYS_MAX: usize = 4096;
/// How long the sweeper idles once a sweep found less than a full batch, in milliseconds.
/// It also bounds how long a sweep waits for room in the commit queue.
pub(crate) const EXPIRY_SWEEP_INTERVAL_MS: u64 = 200;
/// Longest the sweeper waits for its commit to be published before it idles, in
/// milliseconds (a commit takes one durable sync, under a millisecond on a healthy disk).
pub(crate) const EXPIRY_COMMIT_WAIT_MS_MAX: u64 = 1_000;
/// Most entries `Database::expiry_backlog` counts (a larger backlog is reported as this
/// many), so that asking costs a bounded scan.
pub const EXPIRY_BACKLOG_COUNT_MAX: u64 = 100_000;
/// Sweep announcements the sweeper's subscription holds (one sweep is in flight at a time;
/// more are stale ones given up on).
const SWEEPS_ANNOUNCED_MAX: usize = 4;
/// Index entries [`backlog`] reads per scan.
const EXPIRY_BACKLOG_SCAN_CHUNK: usize = 4096;
/// Every this many idle wake-ups, a sweep starts at the beginning of the index (5 s apart at
/// the interval when nothing else wakes the sweeper).
const FULL_SWEEP_EVERY: u64 = 25;

const _: () = assert!(0 < EXPIRY_SWEEP_KEYS_MIN && EXPIRY_SWEEP_KEYS_MIN <= EXPIRY_SWEEP_KEYS_MAX);
const _: () = assert!(EXPIRY_BACKLOG_COUNT_MAX >= EXPIRY_SWEEP_KEYS_MAX as u64);
const _: () = assert!(EXPIRY_BACKLOG_SCAN_CHUNK > 0);

/// The running sweeper; dropping `stop` ends it.
pub(crate) struct Sweeper {
    stop: Sender<()>,
    thread: JoinHandle<()>,
    progress: Arc<Progress>,
    /// Registered with the clock (weakly): kept alive here.
    _kick: Arc<ClockKick>,
}

/// The index key before which every due entry is known to be removed (only moves forward);
/// [`backlog`] counts from here.
#[derive(Default)]
pub(crate) struct Progress(Mutex<Vec<u8>>);

impl Progress {
    fn advance(&self, to: &[u8]) {
        let mut at = self.0.lock();
        if to > at.as_slice() {
            *at = to.to_vec();
        }
    }
}

/// Wakes an idle sweeper when a test moves a [`ManualClock`](crate::ManualClock).
struct ClockKick(Sender<()>);

impl ClockWatcher for ClockKick {
    fn clock_moved(&self) {
        // One pending wake-up is enough; a full channel already holds it.
        let _ = self.0.try_send(());
    }
}

/// What the sweeper thread listens to while it waits.
struct Signals {
    /// Never sent on; disconnected when the sweeper is to stop.
    stopped: Receiver<()>,
    clock_moved: Receiver<()>,
    /// The sweeps whose batches were published, from [`SweepsPublished`].
    published: Receiver<u64>,
    /// The number of the last sweep sent.
    last_sweep: std::cell::Cell<u64>,
}

/// The sweeper's subscription to the pipeline's announcements.
struct SweepsPublished(Sender<u64>);

impl Subscriber for SweepsPublished {
    fn published(&self, batches: &[&BatchEffects], _now_ms: u64) {
        for sweep in batches.iter().flat_map(|b| b.sweeps.iter()) {
            // One sweep is in flight at a time; a full channel holds only stale ones.
            let _ = self.0.try_send(*sweep);
        }
    }
}

impl Sweeper {
    pub(crate) fn start(
        shared: Arc<Shared>,
        requests: Sender<Request>,
    ) -> std::io::Result<Sweeper> {
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let (kick, clock_moved) = crossbeam_channel::bounded(1);
        let kick = Arc::new(ClockKick(kick));
        let watcher: Weak<dyn ClockWatcher> = Arc::downgrade(&kick) as Weak<dyn ClockWatcher>;
        shared.config.clock.watch(watcher);
        let progress = Arc::new(Progress::default());
        let (announced, published) = crossbeam_channel::bounded(SWEEPS_ANNOUNCED_MAX);
        shared
            .announcer
            .subscribe(Arc::new(SweepsPublished(announced)));
        let signals = Signals {
            stopped,
            clock_moved,
            published,
            last_sweep: Default::default(),
        };
        let thread_progress = progress.clone();
        let thread = std::thread::Builder::new()
            .name("cairn-sweeper".into())
            .spawn(move || run(&shared, &requests, &signals, &thread_progress))?;
        Ok(Sweeper {
            stop,
            thread,
            progress,
            _kick: kick,
        })
    }

    /// Where [`backlog`] starts counting.
    pub(crate) fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// What the sweeper does after a sweep.
enum Next {
    /// A full batch was removed: more may be due, sweep again at once.
    Sweep,
    /// Nothing more is due (or the pipeline could not take more): idle.
    Idle,
    Stop,
}

fn run(shared: &Shared, requests: &Sender<Request>, signals: &Signals, progress: &Progress) {
    let mut start = Vec::new();
    let mut idles = 0u64;
    let mut batch_keys = EXPIRY_SWEEP_KEYS_MIN;
    loop {
        // A replica removes what its primary's batches remove.
        let next = if shared.poison.check().is_ok() && shared.replication.is_primary() {
            sweep(shared, requests, signals, &mut start, batch_keys, progress)
        } else {
            Next::Idle
        };
        match next {
            Next::Stop => return,
            Next::Sweep => {
                batch_keys = batch_keys.saturating_mul(2).min(EXPIRY_SWEEP_KEYS_MAX);
                if let Err(TryRecvError::Disconnected) = signals.stopped.try_recv() {
                    return;
                }
            }
            Next::Idle => {
                batch_keys = EXPIRY_SWEEP_KEYS_MIN;
                crossbeam_channel::select! {
                    recv(signals.stopped) -> _ => return,
                    recv(signals.clock_moved) -> _ => {}
                    default(Duration::from_millis(EXPIRY_SWEEP_INTERVAL_MS)) => {}
                }
                idles += 1;
                if idles.is_multiple_of(FULL_SWEEP_EVERY) {
                    start.clear();
                }
            }
        }
    }
}

/// One sweep from `start`: sends one batch of at most `batch_keys` and waits for it to be
/// published.
fn sweep(
    shared: &Shared,
    requests: &Sender<Request>,
    signals: &Signals,
    start: &mut Vec<u8>,
    batch_keys: usize,
    progress: &Progress,
) -> Next {
    let candidates = match find_expired(shared, start, batch_keys) {
        Ok(candidates) => candidates,
        Err(e) => {
            tracing::warn!(error = %e, "expiry sweep could not read the index");
            return Next::Idle;
        }
    };
    let Some(last) = candidates.last() else {
        return Next::Idle;
    };
    let last = expiry_key(last.expire_at_ms, &last.key);
    let full = candidates.len() == batch_keys;
    // The sweeper waits for room like any writer, so it takes its turn behind the writes
    // already queued. A queue full for a whole interval means the pipeline is saturated:
    // the keys are already invisible, so trying again after idling is fine.
    let interval = Duration::from_millis(EXPIRY_SWEEP_INTERVAL_MS);
    let sweep = signals.last_sweep.get() + 1;
    signals.last_sweep.set(sweep);
    match requests.send_timeout(Request::Expire { candidates, sweep }, interval) {
        Ok(()) => {}
        Err(SendTimeoutError::Timeout(_)) => return Next::Idle,
        Err(SendTimeoutError::Disconnected(_)) => return Next::Stop,
    }
    match wait_published(signals, sweep) {
        Published::Yes => {
            progress.advance(&last);
            *start = last;
            if full {
                Next::Sweep
            } else {
                Next::Idle
            }
        }
        Published::NotSeen => Next::Idle,
        Published::Stop => Next::Stop,
    }
}

enum Published {
    Yes,
    /// Not within [`EXPIRY_COMMIT_WAIT_MS_MAX`], or the database is poisoned.
    NotSeen,
    Stop,
}

/// Waits until the batch that carried `sweep` is announced as published.
fn wait_published(signals: &Signals, sweep: u64) -> Published {
    let deadline = Instant::now() + Duration::from_millis(EXPIRY_COMMIT_WAIT_MS_MAX);
    loop {
        crossbeam_channel::select! {
            recv(signals.stopped) -> _ => return Published::Stop,
            recv(signals.published) -> done => match done {
                Ok(done) if done == sweep => return Published::Yes,
                // An earlier sweep that was given up on.
                Ok(_) => {}
                Err(_) => return Published::Stop,
            },
            default(deadline.saturating_duration_since(Instant::now())) => {
                return Published::NotSeen
            }
        }
    }
}

/// Index entries from `start` whose time has come, earliest first, at most `limit`.
fn find_expired(shared: &Shared, start: &[u8], limit: usize) -> Result<Vec<ExpiryCandidate>> {
    let now_ms = shared.config.clock.now_ms();
    let snapshot = shared.published.load().snapshot.clone();
    // Entries with expire-at <= now sort before (now + 1) as 8 big-endian bytes.
    let end = now_ms.saturating_add(1).to_be_bytes();
    let scan = Scan {
        start,
        end: &end,
        reverse: false,
        limit,
    };
    let mut candidates = Vec::with_capacity(limit);
    for (index_key, _) in snapshot.scan(Keyspace::Expiry, scan)? {
        let (expire_at_ms, key) = split_expiry_key(&index_key)?;
        candidates.push(ExpiryCandidate {
            key: key.to_vec(),
            expire_at_ms,
        });
    }
    Ok(candidates)
}

/// Index entries due (expire-at ≤ now) in the published snapshot from `progress` on, at most
/// [`EXPIRY_BACKLOG_COUNT_MAX`]. Entries written behind `progress` with an expire-at already
/// past are not counted until the periodic sweep from the beginning removes them.
pub(crate) fn backlog(shared: &Shared, progress: &Progress) -> Result<u64> {
    let now_ms = shared.config.clock.now_ms();
    let snapshot = shared.published.load().snapshot.clone();
    let end = now_ms.saturating_add(1).to_be_bytes();
    let mut start = progress.0.lock().clone();
    let mut count = 0u64;
    while count < EXPIRY_BACKLOG_COUNT_MAX {
        let room = usize::try_from(EXPIRY_BACKLOG_COUNT_MAX - count).unwrap_or(usize::MAX);
        let limit = EXPIRY_BACKLOG_SCAN_CHUNK.min(room);
        let scan = Scan {
            start: &start,
            end: &end,
            reverse: false,
            limit,
        };
        let chunk = snapshot.scan(Keyspace::Expiry, scan)?;
        count += chunk.len() as u64;
        match chunk.last() {
            Some((last, _)) if chunk.len() == limit => {
                // The smallest key after `last`: the next chunk starts there.
                start.clone_from(last);
                start.push(0);
            }
            _ => break,
        }
    }
    Ok(count)
}
