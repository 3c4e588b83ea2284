//! A failover group replaces a primary killed with SIGKILL, and loses no acknowledged write.
//!
//! Three etcd members and three cairn members on loopback (`--sync-replicas 1`, lease TTL
//! 2 s). Under write load from cairn-client writers and the Deno runtime — both connected to
//! a member that stays up, so they find the primary through its metadata exchange — the
//! elected primary is killed with SIGKILL. Then:
//!
//! - another member is elected and serves writes (both clients get acknowledgements again);
//! - every write acknowledged to either client is on the new primary;
//! - `cairn stats` of the new primary shows its role, epoch, lease and the failover;
//! - the killed member, restarted on its directory, rejoins the group as a replica of the new
//!   primary and holds what it holds (its unacknowledged tail, if any, discarded by a
//!   rebuild from the new primary).

mod e2e;
mod failover;
mod replication;

use std::time::Instant;

use failover::{start_group, wait_for_leader, wait_rejoined, Etcd, Load};

#[test]
fn a_killed_primary_is_replaced_and_no_acknowledged_write_is_lost() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let etcd = Etcd::start(dirs.path());
    let mut members = start_group(dirs.path(), &etcd);
    let leader = wait_for_leader(&members, &[0, 1, 2], 2);
    let epoch = members[leader]
        .node
        .metric("cairn_failover_epoch", &[])
        .unwrap_or(0.0);
    // The clients talk to a member that survives.
    let entry = (leader + 1) % 3;
    let mut load = Load::start(
        &runtime,
        &members[entry].node.url,
        0,
        &dirs.path().join("deno-dir"),
    );
    load.wait_for_acks_after(
        Instant::now() - std::time::Duration::from_secs(3600),
        50,
        "load before the kill",
    );
    members[leader].node.kill();
    let killed_at = Instant::now();
    let alive: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let new_leader = wait_for_leader(&members, &alive, 1);
    assert_ne!(new_leader, leader);
    let new_epoch = members[new_leader]
        .node
        .metric("cairn_failover_epoch", &[])
        .unwrap_or(0.0);
    assert!(new_epoch > epoch, "epoch {new_epoch} after {epoch}");
    load.wait_for_acks_after(killed_at, 20, "writes on the new primary");
    let first_ack = load.first_acks_after(killed_at);
    println!("from SIGKILL to the first acknowledged write on the new primary: {first_ack:?}");
    // `cairn stats` shows the member's role, epoch, lease and the failover it saw.
    let (ok, stats) = replication::cairn(&[
        "stats",
        "--url",
        &format!("http://{}", members[new_leader].node.metrics_addr),
        "--interval-ms",
        "10",
    ]);
    assert!(ok, "{stats}");
    let expected = format!(
        "failover: leader, epoch {new_epoch}, leader {}",
        members[new_leader].name
    );
    assert!(stats.contains(&expected), "{stats}");
    assert!(
        stats.contains(&format!("-> {} at", members[new_leader].name)),
        "{stats}"
    );
    // The killed member rejoins, as a replica of the new primary.
    members[leader].node.kill_and_restart();
    load.stop(&runtime);
    let checked = load.check_all_present(&runtime, &members[new_leader].node.url);
    // Back as a replica holding what the new primary holds (a tail of batches it had made
    // durable that no replica confirmed is discarded: the copy is rebuilt from the new
    // primary).
    wait_rejoined(&members[leader].node, &members[new_leader].node);
    println!("{checked} acknowledged writes found on the new primary");
    drop(etcd);
}
