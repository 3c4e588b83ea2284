//! cairn's network server: KV Connect, the protocol of Deno's KV clients, over HTTP.
//!
//! `POST /` (or `/db/<name>`) is the metadata exchange: an access token buys a short-lived
//! data-path token and the endpoint `/data` (or `/db/<name>/data`), where
//! `snapshot_read`, `atomic_write` and `watch` live. Databases are opened on first use, each
//! in its own directory under the data directory. Status codes come from one function,
//! [`error::status`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
mod console;
pub mod error;
pub mod failover;
mod framing;
mod health;
pub mod limits;
pub mod metrics;
mod observe;
pub mod registry;
mod replica;
mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use cairn_store::{Config, SystemClock};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::collector::Collector;
use tokio::net::TcpListener;

pub use config::{Access, DeclaredIndex, FileIndex, ServerConfig, TokenGrant};

// The server's bounds, as `Duration`s; their values live in `limits`.
/// Longest a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_millis(limits::SERVER_HEADER_TIMEOUT_MS);
/// Longest a client may take to send a request's body.
pub const BODY_TIMEOUT: Duration = Duration::from_millis(limits::SERVER_BODY_TIMEOUT_MS);
/// Connections served at once.
pub const CONNECTIONS_MAX: usize = limits::SERVER_CONNECTIONS_MAX;
/// Longest shutdown waits for in-flight requests (watch streams end at once).
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(limits::SERVER_SHUTDOWN_GRACE_MS);

/// State every handler shares.
pub(crate) struct App {
    pub config: ServerConfig,
    pub auth: Arc<auth::Auth>,
    pub registry: Arc<registry::Registry>,
    pub watches: routes::watch::WatchCounter,
    /// Waiting queue long-polls per token.
    pub queue_polls: routes::queue::PollCounter,
    pub clock: SystemClock,
    /// Set to true when shutdown begins: watch streams end so their connections can close.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// HTTP requests by route and status, for `/metrics`.
    pub http_metrics: observe::HttpMetrics,
    /// The other front ends' metrics (the Redis protocol's), for `/metrics`.
    pub front_end_metrics: FrontEndMetrics,
    /// The databases this server follows, each kept up to date by its follower.
    pub followers: replica::Followers,
    /// This server's base URL as clients reach it (its replicas' `eventual` endpoints).
    pub advertise_url: String,
    /// This server's membership of a failover group (`--etcd`), if any.
    pub failover: Option<Arc<failover::Failover>>,
    /// Moved each time a failover group's election demotes this server's databases: the
    /// replication streams it serves end (their replicas reconnect and find the new leader).
    pub demotions: tokio::sync::watch::Sender<u64>,
}

/// The HTTP routes of a server on `config`.
fn router(app: Arc<App>) -> Router {
    let body_limit = app.config.body_bytes_max;
    let budget = Arc::new(routes::BodyBudget::new(
        body_limit,
        app.config.body_bytes_in_flight_max,
    ));
    let api = api::router(&app, budget.clone());
    let console = match app.config.console {
        true => console::router(),
        false => Router::new(),
    };
    Router::new()
        .route("/", post(routes::metadata::default_database))
        .route("/db/{name}", post(routes::metadata::named_database))
        .route("/backup", post(routes::backup::default_database))
        .route("/backup/all", post(routes::backup::all_databases))
        .route("/db/{name}/backup", post(routes::backup::named_database))
        .route("/data/{op}", post(routes::data_default))
        .route("/db/{name}/data/{op}", post(routes::data_named))
        .merge(routes::queue::router())
        .merge(routes::scan::router())
        .merge(routes::replication::router())
        .route("/metrics", get(metrics::guarded))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(axum::middleware::from_fn_with_state(
            budget,
            routes::read_body,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(api)
        .merge(console)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            observe::observe,
        ))
        .with_state(app)
}

/// The routes of the `--metrics-listen` address: metrics without a token, health, readiness.
fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::open))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(app)
}

