//! `GET /api/v1/databases/{db}/queue`: the queue's counts (ready, delayed, in flight,
//! dead-lettered), as cairn's queue extension reports them (`routes/queue.rs`).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cairn_store::StoreError;
use serde_json::json;

use super::reply::json_response;
use super::request::{Caller, Query};
use super::JsonError;
use crate::App;

pub(crate) async fn stats(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    Query::parse(query.as_deref(), &[])?;
    let caller = Caller::open(app, &headers, &db).await?;
    let db = caller.db.clone();
    // Counting reads the whole queue keyspace: off the HTTP threads.
    let stats = tokio::task::spawn_blocking(move || db.queue_stats())
        .await
        .map_err(|_| StoreError::Closed)??;
    let body = json!({
        "ready": stats.ready,
        "delayed": stats.delayed,
        "inFlight": stats.in_flight,
        "deadLettered": stats.dead_lettered,
    });
    Ok(json_response(StatusCode::OK, &body))
}
