//! String, counter and expiry commands with Redis's semantics and error replies.

mod support;

use cairn_resp::frame::Frame;
use support::{bulk, is_error, Server, RW};

#[tokio::test]
async fn set_honours_its_options() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(c.cmd(&["SET", "k", "1", "XX"]).await, Frame::Null);
    assert_eq!(c.cmd(&["SET", "k", "1", "NX"]).await, Frame::ok());
    assert_eq!(c.cmd(&["SET", "k", "2", "NX"]).await, Frame::Null);
    assert_eq!(c.cmd(&["SET", "k", "2", "XX", "GET"]).await, bulk("1"));
    assert_eq!(c.cmd(&["SET", "k", "3", "NX", "GET"]).await, bulk("2"));
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("2"));
    assert_eq!(c.cmd(&["SET", "k", "3", "EX", "100"]).await, Frame::ok());
    assert!(matches!(
        c.cmd(&["TTL", "k"]).await,
        Frame::Integer(99..=100)
    ));
    assert_eq!(c.cmd(&["SET", "k", "4", "KEEPTTL"]).await, Frame::ok());
    assert!(matches!(
        c.cmd(&["PTTL", "k"]).await,
        Frame::Integer(90_000..=100_000)
    ));
    assert_eq!(c.cmd(&["SET", "k", "5"]).await, Frame::ok());
    assert_eq!(c.cmd(&["TTL", "k"]).await, Frame::Integer(-1));
    assert_eq!(c.cmd(&["TTL", "missing"]).await, Frame::Integer(-2));
    for bad in [
        &["SET", "k", "v", "EX", "0"][..],
        &["SET", "k", "v", "PX", "-5"],
    ] {
        let reply = c.cmd(bad).await;
        assert!(
            is_error(&reply, "ERR invalid expire time in 'set' command"),
            "{reply:?}"
        );
    }
    for bad in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "BOGUS"],
    ] {
        let reply = c.cmd(bad).await;
        assert!(is_error(&reply, "ERR syntax error"), "{reply:?}");
    }
    let reply = c.cmd(&["SET", "k", "v", "EX", "ten"]).await;
    assert!(is_error(&reply, "ERR value is not an integer"), "{reply:?}");
    // EXAT in the past: the key is gone at once.
    assert_eq!(c.cmd(&["SET", "k", "v", "EXAT", "1"]).await, Frame::ok());
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, Frame::Integer(0));
}

