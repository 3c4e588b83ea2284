//! Replication on [`Database`]: role and position, the primary's stream and replicas, a
//! replica's apply path, promotion.

use std::sync::Arc;

use super::{
    EpochHistory, ReplicationStatus, Role, StreamLog, StreamPosition, StreamRecord, SyncGate,
};
use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::limits::REPLICATE_RECORDS_MAX;
use crate::pipeline::{CommitResult, Request, COMMIT_REQUEST_OVERHEAD_BYTES};
use crate::storage::Keyspace;

/// The database id and stream position of the database directory `path` (not open
/// elsewhere): a replica checks a copy restored from the archive with it.
pub fn directory_position(path: &std::path::Path) -> Result<([u8; 16], StreamPosition)> {
    if !path.join("engine").exists() && !path.join("tlog").exists() {
        return Err(StoreError::InvalidArgument(format!(
            "{} holds no database",
            path.display()
        )));
    }
    let storage = crate::storage::FjallStorage::open(path, DIRECTORY_CACHE_BYTES)?;
    let meta = crate::meta::load_or_init(&storage)?;
    Ok((meta.database_id, meta.stream))
}

/// The epoch history of the database directory `path` (not open elsewhere): a replica
/// rebuilt from its primary's snapshot counts the positions of its old copy it discarded.
pub fn directory_history(path: &std::path::Path) -> Result<EpochHistory> {
    if !path.join("engine").exists() && !path.join("tlog").exists() {
        return Err(StoreError::InvalidArgument(format!(
            "{} holds no database",
            path.display()
        )));
    }
    let storage = crate::storage::FjallStorage::open(path, DIRECTORY_CACHE_BYTES)?;
    Ok(crate::meta::load_or_init(&storage)?.history)
}

/// Block cache for [`directory_position`]'s few reads.
const DIRECTORY_CACHE_BYTES: u64 = 1 << 20;

impl Database {
    /// Primary or replica.
    pub fn role(&self) -> Role {
        (*self.shared().replication.role()).clone()
    }

    /// The stream position of the newest batch published to readers.
    pub fn stream_position(&self) -> StreamPosition {
        self.shared().replication.published()
    }

    /// How replication stands (role, positions, lag, replicas).
    pub fn replication_status(&self) -> ReplicationStatus {
        self.shared().replication.status()
    }

    /// The stream of durable batches kept for replicas (`None` unless configured with
    /// [`super::ReplicationConfig::stream`]).
    pub fn stream_log(&self) -> Option<Arc<StreamLog>> {
        self.shared().replication.log.clone()
    }

    /// Where replicas register and acknowledge (present with a stream or synchronous
    /// replicas).
    pub fn sync_gate(&self) -> Option<Arc<SyncGate>> {
        self.shared().replication.gate.clone()
    }

    /// The epochs after the first, as published.
    pub fn epoch_history(&self) -> Result<EpochHistory> {
        let snapshot = self.shared().published.load().snapshot.clone();
        match snapshot.get(Keyspace::Meta, crate::meta::EPOCH_HISTORY_KEY)? {
            Some(bytes) => Ok(EpochHistory::decode(&bytes)?),
            None => Ok(EpochHistory::default()),
        }
    }

    /// Whether a replica that last applied `replica` shares this primary's history (see
    /// [`EpochHistory::check_follower`]); `Err` explains how they differ.
    pub fn check_follower(&self, replica: StreamPosition) -> Result<()> {
        let newest = match self.stream_log() {
            Some(log) => log.newest(),
            None => self.stream_position(),
        };
        self.epoch_history()?
            .check_follower(newest, replica)
            .map_err(StoreError::Replication)
    }

    /// A replica: applies its primary's batches, which must continue its stream without a
    /// gap, in one storage batch each and one durable sync for all of them, and publishes
    /// them. Returns the new position once they are durable and visible to readers.
    pub async fn replicate(&self, records: Vec<StreamRecord>) -> Result<StreamPosition> {
        self.replicate_send(records).await?.await
    }

