//! The replica's HTTP side: POSTs to its primary's replication extension over HTTP/1.1.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::limits::REPLICATION_REQUEST_TIMEOUT_MS;

/// Longest error text read from the primary.
const REASON_BYTES_MAX: usize = 64 * 1024;

/// A pool of kept-alive connections to primaries.
#[derive(Clone)]
pub(crate) struct Http {
    client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

/// What a request to the primary came to.
pub(crate) enum Answer {
    /// 200: the response, its body still to read.
    Ok(Response<Incoming>),
    /// Any other status, with the primary's text.
    Status(StatusCode, String),
}

impl Http {
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Http {
            client: hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .build(connector),
        }
    }

    /// POSTs JSON `body` to `url` with the replication token; waits for the response's head.
    pub(crate) async fn post(
        &self,
        url: &str,
        token: &str,
        body: String,
    ) -> Result<Answer, String> {
        let request = hyper::Request::post(url)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("{url}: {e}"))?;
        let timeout = Duration::from_millis(REPLICATION_REQUEST_TIMEOUT_MS);
        let response = match tokio::time::timeout(timeout, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(format!("{url}: {e}")),
            Err(_) => return Err(format!("{url}: no answer within {timeout:?}")),
        };
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(Answer::Ok(response));
        }
        let body = Limited::new(response.into_body(), REASON_BYTES_MAX);
        let text = match tokio::time::timeout(timeout, body.collect()).await {
            Ok(Ok(collected)) => String::from_utf8_lossy(&collected.to_bytes())
                .trim()
                .to_owned(),
            _ => String::new(),
        };
        Ok(Answer::Status(status, text))
    }
}
