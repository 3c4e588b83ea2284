//! AUTH with cairn's tokens, read-only tokens refused writes (NOPERM), SELECT's mapping to
//! databases, and HELLO 3's RESP3 replies.

mod support;

use cairn_resp::frame::Frame;
use cairn_server::Access;
use support::{bulk, is_error, parse_reply, Server, RO, RW};

#[tokio::test]
async fn a_read_only_token_reads_but_cannot_write() {
    let server = Server::start().await;
    let mut rw = server.client(RW).await;
    rw.cmd(&["SET", "k", "v"]).await;
    let mut ro = server.client(RO).await;
    assert_eq!(ro.cmd(&["GET", "k"]).await, bulk("v"));
    for write in [
        &["SET", "k", "x"][..],
        &["DEL", "k"],
        &["INCR", "n"],
        &["HSET", "h", "f", "v"],
        &["EXPIRE", "k", "1"],
    ] {
        let reply = ro.cmd(write).await;
        assert!(is_error(&reply, "NOPERM"), "{write:?}: {reply:?}");
    }
    ro.cmd(&["MULTI"]).await;
    assert!(is_error(&ro.cmd(&["SET", "k", "x"]).await, "NOPERM"));
    assert!(is_error(&ro.cmd(&["EXEC"]).await, "EXECABORT"));
    assert_eq!(ro.cmd(&["GET", "k"]).await, bulk("v"));
    // A read-only token cannot create a database by selecting it.
    assert!(is_error(&ro.cmd(&["SELECT", "5"]).await, "ERR"));
}

#[tokio::test]
async fn select_maps_indexes_to_databases() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    c.cmd(&["SET", "k", "zero"]).await;
    assert_eq!(c.cmd(&["SELECT", "3"]).await, Frame::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, Frame::Null);
    c.cmd(&["SET", "k", "three"]).await;
    assert!(is_error(
        &c.cmd(&["SELECT", "16"]).await,
        "ERR DB index is out of range"
    ));
    assert!(is_error(
        &c.cmd(&["SELECT", "x"]).await,
        "ERR value is not an integer"
    ));
    assert_eq!(
        c.cmd(&["GET", "k"]).await,
        bulk("three"),
        "a refused SELECT keeps the database"
    );
    assert_eq!(c.cmd(&["SELECT", "0"]).await, Frame::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("zero"));
    // Database 3 is "db3" on the server, as KV Connect's /db/db3 sees it.
    use cairn_model::Kv;
    let db3 = server
        .backend
        .registry
        .get("db3", Access::ReadOnly)
        .await
        .expect("db3 exists");
    let entry = db3
        .get(&cairn_resp::keyspace::head_key(b"k"))
        .await
        .expect("get");
    assert_eq!(
        entry.map(|e| e.value),
        Some(cairn_model::KvValue::Bytes(b"three".to_vec()))
    );
}

#[tokio::test]
async fn hello_3_switches_to_resp3() {
    let server = Server::start().await;
    let mut c = server.anonymous().await;
    assert!(is_error(&c.cmd(&["HELLO", "3"]).await, "NOAUTH"));
    assert!(is_error(
        &c.cmd(&["HELLO", "4", "AUTH", "default", RW]).await,
        "NOPROTO"
    ));
    let hello = c
        .cmd(&["HELLO", "3", "AUTH", "default", RW, "SETNAME", "me"])
        .await;
    let Frame::Map(pairs) = hello else {
        panic!("{hello:?}")
    };
    assert!(pairs.contains(&(bulk("proto"), Frame::Integer(3))));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]).await, bulk("me"));
    // RESP3 on the wire: a null is `_`, a hash a map.
    c.send(&support::encode(&["GET", "missing"])).await;
    let mut raw = vec![0u8; 3];
    tokio::io::AsyncReadExt::read_exact(&mut c.stream, &mut raw)
        .await
        .expect("read");
    assert_eq!(raw, b"_\r\n");
    c.cmd(&["HSET", "h", "f", "v"]).await;
    assert_eq!(
        c.cmd(&["HGETALL", "h"]).await,
        Frame::Map(vec![(bulk("f"), bulk("v"))])
    );
    assert_eq!(parse_reply(b"%0\r\n"), Some((Frame::Map(vec![]), 4)));
    // Back to RESP2: HELLO's map is a flat array.
    let reply = c.cmd(&["HELLO", "2"]).await;
    assert!(
        matches!(&reply, Frame::Array(items) if items.len() == 14),
        "{reply:?}"
    );
    assert_eq!(c.cmd(&["GET", "missing"]).await, Frame::Null);
}
