//! A replica's side of the evaluator: its primary's storage batches applied as they are, and
//! the promotion that makes it a primary.
//!
//! A replicated batch is not evaluated: the primary decided every check and mutation, and
//! its storage batch (data, expiry index, queue, changelog, `meta` with the commit version
//! and the stream position) is applied byte for byte. What the evaluator adds is the order:
//! each batch must be the one right after the last applied (a gap or a repeat is refused, so
//! a restarted stream can neither skip nor apply a batch twice), of the same or a newer epoch
//! (a former primary's batches are fenced off), and its own `meta` must carry the position
//! the stream says it has.

use cairn_model::Versionstamp;

use super::Evaluator;
use crate::changelog::ChangelogTrimmer;
use crate::error::{PoisonCause, Result, StoreError};
use crate::meta;
use crate::pipeline::announce::{ArchivedBatch, BatchEffects};
use crate::pipeline::writer::Applied;
use crate::pipeline::{CommitResult, Reply, Request};
use crate::queue::ops::QueueSettle;
use crate::replication::StreamRecord;
use crate::storage::{Keyspace, Op, WriteBatch};

/// Takes the replication requests (replicated batches, promotion) out of a batch of requests:
/// `(others, replication)`, each in arrival order.
pub(super) fn split(requests: Vec<Request>) -> (Vec<Request>, Vec<Request>) {
    let is_replication =
        |r: &Request| matches!(r, Request::Replicate { .. } | Request::Promote { .. });
    if !requests.iter().any(is_replication) {
        return (requests, Vec::new());
    }
    let (replication, others) = requests.into_iter().partition(is_replication);
    (others, replication)
}

impl Evaluator {
    /// Applies one replication request; the writers make it durable and answer it.
    pub(super) fn replicated(&mut self, request: Request) -> Applied {
        match request {
            Request::Replicate { records, reply } => self.apply_replicated(records, reply),
            Request::Promote { reply, epoch } => self.promote(reply, epoch),
            Request::Commit { reply, .. }
            | Request::Index { reply, .. }
            | Request::Queue {
                reply: Some(reply), ..
            } => {
                let refused = Err(StoreError::Replication("not a replication request".into()));
                self.nothing_applied(reply, refused)
            }
            Request::Expire { .. } | Request::Queue { reply: None, .. } => {
                let (reply, _) = crate::pipeline::reply::channel();
                self.nothing_applied(
                    reply,
                    Ok(CommitResult::CheckFailed {
                        failed_checks: vec![],
                        reason: None,
                    }),
                )
            }
        }
    }