#[tokio::test]
async fn setex_and_psetex_set_a_value_with_its_expiry() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(c.cmd(&["SETEX", "k", "100", "v"]).await, Frame::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v"));
    assert!(matches!(
        c.cmd(&["TTL", "k"]).await,
        Frame::Integer(99..=100)
    ));
    assert_eq!(c.cmd(&["PSETEX", "k", "50000", "w"]).await, Frame::ok());
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("w"));
    assert!(matches!(
        c.cmd(&["PTTL", "k"]).await,
        Frame::Integer(40_000..=50_000)
    ));
    // Over a hash, as SET: the hash and its fields are gone.
    assert_eq!(c.cmd(&["HSET", "h", "f", "1"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["SETEX", "h", "100", "s"]).await, Frame::ok());
    assert_eq!(c.cmd(&["TYPE", "h"]).await, Frame::Simple("string".into()));
    assert_eq!(c.cmd(&["GET", "h"]).await, bulk("s"));
    // Redis's errors: a time that is not positive, a time that is not an integer, arity.
    for (bad, message) in [
        (
            &["SETEX", "k", "0", "v"][..],
            "ERR invalid expire time in 'setex' command",
        ),
        (
            &["PSETEX", "k", "-1", "v"],
            "ERR invalid expire time in 'psetex' command",
        ),
        (
            &["SETEX", "k", "ten", "v"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["SETEX", "k", "10"],
            "ERR wrong number of arguments for 'setex' command",
        ),
    ] {
        let reply = c.cmd(bad).await;
        assert!(is_error(&reply, message), "{bad:?}: {reply:?}");
    }
    assert_eq!(
        c.cmd(&["GET", "k"]).await,
        bulk("w"),
        "a refused SETEX changed nothing"
    );
}

#[tokio::test]
async fn incrbyfloat_adds_decimals_as_redis_prints_them() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    // Redis's documented example.
    assert_eq!(c.cmd(&["SET", "f", "10.50"]).await, Frame::ok());
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "0.1"]).await, bulk("10.6"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "-5"]).await, bulk("5.6"));
    assert_eq!(c.cmd(&["SET", "f", "5.0e3"]).await, Frame::ok());
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "2.0e2"]).await, bulk("5200"));
    assert_eq!(c.cmd(&["GET", "f"]).await, bulk("5200"));
    // A missing key counts from 0; 0.1 three times is 0.3, as in Redis.
    for want in ["0.1", "0.2", "0.3"] {
        assert_eq!(c.cmd(&["INCRBYFLOAT", "g", "0.1"]).await, bulk(want));
    }
    // INCR reads what INCRBYFLOAT wrote when it is whole.
    assert_eq!(c.cmd(&["INCRBYFLOAT", "h", "2.5"]).await, bulk("2.5"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "h", "0.5"]).await, bulk("3"));
    assert_eq!(c.cmd(&["INCR", "h"]).await, Frame::Integer(4));
    // The expiry stays.
    assert_eq!(c.cmd(&["SET", "t", "1", "EX", "100"]).await, Frame::ok());
    assert_eq!(c.cmd(&["INCRBYFLOAT", "t", "1.5"]).await, bulk("2.5"));
    assert!(matches!(
        c.cmd(&["TTL", "t"]).await,
        Frame::Integer(99..=100)
    ));
    // Redis's errors, and nothing written.
    assert_eq!(c.cmd(&["SET", "s", "abc"]).await, Frame::ok());
    for (bad, message) in [
        (
            &["INCRBYFLOAT", "s", "1"][..],
            "ERR value is not a valid float",
        ),
        (&["INCRBYFLOAT", "f", "x"], "ERR value is not a valid float"),
        (
            &["INCRBYFLOAT", "f", "inf"],
            "ERR increment would produce NaN or Infinity",
        ),
        (&["HSET", "hash", "a", "1"], ""),
        (&["INCRBYFLOAT", "hash", "1"], "WRONGTYPE"),
    ] {
        let reply = c.cmd(bad).await;
        if !message.is_empty() {
            assert!(is_error(&reply, message), "{bad:?}: {reply:?}");
        }
    }
    assert_eq!(c.cmd(&["GET", "f"]).await, bulk("5200"));
    assert_eq!(c.cmd(&["GET", "s"]).await, bulk("abc"));
}

