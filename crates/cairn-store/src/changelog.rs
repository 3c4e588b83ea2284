//! The changelog: every commit's applied changes, keyed by versionstamp, in the `changelog`
//! keyspace. It is the seam that watch, replication and backups read from.
//!
//! Retention is bounded two ways, both configurable ([`crate::Config`]): at most
//! `changelog_retention_entries` commits, and none older than `changelog_retention_ms`. The
//! evaluator trims as part of its own storage batches, so trimming never races a commit.

use cairn_model::limits::CHANGELOG_TRIM_BATCH_MAX;
use cairn_model::Versionstamp;

use crate::error::Result;
use crate::pipeline::Shared;
use crate::record::ChangelogRecord;
use crate::storage::{Keyspace, Scan, WriteBatch};

/// How often (clock ms) the evaluator looks for changelog entries past their age.
const AGE_CHECK_INTERVAL_MS: u64 = 1000;

/// Tracks the changelog's length and trims it.
pub(crate) struct ChangelogTrimmer {
    count: u64,
    last_age_check_ms: u64,
}

impl ChangelogTrimmer {
    pub(crate) fn new(shared: &Shared) -> Result<Self> {
        let count = shared.storage.snapshot().count(Keyspace::Changelog)?;
        Ok(ChangelogTrimmer {
            count,
            last_age_check_ms: 0,
        })
    }

    pub(crate) fn appended(&mut self, n: u64) {
        self.count += n;
    }

    /// Adds deletions of entries beyond the retention bounds to `batch`, at most
    /// [`CHANGELOG_TRIM_BATCH_MAX`] at a time (the rest goes with later batches).
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
        // Between age checks only the excess is read, so a full changelog costs each batch
        // about as much trimming as the batch appended.
        let limit = if age_due {
            CHANGELOG_TRIM_BATCH_MAX
        } else {
            usize::try_from(excess)
                .unwrap_or(usize::MAX)
                .min(CHANGELOG_TRIM_BATCH_MAX)
        };
        let end = [0xFFu8; Versionstamp::LEN + 1];
        let scan = Scan {
            start: &[],
            end: &end,
            reverse: false,
            limit,
        };
        let oldest = match shared.storage.snapshot().scan(Keyspace::Changelog, scan) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the changelog for trimming");
                return;
            }
        };
        let mut removed = 0u64;
        for (key, value) in oldest {
            let too_many = removed < excess;
            let too_old =
                ChangelogRecord::decode(&value).is_ok_and(|r| r.committed_at_ms < oldest_kept_ms);
            if !too_many && !too_old {
                break;
            }
            batch.delete(Keyspace::Changelog, key);
            removed += 1;
        }
        self.count = self.count.saturating_sub(removed);
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
