//! Every bound in cairn, in one place.
//!
//! [`Limits`] holds the bounds a database enforces on requests; its defaults equal what the
//! Deno runtime accepts (kv-connect.md §6), and a database may be configured more generously.
//! The engine's own fixed bounds (batch sizes, queue depths) are the constants below.

use crate::atomic::Enqueue;
use crate::codec::decode_key;

/// Most atomic writes the sequencer takes into one commit batch. The index within a batch is a
/// u16 in the versionstamp, so this must stay below 65,536.
pub const COMMIT_BATCH_WRITES_MAX: usize = 1024;
/// Atomic writes that may wait for the sequencer before submitters are made to wait.
pub const COMMIT_QUEUE_DEPTH: usize = 4096;
/// Changelog entries trimmed in one storage write.
pub const CHANGELOG_TRIM_BATCH_MAX: usize = 4096;
/// Default retention of the changelog: most recent commits kept.
pub const CHANGELOG_RETENTION_ENTRIES_DEFAULT: u64 = 1_000_000;
/// Default retention of the changelog by age, in milliseconds (one day).
pub const CHANGELOG_RETENTION_MS_DEFAULT: u64 = 24 * 60 * 60 * 1000;
/// Default number of entries a list fetches from storage per batch.
pub const LIST_BATCH_SIZE_DEFAULT: usize = 100;
/// Longest a relaxed-durability database lets acknowledged writes sit unsynced, in ms.
pub const RELAXED_SYNC_INTERVAL_MS: u64 = 100;
/// Writer threads of a database with synced durability: each takes the batches waiting and
/// starts a durable sync of its own, so this many syncs may be in flight at once. Measured on
/// this project's 2-core VM: two concurrent fdatasyncs of one file complete 2.2× as many per
/// second as one, each as fast; four, 2.8× but each 1.4× slower.
pub const WRITER_THREADS: usize = 2;
/// Default size of the storage engine's block cache, in bytes (`Config::cache_bytes`).
pub const ENGINE_CACHE_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;
/// Size at which the data keyspace's memtable is sealed and flushed. Range scans step over
/// every version of a key still in a memtable, so rewritten keys make lists dear: after the
/// remote benchmark's overwrites a 100-entry list cost the server 350 µs of CPU at fjall's
/// default of 64 MiB, 111 µs at 16 MiB, with the write workloads unchanged.
pub const DATA_MEMTABLE_BYTES: u64 = 16 * 1024 * 1024;
/// Machines with at most this many cores give the storage engine one background worker (for
/// memtable flushes and compactions) instead of fjall's default of one per core. With two,
/// fjall keeps its first worker for flushes and has it hand every compaction request back to
/// the queue, so while the other worker compacts, the first spins re-queueing the request:
/// measured on this project's 2-core VM during `cairn bench`'s writes, a third of the engine
/// workers' CPU (~10% of a core) went to that loop. One worker does flushes and compactions in
/// turn; the engine stalls writes only at four sealed memtables, which a flush waiting behind
/// a compaction did not reach in long write runs (p99 latency improved).
pub const ENGINE_SINGLE_WORKER_CORES_MAX: usize = 2;
/// Most background workers the storage engine gets on larger machines (fjall's own default).
pub const ENGINE_WORKERS_MAX: usize = 4;
/// Size of one transaction-log segment file. A record larger than a segment still goes in one
/// segment (the file grows); at each switch of segment the engine's own files are synced.
pub const TLOG_SEGMENT_BYTES: u64 = 32 * 1024 * 1024;

