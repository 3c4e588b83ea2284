//! Rebuilding a replica's copy, when streaming cannot continue from it:
//!
//! - *from the archive* ([`from_archive`]): too far behind the primary's retained stream, with
//!   the primary's archive named by this server's `--archive`: restore the newest archived
//!   point into a fresh directory (the restore code of `cairn restore`), check that it is the
//!   primary's database and that it reaches the stream the primary still keeps;
//! - *from the primary* ([`from_primary`], `--replica-rebuild auto`): diverged from the
//!   primary (refused 409 "diverged": it holds batches of a former primary past a
//!   promotion), or behind its retained stream with no archive to reach it: fetch a snapshot
//!   of the primary (`replication/snapshot`, the archive's snapshot objects) into a directory
//!   laid out as an archive, verify it, and restore it into the fresh directory the same way.
//!
//! Either way the fresh copy is swapped in for the old one ([`swap`]): the database is taken
//! out of service (503), closed, the directories exchanged, and the stream continues from
//! the rebuilt position. The old copy is replaced only by a rebuild that is complete, of the
//! same database, and useful: a failed or useless one leaves it as it was. A diverged old
//! copy is not deleted but kept as `<name>.discarded-<epoch>-<position>` (the newest one
//! only), with its discarded tail's length logged and in `/metrics`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use cairn_store::archive::{restore_to_dir, LocalDir, RestoreTarget, SnapshotReceiver};
use cairn_store::replication::{EpochHistory, StreamPosition};
use http_body_util::BodyExt;

use super::http::{Answer, Http};
use super::Follower;
use crate::limits::REPLICATION_SNAPSHOT_SILENCE_MS;
use crate::routes::replication::{DATABASE_ID_HEADER, TOKEN_KEY_HEADER};

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
    swap(follower, &fresh, None).await?;
    follower.state.lock().rebuilds_archive += 1;
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

/// Takes the database out of service (503 meanwhile), closes it and puts `fresh` in place
/// of its directory; the old copy is removed, or kept as `keep` (a diverged copy, for an
/// operator to inspect). The database is back in service afterwards, whatever happened.
async fn swap(follower: &Follower, fresh: &Path, keep: Option<PathBuf>) -> Result<(), String> {
    let app = &follower.app;
    let name = follower.name.as_str();
    let dir = app.registry.path_of(name);
    if let Some(old) = app.registry.take_out_of_service(name) {
        tokio::task::spawn_blocking(move || old.close())
            .await
            .map_err(|e| format!("closing the old copy: {e}"))?;
    }
    let swapped = {
        let (dir, fresh) = (dir.clone(), fresh.to_owned());
        tokio::task::spawn_blocking(move || swap_in(&dir, &fresh, keep.as_deref()))
            .await
            .map_err(|e| format!("swap task: {e}"))?
    };
    app.registry.restore_service(name);
    swapped.map_err(|e| format!("replacing {} with the rebuilt copy: {e}", dir.display()))
}

/// Replaces `dir` by `fresh`, durably; the old copy is removed afterwards, or renamed to
/// `keep` (replacing an older discarded copy of the database: one is kept, the newest).
fn swap_in(dir: &Path, fresh: &Path, keep: Option<&Path>) -> std::io::Result<()> {
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
    match keep {
        Some(keep) if aside.exists() => {
            remove_discarded(dir)?;
            std::fs::rename(&aside, keep)?;
        }
        _ => {
            if aside.exists() {
                std::fs::remove_dir_all(&aside)?;
            }
        }
    }
    Ok(())
}

/// Removes the discarded copies of the database in `dir` (`<name>.discarded-*`).
fn remove_discarded(dir: &Path) -> std::io::Result<()> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Ok(());
    };
    let prefix = format!("{}.discarded-", name.to_string_lossy());
    for entry in std::fs::read_dir(parent)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// Why the copy is rebuilt from the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The primary refused it as diverged: its tail is discarded (and kept aside).
    Diverged,
    /// The primary no longer keeps the stream after its position, and no archive reaches it.
    Behind,
}

