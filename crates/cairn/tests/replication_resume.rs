//! A replica killed (SIGKILL) and restarted mid-stream resumes where its durable copy ends,
//! without a gap or a batch applied twice.
//!
//! Writers keep committing on the primary (asynchronous replication) while the replica is
//! killed again and again. After each restart the replica asks for the stream after the
//! position stored with its last applied batch; the pipeline refuses any batch that is not the
//! next one ("stream out of order"), so a gap or a repeat would stop it and show in its log.
//! At the end the replica holds exactly the primary's entries, with the same versionstamps,
//! at the same stream position.

mod e2e;
mod replication;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_client::{Client, ClientOptions};
use cairn_model::{key, Kv, KvValue};
use replication::{dump, Node, TOKEN};

const KILLS: u64 = 4;

#[test]
fn a_killed_replica_resumes_without_gaps_or_repeats() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let primary = Node::start(&dirs.path().join("primary"), &[]);
    // The replica serves its own reads, so `dump` reads its copy.
    let mut replica = Node::start(
        &dirs.path().join("replica"),
        &[
            "--replica-of",
            primary.url.as_str(),
            "--replica-endpoints",
            "replica",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let (url, stop) = (primary.url.clone(), stop.clone());
            runtime.spawn(async move {
                let mut options = ClientOptions::default();
                options.retry_budget = Duration::from_secs(30);
                let db = Client::connect_with(&url, TOKEN, options)
                    .await
                    .expect("connect");
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    db.atomic()
                        .set(&key!["w", w, n], KvValue::U64(n))
                        .sum(&key!["total"], 1)
                        .commit()
                        .await
                        .expect("the primary stays up");
                    n += 1;
                }
            })
        })
        .collect();
    let open = |r: &Node| {
        r.metric("cairn_replication_position", &["database=\"default\""])
            .is_some()
    };
    for kill in 0..KILLS {
        // Kill mid-stream: while batches arrive, well past where the last start resumed.
        replica.wait_until("its database open", open);
        let resumed = replica.position();
        replica.wait_until("more batches to arrive", |r| r.position() > resumed + 50);
        let at = replica.position();
        replica.kill_and_restart();
        println!("kill {kill}: resumed at {resumed}, killed at {at} or later");
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        runtime.block_on(w).expect("writer");
    }
    let newest = primary.position();
    replica.wait_for_position(newest);
    assert_eq!(replica.position(), newest);
    let log = replica.log();
    assert!(!log.contains("out of order"), "a gap or a repeat:\n{log}");
    assert_eq!(
        log.matches("--- restart ---").count() as u64,
        KILLS,
        "every kill restarted it"
    );
    let (on_primary, on_replica) = (dump(&primary), dump(&replica));
    assert!(on_primary.len() > 100, "{} entries", on_primary.len());
    assert_eq!(on_primary, on_replica, "the copies differ");
}
