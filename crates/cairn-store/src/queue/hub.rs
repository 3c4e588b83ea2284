//! The in-memory side of delivery: which messages are leased to consumers, and the head of
//! the queue in delivery order.
//!
//! **The window.** Scanning the `queue` keyspace from its start for every dequeue would walk
//! over the tombstones of every message acknowledged since the last compaction, and over
//! every leased message. Instead the hub keeps the head of the queue in memory: `window`
//! holds every stored, unleased message key below `horizon` (`None` = all of them), at most
//! [`QUEUE_WINDOW_KEYS_MAX`]. Its first key is therefore the next message to deliver.
//! It is filled by scans that start at the horizon (never at the tombstones behind the
//! head) and by the pipeline, which reports every key it stores ([`QueueSettle::Put`]) once
//! the batch is published.
//!
//! **Leases.** A message handed to a consumer leaves the window and gets a [`Lease`]: the
//! attempt, a random token, a deadline. Until its settlement commits, the message is "busy"
//! and no scan or report puts it back in the window, so one attempt is never handed out
//! twice. Leases are memory only (see `docs/design/queues.md`).
//!
//! **Why scans and reports cannot resurrect a settled message.** Every scan loads the
//! published snapshot *under the hub's lock*, and the pipeline reports a batch (also under
//! the lock) only after publishing it. A lease is released by that report, so a scan that
//! finds the message unleased reads a snapshot at least as new as its settlement. A report
//! can arrive late (two threads complete batches), so keys that came from a report carry no
//! record and are looked up again at dequeue; a key that is gone by then is dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::limits::{
    QUEUE_DISPATCH_WAIT_MS_MAX, QUEUE_EXPIRY_BATCH_MAX, QUEUE_LEASES_MAX, QUEUE_REFILL_KEYS_MAX,
    QUEUE_WINDOW_KEYS_MAX,
};
use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex, MutexGuard};
use tokio::sync::Notify;

use super::delivery::{Delivery, DeliveryId, MessageId};
use super::ops::QueueSettle;
use super::{message_id_of, ready_at_of, split_queue_key, QueueKey, QueueMessage, QUEUE_KEY_LEN};
use crate::clock::{Clock, ClockWatcher};
use crate::error::{Result, StoreError};
use crate::pipeline::announce::{BatchEffects, Subscriber};
use crate::pipeline::Published;
use crate::storage::{Keyspace, Scan, Snapshot};

/// Exclusive upper bound of every queue key.
const QUEUE_KEYS_END: [u8; QUEUE_KEY_LEN + 1] = [0xFF; QUEUE_KEY_LEN + 1];

/// A message handed to a consumer.
struct Lease {
    key: QueueKey,
    attempt: u32,
    token: [u8; 16],
    deadline_ms: u64,
    /// Its acknowledgement, retry or dead-lettering has been sent to the pipeline.
    settling: bool,
}

struct State {
    /// Stored, unleased message keys below `horizon`, with their record when a scan read it.
    window: BTreeMap<QueueKey, Option<Vec<u8>>>,
    /// Every stored, unleased key below it is in `window`; `None`: every one is.
    horizon: Option<Vec<u8>>,
    leases: HashMap<MessageId, Lease>,
    /// Deadlines of the leases not yet settling, earliest first.
    deadlines: BTreeSet<(u64, MessageId)>,
    /// Clock time the dispatcher will look again at the latest (`u64::MAX`: nothing timed).
    planned_wake_ms: u64,
    /// Something changed that the dispatcher must look at before sleeping.
    dirty: bool,
    closed: bool,
}

/// An expired lease taken by the dispatcher, to be retried.
pub(crate) struct Expired {
    pub id: MessageId,
    pub key: QueueKey,
    pub deadline_ms: u64,
}

