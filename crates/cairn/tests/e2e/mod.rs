//! Machinery of the end-to-end tests: the pinned client tools, a `cairn serve` child process on
//! a free port, and running one client script against it with bounded waits.
//!
//! Each test gets its own server (own data directory, own port), so tests run in parallel and
//! a failure's server log belongs to that test alone. Every wait is bounded: the server's
//! "listening on" line, and the whole script run. A script stuck on a server bug (the clients
//! retry 5xx answers forever) is killed and reported with its output so far.

#![allow(
    dead_code,
    reason = "each end-to-end test file uses a different subset of the machinery"
)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The read-write access token every test server accepts.
pub const READ_WRITE_TOKEN: &str = "e2e-read-write-token";
/// The read-only access token every test server accepts (given to scripts as
/// `CAIRN_E2E_READ_ONLY_TOKEN`).
pub const READ_ONLY_TOKEN: &str = "e2e-read-only-token";

/// How long a starting server may take to print its "listening on" line (a debug build opening
/// an empty data directory needs well under a second).
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one script may run in total. Each check inside a script has its own 60 s bound
/// (see `tests/e2e/shared/_lib.mjs`), so this only catches a script that hangs outside a check.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);
/// Lines of server log shown with a failure.
const LOG_TAIL_LINES: usize = 200;

/// A test's numeric parameter from the environment (cycles, operations, seeds), or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The runtime the Rust-client tests drive their clients on (two workers, as the machine's
/// two cores).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Which client a script drives the server with.
#[derive(Clone, Copy, Debug)]
pub enum Client {
    /// The Deno runtime (npm package `deno`, pinned in tools/package.json): `Deno.openKv(url)`.
    Deno,
    /// Node.js with the npm package `@deno/kv` (pinned in tools/package.json).
    Node,
}

impl Client {
    /// The directory of this client's scripts (the entry points of the scenarios in
    /// [`SCENARIOS_DIR`]), and their file extension.
    fn scripts(self) -> (PathBuf, &'static str) {
        match self {
            Client::Deno => (repo_root().join("tests/e2e/deno"), "ts"),
            Client::Node => (repo_root().join("tests/e2e/node"), "mjs"),
        }
    }
}

/// The workspace root (this crate lives in `crates/cairn`).
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The scenarios both clients' scripts run, written once in plain JavaScript.
const SCENARIOS_DIR: &str = "tests/e2e/shared";

/// The script names (file stems) of one client, without the `_`-prefixed helpers.
pub fn script_names(client: Client) -> Vec<String> {
    let (dir, ext) = client.scripts();
    file_stems(&dir, ext)
}

/// The scenario names (file stems in [`SCENARIOS_DIR`]), without the `_`-prefixed helpers.
pub fn scenario_names() -> Vec<String> {
    file_stems(&repo_root().join(SCENARIOS_DIR), "mjs")
}

/// The sorted stems of the files in `dir` ending in `.ext`, except those starting with `_`.
fn file_stems(dir: &Path, ext: &str) -> Vec<String> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the script directory {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let stem = path.file_stem()?.to_str()?.to_owned();
            let matches = path.extension().is_some_and(|e| e == ext) && !stem.starts_with('_');
            matches.then_some(stem)
        })
        .collect();
    names.sort();
    names
}

/// The pinned tools, installed once per test process.
struct Tools {
    deno: PathBuf,
    node: PathBuf,
}

/// Runs `tools/install.sh` (idempotent: npm only runs when tools/node_modules is missing or
/// stale) and checks that `node` runs. `Err` carries a message saying what to install.
fn tools() -> &'static Result<Tools, String> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let install = repo_root().join("tools/install.sh");
        let output = Command::new("bash")
            .arg(&install)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", install.display()))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "{} failed ({}); the end-to-end tests need Node.js (>= 18) with npm to install \
                 the pinned Deno runtime and @deno/kv. Its output:\n{stderr}",
                install.display(),
                output.status
            ));
        }
        let deno = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if !deno.is_file() {
            return Err(format!(
                "{} printed {deno:?}, which is not the deno binary. Its log:\n{stderr}",
                install.display()
            ));
        }
        let node = PathBuf::from("node");
        match Command::new(&node).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => return Err(format!("`node --version` failed: {}", out.status)),
            Err(e) => return Err(format!("cannot run `node` (install Node.js >= 18): {e}")),
        }
        Ok(Tools { deno, node })
    })
}

