//! Messages are delivered in order of their ready time (enqueue time plus delay); messages
//! ready at the same moment come in commit order, and within one atomic write in the order
//! of its enqueues. A delayed message is not delivered a millisecond early, and the clock
//! moving (a `ManualClock` here) is what makes it due — no sleeps.

mod harness;

use cairn_store::Kv;
use std::time::Duration;

use cairn_store::{EnqueueOptions, ManualClock};
use harness::queue::{drain_ready, next, payload, text, LONG_LEASE};
use harness::{memory_db, CLOCK_START_MS};

fn delayed(ms: u64) -> EnqueueOptions {
    EnqueueOptions {
        delay: Duration::from_millis(ms),
        ..Default::default()
    }
}

#[tokio::test]
async fn earlier_deadline_first_and_equal_deadlines_in_commit_order() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    db.enqueue(payload("late"), delayed(300))
        .await
        .expect("enqueue");
    db.enqueue(payload("early"), delayed(100))
        .await
        .expect("enqueue");
    db.enqueue(payload("mid"), delayed(200))
        .await
        .expect("enqueue");
    db.atomic()
        .enqueue(payload("tie-a"), delayed(200))
        .enqueue(payload("tie-b"), delayed(200))
        .commit()
        .await
        .expect("two enqueues in one write");
    db.enqueue(payload("tie-c"), delayed(200))
        .await
        .expect("enqueue");

    assert!(db.dequeue(LONG_LEASE).expect("dequeue").is_none());
    clock.advance(99);
    assert!(
        db.dequeue(LONG_LEASE).expect("dequeue").is_none(),
        "1 ms early"
    );
    clock.advance(1);
    let first = next(&db, LONG_LEASE).await;
    assert_eq!(text(&first.payload), "early");
    assert!(db.dequeue(LONG_LEASE).expect("dequeue").is_none());

    clock.advance(100);
    let ties: Vec<String> = drain_ready(&db).iter().map(|d| text(&d.payload)).collect();
    assert_eq!(ties, ["mid", "tie-a", "tie-b", "tie-c"]);

    clock.advance(100);
    let last = next(&db, LONG_LEASE).await;
    assert_eq!(text(&last.payload), "late");
    assert!(drain_ready(&db).is_empty());
}

#[tokio::test]
async fn immediate_messages_come_in_enqueue_order() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    for i in 0..50 {
        db.enqueue(payload(&format!("m{i}")), EnqueueOptions::default())
            .await
            .expect("enqueue");
    }
    let got: Vec<String> = drain_ready(&db).iter().map(|d| text(&d.payload)).collect();
    let want: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
    let again: Vec<String> = drain_ready(&db).iter().map(|d| text(&d.payload)).collect();
    assert!(again.is_empty(), "delivered twice: {again:?}");
}

#[tokio::test]
async fn a_waiting_consumer_is_woken_by_the_clock() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    db.enqueue(payload("later"), delayed(5_000))
        .await
        .expect("enqueue");
    let waiter = {
        let db = db.clone();
        tokio::spawn(async move { next(&db, LONG_LEASE).await })
    };
    // Whether the waiter is already asleep or not, moving the clock must reach it.
    tokio::task::yield_now().await;
    clock.advance(5_000);
    let delivery = waiter.await.expect("waiter task");
    assert_eq!(text(&delivery.payload), "later");
}
