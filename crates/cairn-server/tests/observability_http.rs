//! `/metrics`, `/healthz`, `/readyz` and request ids over raw HTTP/1.1 on a real socket:
//! metrics are served only behind the metrics token on the main listener (404 with the way to
//! turn them on when none is set, 401 without the right token, never a data token) and
//! without a token on the `--metrics-listen` listener; health and readiness need no token;
//! every answer carries a request id, the client's own when it sent a sane one.

use std::net::SocketAddr;

use cairn_server::{ServerConfig, TokenGrant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

struct Server {
    addr: SocketAddr,
    metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(metrics_token: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::new(dir.path());
        config.tokens = vec![TokenGrant::read_write_all("rw")];
        config.metrics_token = metrics_token.map(str::to_owned);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (addr, metrics_addr) = (
            listener.local_addr().expect("addr"),
            metrics.local_addr().expect("addr"),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(cairn_server::serve_with_metrics(
            config,
            listener,
            Some(metrics),
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            addr,
            metrics_addr,
            stop: Some(stop),
            done: Some(done),
            _dir: dir,
        }
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.expect("server task").expect("server ran");
        }
    }
}

/// A request with `headers` (each ending in CRLF); returns status, head and body.
async fn request(addr: SocketAddr, line: &str, headers: &str) -> (u16, String, String) {
    request_with_body(addr, line, headers, "").await
}

async fn request_with_body(
    addr: SocketAddr,
    line: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let length = body.len();
    let text = format!(
        "{line} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {length}\r\nConnection: close\r\n\r\n{body}"
    );
    stream.write_all(text.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a full answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn metrics_are_behind_the_metrics_token_on_the_main_listener() {
    let server = Server::start(Some("scrape-me")).await;
    let (status, _, body) = request(server.addr, "GET /metrics", "").await;
    assert_eq!(status, 401, "{body}");
    let data_token = "Authorization: Bearer rw\r\n";
    let (status, _, _) = request(server.addr, "GET /metrics", data_token).await;
    assert_eq!(status, 401, "an access token is not the metrics token");
    // Open the default database (the metadata exchange), so that it has series.
    let (status, _, body) = request_with_body(
        server.addr,
        "POST /",
        "Authorization: Bearer rw\r\nContent-Type: application/json\r\n",
        "{\"supportedVersions\":[1,2,3]}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = "Authorization: Bearer scrape-me\r\n";
    let (status, head, body) = request(server.addr, "GET /metrics", token).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        body.contains("cairn_poisoned{database=\"default\"} 0"),
        "{body}"
    );
    assert!(
        body.contains("cairn_http_requests_total{route=\"metrics\",status=\"4xx\"} 2"),
        "the refused scrapes are counted: {body}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn without_a_metrics_token_the_main_listener_says_how_to_get_metrics() {
    let server = Server::start(None).await;
    let (status, _, body) = request(server.addr, "GET /metrics", "").await;
    assert_eq!(status, 404);
    assert!(
        body.contains("--metrics-token") && body.contains("--metrics-listen"),
        "{body}"
    );
    // The metrics listener needs no token.
    let (status, _, body) = request(server.metrics_addr, "GET /metrics", "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("# TYPE cairn_watch_streams_open gauge"),
        "{body}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_token_on_both_listeners() {
    let server = Server::start(None).await;
    for addr in [server.addr, server.metrics_addr] {
        let (status, _, body) = request(addr, "GET /healthz", "").await;
        assert_eq!((status, body.as_str()), (200, "ok\n"));
        let (status, _, body) = request(addr, "GET /readyz", "").await;
        assert_eq!((status, body.as_str()), (200, "ready\n"));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let server = Server::start(None).await;
    let (_, head, _) = request(server.addr, "GET /healthz", "X-Request-Id: abc-123\r\n").await;
    assert!(
        head.contains("x-request-id: abc-123"),
        "the client's id: {head}"
    );
    let odd = format!("X-Request-Id: {}\r\n", "z".repeat(65));
    let (_, head, _) = request(server.addr, "GET /healthz", &odd).await;
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("an id");
    assert_eq!(id.len(), 32, "a new id replaces one too long: {id}");
    // Errors too.
    let (status, head, _) = request(server.addr, "GET /nowhere", "").await;
    assert_eq!(status, 404);
    assert!(head.contains("x-request-id: "), "{head}");
    server.shutdown().await;
}
