//! Replicas: the databases this server follows (`cairn serve --replica-of URL`), each kept
//! up to date by a follower task that streams its primary's durable batches (`session.rs`),
//! and rebuilds the copy from the archive when it fell behind what the primary retains
//! (`rebuild.rs`). The primary's side is `routes/replication.rs`; the design is in
//! `docs/design/replication.md`.
//!
//! A follower never gives up: a primary that is down, restarting or refusing (a wrong token,
//! another database) is asked again after a pause that doubles up to
//! [`REPLICATION_RETRY_MS_MAX`], and the reason is logged and shown in `/metrics`. A refusal
//! is never worked around: the replica keeps what it has, and never mixes the primary's
//! history with another.

pub(crate) mod http;
mod rebuild;
mod session;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::limits::{REPLICATION_RETRY_MS_MAX, REPLICATION_RETRY_MS_MIN};
use crate::App;

/// Why a session with the primary ended.
pub(crate) enum Ended {
    /// The stream ended or broke off (the primary restarted, the network failed): reconnect.
    Closed(String),
    /// The primary no longer keeps the stream after this replica's position.
    NotRetained {
        /// The oldest position it can continue from.
        oldest: u64,
        /// The database it holds.
        database_id: uuid::Uuid,
    },
    /// The primary refused the replica (token, database, not a primary): an operator must
    /// act; asked again slowly meanwhile.
    Refused(String),
    /// The primary refused the replica as diverged: it holds batches the primary never had
    /// (a former primary's tail past a promotion). Rebuilt from the primary's snapshot with
    /// `--replica-rebuild auto`, else refused.
    Diverged(String),
    /// Something failed here or on the way: retry.
    Failed(String),
}

/// What a follower is doing, for `/metrics` and logs.
#[derive(Debug, Clone, Default)]
pub struct FollowerState {
    /// `connecting`, `streaming`, `rebuilding` or `refused`.
    pub state: &'static str,
    /// Why the last session ended, if it failed.
    pub last_error: Option<String>,
    /// Rebuilds of the copy from a snapshot of the primary.
    pub rebuilds_primary: u64,
    /// Rebuilds of the copy from the archive.
    pub rebuilds_archive: u64,
    /// Positions of a diverged copy's tail discarded by the last rebuild that discarded any.
    pub discarded_positions: u64,
}

/// One database's follower.
pub(crate) struct Follower {
    app: Arc<App>,
    name: String,
    /// The primary's URL of the database.
    primary: String,
    state: Mutex<FollowerState>,
}

impl Follower {
    fn set_state(&self, state: &'static str, error: Option<String>) {
        let mut current = self.state.lock();
        current.state = state;
        if error.is_some() {
            current.last_error = error;
        }
    }
}

struct Running {
    follower: Arc<Follower>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The server's followers, by database name.
#[derive(Default)]
pub(crate) struct Followers {
    running: Mutex<HashMap<String, Running>>,
}

impl Followers {
    /// Starts a follower for every database the configuration names.
    pub(crate) fn start_all(app: &Arc<App>) {
        for (name, primary) in &app.config.replication.replica_of {
            Followers::start(app, name, primary);
        }
    }

