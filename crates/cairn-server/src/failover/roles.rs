//! What an election does to the group's databases on this member.

use std::sync::Arc;

use cairn_store::replication::Role;
use cairn_store::Database;

use crate::replica::Followers;
use crate::App;

fn databases(app: &App) -> Vec<String> {
    app.failover
        .as_ref()
        .map(|f| f.settings.databases.clone())
        .unwrap_or_default()
}

/// The open database `name`, if it is open.
fn open(app: &App, name: &str) -> Option<Database> {
    app.registry
        .open_databases()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, db)| db)
}

/// Stops every follower and waits until they are gone: nothing more of the former leader
/// arrives, so the positions reported next are final.
pub(crate) async fn stop_following(app: &App) {
    for name in databases(app) {
        app.followers.stop(&name).await;
    }
}

/// The newest epoch and the sum of the positions of the group's databases here.
pub(crate) async fn positions(app: &App) -> (u64, u64) {
    let (mut epoch, mut position) = (0, 0u64);
    for name in databases(app) {
        let db = match open(app, &name) {
            Some(db) => Some(db),
            None => app.registry.existing_replica(&name).await.ok().flatten(),
        };
        if let Some(db) = db {
            let at = db.stream_position();
            epoch = epoch.max(at.epoch);
            position = position.saturating_add(at.position);
        }
    }
    (epoch, position)
}

/// Promotes every database of the group to `epoch` (a database that does not exist here
/// yet is created, empty, and promoted: the group's first leader).
pub(crate) async fn promote_all(app: &Arc<App>, epoch: u64) -> Result<(), String> {
    stop_following(app).await;
    for name in databases(app) {
        let db = match app.registry.existing_replica(&name).await {
            Ok(Some(db)) => db,
            Ok(None) => {
                let id = *uuid::Uuid::new_v4().as_bytes();
                app.registry
                    .open_replica(&name, id)
                    .await
                    .map_err(|e| format!("creating database {name:?}: {e}"))?
            }
            Err(e) => return Err(format!("opening database {name:?}: {e}")),
        };
        if db.role() == Role::Primary {
            continue;
        }
        let at = db
            .promote_to_epoch(Some(epoch))
            .await
            .map_err(|e| format!("promoting database {name:?} to epoch {epoch}: {e}"))?;
        app.registry.set_primary(&name);
        tracing::warn!(database = %name, %at, epoch, "promoted by the failover group's election");
    }
    Ok(())
}

/// A former leader: every database is closed and opens again as a replica (of no one until
/// a leader is known). Its batches that no replica confirmed stay in its copy until it
/// follows the new leader, which refuses a diverged copy.
pub(crate) async fn demote_all(app: &App) {
    for name in databases(app) {
        demote(app, &name, "").await;
    }
}

/// Closes database `name`, to open again as a replica of `primary`.
async fn demote(app: &App, name: &str, primary: &str) {
    app.registry.set_replica(name, primary);
    app.demotions.send_modify(|n| *n += 1);
    if let Some(db) = app.registry.take_out_of_service(name) {
        if db.role() == Role::Primary {
            tracing::warn!(database = %name, "demoted: closing the database to reopen it as a replica");
        }
        let _ = tokio::task::spawn_blocking(move || db.close()).await;
    }
    app.registry.restore_service(name);
}

/// Follows the leader at `leader_url` (its base URL) for every database of the group.
pub(crate) async fn follow_all(app: &Arc<App>, leader_url: &str) {
    for name in databases(app) {
        let url = super::database_url(leader_url, &name);
        if app.followers.following(&name).as_deref() == Some(url.as_str()) {
            // A request may have opened the database while no leader was known (its role
            // then names no primary, and its metadata exchange names itself): every round
            // puts the leader's URL right.
            if let Some(db) = open(app, &name) {
                if db.role()
                    != (Role::Replica {
                        primary: url.clone(),
                    })
                {
                    db.follow_primary(&url);
                }
            }
            continue;
        }
        app.followers.stop(&name).await;
        app.registry.set_replica(&name, &url);
        if let Some(db) = open(app, &name) {
            if db.role() == Role::Primary {
                // A primary that is not the leader: reopen it as a replica first.
                demote(app, &name, &url).await;
            } else {
                db.follow_primary(&url);
            }
        }
        Followers::start(app, &name, &url);
    }
}
