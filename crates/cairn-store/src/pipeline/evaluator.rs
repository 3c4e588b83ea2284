//! The evaluator: runs the checks and mutations of each write of a batch, in order, against
//! the latest applied state plus what earlier writes of the same batch did, then applies the
//! batch's storage write and hands it to the writers.
//!
//! Each write is all or nothing: its mutations first go to a write-local change set that is
//! merged into the batch only if every check held and every mutation succeeded. A failing
//! write therefore leaves no trace and does not disturb the others in its batch.
//!
//! The expiry index may hold stale entries: a plain `set` does not read the key's old record
//! (that read would cost as much as the rest of the write), so the old record's index entry
//! stays until its time comes and the sweeper finds the record no longer matches it. Where
//! the old record is known anyway (read by a check or a sum, or written earlier in the batch)
//! its entry is removed at once.

use std::collections::HashMap as StdHashMap;

mod index_ops;
mod queue_ops;
mod replicate;

/// Keys come from clients, so the maps keep a randomly seeded hash (no collision attacks),
/// but a faster one than SipHash: hashing keys is a measurable part of evaluating a write.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cairn_model::codec::encode_part;
use cairn_model::mutation::{apply_max, apply_min, apply_sum};
use cairn_model::{AtomicWrite, KeyPart, KvValue, MutationKind, Versionstamp};
use crossbeam_channel::Sender;

use super::announce::BatchEffects;
use super::sequencer::{Next, Sequencer};
use super::writer::Applied;
use super::{CommitResult, ExpiryCandidate, Reply, Request, Shared};
use crate::changelog::ChangelogTrimmer;
use crate::config::Durability;
use crate::error::{PoisonCause, Result, StoreError};
use crate::meta;
use crate::queue::ops::QueueSettle;
use crate::queue::{queue_key_array, QueueMessage};
use crate::record::{expiry_key, ChangelogEncoder, DataRecord};
use crate::replication::{EpochHistory, StreamPosition};
use crate::storage::{Keyspace, WriteBatch};

/// How long the evaluator waits for work before doing housekeeping.
const IDLE_TICK: Duration = Duration::from_millis(250);

/// Change sets up to this size are searched linearly; larger ones get a hash index.
const CHANGES_LINEAR_MAX: usize = 16;

pub(crate) struct Evaluator {
    shared: Arc<Shared>,
    trimmer: ChangelogTrimmer,
    /// Sequence number of the last applied batch.
    seq: u64,
    /// Keys changed by the batch being built, for watchers: collected for every batch, not
    /// only while someone watches, since a watcher that subscribes between this batch's
    /// evaluation and its publish must still be woken by it.
    changed: Vec<Vec<u8>>,
    /// What the batch being built does to queue messages, for the queue hub.
    queue_settle: Vec<QueueSettle>,
    /// The expiry sweeps the batch being built carries, for the sweeper.
    sweeps: Vec<u64>,
    /// The declared secondary indexes, maintained by every commit (`index_ops.rs`).
    indexes: crate::index::catalog::Catalog,
    /// Expired keys the batch being built removes (for the stats).
    expired_keys: u64,
    /// The stream position of the last batch applied (`replication`).
    stream: StreamPosition,
    /// The epochs after the first.
    history: EpochHistory,
    /// The newest commit version a replicated batch used: the sequencer continues after it.
    replicated_commit_version: u64,
}

/// The state of one batch being evaluated.
struct BatchState {
    commit_version: u64,
    now_ms: u64,
    /// Physical state of every data key touched by accepted writes of this batch.
    overlay: HashMap<Vec<u8>, Option<DataRecord>>,
    /// Records read from storage during this batch (before any write of the batch).
    reads: HashMap<Vec<u8>, Option<DataRecord>>,
    /// Keys of `overlay` in first-touch order, so the storage batch is deterministic.
    touched: Vec<Vec<u8>>,
    /// Final put (true) or delete (false) of each expiry index entry touched.
    expiry_ops: HashMap<Vec<u8>, bool>,
    /// Puts of keys that are unique within a batch (changelog, queue).
    unique_puts: Vec<(Keyspace, Vec<u8>, Vec<u8>)>,
    /// Writes accepted so far: the next one's index in the batch.
    accepted: u16,
    /// Changes of queue state (acknowledgements, retries), in order.
    queue_ops: Vec<crate::storage::Op>,
    /// The dead-lettered count after this batch, once a message is dead-lettered in it.
    dead_lettered: Option<u64>,
    /// What secondary indexes need besides the overlay.
    index: index_ops::BatchIndex,
}

