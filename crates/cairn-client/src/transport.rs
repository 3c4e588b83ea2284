//! HTTP/1.1 with a pool of kept-alive connections, one attempt at a time, and the retry
//! policy around attempts.
//!
//! Retry policy: a failed attempt is retried with doubling pauses for the retry budget
//! ([`crate::ClientOptions`]) when sending it again cannot do harm:
//!
//! - a read (or any request the caller marks idempotent): after any 5xx, a connection that
//!   could not be made, a lost or broken-off answer, a timeout;
//! - a write: only when it provably never reached the database: the connection could not be
//!   made (nothing was sent), cairn's `421` from a replica, or cairn's `503` with
//!   `cairn-not-applied: 1`
//!   ([`cairn_proto::NOT_APPLIED_HEADER`]), which cairn's server sends only for a request
//!   refused before its commit pipeline (`docs/protocol.md`). Any other failure of a write,
//!   a proxy's 502/503/504 included, may follow a committed write: sending it again could
//!   apply it twice (think `sum`), so the caller gets [`ClientError::OutcomeUnknown`].

use std::time::{Duration, Instant};

use crate::limits::{
    CLIENT_IDLE_CONNECTIONS_MAX, CLIENT_REASON_BYTES_MAX, CLIENT_RESPONSE_BYTES_MAX,
    CLIENT_RETRY_BACKOFF_MAX_MS, CLIENT_RETRY_BACKOFF_MIN_MS,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::{ClientError, Result};

/// The outcome of one attempt.
pub(crate) enum Attempt<T> {
    /// A 2xx answer.
    Done(T),
    /// Try again after a pause (5xx, or a lost answer to a read).
    Retry(String),
    /// Nothing was applied, and the server the session names may no longer be the one to
    /// ask (it cannot be reached, or it answered 421: it is a replica now, after a failover):
    /// run the metadata exchange again, then try again after a pause.
    Elsewhere {
        reason: String,
        /// The server answered 421 (it is a replica), as opposed to not answering.
        misdirected: bool,
    },
    /// 401/403: the caller may refresh its credentials once and try again.
    Unauthorized { status: u16, message: String },
    /// A final error.
    Fail(ClientError),
}

impl<T> Attempt<T> {
    /// Continues a successful attempt with `next`; a failure is carried over as it is.
    pub(crate) async fn then<U, F>(self, next: impl FnOnce(T) -> F) -> Attempt<U>
    where
        F: std::future::Future<Output = Attempt<U>>,
    {
        match self {
            Attempt::Done(t) => next(t).await,
            Attempt::Retry(reason) => Attempt::Retry(reason),
            Attempt::Elsewhere {
                reason,
                misdirected,
            } => Attempt::Elsewhere {
                reason,
                misdirected,
            },
            Attempt::Unauthorized { status, message } => Attempt::Unauthorized { status, message },
            Attempt::Fail(e) => Attempt::Fail(e),
        }
    }
}

/// The HTTP client: a pool of HTTP/1.1 connections with `TCP_NODELAY`.
#[derive(Clone)]
pub(crate) struct Transport {
    http: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Transport {
    pub(crate) fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        // Requests are small and latency-bound; Nagle's algorithm would hold them back.
        connector.set_nodelay(true);
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(CLIENT_IDLE_CONNECTIONS_MAX)
            .build(connector);
        Transport { http, timeout }
    }

    /// Sends one POST and waits for the response headers.
    pub(crate) async fn post(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
        idempotent: bool,
    ) -> Attempt<Response<Incoming>> {
        let mut request = hyper::Request::post(uri.clone());
        if let Some(h) = request.headers_mut() {
            h.clone_from(headers);
        }
        let request = match request.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => return Attempt::Fail(ClientError::Protocol(format!("bad request: {e}"))),
        };
        let sent = tokio::time::timeout(self.timeout, self.http.request(request)).await;
        let lost = |reason: String| {
            if idempotent {
                Attempt::Retry(reason)
            } else {
                Attempt::Fail(ClientError::OutcomeUnknown(reason))
            }
        };
        let response = match sent {
            Ok(Ok(response)) => response,
            // Not connected: the request never left, so even a write may be retried.
            Ok(Err(e)) if e.is_connect() => {
                return Attempt::Elsewhere {
                    reason: format!("cannot connect: {e}"),
                    misdirected: false,
                }
            }
            Ok(Err(e)) => return lost(format!("request failed: {e}")),
            Err(_) => return lost(format!("no answer within {:?}", self.timeout)),
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Done(response);
        }
        let not_applied = not_applied(response.headers());
        let message = reason(response, self.timeout).await;
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Attempt::Unauthorized {
                status: status.as_u16(),
                message,
            },
            // cairn's answer to a write durable on the primary that its synchronous replicas
            // did not confirm: not acknowledged, and not to be sent again.
            StatusCode::FAILED_DEPENDENCY => {
                Attempt::Fail(ClientError::OutcomeUnknown(format!("{status}: {message}")))
            }
            // cairn's answer from a replica to a write (refused before its pipeline): after
            // a failover the session may name a former primary; the exchange names the new.
            StatusCode::MISDIRECTED_REQUEST => Attempt::Elsewhere {
                reason: message,
                misdirected: true,
            },
            // Deno's clients retry every 5xx; this one does for reads and for writes that
            // the server marked as not applied, within its budget.
            s if s.is_server_error() && (idempotent || not_applied) => {
                Attempt::Retry(format!("{s}: {message}"))
            }
            // A 5xx without the mark may come from a proxy after the server committed.
            s if s.is_server_error() => Attempt::Fail(ClientError::OutcomeUnknown(format!(
                "{s} without the not-applied mark: {message}"
            ))),
            s => Attempt::Fail(ClientError::Refused {
                status: s.as_u16(),
                message,
            }),
        }
    }
}

