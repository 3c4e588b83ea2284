//! The one seam through which the pipeline tells the rest of the database what each published
//! batch did.
//!
//! Watchers, queue delivery, statistics (and, as they come, archiving and replication) each
//! subscribe here instead of being called by name from the writer: the pipeline then knows
//! no subscriber, and a new one is one `subscribe` call at open, not another edge from the
//! pipeline into a module that itself reaches back into the database.
//!
//! Announcements are made by the thread that finishes the batches, in batch order, after the
//! batches' snapshot is published and before any of their callers is answered. So a
//! subscriber sees every published batch exactly once and in order, and whatever it does in
//! `published` (wake a watcher, put a message in line) is done before the writer of that
//! batch learns it committed. A subscriber must therefore be quick and must never wait on the
//! pipeline: it runs on the commit path.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use crate::queue::ops::QueueSettle;

/// What one batch changed, announced once it is durable and published.
#[derive(Default)]
pub(crate) struct BatchEffects {
    /// Order of the batch among all applied batches: 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// Data keys (encoded) the batch wrote or removed, in first-touch order.
    pub changed_keys: Vec<Vec<u8>>,
    /// What the batch did to queue messages.
    pub queue: Vec<QueueSettle>,
    /// The expiry sweeps (`Request::Expire::sweep`) the batch carried: the sweeper learns
    /// here that its removals are published.
    pub sweeps: Vec<u64>,
    /// Requests in the batch that asked for an answer (atomic writes, queue settlements).
    pub writes: u64,
    /// Expired keys the batch removed for the sweeper.
    pub expired_keys: u64,
    /// The storage batches themselves, when a subscriber or the replication stream asked
    /// for them (archiving): one for a batch the pipeline evaluated, those received for a
    /// replica's batch.
    pub archived: Vec<ArchivedBatch>,
}

/// A published storage batch as the archive and the replication stream keep it.
pub(crate) struct ArchivedBatch {
    /// The commit version the batch used, or 0 if it committed no write.
    pub commit_version: u64,
    /// Its stream position (in its own `meta` too).
    pub position: crate::replication::StreamPosition,
    /// When it became durable on the primary that wrote it, ms since the epoch (0 until
    /// then, for a batch this database wrote).
    pub time_ms: u64,
    /// `WriteBatch::encode`'s output (shared, not copied, by every subscriber).
    pub bytes: Arc<[u8]>,
}

impl ArchivedBatch {
    /// Encodes `batch` (before the storage adds its own bookkeeping to it).
    pub(crate) fn of(batch: &crate::storage::WriteBatch) -> Self {
        ArchivedBatch {
            commit_version: batch.meta_u64(crate::meta::COMMIT_VERSION_KEY).unwrap_or(0),
            position: match crate::meta::stream_position_of(batch) {
                Some(Ok(at)) => at,
                _ => Default::default(),
            },
            time_ms: 0,
            bytes: batch.encode().into(),
        }
    }
}

/// A part of the database that acts on published batches.
pub(crate) trait Subscriber: Send + Sync {
    /// `batches` were just published, in order; `now_ms` is the database clock's time.
    fn published(&self, batches: &[&BatchEffects], now_ms: u64);
}

/// The subscribers of one database's pipeline.
#[derive(Default)]
pub(crate) struct Announcer {
    /// Swapped whole on `subscribe` (rare), read on every announcement (every batch).
    subscribers: ArcSwap<Vec<Arc<dyn Subscriber>>>,
    /// The last batch announced: announcements continue it without a gap (batches the
    /// database lost to a failed sync are never announced, and nothing is after them).
    last_seq: AtomicU64,
    /// Some subscriber needs each batch's encoded storage batch ([`BatchEffects::archived`]):
    /// only then does the evaluator encode it.
    wants_batches: AtomicBool,
    /// The last announced batch's order, for code outside the store that only needs to know
    /// *that* something was published (the HTTP API's prefix watches); made at the first
    /// [`Announcer::published`] call, so a database nobody asks pays nothing for it.
    signal: OnceLock<tokio::sync::watch::Sender<u64>>,
}

impl Announcer {
    /// Adds `subscriber`: it sees every batch published from now on.
    pub(crate) fn subscribe(&self, subscriber: Arc<dyn Subscriber>) {
        self.subscribers.rcu(|current| {
            let mut next = Vec::clone(current);
            next.push(subscriber.clone());
            next
        });
    }

    /// Adds `subscriber`, which also needs [`BatchEffects::archived`].
    pub(crate) fn subscribe_with_batches(&self, subscriber: Arc<dyn Subscriber>) {
        self.wants_batches.store(true, Ordering::Relaxed);
        self.subscribe(subscriber);
    }

    /// Makes batches carry [`BatchEffects::archived`] (the replication stream needs them).
    pub(crate) fn want_batches(&self) {
        self.wants_batches.store(true, Ordering::Relaxed);
    }

    /// Whether batches must carry [`BatchEffects::archived`].
    pub(crate) fn wants_batches(&self) -> bool {
        self.wants_batches.load(Ordering::Relaxed)
    }

    /// A receiver marked changed at each announcement from now on.
    pub(crate) fn published(&self) -> tokio::sync::watch::Receiver<u64> {
        self.signal
            .get_or_init(|| tokio::sync::watch::Sender::new(self.last_seq.load(Ordering::Relaxed)))
            .subscribe()
    }

    /// Tells every subscriber that `batches` were published.
    pub(crate) fn announce(&self, batches: &[&BatchEffects], now_ms: u64) {
        let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
            return;
        };
        let previous = self.last_seq.swap(last.seq, Ordering::Relaxed);
        debug_assert!(
            first.seq == previous + 1 && last.seq - first.seq + 1 == batches.len() as u64,
            "announcements skip or repeat a batch: after {previous}, {}..={}",
            first.seq,
            last.seq
        );
        for subscriber in self.subscribers.load().iter() {
            subscriber.published(batches, now_ms);
        }
        if let Some(signal) = self.signal.get() {
            signal.send_replace(last.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<u64>>);

    impl Subscriber for Recorder {
        fn published(&self, batches: &[&BatchEffects], _now_ms: u64) {
            self.0.lock().extend(batches.iter().map(|b| b.seq));
        }
    }

    #[test]
    fn every_subscriber_sees_every_batch_in_order() {
        let announcer = Announcer::default();
        let (a, b) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        announcer.subscribe(a.clone());
        let first = BatchEffects {
            seq: 1,
            ..Default::default()
        };
        announcer.announce(&[&first], 0);
        announcer.subscribe(b.clone());
        let (second, third) = (
            BatchEffects {
                seq: 2,
                ..Default::default()
            },
            BatchEffects {
                seq: 3,
                ..Default::default()
            },
        );
        announcer.announce(&[&second, &third], 0);
        assert_eq!(*a.0.lock(), vec![1, 2, 3]);
        // A late subscriber sees what is published after it subscribed.
        assert_eq!(*b.0.lock(), vec![2, 3]);
    }
}
