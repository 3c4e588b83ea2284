//! The replication stream: the batches a database made durable, kept in memory for replicas.
//!
//! The pipeline appends each storage batch once it is durable here and *before* it is
//! published or answered ([`crate::pipeline`]'s completion), so a replica can have a batch
//! durable before its writer hears back: that is what makes synchronous replication
//! possible. Only durable batches go in: a batch a failed sync may have lost is never sent,
//! so a replica never holds a batch its primary could lose.
//!
//! The log keeps the newest batches up to `retained_bytes_max`. A replica that asks for a
//! position older than that catches up from the archive instead ([`ReadError::NotRetained`]).
//! Appending never waits: readers copy out `Arc`s under a short lock.

use std::collections::VecDeque;

use parking_lot::Mutex;

use super::history::StreamPosition;
use crate::archive::format::LogRecord;

/// One batch of the stream: its record as the archive lays it out (`asn` is the stream
/// position) and the epoch of the primary that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// The epoch of the primary that wrote the batch.
    pub epoch: u64,
    /// Position (`asn`), commit version, time and the storage batch.
    pub record: LogRecord,
}

impl StreamRecord {
    /// Where the batch stands.
    pub fn position(&self) -> StreamPosition {
        StreamPosition {
            epoch: self.epoch,
            position: self.record.asn,
        }
    }
}

/// Why a read of the stream found nothing to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The position asked for is older than what the log retains (or, for an empty
    /// replica, the database did not start empty in this process): catch up from the archive.
    NotRetained {
        /// The oldest position a replica can continue from.
        oldest: u64,
    },
}

struct Inner {
    records: VecDeque<StreamRecord>,
    bytes: u64,
    /// The position before the first retained record: replicas at it or later can continue.
    base: u64,
    /// The newest position appended.
    newest: StreamPosition,
}

/// A database's retained stream.
pub struct StreamLog {
    inner: Mutex<Inner>,
    /// The newest position, for streams waiting for more.
    newest_tx: tokio::sync::watch::Sender<u64>,
    retained_bytes_max: u64,
    /// The database was empty at `base` (it was created in this process): an empty replica
    /// may start from position 0.
    starts_empty: bool,
}

impl StreamLog {
    /// A log continuing after `at`, keeping about `retained_bytes_max` bytes of batches.
    /// `starts_empty`: the database holds nothing but what batches after `at` write.
    pub(crate) fn new(at: StreamPosition, retained_bytes_max: u64, starts_empty: bool) -> Self {
        StreamLog {
            inner: Mutex::new(Inner {
                records: VecDeque::new(),
                bytes: 0,
                base: at.position,
                newest: at,
            }),
            newest_tx: tokio::sync::watch::Sender::new(at.position),
            retained_bytes_max,
            starts_empty,
        }
    }

    /// Appends durable batches, in order (the pipeline's completion calls this).
    pub(crate) fn append(&self, records: impl IntoIterator<Item = StreamRecord>) {
        let mut inner = self.inner.lock();
        let mut newest = None;
        for record in records {
            debug_assert_eq!(
                record.record.asn,
                inner.newest.position + 1,
                "the stream skips or repeats a position"
            );
            inner.newest = record.position();
            newest = Some(record.record.asn);
            inner.bytes += record.record.batch.len() as u64;
            inner.records.push_back(record);
        }
        while inner.bytes > self.retained_bytes_max && inner.records.len() > 1 {
            if let Some(old) = inner.records.pop_front() {
                inner.bytes -= old.record.batch.len() as u64;
                inner.base = old.record.asn;
            }
        }
        drop(inner);
        if let Some(position) = newest {
            self.newest_tx.send_replace(position);
        }
    }

    /// The newest position appended.
    pub fn newest(&self) -> StreamPosition {
        self.inner.lock().newest
    }

    /// Waits for positions after the one seen last (`Receiver::changed`).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.newest_tx.subscribe()
    }

    /// Whether a replica at `after` can continue from this log; `empty`: the replica holds
    /// nothing yet (an empty database at position 0).
    pub fn check(&self, after: u64, empty: bool) -> Result<(), ReadError> {
        let inner = self.inner.lock();
        let needs_data = after == 0 && empty && !self.starts_empty;
        if after < inner.base || needs_data {
            return Err(ReadError::NotRetained { oldest: inner.base });
        }
        Ok(())
    }

    /// Records after position `after`, in order, up to about `bytes_max` bytes (at least one
    /// when there is one).
    pub fn read(&self, after: u64, bytes_max: usize) -> Result<Vec<StreamRecord>, ReadError> {
        self.check(after, false)?;
        let inner = self.inner.lock();
        let Some(first) = inner.records.front().map(|r| r.record.asn) else {
            return Ok(Vec::new());
        };
        let skip =
            usize::try_from(after.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        let mut bytes = 0usize;
        let out = inner
            .records
            .iter()
            .skip(skip)
            .take_while(|r| {
                let take = bytes == 0 || bytes + r.record.batch.len() <= bytes_max;
                bytes += r.record.batch.len();
                take
            })
            .cloned()
            .collect();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(asn: u64, len: usize) -> StreamRecord {
        StreamRecord {
            epoch: 0,
            record: LogRecord {
                asn,
                commit_version: asn,
                time_ms: 0,
                batch: vec![0u8; len].into(),
            },
        }
    }

    fn positions(records: &[StreamRecord]) -> Vec<u64> {
        records.iter().map(|r| r.record.asn).collect()
    }

    #[test]
    fn reads_continue_from_any_retained_position() {
        let log = StreamLog::new(StreamPosition::default(), 1000, true);
        log.append((1..=5).map(|p| record(p, 10)));
        assert_eq!(
            positions(&log.read(0, 1 << 20).unwrap_or_default()),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(positions(&log.read(3, 1 << 20).unwrap_or_default()), [4, 5]);
        assert_eq!(
            positions(&log.read(5, 1 << 20).unwrap_or_default()),
            Vec::<u64>::new()
        );
        assert_eq!(
            positions(&log.read(0, 15).unwrap_or_default()),
            [1],
            "bytes bound"
        );
    }

    #[test]
    fn old_positions_fall_out_and_are_refused() {
        let log = StreamLog::new(StreamPosition::default(), 25, true);
        log.append((1..=5).map(|p| record(p, 10)));
        // 25 bytes keep two batches of 10: 4 and 5.
        assert_eq!(
            log.read(2, 1 << 20),
            Err(ReadError::NotRetained { oldest: 3 })
        );
        assert_eq!(positions(&log.read(3, 1 << 20).unwrap_or_default()), [4, 5]);
    }

    #[test]
    fn an_empty_replica_needs_a_database_that_started_empty_here() {
        let at = StreamPosition {
            epoch: 0,
            position: 7,
        };
        let log = StreamLog::new(at, 1000, false);
        log.append([record(8, 1)]);
        assert_eq!(log.read(0, 100), Err(ReadError::NotRetained { oldest: 7 }));
        assert_eq!(positions(&log.read(7, 100).unwrap_or_default()), [8]);
        // Reopened with data but at position 0 (written before positions existed): an empty
        // replica cannot start from it, one restored from the archive can.
        let old = StreamLog::new(StreamPosition::default(), 1000, false);
        assert_eq!(
            old.check(0, true),
            Err(ReadError::NotRetained { oldest: 0 })
        );
        assert_eq!(old.check(0, false), Ok(()));
    }
}
