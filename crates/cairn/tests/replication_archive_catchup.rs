//! A replica stopped for longer than its primary retains the stream catches up from the
//! archive, then streams.
//!
//! The primary archives continuously and keeps only a few KiB of stream for replicas. The
//! replica (given the same archive) is stopped while thousands of batches are committed;
//! when it starts again the primary answers 410 (not retained), and the replica restores the
//! archive's newest point into a fresh directory (the restore code of `cairn restore`), swaps
//! it in and continues the stream from the restored position. It ends with the primary's
//! entries and versionstamps, and keeps following later writes.

mod e2e;
mod replication;

use cairn_client::Client;
use cairn_model::{key, Kv, KvValue};
use replication::{dump, Node, TOKEN};

async fn write(url: &str, from: u64, to: u64) {
    let db = Client::connect(url, TOKEN).await.expect("connect");
    for n in from..to {
        db.set(&key!["n", n], KvValue::Bytes(vec![7; 100]))
            .await
            .expect("set");
    }
}

#[test]
fn a_replica_behind_the_retained_stream_catches_up_from_the_archive() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let archive = dirs.path().join("archive");
    let archive = archive.to_str().expect("a UTF-8 path");
    let runtime = e2e::runtime();
    let primary = Node::start(
        &dirs.path().join("primary"),
        &["--archive", archive, "--replication-retained-bytes", "4096"],
    );
    let mut replica = Node::start(
        &dirs.path().join("replica"),
        &[
            "--replica-of",
            primary.url.as_str(),
            "--archive",
            archive,
            "--replica-endpoints",
            "replica",
        ],
    );
    runtime.block_on(write(&primary.url, 0, 20));
    replica.wait_for_position(primary.position());

    replica.kill();
    runtime.block_on(write(&primary.url, 20, 1500));
    primary.wait_until("the archive to hold everything", |p| {
        p.metric("cairn_archive_unshipped_bytes", &["database=\"default\""]) == Some(0.0)
    });
    replica.kill_and_restart();
    replica.wait_for_log("replica restored from the archive");
    replica.wait_for_position(primary.position());
    assert!(
        !replica.log().contains("replica cannot catch up"),
        "{}",
        replica.log()
    );

    // And it streams from there.
    runtime.block_on(write(&primary.url, 1500, 1600));
    replica.wait_for_position(primary.position());
    let (on_primary, on_replica) = (dump(&primary), dump(&replica));
    assert_eq!(on_primary.len(), 1600);
    assert_eq!(on_primary, on_replica, "the copies differ");
}
