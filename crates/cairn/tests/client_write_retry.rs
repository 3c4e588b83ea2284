//! cairn-client never applies a write twice. It used to retry every 5xx answer, so a write
//! whose answer a proxy replaced after the server had committed it (502 Bad Gateway, 504
//! Gateway Timeout, a bare 503) was sent again and applied again: a `sum` counted twice or
//! more. Now a write is retried only when it provably never reached the database: the
//! connection could not be made, or cairn's own 503 marked `cairn-not-applied: 1`. Any other
//! failure is `ClientError::OutcomeUnknown`, and the write was applied exactly once.
//!
//! A tiny HTTP proxy (`proxy/mod.rs`) stands in front of a real `cairn serve`: it answers
//! 502/504/503 after forwarding; drops the connection after the server committed and was
//! killed (SIGKILL, then restarted on the same data); refuses with cairn's not-applied 503
//! without forwarding; or stops listening.

mod e2e;
mod proxy;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_client::{Client, ClientError, ClientOptions};
use cairn_model::{key, CommitResult, Key, Kv, KvValue};
use e2e::{runtime, Server, READ_WRITE_TOKEN};
use hyper::StatusCode;
use proxy::{Proxy, Step};
use tokio::sync::oneshot;

fn counter() -> Key {
    key!["counter"]
}

/// The counter as the server has it, read without the proxy.
async fn count(server_url: &str) -> u64 {
    let direct = Client::connect(server_url, READ_WRITE_TOKEN)
        .await
        .expect("connect to the server directly");
    match direct.get(&counter()).await.expect("read the counter") {
        Some(entry) => match entry.value {
            KvValue::U64(n) => n,
            other => panic!("the counter is not a u64: {other:?}"),
        },
        None => 0,
    }
}

async fn add_one(db: &Client) -> Result<CommitResult, ClientError> {
    db.atomic().sum(&counter(), 1).commit().await
}

#[test]
fn a_proxy_error_after_forwarding_is_outcome_unknown() {
    let server = Server::start();
    runtime().block_on(async {
        let proxy = Proxy::start(server.url()).await;
        let db = Client::connect(&proxy.url(), READ_WRITE_TOKEN)
            .await
            .expect("connect through the proxy");
        let statuses = [
            StatusCode::BAD_GATEWAY,
            StatusCode::GATEWAY_TIMEOUT,
            // A proxy's own 503 lacks cairn's mark: it promises nothing.
            StatusCode::SERVICE_UNAVAILABLE,
        ];
        for (applied, status) in (1u64..).zip(statuses) {
            proxy.script(Step::ReplaceAfterForwarding(status));
            let result = add_one(&db).await;
            assert!(
                matches!(&result, Err(ClientError::OutcomeUnknown(m)) if m.contains(status.as_str())),
                "{status} after forwarding: {result:?}\n{}",
                server.log_tail()
            );
            assert_eq!(proxy.writes_forwarded(), applied, "sent once, not retried");
            assert_eq!(count(server.url()).await, applied, "applied exactly once");
        }

        // Reads are retried as before: a read cannot apply anything.
        proxy.script(Step::ReplaceAfterForwarding(StatusCode::BAD_GATEWAY));
        let read = db.get(&counter()).await.expect("a read is retried");
        assert_eq!(read.map(|e| e.value), Some(KvValue::U64(3)));
    });
}

#[test]
fn a_server_killed_between_commit_and_reply_is_outcome_unknown() {
    let server = Arc::new(Mutex::new(Server::start()));
    let first_url = server.lock().expect("server").url().to_owned();
    runtime().block_on(async {
        let proxy = Proxy::start(&first_url).await;
        let db = Client::connect(&proxy.url(), READ_WRITE_TOKEN)
            .await
            .expect("connect through the proxy");
        let (answered, server_answered) = oneshot::channel();
        let (release, released) = oneshot::channel();
        proxy.script(Step::DropAfterForwarding {
            answered,
            release: released,
        });
        let write = tokio::spawn(async move { add_one(&db).await });

        // The server answered: the sum is committed and durable. Kill it before the client
        // hears of it, start it again on the same data, then break the client's connection.
        server_answered
            .await
            .expect("the server answered the write");
        let restarting = server.clone();
        tokio::task::spawn_blocking(move || {
            restarting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .kill_and_restart();
        })
        .await
        .expect("kill and restart");
        let _ = release.send(());

        let result = write.await.expect("the write task");
        assert!(
            matches!(result, Err(ClientError::OutcomeUnknown(_))),
            "a connection lost after sending: {result:?}"
        );
        assert_eq!(proxy.writes_forwarded(), 1, "sent once, not retried");
        let url = server.lock().expect("server").url().to_owned();
        assert_eq!(count(&url).await, 1, "applied exactly once, and durable");
    });
}

#[test]
fn a_write_refused_as_not_applied_is_retried_and_applied_once() {
    let server = Server::start();
    runtime().block_on(async {
        let proxy = Proxy::start(server.url()).await;
        let db = Client::connect(&proxy.url(), READ_WRITE_TOKEN)
            .await
            .expect("connect through the proxy");
        proxy.script(Step::RefuseNotApplied);
        proxy.script(Step::RefuseNotApplied);
        let result = add_one(&db).await;
        assert!(
            matches!(result, Ok(CommitResult::Committed { .. })),
            "retried after cairn's not-applied 503: {result:?}"
        );
        assert_eq!(proxy.writes_forwarded(), 1);
        assert_eq!(count(server.url()).await, 1);
    });
}

#[test]
fn a_write_that_cannot_connect_is_retried_and_not_applied() {
    let server = Server::start();
    runtime().block_on(async {
        let mut proxy = Proxy::start(server.url()).await;
        let mut options = ClientOptions::default();
        options.retry_budget = Duration::from_millis(300);
        let db = Client::connect_with(&proxy.url(), READ_WRITE_TOKEN, options)
            .await
            .expect("connect through the proxy");

        proxy.stop_listening().await;
        let result = add_one(&db).await;
        assert!(
            matches!(&result, Err(ClientError::Unavailable { last, .. }) if last.contains("cannot connect")),
            "nothing was sent, so the write is retried until the budget is spent: {result:?}"
        );
        assert_eq!(count(server.url()).await, 0);

        proxy.resume_listening().await;
        add_one(&db).await.expect("the proxy listens again");
        assert_eq!(proxy.writes_forwarded(), 1);
        assert_eq!(count(server.url()).await, 1);
    });
}