/// The pinned Deno runtime's binary (installed by `tools/install.sh` on first use).
pub fn deno_binary() -> PathBuf {
    match tools() {
        Ok(tools) => tools.deno.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// Collects everything a child writes to one pipe, on a thread.
struct Drain {
    bytes: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

impl Drain {
    /// Drains `pipe`; `eof` (if given) is sent `()` once the pipe is closed.
    fn start(mut pipe: impl Read + Send + 'static, eof: Option<mpsc::Sender<()>>) -> Drain {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = bytes.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
            if let Some(eof) = eof {
                let _ = eof.send(());
            }
        });
        Drain { bytes, thread }
    }

    /// What was collected so far.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Everything, once the pipe is closed.
    fn finish(self) -> String {
        let Drain { bytes, thread } = self;
        let _ = thread.join();
        let bytes = bytes.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A running `cairn serve` on 127.0.0.1 with a fresh data directory; killed on drop.
pub struct Server {
    child: Child,
    url: String,
    log: Drain,
    data: TempDir,
    /// Further arguments of `cairn serve`, kept across restarts.
    extra: Vec<String>,
}

impl Server {
    /// Starts the server on a port the OS picks and waits (bounded) until it listens.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// As [`Server::start`], with further arguments of `cairn serve` (kept across restarts).
    pub fn start_with(extra: &[&str]) -> Server {
        let data = tempfile::tempdir().expect("creating a temporary data directory");
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let (child, log, lines) = Self::spawn(&data, &extra);
        let mut server = Server {
            child,
            url: String::new(),
            log,
            data,
            extra,
        };
        server.url = server.wait_until_listening(&lines);
        server
    }

    /// Kills the server with SIGKILL (no shutdown at all: what a crash leaves on disk), then
    /// starts it again on the same data directory; it listens on a new port ([`Server::url`]).
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, log, lines) = Self::spawn(&self.data, &self.extra);
        self.child = child;
        self.log = log;
        self.url = self.wait_until_listening(&lines);
    }

    /// As [`Server::kill_and_restart`], with `between` run on the data directory (the parent
    /// of each database's directory) while the server is down.
    pub fn kill_and_restart_with(&mut self, between: impl FnOnce(&Path)) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        between(&self.data.path().join("databases"));
        let (child, log, lines) = Self::spawn(&self.data, &self.extra);
        self.child = child;
        self.log = log;
        self.url = self.wait_until_listening(&lines);
    }

    /// As [`Server::kill_and_restart`], but the data directory is emptied in between: what a
    /// lost disk would leave. The negative control of the crash tests uses it.
    pub fn kill_and_restart_wiped(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let databases = self.data.path().join("databases");
        std::fs::remove_dir_all(&databases).expect("wiping the data directory");
        let (child, log, lines) = Self::spawn(&self.data, &self.extra);
        self.child = child;
        self.log = log;
        self.url = self.wait_until_listening(&lines);
    }

    /// Starts `cairn serve` on `data`; its stderr drained, its stdout lines sent on.
    fn spawn(data: &TempDir, extra: &[String]) -> (Child, Drain, mpsc::Receiver<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data.path().join("databases"))
            .args(["--listen", "127.0.0.1:0"])
            .args(["--access-token", READ_WRITE_TOKEN])
            .args(["--read-only-token", READ_ONLY_TOKEN])
            .args(extra)
            // Only the tokens above: the server would honour these as extra configuration.
            .env_remove("DENO_KV_ACCESS_TOKEN")
            .env_remove("CAIRN_DATA_DIR")
            .env_remove("CAIRN_LISTEN")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting `cairn serve`");
        let log = Drain::start(child.stderr.take().expect("piped stderr"), None);
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines_tx, lines) = mpsc::channel::<String>();
        // Keeps reading after the ready line (when nobody receives any more), so the server
        // never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines_tx.send(line);
            }
        });
        (child, log, lines)
    }

    fn wait_until_listening(&mut self, lines: &mpsc::Receiver<String>) -> String {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix("listening on ") {
                        assert!(
                            url.starts_with("http://127.0.0.1:"),
                            "unexpected ready line {line:?}"
                        );
                        return url.to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "`cairn serve` printed no \"listening on\" line within {SERVER_START_TIMEOUT:?}\n{}",
                    self.log_tail()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string());
                    panic!(
                        "`cairn serve` exited before listening ({status:?}); data dir {}\n{}",
                        self.data.path().display(),
                        self.log_tail()
                    )
                }
            }
        }
    }

    /// The URL of the default database, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The last lines of the server's log (stderr), for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log.text();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        format!(
            "--- server log (last {} of {} lines) ---\n{}",
            lines.len() - from,
            lines.len(),
            lines[from..].join("\n")
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished (or killed) script left behind.
struct ScriptRun {
    /// `None` when the script was killed after [`SCRIPT_TIMEOUT`].
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

/// Runs `command` with its output collected, killing it after `timeout`.
fn run_bounded(mut command: Command, timeout: Duration) -> ScriptRun {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let (eof_tx, eof) = mpsc::channel();
    let out = Drain::start(
        child.stdout.take().expect("piped stdout"),
        Some(eof_tx.clone()),
    );
    let err = Drain::start(child.stderr.take().expect("piped stderr"), Some(eof_tx));
    // Both pipes close when the script exits.
    let deadline = Instant::now() + timeout;
    let mut closed = 0;
    while closed < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match eof.recv_timeout(left) {
            Ok(()) => closed += 1,
            Err(_) => break,
        }
    }
    let status = if closed == 2 {
        child.wait().ok()
    } else {
        let _ = child.kill();
        let _ = child.wait();
        None
    };
    ScriptRun {
        status,
        stdout: out.finish(),
        stderr: err.finish(),
    }
}

