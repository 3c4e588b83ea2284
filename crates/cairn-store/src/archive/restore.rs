//! Restore: the newest snapshot at or before the requested point, then the log after it up
//! to that point, into a new database.

use std::path::Path;

use super::catalog::{Catalog, RangeObjects};
use super::dest::Prefixed;
use super::format::{names, object_crc, Segment, SnapshotDone, SnapshotPart};
use super::limits::RESTORE_BATCH_BYTES;
use super::{ArchiveError, RangeSummary};
use crate::storage::{FjallStorage, Storage, WriteBatch};

/// The point a restore builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreTarget {
    /// The newest archived point.
    Latest,
    /// Every commit whose versionstamp's commit version is at most this (a versionstamp's
    /// first 8 bytes): the writes of one commit batch are restored together, as they were
    /// made durable together.
    CommitVersion(u64),
    /// Every batch published at or before this time, ms since the epoch.
    TimeMs(u64),
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The range restored from.
    pub range: u64,
    /// The snapshot it started from: its position and commit version.
    pub snapshot_asn: u64,
    /// The snapshot's commit version.
    pub snapshot_commit_version: u64,
    /// Entries copied from the snapshot.
    pub snapshot_entries: u64,
    /// Log batches replayed after it.
    pub batches_replayed: u64,
    /// Storage operations (puts and deletes) in those batches.
    pub log_ops: u64,
    /// The commit version of the restored state.
    pub commit_version: u64,
}

/// Restores the archive under `dest` at `target` into `storage` (which must be empty), and
/// syncs it.
pub fn restore(
    dest: &Prefixed<'_>,
    target: RestoreTarget,
    storage: &dyn Storage,
) -> Result<RestoreReport, ArchiveError> {
    let catalog = Catalog::load(dest)?;
    let summaries = catalog.summaries(dest)?;
    let summary = choose_range(&summaries, target)?;
    let Some(objects) = catalog.ranges.get(&summary.range) else {
        return Err(ArchiveError::NotArchived(format!(
            "range {} vanished",
            summary.range
        )));
    };
    let snapshot = objects
        .snapshots
        .iter()
        .rev()
        .find(|s| match target {
            RestoreTarget::Latest => true,
            RestoreTarget::CommitVersion(v) => s.commit_version <= v,
            RestoreTarget::TimeMs(t) => s.time_ms <= t,
        })
        .ok_or_else(|| {
            ArchiveError::NotArchived(format!(
                "no snapshot of range {} is old enough",
                summary.range
            ))
        })?;
    let snapshot_entries = apply_snapshot(dest, snapshot, storage)?;
    let replayed = replay(dest, objects, snapshot.asn, target, storage)?;
    storage.sync()?;
    Ok(RestoreReport {
        range: summary.range,
        snapshot_asn: snapshot.asn,
        snapshot_commit_version: snapshot.commit_version,
        snapshot_entries,
        batches_replayed: replayed.batches,
        log_ops: replayed.ops,
        commit_version: replayed.commit_version.max(snapshot.commit_version),
    })
}

/// The range holding `target`, or why there is none.
fn choose_range(
    summaries: &[RangeSummary],
    target: RestoreTarget,
) -> Result<&RangeSummary, ArchiveError> {
    let Some(newest) = summaries.last() else {
        return Err(ArchiveError::NotArchived(
            "the archive holds no complete snapshot of this database".into(),
        ));
    };
    let span = |s: &RangeSummary| match target {
        RestoreTarget::Latest => (0, 0, 0),
        RestoreTarget::CommitVersion(v) => (v, s.first_commit_version, s.last_commit_version),
        RestoreTarget::TimeMs(t) => (t, s.first_time_ms, s.last_time_ms),
    };
    if target == RestoreTarget::Latest {
        // The newest point, wherever it is (a backup's range may be numbered after the range
        // a server keeps archiving to).
        let latest = summaries
            .iter()
            .max_by_key(|s| (s.last_commit_version, s.range))
            .unwrap_or(newest);
        return Ok(latest);
    }
    if let Some(found) = summaries.iter().rev().find(|s| {
        let (x, first, last) = span(s);
        first <= x && x <= last
    }) {
        return Ok(found);
    }
    let what = match target {
        RestoreTarget::CommitVersion(v) => format!("commit version {v}"),
        RestoreTarget::TimeMs(t) => format!("time {t} ms"),
        RestoreTarget::Latest => String::new(),
    };
    let (x, _, _) = span(newest);
    let before = summaries.iter().rev().find(|s| span(s).2 < x);
    let after = summaries.iter().find(|s| span(s).1 > x);
    match (before, after) {
        (Some(b), Some(a)) => Err(ArchiveError::Gap(format!(
            "{what} falls between range {} (ends at {}) and range {} (starts at {}, opened because: {}); restore a point inside a range",
            b.range,
            span(b).2,
            a.range,
            span(a).1,
            a.reason
        ))),
        (None, _) => Err(ArchiveError::NotArchived(format!(
            "{what} is before the oldest archived point"
        ))),
        (Some(b), None) => Err(ArchiveError::NotArchived(format!(
            "{what} is after the newest archived point ({} in range {})",
            span(b).2,
            b.range
        ))),
    }
}

