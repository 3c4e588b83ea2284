//! The queue primitives on [`Database`]: enqueue, lease (dequeue), acknowledge, negatively
//! acknowledge, statistics. The network server exposes exactly these; `listen_queue` is built
//! on them.

use std::time::Duration;

use crate::limits::QUEUE_STATS_SCAN_CHUNK;

use super::delivery::{Delivery, DeliveryId};
use super::ops::{after_failure, QueueOp, QueueSettle};
use super::{read_dead_lettered, split_queue_key, QueueKey};
use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::pipeline::CommitResult;
use crate::storage::{Keyspace, Scan};
use cairn_model::{EnqueueOptions, Kv, NackOutcome, QueueStats};

impl Database {
    /// Enqueues one message (a V8-serialized payload) in an atomic write of its own; use
    /// [`AtomicOperation::enqueue`](crate::AtomicOperation::enqueue) to enqueue together with
    /// other changes.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use cairn_store::{Database, EnqueueOptions};
    ///
    /// let db = Database::open_in_memory()?;
    /// db.enqueue(vec![0xff, 0x0f, 0x49, 0x54], EnqueueOptions::default()).await?;
    /// let delivery = db.dequeue(Duration::from_secs(30))?.expect("ready at once");
    /// assert_eq!(delivery.attempt(), 1);
    /// db.ack(&delivery.id).await?;
    /// assert!(db.dequeue(Duration::from_secs(30))?.is_none());
    /// # Ok::<(), cairn_store::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub async fn enqueue(&self, payload: Vec<u8>, options: EnqueueOptions) -> Result<CommitResult> {
        self.atomic().enqueue(payload, options).commit().await
    }

    /// Leases the next ready message to the caller for `visibility_timeout`, without waiting:
    /// `None` when no message is ready. Messages come in order of their ready time, then of
    /// their enqueue. Until the lease is settled or expires, no one else gets the message.
    pub fn dequeue(&self, visibility_timeout: Duration) -> Result<Option<Delivery>> {
        let visibility_ms = visibility_ms(visibility_timeout)?;
        let shared = self.shared();
        shared.poison.check()?;
        // Deliveries are the primary's: a replica's lease could not be settled.
        if let crate::replication::Role::Replica { primary } = &*shared.replication.role() {
            return Err(StoreError::ReadOnlyReplica {
                primary: primary.clone(),
            });
        }
        self.queue_hub()
            .dequeue(&shared.published, self.now_ms(), visibility_ms)
    }

    /// Like [`Database::dequeue`], but waits until a message is ready. It is woken by the
    /// commits that store messages and by the clock (through the queue dispatcher), never by
    /// polling. Fails with [`StoreError::Closed`] when the database closes.
    pub async fn next_delivery(&self, visibility_timeout: Duration) -> Result<Delivery> {
        let hub = self.queue_hub().clone();
        loop {
            // Registered before looking, so a message that turns ready in between wakes us.
            let mut notified = std::pin::pin!(hub.ready().notified());
            notified.as_mut().enable();
            if let Some(delivery) = self.dequeue(visibility_timeout)? {
                return Ok(delivery);
            }
            notified.await;
        }
    }

    /// Acknowledges a delivery: the message is removed, durably, before this returns. Fails
    /// with [`StoreError::DeliveryNotHeld`] if the lease is not held any more (it expired,
    /// the message was handed out again, or it was settled already); nothing changes then.
    pub async fn ack(&self, delivery: &DeliveryId) -> Result<()> {
        let key = self.queue_hub().begin_settle(delivery, self.now_ms())?;
        let op = QueueOp::Ack {
            id: delivery.message,
            key,
        };
        self.queue_commit(op).await.map(|_| ())
    }

    /// Negatively acknowledges a delivery: the attempt failed. The message is retried after
    /// the next interval of its backoff schedule, or, when the schedule is exhausted, its
    /// payload is written to its `keys_if_undelivered` and it is removed — durably, before
    /// this returns. Refused like [`Database::ack`] when the lease is not held.
    pub async fn nack(&self, delivery: &DeliveryId) -> Result<NackOutcome> {
        let now_ms = self.now_ms();
        let shared = self.shared();
        let key = self.queue_hub().begin_settle(delivery, now_ms)?;
        let snapshot = shared.published.load().snapshot.clone();
        let decided = match snapshot.get(Keyspace::Queue, &key) {
            Ok(Some(record)) => {
                after_failure(delivery.message, key, &record, now_ms).map_err(StoreError::from)
            }
            Ok(None) => Err(StoreError::InvalidArgument(format!(
                "queue message {} is no longer stored",
                delivery.message
            ))),
            Err(e) => Err(e.into()),
        };
        let (op, outcome) = match decided {
            Ok(decided) => decided,
            Err(e) => {
                self.abandon(delivery, key);
                return Err(e);
            }
        };
        self.queue_commit(op).await?;
        Ok(outcome)
    }

    /// The queue's depth, delayed, in-flight and dead-lettered counts. Reads the whole
    /// `queue` keyspace from one snapshot: for monitoring, not for every message.
    pub fn queue_stats(&self) -> Result<QueueStats> {
        let shared = self.shared();
        let (snapshot, leased) = self.queue_hub().view(&shared.published);
        let now_ms = self.now_ms();
        let mut stats = QueueStats::default();
        stats.in_flight = leased.len() as u64;
        stats.dead_lettered = read_dead_lettered(|ks, k| snapshot.get(ks, k))?;
        let end = [0xFFu8; super::QUEUE_KEY_LEN + 1];
        let mut start = Vec::new();
        loop {
            let scan = Scan {
                start: &start,
                end: &end,
                reverse: false,
                limit: QUEUE_STATS_SCAN_CHUNK,
            };
            let chunk = snapshot.scan(Keyspace::Queue, scan)?;
            for (key, _) in &chunk {
                let (ready_at_ms, id, _) = split_queue_key(key)?;
                if leased.contains(&id) {
                    continue;
                }
                if ready_at_ms > now_ms {
                    stats.delayed += 1;
                } else {
                    stats.ready += 1;
                }
            }
            match chunk.last() {
                Some((last, _)) if chunk.len() == QUEUE_STATS_SCAN_CHUNK => {
                    start = last.clone();
                    start.push(0);
                }
                _ => return Ok(stats),
            }
        }
    }

    /// Commits a queue op and waits until it is durable.
    async fn queue_commit(&self, op: QueueOp) -> Result<CommitResult> {
        self.send_request(op).await?.await
    }

    /// Gives a lease up without a commit; the message goes back in line unchanged.
    fn abandon(&self, delivery: &DeliveryId, key: QueueKey) {
        let settles = [
            QueueSettle::Release(delivery.message),
            QueueSettle::Put(key),
        ];
        self.queue_hub().settle(settles.iter(), self.now_ms());
    }
}

/// A visibility timeout in whole milliseconds, within `1..=QUEUE_VISIBILITY_TIMEOUT_MS_MAX`.
pub(crate) fn visibility_ms(timeout: Duration) -> Result<u64> {
    Ok(cairn_model::queue::visibility_timeout_ms(timeout)?)
}
