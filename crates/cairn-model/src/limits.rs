//! The data model's bounds: [`Limits`], what a database enforces on requests (its defaults
//! equal what the Deno runtime accepts, kv-connect.md §6; a database may be configured more
//! generously), and the defaults of the model's own options (list batches, queue retries and
//! listeners). Each layer keeps the bounds it owns in a `limits.rs` of its own: the engine's
//! in cairn-store, the server's in cairn-server, the protocol's in cairn-proto, the network
//! client's in cairn-client.

use crate::atomic::Enqueue;
use crate::codec::decode_key;

/// Default number of entries a list fetches from storage per batch.
pub const LIST_BATCH_SIZE_DEFAULT: usize = 100;

/// Deno's default retry schedule of a queue message, in milliseconds: a message is delivered
/// at most once more than the schedule has intervals, then dead-lettered.
pub const QUEUE_BACKOFF_SCHEDULE_DEFAULT_MS: [u32; 5] = [100, 1000, 5000, 30_000, 60_000];
/// Longest lease a consumer may take on a queue message, in milliseconds (12 hours, as SQS).
/// A longer lease would hide a vanished consumer's message for longer than anyone waits.
pub const QUEUE_VISIBILITY_TIMEOUT_MS_MAX: u64 = 12 * 60 * 60 * 1000;
/// Most concurrent handlers of one `listen_queue`: each holds a lease, so this is at most a
/// fraction of `cairn_store::limits::QUEUE_LEASES_MAX` (asserted there).
pub const QUEUE_LISTEN_CONCURRENCY_MAX: usize = 1024;
/// Concurrent handlers of `listen_queue` when not configured.
pub const QUEUE_LISTEN_CONCURRENCY_DEFAULT: usize = 16;
/// Lease of a message handed to a `listen_queue` handler when not configured, in ms: long
/// enough for ordinary handlers, short enough that a hung handler's message is retried.
pub const QUEUE_LISTEN_VISIBILITY_TIMEOUT_MS_DEFAULT: u64 = 5 * 60 * 1000;

/// Longest index name, in bytes (it is the first part of every index entry's key).
pub const INDEX_NAME_BYTES_MAX: usize = 64;
/// Most fields one index combines.
pub const INDEX_FIELDS_MAX: usize = 4;
/// Longest field path of an index (`a.b.c`), in bytes.
pub const INDEX_FIELD_BYTES_MAX: usize = 256;

const _: () = assert!(QUEUE_LISTEN_CONCURRENCY_DEFAULT <= QUEUE_LISTEN_CONCURRENCY_MAX);
const _: () =
    assert!(QUEUE_LISTEN_VISIBILITY_TIMEOUT_MS_DEFAULT <= QUEUE_VISIBILITY_TIMEOUT_MS_MAX);

/// Bounds on requests, enforced before anything enters the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest encoded key in a write.
    pub key_bytes_max: usize,
    /// Largest range bound in a read (one more than a key, for the `0x00`/`0xFF` suffix).
    pub range_key_bytes_max: usize,
    /// Largest value, and largest enqueue payload.
    pub value_bytes_max: usize,
    /// Most ranges in one snapshot read.
    pub ranges_per_read_max: usize,
    /// Most entries one snapshot read returns (sum of its range limits).
    pub entries_per_read_max: usize,
    /// Most keys in one `get_many`.
    pub get_many_keys_max: usize,
    /// Most checks in one atomic write.
    pub checks_per_write_max: usize,
    /// Most mutations plus enqueues in one atomic write.
    pub mutations_per_write_max: usize,
    /// Largest atomic write: keys + values + undelivered keys + 4 × backoff entries.
    pub write_bytes_max: usize,
    /// Most key bytes in one atomic write.
    pub write_key_bytes_max: usize,
    /// Most keys in one watch.
    pub watch_keys_max: usize,
    /// Most `keys_if_undelivered` per enqueue.
    pub keys_if_undelivered_max: usize,
    /// Most intervals in a backoff schedule.
    pub backoff_intervals_max: usize,
    /// Longest single backoff interval, in milliseconds.
    pub backoff_interval_ms_max: u32,
    /// Furthest in the future a message may be scheduled, in milliseconds.
    pub enqueue_delay_ms_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            key_bytes_max: 2048,
            range_key_bytes_max: 2049,
            value_bytes_max: 65_536,
            ranges_per_read_max: 10,
            entries_per_read_max: 1000,
            get_many_keys_max: 10,
            checks_per_write_max: 100,
            mutations_per_write_max: 1000,
            write_bytes_max: 819_200,
            write_key_bytes_max: 81_920,
            watch_keys_max: 10,
            keys_if_undelivered_max: 10,
            backoff_intervals_max: 10,
            backoff_interval_ms_max: 3_600_000,
            enqueue_delay_ms_max: 30 * 24 * 60 * 60 * 1000,
        }
    }
}

