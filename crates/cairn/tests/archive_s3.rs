//! Archiving to an S3-compatible object store, end to end, against a real S3 server: moto's
//! (`tools/install_moto.sh` installs it from PyPI into `tools/venv-moto`; `scripts/test.sh`
//! runs that first) started on loopback. `cairn backup` writes a snapshot to
//! `s3://bucket/prefix`, `cairn serve --archive s3://…` ships commits while clients write,
//! `cairn backup list` shows both databases, and `cairn restore` from the bucket brings back
//! every write, at the latest point and at the backup's versionstamp. Credentials and the
//! endpoint reach the binary only through the usual AWS environment variables.

mod e2e;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "cairn-archive";
/// Longest wait for moto, the server, or the archive to catch up.
const WAIT: Duration = Duration::from_secs(60);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_server() -> PathBuf {
    let path = e2e::repo_root().join("tools/venv-moto/bin/moto_server");
    if !path.exists() {
        let status = Command::new(e2e::repo_root().join("tools/install_moto.sh"))
            .stdout(Stdio::null())
            .status()
            .expect("running tools/install_moto.sh");
        assert!(status.success(), "tools/install_moto.sh failed");
    }
    path
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// One raw HTTP/1.1 request to moto (to create the bucket: the archive never creates one).
fn http(port: u16, method: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

fn start_moto() -> (Killed, u16) {
    let port = free_port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    let guard = Killed(child);
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let answer = http(port, "PUT", &format!("/{BUCKET}"));
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "creating the bucket: {answer}"
    );
    (guard, port)
}

fn cairn(port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .env_remove("CAIRN_PATH")
        .env_remove("CAIRN_URL")
        .env_remove("CAIRN_ARCHIVE");
    command
}

fn run(port: u16, args: &[&str]) -> String {
    let output: Output = cairn(port).args(args).output().expect("running cairn");
    assert!(
        output.status.success(),
        "cairn {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn backup_archive_list_and_restore_through_s3() {
    let (_moto, port) = start_moto();
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = format!("s3://{BUCKET}/backups");

    // A one-off snapshot of a directory.
    let app = dir.path().join("app");
    run(
        port,
        &["set", "--path", path(&app), r#"["greeting"]"#, "hello"],
    );
    let stamp = run(
        port,
        &[
            "set",
            "--path",
            path(&app),
            r#"["n"]"#,
            "7",
            "--type",
            "u64",
        ],
    );
    run(port, &["backup", "--path", path(&app), "--to", &dest]);
    run(
        port,
        &[
            "set",
            "--path",
            path(&app),
            r#"["n"]"#,
            "8",
            "--type",
            "u64",
        ],
    );

    // Continuous archiving from a server.
    let data = dir.path().join("data");
    let mut server = cairn(port)
        .args([
            "serve",
            "--data-dir",
            path(&data),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--access-token", "t", "--archive", &dest])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn serve");
    let stdout = server.stdout.take().expect("stdout");
    let server = Killed(server);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("ready line")
        .to_owned();
    let url_args = ["--url", url.as_str(), "--access-token", "t"];
    for i in 0..20 {
        let mut args = vec!["set", r#"["k"]"#];
        let value = i.to_string();
        args.push(&value);
        args.extend_from_slice(&["--type", "u64"]);
        args.extend_from_slice(&url_args);
        run(port, &args);
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let list = run(port, &["backup", "list", "--from", &dest]);
        // The last of the 20 writes is commit version 20 of the default database.
        if list.contains("default:") && list.contains(".. 00000000000000140000") {
            assert!(list.contains("app:"), "{list}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the archive did not catch up:\n{list}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);

    let restored = dir.path().join("restored");
    run(
        port,
        &[
            "restore",
            "--from",
            &dest,
            "--database",
            "default",
            "--to",
            path(&restored),
        ],
    );
    let got = run(port, &["get", "--path", path(&restored), r#"["k"]"#]);
    assert!(got.contains("= 19n") || got.contains("= 19"), "{got}");

    let old = dir.path().join("old");
    run(
        port,
        &[
            "restore",
            "--from",
            &dest,
            "--database",
            "app",
            "--to",
            path(&old),
            "--at-versionstamp",
            stamp.trim(),
        ],
    );
    let got = run(port, &["get", "--path", path(&old), r#"["n"]"#]);
    assert!(got.contains('7'), "{got}");

    // Not an empty target: refused, and the bucket's objects are untouched.
    let refused = cairn(port)
        .args([
            "restore",
            "--from",
            &dest,
            "--database",
            "app",
            "--to",
            path(&old),
        ])
        .output()
        .expect("cairn restore");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
}
