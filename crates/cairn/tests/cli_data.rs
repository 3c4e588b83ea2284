//! The data commands of the `cairn` binary, on a directory (`--path`) and on a server
//! (`--url`): the same commands, the same output.

mod e2e;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use e2e::{Server, READ_ONLY_TOKEN, READ_WRITE_TOKEN};
use serde_json::Value;

/// Longest wait for a line of `cairn watch`.
const WATCH_LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cairn <args> <target>`; returns stdout, or panics with stderr.
fn cairn(target: &[String], args: &[&str]) -> String {
    let output = cli(target, args);
    assert!(
        output.status.success(),
        "cairn {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn cli(target: &[String], args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .args(target)
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .env_remove("CAIRN_URL")
        .env_remove("CAIRN_PATH")
        .output()
        .expect("running cairn")
}

/// The lines a child process writes to `output`, as they come.
fn lines_of(output: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// The first line for which `pick` gives a value; panics (saying `what`) if none comes in time.
fn first_line<T>(
    lines: &mpsc::Receiver<String>,
    what: &str,
    pick: impl Fn(&str) -> Option<T>,
) -> T {
    loop {
        let line = lines
            .recv_timeout(WATCH_LINE_TIMEOUT)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        if let Some(value) = pick(&line) {
            return value;
        }
    }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// The same script of commands, on any target.
fn data_commands(target: &[String]) {
    let stamp = cairn(
        target,
        &[
            "set",
            r#"["users", "alice", 42n]"#,
            r#"{"age": 30}"#,
            "--type",
            "json",
        ],
    );
    assert_eq!(stamp.trim().len(), 20, "a versionstamp: {stamp}");
    cairn(
        target,
        &["set", r#"["users", "bob"]"#, "7", "--type", "u64"],
    );
    cairn(
        target,
        &["set", r#"["users", "carol"]"#, "hi", "--type", "bytes"],
    );

    let got = json_lines(&cairn(
        target,
        &["get", r#"["users", "alice", 42n]"#, "--json"],
    ));
    assert_eq!(got[0]["key"], r#"["users", "alice", 42n]"#);
    assert_eq!(got[0]["value"], serde_json::json!({"age": 30}));
    assert_eq!(got[0]["versionstamp"], stamp.trim());
    let text = cairn(target, &["get", r#"["users", "bob"]"#]);
    assert!(text.contains("7"), "{text}");

    let listed = json_lines(&cairn(target, &["list", r#"["users"]"#, "--json"]));
    let keys: Vec<&str> = listed.iter().filter_map(|e| e["key"].as_str()).collect();
    assert_eq!(
        keys,
        [
            r#"["users", "alice", 42n]"#,
            r#"["users", "bob"]"#,
            r#"["users", "carol"]"#
        ]
    );
    let page = cairn(
        target,
        &["list", r#"["users"]"#, "--limit", "1", "--reverse"],
    );
    assert!(
        page.contains("carol") && page.contains("# cursor: "),
        "{page}"
    );

    cairn(target, &["delete", r#"["users", "bob"]"#]);
    assert_eq!(
        cairn(target, &["get", r#"["users", "bob"]"#, "--json"]).trim(),
        "null"
    );

    let bad = cli(target, &["get", r#"["unterminated"#]);
    assert!(!bad.status.success(), "a malformed key is refused");
}

#[test]
fn on_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = vec!["--path".to_owned(), dir.path().display().to_string()];
    data_commands(&target);
}

#[test]
fn on_a_server() {
    let server = Server::start();
    let target = vec![
        "--url".to_owned(),
        server.url().to_owned(),
        "--access-token".to_owned(),
        READ_WRITE_TOKEN.to_owned(),
    ];
    data_commands(&target);

    let read_only = vec![
        "--url".to_owned(),
        server.url().to_owned(),
        "--access-token".to_owned(),
        READ_ONLY_TOKEN.to_owned(),
    ];
    let refused = cli(&read_only, &["set", r#"["x"]"#, "1"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("writes are disabled"), "{stderr}");

    let no_token = cli(
        &["--url".to_owned(), server.url().to_owned()],
        &["get", r#"["x"]"#],
    );
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("access token"));
}

#[test]
fn watch_on_a_server() {
    let server = Server::start();
    let target = vec![
        "--url".to_owned(),
        server.url().to_owned(),
        "--access-token".to_owned(),
        READ_WRITE_TOKEN.to_owned(),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["watch", r#"["light"]"#, "--json"])
        .args(&target)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn watch");
    let lines = lines_of(child.stdout.take().expect("piped"));
    let first = lines
        .recv_timeout(WATCH_LINE_TIMEOUT)
        .expect("the initial state");
    assert_eq!(json_lines(&first)[0]["value"], Value::Null);
    cairn(&target, &["set", r#"["light"]"#, "on"]);
    let second = lines.recv_timeout(WATCH_LINE_TIMEOUT).expect("the change");
    assert_eq!(json_lines(&second)[0]["value"], "on");
    let _ = child.kill();
    let _ = child.wait();
}

/// Without --path, the command line uses the default database of a `cairn serve` started in
/// the same directory with its default data directory: what one writes, the other reads.
#[test]
fn the_default_path_is_the_default_servers_default_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cairn = env!("CARGO_BIN_EXE_cairn");
    let set = Command::new(cairn)
        .args(["set", r#"["shared"]"#, "from the command line"])
        .current_dir(dir.path())
        .env_remove("CAIRN_PATH")
        .env_remove("CAIRN_URL")
        .output()
        .expect("running cairn set");
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );

    let mut server = Command::new(cairn)
        .args(["serve", "--listen", "127.0.0.1:0", "--access-token", "t"])
        .current_dir(dir.path())
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting cairn serve");
    let lines = lines_of(server.stdout.take().expect("piped stdout"));
    let url = first_line(&lines, "the server printed its address", |line| {
        line.strip_prefix("listening on ")
            .map(|url| url.trim().to_owned())
    });
    let target = vec![
        "--url".to_owned(),
        url,
        "--access-token".to_owned(),
        "t".to_owned(),
    ];
    let got = cli(&target, &["get", r#"["shared"]"#]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(
        String::from_utf8_lossy(&got.stdout).contains("from the command line"),
        "{}",
        String::from_utf8_lossy(&got.stdout)
    );
}

/// `cairn serve` sizes its HTTP runtime from `--http-threads` or the config file's
/// `http_threads` (it says so when it starts), and refuses zero threads with a reason.
#[test]
fn serve_takes_its_http_threads_from_the_flag_or_the_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cairn = env!("CARGO_BIN_EXE_cairn");
    let config = dir.path().join("cairn.toml");
    std::fs::write(&config, "http_threads = 3\n[[tokens]]\ntoken = \"t\"\n").expect("config");
    let mut server = Command::new(cairn)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .env_remove("CAIRN_HTTP_THREADS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cairn serve");
    let lines = lines_of(server.stderr.take().expect("piped stderr"));
    let started = first_line(&lines, "the server logged its start", |line| {
        line.contains("cairn serving").then(|| line.to_owned())
    });
    let _ = server.kill();
    let _ = server.wait();
    assert!(started.contains("http_threads=3"), "{started}");
    assert!(
        !started.contains('\u{1b}'),
        "no terminal colours in a pipe: {started}"
    );

    let zero = Command::new(cairn)
        .args(["serve", "--listen", "127.0.0.1:0", "--access-token", "t"])
        .args(["--http-threads", "0", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .expect("running cairn serve");
    assert!(!zero.status.success());
    assert!(
        String::from_utf8_lossy(&zero.stderr).contains("--http-threads must be at least 1"),
        "{}",
        String::from_utf8_lossy(&zero.stderr)
    );
}
