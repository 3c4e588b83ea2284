//! Errors of the HTTP layer, and the one function that maps every error to a status.
//!
//! The rule that matters: a problem with the request is a 4xx with a plain-text reason. Deno's
//! clients retry 5xx forever, so a 5xx is reserved for faults of the server itself.
//!
//! Among the 5xx, one promise: `503` with the header `cairn-not-applied: 1`
//! ([`cairn_proto::NOT_APPLIED_HEADER`]) is sent only for a request refused before it reached
//! the database's commit pipeline, so nothing of it was applied and a client may send a write
//! again. Every other fault is `500`, without the header: a write answered so may or may not
//! have been applied (e.g. the sync of its batch failed after it was applied).

use axum::http::{HeaderValue, StatusCode};
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
    /// The request contradicts the state of the database (replication: not a primary,
    /// another database, a diverged history).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A replica asked for stream positions the primary no longer keeps: it must catch up
    /// from the archive. The body is JSON (`docs/protocol.md`).
    #[error("{{\"error\":\"not retained\",\"oldest\":{oldest},\"databaseId\":\"{database_id}\"}}")]
    NotRetained {
        /// The oldest position a replica can continue from.
        oldest: u64,
        /// The primary's database id.
        database_id: String,
    },
    /// A replica's history diverged from this primary's (it holds batches of a former
    /// primary past a promotion): 409 with a JSON body, so that the replica can tell it from
    /// the other refusals and rebuild itself from a snapshot (`--replica-rebuild auto`).
    #[error("{}", diverged_json(.0))]
    Diverged(String),
    /// A replica has not copied its database yet: nothing to read. Retry shortly.
    #[error("not ready: {0}; retry shortly")]
    ReplicaNotReady(String),
    /// A protobuf or protocol-level problem with the request.
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// The database refused or failed the operation.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A conditional request (`If-Match`, `If-None-Match`) whose condition does not hold:
    /// nothing was written.
    #[error("precondition failed: {0}; nothing was written")]
    PreconditionFailed(String),
    /// An atomic write whose checks failed (indexes into its checks): nothing was written.
    #[error("check failed: checks {0:?} do not hold; nothing was written")]
    ChecksFailed(Vec<u32>),
    /// A write a unique secondary index refused (another entry holds its values): nothing
    /// was written.
    #[error("{0}; nothing was written")]
    UniqueConflict(String),
    /// The route exists, but not for this method.
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
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
        ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::NotRetained { .. } => StatusCode::GONE,
        ApiError::Diverged(_) => StatusCode::CONFLICT,
        ApiError::ReplicaNotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
        // Server busy, nothing applied: Deno's clients retry a 503 with a backoff, where a 429
        // would fail the application's call at once (see `crate::limits`).
        ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Store(e) => store_status(e),
        ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        ApiError::ChecksFailed(_) | ApiError::UniqueConflict(_) => StatusCode::CONFLICT,
        ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
    }
}

/// A short, stable name of an error's kind, for the JSON API's `{"error": …, "reason": …}`.
pub fn code(error: &ApiError) -> &'static str {
    match error {
        ApiError::Unauthorized(_) => "unauthorized",
        ApiError::Forbidden(_) => "forbidden",
        ApiError::BadRequest(_) | ApiError::Proto(_) => "bad_request",
        ApiError::TooLarge(_) => "too_large",
        ApiError::BodyTimeout => "body_timeout",
        ApiError::TooManyWatches(_) => "too_many_watches",
        ApiError::TooManyPolls(_) => "too_many_polls",
        ApiError::Overloaded(_) => "overloaded",
        ApiError::NotFound(_) => "not_found",
        ApiError::PreconditionFailed(_) => "precondition_failed",
        ApiError::ChecksFailed(_) => "check_failed",
        ApiError::UniqueConflict(_) => "unique_conflict",
        ApiError::MethodNotAllowed(_) => "method_not_allowed",
        ApiError::Conflict(_) => "conflict",
        ApiError::NotRetained { .. } => "not_retained",
        ApiError::Diverged(_) => "diverged",
        ApiError::ReplicaNotReady(_) => "unavailable",
        ApiError::Store(StoreError::Overloaded(_)) => "overloaded",
        ApiError::Store(StoreError::ReadOnlyReplica { .. }) => "read_only_replica",
        ApiError::Store(StoreError::ReplicationUnconfirmed(_)) => "replication_unconfirmed",
        ApiError::Store(e) => match store_status(e) {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::CONFLICT => "conflict",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "internal",
        },
    }
}

