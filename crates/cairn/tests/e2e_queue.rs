//! Queues over the network, end to end: the real `cairn serve` binary, cairn-client, the
//! `cairn queue` CLI, and @deno/kv on Node.js — nothing of cairn's layers is mocked.
//!
//! Every wait is bounded ([`WAIT`]); nothing asserts how long anything took.

mod e2e;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_client::{Client, ClientError, Delivery, DeliveryId, QueueListenOptions};
use cairn_model::{EnqueueOptions, Kv, KvQueueListener, QueueDelivery};
use e2e::{runtime, Server, READ_ONLY_TOKEN, READ_WRITE_TOKEN};
use tokio::sync::mpsc;

/// Longest any step waits for messages to arrive.
const WAIT: Duration = Duration::from_secs(60);

async fn connect(server: &Server, token: &str) -> Client {
    Client::connect(server.url(), token)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", server.log_tail()))
}

/// A V8 string payload holding `n` (one-byte string: header, tag, length, bytes).
fn payload(n: u32) -> Vec<u8> {
    let text = format!("m{n}");
    let mut out = vec![0xff, 0x0f, 0x22, text.len() as u8];
    out.extend_from_slice(text.as_bytes());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A listener on `client` that sends every delivery's payload and attempt to the channel.
fn forwarding_listener(
    client: &Client,
    options: QueueListenOptions,
) -> (
    cairn_client::QueueListener,
    mpsc::UnboundedReceiver<(Vec<u8>, u32)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = client
        .listen_queue(
            move |d: Delivery| {
                let sent = tx.send((d.payload, d.attempt));
                async move { sent.map_err(|_| "test ended") }
            },
            options,
        )
        .expect("listen_queue");
    (listener, rx)
}

/// Receives until `done` says so, within [`WAIT`].
async fn receive_until(
    rx: &mut mpsc::UnboundedReceiver<(Vec<u8>, u32)>,
    server: &Server,
    mut done: impl FnMut(Vec<u8>, u32) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((payload, attempt))) => {
                if done(payload, attempt) {
                    return;
                }
            }
            Ok(None) => panic!("the listener stopped\n{}", server.log_tail()),
            Err(_) => panic!(
                "messages did not arrive within {WAIT:?}\n{}",
                server.log_tail()
            ),
        }
    }
}

#[test]
fn deno_kv_enqueue_reaches_a_rust_listener_byte_for_byte() {
    let server = Server::start();
    let stdout = e2e::run_node_script(&server, "queue/node_enqueue.mjs");
    let expected: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("payload "))
        .map(str::to_owned)
        .collect();
    assert_eq!(expected.len(), 4, "the script's output:\n{stdout}");
    runtime().block_on(async {
        let client = connect(&server, READ_WRITE_TOKEN).await;
        // One handler at a time, so that handling order is delivery order.
        let options = QueueListenOptions::default().concurrency(1);
        let (listener, mut rx) = forwarding_listener(&client, options);
        let mut got = Vec::new();
        receive_until(&mut rx, &server, |payload, _| {
            got.push(hex(&payload));
            got.len() == expected.len()
        })
        .await;
        listener.close().await.expect("close");
        // Enqueued one after another: delivered in that order; the failed atomic write's
        // message never shows up.
        assert_eq!(got, expected);
        let stats = client.queue_stats().await.expect("stats");
        assert_eq!((stats.ready, stats.delayed, stats.in_flight), (0, 0, 0));
    });
}

/// How many handlers saw each (payload, attempt).
type Seen = HashMap<(Vec<u8>, u32), u32>;

#[test]
fn several_consumers_on_several_connections_never_share_an_attempt() {
    const MESSAGES: u32 = 300;
    let server = Server::start();
    runtime().block_on(async {
        let producer = connect(&server, READ_WRITE_TOKEN).await;
        for n in 0..MESSAGES {
            let result = producer
                .enqueue(payload(n), EnqueueOptions::default())
                .await
                .expect("enqueue");
            assert!(result.is_committed());
        }
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut listeners = Vec::new();
        for _ in 0..3 {
            // Each its own client: its own connection pool and session.
            let consumer = connect(&server, READ_WRITE_TOKEN).await;
            let (seen, done_tx) = (seen.clone(), done_tx.clone());
            let listener = consumer
                .listen_queue(
                    move |d: Delivery| {
                        let mut seen = seen.lock().expect("lock");
                        *seen.entry((d.payload, d.attempt)).or_default() += 1;
                        let _ = done_tx.send(());
                        async { Ok::<(), String>(()) }
                    },
                    QueueListenOptions::default()
                        .concurrency(8)
                        .visibility_timeout(Duration::from_secs(120)),
                )
                .expect("listen_queue");
            listeners.push(listener);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        for _ in 0..MESSAGES {
            tokio::time::timeout_at(deadline, done_rx.recv())
                .await
                .unwrap_or_else(|_| panic!("not every message arrived\n{}", server.log_tail()));
        }
        for listener in listeners {
            listener.close().await.expect("close");
        }
        let seen = std::mem::take(&mut *seen.lock().expect("lock"));
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "handled twice in one attempt: {twice:?}");
        let payloads: HashSet<&Vec<u8>> = seen.keys().map(|(p, _)| p).collect();
        assert_eq!(payloads.len(), MESSAGES as usize);
        let stats = producer.queue_stats().await.expect("stats");
        assert_eq!((stats.ready, stats.in_flight), (0, 0), "{stats:?}");
    });
}

