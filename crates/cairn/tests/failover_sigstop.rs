//! A primary frozen past its lease acknowledges nothing afterwards, and rejoins as a replica.
//!
//! The elected primary of a 3-member group is frozen with SIGSTOP while writes flow — from
//! cairn-client writers and the Deno runtime through another member, and from a cairn-client
//! writer connected straight to the primary, whose requests queue in the frozen process's
//! sockets. Another member is elected once the primary's lease expires in etcd. Then SIGCONT
//! (the Deno runtime, whose request waited in the frozen process, moves on only then): the
//! old primary finds its lease gone; every write it had queued is answered with a
//! refusal (its write lease passed, so nothing it decides now is acknowledged), and it
//! rejoins the group as a replica of the new primary, holding what the new primary holds.
//! Every write acknowledged to any client — including the writer tied to the old primary —
//! is on the new primary: no split-brain acknowledgement.

mod e2e;
mod failover;
mod replication;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use failover::{
    check_present, direct_writes, start_group, wait_for_leader, wait_rejoined, Etcd, Load,
};

#[test]
fn a_frozen_primary_acknowledges_nothing_after_its_lease_and_rejoins() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let etcd = Etcd::start(dirs.path());
    let members = start_group(dirs.path(), &etcd);
    let leader = wait_for_leader(&members, &[0, 1, 2], 2);
    let entry = (leader + 1) % 3;
    let mut load = Load::start(
        &runtime,
        &members[entry].node.url,
        1,
        &dirs.path().join("deno-dir"),
    );
    let stop_direct = Arc::new(AtomicBool::new(false));
    let direct = runtime.spawn(direct_writes(
        members[leader].node.url.clone(),
        stop_direct.clone(),
    ));
    load.wait_for_acks_after(
        Instant::now() - Duration::from_secs(3600),
        50,
        "load before the freeze",
    );
    members[leader].node.signal("STOP");
    let frozen_at = Instant::now();
    let alive: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let new_leader = wait_for_leader(&members, &alive, 1);
    // The Deno runtime's request to the frozen primary waits for it (its client sets no
    // timeout): only cairn-client's writers, which time out, move on before the thaw.
    load.wait_for_acks(frozen_at, 20, 0, "writes on the new primary");
    let thawed_at = Instant::now();
    members[leader].node.signal("CONT");
    load.wait_for_acks_after(thawed_at, 20, "writes after the thaw");
    let old = &members[leader].node;
    old.wait_for_log("no longer the failover group's leader");
    load.stop(&runtime);
    stop_direct.store(true, Ordering::SeqCst);
    let direct = runtime.block_on(direct).expect("direct writer");
    let new = &members[new_leader].node;
    let checked = load.check_all_present(&runtime, &new.url);
    check_present(&runtime, &new.url, &direct);
    println!(
        "{checked} acknowledged writes through the group and {} straight to the old primary, \
         all on the new primary",
        direct.len()
    );
    wait_rejoined(old, new);
    drop(etcd);
}
