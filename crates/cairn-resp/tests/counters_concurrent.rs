//! Many connections pipelining INCR on one key: every increment is applied once, and the
//! replies are exactly 1..=N (each client sees the value after its own increment), though
//! the writer evaluates them in shared batches.

mod support;

use std::collections::BTreeSet;

use cairn_resp::frame::Frame;
use support::{encode, Server, RW};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pipelined_increments_are_each_applied_once() {
    let server = Server::start().await;
    let (clients, per_client) = (20, 100);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut c = server.client(RW).await;
        tasks.push(tokio::spawn(async move {
            let mut pipeline = Vec::new();
            for _ in 0..per_client {
                pipeline.extend_from_slice(&encode(&["INCR", "counter"]));
            }
            c.send(&pipeline).await;
            let mut seen = Vec::new();
            for _ in 0..per_client {
                match c.reply().await {
                    Some(Frame::Integer(n)) => seen.push(n),
                    other => panic!("{other:?}"),
                }
            }
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "one client's replies increase"
            );
            seen
        }));
    }
    let mut all = BTreeSet::new();
    for task in tasks {
        for n in task.await.expect("client") {
            assert!(all.insert(n), "{n} answered twice");
        }
    }
    let total = (clients * per_client) as i64;
    assert_eq!(all, (1..=total).collect::<BTreeSet<_>>());
    let mut c = server.client(RW).await;
    assert_eq!(
        c.cmd(&["GET", "counter"]).await,
        support::bulk(&total.to_string())
    );
}

#[tokio::test]
async fn scan_walks_every_key_once_with_match_and_count() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    let mut pipeline = Vec::new();
    for i in 0..2_000 {
        pipeline.extend_from_slice(&encode(&["SET", &format!("key:{i}"), "v"]));
    }
    for i in 0..50 {
        pipeline.extend_from_slice(&encode(&["HSET", &format!("hash:{i}"), "a", "1", "b", "2"]));
    }
    c.send(&pipeline).await;
    for _ in 0..2_050 {
        c.reply().await.expect("reply");
    }
    assert_eq!(c.cmd(&["DBSIZE"]).await, Frame::Integer(2_050));
    let mut found = BTreeSet::new();
    let mut cursor = "0".to_owned();
    let mut calls = 0;
    loop {
        let reply = c
            .cmd(&["SCAN", &cursor, "MATCH", "key:1*", "COUNT", "100"])
            .await;
        let Frame::Array(parts) = reply else {
            panic!("{reply:?}")
        };
        let [Frame::Bulk(next), Frame::Array(keys)] = &parts[..] else {
            panic!("{parts:?}")
        };
        for k in keys {
            let Frame::Bulk(k) = k else { panic!() };
            assert!(
                found.insert(String::from_utf8(k.clone()).expect("utf-8")),
                "seen twice"
            );
        }
        cursor = String::from_utf8(next.clone()).expect("cursor");
        calls += 1;
        if cursor == "0" {
            break;
        }
    }
    let expected: BTreeSet<String> = (0..2_000)
        .map(|i| format!("key:{i}"))
        .filter(|k| k.starts_with("key:1"))
        .collect();
    assert_eq!(found, expected);
    assert!(calls > 10, "COUNT bounds each call ({calls} calls)");
    let hashes = c.cmd(&["SCAN", "0", "TYPE", "hash", "COUNT", "1000"]).await;
    let Frame::Array(parts) = hashes else {
        panic!()
    };
    let Frame::Array(keys) = &parts[1] else {
        panic!()
    };
    assert!(keys.len() <= 50 && !keys.is_empty());
    assert!(support::is_error(
        &c.cmd(&["SCAN", "123456789"]).await,
        "ERR invalid cursor"
    ));
    // KEYS: the same names in one reply.
    let names = |reply: Frame| -> BTreeSet<String> {
        let Frame::Array(keys) = reply else {
            panic!("{reply:?}")
        };
        keys.into_iter()
            .map(|k| {
                let Frame::Bulk(k) = k else { panic!("{k:?}") };
                String::from_utf8(k).expect("utf-8")
            })
            .collect()
    };
    assert_eq!(names(c.cmd(&["KEYS", "key:1*"]).await), expected);
    assert_eq!(names(c.cmd(&["KEYS", "hash:*"]).await).len(), 50);
    assert_eq!(names(c.cmd(&["KEYS", "*"]).await).len(), 2_050);
    assert_eq!(names(c.cmd(&["KEYS", "nothing:*"]).await).len(), 0);
}

#[tokio::test]
async fn keys_refuses_a_reply_past_the_reply_bound() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    // 5,000 names of 1,000 bytes: 5 MB of names, past the 4 MiB bound of one reply.
    let mut pipeline = Vec::new();
    for i in 0..5_000 {
        let name = format!("{i:0>1000}");
        pipeline.extend_from_slice(&encode(&["SET", &name, "v"]));
    }
    c.send(&pipeline).await;
    for _ in 0..5_000 {
        c.reply().await.expect("reply");
    }
    let reply = c.cmd(&["KEYS", "*"]).await;
    assert!(
        support::is_error(&reply, "ERR KEYS would reply with more than"),
        "{:?}",
        match &reply {
            Frame::Array(a) => format!("an array of {}", a.len()),
            other => format!("{other:?}"),
        }
    );
    // A narrower pattern fits, and the connection goes on.
    let Frame::Array(some) = c.cmd(&["KEYS", "000000*1"]).await else {
        panic!("KEYS with a narrow pattern")
    };
    assert!(!some.is_empty());
    assert_eq!(c.cmd(&["DBSIZE"]).await, Frame::Integer(5_000));
}
