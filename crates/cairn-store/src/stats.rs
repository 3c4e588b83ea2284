//! What a database has been doing: counters, gauges and latency histograms that the commit and
//! read paths keep with relaxed atomics, read whole through [`Database::stats`].
//!
//! This module knows no exposition format: the server turns a [`StatsSnapshot`] into
//! Prometheus metrics at scrape time, `cairn stats` into a summary. What follows batches
//! (writes per batch, expired keys removed) comes from the pipeline's announcements
//! (`pipeline/announce.rs`); only what must be measured where it happens is recorded in
//! place: the duration of the durable sync (writer), a commit from submission to answer and
//! reads (the `Database` methods). Each record is a clock read and a few uncontended atomic
//! adds; with `Config::stats(false)` not even that. Reads are counted one by one but timed one
//! in [`READ_TIMING_SAMPLE`]: a point read costs a few thousand instructions, and two clock
//! reads and a histogram update on each were 4.5% of them (`bench/instructions.sh`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cairn_model::{AtomicWrite, CommitResult, MutationKind};

use crate::error::{Result, StoreError};
use crate::pipeline::announce::{BatchEffects, Subscriber};
use crate::storage::Keyspace;
use crate::Database;

/// Upper bounds of the latency buckets, in nanoseconds: 25 µs to 10 s, about ×2 apart (an
/// fsync here takes ~200 µs; a commit under load a few ms; a stalled disk seconds).
pub const LATENCY_BUCKETS_NS: [u64; 16] = [
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// Upper bounds of the writes-per-batch buckets: powers of two up to the batch bound.
pub const BATCH_WRITES_BUCKETS: [u64; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
const _: () = assert!(
    BATCH_WRITES_BUCKETS[BATCH_WRITES_BUCKETS.len() - 1]
        >= crate::limits::COMMIT_BATCH_WRITES_MAX as u64
);

/// Reads of each kind are timed one in this many (the first, then every this-many-th); all
/// are counted. A histogram of a regular sample keeps the distribution's shape.
pub const READ_TIMING_SAMPLE: u64 = 8;

/// A fixed-bucket histogram of `u64` observations; lock-free, safe to share between threads.
pub(crate) struct Histogram {
    bounds: &'static [u64],
    /// One count per bound, then the overflow bucket (+Inf).
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [u64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Counts `value` in the first bucket whose bound is at least `value`.
    pub(crate) fn record(&self, value: u64) {
        let bucket = self.bounds.partition_point(|&bound| bound < value);
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Records the time since `started`, in nanoseconds.
    pub(crate) fn record_since(&self, started: Instant) {
        self.record(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A histogram read at one moment. Values are in the unit its field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Upper bound (inclusive) of each bucket but the last, ascending.
    pub bounds: &'static [u64],
    /// Observations per bucket (not cumulative): one per bound, then those above every bound.
    pub counts: Vec<u64>,
    /// Sum of every observation (wraps only after ~584 years of nanoseconds).
    pub sum: u64,
}

impl HistogramSnapshot {
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile (0..=1) estimated as Prometheus's `histogram_quantile` does: linear
    /// within the bucket that holds it. `None` without observations; the largest bound when
    /// it lies in the overflow bucket.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &count) in self.counts.iter().enumerate() {
            if count > 0 && (below + count) as f64 >= rank {
                let Some(&upper) = self.bounds.get(i) else {
                    return self.bounds.last().map(|&b| b as f64);
                };
                let lower = i.checked_sub(1).and_then(|j| self.bounds.get(j)).copied();
                let lower = lower.unwrap_or(0) as f64;
                let within = (rank - below as f64) / count as f64;
                return Some(lower + (upper as f64 - lower) * within);
            }
            below += count;
        }
        self.bounds.last().map(|&b| b as f64)
    }
}

/// How an atomic write ended, as counted by `cairn_commits_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitOutcome {
    /// Committed: durable and visible.
    Committed,
    /// A check did not hold; nothing was written.
    CheckFailed,
    /// Refused: a bound, a failed mutation, a closed database, an overloaded pipeline.
    Rejected,
    /// The database is poisoned: the write may or may not be on disk.
    Poisoned,
}

impl CommitOutcome {
    /// Every outcome, in the order of [`StatsSnapshot::commits`].
    pub const ALL: [CommitOutcome; 4] = [
        CommitOutcome::Committed,
        CommitOutcome::CheckFailed,
        CommitOutcome::Rejected,
        CommitOutcome::Poisoned,
    ];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            CommitOutcome::Committed => "committed",
            CommitOutcome::CheckFailed => "check_failed",
            CommitOutcome::Rejected => "rejected",
            CommitOutcome::Poisoned => "poisoned",
        }
    }

    fn of(answer: &Result<CommitResult>) -> Self {
        match answer {
            Ok(CommitResult::Committed { .. }) => CommitOutcome::Committed,
            Ok(_) => CommitOutcome::CheckFailed,
            Err(error) => CommitOutcome::of_error(error),
        }
    }

    fn of_error(error: &StoreError) -> Self {
        match error.root() {
            StoreError::Poisoned(_) => CommitOutcome::Poisoned,
            _ => CommitOutcome::Rejected,
        }
    }
}

/// A kind of read, as labelled in `cairn_read_duration_seconds{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadKind {
    /// `get`: one key.
    Get,
    /// `get_many`: several keys from one snapshot.
    GetMany,
    /// Opening a listing (its later pages are not timed).
    List,
    /// KV Connect's snapshot read: several ranges from one snapshot.
    SnapshotRead,
}