#[tokio::test]
async fn getex_getrange_and_expiretime_answer_as_redis() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(c.cmd(&["SET", "k", "Hello World"]).await, Frame::ok());
    // GETRANGE: Redis's documented examples, and its clamping.
    for (start, end, want) in [
        ("0", "3", "Hell"),
        ("-3", "-1", "rld"),
        ("0", "-1", "Hello World"),
        ("10", "100", "d"),
        ("5", "3", ""),
        ("-1", "-5", ""),
        ("-100", "1", "He"),
        ("20", "30", ""),
    ] {
        assert_eq!(
            c.cmd(&["GETRANGE", "k", start, end]).await,
            bulk(want),
            "{start}..{end}"
        );
    }
    assert_eq!(c.cmd(&["GETRANGE", "missing", "0", "-1"]).await, bulk(""));
    // EXPIRETIME / PEXPIRETIME: -1 without expiry, -2 missing, else the absolute time.
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]).await, Frame::Integer(-1));
    assert_eq!(c.cmd(&["PEXPIRETIME", "missing"]).await, Frame::Integer(-2));
    assert_eq!(
        c.cmd(&["PEXPIREAT", "k", "33177117420000"]).await,
        Frame::Integer(1)
    );
    assert_eq!(
        c.cmd(&["EXPIRETIME", "k"]).await,
        Frame::Integer(33_177_117_420)
    );
    assert_eq!(
        c.cmd(&["PEXPIRETIME", "k"]).await,
        Frame::Integer(33_177_117_420_000)
    );
    // GETEX: the value, and the expiry set or removed.
    assert_eq!(c.cmd(&["GETEX", "k", "PERSIST"]).await, bulk("Hello World"));
    assert_eq!(c.cmd(&["TTL", "k"]).await, Frame::Integer(-1));
    assert_eq!(
        c.cmd(&["GETEX", "k", "EX", "100"]).await,
        bulk("Hello World")
    );
    assert!(matches!(
        c.cmd(&["TTL", "k"]).await,
        Frame::Integer(99..=100)
    ));
    assert_eq!(c.cmd(&["GETEX", "k"]).await, bulk("Hello World"));
    assert_eq!(c.cmd(&["GETEX", "missing", "EX", "100"]).await, Frame::Null);
    assert_eq!(c.cmd(&["EXISTS", "missing"]).await, Frame::Integer(0));
    for (bad, message) in [
        (&["GETEX", "k", "EX"][..], "ERR syntax error"),
        (&["GETEX", "k", "PERSIST", "EX", "1"], "ERR syntax error"),
        (
            &["GETEX", "k", "EX", "0"],
            "ERR invalid expire time in 'getex' command",
        ),
        (
            &["GETRANGE", "k", "a", "1"],
            "ERR value is not an integer or out of range",
        ),
    ] {
        let reply = c.cmd(bad).await;
        assert!(is_error(&reply, message), "{bad:?}: {reply:?}");
    }
    // An expiry already past removes the key, after answering its value.
    assert_eq!(
        c.cmd(&["GETEX", "k", "PXAT", "1"]).await,
        bulk("Hello World")
    );
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, Frame::Integer(0));
}

