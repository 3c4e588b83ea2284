//! The sequencer: a bounded queue of requests, taken in arrival order as batches, each batch
//! numbered with the next commit version; and [`Admission`], which lets callers into that
//! queue without ever blocking their thread.
//!
//! Callers' requests are admitted before they are queued: each holds a place among
//! [`COMMIT_QUEUE_DEPTH`] and its bytes of the database's `commit_queue_bytes_max` until it is
//! answered, so the bound covers every write between its submission and its answer (queued,
//! being evaluated, applied and waiting for its sync), not only the channel. Admission waits
//! asynchronously (a tokio semaphore, which any executor can poll); the channel itself is
//! larger than the callers' share, so an admitted caller's send never blocks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::limits::{COMMIT_BATCH_WRITES_MAX, COMMIT_QUEUE_DEPTH, QUEUE_EXPIRY_BATCH_MAX};
use cairn_model::AtomicWrite;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::Request;
use crate::error::{Result, StoreError};

/// Room in the channel beyond the callers' share, for the database's own threads (the
/// sweeper's removals and the queue dispatcher's retries, which send from their own threads
/// and may wait there). While they use no more than this, an admitted caller always finds room.
pub(crate) const COMMIT_QUEUE_INTERNAL_DEPTH: usize = QUEUE_EXPIRY_BATCH_MAX + 1;
/// What one request costs the byte budget beyond its keys and values: the request, its
/// answer slot and the records it becomes, roughly.
pub(crate) const COMMIT_REQUEST_OVERHEAD_BYTES: usize = 256;
/// What a queue acknowledgement, retry or dead-lettering costs the byte budget beyond its
/// payload and keys.
const QUEUE_OP_BYTES: usize = COMMIT_REQUEST_OVERHEAD_BYTES;

// A single admission (`acquire_many`) takes a u32 count of bytes.
const _: () = assert!(COMMIT_REQUEST_OVERHEAD_BYTES < u32::MAX as usize);
const _: () = assert!(COMMIT_QUEUE_DEPTH <= u32::MAX as usize);

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
        let (sender, receiver) =
            crossbeam_channel::bounded(COMMIT_QUEUE_DEPTH + COMMIT_QUEUE_INTERNAL_DEPTH);
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

    /// Continues after `commit_version` if it is newer than the last one used (a replica's
    /// batches carry their primary's versions; after a promotion, commits continue past them).
    pub(crate) fn continue_after(&mut self, commit_version: u64) {
        self.commit_version = self.commit_version.max(commit_version);
    }

    /// The commit version for the batch about to be applied. Versions are only consumed by
    /// batches that write something, and never reused: the last one is stored with each batch.
    pub(crate) fn next_commit_version(&mut self) -> u64 {
        self.commit_version += 1;
        self.commit_version
    }
}

/// Lets callers' requests into the commit queue: at most [`COMMIT_QUEUE_DEPTH`] requests and
/// `bytes_max` bytes of them between submission and answer.
pub(crate) struct Admission {
    writes: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    bytes_max: usize,
    /// Writes and bytes of the tickets held (a caller waiting for bytes may hold a place among
    /// the writes already, so the semaphores alone do not tell).
    held: Arc<Held>,
}

#[derive(Default)]
struct Held {
    writes: AtomicUsize,
    bytes: AtomicUsize,
}

/// A request's place in the commit queue; dropping it (with the request's answer) frees it.
pub(crate) struct Ticket {
    _writes: OwnedSemaphorePermit,
    bytes: OwnedSemaphorePermit,
    held: Arc<Held>,
}

impl Ticket {
    fn new(writes: OwnedSemaphorePermit, bytes: OwnedSemaphorePermit, held: &Arc<Held>) -> Self {
        held.writes.fetch_add(1, Ordering::Relaxed);
        held.bytes.fetch_add(bytes.num_permits(), Ordering::Relaxed);
        Ticket {
            _writes: writes,
            bytes,
            held: held.clone(),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.held.writes.fetch_sub(1, Ordering::Relaxed);
        self.held
            .bytes
            .fetch_sub(self.bytes.num_permits(), Ordering::Relaxed);
    }
}

/// Whether a caller waits for room in a full commit queue or is refused at once.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    Wait,
    Refuse,
}

impl Admission {
    /// A queue of `bytes_max` bytes, which must hold the largest write `write_bytes_max`.
    pub(crate) fn new(bytes_max: usize, write_bytes_max: usize) -> Result<Admission> {
        check_bytes_max(bytes_max, write_bytes_max)?;
        Ok(Admission {
            writes: Arc::new(Semaphore::new(COMMIT_QUEUE_DEPTH)),
            bytes: Arc::new(Semaphore::new(bytes_max)),
            bytes_max,
            held: Arc::default(),
        })
    }

    /// A place for a request of `bytes`: waited for, or refused with
    /// [`StoreError::Overloaded`] when the queue is full and `when_full` says so.
    pub(crate) async fn admit(&self, bytes: usize, when_full: WhenFull) -> Result<Ticket> {
        // A request never costs more than the whole queue, so it is always admitted in the end.
        let bytes = u32::try_from(bytes.min(self.bytes_max)).unwrap_or(u32::MAX);
        // Refused before submission: nothing of the request can have been applied.
        let closed = |_| StoreError::Closed.not_applied();
        match when_full {
            WhenFull::Wait => {
                let writes = self.writes.clone().acquire_owned().await.map_err(closed)?;
                let bytes = self
                    .bytes
                    .clone()
                    .acquire_many_owned(bytes)
                    .await
                    .map_err(closed)?;
                Ok(Ticket::new(writes, bytes, &self.held))
            }
            WhenFull::Refuse => {
                let refused = |e: TryAcquireError| match e {
                    TryAcquireError::Closed => StoreError::Closed.not_applied(),
                    TryAcquireError::NoPermits => self.overloaded(),
                };
                let writes = self.writes.clone().try_acquire_owned().map_err(refused)?;
                let bytes = self
                    .bytes
                    .clone()
                    .try_acquire_many_owned(bytes)
                    .map_err(refused)?;
                Ok(Ticket::new(writes, bytes, &self.held))
            }
        }
    }