impl ReadKind {
    /// Every kind, in the order of [`StatsSnapshot::reads`].
    pub const ALL: [ReadKind; 4] = [
        ReadKind::Get,
        ReadKind::GetMany,
        ReadKind::List,
        ReadKind::SnapshotRead,
    ];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            ReadKind::Get => "get",
            ReadKind::GetMany => "get_many",
            ReadKind::List => "list",
            ReadKind::SnapshotRead => "snapshot_read",
        }
    }
}

/// The live counters of one database (in `pipeline::Shared`).
pub(crate) struct Stats {
    enabled: bool,
    commits: [AtomicU64; 4],
    commit_latency: Histogram,
    commits_in_flight: AtomicU64,
    commit_bytes_in_flight: AtomicU64,
    sync: Histogram,
    batch_writes: Histogram,
    batches: AtomicU64,
    expired_keys: AtomicU64,
    reads: [Histogram; 4],
    reads_total: [AtomicU64; 4],
}

impl Stats {
    pub(crate) fn new(enabled: bool) -> Self {
        Stats {
            enabled,
            commits: Default::default(),
            commit_latency: Histogram::new(&LATENCY_BUCKETS_NS),
            commits_in_flight: AtomicU64::new(0),
            commit_bytes_in_flight: AtomicU64::new(0),
            sync: Histogram::new(&LATENCY_BUCKETS_NS),
            batch_writes: Histogram::new(&BATCH_WRITES_BUCKETS),
            batches: AtomicU64::new(0),
            expired_keys: AtomicU64::new(0),
            reads: ReadKind::ALL.map(|_| Histogram::new(&LATENCY_BUCKETS_NS)),
            reads_total: Default::default(),
        }
    }

    /// Times a durable sync of the transaction log (the writer's `fdatasync`).
    pub(crate) fn time_sync<T>(&self, sync: impl FnOnce() -> T) -> T {
        if !self.enabled {
            return sync();
        }
        let started = Instant::now();
        let result = sync();
        self.sync.record_since(started);
        result
    }

    /// A write that broke a bound, refused before it reached the pipeline.
    pub(crate) fn commit_rejected(&self) {
        if self.enabled {
            self.count_commit(CommitOutcome::Rejected);
        }
    }

    /// A refusal before the write reached the pipeline (a poisoned database).
    pub(crate) fn commit_refused(&self, error: &StoreError) {
        if self.enabled {
            self.count_commit(CommitOutcome::of_error(error));
        }
    }

    /// A write submitted to the pipeline; the guard records its answer (or its abandonment).
    pub(crate) fn commit_submitted(&self, write: &AtomicWrite) -> CommitGuard<'_> {
        if !self.enabled {
            return CommitGuard {
                stats: self,
                started: None,
                bytes: 0,
            };
        }
        let bytes = write_bytes(write);
        self.commits_in_flight.fetch_add(1, Ordering::Relaxed);
        self.commit_bytes_in_flight
            .fetch_add(bytes, Ordering::Relaxed);
        CommitGuard {
            stats: self,
            started: Some(Instant::now()),
            bytes,
        }
    }

    fn count_commit(&self, outcome: CommitOutcome) {
        let i = CommitOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        if let Some(counter) = self.commits.get(i) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one read of `kind` and, one in [`READ_TIMING_SAMPLE`], times it until the
    /// guard drops.
    pub(crate) fn read(&self, kind: ReadKind) -> ReadGuard<'_> {
        if !self.enabled {
            return ReadGuard { timing: None };
        }
        let i = kind as usize;
        let n = self.reads_total[i].fetch_add(1, Ordering::Relaxed);
        ReadGuard {
            timing: n
                .is_multiple_of(READ_TIMING_SAMPLE)
                .then(|| (&self.reads[i], Instant::now())),
        }
    }
}