#[tokio::test]
async fn counters_parse_strictly_and_keep_their_expiry() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(c.cmd(&["INCR", "n"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["INCRBY", "n", "41"]).await, Frame::Integer(42));
    assert_eq!(c.cmd(&["DECR", "n"]).await, Frame::Integer(41));
    assert_eq!(c.cmd(&["DECRBY", "n", "50"]).await, Frame::Integer(-9));
    assert_eq!(c.cmd(&["GET", "n"]).await, bulk("-9"));
    assert_eq!(c.cmd(&["EXPIRE", "n", "100"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["INCR", "n"]).await, Frame::Integer(-8));
    assert!(
        matches!(c.cmd(&["TTL", "n"]).await, Frame::Integer(99..=100)),
        "INCR keeps the TTL"
    );
    c.cmd(&["SET", "s", "abc"]).await;
    assert!(is_error(
        &c.cmd(&["INCR", "s"]).await,
        "ERR value is not an integer or out of range"
    ));
    c.cmd(&["SET", "z", "007"]).await;
    assert!(is_error(
        &c.cmd(&["INCR", "z"]).await,
        "ERR value is not an integer"
    ));
    c.cmd(&["SET", "max", &i64::MAX.to_string()]).await;
    assert!(is_error(
        &c.cmd(&["INCR", "max"]).await,
        "ERR increment or decrement would overflow"
    ));
    assert_eq!(
        c.cmd(&["GET", "max"]).await,
        bulk(&i64::MAX.to_string()),
        "nothing written"
    );
    assert!(is_error(
        &c.cmd(&["DECRBY", "n", &i64::MIN.to_string()]).await,
        "ERR increment or decrement would overflow"
    ));
}

#[tokio::test]
async fn string_commands_answer_as_redis() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(c.cmd(&["APPEND", "a", "foo"]).await, Frame::Integer(3));
    assert_eq!(c.cmd(&["APPEND", "a", "bar"]).await, Frame::Integer(6));
    assert_eq!(c.cmd(&["STRLEN", "a"]).await, Frame::Integer(6));
    assert_eq!(c.cmd(&["STRLEN", "nothing"]).await, Frame::Integer(0));
    assert_eq!(c.cmd(&["SETNX", "a", "x"]).await, Frame::Integer(0));
    assert_eq!(c.cmd(&["SETNX", "b", "x"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["GETSET", "b", "y"]).await, bulk("x"));
    assert_eq!(c.cmd(&["GETDEL", "b"]).await, bulk("y"));
    assert_eq!(c.cmd(&["GETDEL", "b"]).await, Frame::Null);
    assert_eq!(c.cmd(&["MSET", "m1", "1", "m2", "2"]).await, Frame::ok());
    assert!(is_error(
        &c.cmd(&["MSET", "m1", "1", "m2"]).await,
        "ERR wrong number of arguments"
    ));
    assert_eq!(
        c.cmd(&["MSETNX", "m2", "x", "m3", "3"]).await,
        Frame::Integer(0)
    );
    assert_eq!(
        c.cmd(&["EXISTS", "m3"]).await,
        Frame::Integer(0),
        "MSETNX sets all or none"
    );
    assert_eq!(
        c.cmd(&["MSETNX", "m3", "3", "m4", "4"]).await,
        Frame::Integer(1)
    );
    c.cmd(&["HSET", "h", "f", "v"]).await;
    assert_eq!(
        c.cmd(&["MGET", "m1", "m4", "nothing", "h"]).await,
        Frame::Array(vec![bulk("1"), bulk("4"), Frame::Null, Frame::Null])
    );
    assert!(is_error(&c.cmd(&["GET", "h"]).await, "WRONGTYPE"));
    assert!(is_error(&c.cmd(&["APPEND", "h", "x"]).await, "WRONGTYPE"));
    assert_eq!(
        c.cmd(&["DEL", "m1", "m2", "nothing", "h"]).await,
        Frame::Integer(3)
    );
    assert_eq!(
        c.cmd(&["EXISTS", "m3", "m3", "m1"]).await,
        Frame::Integer(2)
    );
    assert_eq!(c.cmd(&["TYPE", "m3"]).await, Frame::Simple("string".into()));
    assert_eq!(c.cmd(&["TYPE", "m1"]).await, Frame::Simple("none".into()));
}

#[tokio::test]
async fn expiry_commands_set_read_and_remove_expiry() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    assert_eq!(c.cmd(&["EXPIRE", "missing", "10"]).await, Frame::Integer(0));
    c.cmd(&["SET", "k", "v"]).await;
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "100", "XX"]).await,
        Frame::Integer(0)
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "100", "NX"]).await,
        Frame::Integer(1)
    );
    assert_eq!(c.cmd(&["EXPIRE", "k", "50", "GT"]).await, Frame::Integer(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "50", "LT"]).await, Frame::Integer(1));
    assert!(matches!(
        c.cmd(&["TTL", "k"]).await,
        Frame::Integer(49..=50)
    ));
    assert_eq!(c.cmd(&["PEXPIRE", "k", "200000"]).await, Frame::Integer(1));
    assert!(matches!(
        c.cmd(&["TTL", "k"]).await,
        Frame::Integer(199..=200)
    ));
    assert_eq!(c.cmd(&["PERSIST", "k"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["PERSIST", "k"]).await, Frame::Integer(0));
    assert_eq!(c.cmd(&["TTL", "k"]).await, Frame::Integer(-1));
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 1000;
    assert_eq!(
        c.cmd(&["EXPIREAT", "k", &later.to_string()]).await,
        Frame::Integer(1)
    );
    assert!(matches!(
        c.cmd(&["TTL", "k"]).await,
        Frame::Integer(998..=1000)
    ));
    // A short expiry: gone once it passes (read back until then, bounded).
    assert_eq!(c.cmd(&["PEXPIRE", "k", "50"]).await, Frame::Integer(1));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.cmd(&["EXISTS", "k"]).await != Frame::Integer(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the key never expired"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(c.cmd(&["GET", "k"]).await, Frame::Null);
    // A non-positive expiry deletes.
    c.cmd(&["SET", "k", "v"]).await;
    assert_eq!(c.cmd(&["EXPIRE", "k", "-1"]).await, Frame::Integer(1));
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, Frame::Integer(0));
}
