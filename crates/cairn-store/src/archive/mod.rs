//! Backups: online snapshots, continuous archiving of the log stream, and restore to any
//! archived point (design and format in `docs/design/backup.md`).
//!
//! An archive is a set of immutable objects under one prefix per database (a directory, or a
//! bucket prefix) in a [`Destination`]. It is made of *ranges*: a range opens with a snapshot
//! and continues with every storage batch published after it, in order, in log segments;
//! later snapshots of the range shorten restores. Anything that breaks the stream (a restart
//! after batches were lost before shipping, an overflow of the local bound) opens a new range
//! with a new snapshot: the points between two ranges are a recorded gap, never a silent one.
//! The same stream is what a replica will catch up from.

mod archiver;
mod catalog;
mod dest;
pub mod format;
pub mod limits;
mod restore;
mod retention;
mod snapshot;
mod transfer;

use std::sync::Arc;

pub use archiver::{ArchiveStatus, Archiver, LAG_BUCKETS_MS};
pub use catalog::{Catalog, RangeSummary};
pub use dest::{Destination, LocalDir, Prefixed};
pub use restore::{restore, restore_to_dir, RestoreReport, RestoreTarget};
pub use snapshot::backup_snapshot;
pub use transfer::{SnapshotReceiver, SnapshotSource, TRANSFER_RANGE, TRANSFER_REASON};

use crate::error::StorageError;

/// Errors of archiving and restoring. Messages say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The destination failed (unreachable, refused, full).
    #[error("archive destination failed: {0}")]
    Destination(String),
    /// An object does not decode or its checksum does not match: it is never restored.
    #[error("archive object {object} is corrupt: {reason}")]
    Corrupt {
        /// The object's name.
        object: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An object written by a newer cairn.
    #[error("archive object {object} has format version {found}, but this cairn reads version {supported}; upgrade cairn to restore it")]
    UnsupportedFormat {
        /// The object's name.
        object: String,
        /// Its version.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// The requested point lies in a gap of the archive, or the log is not continuous.
    #[error("archive gap: {0}")]
    Gap(String),
    /// The requested point is not in the archive (before its first or after its last point).
    #[error("not in the archive: {0}")]
    NotArchived(String),
    /// The restore target already holds something.
    #[error("restore target {0} is not empty: restore into a new directory")]
    TargetNotEmpty(String),
    /// The storage being read or written failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Continuous archiving of one database, set in [`crate::Config::archive`].
#[derive(Clone)]
#[non_exhaustive]
pub struct ArchiveConfig {
    /// Where the archive goes.
    pub destination: Arc<dyn Destination>,
    /// The database's prefix in the destination (`<name>/`); a server uses the database's name.
    pub name: String,
    /// Longest a published batch waits before its segment is shipped, in ms.
    pub ship_interval_ms: u64,
    /// A new snapshot at least this often, in ms.
    pub snapshot_interval_ms: u64,
    /// A new snapshot after this much shipped log, so a restore replays at most about this much.
    pub snapshot_log_bytes: u64,
    /// Snapshots kept (the newest always is).
    pub retention_snapshots: u32,
    /// Snapshots older than this are removed, in ms (the newest always is kept).
    pub retention_ms: u64,
    /// Log kept locally while the destination is failing; past it, a gap (see the module docs).
    pub unshipped_bytes_max: u64,
    /// On a server: the databases archived (empty: all of them).
    pub databases: Vec<String>,
}

impl ArchiveConfig {
    /// Archiving to `destination` under `name`, with the defaults of [`limits`].
    pub fn new(destination: Arc<dyn Destination>, name: impl Into<String>) -> Self {
        ArchiveConfig {
            destination,
            name: name.into(),
            ship_interval_ms: limits::SHIP_INTERVAL_MS_DEFAULT,
            snapshot_interval_ms: limits::SNAPSHOT_INTERVAL_MS_DEFAULT,
            snapshot_log_bytes: limits::SNAPSHOT_LOG_BYTES_DEFAULT,
            retention_snapshots: limits::RETENTION_SNAPSHOTS_DEFAULT,
            retention_ms: limits::RETENTION_MS_DEFAULT,
            unshipped_bytes_max: limits::UNSHIPPED_BYTES_MAX_DEFAULT,
            databases: Vec::new(),
        }
    }

    /// The same archive for database `name` (a server archives each database under its
    /// name), or `None` if `databases` leaves it out.
    pub fn for_database(&self, name: &str) -> Option<Self> {
        (self.databases.is_empty() || self.databases.iter().any(|d| d == name)).then(|| {
            ArchiveConfig {
                name: name.to_owned(),
                ..self.clone()
            }
        })
    }

    /// The destination seen under this database's prefix.
    pub fn prefixed(&self) -> Prefixed<'_> {
        Prefixed {
            inner: self.destination.as_ref(),
            prefix: database_prefix(&self.name),
        }
    }
}

impl std::fmt::Debug for ArchiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveConfig")
            .field("destination", &self.destination.describe())
            .field("name", &self.name)
            .field("ship_interval_ms", &self.ship_interval_ms)
            .field("snapshot_interval_ms", &self.snapshot_interval_ms)
            .field("snapshot_log_bytes", &self.snapshot_log_bytes)
            .field("retention_snapshots", &self.retention_snapshots)
            .field("retention_ms", &self.retention_ms)
            .field("unshipped_bytes_max", &self.unshipped_bytes_max)
            .field("databases", &self.databases)
            .finish()
    }
}

/// A database's prefix in a destination: `<name>/`.
pub fn database_prefix(name: &str) -> String {
    format!("{name}/")
}

/// The databases archived in `destination` (the first path element of every object).
pub fn list_databases(destination: &dyn Destination) -> Result<Vec<String>, ArchiveError> {
    let mut names: Vec<String> = destination
        .list("")?
        .into_iter()
        .filter_map(|n| n.split_once('/').map(|(db, _)| db.to_owned()))
        .collect();
    names.dedup();
    Ok(names)
}
