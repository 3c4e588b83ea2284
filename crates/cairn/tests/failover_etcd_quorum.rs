//! etcd's availability and a failover group: one member lost changes nothing; quorum lost
//! stops writes with a clear error while reads go on; quorum back, writes resume.
//!
//! - One of three etcd members killed: the group keeps its leader and epoch, and writes are
//!   acknowledged throughout.
//! - A second one killed (no quorum): the leader cannot renew its lease, so once it has
//!   passed, writes are refused — cairn-client reports the 503 (`cairn-not-applied: 1`,
//!   "not the failover group's primary"), and the Deno runtime keeps retrying the 503 (its
//!   write waits); reads are answered by every member.
//! - Both restarted: a leader is elected (or the old one keeps its key) and writes are
//!   acknowledged again, the Deno runtime's waiting write included.

mod e2e;
mod failover;
mod replication;

use std::time::{Duration, Instant};

use cairn_client::{Client, ClientOptions};
use cairn_model::{key, Kv, KvValue};
use failover::{start_group, wait_for_leader, Etcd, Load};

#[test]
fn etcd_losing_quorum_stops_writes_and_reads_go_on() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let mut etcd = Etcd::start(dirs.path());
    let members = start_group(dirs.path(), &etcd);
    let leader = wait_for_leader(&members, &[0, 1, 2], 2);
    let epoch = |i: usize| members[i].node.metric("cairn_failover_epoch", &[]);
    let epoch_before = epoch(leader);
    let entry = (leader + 1) % 3;
    let mut load = Load::start(
        &runtime,
        &members[entry].node.url,
        2,
        &dirs.path().join("deno-dir"),
    );
    load.wait_for_acks_after(Instant::now() - Duration::from_secs(3600), 20, "load");

    // One etcd member lost: nothing changes, for longer than a lease TTL.
    etcd.kill(0);
    let killed_at = Instant::now();
    load.wait_for_acks_after(killed_at, 50, "writes with one etcd member down");
    std::thread::sleep(Duration::from_secs(3));
    load.wait_for_acks_after(Instant::now(), 20, "writes with one etcd member down");
    assert_eq!(
        wait_for_leader(&members, &[0, 1, 2], 2),
        leader,
        "the leader changed"
    );
    assert_eq!(epoch(leader), epoch_before, "the epoch changed");

    // Quorum lost: writes stop with a clear error, reads go on.
    etcd.kill(1);
    let mut options = ClientOptions::default();
    options.retry_budget = Duration::from_millis(500);
    let refusal = runtime.block_on(async {
        let db = Client::connect_with(&members[leader].node.url, failover::TOKEN, options)
            .await
            .expect("connect");
        let deadline = Instant::now() + failover::WAIT;
        loop {
            match db.set(&key!["during", "no quorum"], KvValue::U64(1)).await {
                Ok(_) => assert!(Instant::now() < deadline, "writes never stopped"),
                Err(e) => break e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(
        refusal.contains("not the failover group's primary"),
        "unclear refusal: {refusal}"
    );
    let stopped_at = Instant::now();
    runtime.block_on(async {
        for m in &members {
            let db = Client::connect(&m.node.url, failover::TOKEN)
                .await
                .expect("connect");
            db.get(&key!["acked", 2u64, 0u64, 0u64])
                .await
                .unwrap_or_else(|e| panic!("{}: a read failed without quorum: {e}", m.name));
        }
    });
    // The Deno runtime's write waits (it retries the 503) rather than failing.
    let failed_deno = |after: Instant| {
        load.deno
            .lock()
            .expect("lock")
            .iter()
            .filter(|(l, at)| *at > after && l.starts_with("failed "))
            .count()
    };

    // Quorum back: writes resume (the Deno runtime's too).
    etcd.restart(0);
    etcd.restart(1);
    etcd.wait_healthy(&[0, 1, 2]);
    let back_at = Instant::now();
    wait_for_leader(&members, &[0, 1, 2], 1);
    load.wait_for_acks_after(back_at, 20, "writes after etcd's quorum is back");
    assert_eq!(
        failed_deno(stopped_at),
        0,
        "the Deno runtime gave up on a write\n{}",
        load.deno_tail()
    );
    load.stop(&runtime);
    let new_leader = wait_for_leader(&members, &[0, 1, 2], 1);
    let checked = load.check_all_present(&runtime, &members[new_leader].node.url);
    println!("refusal without quorum: {refusal}\n{checked} acknowledged writes present");
}
