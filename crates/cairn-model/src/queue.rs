//! What the [`Kv`](crate::Kv) trait says about queues: the options of `listen_queue`, the
//! message a generic handler sees, the running listener, and the outcomes and statistics both
//! implementations report. The embedded database and
//! cairn-client implement them with their own richer types (`Delivery` with its id and lease
//! deadline); code written against the trait sees only what both have.

use std::future::Future;
use std::time::Duration;

use crate::kv::RequestError;
use crate::limits::{
    QUEUE_LISTEN_CONCURRENCY_DEFAULT, QUEUE_LISTEN_CONCURRENCY_MAX,
    QUEUE_LISTEN_VISIBILITY_TIMEOUT_MS_DEFAULT, QUEUE_VISIBILITY_TIMEOUT_MS_MAX,
};

/// A lease in milliseconds, if within `1..=QUEUE_VISIBILITY_TIMEOUT_MS_MAX`.
pub fn visibility_timeout_ms(timeout: Duration) -> Result<u64, RequestError> {
    let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 || ms > QUEUE_VISIBILITY_TIMEOUT_MS_MAX {
        return Err(RequestError::Argument(format!(
            "visibility timeout of {ms} ms is outside 1..={QUEUE_VISIBILITY_TIMEOUT_MS_MAX} ms"
        )));
    }
    Ok(ms)
}

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

    /// Checks both bounds; every `listen_queue` calls this before it starts.
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.concurrency == 0 || self.concurrency > QUEUE_LISTEN_CONCURRENCY_MAX {
            return Err(RequestError::Argument(format!(
                "listen_queue concurrency of {} is outside 1..={QUEUE_LISTEN_CONCURRENCY_MAX}",
                self.concurrency
            )));
        }
        visibility_timeout_ms(self.visibility_timeout).map(|_| ())
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

/// What a negative acknowledgement (or an expired lease) did to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackOutcome {
    /// The message will be delivered again.
    Retry {
        /// When it becomes ready again (the database's clock, ms since the epoch).
        ready_at_ms: u64,
        /// The attempt number of that delivery.
        next_attempt: u32,
    },
    /// The backoff schedule was exhausted: the payload was written to the message's
    /// `keys_if_undelivered` and the message removed, in one commit.
    DeadLettered,
}

/// The state of a database's queue. Counting reads the whole queue (one snapshot): it is
/// meant for monitoring, not for every message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Messages ready now and not leased (the queue's depth).
    pub ready: u64,
    /// Messages whose time has not come yet (delayed, or waiting for a retry).
    pub delayed: u64,
    /// Messages leased to a consumer and not yet settled.
    pub in_flight: u64,
    /// Messages dead-lettered since the database was created (persistent).
    pub dead_lettered: u64,
}

/// A running `listen_queue`.
pub trait KvQueueListener: Send {
    /// What closing fails with.
    type Error;

    /// Stops taking messages, waits for the running handlers and their acknowledgements.
    fn close(self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
