//! A server on a data directory of the test's choosing, and raw HTTP/1.1 requests to it, for
//! the registry's tests.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cairn_server::{ServerConfig, TokenGrant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The metadata exchange's request body.
pub const METADATA_REQUEST: &[u8] = br#"{"supportedVersions":[2,3]}"#;

pub struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `dir` with a read-write token "rw" and a read-only token "ro".
    pub async fn start(dir: &Path, databases_max: usize) -> Server {
        let mut config = ServerConfig::new(dir);
        config.tokens = vec![
            TokenGrant::read_write_all("rw"),
            TokenGrant::read_only_all("ro"),
        ];
        config.databases_max = databases_max;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(cairn_server::serve(config, listener, async {
            let _ = stopped.await;
        }));
        Server { addr, stop, done }
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        self.done.await.expect("server task").expect("server ran");
    }

    /// POSTs `body` to `path` with bearer `token`; the status and the body as text.
    pub async fn post(&self, path: &str, token: &str, body: &[u8]) -> (u16, String) {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(&request).await.expect("write");
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut response))
            .await
            .expect("an answer")
            .expect("read");
        let text = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, body.to_owned())
    }

    /// The metadata exchange for database `name` (`/db/<name>`) with `token`.
    pub async fn exchange(&self, name: &str, token: &str) -> (u16, String) {
        self.post(&format!("/db/{name}"), token, METADATA_REQUEST)
            .await
    }

    /// The data-path token of a successful exchange.
    pub async fn data_token(&self, name: &str, token: &str) -> String {
        let (status, body) = self.exchange(name, token).await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        json["token"].as_str().expect("token").to_owned()
    }
}
