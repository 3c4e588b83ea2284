//! Machinery of the observability tests: a `cairn serve` child with a metrics listener
//! (optionally under strace, which injects I/O errors), its log, and plain HTTP GETs.

#![allow(
    dead_code,
    reason = "each observability test file uses a different subset of the machinery"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// The read-write access token of the test servers.
pub const TOKEN: &str = "observe-token";

/// Longest wait for a server's "listening on" line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `cairn serve`; killed (with strace's child) on drop.
pub struct Served {
    child: Option<Child>,
    /// Base URL of the main listener, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// Address of the metrics listener, e.g. `127.0.0.1:40124`.
    pub metrics_addr: String,
    log: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `cairn serve --metrics-listen 127.0.0.1:0 <extra>` on `data`; under
    /// `strace -e inject=fdatasync:error=EIO:when=N+` when `eio_from` is `Some(N)`.
    pub fn start(data: &Path, extra: &[&str], eio_from: Option<u64>) -> Served {
        let cairn = env!("CARGO_BIN_EXE_cairn");
        let mut command = match eio_from {
            Some(n) => {
                let mut c = Command::new("strace");
                c.args([
                    "-f",
                    "-qq",
                    "-o",
                    "/dev/null",
                    "-e",
                    "trace=fdatasync",
                    "-e",
                ])
                .arg(format!("inject=fdatasync:error=EIO:when={n}+"))
                .arg(cairn);
                c
            }
            None => Command::new(cairn),
        };
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(["--access-token", TOKEN])
            .args(extra)
            .env_remove("DENO_KV_ACCESS_TOKEN")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the server (strace installed?): {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut served = Served {
            child: Some(child),
            url: String::new(),
            metrics_addr: String::new(),
            log,
        };
        loop {
            let Ok(line) = lines.recv_timeout(START_TIMEOUT) else {
                panic!("no \"listening on\" line in time\n{}", served.log());
            };
            if let Some(m) = line.trim().strip_prefix("metrics on http://") {
                served.metrics_addr = m.trim_end_matches("/metrics").to_owned();
            }
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                served.url = url.to_owned();
                assert!(
                    !served.metrics_addr.is_empty(),
                    "the metrics line comes first"
                );
                return served;
            }
        }
    }

    /// What the server logged so far (stderr).
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Served {
    /// SIGKILL. Under strace the server is strace's child, and killing strace alone would
    /// only detach it.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let children = format!("/proc/{0}/task/{0}/children", child.id());
        for pid in std::fs::read_to_string(children)
            .unwrap_or_default()
            .split_whitespace()
        {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[path = "../common/http.rs"]
mod http;
#[allow(
    unused_imports,
    reason = "not every test binary that includes this module reads over HTTP"
)]
pub use http::get;