/// Serves until `shutdown` completes, then finishes in-flight requests (for at most
/// [`SHUTDOWN_GRACE`]) and closes every database (queued commits finish; nothing acknowledged
/// is lost).
///
/// Connections speak HTTP/1.1 or HTTP/2 without TLS (h2c, by prior knowledge). HTTP/1.1
/// request headers must arrive within [`HEADER_TIMEOUT`] (timed by the framing guard, which
/// holds each head until it is complete) and bodies within [`BODY_TIMEOUT`], so a client that
/// trickles bytes cannot hold a connection; HTTP/1.1 requests with ambiguous framing (both
/// `Content-Length` and `Transfer-Encoding`) are refused with 400 before hyper parses them
/// (see `framing`); at most [`CONNECTIONS_MAX`] connections are served at once, further ones
/// wait in the kernel's accept queue.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_metrics(config, listener, None, shutdown).await
}

/// [`serve`], and `/metrics` (without a token), `/healthz` and `/readyz` on
/// `metrics_listener` too (`cairn serve --metrics-listen`).
pub async fn serve_with_metrics(
    config: ServerConfig,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let backend = Backend::open(&config)?;
    let served = serve_with(
        config,
        backend.clone(),
        listener,
        metrics_listener,
        shutdown,
    )
    .await;
    backend.registry.close_all();
    served
}

/// What every front end of one server shares: its access tokens and its databases. KV
/// Connect ([`serve_with`]) and the Redis protocol (crate `cairn-resp`) are handed the same
/// one, so both see the same databases under the same grants.
#[derive(Clone)]
pub struct Backend {
    /// Access tokens and their grants.
    pub auth: Arc<auth::Auth>,
    /// The databases, by name.
    pub registry: Arc<registry::Registry>,
    /// A failover group's write lease, shared by every database (`None` outside a group).
    pub lease: Option<Arc<cairn_store::replication::WriteLease>>,
    /// The other front ends' metrics, added to every scrape of `/metrics`.
    pub front_end_metrics: FrontEndMetrics,
}

/// Metrics of the front ends beside KV Connect (the Redis protocol's): each one registers a
/// function that returns a collector of its figures at the moment of a scrape.
#[derive(Clone, Default)]
pub struct FrontEndMetrics(Arc<parking_lot::Mutex<Vec<CollectorSource>>>);

/// A front end's way to a collector of its figures now.
type CollectorSource = Arc<dyn Fn() -> Box<dyn Collector> + Send + Sync>;

impl FrontEndMetrics {
    /// Adds `collect` to every scrape from now on.
    pub fn register(&self, collect: impl Fn() -> Box<dyn Collector> + Send + Sync + 'static) {
        self.0.lock().push(Arc::new(collect));
    }

    /// A collector from each front end, now.
    pub(crate) fn collect(&self) -> Vec<Box<dyn Collector>> {
        let sources = self.0.lock().clone();
        sources.iter().map(|collect| collect()).collect()
    }
}

impl Backend {
    /// The tokens and databases of a server on `config` (checks the store configuration,
    /// loads or creates the server secret; opens no database yet).
    pub fn open(config: &ServerConfig) -> std::io::Result<Backend> {
        let mut store_config = Config::default()
            .durability(config.durability)
            .limits(config.limits.clone())
            .stats(config.metrics)
            .commit_queue_bytes_max(config.commit_queue_bytes_max);
        store_config.archive = config.archive.clone();
        let lease = config
            .failover
            .as_ref()
            .map(|_| Arc::new(cairn_store::replication::WriteLease::new()));
        let mut replication = replication_config(&config.replication)?;
        if let Some(failover) = &config.failover {
            failover
                .check()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            if config.replication.token.is_none() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "--etcd needs --replication-token: the group's members stream to each other \
                     with it",
                ));
            }
            if !config.replication.replica_of.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "--etcd and --replica-of exclude each other: a failover group's election \
                     decides whom each member follows",
                ));
            }
        }
        if let Some(lease) = &lease {
            replication = replication.lease(lease.clone());
        }
        store_config = store_config.replication(replication);
        store_config
            .check()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(Backend {
            auth: Arc::new(auth::Auth::new(config.tokens.clone(), &config.data_dir)?),
            registry: Arc::new(
                registry::Registry::new(
                    config.data_dir.clone(),
                    store_config,
                    config.databases_max,
                )?
                .with_indexes(&config.indexes)
                .with_replicas(&config.replication.replica_of),
            ),
            lease,
            front_end_metrics: FrontEndMetrics::default(),
        })
    }
}

