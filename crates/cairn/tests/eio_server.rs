//! I/O errors under the real binary: `cairn serve` runs under
//! `strace -f -e inject=fdatasync:error=EIO:when=N+`, so from the Nth `fdatasync` on
//! on, every one fails, as a dying disk would. Writes acknowledged before the failure must
//! survive a restart without strace; once a sync failed, no write may be acknowledged, and
//! clients get a clear reason (the database is poisoned) as a 5xx, which is the server's own
//! fault, not their request's.
//!
//! Needs `strace` (scripts/test.sh installs it with apt-get when missing).

mod e2e;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cairn_client::{Client, ClientError, ClientOptions};
use cairn_model::{key, Kv, KvValue};
use e2e::READ_WRITE_TOKEN;

/// Longest wait for a server's "listening on" line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts `cairn serve` on `data` (under `strace` when `inject` is given); returns the child
/// and its URL.
fn serve(data: &Path, inject: Option<&str>) -> (Child, String) {
    let cairn = env!("CARGO_BIN_EXE_cairn");
    let mut command = match inject {
        Some(spec) => {
            let mut c = Command::new("strace");
            c.args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync"])
                .args(["-e", spec])
                .arg(cairn);
            c
        }
        None => Command::new(cairn),
    };
    let mut child = command
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--access-token",
            READ_WRITE_TOKEN,
        ])
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the server (is strace installed?): {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let Ok(line) = lines.recv_timeout(START_TIMEOUT) else {
            stop(child);
            panic!("the server printed no \"listening on\" line in time");
        };
        if let Some(url) = line.trim().strip_prefix("listening on ") {
            return (child, url.to_owned());
        }
    }
}

/// Kills the server with SIGKILL. Under strace, the server is strace's child, and killing
/// strace alone would only detach it (it would keep running, holding the database's lock).
fn stop(mut child: Child) {
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

#[test]
fn a_failing_fdatasync_poisons_the_server_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("databases");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // Opening the database syncs a few times; the failures start later, mid-load.
    for first_failure in [12, 25] {
        let inject = format!("inject=fdatasync:error=EIO:when={first_failure}+");
        let (server, url) = serve(&data, Some(&inject));
        let (acked, refusal) = runtime.block_on(async {
            let mut options = ClientOptions::default();
            options.retry_budget = Duration::from_millis(500);
            let db = Client::connect_with(&url, READ_WRITE_TOKEN, options)
                .await
                .expect("connect");
            let mut acked = Vec::new();
            let mut refusal = None;
            let mut refused = 0;
            // Until three writes in a row were refused: the failure is not a one-off.
            for i in 0..200u64 {
                if refused == 3 {
                    break;
                }
                let k = key!["eio", first_failure, i];
                match db.set(&k, KvValue::U64(i)).await {
                    Ok(_) => {
                        assert!(
                            refusal.is_none(),
                            "write {i} acknowledged after a failed sync"
                        );
                        acked.push(k);
                    }
                    Err(e) => {
                        refused += 1;
                        refusal.get_or_insert(e);
                    }
                }
            }
            (acked, refusal)
        });
        stop(server);
        let refusal = refusal.expect("a sync failed, so some write must have been refused");
        let message = refusal.to_string();
        assert!(
            matches!(refusal, ClientError::Unavailable { .. }) && message.contains("poisoned"),
            "the refusal says why: {message}"
        );
        assert!(
            !acked.is_empty(),
            "writes before the failure were acknowledged"
        );

        // Without strace: everything acknowledged is there.
        let (server, url) = serve(&data, None);
        runtime.block_on(async {
            let db = Client::connect(&url, READ_WRITE_TOKEN)
                .await
                .expect("connect");
            for chunk in acked.chunks(10) {
                let found = db.get_many(chunk).await.expect("read after restart");
                for (k, entry) in chunk.iter().zip(found) {
                    assert!(entry.is_some(), "acknowledged write {k} lost after the EIO");
                }
            }
            db.set(&key!["after"], KvValue::U64(1))
                .await
                .expect("a healthy restart accepts writes");
        });
        stop(server);
    }
}
