//! Continuous archiving: a pipeline subscriber that hands every published batch to an
//! archiver thread, which ships them as log segments, takes periodic snapshots and applies
//! retention.
//!
//! The subscriber ([`Feed`]) runs on the commit path, so it only appends to a bounded buffer
//! under a short lock and never waits for the destination. When the unshipped log would pass
//! `unshipped_bytes_max` it drops what it holds and marks an *overflow*: the archiver then
//! opens a new range with a new snapshot (the archive records the gap), and commits never
//! notice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::catalog::Catalog;
use super::format::{names, LogRecord, Segment};
use super::limits::{
    CLOSE_SHIP_ATTEMPTS, RETRY_BACKOFF_MS_MAX, RETRY_BACKOFF_MS_MIN, SEGMENT_BYTES_MAX,
};
use super::snapshot::{new_range, write_snapshot, BACKUP_REASON};
use super::{ArchiveConfig, ArchiveError};
use crate::pipeline::announce::{BatchEffects, Subscriber};
use crate::pipeline::Shared;

/// A published batch waiting to be shipped.
struct Pending {
    /// Counts archived batches since the database opened: 1, 2, 3, …
    seq: u64,
    commit_version: u64,
    time_ms: u64,
    batch: Arc<[u8]>,
}

#[derive(Default)]
struct Buffer {
    items: VecDeque<Pending>,
    /// Bytes of `items` plus those the archiver holds and has not shipped yet.
    bytes: u64,
    /// The `seq` the next archived batch gets.
    next_seq: u64,
    /// Batches were dropped since the archiver last opened a range.
    overflowed: bool,
    closed: bool,
}

/// The pipeline's side: takes published batches into the bounded buffer.
struct Feed {
    buffer: Mutex<Buffer>,
    wake: Condvar,
    bytes_max: u64,
}

impl Subscriber for Feed {
    fn published(&self, batches: &[&BatchEffects], now_ms: u64) {
        let mut buffer = self.buffer.lock();
        let mut full = false;
        for archived in batches.iter().flat_map(|b| b.archived.iter()) {
            let seq = buffer.next_seq;
            buffer.next_seq += 1;
            if buffer.overflowed {
                continue;
            }
            let len = archived.bytes.len() as u64;
            if buffer.bytes + len > self.bytes_max {
                // Past the bound: keep no partial stream. The new range's snapshot will hold
                // everything dropped here.
                let held: u64 = buffer.items.iter().map(|p| p.batch.len() as u64).sum();
                buffer.bytes = buffer.bytes.saturating_sub(held);
                buffer.items.clear();
                buffer.overflowed = true;
                full = true;
                continue;
            }
            buffer.bytes += len;
            buffer.items.push_back(Pending {
                seq,
                commit_version: archived.commit_version,
                time_ms: now_ms,
                batch: archived.bytes.clone(),
            });
            full |= buffer.bytes >= SEGMENT_BYTES_MAX as u64;
        }
        drop(buffer);
        if full {
            self.wake.notify_one();
        }
    }
}

/// How archiving is doing (also in the logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveStatus {
    /// The range being written (0 before the first is opened).
    pub range: u64,
    /// The last position shipped in it.
    pub shipped_asn: u64,
    /// The newest commit version shipped.
    pub shipped_commit_version: u64,
    /// Published batches not shipped yet, in bytes.
    pub unshipped_bytes: u64,
    /// Age of the oldest unshipped batch, ms (0 when all is shipped).
    pub lag_ms: u64,
    /// The largest lag of a shipment since the database opened: from the publication of its
    /// oldest batch to the end of its upload, ms.
    pub lag_ms_max: u64,
    /// Shipped batches by lag (publication to the end of its segment's upload), counted per
    /// bucket of [`LAG_BUCKETS_MS`]; the last counts the lags beyond its largest bound.
    pub lag_ms_batches: [u64; LAG_BUCKETS_MS.len() + 1],
    /// Failed attempts since the database opened.
    pub errors: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Ranges opened by this process (the first one included).
    pub ranges_opened: u64,
    /// The archive has a range this process writes to (opened or continued).
    pub started: bool,
    /// Snapshots written by this process.
    pub snapshots: u64,
}

