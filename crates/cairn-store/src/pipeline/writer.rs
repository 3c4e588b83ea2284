//! The writers: make applied batches durable, then publish the newest durable snapshot to
//! readers, then answer the callers.
//!
//! There are [`WRITER_THREADS`] of them. Each takes every batch waiting and starts a sync of
//! its own, so a batch never waits for an earlier batch's sync to end before its own begins;
//! the disk completes concurrent syncs about as fast as one. A sync makes durable everything
//! applied before it began, so a sync that began after batch N was applied covers N and every
//! batch before it, whoever holds them.
//!
//! Batches are finished strictly in order, by whichever thread finds the next one durable
//! ([`Completion`]): publish before answering, so a caller that got its versionstamp always
//! reads its own write; answer only after the sync, so nothing acknowledged can be lost; and
//! never a batch before an earlier one, which may have decided its checks.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::limits::{RELAXED_SYNC_INTERVAL_MS, WRITER_THREADS};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;

use super::announce::BatchEffects;
use super::{CommitResult, Published, Reply, Shared};
use crate::archive::format::LogRecord;
use crate::config::Durability;
use crate::error::{PoisonCause, Result, StoreError};
use crate::replication::{StreamPosition, StreamRecord};
use crate::storage::Snapshot;

/// Applied batches that may wait for the writers before the evaluator is made to wait.
pub(crate) const APPLIED_QUEUE_DEPTH: usize = 64;

/// One applied batch on its way to durability.
pub(crate) struct Applied {
    /// The storage state right after this batch was applied.
    pub snapshot: Arc<dyn Snapshot>,
    /// Each caller's answer, to be sent once the batch is durable.
    pub replies: Vec<(Reply, Result<CommitResult>)>,
    /// Whether the batch changed storage (an all-failed batch needs no sync).
    pub wrote: bool,
    /// Order of the batch among all applied batches: 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// What the batch changed, for the subscribers of the pipeline's announcements.
    pub effects: BatchEffects,
    /// The newest stream position once this batch is applied: its own, or for a batch that
    /// wrote nothing the one its answers were decided against. Synchronous replicas must
    /// have it before the batch is answered.
    pub floor: StreamPosition,
    /// Whether the batch waits for synchronous replicas (a promotion's does not: there are
    /// none yet).
    pub waits: bool,
    /// When the batch stops waiting for synchronous replicas (set once it is durable here).
    pub deadline: Option<Instant>,
    /// Finished without the synchronous replicas' confirmation: its answers are errors.
    pub unconfirmed: bool,
}

/// Batches between their sync and their answers, finished in order.
#[derive(Default)]
pub(crate) struct Completion {
    waiting: Mutex<Waiting>,
    /// Taken before `waiting` is released and held while finishing, so that batches taken
    /// in order are also published and answered in order.
    finishing: Mutex<()>,
}

#[derive(Default)]
struct Waiting {
    jobs: BTreeMap<u64, Applied>,
    /// Every batch up to this one is durable.
    durable: u64,
    /// Every batch up to this one is in the replication stream (and its wait for the
    /// synchronous replicas has begun): a batch is streamed once durable, finished after.
    streamed: u64,
    /// The last batch finished.
    finished: u64,
}

impl Completion {
    /// Makes `jobs` (the latest applied batches a thread took, in order) durable with one
    /// sync, then finishes every batch that is ready.
    pub(crate) fn make_durable(&self, shared: &Shared, jobs: Vec<Applied>) {
        let Some(last) = jobs.last().map(|j| j.seq) else {
            return;
        };
        let needs_sync = jobs.iter().any(|j| j.wrote);
        self.add(jobs);
        // Without a write of its own, a batch is ready as soon as the batches before it are.
        let covered = (needs_sync && sync(shared)).then_some(last);
        self.finish_ready(shared, covered);
    }

    /// Puts batches a thread took in line to be finished.
    fn add(&self, jobs: Vec<Applied>) {
        let mut waiting = self.waiting.lock();
        waiting.jobs.extend(jobs.into_iter().map(|j| (j.seq, j)));
    }

