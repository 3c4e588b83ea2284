//! The replica marker: a file `REPLICA_OF` in a replica's database directory naming its
//! primary, so that the directory is never opened as a primary by mistake.
//!
//! A replica's batches carry its primary's positions and epoch. If the directory were opened
//! as a primary (a server restarted without its `--replica-of`, `cairn set --path` on it), its
//! own next batch would take the next position in the same epoch as a batch of the primary's
//! with other contents, and nothing in the positions could tell them apart when it followed
//! the primary again: two histories mixed. So opening a marked directory without
//! `replica_of` is refused, with what to do; a promotion removes the marker. The marker lives
//! beside the engine's files, not in `meta`: `meta` is replicated, the marker is this copy's.

use std::io::ErrorKind;
use std::path::Path;

use crate::error::{Result, StoreError};

/// The marker's file name in a database directory.
pub const MARKER_FILE: &str = "REPLICA_OF";

/// Refuses to open `dir` as a primary when it is marked as a replica.
pub(crate) fn refuse_if_replica(dir: &Path, replica_of: Option<&str>) -> Result<()> {
    if replica_of.is_some() {
        return Ok(());
    }
    let marker = dir.join(MARKER_FILE);
    match std::fs::read_to_string(&marker) {
        Ok(primary) => Err(StoreError::Replication(format!(
            "{} holds a replica of {}: open it as a replica of its primary (cairn serve \
             --replica-of {0}), or promote it (cairn promote), or delete {} to make this copy \
             a primary of its own",
            dir.display(),
            primary.trim(),
            marker.display()
        ))),
        // No marker; or no directory yet, which opening the engine reports as it should.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// Marks `dir` as a replica of `primary` (durably), if it is not already.
pub(crate) fn mark(dir: &Path, primary: &str) -> Result<()> {
    let marker = dir.join(MARKER_FILE);
    if std::fs::read_to_string(&marker).is_ok_and(|p| p.trim() == primary) {
        return Ok(());
    }
    let temp = dir.join(format!("{MARKER_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        std::fs::write(&temp, format!("{primary}\n"))?;
        std::fs::File::open(&temp)?.sync_all()?;
        std::fs::rename(&temp, &marker)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(io)
}

/// Removes the marker (a promotion), durably.
pub(crate) fn clear(dir: &Path) -> Result<()> {
    let marker = dir.join(MARKER_FILE);
    match std::fs::remove_file(&marker) {
        Ok(()) => std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// The operating system's error, kept (its kind tells a full disk from a failing one).
fn io(e: std::io::Error) -> StoreError {
    StoreError::Storage(crate::error::StorageError::io(
        "replica marker (REPLICA_OF)",
        e,
    ))
}
