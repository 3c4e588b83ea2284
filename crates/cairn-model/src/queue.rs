//! What the [`Kv`](crate::Kv) trait says about queues: the options of `listen_queue`, the
//! message a generic handler sees, and the running listener. The embedded database and
//! cairn-client implement them with their own richer types (`Delivery` with its id and lease
//! deadline); code written against the trait sees only what both have.

use std::future::Future;
use std::time::Duration;

use crate::limits::{QUEUE_LISTEN_CONCURRENCY_DEFAULT, QUEUE_LISTEN_VISIBILITY_TIMEOUT_MS_DEFAULT};

/// How `listen_queue` consumes, embedded or over the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueListenOptions {
    /// Handlers running at once, `1..=QUEUE_LISTEN_CONCURRENCY_MAX`.
    pub concurrency: usize,
    /// Lease of each message: a handler still running after it loses the message to a retry
    /// (its outcome is then refused as stale).
    pub visibility_timeout: Duration,
}

impl Default for QueueListenOptions {
    fn default() -> Self {
        QueueListenOptions {
            concurrency: QUEUE_LISTEN_CONCURRENCY_DEFAULT,
            visibility_timeout: Duration::from_millis(QUEUE_LISTEN_VISIBILITY_TIMEOUT_MS_DEFAULT),
        }
    }
}

impl QueueListenOptions {
    /// Sets the number of handlers running at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets the lease of each message.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }
}

/// One attempt at one message, as a [`Kv::listen_queue`](crate::Kv::listen_queue) handler
/// sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueDelivery {
    /// The V8-serialized payload, as enqueued.
    pub payload: Vec<u8>,
    /// The attempt number, from 1.
    pub attempt: u32,
}

impl QueueDelivery {
    /// A delivery of `payload`, attempt `attempt` (for implementations of the trait).
    pub fn new(payload: Vec<u8>, attempt: u32) -> Self {
        QueueDelivery { payload, attempt }
    }
}

/// A running `listen_queue`.
pub trait KvQueueListener: Send {
    /// What closing fails with.
    type Error;

    /// Stops taking messages, waits for the running handlers and their acknowledgements.
    fn close(self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