/// Server: longest a client may take to send a request's headers, in milliseconds.
pub const SERVER_HEADER_TIMEOUT_MS: u64 = 10_000;
/// Server: longest a client may take to send a request's body, in milliseconds (a body that
/// trickles in must not hold a connection for ever).
pub const SERVER_BODY_TIMEOUT_MS: u64 = 30_000;
/// Server: longest HTTP/1.1 request head (request line and headers); a longer one is refused
/// with 431 before hyper parses it.
pub const SERVER_HEADER_BYTES_MAX: usize = 64 * 1024;
/// Server: after refusing a request before hyper parsed it, how long the server keeps reading
/// (and discarding) what the client still sends, in milliseconds, and at most how many bytes:
/// closing a socket with unread input resets the connection, and the reset can destroy the
/// refusal before the client reads it.
pub const SERVER_REFUSAL_LINGER_MS: u64 = 1_000;
/// See [`SERVER_REFUSAL_LINGER_MS`].
pub const SERVER_REFUSAL_LINGER_BYTES: usize = 1024 * 1024;
/// Server: cores left to each busy database's commit pipeline (its evaluator and writer
/// threads) when choosing how many threads serve HTTP by default: the machine's cores less
/// this, at least one. Measured on this project's 2-core VM: one HTTP thread instead of two
/// gave 5–20% more durable writes and 25–33% more reads per second over loopback, as the
/// evaluator no longer competes with a second HTTP thread for the other core.
pub const SERVER_CORES_FOR_COMMITS: usize = 1;
/// Server: connections served at once; further ones wait in the listen backlog.
pub const SERVER_CONNECTIONS_MAX: usize = 4096;
/// Server: longest shutdown waits for in-flight requests, in milliseconds (watch streams end
/// at once; commits already queued always finish).
pub const SERVER_SHUTDOWN_GRACE_MS: u64 = 10_000;
/// Server: interval between keep-alive frames on an idle watch stream, in milliseconds, so
/// proxies and clients do not take the stream for dead.
pub const SERVER_WATCH_KEEPALIVE_MS: u64 = 5_000;
/// Server: longest database name (it is a directory name under the data directory).
pub const SERVER_DATABASE_NAME_BYTES_MAX: usize = 64;
/// CLI: nesting of a V8 value shown as JSON beyond which it is shown as console text
/// (guards against deep or cyclic values).
pub const DISPLAY_JSON_DEPTH_MAX: usize = 64;
/// Network client: longest 4xx/5xx reason read from a response body; the rest is cut.
pub const CLIENT_REASON_BYTES_MAX: usize = 64 * 1024;
/// Network client: longest wait for one HTTP exchange (response headers, or a whole
/// non-streaming body) before the attempt counts as failed, in milliseconds.
pub const CLIENT_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Network client: how long an operation keeps retrying a server that answers 5xx or cannot
/// be reached, in milliseconds. Deno's clients retry forever; a library caller is better
/// served by an error it can act on.
pub const CLIENT_RETRY_BUDGET_MS: u64 = 30_000;
/// Network client: first and longest pause between retries, in milliseconds (doubling).
pub const CLIENT_RETRY_BACKOFF_MIN_MS: u64 = 20;
/// See [`CLIENT_RETRY_BACKOFF_MIN_MS`].
pub const CLIENT_RETRY_BACKOFF_MAX_MS: u64 = 2_000;
/// Network client: largest response body accepted. A snapshot read returns at most
/// `entries_per_read_max` entries of at most a key and a value each (about 66 MB by default).
pub const CLIENT_RESPONSE_BYTES_MAX: usize = 128 * 1024 * 1024;
/// Network client: largest watch frame accepted (`watch_keys_max` entries of a key and a
/// value each, about 660 KB by default).
pub const CLIENT_WATCH_FRAME_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Network client: idle connections kept open per server for reuse.
pub const CLIENT_IDLE_CONNECTIONS_MAX: usize = 512;
/// Network client: snapshot reads that carry coalesced point reads (`get`s issued
/// concurrently) in flight at once. More would only make each carry fewer reads; fewer would
/// leave the connection pool idle while reads queue.
pub const CLIENT_COALESCED_READS_IN_FLIGHT_MAX: usize = 8;
/// Network client: the metadata exchange is repeated at least this often, as Deno's Rust
/// client does, and always before the data token's `expiresAt`, in milliseconds.
pub const CLIENT_METADATA_REFRESH_MS: u64 = 60_000;
/// Deno's default retry schedule of a queue message, in milliseconds: a message is delivered
/// at most once more than the schedule has intervals, then dead-lettered.
pub const QUEUE_BACKOFF_SCHEDULE_DEFAULT_MS: [u32; 5] = [100, 1000, 5000, 30_000, 60_000];
/// Longest lease a consumer may take on a queue message, in milliseconds (12 hours, as SQS).
/// A longer lease would hide a vanished consumer's message for longer than anyone waits.
pub const QUEUE_VISIBILITY_TIMEOUT_MS_MAX: u64 = 12 * 60 * 60 * 1000;
/// Most leases a database holds at once (messages handed out and not yet settled). Leases
/// live in memory; past this bound `dequeue` reports nothing ready until some are settled,
/// which is back-pressure on consumers that take messages faster than they finish them.
pub const QUEUE_LEASES_MAX: usize = 16_384;
/// Most concurrent handlers of one `listen_queue`: each holds a lease, so this is at most a
/// fraction of [`QUEUE_LEASES_MAX`].
pub const QUEUE_LISTEN_CONCURRENCY_MAX: usize = 1024;
/// Concurrent handlers of `listen_queue` when not configured.
pub const QUEUE_LISTEN_CONCURRENCY_DEFAULT: usize = 16;
/// Lease of a message handed to a `listen_queue` handler when not configured, in ms: long
/// enough for ordinary handlers, short enough that a hung handler's message is retried.
pub const QUEUE_LISTEN_VISIBILITY_TIMEOUT_MS_DEFAULT: u64 = 5 * 60 * 1000;
/// Queue keys the dispatcher keeps in memory (the head of the queue, in delivery order).
/// Bounds memory whatever the queue depth; keys past it stay on disk until the head drains.
pub const QUEUE_WINDOW_KEYS_MAX: usize = 4096;
/// Queue entries read from storage per refill of the in-memory head.
pub const QUEUE_REFILL_KEYS_MAX: usize = 256;
/// Expired leases the dispatcher turns into retries per round, so that one round's requests
/// fit the commit queue without blocking it for long.
pub const QUEUE_EXPIRY_BATCH_MAX: usize = 256;
/// Longest the dispatcher sleeps between two looks at the clock, in ms, whatever its next
/// known deadline: a safety net if the system clock jumps.
pub const QUEUE_DISPATCH_WAIT_MS_MAX: u64 = 1000;
/// Queue entries read per step when counting the queue for `queue_stats`.
pub const QUEUE_STATS_SCAN_CHUNK: usize = 4096;
/// Most messages one network `queue/dequeue` request leases: enough to amortize a request
/// over many messages, few enough that one response stays small (≤ 256 × 64 KiB payloads).
pub const QUEUE_DEQUEUE_BATCH_MAX: usize = 256;
/// Most delivery ids one network `queue/ack` or `queue/nack` request settles (32 bytes each).
pub const QUEUE_SETTLE_BATCH_MAX: usize = 1024;
/// Longest a network `queue/dequeue` long-poll waits for a first message, in ms. Below the
/// client's request timeout, so an empty answer always arrives before the client gives up.
pub const QUEUE_DEQUEUE_WAIT_MS_MAX: u64 = 20_000;
/// Long-polling `queue/dequeue` requests one access token may have open at once on a server;
/// each holds a connection and a task, like a watch stream.
pub const QUEUE_POLLS_PER_TOKEN_MAX: usize = 256;
/// How long cairn-client's `listen_queue` asks the server to wait per dequeue, in ms.
pub const CLIENT_QUEUE_POLL_WAIT_MS: u64 = 10_000;
/// Delivery ids cairn-client's `listen_queue` settles per request at most.
pub const CLIENT_QUEUE_SETTLE_BATCH_MAX: usize = 256;

