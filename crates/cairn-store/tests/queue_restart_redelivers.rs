//! Leases live in memory only: when an on-disk database is closed (or its process dies)
//! with messages enqueued, some of them leased and never acknowledged, reopening it delivers
//! every message that was not acknowledged — leased ones again, under the same attempt
//! number — and none that was. The dead-lettered count survives the restart too.

mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_store::{Database, EnqueueOptions, ManualClock, NackOutcome};
use harness::queue::{drain_ready, payload, text};
use harness::{config, CLOCK_START_MS};

const MESSAGES: usize = 20;

fn open(dir: &std::path::Path, clock: &ManualClock) -> Database {
    Database::open_with(dir, config(clock)).expect("open on-disk database")
}

#[tokio::test]
async fn unacknowledged_messages_are_all_delivered_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = open(dir.path(), &clock);
    for i in 0..MESSAGES {
        let delay = if i % 4 == 0 { 500 } else { 0 };
        db.enqueue(
            payload(&format!("m{i:02}")),
            EnqueueOptions {
                delay: Duration::from_millis(delay),
                ..Default::default()
            },
        )
        .await
        .expect("enqueue");
    }
    db.enqueue(
        payload("dead"),
        EnqueueOptions {
            backoff_schedule: Some(vec![]),
            ..Default::default()
        },
    )
    .await
    .expect("enqueue");

    let ready = drain_ready(&db);
    assert_eq!(ready.len(), MESSAGES - MESSAGES / 4 + 1);
    let mut acked = BTreeSet::new();
    let mut leased = BTreeSet::new();
    for (n, delivery) in ready.iter().enumerate() {
        let name = text(&delivery.payload);
        if name == "dead" {
            let outcome = db.nack(&delivery.id).await.expect("nack");
            assert_eq!(outcome, NackOutcome::DeadLettered);
        } else if n % 3 == 0 {
            db.ack(&delivery.id).await.expect("ack");
            acked.insert(name);
        } else {
            leased.insert(name);
        }
    }
    assert!(!acked.is_empty() && !leased.is_empty());
    db.close();

    let db = open(dir.path(), &clock);
    let stats = db.queue_stats().expect("stats");
    assert_eq!(stats.in_flight, 0, "no lease survives a restart");
    assert_eq!(stats.dead_lettered, 1, "the count is durable");
    assert_eq!(stats.ready as usize, leased.len());
    clock.advance(500);
    let again = drain_ready(&db);
    let names: Vec<String> = again.iter().map(|d| text(&d.payload)).collect();
    let unique: BTreeSet<String> = names.iter().cloned().collect();
    assert_eq!(names.len(), unique.len(), "delivered twice: {names:?}");
    let want: BTreeSet<String> = (0..MESSAGES)
        .map(|i| format!("m{i:02}"))
        .filter(|name| !acked.contains(name))
        .collect();
    assert_eq!(unique, want, "every unacknowledged message, and only those");
    for delivery in &again {
        assert_eq!(
            delivery.attempt(),
            1,
            "an interrupted lease is not a failed attempt"
        );
    }
    for delivery in again {
        db.ack(&delivery.id).await.expect("ack");
    }
    db.close();

    let db = open(dir.path(), &clock);
    assert!(
        drain_ready(&db).is_empty(),
        "acknowledged before the second restart"
    );
}
