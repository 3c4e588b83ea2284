//! The engine's own bounds: commit batches and queues, the changelog, durability timing, the
//! storage engine's sizes and workers, the transaction log, and queue delivery's memory.
//! Request limits (sizes of keys, values, writes) are the data model's
//! (`cairn_model::Limits`); the sweeper's pace is in `sweeper.rs` beside it.

use cairn_model::limits::QUEUE_LISTEN_CONCURRENCY_MAX;

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
/// Most leases a database holds at once (messages handed out and not yet settled). Leases
/// live in memory; past this bound `dequeue` reports nothing ready until some are settled,
/// which is back-pressure on consumers that take messages faster than they finish them.
pub const QUEUE_LEASES_MAX: usize = 16_384;
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

/// Most secondary indexes one database declares (each costs every write under its prefix a
/// read of the entry's old value and the decoding of both values).
pub const INDEXES_MAX: usize = 16;
/// Keys one step of an index's background work visits (a backfill) or removes (a drop), in
/// one commit: the longest a step holds the evaluator, and the writes queued behind it, is
/// this many reads, decodings and index puts (about a millisecond on this project's VM).
pub const INDEX_STEP_KEYS: usize = 512;
/// Entries a count or an aggregate of the embedded database reads between two yields to the
/// async runtime, all from one snapshot.
pub const SCAN_PAGE_ENTRIES: usize = 16_384;

const _: () = assert!(INDEX_STEP_KEYS > 0 && SCAN_PAGE_ENTRIES > 0);
/// How often the synchronous-replication gate looks for batches past their deadline, ms
/// (acknowledgements wake it at once): the precision of `sync_timeout_ms`.
pub const REPLICATION_GATE_TICK_MS: u64 = 50;
/// Default bytes of durable batches a primary keeps for its replicas
/// (`ReplicationConfig::stream_retained_bytes`): a replica further behind catches up from the
/// archive.
pub const REPLICATION_RETAINED_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;
/// Default longest wait for synchronous replicas' acknowledgements, ms.
pub const REPLICATION_SYNC_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Largest frame of the replication stream a replica accepts, bytes: a frame holds records
/// up to `REPLICATION_FRAME_RECORDS_BYTES` plus one batch, and no batch is larger than the
/// largest commit queue.
pub const REPLICATION_FRAME_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Bytes of records a primary puts in one frame (more when a single batch is larger).
pub const REPLICATION_FRAME_RECORDS_BYTES: usize = 1024 * 1024;
/// Most stream records one replicate request carries to the pipeline.
pub const REPLICATE_RECORDS_MAX: usize = 4096;

const _: () = assert!(COMMIT_BATCH_WRITES_MAX <= u16::MAX as usize);
const _: () = assert!(REPLICATION_FRAME_RECORDS_BYTES < REPLICATION_FRAME_BYTES_MAX / 2);
const _: () = assert!(COMMIT_QUEUE_DEPTH >= COMMIT_BATCH_WRITES_MAX);
// Each handler of one `listen_queue` holds a lease.
const _: () = assert!(QUEUE_LISTEN_CONCURRENCY_MAX <= QUEUE_LEASES_MAX);
const _: () = assert!(QUEUE_REFILL_KEYS_MAX <= QUEUE_WINDOW_KEYS_MAX);
// The dispatcher's expiry requests must fit the commit queue alongside ordinary writes.
const _: () = assert!(QUEUE_EXPIRY_BATCH_MAX <= COMMIT_QUEUE_DEPTH / 4);
