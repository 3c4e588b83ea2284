//! The writer: makes applied batches durable with one sync for all that are waiting, then
//! publishes the newest synced snapshot to readers, then answers the callers.
//!
//! Order matters: publish before answering, so a caller that got its versionstamp always
//! reads its own write; answer only after the sync, so nothing acknowledged can be lost.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_model::limits::RELAXED_SYNC_INTERVAL_MS;
use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{CommitResult, Published, Reply, Shared};
use crate::config::Durability;
use crate::error::{Result, StoreError};
use crate::queue::ops::QueueSettle;
use crate::storage::Snapshot;

/// Applied batches that may wait for the writer before the evaluator is made to wait.
pub(crate) const APPLIED_QUEUE_DEPTH: usize = 64;

/// One applied batch on its way to durability.
pub(crate) struct Applied {
    /// The storage state right after this batch was applied.
    pub snapshot: Arc<dyn Snapshot>,
    /// Each caller's answer, to be sent once the batch is durable.
    pub replies: Vec<(Reply, Result<CommitResult>)>,
    /// Whether the batch changed storage (an all-failed batch needs no sync).
    pub wrote: bool,
    /// Order of the batch among all applied batches.
    pub seq: u64,
    /// Data keys the batch changed, collected only while someone watches.
    pub changed: Vec<Vec<u8>>,
    /// What the batch did to queue messages, for the queue hub.
    pub queue: Vec<QueueSettle>,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Writer { shared }
    }

    pub(crate) fn run(self, applied: Receiver<Applied>) {
        let relaxed = self.shared.config.durability == Durability::Relaxed;
        let interval = Duration::from_millis(RELAXED_SYNC_INTERVAL_MS);
        let mut unsynced_since: Option<Instant> = None;
        loop {
            let first = if relaxed && unsynced_since.is_some() {
                let deadline =
                    unsynced_since.map_or(Duration::ZERO, |t| interval.saturating_sub(t.elapsed()));
                match applied.recv_timeout(deadline) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        sync(&self.shared, &mut Vec::new());
                        unsynced_since = None;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match applied.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            };
            self.shared.writer_busy.store(true, Ordering::SeqCst);
            let mut jobs = vec![first];
            jobs.extend(applied.try_iter());
            if relaxed {
                flush_relaxed(&self.shared, &mut jobs);
                unsynced_since.get_or_insert_with(Instant::now);
                if unsynced_since.is_some_and(|t| t.elapsed() >= interval) {
                    sync(&self.shared, &mut Vec::new());
                    unsynced_since = None;
                }
            } else {
                sync(&self.shared, &mut jobs);
            }
            finish(&self.shared, jobs);
            self.shared.writer_busy.store(false, Ordering::SeqCst);
        }
        // Shutting down: whatever was acknowledged unsynced in relaxed mode is synced now.
        if relaxed && unsynced_since.is_some() {
            sync(&self.shared, &mut Vec::new());
        }
    }
}

/// One durable sync for every job; on failure poison and fail them all.
pub(crate) fn sync(shared: &Shared, jobs: &mut [Applied]) {
    if shared.poison.check().is_ok() && (jobs.is_empty() || jobs.iter().any(|j| j.wrote)) {
        if let Err(e) = shared.storage.sync() {
            // Never retry: after a failed fsync the kernel may already have dropped the
            // dirty pages, so a later "successful" sync would prove nothing.
            shared.poison.poison(format!("durable sync failed: {e}"));
        }
    }
    fail_if_poisoned(shared, jobs);
}

/// Relaxed mode: hand the batches to the OS (survives a process crash), no disk wait.
fn flush_relaxed(shared: &Shared, jobs: &mut [Applied]) {
    if shared.poison.check().is_ok() {
        if let Err(e) = shared.storage.flush() {
            shared
                .poison
                .poison(format!("write to the operating system failed: {e}"));
        }
    }
    fail_if_poisoned(shared, jobs);
}

fn fail_if_poisoned(shared: &Shared, jobs: &mut [Applied]) {
    if let Err(StoreError::Poisoned(reason)) = shared.poison.check() {
        for job in jobs.iter_mut() {
            for (_, outcome) in job.replies.iter_mut() {
                if outcome.as_ref().is_ok_and(CommitResult::is_committed) {
                    *outcome = Err(StoreError::Poisoned(reason.clone()));
                }
            }
        }
    }
}

/// Completes one batch on the calling thread: sync, publish, answer.
pub(crate) fn complete(shared: &Shared, job: Applied) {
    let mut jobs = vec![job];
    sync(shared, &mut jobs);
    finish(shared, jobs);
}

/// Publishes the newest snapshot (unless poisoned) and answers every caller.
pub(crate) fn finish(shared: &Shared, jobs: Vec<Applied>) {
    let poisoned = shared.poison.check().is_err();
    if !poisoned {
        if let Some(last) = jobs.last() {
            // The evaluator may complete a batch itself while this thread completes older
            // ones, so publish only forward: readers never go back in time.
            shared.published.rcu(|current| {
                if current.seq < last.seq {
                    Arc::new(Published {
                        snapshot: last.snapshot.clone(),
                        seq: last.seq,
                    })
                } else {
                    current.clone()
                }
            });
        }
    }
    if !poisoned && shared.watch.is_active() {
        shared.watch.changed(
            jobs.iter()
                .flat_map(|j| j.changed.iter().map(Vec::as_slice)),
        );
    }
    // Before answering: an acknowledged settlement is visible in the queue's state.
    if !poisoned && jobs.iter().any(|j| !j.queue.is_empty()) {
        let settles = jobs.iter().flat_map(|j| j.queue.iter());
        shared.queue.settle(settles, shared.config.clock.now_ms());
    }
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
