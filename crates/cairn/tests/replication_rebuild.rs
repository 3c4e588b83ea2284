//! A replica rebuilds itself from a snapshot of its primary (`replication/snapshot`) — no
//! archive, no operator — when streaming cannot continue from its copy:
//!
//! - *behind*: stopped while its primary wrote more than it retains (410), with no archive:
//!   it fetches the primary's snapshot, swaps it in and streams on; both copies end equal.
//!   The same with an archive that holds nothing of the primary: the archive is tried first.
//! - *diverged*: a former primary that kept writing after its replica was promoted, restarted
//!   as a replica of the new primary, is refused as diverged (409): it rebuilds from the new
//!   primary, discards its unacknowledged tail (the keys only it wrote are gone, the new
//!   primary's are there), keeps the old copy as `default.discarded-<epoch>-<position>`, says
//!   how many positions it discarded, and follows the new primary.
//! - with `--replica-rebuild never` the diverged replica stays refused and keeps its copy.
//! - the snapshot endpoint answers only the replication token (401), and only on a primary
//!   (409 on a replica).

mod e2e;
mod replication;

use cairn_client::Client;
use cairn_model::{key, Kv, KvValue};
use replication::{dump, promote, Node, TOKEN};

async fn write(url: &str, prefix: &str, from: u64, to: u64) {
    let db = Client::connect(url, TOKEN).await.expect("connect");
    for n in from..to {
        db.set(&key![prefix, n], KvValue::Bytes(vec![7; 100]))
            .await
            .expect("set");
    }
}

/// A replica of `primary`'s default database on `data` that serves its own reads (so that
/// [`dump`] reads its copy), with `args`.
fn replica_of(data: &std::path::Path, primary: &Node, args: &[&str]) -> Node {
    let mut all = vec![
        "--replica-of",
        primary.url.as_str(),
        "--replica-endpoints",
        "replica",
    ];
    all.extend_from_slice(args);
    Node::start(data, &all)
}

/// The discarded copies of the default database in `data`.
fn discarded(data: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(data)
        .expect("data dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("default.discarded-"))
        .collect()
}

/// `node`'s rebuilds of the default database from its primary's snapshot.
fn rebuilds_from_primary(node: &Node) -> f64 {
    node.metric(
        "cairn_replication_rebuilds_total",
        &["database=\"default\"", "source=\"primary\""],
    )
    .unwrap_or(0.0)
}

#[test]
fn a_replica_behind_the_retained_stream_rebuilds_from_the_primary_without_an_archive() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let primary = Node::start(
        &dirs.path().join("primary"),
        &["--replication-retained-bytes", "4096"],
    );
    let mut replica = replica_of(&dirs.path().join("replica"), &primary, &[]);
    runtime.block_on(write(&primary.url, "n", 0, 20));
    replica.wait_for_position(primary.position());

    replica.kill();
    runtime.block_on(write(&primary.url, "n", 20, 400));
    replica.kill_and_restart();
    replica.wait_for_log("replica rebuilt from the primary's snapshot");
    replica.wait_for_position(primary.position());
    assert_eq!(rebuilds_from_primary(&replica), 1.0, "{}", replica.log());
    // Nothing was diverged: nothing discarded, nothing kept aside.
    assert!(discarded(&replica.data).is_empty());

    // And it streams from there.
    runtime.block_on(write(&primary.url, "n", 400, 450));
    replica.wait_for_position(primary.position());
    let (on_primary, on_replica) = (dump(&primary), dump(&replica));
    assert_eq!(on_primary.len(), 450);
    assert_eq!(on_primary, on_replica, "the copies differ");
}

/// A primary `a` with a replica `b`; `b` promoted; `a` writes a tail of its own, `b` too.
/// Returns both, `a` stopped.
fn diverge(dirs: &std::path::Path, runtime: &tokio::runtime::Runtime) -> (Node, Node) {
    let mut a = Node::start(&dirs.join("a"), &[]);
    let b = replica_of(&dirs.join("b"), &a, &[]);
    runtime.block_on(write(&a.url, "shared", 0, 20));
    b.wait_for_position(a.position());
    promote(&b);
    // The former primary goes on writing (no synchronous replica: acknowledged by it alone,
    // a tail the new primary never had), and so does the new one.
    runtime.block_on(write(&a.url, "a-only", 0, 10));
    runtime.block_on(write(&b.url, "b-only", 0, 5));
    a.kill();
    (a, b)
}