    /// Records that every batch up to `covered` is durable, streams what is, then finishes,
    /// in order, every batch that is: durable (or without writes) and confirmed by the
    /// synchronous replicas (or past its deadline), or failed because the database is
    /// poisoned. Acknowledgements of replicas call this too (`covered` = `None`).
    pub(crate) fn finish_ready(&self, shared: &Shared, covered: Option<u64>) {
        let mut waiting = self.waiting.lock();
        if let Some(seq) = covered {
            waiting.durable = waiting.durable.max(seq);
        }
        let poison = match shared.poison.check() {
            Ok(()) => None,
            Err(StoreError::Poisoned(reason)) => Some(reason),
            Err(other) => Some(PoisonCause::from(other.to_string().as_str())),
        };
        stream_durable(shared, &mut waiting);
        let frontier = shared.replication.frontier();
        let now = Instant::now();
        // A failover group's primary acknowledges nothing once its lease could have passed:
        // the batches it finishes from then on are unconfirmed (docs/design/failover.md).
        let lease_lost = shared.replication.is_primary() && !shared.replication.lease_valid_at(now);
        let mut ready = Vec::new();
        loop {
            let next = waiting.finished + 1;
            let streamed = waiting.streamed;
            let Some(job) = waiting.jobs.get_mut(&next) else {
                break;
            };
            if poison.is_none() {
                if next > streamed {
                    break;
                }
                if job.waits && job.floor.position > frontier {
                    match job.deadline {
                        Some(deadline) if now >= deadline => job.unconfirmed = true,
                        _ if lease_lost => job.unconfirmed = true,
                        _ => break,
                    }
                }
                if lease_lost && (job.waits || job.wrote) {
                    job.unconfirmed = true;
                }
            } else if job.waits && job.floor.position > frontier {
                // Poisoned: no more waiting (`finish` fails what no sync covered), and what
                // the replicas have not confirmed is not acknowledged.
                job.unconfirmed = true;
            }
            ready.extend(waiting.jobs.remove(&next));
            waiting.finished = next;
        }
        if ready.is_empty() {
            return;
        }
        let durable = waiting.durable;
        let _finishing = self.finishing.lock();
        drop(waiting);
        finish(shared, ready, durable, poison);
    }

    /// At shutdown, after the pipeline's threads stopped: finishes the batches still waiting
    /// for synchronous replicas, unconfirmed (their callers hear so rather than nothing).
    pub(crate) fn abandon_waiting(&self, shared: &Shared) {
        let mut waiting = self.waiting.lock();
        for job in waiting.jobs.values_mut() {
            job.deadline = Some(Instant::now());
        }
        drop(waiting);
        self.finish_ready(shared, None);
    }
}