/// Upper bounds, in ms, of the buckets that count shipped batches by lag.
pub const LAG_BUCKETS_MS: [u64; 13] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

impl ArchiveStatus {
    /// The bound of the bucket holding the `q` quantile of shipped batches' lags (an upper
    /// bound of it, ms); `None` before any batch is shipped, `u64::MAX` beyond the largest
    /// bucket.
    pub fn lag_ms_quantile(&self, q: f64) -> Option<u64> {
        let total: u64 = self.lag_ms_batches.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.lag_ms_batches.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(LAG_BUCKETS_MS.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        Some(u64::MAX)
    }
}

/// The running archiver of one database.
pub struct Archiver {
    feed: Arc<Feed>,
    status: Arc<Mutex<ArchiveStatus>>,
    thread: Option<JoinHandle<()>>,
}

impl Archiver {
    /// Subscribes to `shared`'s pipeline (before it starts, so no batch is missed) and starts
    /// the archiver thread. `commit_version` and `database_id` are the database's at open.
    pub(crate) fn start(
        shared: Arc<Shared>,
        config: ArchiveConfig,
        commit_version: u64,
        database_id: [u8; 16],
    ) -> std::io::Result<Archiver> {
        let feed = Arc::new(Feed {
            buffer: Mutex::new(Buffer {
                next_seq: 1,
                ..Default::default()
            }),
            wake: Condvar::new(),
            bytes_max: config.unshipped_bytes_max,
        });
        shared.announcer.subscribe_with_batches(feed.clone());
        let status = Arc::new(Mutex::new(ArchiveStatus::default()));
        let worker = Worker {
            shared,
            feed: feed.clone(),
            config,
            database_id,
            open_commit_version: commit_version,
            current: None,
            pending: Vec::new(),
            reason: None,
            backoff_ms: 0,
            last_snapshot: Instant::now(),
            log_bytes_since_snapshot: 0,
            status: status.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("cairn-archiver".into())
            .spawn(move || worker.run())?;
        Ok(Archiver {
            feed,
            status,
            thread: Some(thread),
        })
    }

    /// How archiving is doing.
    pub fn status(&self) -> ArchiveStatus {
        let mut status = self.status.lock().clone();
        status.unshipped_bytes = self.feed.buffer.lock().bytes;
        status
    }

    /// Ships what is left (a few attempts) and stops the thread. Called after the pipeline
    /// stopped, so every published batch is in the buffer.
    pub(crate) fn stop(mut self) {
        self.feed.buffer.lock().closed = true;
        self.feed.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The range being written.
#[derive(Debug, Clone, Copy)]
struct Current {
    range: u64,
    /// A batch's position is `asn_base + (seq - seq_base)`.
    asn_base: u64,
    seq_base: u64,
    last_asn: u64,
    last_snapshot_asn: u64,
}

struct Worker {
    shared: Arc<Shared>,
    feed: Arc<Feed>,
    config: ArchiveConfig,
    database_id: [u8; 16],
    open_commit_version: u64,
    current: Option<Current>,
    pending: Vec<Pending>,
    /// Why the next range is opened, once the stream broke in this process.
    reason: Option<String>,
    backoff_ms: u64,
    last_snapshot: Instant,
    log_bytes_since_snapshot: u64,
    status: Arc<Mutex<ArchiveStatus>>,
}

impl Worker {
    fn run(mut self) {
        let interval = Duration::from_millis(self.config.ship_interval_ms);
        let mut close_attempts = 0;
        // The archive starts as soon as it can: a restore reaches back to the first snapshot.
        if let Err(e) = self.open() {
            self.failed(&e);
        }
        loop {
            let wait = interval.max(Duration::from_millis(self.backoff_ms));
            let closing = self.take(wait);
            match self.step() {
                Ok(()) => self.backoff_ms = 0,
                Err(e) => self.failed(&e),
            }
            if closing {
                let drained = self.pending.is_empty() && self.feed.buffer.lock().items.is_empty();
                close_attempts += 1;
                if drained || close_attempts >= CLOSE_SHIP_ATTEMPTS {
                    if !drained {
                        tracing::error!(
                            destination = %self.config.destination.describe(),
                            "closing with unshipped archive log: the next start opens a new range"
                        );
                    }
                    return;
                }
            }
        }
    }

    /// Waits up to `wait` for work, then moves the buffer into `pending`. True when closing.
    fn take(&mut self, wait: Duration) -> bool {
        let mut buffer = self.feed.buffer.lock();
        // A full segment is shipped at once, unless the destination is failing: then the
        // backoff is kept, whatever waits.
        let backing_off = self.backoff_ms > 0;
        let deadline = Instant::now() + wait;
        while !buffer.closed && (backing_off || (buffer.bytes as usize) < SEGMENT_BYTES_MAX) {
            if self.feed.wake.wait_until(&mut buffer, deadline).timed_out() {
                break;
            }
        }
        if buffer.overflowed && self.current.is_some() {
            tracing::error!(
                bytes_max = self.config.unshipped_bytes_max,
                "archive destination behind by more than the local bound: dropping unshipped log; a new range with a new snapshot follows (a gap in the archive)"
            );
            let held: u64 = self.pending.iter().map(|p| p.batch.len() as u64).sum();
            buffer.bytes = buffer.bytes.saturating_sub(held);
            self.pending.clear();
            self.current = None;
            self.reason =
                Some("overflow: the destination fell behind by more than the local bound".into());
        }
        self.pending.extend(buffer.items.drain(..));
        buffer.closed
    }

    fn step(&mut self) -> Result<(), ArchiveError> {
        if self.current.is_none() {
            self.open()?;
        }
        self.ship()?;
        self.update_lag();
        let due = self.last_snapshot.elapsed()
            >= Duration::from_millis(self.config.snapshot_interval_ms)
            || self.log_bytes_since_snapshot >= self.config.snapshot_log_bytes;
        if due {
            self.snapshot()?;
            self.retain()?;
        }
        Ok(())
    }

    fn failed(&mut self, error: &ArchiveError) {
        self.backoff_ms = (self.backoff_ms * 2).clamp(RETRY_BACKOFF_MS_MIN, RETRY_BACKOFF_MS_MAX);
        let mut status = self.status.lock();
        status.errors += 1;
        status.last_error = Some(error.to_string());
        drop(status);
        self.update_lag();
        let status = self.status.lock().clone();
        tracing::warn!(
            %error,
            retry_in_ms = self.backoff_ms,
            lag_ms = status.lag_ms,
            unshipped_bytes = self.feed.buffer.lock().bytes,
            "archiving failed; retrying"
        );
    }

    fn update_lag(&self) {
        let now = self.shared.config.clock.now_ms();
        let oldest = self
            .pending
            .first()
            .map(|p| p.time_ms)
            .or_else(|| self.feed.buffer.lock().items.front().map(|p| p.time_ms));
        self.status.lock().lag_ms = oldest.map_or(0, |t| now.saturating_sub(t));
    }

    /// Continues the archive's last range if it ends where this database's log begins;
    /// otherwise opens a new range with a snapshot.
    fn open(&mut self) -> Result<(), ArchiveError> {
        let dest = self.config.prefixed();
        let catalog = Catalog::load(&dest)?;
        if self.reason.is_none() {
            match continuation(&catalog, &dest, self.database_id, self.open_commit_version)? {
                Ok(current) => {
                    tracing::info!(
                        range = current.range,
                        asn = current.last_asn,
                        "archive continues its last range"
                    );
                    self.set_current(current);
                    return Ok(());
                }
                Err(reason) => self.reason = Some(reason),
            }
        }
        let reason = self.reason.clone().unwrap_or_default();
        // Everything announced so far is in the snapshot loaded below (announcements follow
        // publication); later batches are queued behind `seq_base`.
        let seq_base = {
            let mut buffer = self.feed.buffer.lock();
            let dropped: u64 = self
                .pending
                .iter()
                .chain(buffer.items.iter())
                .map(|p| p.batch.len() as u64)
                .sum();
            buffer.bytes = buffer.bytes.saturating_sub(dropped);
            buffer.items.clear();
            buffer.overflowed = false;
            buffer.next_seq - 1
        };
        self.pending.clear();
        let snapshot = self.shared.published.load().snapshot.clone();
        let now = self.shared.config.clock.now_ms();
        let range = new_range(&dest, self.database_id, now, &reason)?;
        let done = write_snapshot(&dest, range, 0, snapshot.as_ref(), now)?;
        tracing::info!(range, commit_version = done.commit_version, %reason, "archive opened a new range");
        self.reason = Some("the stream broke".into());
        self.set_current(Current {
            range,
            asn_base: 0,
            seq_base,
            last_asn: 0,
            last_snapshot_asn: 0,
        });
        let mut status = self.status.lock();
        status.ranges_opened += 1;
        status.snapshots += 1;
        status.shipped_commit_version = done.commit_version;
        Ok(())
    }

    fn set_current(&mut self, current: Current) {
        self.current = Some(current);
        self.last_snapshot = Instant::now();
        self.log_bytes_since_snapshot = 0;
        let mut status = self.status.lock();
        status.range = current.range;
        status.started = true;
        status.shipped_asn = current.last_asn;
    }

    /// Ships `pending` in segments of at most `SEGMENT_BYTES_MAX`.
    fn ship(&mut self) -> Result<(), ArchiveError> {
        let Some(mut current) = self.current else {
            return Ok(());
        };
        let dest = self.config.prefixed();
        while !self.pending.is_empty() {
            let mut bytes = 0usize;
            let count = self
                .pending
                .iter()
                .take_while(|p| {
                    let take = bytes == 0 || bytes + p.batch.len() <= SEGMENT_BYTES_MAX;
                    bytes += p.batch.len();
                    take
                })
                .count();
            let records: Vec<LogRecord> = self.pending[..count]
                .iter()
                .map(|p| LogRecord {
                    asn: current.asn_base + (p.seq - current.seq_base),
                    commit_version: p.commit_version,
                    time_ms: p.time_ms,
                    batch: p.batch.clone(),
                })
                .collect();
            let (Some(first), Some(last)) = (records.first(), records.last()) else {
                return Ok(());
            };
            let (first, last, oldest_ms) = (first.asn, last.asn, first.time_ms);
            let newest_cv = records.iter().map(|r| r.commit_version).max().unwrap_or(0);
            let segment = Segment {
                database_id: self.database_id,
                range: current.range,
                records,
            };
            dest.put(
                &names::segment(current.range, first, last),
                &segment.encode(),
            )?;
            let now_ms = self.shared.config.clock.now_ms();
            let mut lags = [0u64; LAG_BUCKETS_MS.len() + 1];
            let mut shipped = 0u64;
            for p in self.pending.drain(..count) {
                shipped += p.batch.len() as u64;
                let lag = now_ms.saturating_sub(p.time_ms);
                lags[LAG_BUCKETS_MS.partition_point(|&bound| bound < lag)] += 1;
            }
            let mut buffer = self.feed.buffer.lock();
            buffer.bytes = buffer.bytes.saturating_sub(shipped);
            drop(buffer);
            self.log_bytes_since_snapshot += shipped;
            current.last_asn = last;
            self.current = Some(current);
            let mut status = self.status.lock();
            status.shipped_asn = last;
            status.lag_ms_max = status.lag_ms_max.max(now_ms.saturating_sub(oldest_ms));
            for (total, n) in status.lag_ms_batches.iter_mut().zip(lags) {
                *total += n;
            }
            status.shipped_commit_version = status.shipped_commit_version.max(newest_cv);
        }
        Ok(())
    }

    /// A snapshot of the published state, positioned after every batch announced so far.
    fn snapshot(&mut self) -> Result<(), ArchiveError> {
        let Some(mut current) = self.current else {
            return Ok(());
        };
        let seq_now = self.feed.buffer.lock().next_seq - 1;
        let asn = current.asn_base + seq_now.saturating_sub(current.seq_base);
        if asn == current.last_snapshot_asn {
            self.last_snapshot = Instant::now();
            return Ok(());
        }
        let snapshot = self.shared.published.load().snapshot.clone();
        let now = self.shared.config.clock.now_ms();
        write_snapshot(
            &self.config.prefixed(),
            current.range,
            asn,
            snapshot.as_ref(),
            now,
        )?;
        current.last_snapshot_asn = asn;
        self.current = Some(current);
        self.last_snapshot = Instant::now();
        self.log_bytes_since_snapshot = 0;
        self.status.lock().snapshots += 1;
        Ok(())
    }

    /// Removes snapshots past retention, the log only they needed, and whole old ranges.
    fn retain(&self) -> Result<(), ArchiveError> {
        let Some(current) = self.current else {
            return Ok(());
        };
        let dest = self.config.prefixed();
        let catalog = Catalog::load(&dest)?;
        let now = self.shared.config.clock.now_ms();
        let plan = super::retention::plan(
            &catalog,
            current.range,
            now,
            self.config.retention_snapshots,
            self.config.retention_ms,
        );
        for name in plan {
            dest.delete(&name)?;
        }
        Ok(())
    }
}

/// The range to continue, if the archive's last range ends exactly at `commit_version` of
/// the same database; else why not.
fn continuation(
    catalog: &Catalog,
    dest: &super::Prefixed<'_>,
    database_id: [u8; 16],
    commit_version: u64,
) -> Result<Result<Current, String>, ArchiveError> {
    // Ranges `cairn backup` opened hold one snapshot and no log: the stream is elsewhere.
    let Some(last) = catalog
        .ranges
        .values()
        .rev()
        .find(|r| r.header.as_ref().is_none_or(|h| h.reason != BACKUP_REASON))
    else {
        return Ok(Err("first archive of this database".into()));
    };
    let Some(newest) = last.snapshots.last() else {
        return Ok(Err(format!(
            "range {} has no complete snapshot",
            last.range
        )));
    };
    if newest.database_id != database_id {
        return Ok(Err("the archive's last range is of another database".into()));
    }
    let tail = last.last_record(dest)?;
    let shipped_cv = tail
        .map_or(0, |t| t.commit_version)
        .max(newest.commit_version);
    if shipped_cv != commit_version {
        return Ok(Err(format!(
            "restart: the archive ends at commit version {shipped_cv}, the database is at {commit_version} (batches committed but not shipped before the restart)"
        )));
    }
    let last_asn = last.last_asn();
    Ok(Ok(Current {
        range: last.range,
        asn_base: last_asn,
        seq_base: 0,
        last_asn,
        last_snapshot_asn: newest.asn,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_quantile_is_the_bound_of_its_bucket() {
        let mut status = ArchiveStatus::default();
        assert_eq!(status.lag_ms_quantile(0.99), None);
        // 98 batches within 100 ms, one within 500 ms, one past every bound.
        status.lag_ms_batches[6] = 98;
        status.lag_ms_batches[8] = 1;
        status.lag_ms_batches[LAG_BUCKETS_MS.len()] = 1;
        assert_eq!(status.lag_ms_quantile(0.5), Some(100));
        assert_eq!(status.lag_ms_quantile(0.99), Some(500));
        assert_eq!(status.lag_ms_quantile(1.0), Some(u64::MAX));
        assert_eq!(status.lag_ms_quantile(0.0), Some(100));
    }
}
