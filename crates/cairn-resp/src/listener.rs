//! The listener: accepts connections (at most `CONNECTIONS_MAX` at once), and the state they
//! share: the server's tokens and databases (cairn-server's `Backend`), one writer per
//! database, and the SCAN cursors.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_model::Limits;
use cairn_server::error::ApiError;
use cairn_server::Backend;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::cmd::keys::Cursors;
use crate::connection::Connection;
use crate::frame::{Frame, Protocol};
use crate::limits::CONNECTIONS_MAX;
use crate::metrics::Counters;
use crate::writer::Writer;

/// The database behind Redis database index `index`: 0 is the server's default database
/// ("default", the one KV Connect serves at `/`), n is `"db<n>"`.
pub fn database_name(index: u32) -> String {
    if index == 0 {
        cairn_server::registry::DEFAULT_DATABASE.to_owned()
    } else {
        format!("db{index}")
    }
}

/// What every connection of a listener shares.
pub struct Shared {
    pub(crate) backend: Backend,
    pub(crate) limits: Limits,
    writers: Mutex<HashMap<String, Writer>>,
    pub(crate) cursors: Cursors,
    /// Connections, commands and errors, for `/metrics`.
    pub(crate) counters: Arc<Counters>,
    next_id: AtomicU64,
    started: Instant,
    pub(crate) port: u16,
}

/// A database opened for a connection.
pub(crate) use crate::connection::Open;

impl Shared {
    pub(crate) fn connected(&self) -> usize {
        usize::try_from(self.counters.open.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    pub(crate) fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Opens database `index` for `token`: its grant must open it; a read-write grant creates
    /// it if needed (as KV Connect does).
    pub(crate) async fn open(&self, token: &str, index: u32) -> Result<Open, Frame> {
        let name = database_name(index);
        let Some(grant) = self.backend.auth.access_token(token, &name) else {
            return Err(Frame::Error(format!(
                "NOPERM this token does not open database {name:?} (SELECT {index})"
            )));
        };
        let db = self
            .backend
            .registry
            .get(&name, grant.access)
            .await
            .map_err(|e| match e {
                ApiError::NotFound(m) | ApiError::Forbidden(m) => Frame::err(m),
                other => Frame::err(format!("database {name:?} cannot be opened: {other}")),
            })?;
        let writer = {
            let mut writers = self.writers.lock();
            writers
                .entry(name.clone())
                .or_insert_with(|| Writer::start(db.clone(), self.limits.clone()))
                .clone()
        };
        Ok(Open {
            index,
            name,
            db,
            writer,
            access: grant.access,
        })
    }
}

/// Serves the Redis protocol on `listener` until `shutdown` completes, with the databases and
/// tokens of `backend` and the request limits `limits` (the server's). Connections still open
/// then are dropped (their acknowledged writes are durable; the caller closes the databases).
pub async fn serve(
    backend: Backend,
    limits: Limits,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let counters = Arc::new(Counters::default());
    backend.front_end_metrics.register({
        let counters = counters.clone();
        move || counters.snapshot()
    });
    let shared = Arc::new(Shared {
        backend,
        limits,
        writers: Mutex::new(HashMap::new()),
        cursors: Cursors::default(),
        counters,
        next_id: AtomicU64::new(1),
        started: Instant::now(),
        port,
    });
    let connections = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (mut stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "RESP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Finished connections leave the set.
        while tasks.try_join_next().is_some() {}
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            Counters::add(&shared.counters.refused);
            tasks.spawn(async move {
                let mut out = Vec::new();
                Frame::err("max number of clients reached").encode(Protocol::Resp2, &mut out);
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&out)).await;
            });
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not disable Nagle's algorithm");
        }
        Counters::add(&shared.counters.accepted);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        tasks.spawn(async move {
            shared.counters.open.fetch_add(1, Ordering::Relaxed);
            Connection::new(shared.clone(), stream, id).run().await;
            shared.counters.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    tasks.shutdown().await;
    shared.writers.lock().clear();
    Ok(())
}
