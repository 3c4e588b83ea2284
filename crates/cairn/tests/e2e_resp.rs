//! The Redis protocol front end end to end: `cairn serve --resp-listen` (the real binary)
//! driven by real Redis clients — `redis-cli` (Debian's redis-tools), redis-py (PyPI `redis`)
//! and ioredis (npm) — and the Deno client reading what a Redis client wrote. Nothing of
//! cairn is mocked.
//!
//! The clients are installed by `tools/install_resp.sh` (redis-py into tools/venv-resp,
//! ioredis into tests/e2e/resp/node_modules) and `tools/install.sh` (Deno); redis-cli by
//! scripts/test.sh. The client scripts live in tests/e2e/resp and print `ok <check>` lines.
//!
//! | test | covers |
//! |---|---|
//! | `redis_cli_*` | strings, counters, expiry, hashes, MULTI/EXEC with a WATCH conflict, `--pipe` of 10,000 commands, `--scan` over 10,000 keys, AUTH, read-only refusal, RESP3 (`-3`) |
//! | `redis_py_scenarios` | the same through redis-py, RESP2 and RESP3, WATCH conflicts across connections, `scan_iter`, pipelines, SELECT |
//! | `ioredis_scenarios` | the same through ioredis: `multi().exec()` null on conflict, `scanStream`, pipelines |
//! | `redis_cli_commands_errors_and_connections_show_in_metrics` | `/metrics` of the Redis front end: commands by name, error replies, protocol errors, connections |
//! | `deno_reads_what_redis_cli_wrote` | strings, counters, hash head and fields as a Deno client sees them; a Deno write read by redis-cli |

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

const RW: &str = "resp-e2e-rw";
const RO: &str = "resp-e2e-ro";
/// How long a client command may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(300);

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Runs `tools/install_resp.sh` once per test process.
fn install_clients() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo_root().join("tools/install_resp.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run tools/install_resp.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tools/install_resp.sh failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    });
    if let Err(message) = result {
        panic!("{message}");
    }
}

/// `cairn serve` with the Redis protocol on a free port; killed on drop.
struct Server {
    child: Child,
    url: String,
    port: u16,
    /// `host:port` of the metrics listener.
    metrics: String,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data.path().join("databases"))
            .args(["--listen", "127.0.0.1:0", "--resp-listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(["--access-token", RW, "--read-only-token", RO])
            .env_remove("DENO_KV_ACCESS_TOKEN")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting cairn serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut url, mut port, mut metrics) = (None, None, None);
        while url.is_none() || port.is_none() || metrics.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("cairn serve printed its addresses");
            if let Some(u) = line.strip_prefix("listening on ") {
                url = Some(u.to_owned());
            }
            if let Some(addr) = line.strip_prefix("resp listening on redis://") {
                port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if let Some(rest) = line.strip_prefix("metrics on http://") {
                metrics = rest.strip_suffix("/metrics").map(str::to_owned);
            }
        }
        Server {
            child,
            url: url.unwrap_or_default(),
            port: port.unwrap_or_default(),
            metrics: metrics.unwrap_or_default(),
            _data: data,
        }
    }

    /// `redis-cli` with `args` (authenticated with `token`), `stdin` piped in.
    fn cli(&self, token: &str, args: &[&str], stdin: &[u8]) -> String {
        let mut command = Command::new("redis-cli");
        command
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-a", token, "--no-auth-warning"])
            .args(args);
        let out = run(command, stdin);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Server {
    /// The value of the series `series` (name and labels as exposed) in `/metrics`.
    fn metric(&self, series: &str) -> Option<f64> {
        let mut stream = std::net::TcpStream::connect(&self.metrics).expect("metrics listener");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics
        )
        .expect("request");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stream, &mut text).expect("response");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.trim().parse().expect("a number"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to completion (bounded), feeding it `stdin`.
fn run(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    let bytes = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(CLIENT_TIMEOUT) {
        Ok(out) => out.expect("client output"),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("{command:?} did not finish within {CLIENT_TIMEOUT:?}");
        }
    };
    let _ = feeder.join();
    out
}

/// Runs a client script; fails with its output unless it exits 0 having reported checks.
fn script(command: Command) -> String {
    let out = run(command, b"");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().any(|l| l.starts_with("ok ")),
        "client script failed ({}):\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        out.status
    );
    println!("{stdout}");
    stdout
}