#[test]
fn a_consumer_killed_mid_message_has_it_redelivered() {
    let server = Server::start();
    // A consumer process that prints each message and never finishes handling it.
    let mut consumer = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["queue", "listen", "--hold", "--concurrency", "1"])
        .args(["--visibility-timeout-ms", "1000", "--url", server.url()])
        .args(["--access-token", READ_WRITE_TOKEN])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting `cairn queue listen`");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = consumer.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = lines_tx.send(line);
        }
    });
    runtime().block_on(async {
        let client = connect(&server, READ_WRITE_TOKEN).await;
        client
            .enqueue(payload(7), EnqueueOptions::default())
            .await
            .expect("enqueue");
    });
    let line = lines
        .recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("the consumer printed nothing\n{}", server.log_tail()));
    assert!(
        line.starts_with(&format!("attempt=1 payload={}", hex(&payload(7)))),
        "{line}"
    );
    // SIGKILL, mid-handler: the message is leased to a process that no longer exists.
    consumer.kill().expect("kill the consumer");
    let _ = consumer.wait();
    runtime().block_on(async {
        let client = connect(&server, READ_WRITE_TOKEN).await;
        let (listener, mut rx) = forwarding_listener(&client, QueueListenOptions::default());
        let mut redelivered = None;
        receive_until(&mut rx, &server, |payload, attempt| {
            redelivered = Some((payload, attempt));
            true
        })
        .await;
        listener.close().await.expect("close");
        let (got, attempt) = redelivered.expect("received");
        assert_eq!(got, payload(7));
        assert!(
            attempt >= 2,
            "attempt {attempt}: the lease expiry counts as a failure"
        );
    });
}

#[test]
fn a_server_killed_with_messages_queued_and_in_flight_loses_none() {
    const MESSAGES: u32 = 60;
    let mut server = Server::start();
    let acked: HashSet<Vec<u8>> = runtime().block_on(async {
        let client = connect(&server, READ_WRITE_TOKEN).await;
        for n in 0..MESSAGES {
            client
                .enqueue(payload(n), EnqueueOptions::default())
                .await
                .expect("enqueue");
        }
        let leased = client
            .dequeue(20, Duration::from_secs(600), Duration::ZERO)
            .await
            .expect("dequeue");
        assert_eq!(leased.len(), 20);
        // Ten acknowledged (durably gone), ten left in flight with a long lease.
        let ids: Vec<DeliveryId> = leased.iter().take(10).map(|d| d.id.clone()).collect();
        client.ack_many(&ids).await.expect("ack");
        leased.into_iter().take(10).map(|d| d.payload).collect()
    });
    server.kill_and_restart();
    runtime().block_on(async {
        let client = connect(&server, READ_WRITE_TOKEN).await;
        let (listener, mut rx) = forwarding_listener(&client, QueueListenOptions::default());
        let mut got = HashSet::new();
        let left = MESSAGES as usize - acked.len();
        receive_until(&mut rx, &server, |payload, _| {
            got.insert(payload);
            got.len() == left
        })
        .await;
        listener.close().await.expect("close");
        let expected: HashSet<Vec<u8>> = (0..MESSAGES)
            .map(payload)
            .filter(|p| !acked.contains(p))
            .collect();
        assert_eq!(
            got, expected,
            "every unacknowledged message, and none acknowledged"
        );
        let stats = client.queue_stats().await.expect("stats");
        assert_eq!((stats.ready, stats.delayed, stats.in_flight), (0, 0, 0));
    });
}

