//! The queue extension (`docs/protocol.md`) over raw HTTP/1.1 on a real socket: the status
//! of every refusal (a stale delivery id is 409, bad input 400, read-only tokens 403 — never a
//! 5xx, which clients retry), enqueue accepting KV Connect's `AtomicWrite` bytes, and a
//! long-poll ended by shutdown with an empty answer instead of a cut connection.

mod protobuf_http;

use std::time::Duration;

use cairn_proto::messages as pb;
use cairn_proto::queue as q;
use cairn_proto::Message;
use protobuf_http::{post, session, start};

fn enqueue_body(payload: &[u8]) -> Vec<u8> {
    pb::AtomicWrite {
        enqueues: vec![pb::Enqueue {
            payload: payload.to_vec(),
            deadline_ms: 0,
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

fn dequeue_body(max_messages: u32, wait_ms: u64) -> Vec<u8> {
    q::QueueDequeue {
        max_messages,
        visibility_timeout_ms: 60_000,
        wait_ms,
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_client_errors_and_a_stale_id_is_a_conflict() {
    let (addr, stop, done, _dir) = start().await;
    let (endpoint, rw) = session(addr, "rw").await;
    let (_, ro) = session(addr, "ro").await;
    let at = |op: &str| format!("{endpoint}/queue/{op}");

    let (status, body) = post(
        addr,
        &at("enqueue"),
        &rw,
        &enqueue_body(&[0xff, 0x0f, 0x5f]),
    )
    .await;
    assert_eq!(status, 200);
    let output = pb::AtomicWriteOutput::decode(body.as_slice()).expect("output");
    assert_eq!(output.status, pb::AtomicWriteStatus::AwSuccess as i32);

    // Read-only: enqueue is a disabled write (as atomic_write), consuming is forbidden.
    let (status, body) = post(
        addr,
        &at("enqueue"),
        &ro,
        &enqueue_body(&[0xff, 0x0f, 0x5f]),
    )
    .await;
    assert_eq!(status, 200);
    let output = pb::AtomicWriteOutput::decode(body.as_slice()).expect("output");
    assert_eq!(output.status, pb::AtomicWriteStatus::AwWriteDisabled as i32);
    assert_eq!(
        post(addr, &at("dequeue"), &ro, &dequeue_body(1, 0)).await.0,
        403
    );

    let (status, body) = post(addr, &at("dequeue"), &rw, &dequeue_body(10, 0)).await;
    assert_eq!(status, 200);
    let output = q::QueueDequeueOutput::decode(body.as_slice()).expect("output");
    assert_eq!(output.deliveries.len(), 1);
    let id = output.deliveries[0].delivery_id.clone();
    let settle = q::QueueSettle {
        delivery_ids: vec![id.clone()],
    }
    .encode_to_vec();
    assert_eq!(post(addr, &at("ack"), &ro, &settle).await.0, 403);
    let (status, body) = post(addr, &at("ack"), &rw, &settle).await;
    assert_eq!(status, 200);
    let output = q::QueueSettleOutput::decode(body.as_slice()).expect("output");
    assert_eq!(
        output.outcomes[0].status,
        q::QueueSettleStatus::QsAcked as i32
    );
    // Settled already: 409 with a plain-text reason.
    let (status, body) = post(addr, &at("ack"), &rw, &settle).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("cannot be settled"));
    assert_eq!(post(addr, &at("nack"), &rw, &settle).await.0, 409);

    let bad: [(&str, Vec<u8>); 7] = [
        (
            "ack",
            q::QueueSettle {
                delivery_ids: vec![vec![1, 2]],
            }
            .encode_to_vec(),
        ),
        (
            "ack",
            q::QueueSettle {
                delivery_ids: vec![],
            }
            .encode_to_vec(),
        ),
        (
            "ack",
            q::QueueSettle {
                delivery_ids: vec![id; 1025],
            }
            .encode_to_vec(),
        ),
        ("dequeue", dequeue_body(257, 0)),
        ("dequeue", vec![0x0a, 0x05, 0x00]),
        (
            "enqueue",
            pb::AtomicWrite {
                mutations: vec![pb::Mutation::default()],
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "dequeue",
            q::QueueDequeue {
                max_messages: 1,
                visibility_timeout_ms: 0,
                wait_ms: 0,
            }
            .encode_to_vec(),
        ),
    ];
    for (op, body) in bad {
        let (status, reason) = post(addr, &at(op), &rw, &body).await;
        assert_eq!(status, 400, "{op}: {}", String::from_utf8_lossy(&reason));
    }
    assert_eq!(post(addr, &at("nope"), &rw, &[]).await.0, 404);
    let (status, body) = post(addr, &at("stats"), &ro, &[]).await;
    assert_eq!(status, 200);
    let stats = q::QueueStatsOutput::decode(body.as_slice()).expect("stats");
    assert_eq!((stats.ready, stats.in_flight), (0, 0));

    let _ = stop.send(());
    done.await.expect("server task").expect("server ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_a_long_poll_with_an_empty_answer() {
    let (addr, stop, done, _dir) = start().await;
    let (endpoint, rw) = session(addr, "rw").await;
    let path = format!("{endpoint}/queue/dequeue");
    let poll = tokio::spawn(async move { post(addr, &path, &rw, &dequeue_body(1, 20_000)).await });
    // No notification says "the request is now waiting inside the server"; give it a moment
    // to arrive. Arriving late would make the test fail loudly (connection refused), never
    // pass wrongly.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(());
    // Before the 10 s grace period could cut the connection, the poll answers 200, empty.
    let (status, body) = poll.await.expect("poll task");
    assert_eq!(status, 200);
    let output = q::QueueDequeueOutput::decode(body.as_slice()).expect("output");
    assert!(output.deliveries.is_empty());
    done.await.expect("server task").expect("server ran");
}