/// Delivery state shared by consumers, the dispatcher and the pipeline.
pub(crate) struct QueueHub {
    state: Mutex<State>,
    /// Wakes the dispatcher thread.
    dispatcher: Condvar,
    /// Wakes consumers waiting for a ready message.
    ready: Notify,
}

impl Default for QueueHub {
    fn default() -> Self {
        QueueHub {
            state: Mutex::new(State {
                window: BTreeMap::new(),
                // Nothing is known at open: the first refill scans from the start.
                horizon: Some(Vec::new()),
                leases: HashMap::new(),
                deadlines: BTreeSet::new(),
                planned_wake_ms: 0,
                dirty: true,
                closed: false,
            }),
            dispatcher: Condvar::new(),
            ready: Notify::new(),
        }
    }
}

/// The pipeline announces each published batch's queue changes before answering its callers,
/// so an acknowledged enqueue or settlement is already in the hub's state.
impl Subscriber for QueueHub {
    fn published(&self, batches: &[&BatchEffects], now_ms: u64) {
        if batches.iter().any(|b| !b.queue.is_empty()) {
            self.settle(batches.iter().flat_map(|b| b.queue.iter()), now_ms);
        }
    }
}

impl ClockWatcher for QueueHub {
    fn clock_moved(&self) {
        let mut state = self.state.lock();
        self.kick(&mut state);
    }
}

impl QueueHub {
    /// Consumers wait on this for a message to become ready (or the database to close).
    pub(crate) fn ready(&self) -> &Notify {
        &self.ready
    }

    /// Makes the dispatcher look again before it sleeps.
    fn kick(&self, state: &mut MutexGuard<'_, State>) {
        state.dirty = true;
        self.dispatcher.notify_one();
    }

