//! `cairn backup --url` asks a running `cairn serve --archive DEST` for a consistent snapshot
//! into its own archive (per database, or every database with `--all`); a restore of that
//! snapshot has the data. A read-only token is refused (403) and a server without an archive
//! says how to configure one (400): the server never writes where a client says.

mod e2e;

use std::process::{Command, Output};

use e2e::{Server, READ_ONLY_TOKEN, READ_WRITE_TOKEN};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .env_remove("CAIRN_URL")
        .env_remove("CAIRN_PATH")
        .output()
        .expect("running cairn")
}

fn ok(args: &[&str]) -> String {
    let output = cli(args);
    assert!(
        output.status.success(),
        "cairn {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn a_server_backs_up_into_its_archive_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let a = archive.to_str().expect("utf-8");
    let server = Server::start_with(&["--archive", a]);
    let url = server.url().to_owned();
    let app = format!("{url}/db/app");
    ok(&[
        "set",
        "--url",
        &url,
        "--access-token",
        READ_WRITE_TOKEN,
        r#"["a"]"#,
        "1",
    ]);
    ok(&[
        "set",
        "--url",
        &app,
        "--access-token",
        READ_WRITE_TOKEN,
        r#"["b"]"#,
        "2",
    ]);
    let said = ok(&[
        "backup",
        "--url",
        &url,
        "--access-token",
        READ_WRITE_TOKEN,
        "--all",
    ]);
    assert!(
        said.contains("backed up app") && said.contains("backed up default"),
        "{said}"
    );
    let said = ok(&[
        "backup",
        "--url",
        &url,
        "--access-token",
        READ_WRITE_TOKEN,
        "--database",
        "app",
    ]);
    let versionstamp = said
        .split_whitespace()
        .last()
        .expect("a versionstamp")
        .to_owned();
    let list = ok(&["backup", "list", "--from", a]);
    assert!(list.contains("opened: backup"), "{list}");
    let restored = dir.path().join("restored");
    let r = restored.to_str().expect("utf-8");
    ok(&[
        "restore",
        "--from",
        a,
        "--database",
        "app",
        "--to",
        r,
        "--at-versionstamp",
        &versionstamp,
    ]);
    assert!(ok(&["get", "--path", r, r#"["b"]"#]).contains("\"2\""));

    // Writes after the backup are archived in the server's own range, numbered before the
    // backup's: a restore to the latest point still finds them.
    ok(&[
        "set",
        "--url",
        &url,
        "--access-token",
        READ_WRITE_TOKEN,
        r#"["c"]"#,
        "3",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for attempt in 0.. {
        let latest = dir.path().join(format!("latest-{attempt}"));
        let l = latest.to_str().expect("utf-8");
        ok(&["restore", "--from", a, "--database", "default", "--to", l]);
        if ok(&["get", "--path", l, r#"["c"]"#]).contains("\"3\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the latest restore never had [\"c\"]"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let refused = cli(&["backup", "--url", &url, "--access-token", READ_ONLY_TOKEN]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"));

    let plain = Server::start();
    let refused = cli(&[
        "backup",
        "--url",
        plain.url(),
        "--access-token",
        READ_WRITE_TOKEN,
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("--archive"),
        "{stderr}"
    );
}
