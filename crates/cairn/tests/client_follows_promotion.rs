//! cairn-client follows a change of primary without being told: a write whose primary cannot
//! be reached (or answers 421 as a replica) runs the metadata exchange again before its next
//! attempt, so a client that entered through any server of a group finds the new primary
//! within its retry budget instead of retrying the old one until its session is due (up to
//! a minute later).

mod e2e;
mod replication;

use std::time::Duration;

use cairn_client::{Client, ClientOptions};
use cairn_model::{key, Kv, KvValue};
use replication::{promote, Node, TOKEN};

#[test]
fn a_client_that_entered_through_a_replica_follows_its_promotion() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let mut primary = Node::start(&dirs.path().join("primary"), &[]);
    let replica = Node::start(
        &dirs.path().join("replica"),
        &["--replica-of", primary.url.as_str()],
    );
    primary.wait_until("the replica connected", |n| {
        n.metric("cairn_replication_replicas", &["database=\"default\""]) == Some(1.0)
    });
    let mut options = ClientOptions::default();
    // Shorter than the session's own renewal (half its expiry, at most a minute): only the
    // exchange after a failed attempt can find the new primary in time.
    options.retry_budget = Duration::from_secs(20);
    let db = runtime.block_on(async {
        let db = Client::connect_with(&replica.url, TOKEN, options)
            .await
            .expect("connect through the replica");
        // The replica's exchange names the primary for writes.
        db.set(&key!["before"], KvValue::U64(1))
            .await
            .expect("written on the primary");
        db
    });
    replica.wait_for_position(primary.position());
    primary.kill();
    promote(&replica);
    runtime.block_on(async {
        db.set(&key!["after"], KvValue::U64(2))
            .await
            .expect("the write found the promoted replica");
        let fresh = Client::connect(&replica.url, TOKEN).await.expect("connect");
        let after = fresh.get(&key!["after"]).await.expect("read");
        assert_eq!(after.map(|e| e.value), Some(KvValue::U64(2)));
        let before = fresh.get(&key!["before"]).await.expect("read");
        assert_eq!(before.map(|e| e.value), Some(KvValue::U64(1)));
    });
}