    /// Queues an admitted request. Never blocks: the callers' share of the channel is kept
    /// free for them; only if the database's own threads overfilled it is the request
    /// refused (nothing of it applied).
    pub(crate) fn send(&self, sender: &Sender<Request>, request: Request) -> Result<()> {
        match sender.try_send(request) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(self.overloaded()),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed.not_applied()),
        }
    }

    /// Requests admitted and not yet answered, and their bytes.
    pub(crate) fn usage(&self) -> (usize, usize) {
        (
            self.held.writes.load(Ordering::Relaxed),
            self.held.bytes.load(Ordering::Relaxed),
        )
    }

    fn overloaded(&self) -> StoreError {
        let (writes, bytes) = self.usage();
        StoreError::Overloaded(format!(
            "the commit queue holds {writes} writes of {bytes} bytes (at most \
             {COMMIT_QUEUE_DEPTH} writes, {} bytes)",
            self.bytes_max
        ))
    }
}

/// Refuses a byte bound that cannot hold the largest write (or that a semaphore cannot count).
pub(crate) fn check_bytes_max(bytes_max: usize, write_bytes_max: usize) -> Result<()> {
    let largest = write_bytes_max.saturating_add(COMMIT_REQUEST_OVERHEAD_BYTES);
    if bytes_max < largest || bytes_max > Semaphore::MAX_PERMITS {
        return Err(StoreError::InvalidArgument(format!(
            "commit_queue_bytes_max of {bytes_max} bytes must be at least the largest write \
             ({write_bytes_max} bytes of limits.write_bytes_max plus \
             {COMMIT_REQUEST_OVERHEAD_BYTES}) and at most {}",
            Semaphore::MAX_PERMITS
        )));
    }
    Ok(())
}

/// What an atomic write costs the commit queue's byte budget: its keys, values and payloads
/// (as `AtomicWrite::validate` counts them) and a fixed overhead.
pub(crate) fn write_cost(write: &AtomicWrite) -> usize {
    let checks: usize = write.checks.iter().map(|c| c.key.len()).sum();
    let mutations: usize = write
        .mutations
        .iter()
        .map(|m| m.key.len() + mutation_value_bytes(&m.kind))
        .sum();
    let enqueues: usize = write
        .enqueues
        .iter()
        .map(|e| {
            let keys: usize = e.keys_if_undelivered.iter().map(Vec::len).sum();
            e.payload.len() + keys + 4 * e.backoff_schedule.as_ref().map_or(0, Vec::len)
        })
        .sum();
    COMMIT_REQUEST_OVERHEAD_BYTES + checks + mutations + enqueues
}

fn mutation_value_bytes(kind: &cairn_model::MutationKind) -> usize {
    match kind {
        cairn_model::MutationKind::Sum {
            value, min, max, ..
        } => [Some(value), min.as_ref(), max.as_ref()]
            .into_iter()
            .flatten()
            .map(cairn_model::KvValue::byte_len)
            .sum(),
        other => other.value().map_or(0, cairn_model::KvValue::byte_len),
    }
}

/// What a queue operation costs the byte budget.
pub(crate) fn queue_op_cost(op: &crate::queue::ops::QueueOp) -> usize {
    use crate::queue::ops::QueueOp;
    QUEUE_OP_BYTES
        + match op {
            QueueOp::Ack { .. } => 0,
            QueueOp::Retry { record, .. } => record.len(),
            QueueOp::DeadLetter { payload, keys, .. } => {
                payload.len() * keys.len() + keys.iter().map(Vec::len).sum::<usize>()
            }
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_or_waits_and_frees_room_with_the_ticket() {
        let admission = Admission::new(1000, 500).expect("room for the largest write");
        let first = admission.admit(700, WhenFull::Refuse).await.expect("room");
        assert_eq!(admission.usage(), (1, 700));
        let refused = admission.admit(400, WhenFull::Refuse).await.err();
        assert!(
            matches!(refused, Some(StoreError::Overloaded(_))),
            "{refused:?}"
        );
        let waiting = admission.admit(400, WhenFull::Wait);
        tokio::pin!(waiting);
        assert!(futures_poll_once(waiting.as_mut()).is_none(), "no room yet");
        drop(first);
        let second = waiting.await.expect("room after the first answer");
        assert_eq!(admission.usage(), (1, 400));
        drop(second);
        assert_eq!(admission.usage(), (0, 0));
    }

    #[test]
    fn a_queue_too_small_for_the_largest_write_is_refused_at_open() {
        let error = Admission::new(1000, 900).err().expect("too small");
        assert!(
            error.to_string().contains("commit_queue_bytes_max"),
            "{error}"
        );
    }

    /// Polls a future once with a no-op waker.
    fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
        let mut future = future;
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(&mut future).poll(&mut cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        }
    }
}
