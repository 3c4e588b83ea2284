//! The metadata exchange (kv-connect.md §1) and what it yields: the data-path endpoint, the
//! short-lived data token and the headers every data request carries.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::limits::CLIENT_METADATA_REFRESH_MS;
use bytes::Bytes;
use cairn_proto::metadata::{parse_rfc3339_ms, MetadataRequest, MetadataResponse};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::Uri;
use url::Url;

use crate::error::{ClientError, Result};
use crate::transport::{read_body, Attempt, Backoff, Transport};
use crate::ClientOptions;

/// The protocol versions this client speaks (it reads `failed_checks`, which came with 3).
const SUPPORTED_VERSIONS: [u64; 2] = [2, 3];

/// One result of the metadata exchange.
pub(crate) struct Session {
    pub(crate) database_id: String,
    pub(crate) snapshot_read: Uri,
    pub(crate) atomic_write: Uri,
    pub(crate) watch: Uri,
    /// cairn's queue extension (`docs/protocol.md`): enqueue, dequeue, ack, nack, stats.
    pub(crate) queue: [Uri; 5],
    /// cairn's scan extension (`docs/protocol.md` §10): keys, count, aggregate.
    pub(crate) scan: [Uri; 3],
    /// cairn's index extension (§11): create, drop, list.
    pub(crate) index: [Uri; 3],
    /// Authorization, content type, protocol version and database id.
    pub(crate) headers: HeaderMap,
    /// When to run the exchange again.
    pub(crate) refresh_at: Instant,
}

impl Session {
    pub(crate) fn is_due(&self) -> bool {
        Instant::now() >= self.refresh_at
    }
}

/// Checks a database URL: `http://host:port[/db/<name>]`.
pub(crate) fn parse_url(url: &str) -> Result<Url> {
    let bad = |reason: &str| ClientError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    match parsed.scheme() {
        "http" => Ok(parsed),
        "https" => Err(bad(
            "https is not supported by this client yet; put cairn behind a TLS-terminating proxy \
             on the client side, or use http on a trusted network",
        )),
        _ => Err(bad("the scheme must be http")),
    }
}

/// Runs the metadata exchange, retrying an unreachable or failing server within the budget.
pub(crate) async fn exchange(
    transport: &Transport,
    url: &Url,
    access_token: &str,
    options: &ClientOptions,
) -> Result<Session> {
    let uri = to_uri(url)?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, bearer(access_token)?);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let request = MetadataRequest {
        supported_versions: SUPPORTED_VERSIONS.to_vec(),
    };
    let body = Bytes::from(serde_json::to_vec(&request).unwrap_or_default());
    let mut backoff = Backoff::new(options.retry_budget);
    let bytes = loop {
        let sent = transport.post(&uri, &headers, body.clone(), true).await;
        let timeout = options.request_timeout;
        let attempt = sent
            .then(|response| async move {
                let json = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                if !json {
                    return Attempt::Fail(ClientError::Protocol(
                        "metadata response is not application/json (is this a KV Connect URL?)"
                            .into(),
                    ));
                }
                read_body(response, true, timeout).await
            })
            .await;
        match attempt {
            Attempt::Done(bytes) => break bytes,
            Attempt::Retry(last) | Attempt::Elsewhere { reason: last, .. } => {
                backoff.pause(last).await?
            }
            Attempt::Unauthorized { status, message } => {
                return Err(ClientError::Unauthorized { status, message })
            }
            Attempt::Fail(e) => return Err(e),
        }
    };
    let metadata: MetadataResponse = serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Protocol(format!("metadata response: {e}")))?;
    session(url, metadata)
}