#[test]
fn a_diverged_former_primary_rebuilds_from_the_new_primary_and_keeps_its_tail_aside() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let (a, b) = diverge(dirs.path(), &runtime);
    drop(a);
    let a = replica_of(&dirs.path().join("a"), &b, &[]);
    a.wait_for_log("replica rebuilt from the primary's snapshot");
    a.wait_for_position(b.position());
    let on_a = dump(&a);
    assert!(on_a.iter().all(|l| !l.contains("a-only")), "{on_a:?}");
    assert_eq!(on_a.iter().filter(|l| l.contains("b-only")).count(), 5);
    assert_eq!(on_a.iter().filter(|l| l.contains("shared")).count(), 20);
    assert_eq!(on_a, dump(&b), "the copies differ");

    // The old copy is kept for inspection, and the discarded tail counted.
    let kept = discarded(&a.data);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].starts_with("default.discarded-0-"), "{kept:?}");
    let tail = a
        .metric(
            "cairn_replication_discarded_positions",
            &["database=\"default\""],
        )
        .expect("discarded positions");
    assert!(tail >= 10.0, "discarded {tail} positions\n{}", a.log());
    assert!(a.log().contains("discarded this copy's diverged tail"));
    assert_eq!(rebuilds_from_primary(&a), 1.0, "{}", a.log());

    // And it follows the new primary.
    runtime.block_on(write(&b.url, "later", 0, 3));
    a.wait_for_position(b.position());
    assert_eq!(dump(&a), dump(&b), "the copies differ");
}

#[test]
fn with_replica_rebuild_never_a_diverged_replica_stays_refused() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let (a, b) = diverge(dirs.path(), &runtime);
    drop(a);
    let a = replica_of(&dirs.path().join("a"), &b, &["--replica-rebuild", "never"]);
    a.wait_for_log("refuses this replica as diverged");
    assert!(!a.log().contains("rebuilt from the primary"), "{}", a.log());
    assert!(discarded(&a.data).is_empty());
    assert!(a.data.join("default").exists());
}

#[test]
fn an_archive_that_cannot_catch_the_replica_up_falls_back_to_the_primary() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let primary = Node::start(
        &dirs.path().join("primary"),
        &["--replication-retained-bytes", "4096"],
    );
    // The replica's archive is not the primary's: it holds nothing to restore.
    let archive = dirs.path().join("empty-archive");
    let archive = archive.to_str().expect("a UTF-8 path");
    let mut replica = replica_of(
        &dirs.path().join("replica"),
        &primary,
        &["--archive", archive],
    );
    runtime.block_on(write(&primary.url, "n", 0, 20));
    replica.wait_for_position(primary.position());
    replica.kill();
    runtime.block_on(write(&primary.url, "n", 20, 300));
    replica.kill_and_restart();
    replica.wait_for_log("cannot catch up from an archive");
    replica.wait_for_log("replica rebuilt from the primary's snapshot");
    replica.wait_for_position(primary.position());
    assert_eq!(dump(&primary), dump(&replica), "the copies differ");
}

/// The status of `POST <url>/replication/snapshot` with `token` (HTTP/1.0: the server closes
/// the connection; the body is not read).
fn snapshot_status(url: &str, token: &str) -> u16 {
    use std::io::{BufRead, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "POST /replication/snapshot HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("write");
    let mut status = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut status)
        .expect("read");
    status
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status")
}

#[test]
fn the_snapshot_endpoint_refuses_a_wrong_token_and_a_replica() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let primary = Node::start(&dirs.path().join("primary"), &[]);
    let replica = replica_of(&dirs.path().join("replica"), &primary, &[]);
    runtime.block_on(write(&primary.url, "n", 0, 3));
    replica.wait_for_position(primary.position());
    assert_eq!(snapshot_status(&primary.url, "not-the-token"), 401);
    assert_eq!(snapshot_status(&primary.url, TOKEN), 401, "an access token");
    assert_eq!(
        snapshot_status(&replica.url, replication::REPLICATION_TOKEN),
        409
    );
    assert_eq!(
        snapshot_status(&primary.url, replication::REPLICATION_TOKEN),
        200
    );
}