/// Rebuilds `follower`'s copy from a snapshot of its primary (`replication/snapshot`).
pub(crate) async fn from_primary(
    follower: &Follower,
    http: &Http,
    cause: Cause,
) -> Result<StreamPosition, String> {
    let app = &follower.app;
    let name = follower.name.clone();
    let token = app
        .config
        .replication
        .token
        .clone()
        .ok_or("no --replication-token to present to the primary")?;
    let local = app
        .registry
        .existing_replica(&name)
        .await
        .map_err(|e| e.to_string())?;
    let local_id = local.as_ref().map(cairn_store::Database::database_id);
    let local_at = local.as_ref().map(cairn_store::Database::stream_position);
    drop(local);
    let dir = app.registry.path_of(&name);
    let fresh = dir.with_file_name(format!("{name}.rebuild"));
    let transfer = dir.with_file_name(format!("{name}.rebuild-transfer"));
    tracing::warn!(database = %name, ?cause, local = ?local_at.map(|a| a.to_string()), "rebuilding the replica from a snapshot of the primary");
    let fetched = fetch(follower, http, &token, &transfer, &fresh).await;
    let _ = std::fs::remove_dir_all(&transfer);
    let (id, at, history, key) = match fetched {
        Ok(fetched) => fetched,
        Err(reason) => {
            let _ = std::fs::remove_dir_all(&fresh);
            return Err(reason);
        }
    };
    let useless = if local_id.is_some_and(|l| l != id) {
        Some(format!(
            "the primary's snapshot holds database {id}, the local copy {}: another database",
            local_id.map(|l| l.to_string()).unwrap_or_default()
        ))
    } else if cause == Cause::Behind && local_at.is_some_and(|l| l.position >= at.position) {
        Some(format!(
            "the primary's snapshot ({at}) is not newer than the local copy"
        ))
    } else {
        None
    };
    if let Some(reason) = useless {
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(reason);
    }
    if let Some(key) = key {
        app.auth
            .adopt(&name, key)
            .map_err(|e| format!("keeping the primary's data-token key: {e}"))?;
    }
    let discarded = match (cause, local_at) {
        (Cause::Diverged, Some(old)) => Some((old, discarded_tail(&history, old, at))),
        _ => None,
    };
    let keep = discarded.map(|(old, _)| {
        dir.with_file_name(format!("{name}.discarded-{}-{}", old.epoch, old.position))
    });
    swap(follower, &fresh, keep.clone()).await?;
    {
        let mut state = follower.state.lock();
        state.rebuilds_primary += 1;
        if let Some((_, tail)) = discarded {
            state.discarded_positions = tail;
        }
    }
    if let (Some((old, tail)), Some(keep)) = (discarded, keep) {
        tracing::warn!(
            database = %name,
            discarded_positions = tail,
            old = %old,
            kept = %keep.display(),
            "discarded this copy's diverged tail: positions the new primary never had (never \
             acknowledged with --sync-replicas >= 1); the old copy is kept for inspection"
        );
    }
    tracing::info!(database = %name, %at, "replica rebuilt from the primary's snapshot; streaming resumes");
    Ok(at)
}

/// How many of the positions up to `old` the rebuild discards: those after the last position
/// the old copy shares with the primary's history — the end of `old`'s epoch there (the
/// promotion point), or the snapshot's own position if that comes first.
fn discarded_tail(history: &EpochHistory, old: StreamPosition, at: StreamPosition) -> u64 {
    let end_of_epoch = history
        .starts
        .iter()
        .find(|(epoch, _)| *epoch > old.epoch)
        .map_or(at.position, |(_, first)| first.saturating_sub(1));
    old.position.saturating_sub(end_of_epoch.min(at.position))
}