/// A request outside the bounds. Every message says which bound and by how much.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[expect(
    missing_docs,
    reason = "the fields are the size or count found and the bound it broke"
)]
pub enum LimitError {
    /// Key larger than allowed.
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge { len: usize, max: usize },
    /// Empty key in a write.
    #[error("key cannot be empty")]
    EmptyKey,
    /// Key bytes that are not a valid tuple encoding.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// Value larger than allowed.
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge { len: usize, max: usize },
    /// Too many checks.
    #[error("too many checks: {count} (at most {max})")]
    TooManyChecks { count: usize, max: usize },
    /// Too many mutations and enqueues.
    #[error("too many mutations: {count} (at most {max}, enqueues included)")]
    TooManyMutations { count: usize, max: usize },
    /// Atomic write too large in total.
    #[error("total atomic write size of {len} bytes exceeds the limit of {max} bytes")]
    WriteTooLarge { len: usize, max: usize },
    /// Too many key bytes in one atomic write.
    #[error("total key size of {len} bytes in one atomic write exceeds the limit of {max} bytes")]
    WriteKeysTooLarge { len: usize, max: usize },
    /// Too many ranges in one read.
    #[error("too many ranges: {count} (at most {max})")]
    TooManyRanges { count: usize, max: usize },
    /// Too many entries requested by one read.
    #[error("too many entries requested: {count} (at most {max})")]
    TooManyEntries { count: usize, max: usize },
    /// Too many keys in a get_many or watch.
    #[error("too many keys: {count} (at most {max})")]
    TooManyKeys { count: usize, max: usize },
    /// Too many `keys_if_undelivered`.
    #[error("too many keys_if_undelivered: {count} (at most {max})")]
    TooManyUndeliveredKeys { count: usize, max: usize },
    /// Backoff schedule too long, or an interval too large.
    #[error("invalid backoff schedule: {0}")]
    BackoffSchedule(String),
    /// Enqueue scheduled too far in the future.
    #[error("enqueue delay of {delay_ms} ms exceeds the limit of {max_ms} ms")]
    DelayTooLong { delay_ms: u64, max_ms: u64 },
}

impl Limits {
    /// Checks the counts of an atomic write.
    pub fn check_write_shape(&self, checks: usize, mutations: usize) -> Result<(), LimitError> {
        if checks > self.checks_per_write_max {
            return Err(LimitError::TooManyChecks {
                count: checks,
                max: self.checks_per_write_max,
            });
        }
        if mutations > self.mutations_per_write_max {
            return Err(LimitError::TooManyMutations {
                count: mutations,
                max: self.mutations_per_write_max,
            });
        }
        Ok(())
    }

    /// Checks one key of a write: non-empty, within the size bound, and decodable.
    pub fn check_write_key(&self, key: &[u8]) -> Result<(), LimitError> {
        if key.is_empty() {
            return Err(LimitError::EmptyKey);
        }
        if key.len() > self.key_bytes_max {
            return Err(LimitError::KeyTooLarge {
                len: key.len(),
                max: self.key_bytes_max,
            });
        }
        decode_key(key).map_err(|e| LimitError::MalformedKey(e.to_string()))?;
        Ok(())
    }

