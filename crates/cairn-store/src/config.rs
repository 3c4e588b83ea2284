//! How a database is opened: durability, limits, retention and the clock.

use std::sync::Arc;

use crate::limits::{CHANGELOG_RETENTION_ENTRIES_DEFAULT, CHANGELOG_RETENTION_MS_DEFAULT};
use cairn_model::Limits;

use crate::clock::{Clock, SystemClock};

/// Default of [`Config::commit_queue_bytes_max`]: 64 MiB, about 80 writes of the largest size
/// (`Limits::write_bytes_max`) or thousands of ordinary ones; a disk that keeps up drains it
/// in a fraction of a second.
pub const COMMIT_QUEUE_BYTES_MAX_DEFAULT: usize = 64 * 1024 * 1024;

/// When a write is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledge only after the write's batch is durably synced (`fdatasync`). The default:
    /// an acknowledged write survives a process crash and a power loss.
    #[default]
    Sync,
    /// Acknowledge once the batch is handed to the operating system; sync in the background at
    /// least every [`crate::limits::RELAXED_SYNC_INTERVAL_MS`]. An acknowledged write
    /// survives a crash of the process, but a power loss or kernel crash may lose the writes
    /// acknowledged in that last interval. Opt-in only.
    Relaxed,
}

/// Options for opening a database.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// When writes are acknowledged.
    pub durability: Durability,
    /// Request bounds.
    pub limits: Limits,
    /// The changelog keeps at most this many commits.
    pub changelog_retention_entries: u64,
    /// The changelog drops commits older than this, in milliseconds.
    pub changelog_retention_ms: u64,
    /// Source of time for expiry.
    pub clock: Arc<dyn Clock>,
    /// Block cache of the on-disk engine, in bytes.
    pub cache_bytes: u64,
    /// Continuous archiving (`None`: off). A replica archives only once promoted, and
    /// catches up from this archive when it fell behind its primary's stream.
    pub archive: Option<crate::archive::ArchiveConfig>,
    /// Replication: replica or primary, the stream kept for replicas, synchronous replicas.
    pub replication: crate::replication::ReplicationConfig,
    /// Keep counters and latency histograms (`Database::stats`); on by default.
    pub stats: bool,
    /// Most bytes of writes (keys, values, payloads and a small overhead each) between their
    /// submission and their answer: queued, being evaluated, or waiting for their sync. With
    /// at most `crate::limits::COMMIT_QUEUE_DEPTH` writes, this bounds the memory a
    /// database's commit pipeline holds, whatever the callers send. A full queue makes
    /// [`crate::Kv::atomic_write`] wait (asynchronously) and
    /// [`crate::Database::try_atomic_write`] refuse with [`crate::StoreError::Overloaded`].
    /// Must hold the largest write (`limits.write_bytes_max`); checked at open.
    pub commit_queue_bytes_max: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            durability: Durability::Sync,
            limits: Limits::default(),
            changelog_retention_entries: CHANGELOG_RETENTION_ENTRIES_DEFAULT,
            changelog_retention_ms: CHANGELOG_RETENTION_MS_DEFAULT,
            clock: Arc::new(SystemClock),
            archive: None,
            replication: Default::default(),
            stats: true,
            cache_bytes: crate::limits::ENGINE_CACHE_BYTES_DEFAULT,
            commit_queue_bytes_max: COMMIT_QUEUE_BYTES_MAX_DEFAULT,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("durability", &self.durability)
            .field("limits", &self.limits)
            .field(
                "changelog_retention_entries",
                &self.changelog_retention_entries,
            )
            .field("changelog_retention_ms", &self.changelog_retention_ms)
            .field("cache_bytes", &self.cache_bytes)
            .field("archive", &self.archive)
            .field("replication", &self.replication)
            .field("stats", &self.stats)
            .field("commit_queue_bytes_max", &self.commit_queue_bytes_max)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Sets the durability mode.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the request limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the clock (tests use [`crate::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Archives the database continuously (see [`crate::archive`]).
    pub fn archive(mut self, archive: crate::archive::ArchiveConfig) -> Self {
        self.archive = Some(archive);
        self
    }

    /// The configuration of database `name` on a server: archived under its name (or not
    /// archived, if the archive's database list leaves it out).
    pub fn for_database(&self, name: &str) -> Self {
        let mut config = self.clone();
        config.archive = self.archive.as_ref().and_then(|a| a.for_database(name));
        config
    }

    /// Sets replication (see [`crate::replication`]).
    pub fn replication(mut self, replication: crate::replication::ReplicationConfig) -> Self {
        self.replication = replication;
        self
    }

    /// Turns counters and latency histograms on (the default) or off.
    pub fn stats(mut self, on: bool) -> Self {
        self.stats = on;
        self
    }

    /// Sets the bound on bytes of writes in the commit pipeline
    /// ([`Config::commit_queue_bytes_max`]).
    pub fn commit_queue_bytes_max(mut self, bytes: usize) -> Self {
        self.commit_queue_bytes_max = bytes;
        self
    }

    /// Checks what [`crate::Database::open_with`] would refuse about this configuration
    /// (a `commit_queue_bytes_max` too small for the largest write), so that a server can
    /// refuse it at startup rather than at the first open.
    pub fn check(&self) -> crate::Result<()> {
        crate::pipeline::check_bytes_max(self.commit_queue_bytes_max, self.limits.write_bytes_max)
    }

    /// Sets changelog retention by count and by age.
    pub fn changelog_retention(mut self, entries: u64, ms: u64) -> Self {
        self.changelog_retention_entries = entries;
        self.changelog_retention_ms = ms;
        self
    }
}
