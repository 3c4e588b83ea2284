//! A replica too far behind its primary's retained stream rebuilds its copy from the archive
//! (the primary's, named by this server's `--archive`): restore the newest archived point
//! into a fresh directory (the restore code of `cairn restore`), check that it is the
//! primary's database and that it reaches the stream the primary still keeps, then swap it
//! in for the old copy. The stream then continues from the restored position.
//!
//! The old copy is replaced only by a restore that is complete, of the same database, and
//! newer than it: a failed or useless restore leaves it as it was.

use std::path::{Path, PathBuf};

use cairn_store::archive::{restore_to_dir, RestoreTarget};
use cairn_store::replication::StreamPosition;

use super::Follower;

/// Rebuilds `follower`'s copy from the archive; the primary keeps the stream after
/// `oldest` and holds `database_id`.
pub(crate) async fn from_archive(
    follower: &Follower,
    oldest: u64,
    database_id: uuid::Uuid,
) -> Result<StreamPosition, String> {
    let app = &follower.app;
    let name = follower.name.clone();
    let archive = app
        .config
        .archive
        .as_ref()
        .and_then(|a| a.for_database(&name))
        .ok_or_else(|| {
            format!(
                "the primary no longer keeps the stream after this replica's position (it \
                 keeps it from position {oldest}), and this server has no --archive to catch \
                 up from: give it the primary's archive"
            )
        })?;
    let local = app
        .registry
        .existing_replica(&name)
        .await
        .map_err(|e| e.to_string())?;
    let local_at = local.as_ref().map(cairn_store::Database::stream_position);
    if let Some(db) = &local {
        if db.database_id() != database_id {
            return Err(format!(
                "the local copy holds database {}, the primary {database_id}",
                db.database_id()
            ));
        }
    }
    drop(local);
    let dir = app.registry.path_of(&name);
    let fresh = dir.with_file_name(format!("{name}.rebuild"));
    tracing::warn!(database = %name, oldest, "replica too far behind: restoring from the archive");
    let restored = {
        let fresh = fresh.clone();
        tokio::task::spawn_blocking(move || restore_fresh(&archive, &fresh))
            .await
            .map_err(|e| format!("restore task: {e}"))??
    };
    let (id, at) = restored;
    let id = uuid::Uuid::from_bytes(id);
    let useless = if id != database_id {
        Some(format!(
            "the archive holds database {id}, the primary {database_id}"
        ))
    } else if at.position < oldest {
        Some(format!(
            "the archive's newest point ({at}) is older than the stream the primary keeps \
             (from position {oldest}): the archive is behind; trying again later"
        ))
    } else if local_at.is_some_and(|l| l.position >= at.position) {
        Some(format!(
            "the archive's newest point ({at}) is not newer than the local copy"
        ))
    } else {
        None
    };
    if let Some(reason) = useless {
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(reason);
    }
    // Swap: out of service, close, move the old copy aside, the new one in.
    if let Some(old) = app.registry.take_out_of_service(&name) {
        tokio::task::spawn_blocking(move || old.close())
            .await
            .map_err(|e| format!("closing the old copy: {e}"))?;
    }
    let swapped = {
        let (dir, fresh) = (dir.clone(), fresh.clone());
        tokio::task::spawn_blocking(move || swap_in(&dir, &fresh))
            .await
            .map_err(|e| format!("swap task: {e}"))?
    };
    app.registry.restore_service(&name);
    swapped.map_err(|e| format!("replacing {} with the restored copy: {e}", dir.display()))?;
    tracing::info!(database = %name, %at, "replica restored from the archive; streaming resumes");
    Ok(at)
}

/// Restores the archive's newest point into `fresh` (emptied first); its id and position.
fn restore_fresh(
    archive: &cairn_store::archive::ArchiveConfig,
    fresh: &Path,
) -> Result<([u8; 16], StreamPosition), String> {
    if fresh.exists() {
        std::fs::remove_dir_all(fresh).map_err(|e| format!("{}: {e}", fresh.display()))?;
    }
    let report = restore_to_dir(
        &archive.prefixed(),
        RestoreTarget::Latest,
        fresh,
        cairn_store::limits::ENGINE_CACHE_BYTES_DEFAULT,
    )
    .map_err(|e| format!("restoring from {}: {e}", archive.destination.describe()))?;
    tracing::info!(
        range = report.range,
        commit_version = report.commit_version,
        batches = report.batches_replayed,
        "restored the archive's newest point"
    );
    cairn_store::replication::directory_position(fresh).map_err(|e| e.to_string())
}

/// Replaces `dir` by `fresh`, durably; the old copy is removed afterwards.
fn swap_in(dir: &Path, fresh: &Path) -> std::io::Result<()> {
    let aside: PathBuf = dir.with_extension("old");
    if aside.exists() {
        std::fs::remove_dir_all(&aside)?;
    }
    if dir.exists() {
        std::fs::rename(dir, &aside)?;
    }
    std::fs::rename(fresh, dir)?;
    if let Some(parent) = dir.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    if aside.exists() {
        std::fs::remove_dir_all(&aside)?;
    }
    Ok(())
}
