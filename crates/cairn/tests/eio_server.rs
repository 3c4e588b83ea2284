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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cairn_client::{Client, ClientError, ClientOptions};
use cairn_model::{key, Kv, KvValue};
use e2e::READ_WRITE_TOKEN;

/// Longest wait for a server's "listening on" line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A fault to inject with strace: into `syscall`, only on `paths` if any are given (strace's
/// `-P`: calls on other files, eventfds and sockets are left alone).
struct Fault<'a> {
    syscall: &'a str,
    errno: &'a str,
    paths: Vec<PathBuf>,
}

/// Starts `cairn serve` on `data` (under `strace` when `inject` is given); returns the child
/// and its URL.
fn serve(data: &Path, fault: Option<(&Fault<'_>, u64)>) -> (Child, String) {
    let cairn = env!("CARGO_BIN_EXE_cairn");
    let mut command = match fault {
        Some((fault, first_failure)) => {
            let mut c = Command::new("strace");
            c.args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("trace={}", fault.syscall))
                .arg("-e")
                .arg(format!(
                    "inject={}:error={}:when={first_failure}+",
                    fault.syscall, fault.errno
                ));
            for path in &fault.paths {
                c.arg("-P").arg(path);
            }
            c.arg(cairn);
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

/// The writes a scenario makes: values of `value_bytes`, at most `writes_max` of them.
struct Load {
    value_bytes: usize,
    writes_max: u64,
}

/// Values of 2 KB: the engine's journal reaches its file in 8 KiB buffers, so a few writes
/// reach every file a short scenario aims at.
const SMALL_LOAD: Load = Load {
    value_bytes: 2000,
    writes_max: 200,
};

/// Runs `cairn serve` under `strace -e trace=<syscall> -e inject=<syscall>:error=<errno>:when=N+`
/// for each N, writes (`load`) until three writes in a row are refused, checks the refusal mentions
/// `reason` and that nothing was acknowledged after it, then restarts without strace and
/// checks every acknowledged write is there and a new write succeeds.
fn fault_scenario(
    data: &Path,
    fault: &Fault<'_>,
    load: &Load,
    first_failures: &[u64],
    reason: &str,
) {
    let errno = fault.errno;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for &first_failure in first_failures {
        let (server, url) = serve(data, Some((fault, first_failure)));
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
            for i in 0..load.writes_max {
                if refused == 3 {
                    break;
                }
                let k = key![errno, first_failure, i];
                match db.set(&k, KvValue::Bytes(vec![7; load.value_bytes])).await {
                    Ok(_) => {
                        assert!(
                            refusal.is_none(),
                            "write {i} acknowledged after the failure"
                        );
                        acked.push(k);
                    }
                    Err(e) => {
                        // The write that met the failure may have been applied before its
                        // sync failed (`OutcomeUnknown`); each later one is refused before
                        // submission with cairn's 503 marked not applied, so the client
                        // retries it for its budget (`Unavailable`).
                        if refused > 0 {
                            assert!(
                                matches!(e, ClientError::Unavailable { .. }),
                                "a later write is refused as not applied: {e}"
                            );
                        }
                        refused += 1;
                        refusal.get_or_insert(e);
                    }
                }
            }
            (acked, refusal)
        });
        stop(server);
        let refusal = refusal.expect("the disk failed, so some write must have been refused");
        let message = refusal.to_string();
        eprintln!(
            "{errno} from call {first_failure}: {} writes acknowledged, then: {message}",
            acked.len()
        );
        assert!(
            matches!(
                refusal,
                ClientError::Unavailable { .. } | ClientError::OutcomeUnknown(_)
            ) && message.contains(reason),
            "the refusal says why ({reason}): {message}"
        );
        assert!(
            !acked.is_empty(),
            "writes before the failure were acknowledged"
        );

        // Without strace: everything acknowledged is there, and the database works.
        let (server, url) = serve(data, None);
        runtime.block_on(async {
            let db = Client::connect(&url, READ_WRITE_TOKEN)
                .await
                .expect("connect");
            for chunk in acked.chunks(10) {
                let found = db.get_many(chunk).await.expect("read after restart");
                for (k, entry) in chunk.iter().zip(found) {
                    assert!(entry.is_some(), "acknowledged write {k} lost after {errno}");
                }
            }
            db.set(&key!["after", errno, first_failure], KvValue::U64(1))
                .await
                .expect("a healthy restart accepts writes");
        });
        stop(server);
    }
}

fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("databases");
    (dir, data)
}

#[test]
fn a_failing_fdatasync_poisons_the_server_and_loses_nothing_acknowledged() {
    let (_dir, data) = data_dir();
    let fault = Fault {
        syscall: "fdatasync",
        errno: "EIO",
        paths: Vec::new(),
    };
    // Opening the database uses fsync, not fdatasync: the failures start mid-load.
    fault_scenario(&data, &fault, &SMALL_LOAD, &[12, 25], "poisoned");
}

