//! cairn's scan and index extensions beside KV Connect (`docs/protocol.md` §10, §11), on the
//! same data endpoint and with the same data tokens as `snapshot_read`:
//!
//! - `scan/keys`: the live keys of one range without their values (one snapshot);
//! - `scan/count`, `scan/aggregate`: one page each, from one snapshot, at most
//!   [`SCAN_ENTRIES_PER_REQUEST_MAX`] entries read and [`SCAN_TIME_PER_REQUEST_MS_MAX`] spent;
//!   an unfinished range answers where to resume, and the client asks again;
//! - `index/create`, `index/drop` (read-write tokens only: 403 otherwise), `index/list`.
//!
//! Counting and aggregating read many entries: they run on the blocking pool, never on the
//! threads that serve HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use cairn_model::{AggregateOptions, ReadRange};
use cairn_proto::scan as s;
use cairn_store::{ScanBudget, StoreError};

use super::{data_request, protobuf, DataRequest};
use crate::config::Access;
use crate::error::ApiError;
use crate::limits::{SCAN_ENTRIES_PER_REQUEST_MAX, SCAN_TIME_PER_REQUEST_MS_MAX};
use crate::registry::DEFAULT_DATABASE;
use crate::App;

/// The scan and index routes, for the default database and for named ones.
pub(crate) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/data/scan/{op}", post(scan_default))
        .route("/db/{name}/data/scan/{op}", post(scan_named))
        .route("/data/index/{op}", post(index_default))
        .route("/db/{name}/data/index/{op}", post(index_named))
}

async fn scan_default(
    State(app): State<Arc<App>>,
    Path(op): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    scan(
        data_request(app, DEFAULT_DATABASE, &headers, body).await?,
        &op,
    )
    .await
}

async fn scan_named(
    State(app): State<Arc<App>>,
    Path((name, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    scan(data_request(app, &name, &headers, body).await?, &op).await
}

async fn index_default(
    State(app): State<Arc<App>>,
    Path(op): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    index(
        data_request(app, DEFAULT_DATABASE, &headers, body).await?,
        &op,
    )
    .await
}

async fn index_named(
    State(app): State<Arc<App>>,
    Path((name, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    index(data_request(app, &name, &headers, body).await?, &op).await
}

async fn scan(request: DataRequest, op: &str) -> Result<Response, ApiError> {
    match op {
        "keys" => keys(request),
        "count" => count(request).await,
        "aggregate" => aggregate(request).await,
        other => Err(ApiError::NotFound(format!("no scan operation {other:?}"))),
    }
}

fn budget() -> ScanBudget {
    ScanBudget {
        entries_max: SCAN_ENTRIES_PER_REQUEST_MAX,
        deadline: Some(Instant::now() + Duration::from_millis(SCAN_TIME_PER_REQUEST_MS_MAX)),
    }
}

fn keys(request: DataRequest) -> Result<Response, ApiError> {
    let ask: s::ScanKeys = cairn_proto::decode(&request.body)?;
    let range = ask
        .range
        .ok_or_else(|| ApiError::BadRequest("scan/keys needs a range".into()))?;
    let limit = usize::try_from(range.limit)
        .ok()
        .filter(|l| *l > 0)
        .ok_or_else(|| {
            ApiError::BadRequest(format!("limit must be positive, got {}", range.limit))
        })?;
    let range = ReadRange {
        start: range.start,
        end: range.end,
        limit,
        reverse: range.reverse,
    };
    let keys = request.db.read_keys(&range)?;
    Ok(protobuf(&s::ScanKeysOutput {
        keys: keys
            .into_iter()
            .map(|k| s::ScanKey {
                key: k.key,
                versionstamp: k.versionstamp.0.to_vec(),
            })
            .collect(),
    }))
}

async fn count(request: DataRequest) -> Result<Response, ApiError> {
    let ask: s::ScanCount = cairn_proto::decode(&request.body)?;
    let db = request.db.clone();
    let page = tokio::task::spawn_blocking(move || db.count_page(&ask.start, &ask.end, budget()))
        .await
        .map_err(|_| ApiError::Store(StoreError::Closed))??;
    Ok(protobuf(&s::ScanCountOutput {
        count: page.count,
        resume_start: page.resume.unwrap_or_default(),
    }))
}

async fn aggregate(request: DataRequest) -> Result<Response, ApiError> {
    let ask: s::ScanAggregate = cairn_proto::decode(&request.body)?;
    let options = AggregateOptions {
        field: (!ask.field.is_empty()).then_some(ask.field),
    };
    let db = request.db.clone();
    let page = tokio::task::spawn_blocking(move || {
        db.aggregate_page(&ask.start, &ask.end, &options, budget())
    })
    .await
    .map_err(|_| ApiError::Store(StoreError::Closed))??;
    Ok(protobuf(&s::aggregate_to_proto(
        &page.aggregate,
        page.resume,
    )))
}

async fn index(request: DataRequest, op: &str) -> Result<Response, ApiError> {
    let require_write = |what: &str| match request.grant.access {
        Access::ReadWrite => Ok(()),
        Access::ReadOnly => Err(ApiError::Forbidden(format!(
            "a read-only token cannot {what} an index"
        ))),
    };
    let db = &request.db;
    match op {
        "create" => {
            require_write("create")?;
            let ask: s::IndexSpecMessage = cairn_proto::decode(&request.body)?;
            let info = db.create_index(s::index_spec_from_proto(&ask)?).await?;
            Ok(protobuf(&s::index_info_to_proto(&info)?))
        }
        "drop" => {
            require_write("drop")?;
            let ask: s::IndexDrop = cairn_proto::decode(&request.body)?;
            let dropped = db.drop_index(&ask.name).await?;
            Ok(protobuf(&s::IndexDropOutput { dropped }))
        }
        "list" => {
            let _: s::IndexList = cairn_proto::decode(&request.body)?;
            let indexes = db
                .indexes()?
                .iter()
                .map(s::index_info_to_proto)
                .collect::<Result<_, _>>()?;
            Ok(protobuf(&s::IndexListOutput { indexes }))
        }
        other => Err(ApiError::NotFound(format!("no index operation {other:?}"))),
    }
}
