//! The long run of automatic failover (on demand: `scripts/failover_long.sh N`, not in the
//! test command): `CAIRN_FAILOVER_LONG_CYCLES` failovers in a row (default 20) on a group of
//! three members and three etcd members (lease TTL 3 s).
//!
//! Each cycle: write load (cairn-client writers and the Deno runtime, through a member that
//! survives the cycle) and a cairn-client writer straight to the primary; SIGKILL of the
//! primary — or, every other cycle, SIGSTOP until another member is elected, then SIGCONT;
//! the new primary serving writes; the old one restarted (or thawed) and back as a replica.
//! Counted over the run: acknowledged writes missing on the new primary (must be 0), writes
//! the old primary acknowledged straight to a client that the new one lacks (split-brain
//! acknowledgements, must be 0), the time from the SIGKILL to the first acknowledged write
//! on the new primary (cairn-client's and the Deno runtime's), and the Deno runtime's write
//! unavailability (the gap between its last acknowledgement before the failure and its first
//! after).
//!
//! A former primary whose copy diverged (it had made batches durable that no replica
//! confirmed) rebuilds it from the new primary's snapshot (`--replica-rebuild auto`), its
//! tail discarded; the run counts those rebuilds.

mod e2e;
mod failover;
mod replication;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use failover::{direct_writes, start_group, wait_for_leader, Etcd, Load};

/// The times a member's log says it rebuilt a diverged copy from its primary, over every
/// start.
fn rebuilds(node: &replication::Node) -> usize {
    node.log()
        .matches("diverged from the primary: rebuilding")
        .count()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[test]
#[ignore = "the long run: scripts/failover_long.sh N"]
fn repeated_failovers_lose_no_acknowledged_write() {
    let cycles = e2e::env_u64("CAIRN_FAILOVER_LONG_CYCLES", 20);
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let etcd = Etcd::start(dirs.path());
    let mut members = start_group(dirs.path(), &etcd);
    let (mut lost, mut split_brain, mut rebuilt, mut checked) = (0, 0, 0, 0);
    let (mut client_first, mut deno_first, mut deno_gaps) = (Vec::new(), Vec::new(), Vec::new());
    for cycle in 0..cycles {
        let leader = wait_for_leader(&members, &[0, 1, 2], 2);
        let entry = (leader + 1) % 3;
        failover::wait_exchange(&runtime, &members[entry].node);
        let mut load = Load::start(
            &runtime,
            &members[entry].node.url,
            100 + cycle,
            &dirs.path().join("deno-dir"),
        );
        let stop_direct = Arc::new(AtomicBool::new(false));
        let direct = runtime.spawn(direct_writes(
            members[leader].node.url.clone(),
            stop_direct.clone(),
        ));
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            load.wait_for_acks_after(Instant::now() - Duration::from_secs(3600), 30, "load")
        }));
        if let Err(panic) = loaded {
            for m in &members {
                let (_, metadata) = replication::get(&m.node.metrics_addr, "/metrics");
                let failover: String = metadata
                    .lines()
                    .filter(|l| {
                        l.starts_with("cairn_failover") || l.starts_with("cairn_replication")
                    })
                    .map(|l| format!("{l}\n"))
                    .collect();
                eprintln!("--- {} ---\n{failover}{}", m.name, m.node.log());
            }
            std::panic::resume_unwind(panic);
        }
        let freeze = cycle % 2 == 1;
        // Taken once the signal was delivered (`kill` has exited, or the child was reaped):
        // a write sent before it may still be answered by the old primary.
        if freeze {
            members[leader].node.signal("STOP");
        } else {
            members[leader].node.kill();
        }
        let failed_at = Instant::now();
        let alive: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
        let new_leader = wait_for_leader(&members, &alive, 1);
        load.wait_for_acks(failed_at, 10, 0, "cairn-client writes on the new primary");
        if freeze {
            members[leader].node.signal("CONT");
        }
        load.wait_for_acks_after(failed_at, 10, "writes on the new primary");
        let (c, d) = load.first_acks_after(failed_at);
        if !freeze {
            client_first.extend(c);
            deno_first.extend(d);
            deno_gaps.extend(load.deno_gap_around(failed_at));
        }
        load.stop(&runtime);
        stop_direct.store(true, Ordering::SeqCst);
        let direct = runtime.block_on(direct).expect("direct writer");
        let new_url = members[new_leader].node.url.clone();
        let (missing, n) = load.count_missing(&runtime, &new_url);
        lost += missing;
        checked += n;
        if freeze {
            // What the frozen primary acknowledged straight to its client must be on the
            // new primary.
            let missing_direct = runtime.block_on(async {
                use cairn_model::Kv as _;
                let db = cairn_client::Client::connect(&new_url, failover::TOKEN)
                    .await
                    .expect("connect");
                let mut missing = 0;
                for (k, v) in &direct {
                    let found = db.get(k).await.expect("get").map(|e| e.value);
                    if found != Some(cairn_model::KvValue::U64(*v)) {
                        missing += 1;
                    }
                }
                missing
            });
            split_brain += missing_direct;
        }
        checked += direct.len();
        // The old primary back as a replica.
        let rebuilds_before = rebuilds(&members[leader].node);
        if !freeze {
            members[leader].node.kill_and_restart();
        }
        let new = &members[new_leader].node;
        let old = &members[leader].node;
        failover::wait_rejoined(old, new);
        rebuilt += rebuilds(old) - rebuilds_before;
        println!(
            "cycle {cycle}: {} of n{leader} -> n{new_leader}: first ack after {:?} \
             (cairn-client) / {:?} (Deno), Deno gap {:?}; {missing} of {n} acknowledged writes \
             missing",
            if freeze { "SIGSTOP" } else { "SIGKILL" },
            c,
            d,
            load.deno_gap_around(failed_at)
        );
    }
    client_first.sort();
    deno_first.sort();
    deno_gaps.sort();
    println!(
        "{cycles} failovers (TTL {} s): {checked} acknowledged writes checked, {lost} lost, \
         {split_brain} split-brain acknowledgements, {rebuilt} rebuilds of former primaries \
         from the new primary",
        failover::TTL_S
    );
    println!(
        "SIGKILL to first acknowledged write on the new primary: cairn-client p50 {:?} max {:?}; \
         Deno p50 {:?} max {:?}; Deno write unavailability p50 {:?} max {:?}",
        percentile(&client_first, 0.5),
        client_first.last().copied().unwrap_or_default(),
        percentile(&deno_first, 0.5),
        deno_first.last().copied().unwrap_or_default(),
        percentile(&deno_gaps, 0.5),
        deno_gaps.last().copied().unwrap_or_default(),
    );
    assert_eq!(lost, 0, "acknowledged writes lost");
    assert_eq!(split_brain, 0, "split-brain acknowledgements");
    drop(etcd);
}