impl BatchState {
    /// The physical record of `key` if this batch already knows it.
    fn known(&self, key: &[u8]) -> Option<&Option<DataRecord>> {
        self.overlay.get(key).or_else(|| self.reads.get(key))
    }
}

/// The change set of one write, discarded if the write fails.
#[derive(Default)]
struct WriteChanges {
    entries: Vec<(Vec<u8>, Option<DataRecord>)>,
    /// Position of each key in `entries`, once there are too many to search.
    index: HashMap<Vec<u8>, usize>,
}

impl WriteChanges {
    fn position(&self, key: &[u8]) -> Option<usize> {
        if self.entries.len() <= CHANGES_LINEAR_MAX {
            self.entries.iter().position(|(k, _)| k == key)
        } else {
            self.index.get(key).copied()
        }
    }

    fn get(&self, key: &[u8]) -> Option<&Option<DataRecord>> {
        self.position(key)
            .and_then(|i| self.entries.get(i))
            .map(|(_, r)| r)
    }

    fn set(&mut self, key: Vec<u8>, state: Option<DataRecord>) {
        if let Some(slot) = self.position(&key).and_then(|i| self.entries.get_mut(i)) {
            slot.1 = state;
            return;
        }
        self.entries.push((key, state));
        if self.entries.len() > CHANGES_LINEAR_MAX {
            if self.index.is_empty() {
                let pairs = self
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i));
                self.index.extend(pairs);
            } else if let Some((k, _)) = self.entries.last() {
                self.index.insert(k.clone(), self.entries.len() - 1);
            }
        }
    }
}

impl Evaluator {
    pub(crate) fn new(shared: Arc<Shared>, meta: &crate::meta::Meta) -> std::io::Result<Self> {
        let trimmer = ChangelogTrimmer::new(&shared)
            .map_err(|e| std::io::Error::other(format!("reading changelog: {e}")))?;
        let indexes = crate::index::catalog::Catalog::load(shared.storage.snapshot().as_ref())
            .map_err(|e| std::io::Error::other(format!("reading the index catalog: {e}")))?;
        Ok(Evaluator {
            shared,
            trimmer,
            seq: 0,
            changed: Vec::new(),
            queue_settle: Vec::new(),
            sweeps: Vec::new(),
            indexes,
            expired_keys: 0,
            stream: meta.stream,
            history: meta.history.clone(),
            replicated_commit_version: 0,
        })
    }

    pub(crate) fn run(mut self, mut sequencer: Sequencer, applied: Sender<Applied>) {
        loop {
            let requests = match sequencer.next_batch(IDLE_TICK) {
                Next::Batch(requests) => requests,
                Next::Idle => {
                    // Idle trimming goes through the writer like a commit: synced, then
                    // published, so readers see the changelog within its bound. A replica
                    // trims as its primary's batches say.
                    if !self.shared.replication.is_primary() {
                        continue;
                    }
                    if let Some(job) = self.housekeeping_only() {
                        if applied.send(job).is_err() {
                            return;
                        }
                    }
                    continue;
                }
                Next::Closed => return,
            };
            if let Err(e) = self.shared.poison.check() {
                fail_all(requests, &e);
                continue;
            }
            let (requests, replicated) = replicate::split(requests);
            for request in replicated {
                let job = self.replicated(request);
                sequencer.continue_after(self.replicated_commit_version);
                // Always to the writers: a replica's follower keeps the next request coming
                // while this one syncs, and two writers sync them overlapping, where the
                // evaluator syncing a lone batch itself would make the next one wait.
                if applied.send(job).is_err() {
                    return;
                }
            }
            if requests.is_empty() {
                continue;
            }
            let commit_version = sequencer.next_commit_version();
            let (batch, replies) = self.evaluate(requests, commit_version);
            let job = self.apply(batch, replies);
            if !self.hand_over(job, &sequencer, &applied) {
                return;
            }
        }
    }

    /// Gives an applied batch to the writers, or makes it durable here when they are idle.
    /// False once the writers are gone.
    fn hand_over(&self, job: Applied, sequencer: &Sequencer, applied: &Sender<Applied>) -> bool {
        if self.writer_idle(sequencer, applied) {
            self.shared.completion.make_durable(&self.shared, vec![job]);
            true
        } else {
            applied.send(job).is_ok()
        }
    }