/// Copies a snapshot's entries into `storage`; checks every part against the trailer.
fn apply_snapshot(
    dest: &Prefixed<'_>,
    snapshot: &SnapshotDone,
    storage: &dyn Storage,
) -> Result<u64, ArchiveError> {
    let mut entries = 0u64;
    for (number, crc) in (0u32..).zip(&snapshot.part_crcs) {
        let name = names::snapshot_part(snapshot.range, snapshot.asn, number);
        let bytes = dest.get(&name)?.ok_or_else(|| ArchiveError::Corrupt {
            object: name.clone(),
            reason: "snapshot part missing".into(),
        })?;
        if object_crc(&bytes) != *crc {
            return Err(ArchiveError::Corrupt {
                object: name,
                reason: "checksum does not match the snapshot's trailer".into(),
            });
        }
        let part = SnapshotPart::decode(&name, &bytes)?;
        let mut batch = WriteBatch::default();
        let mut batch_bytes = 0;
        for (keyspace, key, value) in part.entries {
            entries += 1;
            batch_bytes += key.len() + value.len();
            batch.put(keyspace, key, value);
            if batch_bytes >= RESTORE_BATCH_BYTES {
                storage.apply(std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            storage.apply(batch)?;
        }
    }
    if entries != snapshot.entries {
        return Err(ArchiveError::Corrupt {
            object: names::snapshot_done(snapshot.range, snapshot.asn),
            reason: format!(
                "trailer counts {} entries, parts hold {entries}",
                snapshot.entries
            ),
        });
    }
    Ok(entries)
}

/// What a replay applied.
#[derive(Default)]
struct Replayed {
    batches: u64,
    ops: u64,
    commit_version: u64,
}

/// Replays the range's log after position `after` up to `target`.
fn replay(
    dest: &Prefixed<'_>,
    objects: &RangeObjects,
    after: u64,
    target: RestoreTarget,
    storage: &dyn Storage,
) -> Result<Replayed, ArchiveError> {
    let mut replayed = Replayed::default();
    let mut expected = after + 1;
    for &(first, last) in &objects.segments {
        if last < expected {
            continue;
        }
        if first > expected {
            return Err(ArchiveError::Gap(format!(
                "range {}: log positions {expected}..{} are missing",
                objects.range,
                first - 1
            )));
        }
        let name = names::segment(objects.range, first, last);
        let bytes = dest.get(&name)?.ok_or_else(|| {
            ArchiveError::Gap(format!("log segment {name} vanished while restoring"))
        })?;
        let segment = Segment::decode(&name, &bytes)?;
        let ends = (
            segment.records.first().map(|r| r.asn),
            segment.records.last().map(|r| r.asn),
        );
        if ends != (Some(first), Some(last)) || segment.range != objects.range {
            return Err(ArchiveError::Corrupt {
                object: name,
                reason: format!("holds range {} positions {ends:?}", segment.range),
            });
        }
        for record in segment.records {
            if record.asn < expected {
                continue;
            }
            let past = match target {
                RestoreTarget::Latest => false,
                RestoreTarget::CommitVersion(v) => record.commit_version > v,
                RestoreTarget::TimeMs(t) => record.time_ms > t,
            };
            if past {
                return Ok(replayed);
            }
            let batch = WriteBatch::decode(&record.batch).map_err(|e| ArchiveError::Corrupt {
                object: name.clone(),
                reason: format!("batch at position {}: {e}", record.asn),
            })?;
            replayed.ops += batch.ops.len() as u64;
            storage.apply(batch)?;
            replayed.batches += 1;
            replayed.commit_version = replayed.commit_version.max(record.commit_version);
            expected = record.asn.saturating_add(1);
        }
    }
    Ok(replayed)
}

/// `cairn restore`: restores into a new database directory `dir` (refused if it holds
/// anything). On failure the partly restored directory is removed again.
pub fn restore_to_dir(
    dest: &Prefixed<'_>,
    target: RestoreTarget,
    dir: &Path,
    cache_bytes: u64,
) -> Result<RestoreReport, ArchiveError> {
    let io = |e: std::io::Error| {
        ArchiveError::Storage(crate::StorageError::Engine(format!(
            "{}: {e}",
            dir.display()
        )))
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ArchiveError::TargetNotEmpty(dir.display().to_string()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        Err(e) => return Err(io(e)),
    }
    let result = FjallStorage::open(dir, cache_bytes)
        .map_err(ArchiveError::from)
        .and_then(|storage| restore(dest, target, &storage));
    if result.is_err() {
        // The directory was empty or absent before: nothing of the caller's is removed.
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}
