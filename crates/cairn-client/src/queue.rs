//! Queues over the network: cairn's queue extension (`docs/protocol.md`), with the same shape
//! as the embedded database's queue API — `enqueue`, the lease primitives `dequeue` / `ack` /
//! `nack`, `queue_stats`, and [`Client::listen_queue`] built on them.
//!
//! Retries: a dequeue whose answer was lost is retried (the leases it may have taken expire
//! after their visibility timeout and the messages are delivered again: at least once), and
//! so are acknowledgements (a retried ack whose first attempt went through reports
//! [`ClientError::DeliveryNotHeld`], nothing worse). An enqueue is a write: a lost answer is
//! [`ClientError::OutcomeUnknown`], as for `atomic_write`.

mod listener;

use std::fmt;
use std::time::Duration;

use cairn_model::{CommitResult, EnqueueOptions, Kv};
use cairn_proto::limits::{
    QUEUE_DEQUEUE_BATCH_MAX, QUEUE_DEQUEUE_WAIT_MS_MAX, QUEUE_SETTLE_BATCH_MAX,
};
use cairn_proto::queue as q;
use cairn_proto::{messages as pb, Message};
use hyper::Uri;

use crate::error::{ClientError, Result};
use crate::session::Session;
use crate::{decode, Client, Path};

pub use cairn_model::{NackOutcome, QueueStats};
pub use listener::{QueueListenOptions, QueueListener};

/// The queue endpoints, in the order of `Session::queue`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum QueuePath {
    Enqueue = 0,
    Dequeue = 1,
    Ack = 2,
    Nack = 3,
    Stats = 4,
}

impl QueuePath {
    pub(crate) fn uri(self, session: &Session) -> &Uri {
        let [enqueue, dequeue, ack, nack, stats] = &session.queue;
        match self {
            QueuePath::Enqueue => enqueue,
            QueuePath::Dequeue => dequeue,
            QueuePath::Ack => ack,
            QueuePath::Nack => nack,
            QueuePath::Stats => stats,
        }
    }
}

/// Names one attempt at one message: the server's opaque delivery id. Present it to
/// [`Client::ack`] or [`Client::nack`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeliveryId(Vec<u8>);

impl DeliveryId {
    /// The id as the server sent it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// An id from bytes a server sent (e.g. passed between processes); the server checks it.
    pub fn from_bytes(bytes: Vec<u8>) -> DeliveryId {
        DeliveryId(bytes)
    }
}

/// Never shows the bytes: they hold the lease's secret token.
impl fmt::Debug for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeliveryId({} bytes)", self.0.len())
    }
}

/// One attempt at one message, leased to this client until `lease_deadline_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Presented to acknowledge this attempt.
    pub id: DeliveryId,
    /// The V8-serialized payload, as enqueued.
    pub payload: Vec<u8>,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// Server clock time (ms since the epoch) after which the lease is void.
    pub lease_deadline_ms: u64,
}

impl Delivery {
    /// The attempt number, from 1 (as `cairn_store::Delivery::attempt`).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// What settling one delivery id of a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleOutcome {
    /// Acknowledged: removed, durably.
    Acked,
    /// Negatively acknowledged.
    Nacked(NackOutcome),
    /// The lease was not held any more; nothing changed.
    NotHeld,
}

impl Client {
    /// Enqueues one message (a V8-serialized payload) in a write of its own, through
    /// `queue/enqueue`. To enqueue together with other changes use
    /// [`Kv::atomic`]`().enqueue(..)`, which goes through `atomic_write`.
    pub async fn enqueue(&self, payload: Vec<u8>, options: EnqueueOptions) -> Result<CommitResult> {
        let write = self.atomic().enqueue(payload, options).into_write()?;
        let body = cairn_proto::atomic_write_to_proto(write).encode_to_vec();
        let bytes = self
            .call(Path::Queue(QueuePath::Enqueue), body, false)
            .await?;
        let output: pb::AtomicWriteOutput = decode(&bytes)?;
        crate::commit_result(output)
    }