#[test]
fn read_only_tokens_cannot_consume_and_stale_acks_are_conflicts() {
    let server = Server::start();
    runtime().block_on(async {
        let rw = connect(&server, READ_WRITE_TOKEN).await;
        let ro = connect(&server, READ_ONLY_TOKEN).await;
        rw.enqueue(payload(1), EnqueueOptions::default())
            .await
            .expect("enqueue");

        let refused = ro.dequeue(1, Duration::from_secs(30), Duration::ZERO).await;
        assert!(
            matches!(refused, Err(ClientError::Unauthorized { status: 403, .. })),
            "{refused:?}"
        );
        let refused = ro.enqueue(payload(2), EnqueueOptions::default()).await;
        assert!(
            matches!(refused, Err(ClientError::WriteDisabled)),
            "{refused:?}"
        );
        let stats = ro
            .queue_stats()
            .await
            .expect("a read-only token may read the stats");
        assert_eq!(stats.ready, 1);

        let leased = rw
            .dequeue(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("dequeue");
        let [delivery] = leased.as_slice() else {
            panic!("expected one delivery, got {leased:?}");
        };
        let refused = ro.ack(&delivery.id).await;
        assert!(
            matches!(refused, Err(ClientError::Unauthorized { status: 403, .. })),
            "{refused:?}"
        );
        rw.ack(&delivery.id).await.expect("first ack");
        // The same id again: the lease is gone. 409 (mapped to DeliveryNotHeld), not a 5xx.
        let stale = rw.ack(&delivery.id).await;
        assert!(
            matches!(stale, Err(ClientError::DeliveryNotHeld(_))),
            "{stale:?}"
        );
        let stale = rw.nack(&delivery.id).await;
        assert!(
            matches!(stale, Err(ClientError::DeliveryNotHeld(_))),
            "{stale:?}"
        );
        // A malformed id is a bad request.
        let bad = rw.ack(&DeliveryId::from_bytes(vec![1, 2, 3])).await;
        assert!(
            matches!(bad, Err(ClientError::Refused { status: 400, .. })),
            "{bad:?}"
        );
        // Out-of-range arguments are refused by the server with 400, never 5xx.
        let bad = rw.dequeue(1, Duration::ZERO, Duration::ZERO).await;
        assert!(
            matches!(bad, Err(ClientError::Refused { status: 400, .. })),
            "{bad:?}"
        );
        // Empty queue, no wait: an empty answer at once.
        let none = rw
            .dequeue(5, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("dequeue");
        assert!(none.is_empty());
    });
}

#[test]
fn cli_queue_stats_over_the_network_and_on_a_directory() {
    let server = Server::start();
    let cairn = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .env_remove("DENO_KV_ACCESS_TOKEN")
            .env_remove("CAIRN_URL")
            .env_remove("CAIRN_PATH")
            .output()
            .expect("running cairn");
        assert!(
            output.status.success(),
            "cairn {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let remote = ["--url", server.url(), "--access-token", READ_WRITE_TOKEN];
    let with = |command: &[&'static str], extra: &[&str]| -> Vec<String> {
        command
            .iter()
            .map(|s| s.to_string())
            .chain(remote.iter().map(|s| s.to_string()))
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |args: Vec<String>| cairn(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run(with(&["queue", "enqueue"], &["first"]));
    run(with(&["queue", "enqueue"], &["--json", r#"{"n":2}"#]));
    run(with(
        &["queue", "enqueue"],
        &["later", "--delay-ms", "3600000"],
    ));
    let json = run(with(&["queue", "stats"], &["--json"]));
    let stats: serde_json::Value = serde_json::from_str(json.trim()).expect("JSON stats");
    assert_eq!(
        stats,
        serde_json::json!({"ready": 2, "delayed": 1, "in_flight": 0, "dead_lettered": 0})
    );
    let text = run(with(&["queue", "stats"], &[]));
    assert_eq!(
        text, "ready: 2\ndelayed: 1\nin_flight: 0\ndead_lettered: 0\n",
        "{text}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let path = path.to_str().expect("utf-8 path");
    cairn(&["queue", "enqueue", "--path", path, "embedded"]);
    let text = cairn(&["queue", "stats", "--path", path]);
    assert_eq!(
        text,
        "ready: 1\ndelayed: 0\nin_flight: 0\ndead_lettered: 0\n"
    );
}

/// Produces and consumes through the `Kv` trait only: the code a user writes once.
async fn produce_and_consume<K: Kv>(db: &K, messages: u32) -> Vec<Vec<u8>> {
    for n in 0..messages {
        let result = Kv::enqueue(db, payload(n), EnqueueOptions::default())
            .await
            .expect("enqueue");
        assert!(result.is_committed());
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = Kv::listen_queue(
        db,
        move |message: QueueDelivery| {
            let sent = tx.send(message.payload);
            async move { sent.map_err(|_| "test ended") }
        },
        QueueListenOptions::default().concurrency(4),
    )
    .expect("listen_queue");
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < messages as usize {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(payload)) => got.push(payload),
            other => panic!("got {} of {messages} messages: {other:?}", got.len()),
        }
    }
    listener.close().await.expect("close");
    got.sort();
    got
}

#[test]
fn the_same_consumer_code_runs_on_a_directory_and_on_a_url() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    runtime().block_on(async {
        let mut expected: Vec<Vec<u8>> = (0..20).map(payload).collect();
        expected.sort();
        let db = cairn_store::Database::open(dir.path()).expect("open");
        assert_eq!(produce_and_consume(&db, 20).await, expected);
        db.close();
        let client = connect(&server, READ_WRITE_TOKEN).await;
        assert_eq!(produce_and_consume(&client, 20).await, expected);
    });
}