fn store_status(error: &StoreError) -> StatusCode {
    match error {
        StoreError::Limit(_)
        | StoreError::Mutation(_)
        | StoreError::InvalidKey(_)
        | StoreError::InvalidArgument(_)
        | StoreError::ReservedKey { .. } => StatusCode::BAD_REQUEST,
        // A stale or foreign delivery id: the caller's lease is gone (it expired, or the
        // message was settled or handed out again). The caller's problem, never a 5xx.
        StoreError::DeliveryNotHeld { .. } => StatusCode::CONFLICT,
        // Refused before submission (poisoned or closed at the checks): nothing was applied,
        // and the answer says so (`not_applied`), so even a write may be sent again.
        StoreError::NotApplied(_) => StatusCode::SERVICE_UNAVAILABLE,
        // A full commit queue refused the write before it was queued: nothing was applied.
        StoreError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        // A write sent to a replica: the client's to send elsewhere, never a 5xx (Deno's
        // clients would retry it for ever). 421 Misdirected Request; the text names the
        // primary.
        StoreError::ReadOnlyReplica { .. } => StatusCode::MISDIRECTED_REQUEST,
        // Durable here but not confirmed by the synchronous replicas: not acknowledged. A
        // 5xx would make Deno's clients send the write again, applying it twice; 424 Failed
        // Dependency ends the call with the reason (cairn-client: `OutcomeUnknown`).
        StoreError::ReplicationUnconfirmed(_) => StatusCode::FAILED_DEPENDENCY,
        StoreError::Replication(_) => StatusCode::CONFLICT,
        // Everything else is a fault of the server. `Poisoned` or `Closed` *without* the
        // wrapper come from the pipeline after submission: the write may be on disk (its
        // batch was applied, then the sync failed), so the client must not take it for
        // refused.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Whether the answer to `error` promises that nothing of the request was applied: the
/// `503`s that carry [`cairn_proto::NOT_APPLIED_HEADER`]. Only refusals before submission
/// qualify; a cause that can follow an applied write must never be added here.
pub fn not_applied(error: &ApiError) -> bool {
    matches!(error, ApiError::Store(StoreError::NotApplied(_))) || is_overload(error)
}

/// The body of [`ApiError::Diverged`]: `{"error":"diverged","reason":…}`.
fn diverged_json(reason: &str) -> String {
    serde_json::json!({ "error": "diverged", "reason": reason }).to_string()
}

/// The answer to a JSON error (`NotRetained`) is JSON.
fn is_json(error: &ApiError) -> bool {
    matches!(error, ApiError::NotRetained { .. } | ApiError::Diverged(_))
}

/// True for the overload answers (503 with `Retry-After`, nothing applied): a full server,
/// a full commit queue, too few synchronous replicas connected, a replica not ready yet.
fn is_overload(error: &ApiError) -> bool {
    match error {
        ApiError::Overloaded(_)
        | ApiError::ReplicaNotReady(_)
        | ApiError::Store(StoreError::Overloaded(_)) => true,
        ApiError::Store(StoreError::NotApplied(cause)) => {
            matches!(
                **cause,
                StoreError::ReplicasUnavailable(_) | StoreError::NotLeader(_)
            )
        }
        _ => false,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status(&self);
        let overload = is_overload(&self);
        if overload {
            // Not a fault, and possibly thousands a second: no error log for each.
            tracing::debug!(error = %self, "request refused: overloaded");
        } else if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, %status, "request refused");
        }
        let content_type = if is_json(&self) {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        let mut response =
            (status, [("content-type", content_type)], self.to_string()).into_response();
        let headers = response.headers_mut();
        if overload {
            headers.insert(
                "retry-after",
                HeaderValue::from(crate::limits::OVERLOAD_RETRY_AFTER_S),
            );
        }
        if not_applied(&self) {
            headers.insert(
                cairn_proto::NOT_APPLIED_HEADER,
                HeaderValue::from_static(cairn_proto::NOT_APPLIED_VALUE),
            );
        }
        response
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
            ApiError::Store(StoreError::ReservedKey {
                key: "[\"i\"]".into(),
                index: "i".into(),
            }),
            ApiError::Proto(ProtoError::Extension("e".into())),
            ApiError::TooLarge(1),
            ApiError::TooManyWatches(1),
            ApiError::TooManyPolls(1),
            ApiError::Unauthorized("no token"),
            ApiError::PreconditionFailed("stale".into()),
            ApiError::ChecksFailed(vec![0]),
            ApiError::MethodNotAllowed("PATCH".into()),
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
        // Replication answers that Deno's clients must not retry for ever.
        let replica = StoreError::ReadOnlyReplica {
            primary: "http://p".into(),
        };
        assert_eq!(
            status(&ApiError::Store(replica)),
            StatusCode::MISDIRECTED_REQUEST
        );
        let unconfirmed = StoreError::ReplicationUnconfirmed("timeout".into());
        assert_eq!(
            status(&ApiError::Store(unconfirmed)),
            StatusCode::FAILED_DEPENDENCY
        );
    }

    fn answer(error: StoreError) -> (StatusCode, Option<String>) {
        let response = ApiError::Store(error).into_response();
        let mark = response
            .headers()
            .get(cairn_proto::NOT_APPLIED_HEADER)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        (response.status(), mark)
    }

    #[test]
    fn only_refusals_before_submission_promise_nothing_was_applied() {
        let not_applied = Some(cairn_proto::NOT_APPLIED_VALUE.to_owned());
        for cause in [StoreError::Poisoned("eio".into()), StoreError::Closed] {
            let refused = StoreError::NotApplied(Box::new(cause));
            assert_eq!(
                answer(refused),
                (StatusCode::SERVICE_UNAVAILABLE, not_applied.clone())
            );
        }
        // The pipeline's answers after submission: the write may be on disk.
        for after in [StoreError::Poisoned("eio".into()), StoreError::Closed] {
            assert_eq!(answer(after), (StatusCode::INTERNAL_SERVER_ERROR, None));
        }
        // A refusal of bad input carries no mark either: it is not retried anyway.
        let bad = StoreError::InvalidArgument("a".into());
        assert_eq!(answer(bad), (StatusCode::BAD_REQUEST, None));
    }
}
