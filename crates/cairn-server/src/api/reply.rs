//! What the API answers: JSON bodies, and errors as `{"error": <code>, "reason": <text>}`
//! with the status [`crate::error::status`] gives (and, for an overload, the same
//! `Retry-After` and not-applied mark as KV Connect's answers).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_model::{Entry, RequestError, Versionstamp};
use cairn_store::StoreError;
use serde_json::{json, Value};

use super::keys::key_to_json;
use super::values::{to_json, ValueError};
use crate::error::{code, ApiError};

/// An error of the JSON API: any [`ApiError`], answered as JSON.
#[derive(Debug)]
pub(crate) struct JsonError(pub ApiError);

impl From<ApiError> for JsonError {
    fn from(e: ApiError) -> Self {
        JsonError(e)
    }
}

impl From<StoreError> for JsonError {
    fn from(e: StoreError) -> Self {
        JsonError(ApiError::Store(e))
    }
}

impl From<ValueError> for JsonError {
    fn from(e: ValueError) -> Self {
        JsonError(ApiError::BadRequest(e.to_string()))
    }
}

impl From<RequestError> for JsonError {
    fn from(e: RequestError) -> Self {
        JsonError(ApiError::BadRequest(e.to_string()))
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        let error = self.0;
        let mut body = json!({ "error": code(&error), "reason": error.to_string() });
        if let ApiError::ChecksFailed(failed) = &error {
            body["failedChecks"] = json!(failed);
        }
        // The status, headers and log line of the error as every route answers it; only the
        // body differs.
        let mut response = error.into_response();
        *response.body_mut() = Body::from(body.to_string());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A versionstamp as the API writes it (20 hex digits) and its entity tag (quoted).
pub(crate) fn etag(versionstamp: &Versionstamp) -> HeaderValue {
    // Hex digits and quotes are always a valid header value.
    HeaderValue::from_str(&format!("\"{}\"", versionstamp.to_hex()))
        .unwrap_or(HeaderValue::from_static("\"\""))
}

/// An entry as JSON: key, typed value (left out for `keys_only`), versionstamp.
pub(crate) fn entry_json(entry: &Entry, keys_only: bool) -> Value {
    let mut out = json!({
        "key": key_to_json(&entry.key),
        "versionstamp": entry.versionstamp.to_hex(),
    });
    if !keys_only {
        out["value"] = to_json(&entry.value);
    }
    out
}