#[test]
fn redis_cli_strings_counters_expiry_and_hashes() {
    let server = Server::start();
    let cli = |args: &[&str]| server.cli(RW, args, b"").trim_end().to_owned();
    assert_eq!(cli(&["SET", "greeting", "hello"]), "OK");
    assert_eq!(cli(&["GET", "greeting"]), "hello");
    assert_eq!(cli(&["SET", "greeting", "x", "NX"]), "");
    assert_eq!(cli(&["INCRBY", "n", "41"]), "41");
    assert_eq!(cli(&["INCR", "n"]), "42");
    assert!(cli(&["INCR", "greeting"]).contains("value is not an integer"));
    assert_eq!(cli(&["SET", "temp", "v", "EX", "100"]), "OK");
    let ttl: i64 = cli(&["TTL", "temp"]).parse().expect("a number");
    assert!((99..=100).contains(&ttl), "{ttl}");
    assert_eq!(cli(&["PERSIST", "temp"]), "1");
    assert_eq!(cli(&["TTL", "temp"]), "-1");
    assert_eq!(cli(&["HSET", "user", "name", "Ada", "born", "1815"]), "2");
    // Fields in key order.
    assert_eq!(cli(&["HGETALL", "user"]), "born\n1815\nname\nAda");
    assert_eq!(cli(&["HINCRBY", "user", "born", "1"]), "1816");
    assert_eq!(cli(&["TYPE", "user"]), "hash");
    assert!(cli(&["GET", "user"]).starts_with("WRONGTYPE"));
    assert_eq!(cli(&["DEL", "user", "greeting", "nothing"]), "2");
    // RESP3
    assert_eq!(cli(&["-3", "HSET", "h3", "f", "v"]), "1");
    // A map on the wire (redis-cli shows RESP3 maps as `1# key => value`), nil as `_`.
    assert_eq!(
        cli(&["-3", "--no-raw", "HGETALL", "h3"]),
        "1# \"f\" => \"v\""
    );
    assert_eq!(cli(&["-3", "--no-raw", "GET", "nothing"]), "(nil)");
}

