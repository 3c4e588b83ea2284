//! A failed attempt (a negative acknowledgement) is retried after the next interval of the
//! message's backoff schedule — Deno's default 100, 1000, 5000, 30000, 60000 ms, or the
//! message's own — exactly: not a millisecond before, at once when due (on a `ManualClock`).
//! When the schedule is exhausted, the payload is written as a V8 value to every key of
//! `keys_if_undelivered`, in one commit together with the message's removal and the
//! dead-lettered count, which persists.

mod harness;

use cairn_model::key;
use cairn_store::record::ChangeOp;
use cairn_store::Kv;
use cairn_store::{
    Clock, Database, EnqueueOptions, Key, KvValue, ManualClock, NackOutcome, StoreError,
};
use harness::queue::{next, payload, LONG_LEASE};
use harness::{memory_db, CLOCK_START_MS};

/// Fails every attempt, checking each retry comes exactly `schedule[i]` ms after its nack.
async fn fail_through(db: &Database, clock: &ManualClock, schedule: &[u32]) {
    for (i, interval) in schedule.iter().enumerate() {
        let delivery = next(db, LONG_LEASE).await;
        assert_eq!(delivery.attempt(), i as u32 + 1);
        let now = clock.now_ms();
        let outcome = db.nack(&delivery.id).await.expect("nack");
        assert_eq!(
            outcome,
            NackOutcome::Retry {
                ready_at_ms: now + u64::from(*interval),
                next_attempt: i as u32 + 2
            }
        );
        if *interval > 0 {
            clock.advance(u64::from(*interval) - 1);
            assert!(
                db.dequeue(LONG_LEASE).expect("dequeue").is_none(),
                "attempt {} delivered before its interval of {interval} ms",
                i + 2
            );
            clock.advance(1);
        }
    }
}

#[tokio::test]
async fn custom_schedule_then_keys_if_undelivered() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    let failed_keys: Vec<Key> = vec![key!["failed", 1u64], key!["failed", "copy"]];
    let schedule = vec![10, 20, 0, 40];
    db.enqueue(
        payload("job"),
        EnqueueOptions {
            keys_if_undelivered: failed_keys.clone(),
            backoff_schedule: Some(schedule.clone()),
            ..Default::default()
        },
    )
    .await
    .expect("enqueue");

    fail_through(&db, &clock, &schedule).await;
    for k in &failed_keys {
        assert!(db.get(k).await.expect("get").is_none(), "written too early");
    }
    assert_eq!(db.queue_stats().expect("stats").dead_lettered, 0);

    let last = next(&db, LONG_LEASE).await;
    assert_eq!(last.attempt(), 5);
    assert_eq!(
        db.nack(&last.id).await.expect("nack"),
        NackOutcome::DeadLettered
    );

    let mut versionstamps = Vec::new();
    for k in &failed_keys {
        let entry = db.get(k).await.expect("get").expect("payload written");
        assert_eq!(entry.value, KvValue::V8(payload("job")));
        versionstamps.push(entry.versionstamp);
    }
    assert_eq!(versionstamps[0], versionstamps[1], "one atomic commit");
    let log = db.changelog(None, usize::MAX).expect("changelog");
    let (_, record) = log
        .iter()
        .find(|(vs, _)| *vs == versionstamps[0])
        .expect("the dead-lettering is in the changelog");
    let written: Vec<Vec<u8>> = record
        .ops
        .iter()
        .map(|op| match op {
            ChangeOp::Set { key, .. } => key.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let want: Vec<Vec<u8>> = failed_keys.iter().map(Key::encode).collect();
    assert_eq!(written, want);

    let stats = db.queue_stats().expect("stats");
    assert_eq!(
        (
            stats.ready,
            stats.delayed,
            stats.in_flight,
            stats.dead_lettered
        ),
        (0, 0, 0, 1)
    );
    clock.advance(3_600_000);
    assert!(db.dequeue(LONG_LEASE).expect("dequeue").is_none());
    let stale = db.ack(&last.id).await.expect_err("settled already");
    assert!(
        matches!(stale, StoreError::DeliveryNotHeld { .. }),
        "{stale}"
    );
}

#[tokio::test]
async fn default_schedule_is_denos() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    db.enqueue(
        payload("default"),
        EnqueueOptions {
            keys_if_undelivered: vec![key!["dead"]],
            ..Default::default()
        },
    )
    .await
    .expect("enqueue");
    fail_through(&db, &clock, &[100, 1000, 5000, 30_000, 60_000]).await;
    let last = next(&db, LONG_LEASE).await;
    assert_eq!(last.attempt(), 6);
    assert_eq!(
        db.nack(&last.id).await.expect("nack"),
        NackOutcome::DeadLettered
    );
    let entry = db.get(&key!["dead"]).await.expect("get").expect("written");
    assert_eq!(entry.value, KvValue::V8(payload("default")));
    assert_eq!(db.queue_stats().expect("stats").dead_lettered, 1);
}

#[tokio::test]
async fn an_empty_schedule_dead_letters_at_the_first_failure() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    for name in ["a", "b"] {
        db.enqueue(
            payload(name),
            EnqueueOptions {
                backoff_schedule: Some(vec![]),
                ..Default::default()
            },
        )
        .await
        .expect("enqueue");
    }
    for _ in 0..2 {
        let delivery = next(&db, LONG_LEASE).await;
        assert_eq!(
            db.nack(&delivery.id).await.expect("nack"),
            NackOutcome::DeadLettered
        );
    }
    // No keys to write, but counted all the same.
    assert_eq!(db.queue_stats().expect("stats").dead_lettered, 2);
}
