//! What a Redis client writes is cairn data another client reads (docs/resp.md): a string
//! is `[name]` → bytes, a hash `[name]` → KvU64(field count) plus `[name, field]` → bytes,
//! a non-UTF-8 name is a bytes part; expiry is the entry's expiry.

mod support;

use cairn_model::{key, Key, KeyPart, Kv, KvList, KvValue, ListOptions, ListSelector};
use cairn_server::Access;
use support::{Server, RW};

#[tokio::test]
async fn redis_writes_are_tuple_keys_a_deno_client_reads() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    c.cmd(&["SET", "greeting", "hello"]).await;
    c.cmd(&["INCRBY", "visits", "7"]).await;
    c.cmd(&["HSET", "user:1", "name", "Ada", "born", "1815"])
        .await;
    c.cmd(&["SET", "short", "v", "EX", "100"]).await;
    c.send(b"*3\r\n$3\r\nSET\r\n$2\r\n\xff\x00\r\n$1\r\nb\r\n")
        .await;
    c.reply().await;
    let db = server
        .backend
        .registry
        .get("default", Access::ReadOnly)
        .await
        .expect("db");
    let value = |k: Key| {
        let db = db.clone();
        async move { db.get(&k).await.expect("get").map(|e| e.value) }
    };
    assert_eq!(
        value(key!["greeting"]).await,
        Some(KvValue::Bytes(b"hello".to_vec()))
    );
    assert_eq!(
        value(key!["visits"]).await,
        Some(KvValue::Bytes(b"7".to_vec()))
    );
    assert_eq!(value(key!["user:1"]).await, Some(KvValue::U64(2)));
    let fields = db
        .list(ListSelector::Prefix(key!["user:1"]), ListOptions::default())
        .expect("list")
        .collect()
        .await
        .expect("fields");
    let fields: Vec<(Key, KvValue)> = fields.into_iter().map(|e| (e.key, e.value)).collect();
    assert_eq!(
        fields,
        vec![
            (key!["user:1", "born"], KvValue::Bytes(b"1815".to_vec())),
            (key!["user:1", "name"], KvValue::Bytes(b"Ada".to_vec())),
        ]
    );
    let binary = Key(vec![KeyPart::Bytes(vec![0xff, 0x00])]);
    assert_eq!(value(binary).await, Some(KvValue::Bytes(b"b".to_vec())));
    let (_, expire_at) = db
        .get_with_expiry(&key!["short"])
        .expect("read")
        .expect("present");
    let now = db.now_ms();
    assert!(
        expire_at.is_some_and(|at| at > now + 90_000 && at <= now + 100_000),
        "{expire_at:?}"
    );
}

#[tokio::test]
async fn values_written_by_deno_are_readable_or_refused_clearly() {
    let server = Server::start().await;
    let db = server
        .backend
        .registry
        .get("default", Access::ReadWrite)
        .await
        .expect("db");
    db.set(&key!["bytes"], KvValue::Bytes(b"raw".to_vec()))
        .await
        .expect("set");
    db.set(
        &key!["object"],
        KvValue::V8(vec![0xff, 0x0f, 0x6f, 0x7b, 0x00]),
    )
    .await
    .expect("set");
    let mut c = server.client(RW).await;
    assert_eq!(c.cmd(&["GET", "bytes"]).await, support::bulk("raw"));
    assert!(support::is_error(
        &c.cmd(&["GET", "object"]).await,
        "WRONGTYPE"
    ));
    assert_eq!(
        c.cmd(&["TYPE", "object"]).await,
        cairn_resp::frame::Frame::Simple("deno-kv".into())
    );
    assert_eq!(
        c.cmd(&["DEL", "object"]).await,
        cairn_resp::frame::Frame::Integer(1)
    );
}
