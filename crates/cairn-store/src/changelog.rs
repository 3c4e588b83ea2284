//! The changelog: every commit's applied changes, keyed by versionstamp, in the `changelog`
//! keyspace. It is the seam that watch, replication and backups read from.
//!
//! Retention is bounded two ways, both configurable ([`crate::Config`]): at most
//! `changelog_retention_entries` commits, and none older than `changelog_retention_ms`. The
//! evaluator trims as part of its own storage batches, so trimming never races a commit.

use crate::limits::CHANGELOG_TRIM_BATCH_MAX;
use cairn_model::Versionstamp;

use crate::error::Result;
use crate::pipeline::Shared;
use crate::record::ChangelogRecord;
use crate::storage::{Keyspace, Scan, WriteBatch};

/// How often (clock ms) the evaluator looks for changelog entries past their age.
const AGE_CHECK_INTERVAL_MS: u64 = 1000;
/// Changelog entries read at a time while trimming.
const TRIM_SCAN_CHUNK: usize = 64;

/// Tracks the changelog's length and trims it.
pub(crate) struct ChangelogTrimmer {
    count: u64,
    last_age_check_ms: u64,
    /// Where the next trim starts reading: just past the newest entry trimmed so far. The
    /// entries before it are deleted, but their tombstones stay in the engine until a
    /// compaction drops them; starting every trim at the beginning would step over all of
    /// them each time, and trimming would slow down without bound (measured: a soak run fell
    /// from 19,000 to 1,800 operations/s within a minute of reaching the retention).
    resume_at: Vec<u8>,
}

impl ChangelogTrimmer {
    pub(crate) fn new(shared: &Shared) -> Result<Self> {
        let count = shared.storage.snapshot().count(Keyspace::Changelog)?;
        Ok(ChangelogTrimmer {
            count,
            last_age_check_ms: 0,
            resume_at: Vec::new(),
        })
    }

    pub(crate) fn appended(&mut self, n: u64) {
        self.count += n;
    }

    /// Adds deletions of entries beyond the retention bounds to `batch`, at most
    /// [`CHANGELOG_TRIM_BATCH_MAX`] at a time (the rest goes with later batches).
    ///
    /// Reads the oldest entries in small chunks and stops at the first one that is kept:
    /// a changelog entry can be as large as a whole atomic write, so reading a fixed number
    /// of them on every check would stall the evaluator.
    pub(crate) fn trim_into(&mut self, shared: &Shared, batch: &mut WriteBatch, now_ms: u64) {
        let config = &shared.config;
        let excess = self
            .count
            .saturating_sub(config.changelog_retention_entries);
        let age_due = now_ms.saturating_sub(self.last_age_check_ms) >= AGE_CHECK_INTERVAL_MS;
        if excess == 0 && !age_due {
            return;
        }
        if age_due {
            self.last_age_check_ms = now_ms;
        }
        let oldest_kept_ms = now_ms.saturating_sub(config.changelog_retention_ms);
        let snapshot = shared.storage.snapshot();
        let end = [0xFFu8; Versionstamp::LEN + 1];
        // Versionstamps only grow, so nothing is ever added before `resume_at`.
        let mut start = self.resume_at.clone();
        let mut removed = 0u64;
        'chunks: while removed < CHANGELOG_TRIM_BATCH_MAX as u64 {
            let scan = Scan {
                start: &start,
                end: &end,
                reverse: false,
                limit: TRIM_SCAN_CHUNK,
            };
            let chunk = match snapshot.scan(Keyspace::Changelog, scan) {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the changelog for trimming");
                    break;
                }
            };
            let full = chunk.len() == TRIM_SCAN_CHUNK;
            for (key, value) in chunk {
                let too_many = removed < excess;
                let too_old =
                    ChangelogRecord::committed_at_ms(&value).is_some_and(|at| at < oldest_kept_ms);
                if !too_many && !too_old || removed >= CHANGELOG_TRIM_BATCH_MAX as u64 {
                    break 'chunks;
                }
                start.clone_from(&key);
                start.push(0);
                batch.delete(Keyspace::Changelog, key);
                removed += 1;
            }
            if !full {
                break;
            }
        }
        self.count = self.count.saturating_sub(removed);
        self.resume_at = start;
    }
}

/// Reads changelog entries after `after` (exclusive), oldest first, at most `limit`.
pub fn read_changelog(
    snapshot: &dyn crate::storage::Snapshot,
    after: Option<Versionstamp>,
    limit: usize,
) -> Result<Vec<(Versionstamp, ChangelogRecord)>> {
    let mut start = after.map(|v| v.0.to_vec()).unwrap_or_default();
    if after.is_some() {
        start.push(0);
    }
    let end = [0xFFu8; Versionstamp::LEN + 1];
    let entries = snapshot.scan(
        Keyspace::Changelog,
        Scan {
            start: &start,
            end: &end,
            reverse: false,
            limit,
        },
    )?;
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let versionstamp =
            Versionstamp::from_slice(&key).ok_or_else(|| crate::error::StorageError::Corrupt {
                keyspace: "changelog",
                reason: format!("key of {} bytes is not a versionstamp", key.len()),
            })?;
        out.push((versionstamp, ChangelogRecord::decode(&value)?));
    }
    Ok(out)
}
