//! Request handlers: the metadata exchange and one file per data-path command.

pub(crate) mod atomic_write;
pub(crate) mod metadata;
pub(crate) mod queue;
pub(crate) mod snapshot_read;
pub(crate) mod watch;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cairn_proto::Message;
use cairn_store::{Clock, Database};

use crate::auth::Grant;
use crate::error::ApiError;
use crate::registry::DEFAULT_DATABASE;
use crate::App;

/// Reads the whole body before any handler runs, within [`crate::BODY_TIMEOUT`] and the
/// size limit. A `Content-Length` over the limit is refused before a byte of the body is
/// read; a body that stalls is cut off instead of holding the connection. (Ambiguous framing
/// never gets here: the framing guard refuses it before hyper parses the request, and
/// HTTP/2 forbids `Transfer-Encoding`.)
pub(crate) async fn read_body(
    State(limit): State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let announced = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let bytes = tokio::time::timeout(crate::BODY_TIMEOUT, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::BodyTimeout)?
        .map_err(|_| ApiError::TooLarge(limit))?;
    Ok(next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await)
}

/// The bearer token of a request.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get("authorization")
        .ok_or(ApiError::Unauthorized("missing Authorization header"))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("Authorization header is not text"))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "Authorization must be \"Bearer <token>\"",
        ))
}

/// A protobuf response.
pub(crate) fn protobuf(message: &impl Message) -> Response {
    (
        [("content-type", "application/x-protobuf")],
        message.encode_to_vec(),
    )
        .into_response()
}

/// A data-path request, authenticated.
pub(crate) struct DataRequest {
    pub app: Arc<App>,
    pub db: Database,
    pub grant: Grant,
    pub body: Bytes,
}

pub(crate) async fn data_default(
    State(app): State<Arc<App>>,
    Path(op): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    data(app, DEFAULT_DATABASE, &op, &headers, body).await
}

pub(crate) async fn data_named(
    State(app): State<Arc<App>>,
    Path((name, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    data(app, &name, &op, &headers, body).await
}

async fn data(
    app: Arc<App>,
    name: &str,
    op: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = data_request(app, name, headers, body).await?;
    match op {
        "snapshot_read" => snapshot_read::handle(request).await,
        "atomic_write" => atomic_write::handle(request).await,
        "watch" => watch::handle(request),
        other => Err(ApiError::NotFound(format!(
            "no data-path operation {other:?}"
        ))),
    }
}

/// Authenticates a data-path request to database `name`: data token, protocol headers,
/// database id. Shared by KV Connect's commands and cairn's extensions (`queue.rs`).
pub(crate) async fn data_request(
    app: Arc<App>,
    name: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<DataRequest, ApiError> {
    let token = bearer(headers)?;
    let grant =
        app.auth
            .data_token(token, name, app.clock.now_ms())
            .ok_or(ApiError::Unauthorized(
                "invalid or expired data token; repeat the metadata exchange",
            ))?;
    check_protocol_headers(headers)?;
    let db = app.registry.get(name, grant.access).await?;
    if let Some(id) = headers.get("x-denokv-database-id") {
        if id.to_str().ok() != Some(db.database_id().to_string().as_str()) {
            return Err(ApiError::BadRequest(
                "x-denokv-database-id does not match this database".into(),
            ));
        }
    }
    Ok(DataRequest {
        app,
        db,
        grant,
        body,
    })
}

fn check_protocol_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("x-denokv-version").map(|v| v.to_str()) {
        None | Some(Ok("1" | "2" | "3")) => Ok(()),
        Some(_) => Err(ApiError::BadRequest(
            "x-denokv-version must be 1, 2 or 3".into(),
        )),
    }
}