/// Puts the batches that became durable, in order, into the replication stream and starts
/// their wait for the synchronous replicas. Runs under the completion's lock (appending to
/// the stream never waits).
fn stream_durable(shared: &Shared, waiting: &mut Waiting) {
    let timeout = shared.replication.active_gate().map(|g| g.timeout);
    let now_ms = shared.config.clock.now_ms();
    let mut records = Vec::new();
    loop {
        let next = waiting.streamed + 1;
        let durable = waiting.durable;
        let Some(job) = waiting.jobs.get_mut(&next) else {
            break;
        };
        if job.wrote && next > durable {
            break;
        }
        if shared.poison.check().is_err() && next > durable {
            break;
        }
        if let Some(log) = &shared.replication.log {
            for batch in &mut job.effects.archived {
                if batch.time_ms == 0 {
                    batch.time_ms = now_ms;
                }
                records.push(StreamRecord {
                    epoch: batch.position.epoch,
                    record: LogRecord {
                        asn: batch.position.position,
                        commit_version: batch.commit_version,
                        time_ms: batch.time_ms,
                        batch: batch.bytes.clone(),
                    },
                });
            }
            if !records.is_empty() {
                log.append(records.drain(..));
            }
        }
        job.deadline = timeout.map(|t| Instant::now() + t);
        waiting.streamed = next;
    }
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Writer { shared }
    }

    /// How many writer threads a database runs: relaxed durability has one, which decides
    /// alone when to sync.
    pub(crate) fn threads(durability: Durability) -> usize {
        match durability {
            Durability::Sync => WRITER_THREADS,
            Durability::Relaxed => 1,
        }
    }

    pub(crate) fn run(self, applied: Receiver<Applied>) {
        if self.shared.config.durability == Durability::Relaxed {
            return self.run_relaxed(applied);
        }
        while let Ok(first) = applied.recv() {
            self.shared.writers_busy.fetch_add(1, Ordering::SeqCst);
            let mut jobs = vec![first];
            jobs.extend(applied.try_iter());
            self.shared.completion.make_durable(&self.shared, jobs);
            self.shared.writers_busy.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Relaxed durability: batches are answered once handed to the operating system, and
    /// synced at least every `RELAXED_SYNC_INTERVAL_MS`.
    fn run_relaxed(self, applied: Receiver<Applied>) {
        let shared = &self.shared;
        let interval = Duration::from_millis(RELAXED_SYNC_INTERVAL_MS);
        let mut unsynced_since: Option<Instant> = None;
        loop {
            let received = match unsynced_since {
                Some(t) => applied.recv_timeout(interval.saturating_sub(t.elapsed())),
                None => applied.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let jobs = match received {
                Ok(first) => {
                    let mut jobs = vec![first];
                    jobs.extend(applied.try_iter());
                    jobs
                }
                Err(RecvTimeoutError::Timeout) => Vec::new(),
                Err(RecvTimeoutError::Disconnected) => break,
            };
            shared.writers_busy.fetch_add(1, Ordering::SeqCst);
            let last = jobs.last().map(|j| j.seq);
            shared.completion.add(jobs);
            let flushed = flush_relaxed(shared);
            unsynced_since.get_or_insert_with(Instant::now);
            if unsynced_since.is_some_and(|t| t.elapsed() >= interval) {
                sync(shared);
                unsynced_since = None;
            }
            shared
                .completion
                .finish_ready(shared, last.filter(|_| flushed));
            shared.writers_busy.fetch_sub(1, Ordering::SeqCst);
        }
        // Shutting down: whatever was acknowledged unsynced is synced now.
        if unsynced_since.is_some() {
            sync(shared);
        }
    }
}

/// One durable sync of everything applied so far; false (and the database poisoned) if it
/// failed or the database was poisoned already.
fn sync(shared: &Shared) -> bool {
    if shared.poison.check().is_err() {
        return false;
    }
    if let Err(e) = shared.stats.time_sync(|| shared.storage.sync()) {
        // Never retry: after a failed fsync the kernel may already have dropped the dirty
        // pages, so a later "successful" sync would prove nothing.
        shared
            .poison
            .poison(PoisonCause::storage("durable sync failed", &e));
        return false;
    }
    true
}

/// Relaxed mode: hand the batches to the OS (survives a process crash), no disk wait.
fn flush_relaxed(shared: &Shared) -> bool {
    if shared.poison.check().is_err() {
        return false;
    }
    if let Err(e) = shared.storage.flush() {
        shared.poison.poison(PoisonCause::storage(
            "write to the operating system failed",
            &e,
        ));
        return false;
    }
    true
}

/// Replaces every answer of a batch that timed out waiting for the synchronous replicas, or
/// that finished after the failover lease could have passed (with or without synchronous
/// replicas: a lease's end stops every acknowledgement).
fn unconfirmed(shared: &Shared, jobs: &mut [Applied]) {
    let late: Vec<&mut Applied> = jobs.iter_mut().filter(|j| j.unconfirmed).collect();
    if late.is_empty() {
        return;
    }
    shared.replication.unconfirmed(late.len() as u64);
    let reason = match shared.replication.gate.as_ref() {
        Some(gate) if shared.replication.lease_valid_at(Instant::now()) => format!(
            "fewer than {} replicas had it durable within {} ms of its local sync (sync \
             frontier at position {})",
            gate.required,
            gate.timeout.as_millis(),
            gate.frontier()
        ),
        _ => "this primary's lease in its failover group could have expired before the write \
              was confirmed (another member may be taking over)"
            .to_owned(),
    };
    tracing::warn!(%reason, batches = late.len(), "answering writes as unconfirmed");
    for job in late {
        for (_, outcome) in &mut job.replies {
            if outcome.is_ok() {
                *outcome = Err(StoreError::ReplicationUnconfirmed(reason.clone()));
            }
        }
    }
}

/// Finishes `jobs`, the next batches in order: publishes the newest sound snapshot, announces
/// the sound batches, then answers every caller.
///
/// Once the database is poisoned, a batch is sound only if a successful sync covered it
/// (`seq <= durable`). Every later batch gets `Poisoned` for *every* answer: a committed write
/// may or may not be on disk, and a failed check or mutation was decided against state that
/// never became durable, so reporting it would report something that did not happen.
fn finish(shared: &Shared, mut jobs: Vec<Applied>, durable: u64, poison: Option<PoisonCause>) {
    let sound = jobs
        .iter()
        .take_while(|j| poison.is_none() || j.seq <= durable)
        .count();
    if let Some(last) = sound.checked_sub(1).and_then(|i| jobs.get(i)) {
        shared.published.store(Arc::new(Published {
            snapshot: last.snapshot.clone(),
        }));
        shared.replication.set_published(last.floor);
    }
    // Before answering: an acknowledged queue settlement is visible in the queue's state, and
    // a watcher that subscribed before the publish above is woken (see `announce`).
    let effects: Vec<&BatchEffects> = jobs.iter().take(sound).map(|j| &j.effects).collect();
    shared
        .announcer
        .announce(&effects, shared.config.clock.now_ms());
    drop(effects);
    if let Some(reason) = poison {
        for (_, outcome) in jobs
            .iter_mut()
            .skip(sound)
            .flat_map(|j| j.replies.iter_mut())
        {
            *outcome = Err(StoreError::Poisoned(reason.clone()));
        }
    }
    unconfirmed(shared, &mut jobs);
    // Every answer first, then every wake-up in one burst (see `reply`). A caller that
    // stopped waiting is fine: its write is durable regardless.
    let wakers: Vec<_> = jobs
        .into_iter()
        .flat_map(|job| job.replies)
        .filter_map(|(reply, outcome)| reply.fill(outcome))
        .collect();
    for waker in wakers {
        waker.wake();
    }
}