/// The session a metadata response describes.
fn session(url: &Url, metadata: MetadataResponse) -> Result<Session> {
    let protocol = |reason: String| ClientError::Protocol(format!("metadata response: {reason}"));
    if !SUPPORTED_VERSIONS.contains(&metadata.version) {
        return Err(protocol(format!(
            "protocol version {} is not one this client speaks",
            metadata.version
        )));
    }
    let endpoint = metadata
        .endpoints
        .iter()
        .find(|e| e.consistency == "strong")
        .ok_or_else(|| protocol("no strong endpoint".into()))?;
    // A relative endpoint is resolved against the metadata URL.
    let base = url
        .join(&endpoint.url)
        .map_err(|e| protocol(format!("endpoint {:?}: {e}", endpoint.url)))?;
    let at = |path: &str| -> Result<Uri> {
        let mut u = base.clone();
        u.set_path(&format!("{}/{path}", base.path().trim_end_matches('/')));
        to_uri(&u)
    };
    let expires_at_ms = parse_rfc3339_ms(&metadata.expires_at).ok_or_else(|| {
        protocol(format!(
            "expiresAt {:?} is not RFC 3339",
            metadata.expires_at
        ))
    })?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    // Refresh well before the token expires (halfway), and at least every minute.
    let remaining = expires_at_ms.saturating_sub(now_ms);
    let refresh_in = (remaining / 2).min(CLIENT_METADATA_REFRESH_MS);

    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, bearer(&metadata.token)?);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(
        HeaderName::from_static("x-denokv-version"),
        HeaderValue::from(metadata.version),
    );
    headers.insert(
        HeaderName::from_static("x-denokv-database-id"),
        HeaderValue::from_str(&metadata.database_id)
            .map_err(|_| protocol("databaseId is not a header value".into()))?,
    );
    Ok(Session {
        snapshot_read: at("snapshot_read")?,
        atomic_write: at("atomic_write")?,
        watch: at("watch")?,
        queue: [
            at("queue/enqueue")?,
            at("queue/dequeue")?,
            at("queue/ack")?,
            at("queue/nack")?,
            at("queue/stats")?,
        ],
        scan: [at("scan/keys")?, at("scan/count")?, at("scan/aggregate")?],
        index: [at("index/create")?, at("index/drop")?, at("index/list")?],
        database_id: metadata.database_id,
        headers,
        refresh_at: Instant::now() + Duration::from_millis(refresh_in),
    })
}

fn bearer(token: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| ClientError::Protocol("token is not a valid header value".into()))
}

fn to_uri(url: &Url) -> Result<Uri> {
    url.as_str().parse().map_err(|e| ClientError::Url {
        url: url.to_string(),
        reason: format!("{e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::metadata::{rfc3339_ms, Endpoint};

    fn metadata(endpoint: &str, version: u64) -> MetadataResponse {
        MetadataResponse {
            version,
            database_id: "8d9a7c1e-0000-4000-8000-000000000000".into(),
            endpoints: vec![Endpoint {
                url: endpoint.into(),
                consistency: "strong".into(),
            }],
            token: "data-token".into(),
            expires_at: rfc3339_ms(4_102_444_800_000),
        }
    }

    #[test]
    fn relative_endpoints_resolve_against_the_metadata_url() {
        let url = parse_url("http://127.0.0.1:4512/db/app").expect("valid");
        let s = session(&url, metadata("/db/app/data", 3)).expect("valid");
        assert_eq!(
            s.atomic_write.to_string(),
            "http://127.0.0.1:4512/db/app/data/atomic_write"
        );
        let s = session(&url, metadata("http://10.0.0.1:9/x", 2)).expect("valid");
        assert_eq!(s.watch.to_string(), "http://10.0.0.1:9/x/watch");
        assert_eq!(
            s.headers.get("x-denokv-version").map(|v| v.as_bytes()),
            Some(&b"2"[..])
        );
        assert_eq!(
            s.headers.get(AUTHORIZATION).map(|v| v.as_bytes()),
            Some(&b"Bearer data-token"[..])
        );
    }

    #[test]
    fn unusable_metadata_is_a_protocol_error() {
        let url = parse_url("http://127.0.0.1:4512").expect("valid");
        assert!(matches!(
            session(&url, metadata("/data", 1)),
            Err(ClientError::Protocol(_))
        ));
        let mut eventual_only = metadata("/data", 3);
        eventual_only.endpoints[0].consistency = "eventual".into();
        assert!(matches!(
            session(&url, eventual_only),
            Err(ClientError::Protocol(_))
        ));
        let mut bad_time = metadata("/data", 3);
        bad_time.expires_at = "tomorrow".into();
        assert!(matches!(
            session(&url, bad_time),
            Err(ClientError::Protocol(_))
        ));
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(parse_url("http://localhost:4512").is_ok());
        for bad in ["https://example.com", "ftp://x", "not a url", "/relative"] {
            assert!(
                matches!(parse_url(bad), Err(ClientError::Url { .. })),
                "{bad}"
            );
        }
    }
}
