//! The web console at `/console`: a page to sign in with a token, browse keys by tuple prefix,
//! read and edit typed values with a versionstamp check, watch keys and prefixes, and see the
//! queue and the database's own figures. Hand-written HTML, JavaScript (ES modules) and CSS,
//! compiled into the binary: no CDN, no build step, works offline. It speaks only the JSON
//! API (`crate::api`), with the token in the `Authorization` header (kept in the tab's
//! `sessionStorage`, never a cookie, so no other site can make requests with it).
//!
//! Stored values are untrusted text: the scripts insert them with `textContent` only, and the
//! page's Content-Security-Policy allows no inline script and no other origin, so a value
//! holding markup stays text.
//!
//! `ServerConfig::console = false` (`cairn serve --no-console`) leaves these routes out.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The console's files: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("index.html"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("console.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("api.js"),
    ),
    (
        "values.js",
        "text/javascript; charset=utf-8",
        include_str!("values.js"),
    ),
    (
        "tree.js",
        "text/javascript; charset=utf-8",
        include_str!("tree.js"),
    ),
    (
        "entry.js",
        "text/javascript; charset=utf-8",
        include_str!("entry.js"),
    ),
    (
        "panels.js",
        "text/javascript; charset=utf-8",
        include_str!("panels.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("dom.js"),
    ),
];

/// Scripts and styles from this origin only; no inline script, no framing, no form posts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The console's routes.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(|| async { asset("index.html") }))
        .route("/console/", get(|| async { asset("index.html") }))
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
}

fn asset(name: &str) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such console file\n").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        *body,
    )
        .into_response()
}
