//! A consumer that misses its visibility deadline (it vanished, or is too slow) loses the
//! message: the dispatcher retries it after the next backoff interval, counted from the
//! deadline, with one more attempt. The expired delivery's acknowledgement is refused with a
//! clear error — before the redelivery and after it — and can never settle the new attempt.
//! A delivery id cannot be settled twice, and a forged token is refused.

mod harness;

use cairn_store::Kv;
use std::time::Duration;

use cairn_store::{DeliveryId, EnqueueOptions, ManualClock, StoreError};
use harness::queue::{next, payload, text};
use harness::{memory_db, wait_until, CLOCK_START_MS};

const LEASE: Duration = Duration::from_millis(1_000);

fn assert_refused(result: Result<(), StoreError>, why: &str) {
    match result {
        Err(StoreError::DeliveryNotHeld { reason, .. }) => {
            assert!(
                reason.contains(why),
                "reason {reason:?} should mention {why:?}"
            )
        }
        other => panic!("expected a refusal ({why}), got {other:?}"),
    }
}

#[tokio::test]
async fn expired_lease_is_redelivered_and_its_stale_ack_refused() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    db.enqueue(payload("m"), EnqueueOptions::default())
        .await
        .expect("enqueue");

    let first = next(&db, LEASE).await;
    assert_eq!(first.attempt(), 1);
    assert_eq!(first.lease_deadline_ms, CLOCK_START_MS + 1_000);
    assert_eq!(db.queue_stats().expect("stats").in_flight, 1);

    clock.advance(1_001);
    // Refused whichever the dispatcher has reached: the lease is expired, or already gone.
    let early = db.ack(&first.id).await;
    assert!(
        matches!(&early, Err(StoreError::DeliveryNotHeld { reason, .. })
            if reason.contains("expired") || reason.contains("no lease")),
        "{early:?}"
    );
    // The retry is due 100 ms (the first default interval) after the deadline.
    assert!(db.dequeue(LEASE).expect("dequeue").is_none());
    wait_until("the expired lease to become a retry", || {
        let stats = db.queue_stats().expect("stats");
        stats.in_flight == 0 && stats.delayed == 1
    })
    .await;
    clock.advance(98);
    assert!(db.dequeue(LEASE).expect("dequeue").is_none(), "1 ms early");
    clock.advance(1);

    let second = next(&db, LEASE).await;
    assert_eq!(second.attempt(), 2);
    assert_eq!(second.message(), first.message());
    assert_eq!(text(&second.payload), "m");
    assert_refused(db.ack(&first.id).await, "handed out again");

    db.ack(&second.id)
        .await
        .expect("the current attempt settles");
    assert_refused(db.ack(&second.id).await, "no lease");
    assert_refused(db.nack(&second.id).await.map(|_| ()), "no lease");
    let stats = db.queue_stats().expect("stats");
    assert_eq!((stats.ready, stats.delayed, stats.in_flight), (0, 0, 0));
}

#[tokio::test]
async fn a_lease_holds_up_to_its_deadline_and_a_forged_token_is_refused() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    db.enqueue(payload("m"), EnqueueOptions::default())
        .await
        .expect("enqueue");
    let delivery = next(&db, LEASE).await;

    let mut forged = delivery.id.to_bytes();
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    let forged = DeliveryId::from_bytes(&forged).expect("well-formed id");
    assert_refused(db.ack(&forged).await, "handed out again");

    clock.advance(1_000);
    assert!(
        db.dequeue(LEASE).expect("dequeue").is_none(),
        "still leased"
    );
    db.ack(&delivery.id)
        .await
        .expect("acknowledged at its deadline");
    clock.advance(10_000);
    assert!(
        db.dequeue(LEASE).expect("dequeue").is_none(),
        "gone for good"
    );
}

#[tokio::test]
async fn a_vanished_consumer_exhausts_the_schedule() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    db.enqueue(
        payload("orphan"),
        EnqueueOptions {
            keys_if_undelivered: vec![cairn_model::key!["orphaned"]],
            backoff_schedule: Some(vec![50]),
            ..Default::default()
        },
    )
    .await
    .expect("enqueue");
    let first = next(&db, LEASE).await;
    clock.advance(1_001 + 50);
    let second = next(&db, LEASE).await;
    assert_eq!((second.attempt(), second.message()), (2, first.message()));
    clock.advance(1_001);
    wait_until("the dead-lettering commit", || {
        db.queue_stats().expect("stats").dead_lettered == 1
    })
    .await;
    let entry = db
        .get(&cairn_model::key!["orphaned"])
        .await
        .expect("get")
        .expect("payload written");
    assert_eq!(entry.value, cairn_store::KvValue::V8(payload("orphan")));
    assert!(db.dequeue(LEASE).expect("dequeue").is_none());
}
