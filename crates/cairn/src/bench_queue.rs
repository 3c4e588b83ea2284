//! `cairn bench --workloads queue`: durable queues end to end, embedded. `PRODUCERS` tasks
//! enqueue messages (each its own durable atomic write) while one `listen_queue` with
//! `HANDLERS` concurrent handlers consumes them; every handler returns `Ok`, so every message
//! is acknowledged (a durable commit too). The rate counts messages from the first enqueue
//! to the last acknowledgement made durable; the latencies run from the start of a message's
//! enqueue to the start of its handler (the acknowledgement that follows is one more group
//! commit, included in the rate but not in the latency).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::ensure;
use cairn_store::{Database, Delivery, EnqueueOptions, QueueListenOptions};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Concurrent producers (each waits for its enqueue to be durable before the next).
const PRODUCERS: u64 = 64;
/// Concurrent handlers of the listener.
const HANDLERS: usize = 64;
/// Payload: V8 header, then the message's sequence number (8 bytes), then padding.
const PAYLOAD_BYTES: usize = 100;

/// What one run measured.
pub struct QueueRun {
    pub ops: u64,
    pub elapsed: Duration,
    pub latencies_ns: Vec<u64>,
}

struct Shared {
    start: Instant,
    /// Enqueue start of each message, ns since `start`.
    sent_ns: Vec<AtomicU64>,
    latencies_ns: Mutex<Vec<u64>>,
    handled: AtomicU64,
    all_handled: Notify,
    messages: u64,
}

fn payload(seq: u64) -> Vec<u8> {
    let mut out = vec![0xff, 0x0f, 0x5a, 0x5a];
    out.extend_from_slice(&seq.to_be_bytes());
    out.resize(PAYLOAD_BYTES, 0x5a);
    out
}

fn seq_of(delivery: &Delivery) -> Option<u64> {
    let bytes = delivery.payload.get(4..12)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Enqueues `messages` from [`PRODUCERS`] tasks and consumes them with one listener.
pub async fn run(db: &Database, messages: u64) -> anyhow::Result<QueueRun> {
    let shared = Arc::new(Shared {
        start: Instant::now(),
        sent_ns: (0..messages).map(|_| AtomicU64::new(0)).collect(),
        latencies_ns: Mutex::new(Vec::with_capacity(messages as usize)),
        handled: AtomicU64::new(0),
        all_handled: Notify::new(),
        messages,
    });
    let handler_state = shared.clone();
    let listener = db.listen_queue(
        move |delivery: Delivery| {
            let s = &handler_state;
            let now_ns = s.start.elapsed().as_nanos() as u64;
            if let Some(sent) = seq_of(&delivery).and_then(|q| s.sent_ns.get(q as usize)) {
                let latency_ns = now_ns.saturating_sub(sent.load(Ordering::Relaxed));
                if let Ok(mut latencies) = s.latencies_ns.lock() {
                    latencies.push(latency_ns);
                }
            }
            if s.handled.fetch_add(1, Ordering::Relaxed) + 1 == s.messages {
                s.all_handled.notify_one();
            }
            std::future::ready(Ok::<(), String>(()))
        },
        QueueListenOptions::default()
            .concurrency(HANDLERS)
            .visibility_timeout(Duration::from_secs(60)),
    )?;

    let mut producers = JoinSet::new();
    let next = Arc::new(AtomicU64::new(0));
    for _ in 0..PRODUCERS {
        let (db, shared, next) = (db.clone(), shared.clone(), next.clone());
        producers.spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                let Some(sent) = shared.sent_ns.get(seq as usize) else {
                    return anyhow::Ok(());
                };
                sent.store(shared.start.elapsed().as_nanos() as u64, Ordering::Relaxed);
                let result = db.enqueue(payload(seq), EnqueueOptions::default()).await?;
                ensure!(result.is_committed(), "an enqueue without checks failed");
            }
        });
    }
    while let Some(r) = producers.join_next().await {
        r??;
    }
    shared.all_handled.notified().await;
    // Waits for the handlers' acknowledgements to be durable.
    listener.close().await?;
    let elapsed = shared.start.elapsed();
    let stats = db.queue_stats()?;
    ensure!(
        stats.ready == 0 && stats.delayed == 0 && stats.in_flight == 0,
        "messages left after the run: {stats:?}"
    );
    Ok(QueueRun {
        ops: messages,
        elapsed,
        latencies_ns: shared
            .latencies_ns
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default(),
    })
}