const _: () = assert!(COMMIT_BATCH_WRITES_MAX <= u16::MAX as usize);
const _: () = assert!(COMMIT_QUEUE_DEPTH >= COMMIT_BATCH_WRITES_MAX);
const _: () = assert!(QUEUE_LISTEN_CONCURRENCY_MAX <= QUEUE_LEASES_MAX);
const _: () = assert!(QUEUE_LISTEN_CONCURRENCY_DEFAULT <= QUEUE_LISTEN_CONCURRENCY_MAX);
const _: () = assert!(QUEUE_REFILL_KEYS_MAX <= QUEUE_WINDOW_KEYS_MAX);
const _: () =
    assert!(QUEUE_LISTEN_VISIBILITY_TIMEOUT_MS_DEFAULT <= QUEUE_VISIBILITY_TIMEOUT_MS_MAX);
// The dispatcher's expiry requests must fit the commit queue alongside ordinary writes.
const _: () = assert!(QUEUE_EXPIRY_BATCH_MAX <= COMMIT_QUEUE_DEPTH / 4);

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

// A long-poll must end (empty) before the client's request timeout counts it as lost.
const _: () = assert!(QUEUE_DEQUEUE_WAIT_MS_MAX < CLIENT_REQUEST_TIMEOUT_MS);
const _: () = assert!(CLIENT_QUEUE_POLL_WAIT_MS <= QUEUE_DEQUEUE_WAIT_MS_MAX);
const _: () = assert!(CLIENT_QUEUE_SETTLE_BATCH_MAX <= QUEUE_SETTLE_BATCH_MAX);
const _: () = assert!(QUEUE_DEQUEUE_BATCH_MAX <= QUEUE_LEASES_MAX);
