//! The commit pipeline: sequencer → evaluator → writer.
//!
//! ```text
//!  callers ──Request──▶ [sequencer: bounded queue, batches]      evaluator thread
//!                         │ one batch, next commit version
//!                         ▼
//!                       [evaluator: checks + mutations against the latest applied state
//!                        plus this batch's overlay; builds one storage batch; applies it]
//!                         │ Applied { snapshot, replies }
//!                         ▼
//!                       [writers: one durable sync for every batch waiting; then, in batch
//!                        order, publish the snapshot to readers and answer callers]
//!                                                          WRITER_THREADS writer threads
//! ```
//!
//! While a writer syncs batch N, the evaluator already evaluates batch N+1 against storage
//! that contains N (applied, not yet durable): that is the speculative execution of the design
//! brief. It is safe because nothing of N+1 is acknowledged or shown to readers before a sync
//! that covers N+1, batches are answered in order, and a failed sync poisons the database so
//! that nothing later is either. Another writer may start N+1's sync while N's is still in
//! flight: the disk completes overlapping syncs about as fast as one.

pub(crate) mod announce;
mod evaluator;
pub(crate) mod reply;
mod sequencer;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use cairn_model::AtomicWrite;
use parking_lot::Mutex;

use crate::config::Config;
use crate::error::{PoisonCause, Result, StoreError};
use crate::storage::{Snapshot, Storage};

pub use sequencer::Sequencer;
pub(crate) use sequencer::{
    check_bytes_max, queue_op_cost, write_cost, Admission, WhenFull, COMMIT_REQUEST_OVERHEAD_BYTES,
};

pub use cairn_model::CommitResult;

pub(crate) use reply::Reply;

/// A key the sweeper believes has expired: the data key and the expire-at its index entry has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpiryCandidate {
    pub key: Vec<u8>,
    pub expire_at_ms: u64,
}

/// What the pipeline is asked to do.
pub(crate) enum Request {
    /// An atomic write from a caller (already validated against the limits).
    Commit { write: AtomicWrite, reply: Reply },
    /// Physically remove expired keys, as a commit of its own.
    /// `sweep` names the request in the announcement of the batch that carried it.
    Expire {
        candidates: Vec<ExpiryCandidate>,
        sweep: u64,
    },
    /// Create or drop a secondary index, or take one step of its background work, as a
    /// commit of its own.
    Index {
        op: crate::index::IndexOp,
        reply: Reply,
    },
    /// Change queue state (acknowledge, retry, dead-letter), as a commit of its own. The
    /// dispatcher's retries of expired leases need no answer.
    Queue {
        op: crate::queue::ops::QueueOp,
        reply: Option<Reply>,
    },
    /// A replica applies its primary's storage batches as they are (`replication`), in one
    /// storage batch each and one durable sync for all; answered once they are published.
    Replicate {
        records: Vec<crate::replication::StreamRecord>,
        reply: Reply,
    },
    /// A replica becomes a primary: a batch that starts the next epoch, or epoch `epoch`
    /// when given (a failover group's election decides it; it must be newer than the
    /// database's).
    Promote { reply: Reply, epoch: Option<u64> },
}

/// The snapshot readers use: the state after the last batch finished.
pub(crate) struct Published {
    pub snapshot: Arc<dyn Snapshot>,
}

/// Set once, when a storage write or sync fails; never cleared in this process.
#[derive(Default)]
pub(crate) struct Poison {
    flag: AtomicBool,
    reason: Mutex<Option<PoisonCause>>,
}

impl Poison {
    pub(crate) fn poison(&self, reason: PoisonCause) {
        tracing::error!(
            reason = %reason.reason,
            kind = reason.kind.map_or("unknown", |k| k.as_str()),
            "database poisoned: no further writes will be acknowledged"
        );
        let mut slot = self.reason.lock();
        if slot.is_none() {
            *slot = Some(reason);
        }
        self.flag.store(true, Ordering::SeqCst);
    }

    /// `Err(Poisoned)` once poisoned.
    pub(crate) fn check(&self) -> Result<()> {
        if self.flag.load(Ordering::SeqCst) {
            let reason = self.reason.lock().clone();
            return Err(StoreError::Poisoned(
                reason.unwrap_or_else(|| PoisonCause::from("unknown cause")),
            ));
        }
        Ok(())
    }
}

/// State shared by the pipeline threads and the readers.
pub(crate) struct Shared {
    pub storage: Arc<dyn Storage>,
    pub published: ArcSwap<Published>,
    pub poison: Poison,
    /// Callers' way into the commit queue (its bounds in requests and bytes).
    pub(crate) admission: Admission,
    pub config: Config,
    /// Writer threads busy with batches; the evaluator completes a batch itself only when
    /// none is.
    pub writers_busy: AtomicUsize,
    /// Batches between their sync and their answers.
    pub(crate) completion: writer::Completion,
    /// Told about every published batch (watchers, queue delivery, ...).
    pub announcer: announce::Announcer,
    /// Counters and histograms (`stats.rs`); subscribed to `announcer` at open.
    pub stats: Arc<crate::stats::Stats>,
    /// Role, replication stream and synchronous replicas (`replication`).
    pub(crate) replication: crate::replication::Replication,
}

/// The running pipeline threads.
pub(crate) struct Pipeline {
    threads: Vec<JoinHandle<()>>,
    /// The synchronous-replication gate's thread, stopped last.
    gate: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Pipeline {
    /// Starts the evaluator and writer threads.
    pub(crate) fn start(
        shared: Arc<Shared>,
        meta: &crate::meta::Meta,
    ) -> std::io::Result<(Pipeline, crossbeam_channel::Sender<Request>)> {
        let (sender, sequencer) = Sequencer::new(meta.commit_version);
        let (applied_tx, applied_rx) = crossbeam_channel::bounded(writer::APPLIED_QUEUE_DEPTH);
        let evaluator = evaluator::Evaluator::new(shared.clone(), meta)?;
        let evaluator_thread = std::thread::Builder::new()
            .name("cairn-evaluator".into())
            .spawn(move || evaluator.run(sequencer, applied_tx))?;
        let mut threads = vec![evaluator_thread];
        for _ in 0..writer::Writer::threads(shared.config.durability) {
            let (writer, applied_rx) = (writer::Writer::new(shared.clone()), applied_rx.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("cairn-writer".into())
                    .spawn(move || writer.run(applied_rx))?,
            );
        }
        // Acknowledgements of replicas and deadlines finish batches on a thread of their own.
        let gate = match shared.replication.gate.clone() {
            Some(gate) => {
                let shared = shared.clone();
                Some(
                    std::thread::Builder::new()
                        .name("cairn-sync-gate".into())
                        .spawn(move || {
                            while gate.wait() {
                                shared.completion.finish_ready(&shared, None);
                            }
                        })?,
                )
            }
            None => None,
        };
        Ok((
            Pipeline {
                threads,
                gate,
                shared,
            },
            sender,
        ))
    }

    /// Waits for the threads, which finish every queued request once all senders are gone.
    pub(crate) fn shutdown(self) {
        for thread in self.threads {
            // A panic in a pipeline thread has already failed its requests (their reply
            // senders were dropped); nothing more can be done here.
            let _ = thread.join();
        }
        // Batches still waiting for synchronous replicas are answered unconfirmed.
        self.shared.completion.abandon_waiting(&self.shared);
        if let Some(gate) = &self.shared.replication.gate {
            gate.close();
        }
        if let Some(thread) = self.gate {
            let _ = thread.join();
        }
    }
}
