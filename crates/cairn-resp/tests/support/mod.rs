//! A RESP server in the test process (cairn-resp's listener on a real socket, over a real
//! data directory) and a raw-socket client that sends bytes and reads replies.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::time::Duration;

use cairn_resp::frame::Frame;
use cairn_server::{Backend, ServerConfig, TokenGrant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The read-write token of every test server.
pub const RW: &str = "rw-token";
/// The read-only token.
pub const RO: &str = "ro-token";

/// How long a test waits for a reply before failing.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running listener; stops when dropped.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub backend: Backend,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::new(dir.path().join("data"));
        config.tokens = vec![
            TokenGrant::read_write_all(RW),
            TokenGrant::read_only_all(RO),
        ];
        std::fs::create_dir_all(&config.data_dir).expect("data dir");
        let backend = Backend::open(&config).expect("backend");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = cairn_resp::serve(backend.clone(), config.limits.clone(), listener, async {
            let _ = stopped.await;
        });
        tokio::spawn(serve);
        Server {
            addr,
            backend,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// A connection, authenticated with `token`.
    pub async fn client(&self, token: &str) -> Client {
        let mut client = self.anonymous().await;
        assert_eq!(client.cmd(&["AUTH", token]).await, Frame::ok());
        client
    }

    /// A connection that has not authenticated.
    pub async fn anonymous(&self) -> Client {
        Client {
            stream: TcpStream::connect(self.addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A raw client.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// A command as RESP bytes.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Client {
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    pub async fn cmd(&mut self, args: &[&str]) -> Frame {
        self.send(&encode(args)).await;
        self.reply().await.expect("a reply")
    }

    /// The next reply, or `None` if the server closed the connection first.
    pub async fn reply(&mut self) -> Option<Frame> {
        next_reply(&mut self.stream, &mut self.buf).await
    }

    /// True once the server has closed the connection (after any replies still unread).
    pub async fn closed(&mut self) -> bool {
        self.reply().await.is_none()
    }
}

/// Reads replies from the read half of a split connection.
pub struct Reader {
    pub half: tokio::net::tcp::OwnedReadHalf,
    buf: Vec<u8>,
}

impl Reader {
    pub fn new(half: tokio::net::tcp::OwnedReadHalf) -> Reader {
        Reader {
            half,
            buf: Vec::new(),
        }
    }

    pub async fn reply(&mut self) -> Option<Frame> {
        next_reply(&mut self.half, &mut self.buf).await
    }
}

/// The next reply from `stream` (bytes so far in `buf`), `None` at the end of the stream.
pub async fn next_reply(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> Option<Frame> {
    loop {
        if let Some((frame, used)) = parse_reply(buf) {
            buf.drain(..used);
            return Some(frame);
        }
        let mut chunk = vec![0u8; 65536];
        let n = tokio::time::timeout(REPLY_TIMEOUT, stream.read(&mut chunk))
            .await
            .expect("a reply within the timeout")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Parses one reply (RESP2 or RESP3) from `buf`: the frame and its length.
pub fn parse_reply(buf: &[u8]) -> Option<(Frame, usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..end]).ok()?.to_owned();
    let rest = end + 2;
    match buf.first()? {
        b'+' => Some((Frame::Simple(line), rest)),
        b'-' => Some((Frame::Error(line), rest)),
        b':' => Some((Frame::Integer(line.parse().ok()?), rest)),
        b'_' => Some((Frame::Null, rest)),
        b'$' => {
            let len: i64 = line.parse().ok()?;
            if len < 0 {
                return Some((Frame::Null, rest));
            }
            let len = len as usize;
            let data = buf.get(rest..rest + len)?.to_vec();
            buf.get(rest + len..rest + len + 2)?;
            Some((Frame::Bulk(data), rest + len + 2))
        }
        b'*' | b'%' => {
            let n: i64 = line.parse().ok()?;
            if n < 0 {
                return Some((Frame::NullArray, rest));
            }
            let count = if buf[0] == b'%' { 2 * n } else { n };
            let mut items = Vec::new();
            let mut pos = rest;
            for _ in 0..count {
                let (item, used) = parse_reply(&buf[pos..])?;
                items.push(item);
                pos += used;
            }
            if buf[0] == b'%' {
                let pairs = items
                    .chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect();
                return Some((Frame::Map(pairs), pos));
            }
            Some((Frame::Array(items), pos))
        }
        _ => None,
    }
}

pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec())
}

/// True if `frame` is an error whose text starts with `prefix`.
pub fn is_error(frame: &Frame, prefix: &str) -> bool {
    matches!(frame, Frame::Error(e) if e.starts_with(prefix))
}
