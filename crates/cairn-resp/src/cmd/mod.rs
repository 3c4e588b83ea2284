//! The command table: every command's name, arity, kind and handler, one file per group
//! (`strings`, `keys`, `hashes`, `transactions`, `server`). Handlers of data commands are
//! plain functions of their arguments and a [`View`]: the same code runs on the published
//! snapshot (reads outside a transaction) and in a database's writer (writes, EXEC).

pub mod hashes;
pub mod keys;
pub mod server;
pub mod strings;
pub mod transactions;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::view::View;

/// Where a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads data: on the published snapshot (after the connection's own writes are in).
    Read,
    /// Writes data: in the database's writer, durable before its reply.
    Write,
    /// Touches no data (PING, ECHO): anywhere, also inside MULTI.
    Pure,
    /// Walks the keyspace (SCAN, DBSIZE, KEYS): on the connection, never inside MULTI.
    Scan,
    /// Changes the connection (AUTH, SELECT, MULTI, …): handled by the connection.
    Connection,
}

/// A data command's handler.
pub type Handler = fn(&[Vec<u8>], &mut dyn View) -> Result<Frame>;

/// One command.
pub struct Spec {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis's arity: the argument count with the name, or at least `-arity` when negative.
    pub arity: i32,
    /// Where it runs.
    pub kind: Kind,
    /// The handler of Read, Write and Pure commands.
    pub run: Option<Handler>,
    /// COMMAND's flags.
    pub flags: &'static [&'static str],
    /// COMMAND's first key, last key and step.
    pub keys: (i64, i64, i64),
}

impl Spec {
    /// True if `argc` arguments (the name included) fit the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = i64::try_from(argc).unwrap_or(i64::MAX);
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

const fn spec(
    name: &'static str,
    arity: i32,
    kind: Kind,
    run: Option<Handler>,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
) -> Spec {
    Spec {
        name,
        arity,
        kind,
        run,
        flags,
        keys,
    }
}

const R: &[&str] = &["readonly", "fast"];
const W: &[&str] = &["write", "denyoom"];
const C: &[&str] = &["fast", "noscript", "loading", "stale"];
const ONE: (i64, i64, i64) = (1, 1, 1);
const ALL: (i64, i64, i64) = (1, -1, 1);
const PAIRS: (i64, i64, i64) = (1, -1, 2);
const NONE: (i64, i64, i64) = (0, 0, 0);
const TWO: (i64, i64, i64) = (1, 2, 1);

use Kind::{Connection, Pure, Read, Scan, Write};

/// Every command cairn speaks.
pub static COMMANDS: &[Spec] = &[
    // strings
    spec("get", 2, Read, Some(strings::get), R, ONE),
    spec("set", -3, Write, Some(strings::set), W, ONE),
    spec("setnx", 3, Write, Some(strings::setnx), W, ONE),
    spec("setex", 4, Write, Some(strings::setex), W, ONE),
    spec("psetex", 4, Write, Some(strings::psetex), W, ONE),
    spec("getset", 3, Write, Some(strings::getset), W, ONE),
    spec("getdel", 2, Write, Some(strings::getdel), W, ONE),
    spec("getex", -2, Write, Some(strings::getex), W, ONE),
    spec("getrange", 4, Read, Some(strings::getrange), R, ONE),
    spec("mget", -2, Read, Some(strings::mget), R, ALL),
    spec("mset", -3, Write, Some(strings::mset), W, PAIRS),
    spec("msetnx", -3, Write, Some(strings::msetnx), W, PAIRS),
    spec("incr", 2, Write, Some(strings::incr), W, ONE),
    spec("incrby", 3, Write, Some(strings::incrby), W, ONE),
    spec("decr", 2, Write, Some(strings::decr), W, ONE),
    spec("decrby", 3, Write, Some(strings::decrby), W, ONE),
    spec("incrbyfloat", 3, Write, Some(strings::incrbyfloat), W, ONE),
    spec("append", 3, Write, Some(strings::append), W, ONE),
    spec("strlen", 2, Read, Some(strings::strlen), R, ONE),
    // keys and expiry
    spec("del", -2, Write, Some(keys::del), W, ALL),
    spec("unlink", -2, Write, Some(keys::del), W, ALL),
    spec("rename", 3, Write, Some(keys::rename), W, TWO),
    spec("renamenx", 3, Write, Some(keys::renamenx), W, TWO),
    spec("exists", -2, Read, Some(keys::exists), R, ALL),
    spec("expire", -3, Write, Some(keys::expire), W, ONE),
    spec("pexpire", -3, Write, Some(keys::pexpire), W, ONE),
    spec("expireat", -3, Write, Some(keys::expireat), W, ONE),
    spec("pexpireat", -3, Write, Some(keys::pexpireat), W, ONE),
    spec("ttl", 2, Read, Some(keys::ttl), R, ONE),
    spec("pttl", 2, Read, Some(keys::pttl), R, ONE),
    spec("expiretime", 2, Read, Some(keys::expiretime), R, ONE),
    spec("pexpiretime", 2, Read, Some(keys::pexpiretime), R, ONE),
    spec("persist", 2, Write, Some(keys::persist), W, ONE),
    spec("type", 2, Read, Some(keys::type_), R, ONE),
    spec("scan", -2, Scan, None, &["readonly"], NONE),
    spec("dbsize", 1, Scan, None, R, NONE),
    spec("keys", 2, Scan, None, &["readonly"], NONE),
    // hashes
    spec("hset", -4, Write, Some(hashes::hset), W, ONE),
    spec("hmset", -4, Write, Some(hashes::hmset), W, ONE),
    spec("hsetnx", 4, Write, Some(hashes::hsetnx), W, ONE),
    spec("hget", 3, Read, Some(hashes::hget), R, ONE),
    spec("hmget", -3, Read, Some(hashes::hmget), R, ONE),
    spec("hdel", -3, Write, Some(hashes::hdel), W, ONE),
    spec(
        "hgetall",
        2,
        Read,
        Some(hashes::hgetall),
        &["readonly"],
        ONE,
    ),
    spec("hkeys", 2, Read, Some(hashes::hkeys), &["readonly"], ONE),
    spec("hvals", 2, Read, Some(hashes::hvals), &["readonly"], ONE),
    spec("hincrby", 4, Write, Some(hashes::hincrby), W, ONE),
    spec("hincrbyfloat", 4, Write, Some(hashes::hincrbyfloat), W, ONE),
    spec("hlen", 2, Read, Some(hashes::hlen), R, ONE),
    spec("hexists", 3, Read, Some(hashes::hexists), R, ONE),
    // transactions
    spec("multi", 1, Connection, None, C, NONE),
    spec(
        "exec",
        1,
        Connection,
        None,
        &["noscript", "loading", "stale"],
        NONE,
    ),
    spec("discard", 1, Connection, None, C, NONE),
    spec("watch", -2, Connection, None, C, ALL),
    spec("unwatch", 1, Connection, None, C, NONE),
    // connection and server
    spec("ping", -1, Pure, Some(server::ping), C, NONE),
    spec("echo", 2, Pure, Some(server::echo), C, NONE),
    spec("hello", -1, Connection, None, C, NONE),
    spec("auth", -2, Connection, None, C, NONE),
    spec("select", 2, Connection, None, C, NONE),
    spec("info", -1, Connection, None, &["loading", "stale"], NONE),
    spec("client", -2, Connection, None, C, NONE),
    spec("command", -1, Connection, None, &["loading", "stale"], NONE),
    spec(
        "config",
        -2,
        Connection,
        None,
        &["admin", "loading", "stale"],
        NONE,
    ),
    spec("quit", -1, Connection, None, C, NONE),
];

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    lookup_index(name).map(|(_, spec)| spec)
}

