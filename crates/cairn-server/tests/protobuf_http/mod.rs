//! A server with a read-write token "rw" and a read-only token "ro", and raw HTTP/1.1 requests
//! to its KV Connect data path, for the tests of cairn's protobuf extensions (queues, scans).

use std::net::SocketAddr;
use std::time::Duration;

use cairn_server::{ServerConfig, TokenGrant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Starts a server on a fresh directory: its address, the way to stop it, its task, and the
/// directory (kept until dropped).
pub async fn start() -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig::new(dir.path());
    config.tokens = vec![
        TokenGrant::read_write_all("rw"),
        TokenGrant::read_only_all("ro"),
    ];
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(cairn_server::serve(config, listener, async {
        let _ = stopped.await;
    }));
    (addr, stop, done, dir)
}

/// POSTs `body`, returns status and body; reads `Content-Length` bytes (bounded wait).
pub async fn post(addr: SocketAddr, path: &str, token: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, response[split + 4..].to_vec())
}

/// The data token and endpoint of `token`, from the metadata exchange.
pub async fn session(addr: SocketAddr, token: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = br#"{"supportedVersions":[3]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let json: serde_json::Value = serde_json::from_slice(&response[split + 4..]).expect("json");
    let endpoint = json["endpoints"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    (endpoint, json["token"].as_str().expect("token").to_owned())
}
