//! Evaluation of queue-state changes ([`QueueOp`]): each is a commit of its own, with a
//! versionstamp, in the same storage batch and durable sync as the writes around it.
//!
//! An acknowledgement or a retry changes only the `queue` keyspace, so it has no changelog
//! entry. A dead-lettering writes data (the payload to `keys_if_undelivered`), so it is
//! evaluated as an ordinary atomic write of `set`s — changelog entry, watchers, expiry index
//! and all — with the message's removal and the dead-lettered count added to the same commit.

use cairn_model::{AtomicWrite, KvValue, Mutation, MutationKind, Versionstamp};

use super::{BatchState, Evaluator};
use crate::error::{Result, StoreError};
use crate::pipeline::CommitResult;
use crate::queue::ops::{QueueOp, QueueSettle};
use crate::queue::{read_dead_lettered, QueueKey};
use crate::storage::{Keyspace, Op};

impl Evaluator {
    /// Evaluates one queue op and tells the hub what became of the message: its lease ends
    /// either way; if the op did not commit, the message is back in line as it was.
    pub(super) fn evaluate_queue(
        &mut self,
        state: &mut BatchState,
        op: QueueOp,
    ) -> Result<CommitResult> {
        let id = op.id();
        let key = match &op {
            QueueOp::Ack { key, .. }
            | QueueOp::Retry { key, .. }
            | QueueOp::DeadLetter { key, .. } => *key,
        };
        let outcome = self.stage_queue_op(state, op);
        self.queue_settle.push(QueueSettle::Release(id));
        match &outcome {
            Ok((result, new_key)) if result.is_committed() => {
                if let Some(new_key) = new_key {
                    self.queue_settle.push(QueueSettle::Put(*new_key));
                }
            }
            _ => self.queue_settle.push(QueueSettle::Put(key)),
        }
        outcome.map(|(result, _)| result)
    }

    /// Stages the op's storage changes; returns its result and the message's new key if any.
    fn stage_queue_op(
        &mut self,
        state: &mut BatchState,
        op: QueueOp,
    ) -> Result<(CommitResult, Option<QueueKey>)> {
        match op {
            QueueOp::Ack { key, .. } => {
                // The lease guarantees the message is stored: no read needed on the hot path.
                let versionstamp = next_versionstamp(state);
                state
                    .queue_ops
                    .push(Op::Delete(Keyspace::Queue, key.to_vec()));
                Ok((CommitResult::Committed { versionstamp }, None))
            }
            QueueOp::Retry {
                id,
                key,
                new_key,
                record,
            } => {
                self.require_queued(&key, &id.to_string())?;
                let versionstamp = next_versionstamp(state);
                // Delete first: with a zero backoff the new key can equal the old one.
                state
                    .queue_ops
                    .push(Op::Delete(Keyspace::Queue, key.to_vec()));
                state
                    .queue_ops
                    .push(Op::Put(Keyspace::Queue, new_key.to_vec(), record));
                Ok((CommitResult::Committed { versionstamp }, Some(new_key)))
            }
            QueueOp::DeadLetter {
                id,
                key,
                payload,
                keys,
            } => {
                self.require_queued(&key, &id.to_string())?;
                // Read before staging anything, so that a failed read leaves no trace.
                let total = match state.dead_lettered {
                    Some(total) => total,
                    None => read_dead_lettered(|ks, k| self.shared.storage.get_latest(ks, k))?,
                };
                let write = AtomicWrite {
                    mutations: keys
                        .into_iter()
                        .map(|key| Mutation {
                            key,
                            kind: MutationKind::Set(KvValue::V8(payload.clone())),
                            expire_at_ms: None,
                        })
                        .collect(),
                    ..Default::default()
                };
                let result = self.evaluate_write(state, write)?;
                if result.is_committed() {
                    state
                        .queue_ops
                        .push(Op::Delete(Keyspace::Queue, key.to_vec()));
                    state.dead_lettered = Some(total.saturating_add(1));
                }
                Ok((result, None))
            }
        }
    }

    /// Fails unless the message is stored under `key` (a retry must never resurrect one).
    fn require_queued(&self, key: &QueueKey, id: &str) -> Result<()> {
        match self.shared.storage.get_latest(Keyspace::Queue, key)? {
            Some(_) => Ok(()),
            None => Err(StoreError::InvalidArgument(format!(
                "queue message {id} is no longer stored"
            ))),
        }
    }
}

/// The versionstamp of the next commit of the batch.
fn next_versionstamp(state: &mut BatchState) -> Versionstamp {
    let versionstamp = Versionstamp::new(state.commit_version, state.accepted);
    state.accepted += 1;
    versionstamp
}
