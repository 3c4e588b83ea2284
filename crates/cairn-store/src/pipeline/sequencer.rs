//! The sequencer: a bounded queue of requests, taken in arrival order as batches, each batch
//! numbered with the next commit version.

use std::time::Duration;

use cairn_model::limits::{COMMIT_BATCH_WRITES_MAX, COMMIT_QUEUE_DEPTH};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::Request;

/// Hands out batches of requests in order.
pub struct Sequencer {
    receiver: Receiver<Request>,
    commit_version: u64,
}

/// What the sequencer produced.
pub(crate) enum Next {
    /// Requests to evaluate, in order.
    Batch(Vec<Request>),
    /// Nothing arrived for a while: time for housekeeping.
    Idle,
    /// Every sender is gone: shut down.
    Closed,
}

impl Sequencer {
    /// A sequencer continuing after `commit_version`, and the sender its callers use.
    pub(crate) fn new(commit_version: u64) -> (Sender<Request>, Sequencer) {
        let (sender, receiver) = crossbeam_channel::bounded(COMMIT_QUEUE_DEPTH);
        (
            sender,
            Sequencer {
                receiver,
                commit_version,
            },
        )
    }

    /// Waits up to `idle` for a request, then takes every request already waiting, up to
    /// the batch bound. Group commit falls out of this: the longer the previous batch took,
    /// the more requests have queued up behind it.
    pub(crate) fn next_batch(&mut self, idle: Duration) -> Next {
        let first = match self.receiver.recv_timeout(idle) {
            Ok(request) => request,
            Err(RecvTimeoutError::Timeout) => return Next::Idle,
            Err(RecvTimeoutError::Disconnected) => return Next::Closed,
        };
        let mut batch = Vec::with_capacity(self.receiver.len().min(COMMIT_BATCH_WRITES_MAX) + 1);
        batch.push(first);
        while batch.len() < COMMIT_BATCH_WRITES_MAX {
            match self.receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        Next::Batch(batch)
    }

    /// True when no request is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.receiver.is_empty()
    }

    /// The commit version for the batch about to be applied. Versions are only consumed by
    /// batches that write something, and never reused: the last one is stored with each batch.
    pub(crate) fn next_commit_version(&mut self) -> u64 {
        self.commit_version += 1;
        self.commit_version
    }
}
