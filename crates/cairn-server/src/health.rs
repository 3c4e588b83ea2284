//! `GET /healthz` and `GET /readyz`, for load balancers and orchestrators; outside the KV
//! Connect paths and without a token (they tell nothing but ready or why not).
//!
//! - `/healthz`: the process answers HTTP. Always 200 while it does.
//! - `/readyz`: 200 when the server takes requests: not shutting down and no open database
//!   poisoned (a failed sync makes a database refuse every write until it is reopened, so a
//!   balancer should send traffic elsewhere). Otherwise 503 with the reasons, one a line.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::App;

/// `GET /healthz`.
pub(crate) async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// `GET /readyz`.
pub(crate) async fn readyz(State(app): State<Arc<App>>) -> Response {
    let reasons = not_ready(&app);
    if reasons.is_empty() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let mut body = String::from("not ready\n");
    for reason in reasons {
        body.push_str(&reason);
        body.push('\n');
    }
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

/// Why the server is not ready; empty when it is.
fn not_ready(app: &App) -> Vec<String> {
    let mut reasons = Vec::new();
    if *app.closing.borrow() {
        reasons.push("shutting down".to_owned());
    }
    for (name, db) in app.registry.open_databases() {
        if let Some(error) = db.poisoned() {
            reasons.push(format!("database {name:?} is poisoned: {error}"));
        }
    }
    reasons
}
