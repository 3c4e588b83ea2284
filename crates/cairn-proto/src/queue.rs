//! cairn's queue extension of the data path (`docs/protocol.md`): the protobuf messages of
//! `POST <endpoint>/queue/{dequeue,ack,nack,stats}`, written by hand with `prost`'s derives
//! like [`crate::messages`]. `queue/enqueue` needs no message of its own: it takes KV
//! Connect's `AtomicWrite` (enqueues only) and answers `AtomicWriteOutput`, so the bytes
//! `@deno/kv` produces for `kv.enqueue()` are accepted as they are.
//!
//! These messages are cairn's own (KV Connect has no way to receive messages), in package
//! `cairn.queue.v1`. Field numbers are the wire format and never change; they are pinned byte
//! for byte by `tests/wire_known_bytes.rs`.

/// `POST <endpoint>/queue/dequeue` request body: lease up to `max_messages` ready messages,
/// waiting up to `wait_ms` for the first one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueDequeue {
    /// Most messages to lease, `1..=QUEUE_DEQUEUE_BATCH_MAX`; 0 means 1.
    #[prost(uint32, tag = "1")]
    pub max_messages: u32,
    /// The lease of every message handed out, in ms, `1..=QUEUE_VISIBILITY_TIMEOUT_MS_MAX`.
    #[prost(uint64, tag = "2")]
    pub visibility_timeout_ms: u64,
    /// Longest wait for a first message, in ms; 0 answers at once. The server bounds it by
    /// `QUEUE_DEQUEUE_WAIT_MS_MAX`.
    #[prost(uint64, tag = "3")]
    pub wait_ms: u64,
}

/// `POST <endpoint>/queue/dequeue` response body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueDequeueOutput {
    /// The messages leased to the caller, in delivery order; empty when none was ready
    /// within the wait.
    #[prost(message, repeated, tag = "1")]
    pub deliveries: Vec<QueueDelivery>,
}

/// One attempt at one message, leased to the caller.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueDelivery {
    /// The opaque id (32 bytes) to acknowledge this attempt with.
    #[prost(bytes = "vec", tag = "1")]
    pub delivery_id: Vec<u8>,
    /// The V8-serialized payload, as enqueued.
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
    /// The attempt number, from 1.
    #[prost(uint32, tag = "3")]
    pub attempt: u32,
    /// Server clock time (ms since the Unix epoch) after which the lease is void.
    #[prost(uint64, tag = "4")]
    pub lease_deadline_ms: u64,
}

/// `POST <endpoint>/queue/ack` and `/queue/nack` request body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueSettle {
    /// The delivery ids to settle, `1..=QUEUE_SETTLE_BATCH_MAX`; each is settled on its own.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub delivery_ids: Vec<Vec<u8>>,
}

/// `POST <endpoint>/queue/ack` and `/queue/nack` response body: one outcome per id, in
/// request order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueSettleOutput {
    /// The outcome of each id.
    #[prost(message, repeated, tag = "1")]
    pub outcomes: Vec<QueueSettleOutcome>,
}

/// What settling one delivery id did.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueSettleOutcome {
    /// [`QueueSettleStatus`].
    #[prost(enumeration = "QueueSettleStatus", tag = "1")]
    pub status: i32,
    /// On a nack that schedules a retry: when the message is ready again (server clock ms).
    #[prost(uint64, tag = "2")]
    pub retry_at_ms: u64,
    /// On a nack that schedules a retry: the attempt number of that delivery.
    #[prost(uint32, tag = "3")]
    pub next_attempt: u32,
}

/// Outcome of settling one delivery id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum QueueSettleStatus {
    /// Unknown; clients treat it as a failure.
    QsUnspecified = 0,
    /// Acknowledged: the message is removed, durably.
    QsAcked = 1,
    /// Negatively acknowledged: the message will be delivered again (see `retry_at_ms`).
    QsRetry = 2,
    /// Negatively acknowledged with the backoff schedule exhausted: the payload was written
    /// to the message's `keys_if_undelivered` and the message removed.
    QsDeadLettered = 3,
    /// The lease is not held any more (expired, handed out again, or settled already);
    /// nothing changed.
    QsNotHeld = 4,
}

/// `POST <endpoint>/queue/stats` request body (no fields yet).
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueStatsRequest {}

/// `POST <endpoint>/queue/stats` response body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueStatsOutput {
    /// Messages ready now and not leased (the queue's depth).
    #[prost(uint64, tag = "1")]
    pub ready: u64,
    /// Messages whose time has not come yet (delayed, or waiting for a retry).
    #[prost(uint64, tag = "2")]
    pub delayed: u64,
    /// Messages leased to a consumer and not yet settled.
    #[prost(uint64, tag = "3")]
    pub in_flight: u64,
    /// Messages dead-lettered since the database was created.
    #[prost(uint64, tag = "4")]
    pub dead_lettered: u64,
}