/// A commit on its way through the pipeline; see [`Stats::commit_submitted`].
pub(crate) struct CommitGuard<'a> {
    stats: &'a Stats,
    started: Option<Instant>,
    bytes: u64,
}

impl CommitGuard<'_> {
    /// Counts the answer and its latency since submission, and hands the answer on.
    pub(crate) fn answered(self, answer: Result<CommitResult>) -> Result<CommitResult> {
        if let Some(started) = self.started {
            self.stats.commit_latency.record_since(started);
            self.stats.count_commit(CommitOutcome::of(&answer));
        }
        answer
    }
}

impl Drop for CommitGuard<'_> {
    fn drop(&mut self) {
        if self.started.is_some() {
            self.stats.commits_in_flight.fetch_sub(1, Ordering::Relaxed);
            self.stats
                .commit_bytes_in_flight
                .fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

/// A read being timed; see [`Stats::read`].
pub(crate) struct ReadGuard<'a> {
    /// The histogram and the start, when counting is on (off, not even the clock is read).
    timing: Option<(&'a Histogram, Instant)>,
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        if let Some((histogram, started)) = self.timing {
            histogram.record_since(started);
        }
    }
}

/// Batches follow from the pipeline's announcements, not from calls in the writer.
impl Subscriber for Stats {
    fn published(&self, batches: &[&BatchEffects], _now_ms: u64) {
        if !self.enabled {
            return;
        }
        self.batches
            .fetch_add(batches.len() as u64, Ordering::Relaxed);
        for batch in batches {
            if batch.writes > 0 {
                self.batch_writes.record(batch.writes);
            }
            if batch.expired_keys > 0 {
                self.expired_keys
                    .fetch_add(batch.expired_keys, Ordering::Relaxed);
            }
        }
    }
}

/// The payload bytes of a write (keys, values, queue payloads): what it asks the pipeline
/// to carry.
fn write_bytes(write: &AtomicWrite) -> u64 {
    let checks: usize = write.checks.iter().map(|c| c.key.len()).sum();
    let mutations: usize = write
        .mutations
        .iter()
        .map(|m| {
            let value = match &m.kind {
                MutationKind::Sum { value, .. } => value.byte_len(),
                other => other.value().map_or(0, |v| v.byte_len()),
            };
            m.key.len() + value
        })
        .sum();
    let enqueues: usize = write.enqueues.iter().map(|e| e.payload.len()).sum();
    (checks + mutations + enqueues) as u64
}

/// What a database has done since it was opened, and how it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Whether counting is on (`Config::stats`); when off, every count stays zero.
    pub enabled: bool,
    /// Atomic writes answered, by outcome, in the order of [`CommitOutcome::ALL`].
    pub commits: [u64; 4],
    /// From submission to the pipeline to the answer, in nanoseconds.
    pub commit_latency_ns: HistogramSnapshot,
    /// Requests waiting for the evaluator (the sequencer's queue).
    pub commit_queue_depth: u64,
    /// Atomic writes submitted and not yet answered.
    pub commits_in_flight: u64,
    /// Their payload bytes (keys, values, queue payloads).
    pub commit_bytes_in_flight: u64,
    /// Durable syncs of the transaction log, in nanoseconds.
    pub sync_ns: HistogramSnapshot,
    /// Requests per published batch that asked for an answer (writes, queue settlements).
    pub batch_writes: HistogramSnapshot,
    /// Batches published (durable and visible).
    pub batches: u64,
    /// Expired keys the sweeper removed.
    pub expired_keys_swept: u64,
    /// Read latency by kind, in nanoseconds, in the order of [`ReadKind::ALL`]: one read in
    /// [`READ_TIMING_SAMPLE`] (their count is not the number of reads; see `reads_total`).
    pub reads_ns: [HistogramSnapshot; 4],
    /// Reads by kind, every one, in the order of [`ReadKind::ALL`].
    pub reads_total: [u64; 4],
    /// Why the database refuses writes, once poisoned.
    pub poisoned: Option<String>,
}