/// A full disk: the transaction log's writes (`pwrite64`, used by nothing else) fail with
/// ENOSPC. The write in hand fails with the operating system's reason; nothing later is
/// acknowledged; after space returns (a restart without strace) nothing acknowledged is lost
/// and the database takes writes again.
#[test]
fn a_full_disk_refuses_writes_clearly_and_corrupts_nothing() {
    let (_dir, data) = data_dir();
    // The transaction log's two files are zero-filled with `pwrite` when first used (at the
    // first and second start): start twice without the fault first, so that the counted
    // calls below are the writes of records, as on any database past its first starts.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for start in 0..2u64 {
        let (server, url) = serve(&data, None);
        runtime.block_on(async {
            let db = Client::connect(&url, READ_WRITE_TOKEN)
                .await
                .expect("connect");
            db.set(&key!["warm", start], KvValue::U64(start))
                .await
                .expect("set");
        });
        stop(server);
    }
    let fault = Fault {
        syscall: "pwrite64",
        errno: "ENOSPC",
        paths: Vec::new(),
    };
    fault_scenario(
        &data,
        &fault,
        &SMALL_LOAD,
        &[10, 30],
        "No space left on device",
    );
}

/// A full disk seen first by the storage engine's own journal (fjall appends it with `write`;
/// strace's `-P` keeps the fault to those files, away from eventfds and sockets): the write
/// in hand fails with the system's reason, the database is poisoned, and after a restart
/// without the fault everything acknowledged is there (the transaction log has it).
#[test]
fn a_full_disk_under_the_engine_journal_refuses_writes_clearly_and_corrupts_nothing() {
    let (_dir, data) = data_dir();
    let engine = data.join("default").join("engine");
    let fault = Fault {
        syscall: "write",
        errno: "ENOSPC",
        // The journal's files are numbered; a short test stays within the first few.
        paths: (0..4).map(|n| engine.join(format!("{n}.jnl"))).collect(),
    };
    fault_scenario(
        &data,
        &fault,
        &SMALL_LOAD,
        &[5, 40],
        "No space left on device",
    );
}

/// A full disk seen first by the engine's background work, on one of its threads, where no
/// request waits for the answer: writes to the data keyspace's table files numbered `tables`
/// fail with ENOSPC. fjall then poisons itself, so the next commit fails and poisons cairn:
/// later writes are refused with a reason, none is acknowledged, and after a restart without
/// the fault everything acknowledged is there (the transaction log has what the lost table
/// held) and the database takes writes again. 60 KB values fill the data memtable
/// (`DATA_MEMTABLE_BYTES`, 16 MiB) every ~280 writes.
fn background_fault(tables: std::ops::Range<u32>, writes_max: u64) {
    let (_dir, data) = data_dir();
    // fjall's own keyspace is 0; cairn's data keyspace, created first, is 1. Table files are
    // numbered per keyspace in the order they are made.
    let dir = data
        .join("default")
        .join("engine")
        .join("keyspaces")
        .join("1")
        .join("tables");
    let fault = Fault {
        syscall: "write,pwrite64",
        errno: "ENOSPC",
        paths: tables.map(|n| dir.join(n.to_string())).collect(),
    };
    let load = Load {
        value_bytes: 60_000,
        writes_max,
    };
    fault_scenario(&data, &fault, &load, &[1], "poisoned");
}

/// The first memtable flush (tables 0…) fails.
#[test]
fn a_full_disk_under_a_background_flush_poisons_and_loses_nothing_acknowledged() {
    background_fault(0..2, 1000);
}

/// Four flushes (tables 0–3) succeed; the compaction that merges them into the next level
/// (its output is table 4 on) fails.
#[test]
fn a_full_disk_under_a_background_compaction_poisons_and_loses_nothing_acknowledged() {
    background_fault(4..8, 3000);
}

/// Every `fsync` fails from the first: creating the database fails with the system's reason,
/// the server stays up and says so to every client, and nothing half-made is left behind:
/// once the disk is healthy again (a restart without strace) the database is created and
/// takes writes. (fjall cannot open, nor create over, an engine directory whose creation was
/// cut short, so cairn builds it aside and renames it in.)
#[test]
fn a_failing_fsync_at_creation_is_reported_and_leaves_nothing_half_made() {
    let (_dir, data) = data_dir();
    let fault = Fault {
        syscall: "fsync",
        errno: "EIO",
        paths: Vec::new(),
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (server, url) = serve(&data, Some((&fault, 1)));
    let refusal = runtime.block_on(async {
        let mut options = ClientOptions::default();
        options.retry_budget = Duration::from_millis(500);
        Client::connect_with(&url, READ_WRITE_TOKEN, options)
            .await
            .err()
    });
    stop(server);
    let refusal = refusal.expect("the database cannot be created while fsync fails");
    assert!(
        refusal.to_string().contains("Input/output error"),
        "the refusal says why: {refusal}"
    );

    let (server, url) = serve(&data, None);
    runtime.block_on(async {
        let db = Client::connect(&url, READ_WRITE_TOKEN)
            .await
            .expect("a healthy restart creates the database");
        db.set(&key!["created"], KvValue::U64(1))
            .await
            .expect("and takes writes");
    });
    stop(server);
}