/// Whether a response carries cairn's promise that nothing of the request was applied.
fn not_applied(headers: &HeaderMap) -> bool {
    headers
        .get(cairn_proto::NOT_APPLIED_HEADER)
        .is_some_and(|v| v.as_bytes() == cairn_proto::NOT_APPLIED_VALUE.as_bytes())
}

/// A successful response's whole body, bounded by [`CLIENT_RESPONSE_BYTES_MAX`].
pub(crate) async fn read_body(
    response: Response<Incoming>,
    idempotent: bool,
    timeout: Duration,
) -> Attempt<Bytes> {
    let body = Limited::new(response.into_body(), CLIENT_RESPONSE_BYTES_MAX);
    match tokio::time::timeout(timeout, body.collect()).await {
        Ok(Ok(collected)) => Attempt::Done(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Attempt::Fail(ClientError::Protocol(format!(
                "response larger than {CLIENT_RESPONSE_BYTES_MAX} bytes"
            )))
        }
        Ok(Err(e)) if idempotent => Attempt::Retry(format!("response broken off: {e}")),
        Ok(Err(e)) => Attempt::Fail(ClientError::OutcomeUnknown(format!(
            "response broken off: {e}"
        ))),
        Err(_) if idempotent => Attempt::Retry("response body timed out".into()),
        Err(_) => Attempt::Fail(ClientError::OutcomeUnknown(
            "response body timed out".into(),
        )),
    }
}

/// The plain-text reason of an error response (cut at [`CLIENT_REASON_BYTES_MAX`]).
async fn reason(response: Response<Incoming>, timeout: Duration) -> String {
    let body = Limited::new(response.into_body(), CLIENT_REASON_BYTES_MAX);
    match tokio::time::timeout(timeout, body.collect()).await {
        Ok(Ok(collected)) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_owned(),
        _ => "(no readable reason)".to_owned(),
    }
}

/// Doubling pauses between retries, within a budget.
pub(crate) struct Backoff {
    started: Instant,
    budget: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(budget: Duration) -> Self {
        Backoff {
            started: Instant::now(),
            budget,
            next: Duration::from_millis(CLIENT_RETRY_BACKOFF_MIN_MS),
        }
    }

    /// Pauses before the next attempt, or gives up with [`ClientError::Unavailable`] once the
    /// budget would be exceeded.
    pub(crate) async fn pause(&mut self, last: String) -> Result<()> {
        let elapsed = self.started.elapsed();
        if elapsed + self.next > self.budget {
            return Err(ClientError::Unavailable {
                retried_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                last,
            });
        }
        tracing::debug!(pause_ms = self.next.as_millis(), %last, "retrying");
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Duration::from_millis(CLIENT_RETRY_BACKOFF_MAX_MS));
        Ok(())
    }
}
