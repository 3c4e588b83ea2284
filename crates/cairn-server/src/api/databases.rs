//! Databases: `GET /api/v1/databases` (those the token opens), `GET`/`PUT
//! /api/v1/databases/{db}` (one, or create it), `GET /api/v1/databases/{db}/stats` (the
//! database's own figures, as `/metrics` reads them).
//!
//! Every other route needs an existing database: the API creates one only when asked, with
//! a read-write token and under `databases_max`, as KV Connect's first use of a name does.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cairn_store::stats::{CommitOutcome, HistogramSnapshot, ReadKind};
use cairn_store::StoreError;
use serde_json::{json, Map, Value};

use super::reply::json_response;
use super::request::{grant, Caller, Query};
use super::JsonError;
use crate::config::Access;
use crate::error::ApiError;
use crate::App;

fn access_name(access: Access) -> &'static str {
    match access {
        Access::ReadWrite => "read-write",
        Access::ReadOnly => "read-only",
    }
}

pub(crate) async fn list(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    Query::parse(query.as_deref(), &[])?;
    let token = crate::routes::bearer(&headers)?;
    if !app.auth.knows(token) {
        return Err(ApiError::Unauthorized("unknown access token").into());
    }
    let databases: Vec<Value> = app
        .registry
        .names()
        .into_iter()
        .filter_map(|(name, open)| {
            let grant = app.auth.access_token(token, &name)?;
            Some(json!({ "name": name, "access": access_name(grant.access), "open": open }))
        })
        .collect();
    let body = json!({ "databases": databases, "default": crate::registry::DEFAULT_DATABASE });
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn show(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    Query::parse(query.as_deref(), &[])?;
    let grant = grant(&app, &headers, &db)?;
    let open = app
        .registry
        .names()
        .into_iter()
        .find_map(|(name, open)| (name == db).then_some(open))
        .ok_or_else(|| ApiError::NotFound(format!("database {db:?} does not exist")))?;
    let body = json!({ "name": db, "access": access_name(grant.access), "open": open });
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn create(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    Query::parse(query.as_deref(), &[])?;
    let grant = grant(&app, &headers, &db)?;
    if grant.access != Access::ReadWrite {
        return Err(
            ApiError::Forbidden("a read-only token cannot create a database".into()).into(),
        );
    }
    let existed = app.registry.contains(&db);
    app.registry.get(&db, grant.access).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = json!({ "name": db, "access": access_name(grant.access), "open": true, "created": !existed });
    Ok(json_response(status, &body))
}

pub(crate) async fn stats(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    Query::parse(query.as_deref(), &[])?;
    let caller = Caller::open(app, &headers, &db).await?;
    let database = caller.db.clone();
    let dir = caller.app.config.data_dir.join(&caller.name);
    // A walk of the directory and index reads: off the HTTP threads.
    let (keys, backlog, disk) = tokio::task::spawn_blocking(move || {
        (
            database.approximate_key_count().ok(),
            database.expiry_backlog().ok(),
            cairn_store::stats::dir_size_bytes(&dir).ok(),
        )
    })
    .await
    .map_err(|_| StoreError::Closed)?;
    let stats = caller.db.stats();
    let commits: Map<String, Value> = CommitOutcome::ALL
        .iter()
        .map(|o| (o.name().to_owned(), json!(stats.commits(*o))))
        .collect();
    let reads: Map<String, Value> = ReadKind::ALL
        .iter()
        .map(|k| (k.name().to_owned(), latency(stats.reads(*k))))
        .collect();
    let (queued_writes, queued_bytes) = caller.db.commit_queue_usage();
    let body = json!({
        "name": caller.name,
        "enabled": stats.enabled,
        "approximateKeys": keys,
        "diskBytes": disk,
        "expiryBacklog": backlog,
        "commits": commits,
        "commitLatency": latency(&stats.commit_latency_ns),
        "syncLatency": latency(&stats.sync_ns),
        "reads": reads,
        "commitsInFlight": stats.commits_in_flight,
        "commitQueue": { "writes": queued_writes, "bytes": queued_bytes },
        "batches": stats.batches,
        "expiredKeysSwept": stats.expired_keys_swept,
        "poisoned": stats.poisoned,
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// A latency histogram as a count and estimated quantiles in milliseconds.
fn latency(histogram: &HistogramSnapshot) -> Value {
    let ms = |q| histogram.quantile(q).map(|ns| ns / 1e6);
    json!({ "count": histogram.count(), "p50Ms": ms(0.5), "p99Ms": ms(0.99) })
}