/// Each database's replication settings: a stream for replicas when they can authenticate
/// (a replication token), synchronous replicas; refuses settings that cannot work.
fn replication_config(
    replication: &config::ReplicationSettings,
) -> std::io::Result<cairn_store::replication::ReplicationConfig> {
    let invalid = |reason: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, reason);
    if replication.sync_replicas > 0 && replication.token.is_none() {
        return Err(invalid(
            "--sync-replicas needs --replication-token: replicas authenticate with it",
        ));
    }
    if !replication.replica_of.is_empty() && replication.token.is_none() {
        return Err(invalid(
            "--replica-of needs --replication-token: the primary's, to follow it",
        ));
    }
    let mut store = cairn_store::replication::ReplicationConfig::default()
        .sync(replication.sync_replicas, replication.sync_timeout_ms);
    if replication.token.is_some() {
        store = store.stream(replication.retained_bytes);
    }
    Ok(store)
}

/// [`serve_with_metrics`] on a [`Backend`] the caller opened and shares with other front
/// ends. Closes no database when it returns: the caller does
/// (`backend.registry.close_all()`) once every front end has stopped.
pub async fn serve_with(
    config: ServerConfig,
    backend: Backend,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if config.body_bytes_in_flight_max < config.body_bytes_max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "body_bytes_in_flight_max ({}) must be at least body_bytes_max ({})",
                config.body_bytes_in_flight_max, config.body_bytes_max
            ),
        ));
    }
    let advertise_url = match &config.replication.advertise_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let failover = match (&config.failover, &backend.lease) {
        (Some(settings), Some(lease)) => Some(Arc::new(failover::Failover::new(
            settings.clone(),
            lease.clone(),
        ))),
        _ => None,
    };
    let app = Arc::new(App {
        failover,
        demotions: tokio::sync::watch::Sender::new(0),
        auth: backend.auth,
        registry: backend.registry,
        followers: replica::Followers::default(),
        advertise_url,
        watches: routes::watch::WatchCounter::default(),
        queue_polls: routes::queue::PollCounter::default(),
        clock: SystemClock,
        closing: tokio::sync::watch::Sender::new(false),
        http_metrics: observe::HttpMetrics::default(),
        front_end_metrics: backend.front_end_metrics,
        config,
    });
    replica::Followers::start_all(&app);
    failover::start(&app);
    let router = router(app.clone());
    if let Some(metrics_listener) = metrics_listener {
        let (router, mut closing) = (metrics_router(app.clone()), app.closing.subscribe());
        tokio::spawn(async move {
            let stop = async move {
                let _ = closing.wait_for(|closing| *closing).await;
            };
            let served = axum::serve(metrics_listener, router).with_graceful_shutdown(stop);
            if let Err(e) = served.await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        // A client may close its sending side and still wait for the answer; the framing
        // guard also ends the input that way after a request it refuses, and the answers to
        // the requests before it must still go out.
        .half_close(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: log, pause, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are small and written whole: without this, Nagle's algorithm and the
        // client's delayed ACK hold some of them back ~40 ms (seen as the p99 of writes).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not disable Nagle's algorithm");
        }
        let service = TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(framing::FramingGuard::new(stream)),
                service,
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    app.closing.send_replace(true);
    app.followers.stop_all().await;
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within the shutdown grace period");
    }
    Ok(())
}