/// The spec of command `name` (any case) and its place in [`COMMANDS`].
pub fn lookup_index(name: &[u8]) -> Option<(usize, &'static Spec)> {
    COMMANDS
        .iter()
        .enumerate()
        .find(|(_, spec)| spec.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Runs a Read, Write or Pure command (its arity already checked) on `view`.
pub fn run(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = args.first().map(Vec::as_slice).unwrap_or_default();
    match lookup(name).and_then(|spec| spec.run) {
        Some(handler) => handler(args, view),
        None => Err(Error::Other(format!(
            "unknown command '{}'",
            String::from_utf8_lossy(name)
        ))),
    }
}

/// Redis's reply to an unknown command.
pub fn unknown(args: &[Vec<u8>]) -> Frame {
    let name = args.first().map(Vec::as_slice).unwrap_or_default();
    let shown: Vec<String> = args
        .iter()
        .skip(1)
        .take(8)
        .map(|a| format!("'{}'", String::from_utf8_lossy(&a[..a.len().min(64)])))
        .collect();
    Frame::err(format!(
        "unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(&name[..name.len().min(64)]),
        shown.join(" ")
    ))
}

/// Argument `i` (callers checked the arity).
pub fn arg(args: &[Vec<u8>], i: usize) -> &[u8] {
    args.get(i).map(Vec::as_slice).unwrap_or_default()
}

/// An integer argument, parsed as strictly as Redis does (no sign `+`, no leading zeros, no
/// spaces, within i64).
pub fn int(bytes: &[u8]) -> Result<i64> {
    parse_int(bytes).ok_or(Error::NotInteger)
}

/// A stored string as an integer, as strictly as Redis (`None` if it is not one).
pub fn parse_int(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    if !canonical {
        return None;
    }
    text.parse().ok()
}

/// True if `arg` is `word`, in any case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_as_strictly_as_redis() {
        assert_eq!(parse_int(b"42"), Some(42));
        assert_eq!(parse_int(b"-42"), Some(-42));
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"9223372036854775808"[..],
            b"+1",
            b" 1",
            b"01",
            b"-0",
            b"",
            b"-",
            b"1.0",
        ] {
            assert_eq!(parse_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn every_command_is_found_in_any_case() {
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert!(lookup(b"nosuch").is_none());
        let spec = lookup(b"set").expect("set");
        assert!(!spec.arity_ok(2) && spec.arity_ok(3) && spec.arity_ok(9));
    }
}
