//! What the server does with every request: an id (the client's `x-request-id` if sane, else
//! a new one) on a tracing span around its handling and on its response; its route and status
//! class counted for `/metrics`; one `slow request` warning when it took at least
//! `--slow-request-ms`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use cairn_store::stats::LATENCY_BUCKETS_NS;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing::Instrument;

use crate::App;

/// Longest `x-request-id` taken from a client; a longer or odd one is replaced.
pub(crate) const REQUEST_ID_BYTES_MAX: usize = 64;

type HttpLabels = [(&'static str, &'static str); 2];
type RouteLabels = [(&'static str, &'static str); 1];

/// Buckets of `cairn_http_request_duration_seconds`, the store's latency buckets in seconds.
#[derive(Clone, Copy)]
struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(LATENCY_BUCKETS_NS.iter().map(|&ns| ns as f64 / 1e9))
    }
}

/// The server's own metrics, updated by the [`observe`] middleware.
pub(crate) struct HttpMetrics {
    requests: Family<HttpLabels, Counter>,
    latency: Family<RouteLabels, Histogram, LatencyBuckets>,
}

impl HttpMetrics {
    /// Adds the families to a scrape's registry (they are shared, not copied).
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "cairn_http_requests",
            "HTTP requests answered, by route and status class",
            self.requests.clone(),
        );
        registry.register(
            "cairn_http_request_duration_seconds",
            "Time from a request's arrival to its response head, by route",
            self.latency.clone(),
        );
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(LatencyBuckets),
        }
    }
}

/// The route label of a request path: one of a fixed set, so the label stays bounded.
pub(crate) fn route_label(path: &str) -> &'static str {
    let mut segments = path.trim_matches('/').split('/');
    let (first, second) = (segments.next(), segments.next());
    // `/db/<name>/…` is `/…` of a named database.
    let rest: Vec<&str> = match (first, second) {
        (Some("db"), Some(_)) => segments.collect(),
        _ => path.trim_matches('/').split('/').collect(),
    };
    match rest.as_slice() {
        [] | [""] => "metadata",
        ["data", "snapshot_read"] => "snapshot_read",
        ["data", "atomic_write"] => "atomic_write",
        ["data", "watch"] => "watch",
        ["data", "queue", "enqueue"] => "queue_enqueue",
        ["data", "queue", "dequeue"] => "queue_dequeue",
        ["data", "queue", "ack"] => "queue_ack",
        ["data", "queue", "nack"] => "queue_nack",
        ["data", "queue", "stats"] => "queue_stats",
        ["replication", "stream"] => "replication_stream",
        ["replication", "ack"] => "replication_ack",
        ["replication", "promote"] => "replication_promote",
        ["metrics"] => "metrics",
        ["healthz"] => "healthz",
        ["readyz"] => "readyz",
        ["api", ..] => "api",
        ["console", ..] => "console",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A new request id: 32 hex digits, a random half fixed at start and a counter, so ids are
/// unique within a process and unlikely to repeat across restarts, for one atomic add (a
/// random id per request would cost a `getrandom` call each).
fn new_request_id() -> String {
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let process = PROCESS.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{process:016x}{n:016x}")
}

/// The middleware around every route (see the module's comment).
pub(crate) async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(request.uri().path());
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= REQUEST_ID_BYTES_MAX
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(new_request_id, str::to_owned);
    let method = request.method().clone();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let mut response = next.run(request).instrument(span).await;
    let elapsed = started.elapsed();
    let status = response.status();
    if app.config.metrics {
        let http = &app.http_metrics;
        http.requests
            .get_or_create(&[("route", route), ("status", status_class(status))])
            .inc();
        http.latency
            .get_or_create(&[("route", route)])
            .observe(elapsed.as_secs_f64());
    }
    let slow_ms = app.config.slow_request_ms;
    if slow_ms > 0 && elapsed.as_millis() >= u128::from(slow_ms) {
        tracing::warn!(
            request_id = %id,
            %method,
            %route,
            status = status.as_u16(),
            latency_ms = elapsed.as_millis() as u64,
            "slow request"
        );
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_a_fixed_set() {
        assert_eq!(route_label("/"), "metadata");
        assert_eq!(route_label("/db/app"), "metadata");
        assert_eq!(route_label("/data/snapshot_read"), "snapshot_read");
        assert_eq!(route_label("/db/app/data/atomic_write"), "atomic_write");
        assert_eq!(route_label("/db/app/data/queue/dequeue"), "queue_dequeue");
        assert_eq!(route_label("/metrics"), "metrics");
        assert_eq!(route_label("/api/v1/databases/app/entry"), "api");
        assert_eq!(route_label("/console/app.js"), "console");
        for odd in [
            "/data/xyz",
            "/db/app/data/../../etc",
            "/a/b/c/d/e",
            "/favicon.ico",
        ] {
            assert_eq!(route_label(odd), "other", "{odd}");
        }
    }
}