    /// [`Database::replicate`] in two steps: this returns once the batches are in the
    /// pipeline (in the order of the calls), and the future it returns once they are durable
    /// and published. A replica keeps several in flight.
    pub async fn replicate_send(
        &self,
        records: Vec<StreamRecord>,
    ) -> Result<impl std::future::Future<Output = Result<StreamPosition>> + Send + 'static> {
        if records.len() > REPLICATE_RECORDS_MAX {
            return Err(StoreError::InvalidArgument(format!(
                "{} records in one replicate call, at most {REPLICATE_RECORDS_MAX}",
                records.len()
            )));
        }
        let times: Vec<u64> = records.iter().map(|r| r.record.time_ms).collect();
        let cost = records
            .iter()
            .map(|r| r.record.batch.len() + COMMIT_REQUEST_OVERHEAD_BYTES)
            .sum();
        let answer = self
            .submit_internal(cost, |reply| Request::Replicate { records, reply })
            .await?;
        let db = self.clone();
        Ok(async move {
            let at = match answer.await? {
                CommitResult::Committed { versionstamp } => versionstamp.commit_version(),
                CommitResult::CheckFailed { .. } => {
                    return Err(StoreError::Replication("replicated batch refused".into()))
                }
            };
            let replication = &db.shared().replication;
            let now_ms = db.now_ms_of_clock();
            for time_ms in times {
                replication.applied_lag(time_ms, now_ms);
            }
            let mut position = db.stream_position();
            position.position = at;
            Ok(position)
        })
    }

    /// A primary: replica `id` has every batch up to `position` durable. Finishes at once
    /// (on the caller's thread) the batches the acknowledgement lets through, instead of
    /// waking the gate's thread for them: one hand-off less per synchronous commit. False if
    /// the replica has no stream open.
    pub fn replica_acknowledged(&self, id: u64, position: u64) -> bool {
        let shared = self.shared();
        let Some(gate) = shared.replication.gate.as_ref() else {
            return false;
        };
        match gate.record_ack(id, position, false) {
            None => false,
            Some(moved) => {
                if moved && shared.replication.active_gate().is_some() {
                    shared.completion.finish_ready(shared, None);
                }
                true
            }
        }
    }

    /// A replica follows `primary` (its URL) from now on: a failover group elected another
    /// member (messages and the metadata exchange name it). False on a primary.
    pub fn follow_primary(&self, primary: &str) -> bool {
        self.shared().replication.set_primary_url(primary)
    }

    /// A replica: the primary reported its newest position (for the lag in positions).
    pub fn saw_primary_position(&self, position: u64) {
        self.shared().replication.saw_primary_position(position);
    }

    /// Turns this replica into a primary by hand: a batch that starts the next epoch (its
    /// first position records it in the epoch history, and every later batch carries the
    /// epoch). Writes are accepted from the moment it is evaluated; archiving starts if
    /// configured. Stop following the old primary first. Returns the promotion's position.
    pub async fn promote(&self) -> Result<StreamPosition> {
        self.promote_to_epoch(None).await
    }

    /// [`Database::promote`] to epoch `epoch` (newer than the database's; a failover
    /// group's election chose it), or to the next epoch when `None`.
    pub async fn promote_to_epoch(&self, epoch: Option<u64>) -> Result<StreamPosition> {
        let answer = self
            .submit_internal(COMMIT_REQUEST_OVERHEAD_BYTES, |reply| Request::Promote {
                reply,
                epoch,
            })
            .await?;
        answer.await?;
        let at = self.stream_position();
        if let Some(dir) = self.dir() {
            super::clear_marker(dir)?;
        }
        self.wake_indexer();
        self.start_archiving()?;
        Ok(at)
    }

    fn now_ms_of_clock(&self) -> u64 {
        self.shared().config.clock.now_ms()
    }
}