    /// True when handing a batch to a writer would only add a thread wake-up: no writer has
    /// anything in hand or queued and no more writes are waiting to be evaluated. The
    /// evaluator then completes the batch itself (one less hand-off on a lightly loaded
    /// database). Under load the writers keep syncing while the evaluator evaluates.
    fn writer_idle(&self, sequencer: &Sequencer, applied: &Sender<Applied>) -> bool {
        self.shared.config.durability == Durability::Sync
            && sequencer.is_empty()
            && applied.is_empty()
            && self.shared.writers_busy.load(Ordering::SeqCst) == 0
    }

    /// Evaluates every request; returns the storage batch and each caller's answer.
    fn evaluate(
        &mut self,
        requests: Vec<Request>,
        commit_version: u64,
    ) -> (WriteBatch, Vec<(Reply, Result<CommitResult>)>) {
        let mut state = BatchState {
            commit_version,
            now_ms: self.shared.config.clock.now_ms(),
            overlay: HashMap::default(),
            reads: HashMap::default(),
            touched: Vec::new(),
            expiry_ops: HashMap::default(),
            unique_puts: Vec::new(),
            accepted: 0,
            queue_ops: Vec::new(),
            dead_lettered: None,
            index: Default::default(),
        };
        let mut replies = Vec::with_capacity(requests.len());
        for request in requests {
            match request {
                Request::Commit { write, reply } => {
                    let outcome = self.evaluate_write(&mut state, write);
                    replies.push((reply, outcome));
                }
                Request::Expire { candidates, sweep } => {
                    self.sweeps.push(sweep);
                    if let Err(e) = self.evaluate_expiry(&mut state, &candidates) {
                        tracing::warn!(error = %e, "expiry sweep commit failed");
                    }
                }
                Request::Index { op, reply } => {
                    let outcome = self.evaluate_index(&mut state, op);
                    replies.push((reply, outcome));
                }
                // `replicate::split` takes these out before evaluation.
                Request::Replicate { reply, .. } | Request::Promote { reply, .. } => {
                    replies.push((reply, Err(StoreError::Replication("not evaluated".into()))));
                }
                Request::Queue { op, reply } => {
                    let outcome = self.evaluate_queue(&mut state, op);
                    match reply {
                        Some(reply) => replies.push((reply, outcome)),
                        None => {
                            if let Err(e) = outcome {
                                tracing::warn!(error = %e, "queue retry commit failed");
                            }
                        }
                    }
                }
            }
        }
        let batch = self.build_batch(state);
        (batch, replies)
    }

    /// The physical record of `key`: this batch's overlay, then its read cache, then storage.
    fn current(&self, state: &mut BatchState, key: &[u8]) -> Result<Option<DataRecord>> {
        if let Some(record) = state.known(key) {
            return Ok(record.clone());
        }
        let record = match self.shared.storage.get_latest(Keyspace::Data, key)? {
            Some(bytes) => Some(DataRecord::decode(&bytes)?),
            None => None,
        };
        state.reads.insert(key.to_vec(), record.clone());
        Ok(record)
    }