    /// Leases up to `max_messages` ready messages for `visibility_timeout` each. When none is
    /// ready the server waits up to `wait` (at most `QUEUE_DEQUEUE_WAIT_MS_MAX`) for one;
    /// an empty answer means none came. Settle each with [`Client::ack`] or [`Client::nack`].
    pub async fn dequeue(
        &self,
        max_messages: usize,
        visibility_timeout: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>> {
        if max_messages == 0 || max_messages > QUEUE_DEQUEUE_BATCH_MAX {
            return Err(cairn_model::RequestError::Argument(format!(
                "dequeue takes 1..={QUEUE_DEQUEUE_BATCH_MAX} messages, not {max_messages}"
            ))
            .into());
        }
        let request = q::QueueDequeue {
            max_messages: max_messages as u32,
            visibility_timeout_ms: millis(visibility_timeout),
            wait_ms: millis(wait).min(QUEUE_DEQUEUE_WAIT_MS_MAX),
        };
        let bytes = self
            .call(
                Path::Queue(QueuePath::Dequeue),
                request.encode_to_vec(),
                true,
            )
            .await?;
        let output: q::QueueDequeueOutput = decode(&bytes)?;
        Ok(output
            .deliveries
            .into_iter()
            .map(|d| Delivery {
                id: DeliveryId(d.delivery_id),
                payload: d.payload,
                attempt: d.attempt,
                lease_deadline_ms: d.lease_deadline_ms,
            })
            .collect())
    }

    /// Acknowledges a delivery: the message is removed, durably. Fails with
    /// [`ClientError::DeliveryNotHeld`] if the lease is gone (expired, handed out again, or
    /// settled already).
    pub async fn ack(&self, id: &DeliveryId) -> Result<()> {
        match self
            .settle(QueuePath::Ack, std::slice::from_ref(id))
            .await?
            .as_slice()
        {
            [SettleOutcome::Acked] => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Negatively acknowledges a delivery: the attempt failed; the message is retried after
    /// its next backoff interval or dead-lettered. Refused like [`Client::ack`].
    pub async fn nack(&self, id: &DeliveryId) -> Result<NackOutcome> {
        match self
            .settle(QueuePath::Nack, std::slice::from_ref(id))
            .await?
            .as_slice()
        {
            [SettleOutcome::Nacked(outcome)] => Ok(*outcome),
            other => Err(unexpected(other)),
        }
    }

    /// Acknowledges several deliveries in one request (each on its own): one outcome per id,
    /// in order. Fails with [`ClientError::DeliveryNotHeld`] only if none was held.
    pub async fn ack_many(&self, ids: &[DeliveryId]) -> Result<Vec<SettleOutcome>> {
        self.settle(QueuePath::Ack, ids).await
    }

    /// Negatively acknowledges several deliveries in one request, like [`Client::ack_many`].
    pub async fn nack_many(&self, ids: &[DeliveryId]) -> Result<Vec<SettleOutcome>> {
        self.settle(QueuePath::Nack, ids).await
    }

    async fn settle(&self, path: QueuePath, ids: &[DeliveryId]) -> Result<Vec<SettleOutcome>> {
        if ids.is_empty() || ids.len() > QUEUE_SETTLE_BATCH_MAX {
            return Err(cairn_model::RequestError::Argument(format!(
                "settling takes 1..={QUEUE_SETTLE_BATCH_MAX} delivery ids, not {}",
                ids.len()
            ))
            .into());
        }
        let request = q::QueueSettle {
            delivery_ids: ids.iter().map(|id| id.0.clone()).collect(),
        };
        let bytes = match self
            .call(Path::Queue(path), request.encode_to_vec(), true)
            .await
        {
            Ok(bytes) => bytes,
            Err(ClientError::Refused {
                status: 409,
                message,
            }) => return Err(ClientError::DeliveryNotHeld(message)),
            Err(e) => return Err(e),
        };
        let output: q::QueueSettleOutput = decode(&bytes)?;
        if output.outcomes.len() != ids.len() {
            return Err(ClientError::Protocol(format!(
                "settled {} delivery ids, got {} outcomes",
                ids.len(),
                output.outcomes.len()
            )));
        }
        output.outcomes.into_iter().map(settle_outcome).collect()
    }

    /// The queue's depth, delayed, in-flight and dead-lettered counts (the server reads its
    /// whole queue to count: for monitoring, not for every message).
    pub async fn queue_stats(&self) -> Result<QueueStats> {
        let request = q::QueueStatsRequest {}.encode_to_vec();
        let bytes = self
            .call(Path::Queue(QueuePath::Stats), request, true)
            .await?;
        let output: q::QueueStatsOutput = decode(&bytes)?;
        let mut stats = QueueStats::default();
        stats.ready = output.ready;
        stats.delayed = output.delayed;
        stats.in_flight = output.in_flight;
        stats.dead_lettered = output.dead_lettered;
        Ok(stats)
    }
}

fn settle_outcome(outcome: q::QueueSettleOutcome) -> Result<SettleOutcome> {
    match q::QueueSettleStatus::try_from(outcome.status) {
        Ok(q::QueueSettleStatus::QsAcked) => Ok(SettleOutcome::Acked),
        Ok(q::QueueSettleStatus::QsRetry) => Ok(SettleOutcome::Nacked(NackOutcome::Retry {
            ready_at_ms: outcome.retry_at_ms,
            next_attempt: outcome.next_attempt,
        })),
        Ok(q::QueueSettleStatus::QsDeadLettered) => {
            Ok(SettleOutcome::Nacked(NackOutcome::DeadLettered))
        }
        Ok(q::QueueSettleStatus::QsNotHeld) => Ok(SettleOutcome::NotHeld),
        _ => Err(ClientError::Protocol(format!(
            "unknown settle status {}",
            outcome.status
        ))),
    }
}

fn unexpected(outcomes: &[SettleOutcome]) -> ClientError {
    match outcomes {
        [SettleOutcome::NotHeld] => {
            ClientError::DeliveryNotHeld("the server no longer holds this lease".into())
        }
        other => ClientError::Protocol(format!("unexpected settle outcome {other:?}")),
    }
}

/// A duration in whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