impl StatsSnapshot {
    /// Count of answered atomic writes with `outcome`.
    pub fn commits(&self, outcome: CommitOutcome) -> u64 {
        let i = CommitOutcome::ALL.iter().position(|o| *o == outcome);
        i.and_then(|i| self.commits.get(i)).copied().unwrap_or(0)
    }

    /// The latency histogram of the timed sample of reads of `kind`.
    pub fn reads(&self, kind: ReadKind) -> &HistogramSnapshot {
        &self.reads_ns[kind as usize]
    }

    /// Reads of `kind`, all of them.
    pub fn reads_total(&self, kind: ReadKind) -> u64 {
        self.reads_total[kind as usize]
    }
}

impl Database {
    /// Counters and histograms of this database, read now (cheap: a few hundred atomic loads).
    pub fn stats(&self) -> StatsSnapshot {
        let shared = self.shared();
        let stats = &shared.stats;
        StatsSnapshot {
            enabled: stats.enabled,
            commits: std::array::from_fn(|i| {
                stats
                    .commits
                    .get(i)
                    .map_or(0, |c| c.load(Ordering::Relaxed))
            }),
            commit_latency_ns: stats.commit_latency.snapshot(),
            commit_queue_depth: self.commit_queue_depth(),
            commits_in_flight: stats.commits_in_flight.load(Ordering::Relaxed),
            commit_bytes_in_flight: stats.commit_bytes_in_flight.load(Ordering::Relaxed),
            sync_ns: stats.sync.snapshot(),
            batch_writes: stats.batch_writes.snapshot(),
            batches: stats.batches.load(Ordering::Relaxed),
            expired_keys_swept: stats.expired_keys.load(Ordering::Relaxed),
            reads_ns: std::array::from_fn(|i| stats.reads[i].snapshot()),
            reads_total: std::array::from_fn(|i| stats.reads_total[i].load(Ordering::Relaxed)),
            poisoned: self.poisoned().map(|e| match e.root() {
                StoreError::Poisoned(cause) => cause.reason.clone(),
                other => other.to_string(),
            }),
        }
    }

    /// Keys in the data keyspace, as the engine estimates them (expired keys not yet swept
    /// count; for a directory, fjall's estimate from its tables).
    pub fn approximate_key_count(&self) -> Result<u64> {
        Ok(self.shared().storage.approximate_len(Keyspace::Data)?)
    }
}

/// Bytes of every file under `dir` (a database directory): its size on disk.
pub fn dir_size_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += dir_size_bytes(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_each_value_in_the_first_bucket_that_holds_it() {
        static BOUNDS: [u64; 3] = [10, 20, 40];
        let h = Histogram::new(&BOUNDS);
        for v in [0, 10, 11, 20, 40, 41, u64::MAX / 2] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.counts, vec![2, 2, 1, 2]);
        assert_eq!(s.count(), 7);
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        static BOUNDS: [u64; 2] = [100, 200];
        let s = HistogramSnapshot {
            bounds: &BOUNDS,
            counts: vec![0, 4, 0],
            sum: 600,
        };
        assert_eq!(s.quantile(0.5), Some(150.0));
        assert_eq!(s.quantile(1.0), Some(200.0));
        let empty = HistogramSnapshot {
            counts: vec![0, 0, 0],
            ..s.clone()
        };
        assert_eq!(empty.quantile(0.5), None);
        let overflow = HistogramSnapshot {
            counts: vec![0, 0, 3],
            ..s
        };
        assert_eq!(overflow.quantile(0.99), Some(200.0));
    }

    #[test]
    fn outcomes_classify_answers() {
        let committed = Ok(CommitResult::Committed {
            versionstamp: cairn_model::Versionstamp::new(1, 0),
        });
        assert_eq!(CommitOutcome::of(&committed), CommitOutcome::Committed);
        assert_eq!(
            CommitOutcome::of(&Err(StoreError::Poisoned(crate::error::PoisonCause {
                reason: "x".into(),
                kind: None,
            }))),
            CommitOutcome::Poisoned
        );
        let refused = StoreError::Poisoned(crate::error::PoisonCause {
            reason: "x".into(),
            kind: None,
        });
        assert_eq!(
            CommitOutcome::of(&Err(refused.not_applied())),
            CommitOutcome::Poisoned,
            "a refusal before submission is still a poisoned database"
        );
        assert_eq!(
            CommitOutcome::of(&Err(StoreError::Closed)),
            CommitOutcome::Rejected
        );
    }
}
