//! Machinery of the overload tests: a `cairn serve` child process with extra flags, and
//! KV Connect over raw HTTP/1.1 on kept-alive connections, so that a test sees every status
//! (503s included) and every header.

#![allow(
    dead_code,
    reason = "each overload test file uses a different subset of the machinery"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest a starting server may take to print its "listening on" line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The read-write access token of every overload test server.
pub const TOKEN: &str = "overload-token";

/// A `cairn serve` child process on a fresh data directory; killed on drop.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    data: tempfile::TempDir,
}

impl Serve {
    /// Starts `cairn serve --http-threads 1` with `flags` and waits (bounded) until it listens.
    pub fn start(flags: &[String]) -> Serve {
        let data = tempfile::tempdir().expect("a temporary data directory");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data.path().join("databases"))
            .args(["--listen", "127.0.0.1:0", "--access-token", TOKEN])
            .args(["--http-threads", "1"])
            .args(flags)
            .env_remove("DENO_KV_ACCESS_TOKEN")
            .env("CAIRN_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting `cairn serve`");
        let stdout = child.stdout.take().expect("piped stdout");
        let (line_tx, line) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for text in BufReader::new(stdout).lines() {
                let Ok(text) = text else { break };
                if let Some(url) = text.trim().strip_prefix("listening on http://") {
                    let _ = line_tx.send(url.to_owned());
                }
            }
        });
        let addr = line
            .recv_timeout(START_TIMEOUT)
            .expect("`cairn serve` listening")
            .parse()
            .expect("an address");
        Serve { child, addr, data }
    }

    /// The directory of database `name`.
    pub fn database_dir(&self, name: &str) -> PathBuf {
        self.data.path().join("databases").join(name)
    }

    /// A field of /proc/<pid>/status in bytes (`VmRSS`: resident now; `VmHWM`: its peak).
    pub fn memory(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("reading the server's /proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"));
        kb * 1024
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One kept-alive HTTP/1.1 connection.
pub struct Connection {
    stream: TcpStream,
}

/// An answer: status, whether it carried `Retry-After`, body.
pub struct Answer {
    pub status: u16,
    pub retry_after: bool,
    pub body: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Connection { stream }
    }

    pub async fn post(&mut self, path: &str, token: &str, body: &[u8]) -> Answer {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: cairn\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.stream.write_all(head.as_bytes()).await.expect("write");
        self.stream.write_all(body).await.expect("write");
        let mut buffer = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let split = loop {
            if let Some(split) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break split;
            }
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the server closed the connection");
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..split]).to_ascii_lowercase();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("content-length");
        let mut body = buffer.split_off(split + 4);
        while body.len() < length {
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the server closed the connection");
            body.extend_from_slice(&chunk[..n]);
        }
        Answer {
            status: status.expect("a status"),
            retry_after: head.contains("\r\nretry-after:"),
            body,
        }
    }
}

/// The data token and the data path of the database whose metadata path is `path` (`/` for
/// the default database, `/db/<name>` for another).
pub async fn data_path(addr: SocketAddr, path: &str) -> (String, String) {
    let mut connection = Connection::open(addr).await;
    let answer = connection
        .post(path, TOKEN, br#"{"supportedVersions":[3]}"#)
        .await;
    assert_eq!(answer.status, 200);
    let meta: serde_json::Value = serde_json::from_slice(&answer.body).expect("json");
    let token = meta["token"].as_str().expect("token").to_owned();
    let url = meta["endpoints"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    (token, url)
}

/// `strace` attached to a running server, delaying every `fdatasync` on some files: a disk
/// that stops answering for those files only. Detached (killed) on drop.
pub struct StalledSyncs {
    strace: Child,
}

impl StalledSyncs {
    /// Attaches to every thread of `server` and delays each `fdatasync` on `files` by ten
    /// minutes (strace's `-P` leaves calls on other files alone). Returns once attached.
    pub fn attach(server: &Serve, files: &[PathBuf]) -> StalledSyncs {
        let mut command = Command::new("strace");
        command
            .args(["-f", "-qq", "-o", "/dev/null"])
            .args(["-e", "trace=fdatasync"])
            .args(["-e", "inject=fdatasync:delay_enter=600000000"]);
        for file in files {
            command.arg("-P").arg(file);
        }
        let mut strace = command
            .arg("-p")
            .arg(server.child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start strace (is it installed?): {e}"));
        // Attached once every thread of the server shows a tracer.
        let tasks = format!("/proc/{}/task", server.child.id());
        for _ in 0..600 {
            let traced = std::fs::read_dir(&tasks).is_ok_and(|entries| {
                entries.flatten().all(|task| {
                    std::fs::read_to_string(task.path().join("status")).is_ok_and(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("TracerPid:"))
                            .is_some_and(|v| v.trim() != "0")
                    })
                })
            });
            if traced {
                return StalledSyncs { strace };
            }
            if let Ok(Some(exit)) = strace.try_wait() {
                panic!("strace exited before attaching: {exit}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = strace.kill();
        panic!("strace did not attach within 30 s");
    }
}

impl Drop for StalledSyncs {
    fn drop(&mut self) {
        let _ = self.strace.kill();
        let _ = self.strace.wait();
    }
}