    /// Starts following `primary` (its URL of database `name`); the caller stopped any
    /// follower of `name` before (a failover group's member re-pointed at a new leader).
    pub(crate) fn start(app: &Arc<App>, name: &str, primary: &str) {
        let follower = Arc::new(Follower {
            app: app.clone(),
            name: name.to_owned(),
            primary: primary.to_owned(),
            state: Mutex::new(FollowerState {
                state: "connecting",
                ..FollowerState::default()
            }),
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(follow(follower.clone(), stopped));
        tracing::info!(database = %name, %primary, "following the primary");
        let previous = app.followers.running.lock().insert(
            name.to_owned(),
            Running {
                follower,
                stop,
                task,
            },
        );
        if let Some(previous) = previous {
            previous.stop.send_replace(true);
        }
    }

    /// The primary database `name`'s follower follows, if there is one.
    pub(crate) fn following(&self, name: &str) -> Option<String> {
        self.running
            .lock()
            .get(name)
            .map(|r| r.follower.primary.clone())
    }

    /// Stops following database `name` (before a promotion; at shutdown) and waits until
    /// the follower is gone.
    pub(crate) async fn stop(&self, name: &str) {
        let running = self.running.lock().remove(name);
        if let Some(running) = running {
            running.stop.send_replace(true);
            let _ = running.task.await;
            tracing::info!(database = %name, "stopped following the primary");
        }
    }

    /// Stops every follower.
    pub(crate) async fn stop_all(&self) {
        let names: Vec<String> = self.running.lock().keys().cloned().collect();
        for name in names {
            self.stop(&name).await;
        }
    }

    /// What the follower of `name` is doing, if there is one.
    pub(crate) fn state(&self, name: &str) -> Option<FollowerState> {
        self.running
            .lock()
            .get(name)
            .map(|r| r.follower.state.lock().clone())
    }
}

/// Whether the copy may be rebuilt from a snapshot of the primary (`--replica-rebuild`).
fn rebuild_auto(follower: &Follower) -> bool {
    follower.app.config.replication.rebuild == crate::config::ReplicaRebuild::Auto
}

/// A rebuild the follower starts after a session ended.
enum Rebuild {
    /// Behind the primary's retained stream: from the archive or the primary's snapshot.
    CatchUp {
        oldest: u64,
        database_id: uuid::Uuid,
    },
    /// Diverged from the primary: from its snapshot, the old copy kept aside.
    Diverged,
}

impl Rebuild {
    async fn run(
        self,
        follower: &Follower,
        http: &http::Http,
    ) -> Result<cairn_store::replication::StreamPosition, String> {
        match self {
            Rebuild::CatchUp {
                oldest,
                database_id,
            } => catch_up(follower, http, oldest, database_id).await,
            Rebuild::Diverged => {
                rebuild::from_primary(follower, http, rebuild::Cause::Diverged).await
            }
        }
    }
}

/// Catches a replica behind the primary's retained stream up: from the archive if this
/// server has one and it reaches the retained stream, else (or if it fails) from a snapshot
/// of the primary with `--replica-rebuild auto`.
async fn catch_up(
    follower: &Follower,
    http: &http::Http,
    oldest: u64,
    database_id: uuid::Uuid,
) -> Result<cairn_store::replication::StreamPosition, String> {
    let archived = rebuild::from_archive(follower, oldest, database_id).await;
    match archived {
        Ok(at) => Ok(at),
        Err(reason) if rebuild_auto(follower) => {
            tracing::warn!(database = %follower.name, %reason, "cannot catch up from an archive: rebuilding from the primary's snapshot");
            rebuild::from_primary(follower, http, rebuild::Cause::Behind).await
        }
        Err(reason) => Err(reason),
    }
}

/// Follows the primary until stopped.
async fn follow(follower: Arc<Follower>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let http = http::Http::new();
    let mut pause = Duration::from_millis(REPLICATION_RETRY_MS_MIN);
    let max = Duration::from_millis(REPLICATION_RETRY_MS_MAX);
    loop {
        let ended = tokio::select! {
            ended = session::run(&follower, &http) => ended,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let name = follower.name.as_str();
        let rebuild = match ended {
            Ended::Closed(reason) => {
                tracing::info!(database = name, %reason, "replication stream ended; reconnecting");
                follower.set_state("connecting", None);
                pause = Duration::from_millis(REPLICATION_RETRY_MS_MIN);
                None
            }
            Ended::NotRetained {
                oldest,
                database_id,
            } => {
                follower.set_state("rebuilding", None);
                Some(Rebuild::CatchUp {
                    oldest,
                    database_id,
                })
            }
            Ended::Diverged(reason) if rebuild_auto(&follower) => {
                tracing::warn!(database = name, primary = %follower.primary, %reason, "diverged from the primary: rebuilding from its snapshot (--replica-rebuild auto)");
                follower.set_state("rebuilding", Some(reason));
                Some(Rebuild::Diverged)
            }
            Ended::Diverged(reason) => {
                tracing::error!(database = name, primary = %follower.primary, %reason, "the primary refuses this replica as diverged (--replica-rebuild never: move its directory away to rebuild it)");
                follower.set_state("refused", Some(reason));
                pause = max;
                None
            }
            Ended::Refused(reason) => {
                tracing::error!(database = name, primary = %follower.primary, %reason, "the primary refuses this replica");
                follower.set_state("refused", Some(reason));
                // In a failover group a refusal is usually a leader still promoting: ask
                // again soon (the pause still doubles).
                if follower.app.failover.is_none() {
                    pause = max;
                }
                None
            }
            Ended::Failed(reason) => {
                tracing::warn!(database = name, %reason, "replication failed; retrying");
                follower.set_state("connecting", Some(reason));
                None
            }
        };
        if let Some(rebuild) = rebuild {
            let rebuilt = tokio::select! {
                rebuilt = rebuild.run(&follower, &http) => rebuilt,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            match rebuilt {
                Ok(_) => {
                    pause = Duration::from_millis(REPLICATION_RETRY_MS_MIN);
                    continue;
                }
                Err(reason) => {
                    tracing::error!(database = name, %reason, "replica cannot catch up");
                    follower.set_state("rebuilding", Some(reason));
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        pause = (pause * 2).min(max);
    }
}
