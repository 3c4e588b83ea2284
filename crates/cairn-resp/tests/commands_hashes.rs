//! Hash commands: fields, counts, types, and a hash replaced, deleted or expired whole.

mod support;

use cairn_resp::frame::Frame;
use support::{bulk, is_error, Server, RW};

#[tokio::test]
async fn hash_commands_answer_as_redis() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(
        c.cmd(&["HSET", "h", "a", "1", "b", "2"]).await,
        Frame::Integer(2)
    );
    assert_eq!(
        c.cmd(&["HSET", "h", "a", "9", "c", "3"]).await,
        Frame::Integer(1)
    );
    assert_eq!(c.cmd(&["HGET", "h", "a"]).await, bulk("9"));
    assert_eq!(c.cmd(&["HGET", "h", "zz"]).await, Frame::Null);
    assert_eq!(c.cmd(&["HGET", "nothing", "a"]).await, Frame::Null);
    assert_eq!(c.cmd(&["HLEN", "h"]).await, Frame::Integer(3));
    assert_eq!(
        c.cmd(&["HMGET", "h", "a", "zz", "c"]).await,
        Frame::Array(vec![bulk("9"), Frame::Null, bulk("3")])
    );
    assert_eq!(
        c.cmd(&["HGETALL", "h"]).await,
        Frame::Array(vec![
            bulk("a"),
            bulk("9"),
            bulk("b"),
            bulk("2"),
            bulk("c"),
            bulk("3")
        ])
    );
    assert_eq!(
        c.cmd(&["HKEYS", "h"]).await,
        Frame::Array(vec![bulk("a"), bulk("b"), bulk("c")])
    );
    assert_eq!(c.cmd(&["HEXISTS", "h", "b"]).await, Frame::Integer(1));
    assert_eq!(
        c.cmd(&["HINCRBY", "h", "b", "40"]).await,
        Frame::Integer(42)
    );
    assert_eq!(
        c.cmd(&["HINCRBY", "h", "new", "-1"]).await,
        Frame::Integer(-1)
    );
    assert!(is_error(
        &c.cmd(&["HINCRBY", "h", "b", "x"]).await,
        "ERR value is not an integer"
    ));
    c.cmd(&["HSET", "h", "t", "text"]).await;
    assert!(is_error(
        &c.cmd(&["HINCRBY", "h", "t", "1"]).await,
        "ERR hash value is not an integer"
    ));
    assert_eq!(
        c.cmd(&["HDEL", "h", "a", "zz", "new", "t"]).await,
        Frame::Integer(3)
    );
    assert_eq!(c.cmd(&["HSETNX", "h", "b", "0"]).await, Frame::Integer(0));
    assert_eq!(c.cmd(&["HSETNX", "h", "d", "4"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["HMSET", "h", "e", "5"]).await, Frame::ok());
    assert_eq!(c.cmd(&["TYPE", "h"]).await, Frame::Simple("hash".into()));
    assert!(is_error(
        &c.cmd(&["HSET", "h", "odd"]).await,
        "ERR wrong number of arguments"
    ));
    c.cmd(&["SET", "s", "v"]).await;
    assert!(is_error(
        &c.cmd(&["HSET", "s", "f", "v"]).await,
        "WRONGTYPE"
    ));
    assert!(is_error(&c.cmd(&["HGETALL", "s"]).await, "WRONGTYPE"));
    // The last field's removal removes the hash.
    assert_eq!(
        c.cmd(&["HDEL", "h", "b", "c", "d", "e"]).await,
        Frame::Integer(4)
    );
    assert_eq!(c.cmd(&["EXISTS", "h"]).await, Frame::Integer(0));
}

#[tokio::test]
async fn hincrbyfloat_adds_decimals_to_a_field() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(
        c.cmd(&["HSET", "h", "f", "10.50", "s", "abc"]).await,
        Frame::Integer(2)
    );
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "f", "0.1"]).await,
        bulk("10.6")
    );
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "new", "0.25"]).await,
        bulk("0.25")
    );
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "other", "x", "-1.5"]).await,
        bulk("-1.5")
    );
    assert_eq!(c.cmd(&["HGET", "h", "f"]).await, bulk("10.6"));
    assert_eq!(c.cmd(&["HLEN", "h"]).await, Frame::Integer(3));
    for (bad, message) in [
        (
            &["HINCRBYFLOAT", "h", "s", "1"][..],
            "ERR hash value is not a float",
        ),
        (
            &["HINCRBYFLOAT", "h", "f", "1x"],
            "ERR value is not a valid float",
        ),
        (
            &["HINCRBYFLOAT", "h", "f", "-inf"],
            "ERR increment would produce NaN or Infinity",
        ),
    ] {
        let reply = c.cmd(bad).await;
        assert!(is_error(&reply, message), "{bad:?}: {reply:?}");
    }
    assert_eq!(c.cmd(&["HGET", "h", "f"]).await, bulk("10.6"));
}

