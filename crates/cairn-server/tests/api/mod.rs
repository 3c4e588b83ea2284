//! A server for the JSON API's tests, and plain HTTP/1.1 requests to it on real sockets: one
//! request per connection (`Connection: close`), the answer read whole; or an event stream
//! read event by event.

#![allow(
    dead_code,
    reason = "each API test file uses a different part of the machinery"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cairn_server::{ServerConfig, TokenGrant};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The read-write token every test server accepts.
pub const RW: &str = "rw";
/// The read-only token every test server accepts.
pub const RO: &str = "ro";
/// A read-write token that opens only database "app".
pub const APP_ONLY: &str = "app-only";

/// Longest a test waits for one answer or one event.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// An answer: status, headers (lowercase names) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a JSON error answer with `status` and `code`; returns its reason.
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let json = self.json();
        assert_eq!(json["error"], code, "{}", self.body);
        json["reason"].as_str().expect("a reason").to_owned()
    }
}

impl Server {
    /// A server on a fresh directory with the tokens above.
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    /// As [`Server::start`], with `adjust` changing the configuration first.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in(dir.path(), adjust).await;
        server._dir = Some(dir);
        server
    }

    /// A server on `dir` (which may hold databases already).
    pub async fn start_in(dir: &Path, adjust: impl FnOnce(&mut ServerConfig)) -> Server {
        let mut config = ServerConfig::new(dir);
        config.tokens = vec![
            TokenGrant::read_write_all(RW),
            TokenGrant::read_only_all(RO),
            TokenGrant {
                token: APP_ONLY.into(),
                databases: vec!["app".into()],
                access: cairn_server::Access::ReadWrite,
            },
        ];
        adjust(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(cairn_server::serve(config, listener, async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            done: Some(done),
            _dir: None,
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.expect("server task").expect("server ran");
        }
    }

    /// Sends one request: `headers` as `(name, value)`, `token` as a bearer token if given.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(&request).await.expect("write");
        let mut response = Vec::new();
        tokio::time::timeout(ANSWER_TIMEOUT, stream.read_to_end(&mut response))
            .await
            .expect("an answer in time")
            .expect("read");
        parse(&response)
    }

    /// `GET path` with the read-write token.
    pub async fn get(&self, path: &str) -> Answer {
        self.request("GET", path, Some(RW), &[], b"").await
    }

    /// `PUT path` of a JSON body with the read-write token.
    pub async fn put(&self, path: &str, body: &str) -> Answer {
        self.request("PUT", path, Some(RW), &[], body.as_bytes())
            .await
    }

    /// `POST path` of a JSON body with the read-write token.
    pub async fn post(&self, path: &str, body: &str) -> Answer {
        self.request("POST", path, Some(RW), &[], body.as_bytes())
            .await
    }

    /// Opens an event stream (`GET path`, read-write token) and reads its head.
    pub async fn events(&self, path: &str) -> Events {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {RW}\r\n\r\n");
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        read_line(&mut reader, &mut status).await;
        assert!(status.contains(" 200 "), "{status}");
        loop {
            let mut line = String::new();
            read_line(&mut reader, &mut line).await;
            if line.trim().is_empty() {
                break;
            }
        }
        Events { reader }
    }
}

/// An open event stream (chunked: the chunk sizes are skipped, as lines of hex digits).
pub struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    /// The next event's name and data, skipping keep-alive comments.
    pub async fn next(&mut self) -> (String, Value) {
        let (mut name, mut data) = (None, None);
        loop {
            let mut line = String::new();
            read_line(&mut self.reader, &mut line).await;
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(n) = line.strip_prefix("event: ") {
                name = Some(n.to_owned());
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(d).expect("event data is JSON"));
            } else if line.is_empty() {
                if let (Some(name), Some(data)) = (name.take(), data.take()) {
                    return (name, data);
                }
            }
        }
    }
}

async fn read_line(reader: &mut BufReader<TcpStream>, line: &mut String) {
    let n = tokio::time::timeout(ANSWER_TIMEOUT, reader.read_line(line))
        .await
        .expect("a line in time")
        .expect("read");
    assert!(n > 0, "the stream ended");
}

fn parse(response: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A key as a URL query value: its JSON, percent-encoded.
pub fn q(key: &Value) -> String {
    form_urlencoded::byte_serialize(key.to_string().as_bytes()).collect()
}

/// The entry URL of `key` in database `db`.
pub fn entry(db: &str, key: &Value) -> String {
    format!("/api/v1/databases/{db}/entry?key={}", q(key))
}
