//! The bounds of archiving, with their defaults (each overridable in [`super::ArchiveConfig`]).

/// A batch waits at most this long before its segment is shipped: the archive lags the
/// database by this plus the upload's time (the target is ≤ 1 s).
pub const SHIP_INTERVAL_MS_DEFAULT: u64 = 200;
/// A snapshot at least every hour.
pub const SNAPSHOT_INTERVAL_MS_DEFAULT: u64 = 60 * 60 * 1000;
/// A snapshot after 256 MiB of log: what a restore replays at most (beyond one snapshot).
pub const SNAPSHOT_LOG_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;
/// Snapshots kept.
pub const RETENTION_SNAPSHOTS_DEFAULT: u32 = 8;
/// Snapshots kept for a week.
pub const RETENTION_MS_DEFAULT: u64 = 7 * 24 * 60 * 60 * 1000;
/// Unshipped log held in memory while the destination fails: 256 MiB.
pub const UNSHIPPED_BYTES_MAX_DEFAULT: u64 = 256 * 1024 * 1024;
/// One segment holds at most this much log (a busy database ships several per interval).
pub const SEGMENT_BYTES_MAX: usize = 16 * 1024 * 1024;
/// One snapshot part holds at most about this much.
pub const SNAPSHOT_PART_BYTES: usize = 8 * 1024 * 1024;
/// Largest object a snapshot transfer to a replica accepts (a part is cut after about
/// [`SNAPSHOT_PART_BYTES`], so it exceeds it by at most one entry).
pub const TRANSFER_OBJECT_BYTES_MAX: usize = 2 * SNAPSHOT_PART_BYTES;
/// Pairs read from a storage snapshot at a time while writing a snapshot.
pub const SNAPSHOT_SCAN_CHUNK: usize = 4096;
/// Restore applies snapshot entries to the new database in storage batches of about this size.
pub const RESTORE_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// First wait after a failed upload; doubled up to [`RETRY_BACKOFF_MS_MAX`].
pub const RETRY_BACKOFF_MS_MIN: u64 = 100;
/// Longest wait between attempts to reach a failing destination.
pub const RETRY_BACKOFF_MS_MAX: u64 = 10_000;
/// Attempts to ship what is left when the database closes.
pub const CLOSE_SHIP_ATTEMPTS: u32 = 3;

const _: () = assert!(SNAPSHOT_PART_BYTES <= SEGMENT_BYTES_MAX);
const _: () = assert!(RETRY_BACKOFF_MS_MIN <= RETRY_BACKOFF_MS_MAX);
const _: () = assert!(SHIP_INTERVAL_MS_DEFAULT < 1000);