/// The command that runs `script` with `client` against `server` with the test tokens.
fn script_command(tools: &Tools, client: Client, script: &Path, server: &Server) -> Command {
    let mut command = match client {
        Client::Deno => {
            let mut c = Command::new(&tools.deno);
            c.args(["run", "-A", "--unstable-kv"])
                .arg(script)
                .arg(server.url())
                .env("DENO_KV_ACCESS_TOKEN", READ_WRITE_TOKEN)
                .env("DENO_NO_UPDATE_CHECK", "1")
                .env("DENO_NO_PROMPT", "1")
                // Deno's module cache: per test, so nothing outside the temporary directory.
                .env("DENO_DIR", server.data.path().join("deno-dir"));
            c
        }
        Client::Node => {
            let mut c = Command::new(&tools.node);
            c.arg(script)
                .arg(server.url())
                .arg(READ_WRITE_TOKEN)
                .env_remove("DENO_KV_ACCESS_TOKEN")
                .env("CAIRN_E2E_TOOLS_DIR", repo_root().join("tools"));
            c
        }
    };
    command
        .current_dir(repo_root())
        .env("CAIRN_E2E_READ_ONLY_TOKEN", READ_ONLY_TOKEN)
        .env("NO_COLOR", "1");
    command
}

/// Starts a server, runs `tests/e2e/<client>/<name>.<ext>` against it and fails the test with
/// the script's output and the server log unless the script exits with status 0.
pub fn run_script(client: Client, name: &str) {
    let tools = match tools() {
        Ok(tools) => tools,
        Err(message) => panic!("{message}"),
    };
    let (dir, ext) = client.scripts();
    let script = dir.join(format!("{name}.{ext}"));
    assert!(script.is_file(), "missing script {}", script.display());
    let server = Server::start();
    let command = script_command(tools, client, &script, &server);
    let run = run_bounded(command, SCRIPT_TIMEOUT);
    let report = format!(
        "{client:?} script {} against {}\n--- stdout ---\n{}--- stderr ---\n{}",
        script.display(),
        server.url(),
        run.stdout,
        run.stderr
    );
    match run.status {
        Some(status) if status.success() => {
            assert!(
                run.stdout.lines().any(|l| l.starts_with("ok ")),
                "the script exited with success but reported no check\n{report}"
            );
            // Captured by the test harness: shown with --nocapture.
            println!("{report}");
        }
        Some(status) => panic!(
            "the script failed ({status})\n{report}\n{}",
            server.log_tail()
        ),
        None => panic!(
            "the script was killed after {SCRIPT_TIMEOUT:?}\n{report}\n{}",
            server.log_tail()
        ),
    }
}

/// Makes `command` (deno, or a wrapper that runs it) run `tests/e2e/<relative>` against `url`
/// with `token`, in the environment every Deno script of the tests has: no update check, no
/// prompt, no colour, `deno_dir` as its cache.
pub fn deno_script<'a>(
    command: &'a mut Command,
    relative: &str,
    url: &str,
    token: &str,
    deno_dir: &Path,
) -> &'a mut Command {
    let script = repo_root().join("tests/e2e").join(relative);
    assert!(script.is_file(), "missing script {}", script.display());
    command
        .args(["run", "-A", "--unstable-kv"])
        .arg(script)
        .arg(url)
        .env("DENO_KV_ACCESS_TOKEN", token)
        .env("DENO_NO_UPDATE_CHECK", "1")
        .env("DENO_NO_PROMPT", "1")
        .env("DENO_DIR", deno_dir)
        .env("NO_COLOR", "1")
}

