//! How a database is opened: durability, limits, retention and the clock.

use std::sync::Arc;

use cairn_model::limits::{CHANGELOG_RETENTION_ENTRIES_DEFAULT, CHANGELOG_RETENTION_MS_DEFAULT};
use cairn_model::Limits;

use crate::clock::{Clock, SystemClock};

/// When a write is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledge only after the write's batch is durably synced (`fdatasync`). The default:
    /// an acknowledged write survives a process crash and a power loss.
    #[default]
    Sync,
    /// Acknowledge once the batch is handed to the operating system; sync in the background at
    /// least every [`cairn_model::limits::RELAXED_SYNC_INTERVAL_MS`]. An acknowledged write
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
    /// Keep counters and latency histograms (`Database::stats`); on by default.
    pub stats: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            durability: Durability::Sync,
            limits: Limits::default(),
            changelog_retention_entries: CHANGELOG_RETENTION_ENTRIES_DEFAULT,
            changelog_retention_ms: CHANGELOG_RETENTION_MS_DEFAULT,
            clock: Arc::new(SystemClock),
            cache_bytes: cairn_model::limits::ENGINE_CACHE_BYTES_DEFAULT,
            stats: true,
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
            .field("stats", &self.stats)
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

    /// Turns counters and latency histograms on (the default) or off.
    pub fn stats(mut self, on: bool) -> Self {
        self.stats = on;
        self
    }

    /// Sets changelog retention by count and by age.
    pub fn changelog_retention(mut self, entries: u64, ms: u64) -> Self {
        self.changelog_retention_entries = entries;
        self.changelog_retention_ms = ms;
        self
    }
}
