//! MULTI/EXEC as one atomic write, queueing errors, and WATCH: a watched key changed by
//! another connection (or by a KV Connect writer, through the database directly) makes EXEC
//! answer the null array and write nothing.

mod support;

use cairn_model::{Kv, KvValue};
use cairn_resp::frame::Frame;
use cairn_resp::keyspace::head_key;
use cairn_server::Access;
use support::{bulk, is_error, Server, RW};

#[tokio::test]
async fn exec_runs_the_queued_commands_in_order() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(c.cmd(&["MULTI"]).await, Frame::ok());
    assert_eq!(
        c.cmd(&["SET", "a", "1"]).await,
        Frame::Simple("QUEUED".into())
    );
    assert_eq!(c.cmd(&["INCR", "a"]).await, Frame::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["GET", "a"]).await, Frame::Simple("QUEUED".into()));
    assert_eq!(
        c.cmd(&["HSET", "a", "f", "v"]).await,
        Frame::Simple("QUEUED".into())
    );
    assert_eq!(c.cmd(&["PING"]).await, Frame::Simple("QUEUED".into()));
    let reply = c.cmd(&["EXEC"]).await;
    let Frame::Array(items) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(items[..3], [Frame::ok(), Frame::Integer(2), bulk("2")]);
    assert!(
        is_error(&items[3], "WRONGTYPE"),
        "a runtime error is that command's reply"
    );
    assert_eq!(items[4], Frame::Simple("PONG".into()));
    assert!(is_error(&c.cmd(&["EXEC"]).await, "ERR EXEC without MULTI"));
    assert!(is_error(
        &c.cmd(&["DISCARD"]).await,
        "ERR DISCARD without MULTI"
    ));
}

#[tokio::test]
async fn a_queueing_error_discards_the_transaction() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    c.cmd(&["MULTI"]).await;
    c.cmd(&["SET", "a", "1"]).await;
    assert!(is_error(&c.cmd(&["NOSUCH"]).await, "ERR unknown command"));
    assert!(is_error(
        &c.cmd(&["MULTI"]).await,
        "ERR MULTI calls can not be nested"
    ));
    assert!(is_error(&c.cmd(&["EXEC"]).await, "EXECABORT"));
    assert_eq!(c.cmd(&["EXISTS", "a"]).await, Frame::Integer(0));
    c.cmd(&["MULTI"]).await;
    c.cmd(&["SET", "a", "1"]).await;
    assert_eq!(c.cmd(&["DISCARD"]).await, Frame::ok());
    assert_eq!(c.cmd(&["EXISTS", "a"]).await, Frame::Integer(0));
}

#[tokio::test]
async fn a_watched_key_changed_by_another_client_aborts_exec() {
    let server = Server::start().await;
    let mut a = server.client(RW).await;
    let mut b = server.client(RW).await;
    a.cmd(&["SET", "balance", "10"]).await;
    assert_eq!(a.cmd(&["WATCH", "balance", "absent"]).await, Frame::ok());
    assert_eq!(b.cmd(&["INCRBY", "balance", "5"]).await, Frame::Integer(15));
    a.cmd(&["MULTI"]).await;
    a.cmd(&["SET", "balance", "0"]).await;
    assert_eq!(a.cmd(&["EXEC"]).await, Frame::NullArray);
    assert_eq!(a.cmd(&["GET", "balance"]).await, bulk("15"));
    // EXEC (even aborted) unwatches: the next transaction runs.
    a.cmd(&["MULTI"]).await;
    a.cmd(&["SET", "balance", "0"]).await;
    assert_eq!(a.cmd(&["EXEC"]).await, Frame::Array(vec![Frame::ok()]));
    // A key created while watched absent aborts too; a hash field change moves its head.
    a.cmd(&["HSET", "h", "f", "1"]).await;
    a.cmd(&["WATCH", "absent", "h"]).await;
    b.cmd(&["HSET", "h", "f", "2"]).await;
    a.cmd(&["MULTI"]).await;
    a.cmd(&["SET", "absent", "x"]).await;
    assert_eq!(a.cmd(&["EXEC"]).await, Frame::NullArray);
    assert_eq!(a.cmd(&["EXISTS", "absent"]).await, Frame::Integer(0));
    // Unchanged watched keys: runs.
    a.cmd(&["WATCH", "h"]).await;
    a.cmd(&["MULTI"]).await;
    a.cmd(&["HINCRBY", "h", "f", "1"]).await;
    assert_eq!(
        a.cmd(&["EXEC"]).await,
        Frame::Array(vec![Frame::Integer(3)])
    );
    assert!(is_error(
        &{
            a.cmd(&["MULTI"]).await;
            a.cmd(&["WATCH", "h"]).await
        },
        "ERR WATCH inside MULTI"
    ));
}

#[tokio::test]
async fn a_kv_connect_write_to_a_watched_key_aborts_exec() {
    let server = Server::start().await;
    let mut a = server.client(RW).await;
    a.cmd(&["SET", "k", "1"]).await;
    a.cmd(&["WATCH", "k"]).await;
    // Another front end of the same database (what KV Connect's atomic_write does).
    let db = server
        .backend
        .registry
        .get("default", Access::ReadWrite)
        .await
        .expect("db");
    db.set(&head_key(b"k"), KvValue::Bytes(b"deno".to_vec()))
        .await
        .expect("set");
    a.cmd(&["MULTI"]).await;
    a.cmd(&["SET", "k", "2"]).await;
    assert_eq!(a.cmd(&["EXEC"]).await, Frame::NullArray);
    assert_eq!(a.cmd(&["GET", "k"]).await, bulk("deno"));
}
