//! Errors of the HTTP layer, and the one function that maps every error to a status.
//!
//! The rule that matters: a problem with the request is a 4xx with a plain-text reason. Deno's
//! clients retry 5xx forever, so a 5xx is reserved for faults of the server itself.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_proto::ProtoError;
use cairn_store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No token, or a token this server does not know.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// A valid token for another database, or a read-only token asking to write.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A malformed or unacceptable request.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the limit.
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive in time.
    #[error("request body not received within the time limit")]
    BodyTimeout,
    /// Too many concurrent watches for this token.
    #[error("too many concurrent watches for this token (at most {0})")]
    TooManyWatches(usize),
    /// Too many concurrent queue long-polls for this token.
    #[error("too many concurrent queue long-polls for this token (at most {0})")]
    TooManyPolls(usize),
    /// The server holds its limit of request bodies in flight
    /// (`ServerConfig::body_bytes_in_flight_max`). Sent before any handler ran: nothing of the
    /// request was applied, and it may be sent again as is.
    #[error("server is busy: {0}; nothing of this request was applied; retry later")]
    Overloaded(String),
    /// No such route or database.
    #[error("not found: {0}")]
    NotFound(String),
    /// A protobuf or protocol-level problem with the request.
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// The database refused or failed the operation.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The status of an error. Every error the server returns goes through here.
pub fn status(error: &ApiError) -> StatusCode {
    match error {
        ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
        ApiError::BadRequest(_) | ApiError::Proto(_) => StatusCode::BAD_REQUEST,
        ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        ApiError::TooManyWatches(_) | ApiError::TooManyPolls(_) => StatusCode::TOO_MANY_REQUESTS,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        // Server busy, nothing applied: Deno's clients retry a 503 with a backoff, where a 429
        // would fail the application's call at once (see `crate::limits`).
        ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Store(e) => store_status(e),
    }
}

fn store_status(error: &StoreError) -> StatusCode {
    match error {
        StoreError::Limit(_)
        | StoreError::Mutation(_)
        | StoreError::InvalidKey(_)
        | StoreError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        // A stale or foreign delivery id: the caller's lease is gone (it expired, or the
        // message was settled or handed out again). The caller's problem, never a 5xx.
        StoreError::DeliveryNotHeld { .. } => StatusCode::CONFLICT,
        // A full commit queue refused the write before it was queued: nothing was applied.
        StoreError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        // The server's own faults: the client may retry (after an operator reopened the
        // database, or once shutdown finished).
        StoreError::Poisoned(_) | StoreError::Closed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// True for the overload answers (503 with `Retry-After`, nothing applied).
fn is_overload(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Overloaded(_) | ApiError::Store(StoreError::Overloaded(_))
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status(&self);
        if is_overload(&self) {
            // Not a fault, and possibly thousands a second: no error log for each.
            tracing::debug!(error = %self, "request refused: overloaded");
            let retry_after = crate::limits::OVERLOAD_RETRY_AFTER_S.to_string();
            return (
                status,
                [
                    ("content-type", "text/plain; charset=utf-8"),
                    ("retry-after", retry_after.as_str()),
                ],
                self.to_string(),
            )
                .into_response();
        }
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, %status, "request refused");
        }
        (
            status,
            [("content-type", "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::{LimitError, MutationError};

    #[test]
    fn bad_input_is_never_a_server_error() {
        let bad = [
            ApiError::BadRequest("x".into()),
            ApiError::Store(StoreError::Limit(LimitError::EmptyKey)),
            ApiError::Store(StoreError::InvalidKey("k".into())),
            ApiError::Store(StoreError::InvalidArgument("a".into())),
            ApiError::TooLarge(1),
            ApiError::TooManyWatches(1),
            ApiError::TooManyPolls(1),
            ApiError::Unauthorized("no token"),
        ];
        for e in &bad {
            assert!(status(e).is_client_error(), "{e}: {}", status(e));
        }
        let mutation = MutationError::NonU64Value { op: "sum" };
        assert_eq!(
            status(&ApiError::Store(StoreError::Mutation(mutation))),
            StatusCode::BAD_REQUEST
        );
        let stale = StoreError::DeliveryNotHeld {
            delivery: "m#1".into(),
            reason: "lease expired".into(),
        };
        assert_eq!(status(&ApiError::Store(stale)), StatusCode::CONFLICT);
        assert_eq!(
            status(&ApiError::Store(StoreError::Poisoned("eio".into()))),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
