//! A backlog deeper than the part of the queue kept in memory (`QUEUE_WINDOW_KEYS_MAX`) is
//! delivered completely and in order: the in-memory head is refilled from storage, keys
//! reported by commits past its horizon are left to those refills, and leased messages are
//! skipped by them. Messages that fail come back in order too.

mod harness;

use cairn_store::limits::QUEUE_WINDOW_KEYS_MAX;
use cairn_store::Kv;
use cairn_store::{EnqueueOptions, ManualClock};
use harness::queue::{drain_ready, payload, text};
use harness::{memory_db, CLOCK_START_MS};

const PER_WRITE: usize = 1000;

#[tokio::test]
async fn backlog_past_the_window_is_delivered_in_order() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    let total = QUEUE_WINDOW_KEYS_MAX + 1500;
    let options = || EnqueueOptions {
        backoff_schedule: Some(vec![0]),
        ..Default::default()
    };
    for start in (0..total).step_by(PER_WRITE) {
        let mut write = db.atomic();
        for i in start..(start + PER_WRITE).min(total) {
            write = write.enqueue(payload(&format!("{i:05}")), options());
        }
        assert!(write.commit().await.expect("commit").is_committed());
    }
    assert_eq!(db.queue_stats().expect("stats").ready as usize, total);

    // Half of the head now; meanwhile more messages arrive behind it.
    let mut first: Vec<_> = (0..total / 2)
        .map(|_| {
            db.dequeue(harness::queue::LONG_LEASE)
                .expect("dequeue")
                .expect("ready")
        })
        .collect();
    db.enqueue(payload("tail"), options())
        .await
        .expect("enqueue");
    first.extend(drain_ready(&db));
    let names: Vec<String> = first.iter().map(|d| text(&d.payload)).collect();
    let mut want: Vec<String> = (0..total).map(|i| format!("{i:05}")).collect();
    want.push("tail".into());
    assert_eq!(names, want);
    assert_eq!(
        db.queue_stats().expect("stats").in_flight as usize,
        total + 1
    );

    // Fail every third message: they come back, in their original order, as attempt 2.
    let mut failed = Vec::new();
    for (n, delivery) in first.iter().enumerate() {
        if n % 3 == 0 {
            db.nack(&delivery.id).await.expect("nack");
            failed.push(text(&delivery.payload));
        } else {
            db.ack(&delivery.id).await.expect("ack");
        }
    }
    let again = drain_ready(&db);
    assert!(again.iter().all(|d| d.attempt() == 2));
    let names: Vec<String> = again.iter().map(|d| text(&d.payload)).collect();
    assert_eq!(names, failed);
}
