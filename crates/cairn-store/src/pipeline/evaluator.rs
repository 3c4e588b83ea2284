//! The evaluator: runs the checks and mutations of each write of a batch, in order, against
//! the latest applied state plus what earlier writes of the same batch did, then applies the
//! batch's storage write and hands it to the writer.
//!
//! Each write is all or nothing: its mutations first go to a write-local change set that is
//! merged into the batch only if every check held and every mutation succeeded. A failing
//! write therefore leaves no trace and does not disturb the others in its batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_model::codec::encode_part;
use cairn_model::mutation::{apply_max, apply_min, apply_sum};
use cairn_model::{AtomicWrite, KeyPart, KvValue, MutationKind, Versionstamp};
use crossbeam_channel::Sender;

use super::sequencer::{Next, Sequencer};
use super::writer::Applied;
use super::{CommitResult, ExpiryCandidate, Reply, Request, Shared};
use crate::changelog::ChangelogTrimmer;
use crate::error::{Result, StoreError};
use crate::meta;
use crate::queue::{queue_key, QueueMessage};
use crate::record::{expiry_key, ChangeOp, ChangelogRecord, DataRecord};
use crate::storage::{Keyspace, WriteBatch};

/// How long the evaluator waits for work before doing housekeeping.
const IDLE_TICK: Duration = Duration::from_millis(250);

pub(crate) struct Evaluator {
    shared: Arc<Shared>,
    trimmer: ChangelogTrimmer,
}

/// The state of one batch being evaluated.
struct BatchState {
    commit_version: u64,
    now_ms: u64,
    /// Physical state of every data key touched by accepted writes of this batch.
    overlay: HashMap<Vec<u8>, Option<DataRecord>>,
    /// Keys of `overlay` in first-touch order, so the storage batch is deterministic.
    touched: Vec<Vec<u8>>,
    /// Final put (true) or delete (false) of each expiry index entry touched.
    expiry_ops: HashMap<Vec<u8>, bool>,
    /// Puts of keys that are unique within a batch (changelog, queue).
    unique_puts: Vec<(Keyspace, Vec<u8>, Vec<u8>)>,
    /// Writes accepted so far: the next one's index in the batch.
    accepted: u16,
}

/// The change set of one write, discarded if the write fails.
#[derive(Default)]
struct WriteChanges {
    states: HashMap<Vec<u8>, Option<DataRecord>>,
    order: Vec<Vec<u8>>,
}

impl WriteChanges {
    fn set(&mut self, key: Vec<u8>, state: Option<DataRecord>) {
        if self.states.insert(key.clone(), state).is_none() {
            self.order.push(key);
        }
    }
}

impl Evaluator {
    pub(crate) fn new(shared: Arc<Shared>) -> std::io::Result<Self> {
        let trimmer = ChangelogTrimmer::new(&shared)
            .map_err(|e| std::io::Error::other(format!("reading changelog: {e}")))?;
        Ok(Evaluator { shared, trimmer })
    }