    /// Checks one range bound of a read (size only: bounds need not be whole keys).
    pub fn check_range_key(&self, key: &[u8]) -> Result<(), LimitError> {
        if key.len() > self.range_key_bytes_max {
            return Err(LimitError::KeyTooLarge {
                len: key.len(),
                max: self.range_key_bytes_max,
            });
        }
        Ok(())
    }

    /// Checks one value's size.
    pub fn check_value(&self, len: usize) -> Result<(), LimitError> {
        if len > self.value_bytes_max {
            return Err(LimitError::ValueTooLarge {
                len,
                max: self.value_bytes_max,
            });
        }
        Ok(())
    }

    /// Checks the totals of an atomic write.
    pub fn check_write_totals(
        &self,
        key_bytes: usize,
        total_bytes: usize,
    ) -> Result<(), LimitError> {
        if key_bytes > self.write_key_bytes_max {
            return Err(LimitError::WriteKeysTooLarge {
                len: key_bytes,
                max: self.write_key_bytes_max,
            });
        }
        if total_bytes > self.write_bytes_max {
            return Err(LimitError::WriteTooLarge {
                len: total_bytes,
                max: self.write_bytes_max,
            });
        }
        Ok(())
    }

    /// Checks the shape of a snapshot read: range count and the sum of range limits.
    pub fn check_read(&self, ranges: usize, entries: usize) -> Result<(), LimitError> {
        if ranges > self.ranges_per_read_max {
            return Err(LimitError::TooManyRanges {
                count: ranges,
                max: self.ranges_per_read_max,
            });
        }
        if entries > self.entries_per_read_max {
            return Err(LimitError::TooManyEntries {
                count: entries,
                max: self.entries_per_read_max,
            });
        }
        Ok(())
    }

    /// Checks the key count of a watch.
    pub fn check_watch(&self, keys: usize) -> Result<(), LimitError> {
        if keys > self.watch_keys_max {
            return Err(LimitError::TooManyKeys {
                count: keys,
                max: self.watch_keys_max,
            });
        }
        Ok(())
    }

    /// Checks the key count of a `get_many`.
    pub fn check_get_many(&self, keys: usize) -> Result<(), LimitError> {
        if keys > self.get_many_keys_max {
            return Err(LimitError::TooManyKeys {
                count: keys,
                max: self.get_many_keys_max,
            });
        }
        Ok(())
    }

    /// Checks one enqueue: payload size, undelivered keys, backoff schedule and delay.
    pub fn check_enqueue(&self, enqueue: &Enqueue, now_ms: u64) -> Result<(), LimitError> {
        self.check_value(enqueue.payload.len())?;
        let count = enqueue.keys_if_undelivered.len();
        if count > self.keys_if_undelivered_max {
            return Err(LimitError::TooManyUndeliveredKeys {
                count,
                max: self.keys_if_undelivered_max,
            });
        }
        for key in &enqueue.keys_if_undelivered {
            self.check_write_key(key)?;
        }
        if let Some(schedule) = &enqueue.backoff_schedule {
            if schedule.len() > self.backoff_intervals_max {
                return Err(LimitError::BackoffSchedule(format!(
                    "{} intervals (at most {})",
                    schedule.len(),
                    self.backoff_intervals_max
                )));
            }
            if let Some(bad) = schedule
                .iter()
                .find(|ms| **ms > self.backoff_interval_ms_max)
            {
                return Err(LimitError::BackoffSchedule(format!(
                    "interval of {bad} ms (at most {} ms)",
                    self.backoff_interval_ms_max
                )));
            }
        }
        let delay_ms = enqueue.deadline_ms.saturating_sub(now_ms);
        if delay_ms > self.enqueue_delay_ms_max {
            return Err(LimitError::DelayTooLong {
                delay_ms,
                max_ms: self.enqueue_delay_ms_max,
            });
        }
        Ok(())
    }
}
