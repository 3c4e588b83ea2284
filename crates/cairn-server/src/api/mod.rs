//! The HTTP/JSON API under `/api/v1` (specified in `openapi.json`, documented in
//! `docs/http-api.md`): any language, or `curl`, reads and writes cairn with JSON.
//!
//! Requests carry an access token (`Authorization: Bearer <token>`, never a cookie or a query
//! parameter), the same tokens and grants as KV Connect: a token opens the databases its grant
//! names, a read-only token gets 403 on every write. Keys are JSON tuples (`keys`), values
//! typed JSON (`values`). One file per resource:
//!
//! | route | file |
//! |---|---|
//! | `GET /databases`, `GET`/`PUT /databases/{db}`, `GET /databases/{db}/stats` | `databases.rs` |
//! | `GET`/`PUT`/`DELETE /databases/{db}/entry?key=…` (ETag = versionstamp) | `entry.rs` |
//! | `GET /databases/{db}/entries`, `…/count`, `…/children` | `list.rs`, `children.rs` |
//! | `POST /databases/{db}/atomic` | `atomic.rs` |
//! | `GET /databases/{db}/watch` (Server-Sent Events) | `watch.rs` |
//! | `GET /databases/{db}/queue` | `queue.rs` |
//! | `GET /openapi.json` | `openapi.rs` |
//!
//! Errors are JSON, `{"error": <code>, "reason": <text>}`, with the status of
//! [`crate::error::status`] (`reply.rs`). Bodies go through the server's one body budget
//! (`crate::routes::read_body`). Cross-origin requests are refused unless
//! `ServerConfig::api_cors_origins` names the origin (`cors.rs`).

mod atomic;
mod children;
mod cors;
mod databases;
mod entry;
pub mod keys;
mod list;
mod openapi;
mod queue;
mod reply;
mod request;
pub mod values;
mod watch;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::routes::BodyBudget;
use crate::App;
pub(crate) use reply::JsonError;

/// The API's routes, nested under `/api/v1`, with their own body middleware (errors as JSON)
/// over the server's shared body budget.
pub(crate) fn router(app: &Arc<App>, budget: Arc<BodyBudget>) -> Router<Arc<App>> {
    let db = "/databases/{db}";
    let v1 = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/databases", get(databases::list))
        .route(db, get(databases::show).put(databases::create))
        .route(&format!("{db}/stats"), get(databases::stats))
        .route(
            &format!("{db}/entry"),
            get(entry::get).put(entry::put).delete(entry::delete),
        )
        .route(&format!("{db}/entries"), get(list::entries))
        .route(&format!("{db}/count"), get(list::count))
        .route(&format!("{db}/children"), get(children::children))
        .route(&format!("{db}/atomic"), post(atomic::atomic))
        .route(&format!("{db}/watch"), get(watch::watch))
        .route(&format!("{db}/queue"), get(queue::stats))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(budget, read_body))
        .layer(DefaultBodyLimit::max(app.config.body_bytes_max))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            cors::cors,
        ));
    Router::new().nest("/api/v1", v1)
}

/// [`crate::routes::read_body`], answering its refusals (too large, overloaded, too slow) as
/// JSON.
async fn read_body(
    State(budget): State<Arc<BodyBudget>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match crate::routes::read_body(State(budget), request, next).await {
        Ok(response) => response,
        Err(e) => JsonError(e).into_response(),
    }
}

async fn not_found(uri: axum::http::Uri) -> JsonError {
    JsonError(ApiError::NotFound(format!(
        "no API route /api/v1{}; see /api/v1/openapi.json",
        uri.path()
    )))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> JsonError {
    JsonError(ApiError::MethodNotAllowed(format!(
        "{method} /api/v1{}; see /api/v1/openapi.json",
        uri.path()
    )))
}
