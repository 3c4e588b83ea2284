//! cairn's network server: KV Connect, the protocol of Deno's KV clients, over HTTP.
//!
//! `POST /` (or `/db/<name>`) is the metadata exchange: an access token buys a short-lived
//! data-path token and the endpoint `/data` (or `/db/<name>/data`), where
//! `snapshot_read`, `atomic_write` and `watch` live. Databases are opened on first use, each
//! in its own directory under the data directory. Status codes come from one function,
//! [`error::status`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod error;
pub mod registry;
mod routes;
mod time;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;
use cairn_store::{Config, SystemClock};
use tokio::net::TcpListener;

pub use config::{Access, ServerConfig, TokenGrant};

/// State every handler shares.
pub(crate) struct App {
    pub config: ServerConfig,
    pub auth: auth::Auth,
    pub registry: registry::Registry,
    pub watches: routes::watch::WatchCounter,
    pub clock: SystemClock,
}

/// The HTTP routes of a server on `config`.
fn router(app: Arc<App>) -> Router {
    let body_limit = app.config.body_bytes_max;
    Router::new()
        .route("/", post(routes::metadata::default_database))
        .route("/db/{name}", post(routes::metadata::named_database))
        .route("/data/{op}", post(routes::data_default))
        .route("/db/{name}/data/{op}", post(routes::data_named))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(app)
}

/// Serves until `shutdown` completes, then finishes in-flight requests and closes every
/// database (queued commits finish; nothing acknowledged is lost).
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store_config = Config::default()
        .durability(config.durability)
        .limits(config.limits.clone());
    let app = Arc::new(App {
        auth: auth::Auth::new(config.tokens.clone(), &config.data_dir)?,
        registry: registry::Registry::new(config.data_dir.clone(), store_config),
        watches: routes::watch::WatchCounter::default(),
        clock: SystemClock,
        config,
    });
    let result = axum::serve(listener, router(app.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    app.registry.close_all();
    result
}
