//! Machinery of the replication tests: `cairn serve` children that replicate (a primary, its
//! replicas), their logs and metrics, SIGKILL and restart on the same data directory, and
//! bounded waits on what their `/metrics` say.
//!
//! Replication crosses processes, so a test learns that a replica caught up by reading the
//! replica's `/metrics` (its stream position against the primary's): a bounded wait that
//! polls, since no notification crosses the process boundary.

#![allow(
    dead_code,
    reason = "each replication test file uses a different subset of the machinery"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The access token of every test server.
pub const TOKEN: &str = "replication-access-token";
/// The replication token of every test server.
pub const REPLICATION_TOKEN: &str = "replication-stream-token";

/// Longest wait for a server's "listening on" line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a condition on a server's metrics or log.
pub const WAIT: Duration = Duration::from_secs(120);
/// Pause between two looks at a server's metrics.
const POLL: Duration = Duration::from_millis(20);

/// A `cairn serve` on 127.0.0.1 with a metrics listener; SIGKILLed on drop.
pub struct Node {
    child: Option<Child>,
    /// The data directory (kept across restarts).
    pub data: PathBuf,
    args: Vec<String>,
    /// Base URL of the main listener.
    pub url: String,
    /// host:port of the metrics listener.
    pub metrics_addr: String,
    log: Arc<Mutex<String>>,
    /// A command the server runs under (e.g. `ip netns exec <ns>`), empty for none.
    wrapper: Vec<String>,
}

impl Node {
    /// [`Node::start`] under `wrapper` (a command and its arguments before `cairn`'s path).
    pub fn start_wrapped(data: &Path, wrapper: &[&str], args: &[&str]) -> Node {
        let mut node = Node {
            child: None,
            data: data.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            url: String::new(),
            metrics_addr: String::new(),
            log: Arc::new(Mutex::new(String::new())),
            wrapper: wrapper.iter().map(|a| a.to_string()).collect(),
        };
        node.spawn();
        node
    }

    /// Starts `cairn serve` on `data` with the test tokens and `args`.
    pub fn start(data: &Path, args: &[&str]) -> Node {
        Node::start_wrapped(data, &[], args)
    }

    fn spawn(&mut self) {
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(env!("CARGO_BIN_EXE_cairn"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_cairn")),
        };
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data)
            // A failover group's member names its own (fixed) port: it advertises it.
            .args(
                ["--listen", "127.0.0.1:0"]
                    .iter()
                    .filter(|_| !self.args.iter().any(|a| a == "--listen")),
            )
            .args(
                ["--metrics-listen", "127.0.0.1:0"]
                    .iter()
                    .filter(|_| !self.args.iter().any(|a| a == "--metrics-listen")),
            )
            .args(["--access-token", TOKEN])
            .args(
                ["--replication-token", REPLICATION_TOKEN]
                    .iter()
                    .filter(|_| !self.args.iter().any(|a| a == "--replication-token")),
            )
            .args(&self.args)
            .env_remove("DENO_KV_ACCESS_TOKEN")
            .env_remove("CAIRN_REPLICATION_TOKEN")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting `cairn serve`");
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = self.log.clone();
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
        self.child = Some(child);
        loop {
            let Ok(line) = lines.recv_timeout(START_TIMEOUT) else {
                panic!("no \"listening on\" line in time\n{}", self.log());
            };
            if let Some(m) = line.trim().strip_prefix("metrics on http://") {
                self.metrics_addr = m.trim_end_matches("/metrics").to_owned();
            }
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                self.url = url.to_owned();
                return;
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `signal` (e.g. "STOP", "CONT") to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// SIGKILL: nothing of a shutdown runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL, then a start on the same data directory with the same arguments (a new
    /// port: [`Node::url`]).
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.log_mark("--- restart ---");
        self.spawn();
    }

    fn log_mark(&self, line: &str) {
        if let Ok(mut log) = self.log.lock() {
            log.push_str(line);
            log.push('\n');
        }
    }

    /// What the server logged (stderr), over every start.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The value of metric series `name{labels…}` whose labels contain every one of
    /// `labels` (e.g. `database="default"`), if present.
    pub fn metric(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let (status, body) = get(&self.metrics_addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
                (metric == name && labels.iter().all(|l| rest.contains(l)))
                    .then(|| value.parse().ok())?
            })
    }

    /// The sum of every series of `name` whose labels contain every one of `labels`.
    pub fn metric_sum(&self, name: &str, labels: &[&str]) -> f64 {
        let (status, body) = get(&self.metrics_addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
                (metric == name && labels.iter().all(|l| rest.contains(l)))
                    .then(|| value.parse::<f64>().ok())?
            })
            .sum()
    }

    /// The default database's stream position (published), 0 before it is open.
    pub fn position(&self) -> u64 {
        self.metric("cairn_replication_position", &["database=\"default\""])
            .map_or(0, |v| v as u64)
    }

    /// Waits (bounded by [`WAIT`]) until `condition` holds; `what` names it in the failure.
    pub fn wait_until(&self, what: &str, mut condition: impl FnMut(&Node) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !condition(self) {
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} for {what}\n--- log ---\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until this replica's default database has published `position`.
    pub fn wait_for_position(&self, position: u64) {
        self.wait_until(&format!("position {position}"), |n| {
            n.position() >= position
        });
    }

    /// Waits until the log holds `text`.
    pub fn wait_for_log(&self, text: &str) {
        self.wait_until(&format!("{text:?} in the log"), |n| n.log().contains(text));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

#[path = "../common/http.rs"]
mod http;
#[allow(
    unused_imports,
    reason = "not every test binary that includes this module reads over HTTP"
)]
pub use http::get;

/// `cairn <args>` to completion: its status and stdout and stderr together.
pub fn cairn(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .env_remove("CAIRN_REPLICATION_TOKEN")
        .output()
        .expect("running cairn");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// `cairn promote` of the default database of `node`; the command's output.
pub fn promote(node: &Node) -> String {
    let (ok, text) = cairn(&[
        "promote",
        "--url",
        &node.url,
        "--replication-token",
        REPLICATION_TOKEN,
    ]);
    assert!(ok, "cairn promote failed: {text}\n{}", node.log());
    text
}

/// Every entry of `node`'s default database, as `cairn list --json` prints them.
pub fn dump(node: &Node) -> Vec<String> {
    let (ok, text) = cairn(&[
        "list",
        "--url",
        &node.url,
        "--access-token",
        TOKEN,
        "--start",
        "[]",
        "--end",
        "[true]",
        "--json",
    ]);
    assert!(ok, "cairn list failed: {text}");
    text.lines().map(str::to_owned).collect()
}
