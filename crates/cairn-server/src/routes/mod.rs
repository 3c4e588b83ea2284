//! Request handlers: the metadata exchange and one file per data-path command.

pub(crate) mod atomic_write;
pub(crate) mod backup;
pub(crate) mod metadata;
pub(crate) mod queue;
pub(crate) mod replication;
pub(crate) mod scan;
pub(crate) mod snapshot_read;
pub(crate) mod watch;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cairn_proto::Message;
use cairn_store::{Clock, Database};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::Grant;
use crate::error::ApiError;
use crate::registry::DEFAULT_DATABASE;
use crate::App;

/// A request body's share of the budget, in the request's extensions: a handler that has
/// handed the body's content on to a bound of its own (a write to the commit queue) gives the
/// share back early; otherwise it goes back when the answer is ready.
#[derive(Clone)]
pub(crate) struct BodyShare(Arc<parking_lot::Mutex<Option<OwnedSemaphorePermit>>>);

impl BodyShare {
    /// Gives the share back now.
    pub(crate) fn release(&self) {
        self.0.lock().take();
    }
}

/// The size bound of one request body and the server's budget of body bytes in flight.
pub(crate) struct BodyBudget {
    /// Largest body of one request.
    limit: usize,
    /// Bytes of bodies held from before they are read until their answer is ready.
    in_flight: Arc<Semaphore>,
    in_flight_max: usize,
}

impl BodyBudget {
    pub(crate) fn new(limit: usize, in_flight_max: usize) -> Self {
        let in_flight_max = in_flight_max.clamp(limit, Semaphore::MAX_PERMITS);
        BodyBudget {
            limit,
            in_flight: Arc::new(Semaphore::new(in_flight_max)),
            in_flight_max,
        }
    }

    /// A share of the budget for a body of `bytes`, or `None` when the server holds too many
    /// bodies already.
    fn try_take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes.min(self.in_flight_max)).ok()?;
        self.in_flight.clone().try_acquire_many_owned(bytes).ok()
    }
}

/// Reads the whole body before any handler runs, within [`crate::BODY_TIMEOUT`], the size
/// limit and the server's budget of body bytes in flight. A `Content-Length` over the limit
/// is refused before a byte of the body is read; a body that stalls is cut off instead of
/// holding the connection. (Ambiguous framing never gets here: the framing guard refuses it
/// before hyper parses the request, and HTTP/2 forbids `Transfer-Encoding`.)
///
/// The body's share of the budget (its `Content-Length`, or the limit when it announces
/// none) is taken before it is read and given back once the handler's answer is ready (a
/// watch stream's, before the stream starts). When the budget has no room, the body is read
/// and dropped, and the answer is 503 with `Retry-After`: no handler ran, nothing was applied.
/// An `atomic_write` gives its share back once decoded: its write is then counted by its
/// database's commit queue, so a database whose disk stalls holds its queue's worth of
/// writes, not the server's budget of bodies (reads and other databases go on).
pub(crate) async fn read_body(
    State(budget): State<Arc<BodyBudget>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, ApiError> {
    let limit = budget.limit;
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let announced = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let share = announced.map_or(limit, |n| usize::try_from(n).unwrap_or(limit));
    let Some(permit) = budget.try_take(share) else {
        // Read and dropped, so that the answer reaches the client on a connection it keeps.
        discard(body, limit).await;
        return Err(ApiError::Overloaded(format!(
            "the server holds its limit of {} bytes of request bodies",
            budget.in_flight_max
        )));
    };
    let bytes = tokio::time::timeout(crate::BODY_TIMEOUT, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::BodyTimeout)?
        .map_err(|_| ApiError::TooLarge(limit))?;
    let share = BodyShare(Arc::new(parking_lot::Mutex::new(Some(permit))));
    let mut parts = parts;
    parts.extensions.insert(share.clone());
    let response = next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await;
    share.release();
    Ok(response)
}

/// Reads and drops a body refused for want of budget (at most `limit` bytes, within the body
/// timeout), holding no more than one frame of it at a time.
async fn discard(body: axum::body::Body, limit: usize) {
    let mut stream = body.into_data_stream();
    let mut read = 0usize;
    let _ = tokio::time::timeout(crate::BODY_TIMEOUT, async {
        while let Some(Ok(chunk)) = stream.next().await {
            read = read.saturating_add(chunk.len());
            if read > limit {
                break;
            }
        }
    })
    .await;
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
    Extension(share): Extension<BodyShare>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    data(app, DEFAULT_DATABASE, &op, &headers, (body, share)).await
}

pub(crate) async fn data_named(
    State(app): State<Arc<App>>,
    Path((name, op)): Path<(String, String)>,
    Extension(share): Extension<BodyShare>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    data(app, &name, &op, &headers, (body, share)).await
}

async fn data(
    app: Arc<App>,
    name: &str,
    op: &str,
    headers: &HeaderMap,
    (body, share): (Bytes, BodyShare),
) -> Result<Response, ApiError> {
    let request = data_request(app, name, headers, body).await?;
    match op {
        "snapshot_read" => snapshot_read::handle(request).await,
        "atomic_write" => atomic_write::handle(request, &share).await,
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