    fn apply_replicated(&mut self, records: Vec<StreamRecord>, reply: Reply) -> Applied {
        let mut effects = BatchEffects::default();
        let mut outcome = Ok(());
        let mut wrote = false;
        if self.shared.replication.is_primary() {
            outcome = Err(StoreError::Replication(
                "this database is a primary now (promoted): it takes no replicated batches".into(),
            ));
        } else {
            for record in records {
                match self.apply_one(record, &mut effects) {
                    Ok(()) => wrote = true,
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
        }
        let answer = outcome.map(|()| CommitResult::Committed {
            versionstamp: Versionstamp::new(self.stream.position, 0),
        });
        self.package(reply, answer, wrote, effects)
    }

    /// Applies one of the primary's batches to storage, after checking its place.
    fn apply_one(&mut self, record: StreamRecord, effects: &mut BatchEffects) -> Result<()> {
        let at = record.position();
        if at.position != self.stream.position + 1 {
            return Err(StoreError::Replication(format!(
                "stream out of order: this replica is at {}, the batch is at {at}",
                self.stream
            )));
        }
        if at.epoch < self.stream.epoch {
            return Err(StoreError::Replication(format!(
                "the batch at {at} comes from a primary of an older epoch than this \
                 database's {}: refused (fenced off)",
                self.stream.epoch
            )));
        }
        let batch = WriteBatch::decode(&record.record.batch).map_err(|e| {
            StoreError::Replication(format!("the batch at {at} does not decode: {e}"))
        })?;
        match meta::stream_position_of(&batch) {
            Some(Ok(stamped)) if stamped == at => {}
            other => {
                return Err(StoreError::Replication(format!(
                    "the batch sent as {at} carries {:?} in its own meta",
                    other.map(|r| r.map(|p| p.to_string()).unwrap_or_default())
                )))
            }
        }
        if let Some(history) = meta::epoch_history_of(&batch) {
            self.history = history?;
        }
        collect_effects(&batch, effects);
        if let Err(e) = self.shared.storage.apply(batch) {
            self.shared
                .poison
                .poison(PoisonCause::storage("storage write failed", &e));
            return Err(StoreError::Storage(e));
        }
        self.stream = at;
        let commit_version = record.record.commit_version;
        self.replicated_commit_version = self.replicated_commit_version.max(commit_version);
        if self.shared.announcer.wants_batches() {
            effects.archived.push(ArchivedBatch {
                commit_version,
                position: at,
                time_ms: record.record.time_ms,
                bytes: record.record.batch,
            });
        }
        Ok(())
    }

    /// Starts the next epoch with a batch of its own, and takes writes from now on.
    fn promote(&mut self, reply: Reply, target: Option<u64>) -> Applied {
        if self.shared.replication.is_primary() {
            let refused = Err(StoreError::InvalidArgument(
                "this database is a primary already".into(),
            ));
            return self.nothing_applied(reply, refused);
        }
        let newest = self.history.starts.last().map_or(0, |(epoch, _)| *epoch);
        let current = self.stream.epoch.max(newest);
        let epoch = match target {
            None => current + 1,
            Some(target) if target > current => target,
            Some(target) => {
                let refused = Err(StoreError::Replication(format!(
                    "promotion to epoch {target} refused: this database is at epoch {current} \
                     already (an election must choose a newer epoch)"
                )));
                return self.nothing_applied(reply, refused);
            }
        };
        let history = match self.history.with_epoch(epoch, self.stream.position + 1) {
            Ok(history) => history,
            Err(reason) => {
                return self.nothing_applied(reply, Err(StoreError::Replication(reason)))
            }
        };
        let mut batch = WriteBatch::default();
        meta::put_epoch_history(&mut batch, &history);
        self.history = history;
        self.stream.epoch = epoch;
        self.shared.replication.become_primary();
        // The changelog grew by the primary's batches: count it again before trimming. And
        // the primary's batches declared, built and dropped indexes this evaluator has not
        // seen: the commits from now on must maintain exactly the replicated catalog.
        match ChangelogTrimmer::new(&self.shared) {
            Ok(trimmer) => self.trimmer = trimmer,
            Err(e) => tracing::warn!(error = %e, "recounting the changelog after promotion"),
        }
        match crate::index::catalog::Catalog::load(self.shared.storage.snapshot().as_ref()) {
            Ok(catalog) => self.indexes = catalog,
            Err(e) => {
                return self.nothing_applied(
                    reply,
                    Err(StoreError::Replication(format!(
                        "reading the replicated index catalog: {e}"
                    ))),
                )
            }
        }
        tracing::info!(
            epoch,
            position = self.stream.position + 1,
            "promoted to primary"
        );
        let answer = Ok(CommitResult::Committed {
            versionstamp: Versionstamp::new(epoch, 0),
        });
        let mut job = self.apply(batch, vec![(reply, answer)]);
        // No replica follows a primary of this epoch yet.
        job.waits = false;
        job
    }

    /// An answer for a request that applied nothing, in line with the batches around it.
    fn nothing_applied(&mut self, reply: Reply, answer: Result<CommitResult>) -> Applied {
        self.package(reply, answer, false, BatchEffects::default())
    }

    fn package(
        &mut self,
        reply: Reply,
        answer: Result<CommitResult>,
        wrote: bool,
        mut effects: BatchEffects,
    ) -> Applied {
        self.seq += 1;
        effects.seq = self.seq;
        Applied {
            seq: self.seq,
            snapshot: self.shared.storage.snapshot(),
            replies: vec![(reply, answer)],
            wrote,
            effects,
            floor: self.stream,
            waits: false,
            deadline: None,
            unconfirmed: false,
        }
    }
}

/// What a replicated batch changed, for watchers and the queue hub: the data keys it wrote
/// or removed, and the queue messages it stored.
fn collect_effects(batch: &WriteBatch, effects: &mut BatchEffects) {
    for op in &batch.ops {
        match op {
            Op::Put(Keyspace::Data, key, _) | Op::Delete(Keyspace::Data, key) => {
                effects.changed_keys.push(key.clone());
            }
            Op::Put(Keyspace::Queue, key, _) => {
                if let Ok(key) = key.as_slice().try_into() {
                    effects.queue.push(QueueSettle::Put(key));
                }
            }
            _ => {}
        }
    }
}
