//! Several `listen_queue` consumers with several handlers each share one queue while several
//! producers enqueue: every message is handled, and no attempt at a message is ever handed
//! to two handlers (each (message, attempt) pair is seen exactly once). Handlers that fail
//! (an `Err`, or a panic) get their message again in a later attempt, and only then.

mod harness;

use std::collections::HashMap;
use std::sync::Arc;

use cairn_store::{Database, Delivery, EnqueueOptions, ManualClock};
use harness::queue::{payload, text};
use harness::{memory_db, BACKGROUND_WAIT_MAX, CLOCK_START_MS};
use parking_lot::Mutex;
use tokio::sync::mpsc;

const PRODUCERS: u64 = 3;
const PER_PRODUCER: u64 = 100;
const LISTENERS: usize = 3;

type Seen = Arc<Mutex<HashMap<(String, u32), u32>>>;

fn listen(
    db: &Database,
    seen: Seen,
    done: mpsc::UnboundedSender<String>,
) -> cairn_store::QueueListener {
    db.listen_queue(
        move |delivery: Delivery| {
            let (seen, done) = (seen.clone(), done.clone());
            async move {
                let name = text(&delivery.payload);
                *seen
                    .lock()
                    .entry((name.clone(), delivery.attempt()))
                    .or_default() += 1;
                let n: u64 = name[1..].parse().expect("numbered payload");
                match (n % 7, delivery.attempt()) {
                    (0, 1) => Err(format!("{name} fails its first attempt")),
                    (3, 1) => panic!("{name} panics in its first attempt"),
                    _ => done.send(name).map_err(|_| "test over".to_string()),
                }
            }
        },
        cairn_store::QueueListenOptions::default()
            .concurrency(4)
            .visibility_timeout(harness::queue::LONG_LEASE),
    )
    .expect("listen")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_attempt_is_handled_twice() {
    // A clock that never moves: no lease can expire, so any duplicate is a double delivery.
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    let seen: Seen = Arc::default();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let listeners: Vec<_> = (0..LISTENERS)
        .map(|_| listen(&db, seen.clone(), done_tx.clone()))
        .collect();

    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let db = db.clone();
        producers.push(tokio::spawn(async move {
            for i in 0..PER_PRODUCER {
                let options = EnqueueOptions {
                    // Retries due at once: the clock does not move in this test.
                    backoff_schedule: Some(vec![0]),
                    ..Default::default()
                };
                db.enqueue(payload(&format!("m{}", p * PER_PRODUCER + i)), options)
                    .await
                    .expect("enqueue");
            }
        }));
    }
    for producer in producers {
        producer.await.expect("producer");
    }

    let total = PRODUCERS * PER_PRODUCER;
    let mut handled = HashMap::new();
    for _ in 0..total {
        let name = tokio::time::timeout(BACKGROUND_WAIT_MAX, done.recv())
            .await
            .expect("every message handled in time")
            .expect("listeners alive");
        *handled.entry(name).or_insert(0u32) += 1;
    }
    for listener in listeners {
        listener.close().await.expect("close");
    }

    assert_eq!(handled.len() as u64, total, "every message succeeded once");
    assert!(
        handled.values().all(|n| *n == 1),
        "a success was handled twice"
    );
    let seen = seen.lock();
    for ((name, attempt), count) in seen.iter() {
        assert_eq!(*count, 1, "{name} attempt {attempt} handled {count} times");
    }
    for n in 0..total {
        let name = format!("m{n}");
        let want = if n % 7 == 0 || n % 7 == 3 { 2 } else { 1 };
        let attempts = (1..=3)
            .filter(|a| seen.contains_key(&(name.clone(), *a)))
            .count();
        assert_eq!(attempts, want, "{name}");
    }
    let stats = db.queue_stats().expect("stats");
    assert_eq!((stats.ready, stats.delayed, stats.in_flight), (0, 0, 0));
}