/// Runs the Deno script `tests/e2e/<relative>` with `args` after the server's URL, and returns
/// its stdout; fails the test with its output and the server log unless it exits with 0.
pub fn run_deno_script(server: &Server, relative: &str, args: &[&str]) -> String {
    let tools = match tools() {
        Ok(tools) => tools,
        Err(message) => panic!("{message}"),
    };
    let mut command = Command::new(&tools.deno);
    let deno_dir = server.data.path().join("deno-dir");
    deno_script(
        &mut command,
        relative,
        server.url(),
        READ_WRITE_TOKEN,
        &deno_dir,
    )
    .args(args)
    .current_dir(repo_root());
    let run = run_bounded(command, SCRIPT_TIMEOUT);
    match run.status {
        Some(status) if status.success() => run.stdout,
        _ => panic!(
            "deno tests/e2e/{relative} failed ({:?})\n--- stdout ---\n{}--- stderr ---\n{}\n{}",
            run.status,
            run.stdout,
            run.stderr,
            server.log_tail()
        ),
    }
}

/// Runs `tools/install_api.sh` (idempotent: schemathesis into tools/venv-api, playwright-core
/// into tests/e2e/console/node_modules); fails the test with its log if it fails.
pub fn install_api_tools() {
    let install = repo_root().join("tools/install_api.sh");
    let installed = Command::new("bash")
        .arg(&install)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", install.display()));
    assert!(
        installed.status.success(),
        "{} failed (it needs python3 with venv and Node.js with npm): {}",
        install.display(),
        String::from_utf8_lossy(&installed.stderr)
    );
}

/// The pinned deno binary (from `tools/install.sh`); fails the test saying what to install.
pub fn deno() -> PathBuf {
    match tools() {
        Ok(tools) => tools.deno.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// Runs `command` (killed after the script timeout) and returns its stdout; fails the test
/// with its output and `server`'s log unless it exits with 0.
pub fn run_checked(server: &Server, command: Command) -> String {
    let shown = format!("{command:?}");
    let run = run_bounded(command, SCRIPT_TIMEOUT);
    match run.status {
        Some(status) if status.success() => run.stdout,
        status => panic!(
            "{shown} failed ({status:?})\n--- stdout ---\n{}--- stderr ---\n{}\n{}",
            run.stdout,
            run.stderr,
            server.log_tail()
        ),
    }
}

impl Server {
    /// The server's temporary directory (its data directory is `databases` in it); scratch
    /// space for a test's tools, removed with the server.
    pub fn scratch(&self) -> &Path {
        self.data.path()
    }
}

/// Runs the Node.js script `tests/e2e/<relative>` (with @deno/kv) against `server` and returns
/// its stdout; fails the test with its output and the server log unless it exits with 0.
pub fn run_node_script(server: &Server, relative: &str) -> String {
    let tools = match tools() {
        Ok(tools) => tools,
        Err(message) => panic!("{message}"),
    };
    let script = repo_root().join("tests/e2e").join(relative);
    assert!(script.is_file(), "missing script {}", script.display());
    let mut command = Command::new(&tools.node);
    command
        .arg(&script)
        .arg(server.url())
        .arg(READ_WRITE_TOKEN)
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .env("CAIRN_E2E_TOOLS_DIR", repo_root().join("tools"))
        .env("CAIRN_E2E_READ_ONLY_TOKEN", READ_ONLY_TOKEN)
        .env("NO_COLOR", "1")
        .current_dir(repo_root());
    let run = run_bounded(command, SCRIPT_TIMEOUT);
    match run.status {
        Some(status) if status.success() => run.stdout,
        status => panic!(
            "node script {} failed ({status:?})\n--- stdout ---\n{}--- stderr ---\n{}\n{}",
            script.display(),
            run.stdout,
            run.stderr,
            server.log_tail()
        ),
    }
}

/// Runs `tests/e2e/<relative>` with `client` (a Deno `.ts` or a Node.js `.mjs` script, run as
/// [`run_script`] runs scenarios) against `server`, with `env` added; returns its stdout, or
/// fails the test with its output and the server log unless it exits with 0.
pub fn run_client_script(
    client: Client,
    server: &Server,
    relative: &str,
    env: &[(&str, &str)],
) -> String {
    let tools = match tools() {
        Ok(tools) => tools,
        Err(message) => panic!("{message}"),
    };
    let script = repo_root().join("tests/e2e").join(relative);
    assert!(script.is_file(), "missing script {}", script.display());
    let mut command = script_command(tools, client, &script, server);
    command.envs(env.iter().copied());
    let run = run_bounded(command, SCRIPT_TIMEOUT);
    match run.status {
        Some(status) if status.success() => run.stdout,
        status => panic!(
            "{client:?} script {} failed ({status:?})\n--- stdout ---\n{}--- stderr ---\n{}\n{}",
            script.display(),
            run.stdout,
            run.stderr,
            server.log_tail()
        ),
    }
}
