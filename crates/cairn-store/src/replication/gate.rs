//! Synchronous replication: a batch is answered only once `K` replicas have it durable.
//!
//! Replicas report the newest position they have made durable ([`SyncGate::ack`]); the gate
//! keeps the *frontier*, the position that `K` connected replicas have reached (the `K`-th
//! largest of their acknowledgements). The pipeline's completion finishes a batch — publishes
//! it, announces it, answers its callers — only once the frontier has reached the position it
//! was decided at (for a batch that wrote nothing, the newest position before it: its answers
//! were decided against those batches). Batches are still made durable locally, and
//! evaluated, without waiting: a replica's acknowledgement covers every batch up to its
//! position, so one acknowledgement finishes a whole group, as one `fdatasync` does.
//!
//! The waiting happens in no thread: a batch simply stays in the completion's line. Acks and
//! deadlines wake the gate's own thread, which asks the completion to finish what is ready.
//! Readers are never held up: they read the last published snapshot, which is simply older
//! while batches wait.
//!
//! A batch not confirmed within `timeout_ms` of its local sync is finished with
//! [`crate::StoreError::ReplicationUnconfirmed`] for every caller (never acknowledged). While
//! fewer than `K` replicas are connected, new writes are refused before they enter the
//! pipeline (nothing applied, safe to send again).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::limits::REPLICATION_GATE_TICK_MS;

/// A connected replica.
#[derive(Debug, Clone)]
pub struct ReplicaInfo {
    /// The id it chose for this connection.
    pub id: u64,
    /// The address where it serves reads, if it gave one (listed as an `eventual` endpoint).
    pub advertise_url: Option<String>,
    /// The newest position it reported durable.
    pub acked: u64,
    /// When it last reported.
    pub last_ack: Instant,
}

#[derive(Default)]
struct State {
    replicas: HashMap<u64, ReplicaInfo>,
    /// Something happened that the gate's thread must act on.
    dirty: bool,
    closed: bool,
}

/// Acknowledgements of a primary's replicas.
pub struct SyncGate {
    /// Replicas that must have a batch durable before it is answered (0: none).
    pub(crate) required: usize,
    pub(crate) timeout: Duration,
    state: Mutex<State>,
    wake: Condvar,
    /// The `required`-th largest acknowledgement of the connected replicas.
    frontier: AtomicU64,
}

impl SyncGate {
    pub(crate) fn new(required: usize, timeout_ms: u64) -> Self {
        SyncGate {
            required,
            timeout: Duration::from_millis(timeout_ms),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            frontier: AtomicU64::new(0),
        }
    }

    /// The position `required` replicas have durable (`u64::MAX` when none are required).
    pub fn frontier(&self) -> u64 {
        if self.required == 0 {
            return u64::MAX;
        }
        self.frontier.load(Ordering::Acquire)
    }

    /// A replica connected (its stream started) at `position`.
    pub fn register(&self, id: u64, advertise_url: Option<String>, position: u64) {
        let mut state = self.state.lock();
        state.replicas.insert(
            id,
            ReplicaInfo {
                id,
                advertise_url,
                acked: position,
                last_ack: Instant::now(),
            },
        );
        self.recompute(&mut state, true);
    }

    /// The replica's stream ended.
    pub fn unregister(&self, id: u64) {
        let mut state = self.state.lock();
        state.replicas.remove(&id);
        self.recompute(&mut state, true);
    }

    /// The replica has every position up to `position` durable. False if it is not connected.
    /// The gate's thread finishes what a moved frontier covers (or the caller does at once:
    /// [`crate::Database::replica_acknowledged`]).
    pub fn ack(&self, id: u64, position: u64) -> bool {
        self.record_ack(id, position, true).is_some()
    }

    /// [`SyncGate::ack`]; `Some(true)` when the frontier moved. The gate's thread is woken for
    /// it only if `wake`.
    pub(crate) fn record_ack(&self, id: u64, position: u64, wake: bool) -> Option<bool> {
        let mut state = self.state.lock();
        let replica = state.replicas.get_mut(&id)?;
        replica.acked = replica.acked.max(position);
        replica.last_ack = Instant::now();
        let before = self.frontier.load(Ordering::Acquire);
        self.recompute(&mut state, wake);
        Some(self.frontier.load(Ordering::Acquire) != before)
    }

    /// The connected replicas.
    pub fn replicas(&self) -> Vec<ReplicaInfo> {
        let mut all: Vec<_> = self.state.lock().replicas.values().cloned().collect();
        all.sort_by_key(|r| r.id);
        all
    }

    /// Replicas connected now.
    pub fn connected(&self) -> usize {
        self.state.lock().replicas.len()
    }

    fn recompute(&self, state: &mut State, wake: bool) {
        let mut acked: Vec<u64> = state.replicas.values().map(|r| r.acked).collect();
        acked.sort_unstable_by(|a, b| b.cmp(a));
        let frontier = match self.required.checked_sub(1) {
            Some(i) => acked.get(i).copied().unwrap_or(0),
            None => u64::MAX,
        };
        if frontier != self.frontier.swap(frontier, Ordering::AcqRel) && wake {
            state.dirty = true;
            self.wake.notify_one();
        }
    }

    /// Waits until an acknowledgement moved the frontier or a tick passed (deadlines are
    /// checked each tick). False once closed.
    pub(crate) fn wait(&self) -> bool {
        let mut state = self.state.lock();
        if !state.dirty && !state.closed {
            let tick = Duration::from_millis(REPLICATION_GATE_TICK_MS);
            self.wake.wait_for(&mut state, tick);
        }
        state.dirty = false;
        !state.closed
    }

    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontier_is_what_k_replicas_have() {
        let gate = SyncGate::new(2, 1000);
        assert_eq!(gate.frontier(), 0);
        gate.register(1, None, 5);
        assert_eq!(gate.frontier(), 0, "one replica of two");
        gate.register(2, None, 3);
        assert_eq!(gate.frontier(), 3);
        assert!(gate.ack(2, 9));
        assert_eq!(gate.frontier(), 5);
        gate.register(3, None, 7);
        assert_eq!(gate.frontier(), 7);
        gate.unregister(2);
        assert_eq!(gate.frontier(), 5);
        assert!(!gate.ack(2, 10), "gone");
        assert!(gate.ack(1, 4), "an older ack changes nothing");
        assert_eq!(gate.frontier(), 5);
        assert_eq!(SyncGate::new(0, 1).frontier(), u64::MAX);
    }
}