    /// Leases the first ready message to the caller until `now_ms + visibility_ms`.
    pub(crate) fn dequeue(
        &self,
        published: &ArcSwap<Published>,
        now_ms: u64,
        visibility_ms: u64,
    ) -> Result<Option<Delivery>> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        if state.leases.len() >= QUEUE_LEASES_MAX {
            tracing::debug!("queue lease bound reached; dequeue waits for settlements");
            return Ok(None);
        }
        // Loaded under the lock: see the module comment.
        let snapshot = published.load().snapshot.clone();
        loop {
            if state.window.is_empty() && !self.refill(&mut state, snapshot.as_ref(), now_ms)? {
                return Ok(None);
            }
            let Some(entry) = state.window.first_entry() else {
                continue;
            };
            if ready_at_of(entry.key()) > now_ms {
                return Ok(None);
            }
            let (key, record) = entry.remove_entry();
            let id = message_id_of(&key);
            let record = match record {
                Some(record) => record,
                None => match snapshot.get(Keyspace::Queue, &key)? {
                    Some(record) => record,
                    // Reported late, settled since: not a message any more.
                    None => continue,
                },
            };
            let message = match QueueMessage::decode(&record) {
                Ok(message) => message,
                Err(e) => {
                    // Left out of the window (and so never delivered by this process) rather
                    // than failing every consumer on every dequeue.
                    tracing::error!(message = %id, error = %e, "undeliverable queue record");
                    continue;
                }
            };
            let attempt = message.attempts.saturating_add(1);
            let token = *uuid::Uuid::new_v4().as_bytes();
            let deadline_ms = now_ms.saturating_add(visibility_ms);
            let lease = Lease {
                key,
                attempt,
                token,
                deadline_ms,
                settling: false,
            };
            state.leases.insert(id, lease);
            state.deadlines.insert((deadline_ms, id));
            if deadline_ms < state.planned_wake_ms {
                self.kick(&mut state);
            }
            // Pass the baton: another waiting consumer can take the next ready message.
            if first_ready(&state, now_ms) {
                self.ready.notify_one();
            }
            return Ok(Some(Delivery {
                id: DeliveryId {
                    message: id,
                    attempt,
                    token,
                },
                payload: message.payload,
                lease_deadline_ms: deadline_ms,
            }));
        }
    }

    /// Reads the keys past the horizon into the window; false when there are none.
    fn refill(
        &self,
        state: &mut MutexGuard<'_, State>,
        snapshot: &dyn Snapshot,
        now_ms: u64,
    ) -> Result<bool> {
        let Some(start) = state.horizon.take() else {
            return Ok(false);
        };
        let scan = Scan {
            start: &start,
            end: &QUEUE_KEYS_END,
            reverse: false,
            limit: QUEUE_REFILL_KEYS_MAX,
        };
        let pairs = match snapshot.scan(Keyspace::Queue, scan) {
            Ok(pairs) => pairs,
            Err(e) => {
                state.horizon = Some(start);
                return Err(e.into());
            }
        };
        state.horizon = match pairs.last() {
            Some((last, _)) if pairs.len() == QUEUE_REFILL_KEYS_MAX => {
                let mut next = last.clone();
                next.push(0);
                Some(next)
            }
            _ => None,
        };
        for (key, record) in pairs {
            let (_, id, key) = split_queue_key(&key)?;
            if !state.leases.contains_key(&id) {
                state.window.insert(key, Some(record));
            }
        }
        if next_delayed(state, now_ms).is_some_and(|at| at < state.planned_wake_ms) {
            self.kick(state);
        }
        Ok(true)
    }

    /// Applies what a published batch did to the queue, in commit order.
    pub(crate) fn settle<'a>(&self, settles: impl Iterator<Item = &'a QueueSettle>, now_ms: u64) {
        let mut state = self.state.lock();
        let was_full = state.leases.len() >= QUEUE_LEASES_MAX;
        let mut ready = false;
        for settle in settles {
            match settle {
                QueueSettle::Release(id) => {
                    if let Some(lease) = state.leases.remove(id) {
                        state.deadlines.remove(&(lease.deadline_ms, *id));
                    }
                    ready |= was_full;
                }
                QueueSettle::Put(key) => {
                    // Keys at or past the horizon are found by a later scan.
                    let within = state
                        .horizon
                        .as_ref()
                        .is_none_or(|h| key.as_slice() < h.as_slice());
                    if !within || state.leases.contains_key(&message_id_of(key)) {
                        continue;
                    }
                    state.window.insert(*key, None);
                    if state.window.len() > QUEUE_WINDOW_KEYS_MAX {
                        if let Some((last, _)) = state.window.pop_last() {
                            state.horizon = Some(last.to_vec());
                        }
                    }
                    let at = ready_at_of(key);
                    if at <= now_ms {
                        ready = true;
                    } else if at < state.planned_wake_ms {
                        self.kick(&mut state);
                    }
                }
            }
        }
        drop(state);
        if ready {
            self.ready.notify_one();
        }
    }

    /// Starts settling the lease `id` names; returns the message's key. Refuses ids of other
    /// attempts, expired leases and leases already being settled.
    pub(crate) fn begin_settle(&self, id: &DeliveryId, now_ms: u64) -> Result<QueueKey> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        let not_held = |reason: String| StoreError::DeliveryNotHeld {
            delivery: id.to_string(),
            reason,
        };
        let Some(lease) = state.leases.get_mut(&id.message) else {
            return Err(not_held(
                "no lease on the message: it was settled already, or the id was never issued \
                 by this process"
                    .into(),
            ));
        };
        if lease.token != id.token {
            return Err(not_held(format!(
                "the message was handed out again since (attempt {} holds it now)",
                lease.attempt
            )));
        }
        if now_ms > lease.deadline_ms {
            return Err(not_held(format!(
                "its lease expired at {} ms (now {now_ms} ms); the message will be delivered again",
                lease.deadline_ms
            )));
        }
        if lease.settling {
            return Err(not_held(
                "it was acknowledged or negatively acknowledged already".into(),
            ));
        }
        lease.settling = true;
        let (key, deadline_ms) = (lease.key, lease.deadline_ms);
        state.deadlines.remove(&(deadline_ms, id.message));
        Ok(key)
    }

    /// One look by the dispatcher: takes expired leases (to be retried), refills an empty
    /// window, wakes a consumer if a message is ready, and plans the next look.
    pub(crate) fn tick(&self, published: &ArcSwap<Published>, now_ms: u64) -> Vec<Expired> {
        let mut state = self.state.lock();
        state.dirty = false;
        let mut expired = Vec::new();
        while expired.len() < QUEUE_EXPIRY_BATCH_MAX {
            // A lease is void once the clock is past its deadline.
            let Some(&(deadline_ms, id)) = state.deadlines.first().filter(|(d, _)| *d < now_ms)
            else {
                break;
            };
            state.deadlines.pop_first();
            if let Some(lease) = state.leases.get_mut(&id) {
                lease.settling = true;
                expired.push(Expired {
                    id,
                    key: lease.key,
                    deadline_ms,
                });
            }
        }
        // More expired than one round takes: come back at once.
        state.dirty |= expired.len() == QUEUE_EXPIRY_BATCH_MAX;
        if state.window.is_empty() && state.horizon.is_some() {
            let snapshot = published.load().snapshot.clone();
            if let Err(e) = self.refill(&mut state, snapshot.as_ref(), now_ms) {
                tracing::error!(error = %e, "queue dispatcher could not read the queue");
            }
        }
        let lease_due = state.deadlines.first().map(|(d, _)| d.saturating_add(1));
        let message_due = next_delayed(&state, now_ms);
        state.planned_wake_ms = lease_due
            .into_iter()
            .chain(message_due)
            .min()
            .unwrap_or(u64::MAX);
        let ready = first_ready(&state, now_ms);
        drop(state);
        if ready {
            self.ready.notify_one();
        }
        expired
    }

    /// Sleeps until the planned look, a change, or the clock moving; at most
    /// [`QUEUE_DISPATCH_WAIT_MS_MAX`] of real time. False once the hub is closed.
    pub(crate) fn wait(&self, clock: &dyn Clock) -> bool {
        let mut state = self.state.lock();
        if state.closed {
            return false;
        }
        if state.dirty {
            return true;
        }
        let now_ms = clock.now_ms();
        if now_ms >= state.planned_wake_ms {
            return true;
        }
        let wait_ms = (state.planned_wake_ms - now_ms).min(QUEUE_DISPATCH_WAIT_MS_MAX);
        self.dispatcher
            .wait_for(&mut state, Duration::from_millis(wait_ms));
        !state.closed
    }

    /// Ends delivery: waiting consumers and the dispatcher are told the database closed.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        self.kick(&mut state);
        drop(state);
        self.ready.notify_waiters();
    }

    /// The published snapshot and the leased messages, taken together (for statistics).
    pub(crate) fn view(
        &self,
        published: &ArcSwap<Published>,
    ) -> (Arc<dyn Snapshot>, HashSet<MessageId>) {
        let state = self.state.lock();
        let snapshot = published.load().snapshot.clone();
        (snapshot, state.leases.keys().copied().collect())
    }
}

/// True when the next message in the window is ready at `now_ms`.
fn first_ready(state: &State, now_ms: u64) -> bool {
    state
        .window
        .first_key_value()
        .is_some_and(|(key, _)| ready_at_of(key) <= now_ms)
}

/// The ready-at of the first message in the window that is not ready at `now_ms`.
fn next_delayed(state: &State, now_ms: u64) -> Option<u64> {
    let mut from = [0u8; QUEUE_KEY_LEN];
    if let Some(at) = from.get_mut(..8) {
        at.copy_from_slice(&now_ms.saturating_add(1).to_be_bytes());
    }
    state
        .window
        .range(from..)
        .next()
        .map(|(key, _)| ready_at_of(key))
}