    pub(crate) fn run(mut self, mut sequencer: Sequencer, applied: Sender<Applied>) {
        loop {
            let requests = match sequencer.next_batch(IDLE_TICK) {
                Next::Batch(requests) => requests,
                Next::Idle => {
                    self.housekeeping_only();
                    continue;
                }
                Next::Closed => return,
            };
            if let Err(e) = self.shared.poison.check() {
                fail_all(requests, &e);
                continue;
            }
            let commit_version = sequencer.next_commit_version();
            let (batch, replies) = self.evaluate(requests, commit_version);
            let job = self.apply(batch, replies);
            if applied.send(job).is_err() {
                return;
            }
        }
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
            overlay: HashMap::new(),
            touched: Vec::new(),
            expiry_ops: HashMap::new(),
            unique_puts: Vec::new(),
            accepted: 0,
        };
        let mut replies = Vec::with_capacity(requests.len());
        for request in requests {
            match request {
                Request::Commit { write, reply } => {
                    let outcome = self.evaluate_write(&mut state, &write);
                    replies.push((reply, outcome));
                }
                Request::Expire { candidates } => {
                    if let Err(e) = self.evaluate_expiry(&mut state, &candidates) {
                        tracing::warn!(error = %e, "expiry sweep commit failed");
                    }
                }
            }
        }
        let batch = self.build_batch(state);
        (batch, replies)
    }

    /// The physical record of `key`: this batch's overlay first, then storage.
    fn current(&self, state: &BatchState, key: &[u8]) -> Result<Option<DataRecord>> {
        if let Some(record) = state.overlay.get(key) {
            return Ok(record.clone());
        }
        match self.shared.storage.get_latest(Keyspace::Data, key)? {
            Some(bytes) => Ok(Some(DataRecord::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn evaluate_write(
        &mut self,
        state: &mut BatchState,
        write: &AtomicWrite,
    ) -> Result<CommitResult> {
        let mut failed_checks = Vec::new();
        for (i, check) in write.checks.iter().enumerate() {
            let current = self
                .current(state, &check.key)?
                .filter(|r| !r.is_expired(state.now_ms));
            if current.map(|r| r.versionstamp) != check.versionstamp {
                failed_checks.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
        if !failed_checks.is_empty() {
            return Ok(CommitResult::CheckFailed { failed_checks });
        }

        let versionstamp = Versionstamp::new(state.commit_version, state.accepted);
        let mut changes = WriteChanges::default();
        for mutation in &write.mutations {
            let key = match &mutation.kind {
                MutationKind::SetSuffixVersionstampedKey(_) => {
                    let mut key = mutation.key.clone();
                    encode_part(&KeyPart::String(versionstamp.to_hex()), &mut key);
                    key
                }
                _ => mutation.key.clone(),
            };
            let visible = |this: &Self, changes: &WriteChanges| -> Result<Option<KvValue>> {
                let record = match changes.states.get(&key) {
                    Some(state) => state.clone(),
                    None => this.current(state, &key)?,
                };
                Ok(record
                    .filter(|r| !r.is_expired(state.now_ms))
                    .map(|r| r.value))
            };
            let new_value = match &mutation.kind {
                MutationKind::Set(v) | MutationKind::SetSuffixVersionstampedKey(v) => {
                    Some(v.clone())
                }
                MutationKind::Delete => None,
                MutationKind::Sum {
                    value,
                    min,
                    max,
                    clamp,
                } => {
                    let existing = visible(self, &changes)?;
                    Some(apply_sum(
                        existing.as_ref(),
                        value,
                        min.as_ref(),
                        max.as_ref(),
                        *clamp,
                    )?)
                }
                MutationKind::Min(v) => Some(apply_min(visible(self, &changes)?.as_ref(), v)?),
                MutationKind::Max(v) => Some(apply_max(visible(self, &changes)?.as_ref(), v)?),
            };
            let record = new_value.map(|value| DataRecord {
                versionstamp,
                value,
                expire_at_ms: mutation.expire_at_ms,
            });
            changes.set(key, record);
        }

        // Read every old state before staging anything, so that a storage read error cannot
        // leave half a write staged.
        let olds = changes
            .order
            .iter()
            .map(|key| self.current(state, key))
            .collect::<Result<Vec<_>>>()?;

        // Every check held and every mutation succeeded: the write is accepted.
        state.accepted += 1;
        let mut log = Vec::with_capacity(changes.order.len());
        for (key, old) in changes.order.into_iter().zip(olds) {
            let new = changes.states.remove(&key).flatten();
            stage_data(state, key.clone(), old, new.clone());
            log.push(match new {
                Some(r) => ChangeOp::Set {
                    key,
                    value: r.value,
                    expire_at_ms: r.expire_at_ms,
                },
                None => ChangeOp::Delete { key },
            });
        }
        for (i, enqueue) in write.enqueues.iter().enumerate() {
            let index = u16::try_from(i).unwrap_or(u16::MAX);
            let message = QueueMessage::from(enqueue);
            let ready_at = enqueue.deadline_ms.max(state.now_ms);
            state.unique_puts.push((
                Keyspace::Queue,
                queue_key(ready_at, versionstamp, index),
                message.encode(),
            ));
        }
        self.stage_changelog(state, versionstamp, log);
        Ok(CommitResult::Committed { versionstamp })
    }

    fn stage_changelog(
        &mut self,
        state: &mut BatchState,
        versionstamp: Versionstamp,
        ops: Vec<ChangeOp>,
    ) {
        let record = ChangelogRecord {
            committed_at_ms: state.now_ms,
            ops,
        };
        state.unique_puts.push((
            Keyspace::Changelog,
            versionstamp.0.to_vec(),
            record.encode(),
        ));
        self.trimmer.appended(1);
    }

    /// Removes keys whose expiry has passed, as one commit with its own versionstamp.
    fn evaluate_expiry(
        &mut self,
        state: &mut BatchState,
        candidates: &[ExpiryCandidate],
    ) -> Result<()> {
        let mut log = Vec::new();
        for candidate in candidates {
            let current = self.current(state, &candidate.key)?;
            match current {
                Some(r) if r.expire_at_ms == Some(candidate.expire_at_ms) => {
                    if r.is_expired(state.now_ms) {
                        stage_data(state, candidate.key.clone(), Some(r), None);
                        log.push(ChangeOp::Delete {
                            key: candidate.key.clone(),
                        });
                    }
                }
                // The key was rewritten or removed since the sweeper looked: its index entry
                // is stale. (The evaluator keeps the index exact, so this is only defensive.)
                _ => {
                    state
                        .expiry_ops
                        .insert(expiry_key(candidate.expire_at_ms, &candidate.key), false);
                }
            }
        }
        if !log.is_empty() {
            let versionstamp = Versionstamp::new(state.commit_version, state.accepted);
            state.accepted += 1;
            self.stage_changelog(state, versionstamp, log);
        }
        Ok(())
    }

    /// Turns the batch state into one storage write with each key at most once.
    fn build_batch(&mut self, mut state: BatchState) -> WriteBatch {
        let mut batch = WriteBatch::default();
        if state.accepted == 0 && state.expiry_ops.is_empty() {
            return batch;
        }
        for key in state.touched {
            match state.overlay.remove(&key).flatten() {
                Some(record) => batch.put(Keyspace::Data, key, record.encode()),
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
        if state.accepted > 0 {
            meta::put_commit_version(&mut batch, state.commit_version);
        }
        self.trimmer
            .trim_into(&self.shared, &mut batch, state.now_ms);
        batch
    }

    /// Applies the storage write and packages what the writer needs.
    fn apply(&mut self, batch: WriteBatch, replies: Vec<(Reply, Result<CommitResult>)>) -> Applied {
        let wrote = !batch.is_empty();
        if wrote {
            if let Err(e) = self.shared.storage.apply(batch) {
                // The engine may hold part of the batch in memory now; nothing after this
                // point can be trusted until the database is reopened.
                self.shared
                    .poison
                    .poison(format!("storage write failed: {e}"));
            }
        }
        Applied {
            snapshot: self.shared.storage.snapshot(),
            replies,
            wrote,
        }
    }

    fn housekeeping_only(&mut self) {
        if self.shared.poison.check().is_err() {
            return;
        }
        let mut batch = WriteBatch::default();
        self.trimmer
            .trim_into(&self.shared, &mut batch, self.shared.config.clock.now_ms());
        if !batch.is_empty() {
            if let Err(e) = self.shared.storage.apply(batch) {
                self.shared
                    .poison
                    .poison(format!("storage write failed: {e}"));
            }
        }
    }
}

/// Records the new physical state of a data key, keeping the expiry index exact.
fn stage_data(
    state: &mut BatchState,
    key: Vec<u8>,
    old: Option<DataRecord>,
    new: Option<DataRecord>,
) {
    let old_expiry = old
        .and_then(|r| r.expire_at_ms)
        .map(|at| expiry_key(at, &key));
    let new_expiry = new
        .as_ref()
        .and_then(|r| r.expire_at_ms)
        .map(|at| expiry_key(at, &key));
    if old_expiry != new_expiry {
        if let Some(k) = old_expiry {
            state.expiry_ops.insert(k, false);
        }
        if let Some(k) = new_expiry {
            state.expiry_ops.insert(k, true);
        }
    }
    if state.overlay.insert(key.clone(), new).is_none() {
        state.touched.push(key);
    }
}

fn fail_all(requests: Vec<Request>, error: &StoreError) {
    for request in requests {
        if let Request::Commit { reply, .. } = request {
            let _ = reply.send(Err(StoreError::Poisoned(poison_reason(error))));
        }
    }
}

fn poison_reason(error: &StoreError) -> String {
    match error {
        StoreError::Poisoned(reason) => reason.clone(),
        other => other.to_string(),
    }
}
