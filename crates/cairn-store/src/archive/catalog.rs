//! What an archive holds, read from its listing: the listing is the archive's only index, so
//! nothing can disagree with the objects themselves.

use std::collections::BTreeMap;

use super::dest::Prefixed;
use super::format::{names, names::Parsed, RangeHeader, Segment, SnapshotDone};
use super::ArchiveError;

/// One range of a database's archive, as listed.
#[derive(Debug, Clone, Default)]
pub struct RangeObjects {
    /// The range's number.
    pub range: u64,
    /// Its opening object, if present.
    pub header: Option<RangeHeader>,
    /// Complete snapshots (trailer present and readable), by position.
    pub snapshots: Vec<SnapshotDone>,
    /// Positions of snapshots without a trailer (an interrupted snapshot): never restored.
    pub incomplete_snapshots: Vec<u64>,
    /// Snapshot part objects: (position, part number).
    pub snapshot_parts: Vec<(u64, u32)>,
    /// Log segments: (first, last) position, in order.
    pub segments: Vec<(u64, u64)>,
}

/// A database's archive.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Ranges by number.
    pub ranges: BTreeMap<u64, RangeObjects>,
}

/// The restorable span of one range: what `cairn backup list` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSummary {
    /// The range's number.
    pub range: u64,
    /// Why it was opened.
    pub reason: String,
    /// The oldest restorable commit version (its oldest complete snapshot's).
    pub first_commit_version: u64,
    /// When that snapshot was taken, ms since the epoch.
    pub first_time_ms: u64,
    /// The newest restorable commit version (the last shipped batch's).
    pub last_commit_version: u64,
    /// When that batch was published, ms since the epoch.
    pub last_time_ms: u64,
    /// Complete snapshots in the range.
    pub snapshots: usize,
    /// Log segments in the range.
    pub segments: usize,
}

impl Catalog {
    /// Lists the archive and reads every range header and snapshot trailer (small objects).
    /// A corrupt trailer is an error: the archive must be looked at, not silently trimmed.
    pub fn load(dest: &Prefixed<'_>) -> Result<Catalog, ArchiveError> {
        let mut catalog = Catalog::default();
        let mut done = Vec::new();
        for name in dest.list()? {
            let Some(parsed) = names::parse(&name) else {
                continue;
            };
            let range = match parsed {
                Parsed::Range(r)
                | Parsed::Segment(r, ..)
                | Parsed::SnapshotPart(r, ..)
                | Parsed::SnapshotDone(r, _) => r,
            };
            let entry = catalog.ranges.entry(range).or_insert_with(|| RangeObjects {
                range,
                ..Default::default()
            });
            match parsed {
                Parsed::Range(_) => {
                    if let Some(bytes) = dest.get(&name)? {
                        entry.header = Some(RangeHeader::decode(&name, &bytes)?);
                    }
                }
                Parsed::Segment(_, first, last) => entry.segments.push((first, last)),
                Parsed::SnapshotPart(_, asn, part) => entry.snapshot_parts.push((asn, part)),
                Parsed::SnapshotDone(_, asn) => done.push((range, asn, name)),
            }
        }
        for (range, asn, name) in done {
            let Some(bytes) = dest.get(&name)? else {
                continue;
            };
            let trailer = SnapshotDone::decode(&name, &bytes)?;
            if trailer.range != range || trailer.asn != asn {
                return Err(ArchiveError::Corrupt {
                    object: name,
                    reason: format!(
                        "names range {} position {}, holds range {} position {}",
                        range, asn, trailer.range, trailer.asn
                    ),
                });
            }
            if let Some(entry) = catalog.ranges.get_mut(&range) {
                entry.snapshots.push(trailer);
            }
        }
        for entry in catalog.ranges.values_mut() {
            entry.segments.sort_unstable();
            entry.snapshots.sort_by_key(|s| s.asn);
            let complete: Vec<u64> = entry.snapshots.iter().map(|s| s.asn).collect();
            let mut incomplete: Vec<u64> = entry
                .snapshot_parts
                .iter()
                .map(|(asn, _)| *asn)
                .filter(|asn| !complete.contains(asn))
                .collect();
            incomplete.dedup();
            entry.incomplete_snapshots = incomplete;
        }
        Ok(catalog)
    }

    /// The number a new range gets: one more than any present.
    pub fn next_range(&self) -> u64 {
        self.ranges.keys().next_back().map_or(1, |r| r + 1)
    }

    /// The restorable span of every range that has a complete snapshot, oldest first. Reads
    /// each range's last segment.
    pub fn summaries(&self, dest: &Prefixed<'_>) -> Result<Vec<RangeSummary>, ArchiveError> {
        let mut out = Vec::new();
        for objects in self.ranges.values() {
            let (Some(first), Some(newest)) = (objects.snapshots.first(), objects.snapshots.last())
            else {
                continue;
            };
            let (mut last_cv, mut last_time) = (newest.commit_version, newest.time_ms);
            if let Some(tail) = objects.last_record(dest)? {
                if tail.asn > newest.asn {
                    last_time = tail.time_ms;
                    last_cv = tail.commit_version.max(last_cv);
                }
            }
            out.push(RangeSummary {
                range: objects.range,
                reason: objects
                    .header
                    .as_ref()
                    .map_or_else(|| "(range header missing)".into(), |h| h.reason.clone()),
                first_commit_version: first.commit_version,
                first_time_ms: first.time_ms,
                last_commit_version: last_cv,
                last_time_ms: last_time,
                snapshots: objects.snapshots.len(),
                segments: objects.segments.len(),
            });
        }
        Ok(out)
    }
}

/// The last log record of a range and the newest commit version in its last segment.
#[derive(Debug, Clone, Copy)]
pub struct Tail {
    /// Its position.
    pub asn: u64,
    /// The newest nonzero commit version of the last segment (0 if none).
    pub commit_version: u64,
    /// The last record's publication time.
    pub time_ms: u64,
}

impl RangeObjects {
    /// Reads the range's last segment.
    pub fn last_record(&self, dest: &Prefixed<'_>) -> Result<Option<Tail>, ArchiveError> {
        let Some(&(first, last)) = self.segments.last() else {
            return Ok(None);
        };
        let name = names::segment(self.range, first, last);
        let Some(bytes) = dest.get(&name)? else {
            return Ok(None);
        };
        let segment = Segment::decode(&name, &bytes)?;
        let Some(tail) = segment.records.last() else {
            return Ok(None);
        };
        let commit_version = segment
            .records
            .iter()
            .map(|r| r.commit_version)
            .max()
            .unwrap_or(0);
        Ok(Some(Tail {
            asn: tail.asn,
            commit_version,
            time_ms: tail.time_ms,
        }))
    }

    /// The last position shipped in the range (its last segment's, or its newest snapshot's).
    pub fn last_asn(&self) -> u64 {
        let log = self.segments.last().map_or(0, |s| s.1);
        let snap = self.snapshots.last().map_or(0, |s| s.asn);
        log.max(snap)
    }
}