/// What a fetched snapshot holds: its database id, position, epoch history and the
/// primary's data-token key.
type Fetched = (uuid::Uuid, StreamPosition, EpochHistory, Option<[u8; 32]>);

/// Fetches the primary's snapshot into `transfer` (an archive's layout), checking each
/// object as it arrives, then restores it into `fresh`.
async fn fetch(
    follower: &Follower,
    http: &Http,
    token: &str,
    transfer: &Path,
    fresh: &Path,
) -> Result<Fetched, String> {
    let name = follower.name.as_str();
    for path in [transfer, fresh] {
        if path.exists() {
            std::fs::remove_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let url = format!("{}/replication/snapshot", follower.primary);
    let response = match http.post(&url, token, "{}".into()).await? {
        Answer::Ok(response) => response,
        Answer::Status(status, text) => {
            return Err(format!(
                "the primary answered {status} to the snapshot request: {text}"
            ))
        }
    };
    let headers = response.headers();
    let primary_id = headers
        .get(DATABASE_ID_HEADER)
        .and_then(|v| uuid::Uuid::parse_str(v.to_str().ok()?).ok())
        .ok_or("the primary's snapshot names no database id")?;
    let key = headers
        .get(TOKEN_KEY_HEADER)
        .and_then(|v| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v.as_bytes())
                .ok()
        })
        .and_then(|k| <[u8; 32]>::try_from(k).ok());
    let destination: Arc<dyn cairn_store::archive::Destination> = Arc::new(LocalDir::new(transfer));
    let mut receiver = SnapshotReceiver::new(destination.clone(), name);
    let mut body = response.into_body();
    let silence = Duration::from_millis(REPLICATION_SNAPSHOT_SILENCE_MS);
    loop {
        let frame = match tokio::time::timeout(silence, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => return Err(format!("the snapshot transfer broke off: {e}")),
            Ok(None) => break,
            Err(_) => return Err(format!("the snapshot transfer was silent for {silence:?}")),
        };
        if let Ok(bytes) = frame.into_data() {
            // Checks and stores what the bytes complete (file writes: off the async threads).
            let (back, pushed) = tokio::task::spawn_blocking(move || {
                let pushed = receiver.push(&bytes);
                (receiver, pushed)
            })
            .await
            .map_err(|e| format!("receiving the snapshot: {e}"))?;
            receiver = back;
            pushed.map_err(|e| format!("the primary's snapshot: {e}"))?;
        }
    }
    let received = receiver.received();
    let done = receiver
        .finish()
        .map_err(|e| format!("the primary's snapshot: {e}"))?;
    if uuid::Uuid::from_bytes(done.database_id) != primary_id {
        return Err("the primary's snapshot holds another database than it names".into());
    }
    let (id, at) = {
        let fresh = fresh.to_owned();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let config = cairn_store::archive::ArchiveConfig::new(destination, name);
            restore_to_dir(
                &config.prefixed(),
                RestoreTarget::Latest,
                &fresh,
                cairn_store::limits::ENGINE_CACHE_BYTES_DEFAULT,
            )
            .map_err(|e| format!("restoring the primary's snapshot: {e}"))?;
            cairn_store::replication::directory_position(&fresh).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("restore task: {e}"))??
    };
    let id = uuid::Uuid::from_bytes(id);
    if id != primary_id || at.position != done.asn {
        return Err(format!(
            "the restored snapshot holds {id} at {at}, the primary sent {primary_id} at position {}",
            done.asn
        ));
    }
    let history = {
        let fresh = fresh.to_owned();
        tokio::task::spawn_blocking(move || cairn_store::replication::directory_history(&fresh))
            .await
            .map_err(|e| format!("reading the epoch history: {e}"))?
            .map_err(|e| e.to_string())?
    };
    tracing::info!(database = name, %at, bytes = received, entries = done.entries, "received the primary's snapshot");
    Ok((id, at, history, key))
}