#[tokio::test]
async fn rename_moves_strings_hashes_and_their_expiry() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(c.cmd(&["SET", "a", "1", "EX", "100"]).await, Frame::ok());
    assert_eq!(c.cmd(&["RENAME", "a", "b"]).await, Frame::ok());
    assert_eq!(c.cmd(&["EXISTS", "a"]).await, Frame::Integer(0));
    assert_eq!(c.cmd(&["GET", "b"]).await, bulk("1"));
    assert!(matches!(
        c.cmd(&["TTL", "b"]).await,
        Frame::Integer(99..=100)
    ));
    // A hash moves with its fields, over a string that was there.
    assert_eq!(
        c.cmd(&["HSET", "h", "f", "1", "g", "2"]).await,
        Frame::Integer(2)
    );
    assert_eq!(c.cmd(&["RENAME", "h", "b"]).await, Frame::ok());
    assert_eq!(c.cmd(&["TYPE", "b"]).await, Frame::Simple("hash".into()));
    assert_eq!(c.cmd(&["HGET", "b", "g"]).await, bulk("2"));
    assert_eq!(c.cmd(&["HLEN", "b"]).await, Frame::Integer(2));
    assert_eq!(c.cmd(&["TTL", "b"]).await, Frame::Integer(-1));
    assert_eq!(c.cmd(&["EXISTS", "h"]).await, Frame::Integer(0));
    assert_eq!(c.cmd(&["HGET", "h", "f"]).await, Frame::Null);
    // A string over a hash: the hash's fields are gone.
    assert_eq!(c.cmd(&["SET", "s", "v"]).await, Frame::ok());
    assert_eq!(c.cmd(&["RENAME", "s", "b"]).await, Frame::ok());
    assert_eq!(c.cmd(&["GET", "b"]).await, bulk("v"));
    assert!(is_error(&c.cmd(&["HGET", "b", "g"]).await, "WRONGTYPE"));
    assert_eq!(c.cmd(&["RENAME", "b", "b"]).await, Frame::ok());
    assert_eq!(c.cmd(&["GET", "b"]).await, bulk("v"));
    // RENAMENX: only onto a free name.
    assert_eq!(c.cmd(&["SET", "x", "1"]).await, Frame::ok());
    assert_eq!(c.cmd(&["RENAMENX", "x", "b"]).await, Frame::Integer(0));
    assert_eq!(c.cmd(&["RENAMENX", "x", "y"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["GET", "y"]).await, bulk("1"));
    // No field of the hash that `b` once was is left behind its new owners.
    assert_eq!(c.cmd(&["DEL", "b"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["HSET", "b", "new", "1"]).await, Frame::Integer(1));
    assert_eq!(
        c.cmd(&["HGETALL", "b"]).await,
        Frame::Array(vec![bulk("new"), bulk("1")])
    );
    for bad in [
        &["RENAME", "missing", "z"][..],
        &["RENAMENX", "missing", "z"],
    ] {
        let reply = c.cmd(bad).await;
        assert!(is_error(&reply, "ERR no such key"), "{bad:?}: {reply:?}");
    }
}

#[tokio::test]
async fn a_hash_is_replaced_deleted_and_expired_whole() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    c.cmd(&["HSET", "h", "a", "1", "b", "2"]).await;
    // SET replaces the hash: no field is left to come back later.
    assert_eq!(c.cmd(&["SET", "h", "now a string"]).await, Frame::ok());
    c.cmd(&["DEL", "h"]).await;
    assert_eq!(c.cmd(&["HSET", "h", "c", "3"]).await, Frame::Integer(1));
    assert_eq!(
        c.cmd(&["HGETALL", "h"]).await,
        Frame::Array(vec![bulk("c"), bulk("3")])
    );
    assert_eq!(c.cmd(&["EXPIRE", "h", "100"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["HSET", "h", "d", "4"]).await, Frame::Integer(1));
    assert!(
        matches!(c.cmd(&["TTL", "h"]).await, Frame::Integer(99..=100)),
        "HSET keeps the TTL"
    );
    assert_eq!(c.cmd(&["PEXPIRE", "h", "30"]).await, Frame::Integer(1));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.cmd(&["EXISTS", "h"]).await != Frame::Integer(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the hash never expired"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        c.cmd(&["HGETALL", "h"]).await,
        Frame::Array(vec![]),
        "fields expire with the head"
    );
    assert_eq!(c.cmd(&["HSET", "h", "z", "1"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["HLEN", "h"]).await, Frame::Integer(1));
}

#[tokio::test]
async fn a_hash_is_bounded_so_it_fits_one_atomic_write() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    let max = cairn_resp::limits::HASH_FIELDS_MAX;
    let mut args: Vec<String> = vec!["HSET".into(), "big".into()];
    for i in 0..max {
        args.push(format!("f{i}"));
        args.push("v".into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&refs).await, Frame::Integer(max as i64));
    let reply = c.cmd(&["HSET", "big", "one-more", "v"]).await;
    assert!(is_error(&reply, "ERR hash too large"), "{reply:?}");
    assert_eq!(c.cmd(&["HLEN", "big"]).await, Frame::Integer(max as i64));
    assert_eq!(c.cmd(&["EXPIRE", "big", "100"]).await, Frame::Integer(1));
    // Moving it writes every field twice (removed here, written there): past one atomic
    // write's mutations, refused whole.
    let reply = c.cmd(&["RENAME", "big", "moved"]).await;
    assert!(
        is_error(
            &reply,
            "ERR this command's writes do not fit in one atomic write"
        ),
        "{reply:?}"
    );
    assert_eq!(c.cmd(&["HLEN", "big"]).await, Frame::Integer(max as i64));
    assert_eq!(c.cmd(&["EXISTS", "moved"]).await, Frame::Integer(0));
    assert_eq!(c.cmd(&["DEL", "big"]).await, Frame::Integer(1));
}
