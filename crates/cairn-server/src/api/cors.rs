//! Cross-origin requests to the API: refused (no CORS headers at all) unless the operator
//! names the origins allowed (`ServerConfig::api_cors_origins`, `--cors-origin`). The token
//! travels in the `Authorization` header, never a cookie, so a page of another origin cannot
//! use a signed-in user's credentials either way; CORS only decides whether such a page may
//! read the answers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::limits::API_CORS_MAX_AGE_S;
use crate::App;

/// Answers preflights and marks answers to allowed origins.
pub(crate) async fn cors(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .filter(|origin| {
            app.config
                .api_cors_origins
                .iter()
                .any(|o| o == "*" || origin.as_bytes() == o.as_bytes())
        })
        .cloned();
    let Some(origin) = allowed else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, PUT, POST, DELETE"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, if-match, if-none-match"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(API_CORS_MAX_AGE_S),
        );
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("etag"),
    );
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}