    /// Takes the write by value: its keys and values move into the batch, uncopied.
    fn evaluate_write(
        &mut self,
        state: &mut BatchState,
        write: AtomicWrite,
    ) -> Result<CommitResult> {
        let mut failed_checks = Vec::new();
        for (i, check) in write.checks.iter().enumerate() {
            let current = self.current(state, &check.key)?;
            let live = current.filter(|r| !r.is_expired(state.now_ms));
            if live.map(|r| r.versionstamp) != check.versionstamp {
                failed_checks.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
        if !failed_checks.is_empty() {
            return Ok(CommitResult::CheckFailed {
                failed_checks,
                reason: None,
            });
        }

        let versionstamp = Versionstamp::new(state.commit_version, state.accepted);
        let mut changes = WriteChanges::default();
        for mutation in write.mutations {
            let mut key = mutation.key;
            if let MutationKind::SetSuffixVersionstampedKey(_) = &mutation.kind {
                encode_part(&KeyPart::String(versionstamp.to_hex()), &mut key);
            }
            self.check_reserved(&key)?;
            let new_value = match mutation.kind {
                MutationKind::Set(v) | MutationKind::SetSuffixVersionstampedKey(v) => Some(v),
                MutationKind::Delete => None,
                MutationKind::Sum {
                    value,
                    min,
                    max,
                    clamp,
                } => {
                    let existing = self.visible(state, &changes, &key)?;
                    Some(apply_sum(
                        existing.as_ref(),
                        &value,
                        min.as_ref(),
                        max.as_ref(),
                        clamp,
                    )?)
                }
                MutationKind::Min(v) => Some(apply_min(
                    self.visible(state, &changes, &key)?.as_ref(),
                    &v,
                )?),
                MutationKind::Max(v) => Some(apply_max(
                    self.visible(state, &changes, &key)?.as_ref(),
                    &v,
                )?),
            };
            let record = new_value.map(|value| DataRecord {
                versionstamp,
                value,
                expire_at_ms: mutation.expire_at_ms,
            });
            changes.set(key, record);
        }

        let index_changes = match self.index_changes(state, &changes, versionstamp)? {
            Ok(index_changes) => index_changes,
            Err(reason) => {
                return Ok(CommitResult::CheckFailed {
                    failed_checks: Vec::new(),
                    reason: Some(reason),
                })
            }
        };

        // Every check held and every mutation succeeded: the write is accepted.
        state.accepted += 1;
        let capacity = changes.entries.len() + index_changes.len();
        let mut log = ChangelogEncoder::new(state.now_ms, capacity);
        for (key, new) in changes.entries {
            log.push(&key, new.as_ref());
            stage_data(state, key, new);
        }
        self.merge_index_changes(state, index_changes, &mut log);
        for (i, enqueue) in write.enqueues.iter().enumerate() {
            let index = u16::try_from(i).unwrap_or(u16::MAX);
            let message = QueueMessage::from(enqueue);
            let ready_at = enqueue.deadline_ms.max(state.now_ms);
            let id = crate::queue::MessageId {
                versionstamp,
                index,
            };
            let key = queue_key_array(ready_at, id);
            self.queue_settle.push(QueueSettle::Put(key));
            state
                .unique_puts
                .push((Keyspace::Queue, key.to_vec(), message.encode()));
        }
        self.stage_changelog(state, versionstamp, log);
        Ok(CommitResult::Committed { versionstamp })
    }

    /// The live value of `key` as this write sees it: its own earlier mutations first.
    fn visible(
        &self,
        state: &mut BatchState,
        changes: &WriteChanges,
        key: &[u8],
    ) -> Result<Option<KvValue>> {
        let record = match changes.get(key) {
            Some(record) => record.clone(),
            None => self.current(state, key)?,
        };
        Ok(record
            .filter(|r| !r.is_expired(state.now_ms))
            .map(|r| r.value))
    }

    fn stage_changelog(
        &mut self,
        state: &mut BatchState,
        versionstamp: Versionstamp,
        log: ChangelogEncoder,
    ) {
        state
            .unique_puts
            .push((Keyspace::Changelog, versionstamp.0.to_vec(), log.finish()));
        self.trimmer.appended(1);
    }

    /// Removes keys whose expiry has passed, as one commit with its own versionstamp.
    fn evaluate_expiry(
        &mut self,
        state: &mut BatchState,
        candidates: &[ExpiryCandidate],
    ) -> Result<()> {
        let mut log = ChangelogEncoder::new(state.now_ms, candidates.len());
        let mut removed = 0usize;
        for candidate in candidates {
            let current = self.current(state, &candidate.key)?;
            let index_key = expiry_key(candidate.expire_at_ms, &candidate.key);
            match current {
                Some(r) if r.expire_at_ms == Some(candidate.expire_at_ms) => {
                    if r.is_expired(state.now_ms) {
                        self.index_removal(state, &candidate.key, &r, &mut log);
                        log.push(&candidate.key, None);
                        stage_data(state, candidate.key.clone(), None);
                        state.expiry_ops.insert(index_key, false);
                        removed += 1;
                    }
                }
                // The key was rewritten or removed since this entry was made: it is stale.
                _ => {
                    state.expiry_ops.insert(index_key, false);
                }
            }
        }
        self.expired_keys += removed as u64;
        if removed > 0 {
            let versionstamp = Versionstamp::new(state.commit_version, state.accepted);
            state.accepted += 1;
            self.stage_changelog(state, versionstamp, log);
        }
        Ok(())
    }

    /// Turns the batch state into one storage write with each key at most once.
    fn build_batch(&mut self, mut state: BatchState) -> WriteBatch {
        let mut batch = WriteBatch::default();
        if state.accepted == 0 && state.expiry_ops.is_empty() && self.indexes.is_clean() {
            return batch;
        }
        batch
            .ops
            .reserve(state.touched.len() + state.expiry_ops.len() + state.unique_puts.len() + 1);
        self.changed.extend(state.touched.iter().cloned());
        for key in state.touched {
            match state.overlay.remove(&key).flatten() {
                Some(record) => {
                    let bytes = record.encode();
                    batch.put(Keyspace::Data, key, bytes);
                }
                None => batch.delete(Keyspace::Data, key),
            }
        }
        for (key, put) in state.expiry_ops {
            if put {
                batch.put(Keyspace::Expiry, key, Vec::new());
            } else {
                batch.delete(Keyspace::Expiry, key);
            }
        }
        for (ks, key, value) in state.unique_puts.drain(..) {
            batch.put(ks, key, value);
        }
        batch.ops.append(&mut state.queue_ops);
        if let Some(total) = state.dead_lettered {
            crate::queue::put_dead_lettered(&mut batch, total);
        }
        if state.accepted > 0 {
            meta::put_commit_version(&mut batch, state.commit_version);
        }
        self.catalog_mut().persist_into(&mut batch);
        self.trimmer
            .trim_into(&self.shared, &mut batch, state.now_ms);
        batch
    }

    /// Applies the storage write and packages what the writer needs.
    fn apply(
        &mut self,
        mut batch: WriteBatch,
        replies: Vec<(Reply, Result<CommitResult>)>,
    ) -> Applied {
        let wrote = !batch.is_empty();
        if wrote {
            // Every storage batch carries its stream position, durable with it.
            self.stream.position += 1;
            meta::put_stream_position(&mut batch, self.stream);
        }
        let archived = (wrote && self.shared.announcer.wants_batches())
            .then(|| super::announce::ArchivedBatch::of(&batch))
            .into_iter()
            .collect();
        if wrote {
            if let Err(e) = self.shared.storage.apply(batch) {
                // The engine may hold part of the batch in memory now; nothing after this
                // point can be trusted until the database is reopened.
                self.shared
                    .poison
                    .poison(PoisonCause::storage("storage write failed", &e));
            }
        }
        self.seq += 1;
        let writes = replies.len() as u64;
        Applied {
            seq: self.seq,
            snapshot: self.shared.storage.snapshot(),
            replies,
            wrote,
            effects: BatchEffects {
                seq: self.seq,
                changed_keys: std::mem::take(&mut self.changed),
                queue: std::mem::take(&mut self.queue_settle),
                archived,
                sweeps: std::mem::take(&mut self.sweeps),
                writes,
                expired_keys: std::mem::take(&mut self.expired_keys),
            },
            floor: self.stream,
            waits: true,
            deadline: None,
            unconfirmed: false,
        }
    }

    /// Trims the changelog while no writes arrive; the writer syncs and publishes the result.
    fn housekeeping_only(&mut self) -> Option<Applied> {
        if self.shared.poison.check().is_err() {
            return None;
        }
        let mut batch = WriteBatch::default();
        self.trimmer
            .trim_into(&self.shared, &mut batch, self.shared.config.clock.now_ms());
        (!batch.is_empty()).then(|| self.apply(batch, Vec::new()))
    }
}

/// Records the new physical state of a data key and its expiry index entry; removes the old
/// record's index entry when the batch knows the old record.
fn stage_data(state: &mut BatchState, key: Vec<u8>, new: Option<DataRecord>) {
    let old_expiry = state
        .known(&key)
        .and_then(|r| r.as_ref())
        .and_then(|r| r.expire_at_ms);
    let new_expiry = new.as_ref().and_then(|r| r.expire_at_ms);
    if old_expiry != new_expiry {
        if let Some(at) = old_expiry {
            state.expiry_ops.insert(expiry_key(at, &key), false);
        }
        if let Some(at) = new_expiry {
            state.expiry_ops.insert(expiry_key(at, &key), true);
        }
    }
    if !state.overlay.contains_key(&key) {
        state.touched.push(key.clone());
    }
    state.overlay.insert(key, new);
}

/// Records the new physical state of an index entry: as [`stage_data`], but an index entry
/// has no `expiry` index entry of its own (the removal of the entry it stands for removes it).
fn stage_data_without_expiry(state: &mut BatchState, key: Vec<u8>, new: Option<DataRecord>) {
    if !state.overlay.contains_key(&key) {
        state.touched.push(key.clone());
    }
    state.overlay.insert(key, new);
}

fn fail_all(requests: Vec<Request>, error: &StoreError) {
    let reason = match error {
        StoreError::Poisoned(reason) => reason.clone(),
        other => PoisonCause::from(other.to_string().as_str()),
    };
    for request in requests {
        let reply = match request {
            Request::Commit { reply, .. }
            | Request::Index { reply, .. }
            | Request::Queue {
                reply: Some(reply), ..
            }
            | Request::Replicate { reply, .. }
            | Request::Promote { reply, .. } => reply,
            Request::Expire { .. } | Request::Queue { reply: None, .. } => continue,
        };
        reply.send(Err(StoreError::Poisoned(reason.clone())));
    }
}
