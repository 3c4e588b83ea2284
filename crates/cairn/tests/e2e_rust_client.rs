//! cairn-client against the real `cairn serve` binary, and the same behaviour suite on the
//! embedded database: code written against the `Kv` trait runs unchanged on both.
//!
//! The suite (`tests/kv_suite/mod.rs`) covers set/get/delete, every key part type and the
//! cross-type order, get_many, listing (1,500 entries: prefix, start/end, reverse, limit,
//! cursors, batch sizes), checks, racing writers, sum/min/max with wrap-around and a type
//! mismatch without side effects, versionstamped keys, expiry, watch and the limits. The
//! network-only checks (tokens, databases) are below.

mod e2e;
mod kv_suite;

use std::time::Duration;

use cairn_client::{Client, ClientError, ClientOptions};
use cairn_model::{key, Kv, KvValue};
use e2e::{runtime, Server, READ_ONLY_TOKEN, READ_WRITE_TOKEN};

#[test]
fn suite_on_the_embedded_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    runtime().block_on(async {
        let db = cairn_store::Database::open(dir.path()).expect("open");
        kv_suite::run_all(&db).await;
    });
}

#[test]
fn suite_over_the_network() {
    let server = Server::start();
    runtime().block_on(async {
        let db = Client::connect(server.url(), READ_WRITE_TOKEN)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}\n{}", server.log_tail()));
        kv_suite::run_all(&db).await;
    });
}

#[test]
fn tokens_and_databases() {
    let server = Server::start();
    runtime().block_on(async {
        let wrong = Client::connect(server.url(), "not-a-token").await;
        assert!(
            matches!(wrong, Err(ClientError::Unauthorized { status: 401, .. })),
            "wrong token: {:?}",
            wrong.err()
        );

        let rw = Client::connect(server.url(), READ_WRITE_TOKEN)
            .await
            .expect("connect");
        let k = key!["owner"];
        rw.set(&k, KvValue::U64(1)).await.expect("set");

        let ro = Client::connect(server.url(), READ_ONLY_TOKEN)
            .await
            .expect("connect read-only");
        assert_eq!(
            ro.get(&k).await.expect("read").map(|e| e.value),
            Some(KvValue::U64(1))
        );
        let refused = ro.set(&k, KvValue::U64(2)).await;
        assert!(
            matches!(refused, Err(ClientError::WriteDisabled)),
            "read-only write: {refused:?}"
        );
        assert_eq!(
            rw.get(&k).await.expect("read").map(|e| e.value),
            Some(KvValue::U64(1))
        );

        // A second database on the same server: its own id and its own data.
        let other_url = format!("{}/db/other", server.url());
        let other = Client::connect(&other_url, READ_WRITE_TOKEN)
            .await
            .expect("connect to /db/other");
        assert_ne!(other.database_id(), rw.database_id());
        assert_eq!(other.get(&k).await.expect("read"), None);
        other.set(&k, KvValue::U64(9)).await.expect("set");
        assert_eq!(
            rw.get(&k).await.expect("read").map(|e| e.value),
            Some(KvValue::U64(1)),
            "databases are isolated"
        );

        let mut impatient = ClientOptions::default();
        impatient.retry_budget = Duration::from_millis(300);
        let not_kv = Client::connect_with("http://127.0.0.1:1", READ_WRITE_TOKEN, impatient).await;
        assert!(
            matches!(not_kv, Err(ClientError::Unavailable { .. })),
            "{:?}",
            not_kv.err()
        );
    });
}

/// Concurrent `get`s share requests (coalescing): each still gets its own key's entry, and
/// callers that give up early leave the client working.
#[test]
fn concurrent_gets_are_answered_each_with_its_own_key() {
    let server = Server::start();
    runtime().block_on(async {
        let db = Client::connect(server.url(), READ_WRITE_TOKEN)
            .await
            .expect("connect");
        let mut op = db.atomic();
        for i in (0..300u64).step_by(2) {
            op = op.set(&key!["c", i], KvValue::U64(i));
        }
        assert!(op.commit().await.expect("commit").is_committed());

        // Callers that stop waiting at once: their batches must still finish.
        for i in 0..50u64 {
            let db = db.clone();
            let k = key!["c", i];
            let _ = tokio::time::timeout(Duration::ZERO, async move { db.get(&k).await }).await;
        }

        let tasks: Vec<_> = (0..300u64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move { (i, db.get(&key!["c", i]).await) })
            })
            .collect();
        for task in tasks {
            let (i, got) = task.await.expect("task");
            let value = got.expect("get").map(|e| e.value);
            let expected = (i % 2 == 0).then_some(KvValue::U64(i));
            assert_eq!(value, expected, "key {i}");
        }
        // One oversized key fails alone, before it could share a request with others.
        let huge = cairn_model::Key(vec![cairn_model::KeyPart::String("k".repeat(3000))]);
        let two = key!["c", 2];
        let (bad, good) = tokio::join!(db.get(&huge), db.get(&two));
        assert!(bad.is_err());
        assert_eq!(good.expect("get").map(|e| e.value), Some(KvValue::U64(2)));
    });
}