#[test]
fn redis_cli_commands_errors_and_connections_show_in_metrics() {
    let server = Server::start();
    let cli = |args: &[&str]| server.cli(RW, args, b"").trim_end().to_owned();
    assert_eq!(cli(&["SET", "a", "1"]), "OK");
    assert_eq!(cli(&["GET", "a"]), "1");
    assert_eq!(cli(&["GET", "a"]), "1");
    assert_eq!(cli(&["HSET", "h", "f", "v"]), "1");
    assert!(cli(&["GET", "h"]).starts_with("WRONGTYPE"));
    assert!(cli(&["NOSUCHCOMMAND", "x"]).contains("unknown command"));
    // A request that breaks the protocol: answered with an error, the connection closed.
    let mut raw =
        std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("RESP connection");
    raw.write_all(b"*1\r\n$abc\r\n").expect("send");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut raw, &mut answer).expect("read until closed");
    assert!(answer.starts_with("-ERR Protocol error"), "{answer:?}");

    let get = |series: &str| server.metric(series).unwrap_or(0.0);
    assert_eq!(get(r#"cairn_resp_commands_total{command="get"}"#), 3.0);
    assert_eq!(get(r#"cairn_resp_commands_total{command="set"}"#), 1.0);
    assert_eq!(get(r#"cairn_resp_commands_total{command="unknown"}"#), 1.0);
    // WRONGTYPE, the unknown command, the protocol error.
    assert_eq!(get("cairn_resp_error_replies_total"), 3.0);
    assert_eq!(get("cairn_resp_protocol_errors_total"), 1.0);
    // Seven connections (one per redis-cli run, one raw), all closed by now or closing.
    assert_eq!(get("cairn_resp_connections_accepted_total"), 7.0);
    assert_eq!(get("cairn_resp_connections_refused_total"), 0.0);
    assert!(server.metric("cairn_resp_connections").is_some());
}

#[test]
fn redis_cli_transactions_with_a_watch_conflict() {
    let server = Server::start();
    // One connection (commands on stdin): its own write after WATCH is a change too.
    let out = server.cli(
        RW,
        &[],
        b"SET k 1\nWATCH k\nSET k 2\nMULTI\nSET k 3\nEXEC\nGET k\nMULTI\nINCR k\nINCR k\nEXEC\n",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["OK", "OK", "OK", "OK", "QUEUED", "", "2", "OK", "QUEUED", "QUEUED", "3", "4"],
        "{out}"
    );
}

#[test]
fn redis_cli_pipe_and_scan_over_ten_thousand_keys() {
    let server = Server::start();
    let mut commands = Vec::new();
    for i in 0..10_000 {
        commands.extend_from_slice(format!("SET cli:{i} {i}\r\n").as_bytes());
    }
    let out = server.cli(RW, &["--pipe"], &commands);
    assert!(out.contains("errors: 0, replies: 10000"), "{out}");
    let scanned = server.cli(RW, &["--scan", "--pattern", "cli:*"], b"");
    let mut keys: Vec<&str> = scanned.lines().collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 10_000);
    assert_eq!(server.cli(RW, &["DBSIZE"], b"").trim(), "10000");
    assert_eq!(server.cli(RW, &["GET", "cli:9999"], b"").trim(), "9999");
}

#[test]
fn redis_cli_auth_and_read_only_refusal() {
    let server = Server::start();
    assert_eq!(server.cli(RW, &["SET", "k", "v"], b"").trim(), "OK");
    assert_eq!(server.cli(RO, &["GET", "k"], b"").trim(), "v");
    let refused = server.cli(RO, &["SET", "k", "x"], b"");
    assert!(refused.contains("NOPERM"), "{refused}");
    assert_eq!(server.cli(RW, &["GET", "k"], b"").trim(), "v");
    let wrong = server.cli("wrong", &["GET", "k"], b"");
    assert!(
        wrong.contains("NOAUTH") || wrong.contains("WRONGPASS"),
        "{wrong}"
    );
}

#[test]
fn redis_py_scenarios() {
    install_clients();
    let server = Server::start();
    let mut command = Command::new(repo_root().join("tools/venv-resp/bin/python"));
    command
        .arg(repo_root().join("tests/e2e/resp/redis_py.py"))
        .args(["127.0.0.1", &server.port.to_string(), RW, RO]);
    script(command);
}

#[test]
fn ioredis_scenarios() {
    install_clients();
    let server = Server::start();
    let mut command = Command::new("node");
    command
        .arg(repo_root().join("tests/e2e/resp/ioredis.mjs"))
        .args(["127.0.0.1", &server.port.to_string(), RW, RO]);
    script(command);
}

#[test]
fn deno_reads_what_redis_cli_wrote() {
    let install = run(
        {
            let mut c = Command::new("bash");
            c.arg(repo_root().join("tools/install.sh"));
            c
        },
        b"",
    );
    assert!(install.status.success(), "tools/install.sh failed");
    let deno = String::from_utf8_lossy(&install.stdout).trim().to_owned();
    let server = Server::start();
    let input = b"SET deno:greeting \"hello from redis\"\nSET deno:visits 41\nINCR deno:visits\n\
                  HSET deno:user name Ada lang en\nSET deno:expiring soon EX 600\n";
    let out = server.cli(RW, &[], input);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["OK", "OK", "42", "2", "OK"]
    );
    let deno_dir = tempfile::tempdir().expect("deno dir");
    let mut command = Command::new(deno);
    command
        .args(["run", "-A", "--unstable-kv"])
        .arg(repo_root().join("tests/e2e/resp/deno_reads.ts"))
        .arg(&server.url)
        .env("DENO_KV_ACCESS_TOKEN", RW)
        .env("DENO_NO_UPDATE_CHECK", "1")
        .env("DENO_NO_PROMPT", "1")
        .env("DENO_DIR", deno_dir.path());
    script(command);
    assert_eq!(
        server.cli(RW, &["GET", "deno:from-deno"], b"").trim(),
        "written by Deno"
    );
}
