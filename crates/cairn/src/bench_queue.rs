//! `cairn bench --workloads queue`: durable queues end to end, embedded or over the network
//! (`--url`, through cairn-client's queue calls: the same workload). `PRODUCERS` tasks
//! enqueue messages (each its own durable atomic write) while `HANDLERS` consumers lease them
//! (embedded: `next_delivery`; remote: `dequeue` in batches, long-polling) and acknowledge
//! each (a durable commit too; remote: `ack_many` per batch). The rate counts messages from
//! the first enqueue to the last acknowledgement made durable; a message's latency runs from
//! the start of its enqueue to the return of its acknowledgement, i.e. to the moment the
//! queue durably no longer holds it. (`listen_queue` is built on the same calls; it is not
//! used here because it does not say when its acknowledgements complete.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::ensure;
use cairn_client::Client;
use cairn_store::{Database, EnqueueOptions};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Concurrent producers (each waits for its enqueue to be durable before the next).
const PRODUCERS: u64 = 64;
/// Concurrent consumers.
const HANDLERS: usize = 64;
/// Messages a remote consumer leases per request.
const REMOTE_BATCH: usize = 16;
/// Remote consumers: fewer than embedded, each holding up to a batch, so that about twice
/// `HANDLERS` messages are in hand (a request per message would cost more than the message).
const REMOTE_CONSUMERS: usize = 8;
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

fn seq_of(payload: &[u8]) -> Option<u64> {
    let bytes = payload.get(4..12)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Where the queue is: the two implementations of the same queue calls.
#[derive(Clone)]
pub enum QueueDb {
    /// A database opened in this process.
    Embedded(Database),
    /// A server, through cairn-client.
    Remote(Client),
}

impl QueueDb {
    async fn enqueue(&self, payload: Vec<u8>) -> anyhow::Result<bool> {
        Ok(match self {
            QueueDb::Embedded(db) => db.enqueue(payload, EnqueueOptions::default()).await?,
            QueueDb::Remote(client) => client.enqueue(payload, EnqueueOptions::default()).await?,
        }
        .is_committed())
    }

    /// Leases the next ready messages (waiting for one) and acknowledges them; returns
    /// their payloads once every acknowledgement is durable.
    async fn take_and_ack(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        let visibility = Duration::from_secs(60);
        Ok(match self {
            QueueDb::Embedded(db) => {
                let delivery = db.next_delivery(visibility).await?;
                db.ack(&delivery.id).await?;
                vec![delivery.payload]
            }
            QueueDb::Remote(client) => {
                let batch = client
                    .dequeue(REMOTE_BATCH, visibility, Duration::from_secs(1))
                    .await?;
                let ids: Vec<_> = batch.iter().map(|d| d.id.clone()).collect();
                if !ids.is_empty() {
                    client.ack_many(&ids).await?;
                }
                batch.into_iter().map(|d| d.payload).collect()
            }
        })
    }

    /// (ready, delayed, in flight).
    async fn left(&self) -> anyhow::Result<(u64, u64, u64)> {
        Ok(match self {
            QueueDb::Embedded(db) => {
                let s = db.queue_stats()?;
                (s.ready, s.delayed, s.in_flight)
            }
            QueueDb::Remote(client) => {
                let s = client.queue_stats().await?;
                (s.ready, s.delayed, s.in_flight)
            }
        })
    }
}

/// Enqueues `messages` from [`PRODUCERS`] tasks and consumes them with [`HANDLERS`] consumers.
pub async fn run(db: &QueueDb, messages: u64) -> anyhow::Result<QueueRun> {
    let shared = Arc::new(Shared {
        start: Instant::now(),
        sent_ns: (0..messages).map(|_| AtomicU64::new(0)).collect(),
        latencies_ns: Mutex::new(Vec::with_capacity(messages as usize)),
        handled: AtomicU64::new(0),
        all_handled: Notify::new(),
        messages,
    });
    let mut consumers = JoinSet::new();
    let consumer_count = match db {
        QueueDb::Embedded(_) => HANDLERS,
        QueueDb::Remote(_) => REMOTE_CONSUMERS,
    };
    for _ in 0..consumer_count {
        let (db, s) = (db.clone(), shared.clone());
        consumers.spawn(async move {
            loop {
                let payloads = db.take_and_ack().await?;
                let now_ns = s.start.elapsed().as_nanos() as u64;
                for payload in payloads {
                    if let Some(sent) = seq_of(&payload).and_then(|q| s.sent_ns.get(q as usize)) {
                        let latency_ns = now_ns.saturating_sub(sent.load(Ordering::Relaxed));
                        if let Ok(mut latencies) = s.latencies_ns.lock() {
                            latencies.push(latency_ns);
                        }
                    }
                    if s.handled.fetch_add(1, Ordering::Relaxed) + 1 == s.messages {
                        s.all_handled.notify_one();
                    }
                }
            }
            #[allow(unreachable_code, reason = "the consumers run until aborted")]
            anyhow::Ok(())
        });
    }

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
                let committed = db.enqueue(payload(seq)).await?;
                ensure!(committed, "an enqueue without checks failed");
            }
        });
    }
    while let Some(r) = producers.join_next().await {
        r??;
    }
    tokio::select! {
        () = shared.all_handled.notified() => {}
        // A consumer that failed ends the run with its error.
        Some(r) = consumers.join_next() => {
            r??;
            anyhow::bail!("a consumer stopped early");
        }
    }
    // Every message was acknowledged durably (each consumer counts after its ack returned).
    let elapsed = shared.start.elapsed();
    consumers.abort_all();
    let left = db.left().await?;
    ensure!(
        left == (0, 0, 0),
        "messages left after the run (ready, delayed, in flight): {left:?}"
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
