//! Commands on keys of any type, expiry, and walking the keyspace (SCAN, DBSIZE). Expiry is
//! cairn's own: an expired key is invisible at once and removed by the database's sweeper; a
//! hash's fields expire with its head.

use std::collections::{HashMap, VecDeque};

use cairn_model::{decode_key, Key, KvValue, ReadRange};
use cairn_store::Database;
use parking_lot::Mutex;

use crate::cmd::{arg, int, is, strings::expire_at};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::glob;
use crate::keyspace::{self, name_of, Head};
use crate::limits::{REPLY_BYTES_MAX, SCAN_COUNT_MAX, SCAN_CURSORS_MAX, SCAN_PATTERN_BYTES_MAX};
use crate::view::View;

fn count(n: usize) -> Frame {
    Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// DEL key [key ...] (and UNLINK): how many existed.
pub fn del(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let mut removed = 0;
    for name in args.iter().skip(1) {
        if keyspace::remove(view, name)? {
            removed += 1;
        }
    }
    Ok(count(removed))
}

/// EXISTS key [key ...]: how many exist (a key named twice counts twice).
pub fn exists(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let mut found = 0;
    for name in args.iter().skip(1) {
        if keyspace::head(view, name)?.is_some() {
            found += 1;
        }
    }
    Ok(count(found))
}

/// EXPIRE and its kin: `unit` is how the time argument reads (EX, PX, EXAT, PXAT).
fn expire_generic(
    args: &[Vec<u8>],
    view: &mut dyn View,
    unit: &[u8],
    command: &str,
) -> Result<Frame> {
    let name = arg(args, 1);
    let n = int(arg(args, 2))?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in args.iter().skip(3) {
        match option.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(Error::Other(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(option)
                )))
            }
        }
    }
    if (nx && (xx || gt || lt)) || (gt && lt) {
        return Err(Error::Other(
            "NX and XX, GT or LT options at the same time are not compatible".into(),
        ));
    }
    let now = view.now_ms();
    // A time in the past (or not positive) removes the key, as in Redis.
    let at = if n <= 0 && matches!(unit, b"EX" | b"PX") {
        now
    } else if n <= 0 {
        0
    } else {
        expire_at(unit, n, now, command)?
    };
    let Some(head) = keyspace::head(view, name)? else {
        return Ok(Frame::Integer(0));
    };
    let current = head.expire_at_ms;
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| at <= c))
        || (lt && current.is_some_and(|c| at >= c));
    let allowed = !refused;
    if !allowed {
        return Ok(Frame::Integer(0));
    }
    let done = keyspace::set_expiry(view, name, Some(at))?;
    Ok(Frame::Integer(i64::from(done)))
}

/// EXPIRE key seconds [NX|XX|GT|LT]
pub fn expire(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    expire_generic(args, view, b"EX", "expire")
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
pub fn pexpire(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    expire_generic(args, view, b"PX", "pexpire")
}

/// EXPIREAT key unix-seconds [NX|XX|GT|LT]
pub fn expireat(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    expire_generic(args, view, b"EXAT", "expireat")
}

/// PEXPIREAT key unix-milliseconds [NX|XX|GT|LT]
pub fn pexpireat(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    expire_generic(args, view, b"PXAT", "pexpireat")
}

/// Time to live in ms: -2 if missing, -1 if it never expires.
fn pttl_of(view: &mut dyn View, name: &[u8]) -> Result<i64> {
    let Some(head) = keyspace::head(view, name)? else {
        return Ok(-2);
    };
    Ok(match head.expire_at_ms {
        None => -1,
        Some(at) => i64::try_from(at.saturating_sub(view.now_ms())).unwrap_or(i64::MAX),
    })
}

/// TTL key: seconds, rounded as Redis rounds them.
pub fn ttl(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let ms = pttl_of(view, arg(args, 1))?;
    Ok(Frame::Integer(if ms < 0 { ms } else { (ms + 500) / 1000 }))
}

/// PTTL key
pub fn pttl(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    Ok(Frame::Integer(pttl_of(view, arg(args, 1))?))
}

/// When `name` expires, in ms since the Unix epoch: -2 if missing, -1 if it never expires.
fn expire_time_of(view: &mut dyn View, name: &[u8]) -> Result<i64> {
    Ok(match keyspace::head(view, name)? {
        None => -2,
        Some(Head {
            expire_at_ms: None, ..
        }) => -1,
        Some(Head {
            expire_at_ms: Some(at),
            ..
        }) => i64::try_from(at).unwrap_or(i64::MAX),
    })
}

/// EXPIRETIME key: the Unix time (seconds) at which the key expires; -1 never, -2 missing.
pub fn expiretime(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let ms = expire_time_of(view, arg(args, 1))?;
    Ok(Frame::Integer(if ms < 0 { ms } else { ms / 1000 }))
}

/// PEXPIRETIME key: as EXPIRETIME, in milliseconds.
pub fn pexpiretime(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    Ok(Frame::Integer(expire_time_of(view, arg(args, 1))?))
}

/// PERSIST key: 1 if an expiry was removed.
pub fn persist(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = arg(args, 1);
    match keyspace::head(view, name)? {
        Some(head) if head.expire_at_ms.is_some() => {
            keyspace::set_expiry(view, name, None)?;
            Ok(Frame::Integer(1))
        }
        _ => Ok(Frame::Integer(0)),
    }
}

/// TYPE key
pub fn type_(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = keyspace::head(view, arg(args, 1))?.map_or("none", |h| h.kind.type_name());
    Ok(Frame::Simple(name.into()))
}

/// SCAN positions by cursor number, shared by every connection of a server (a client may
/// continue a scan on another pooled connection). Bounded: the oldest is forgotten first.
#[derive(Default)]
pub struct Cursors {
    inner: Mutex<CursorTable>,
}

#[derive(Default)]
struct CursorTable {
    last_id: u64,
    positions: HashMap<u64, (String, Vec<u8>)>,
    order: VecDeque<u64>,
}

impl Cursors {
    fn save(&self, database: &str, position: Vec<u8>) -> u64 {
        let mut table = self.inner.lock();
        table.last_id = table.last_id.wrapping_add(1).max(1) & (i64::MAX as u64);
        let id = table.last_id.max(1);
        while table.order.len() >= SCAN_CURSORS_MAX {
            if let Some(old) = table.order.pop_front() {
                table.positions.remove(&old);
            }
        }
        table.positions.insert(id, (database.to_owned(), position));
        table.order.push_back(id);
        id
    }

    fn position(&self, id: u64, database: &str) -> Option<Vec<u8>> {
        let table = self.inner.lock();
        match table.positions.get(&id) {
            Some((db, position)) if db == database => Some(position.clone()),
            _ => None,
        }
    }
}

/// Encoded range holding every head: one bytes or string part.
const HEADS_START: &[u8] = &[0x01];
const HEADS_END: &[u8] = &[0x03];

/// Walks heads from `start` (inclusive), looking at up to `budget` entries; calls `visit`
/// with each head's name and value. Entries under a head (a hash's fields) and keys of other
/// shapes are stepped over. Returns where to go on, or `None` at the end.
async fn walk(
    db: &Database,
    mut start: Vec<u8>,
    budget: usize,
    visit: &mut (dyn FnMut(&[u8], &KvValue) + Send),
) -> Result<Option<Vec<u8>>> {
    let mut examined = 0;
    while examined < budget {
        let limit = (budget - examined).min(1000);
        let range = ReadRange {
            start: start.clone(),
            end: HEADS_END.to_vec(),
            limit,
            reverse: false,
        };
        let chunk = db
            .snapshot_read(&[range])
            .await?
            .into_iter()
            .next()
            .unwrap_or_default();
        let exhausted = chunk.len() < limit;
        let mut skipped = false;
        for entry in chunk {
            examined += 1;
            let next = match decode_key(&entry.key) {
                Ok(key) => match (name_of(&key), key.parts()) {
                    (Some(name), _) => {
                        visit(name, &entry.value);
                        skip_children(&entry.key, &entry.value)
                    }
                    (None, [first, _, ..]) => {
                        let mut group = Key(vec![first.clone()]).encode();
                        group.push(0xFF);
                        Some(group)
                    }
                    _ => None,
                },
                Err(_) => None,
            };
            // Either just after this key, or (`0xFF`) after every key under a prefix: then
            // the rest of the chunk may lie under it, so read again from there.
            match next {
                Some(after) => {
                    start = after;
                    skipped = true;
                    break;
                }
                None => {
                    start = entry.key;
                    start.push(0);
                }
            }
        }
        if exhausted && !skipped {
            return Ok(None);
        }
    }
    Ok(Some(start))
}

/// A hash head's fields follow it: go on after all of them.
fn skip_children(key: &[u8], value: &KvValue) -> Option<Vec<u8>> {
    matches!(value, KvValue::U64(_)).then(|| {
        let mut k = key.to_vec();
        k.push(0xFF);
        k
    })
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] on `db`, named `database` in the
/// cursor table.
pub async fn scan(
    args: &[Vec<u8>],
    db: &Database,
    database: &str,
    cursors: &Cursors,
) -> Result<Frame> {
    let cursor = std::str::from_utf8(arg(args, 1))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Error::Other("invalid cursor".into()))?;
    let start = if cursor == 0 {
        HEADS_START.to_vec()
    } else {
        cursors.position(cursor, database).ok_or_else(|| {
            Error::Other(format!(
                "invalid cursor: cairn remembers the last {SCAN_CURSORS_MAX} SCAN cursors; \
                 start again from 0"
            ))
        })?
    };
    let mut pattern: Option<Vec<u8>> = None;
    let mut type_name: Option<Vec<u8>> = None;
    let mut wanted = 10usize;
    let mut i = 2;
    while i < args.len() {
        let value = args.get(i + 1).ok_or(Error::Syntax)?;
        if is(arg(args, i), "MATCH") {
            if value.len() > SCAN_PATTERN_BYTES_MAX {
                return Err(Error::Limit(format!(
                    "MATCH pattern longer than {SCAN_PATTERN_BYTES_MAX} bytes"
                )));
            }
            pattern = Some(value.clone()).filter(|p| p.as_slice() != b"*");
        } else if is(arg(args, i), "COUNT") {
            let n = int(value)?;
            if n < 1 {
                return Err(Error::Syntax);
            }
            wanted = usize::try_from(n)
                .unwrap_or(SCAN_COUNT_MAX)
                .min(SCAN_COUNT_MAX);
        } else if is(arg(args, i), "TYPE") {
            type_name = Some(value.to_ascii_lowercase());
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }
    let mut found = Vec::new();
    let mut visit = |name: &[u8], value: &KvValue| {
        let kind = match value {
            KvValue::Bytes(_) => "string",
            KvValue::U64(_) => "hash",
            KvValue::V8(_) => "deno-kv",
        };
        let type_ok = type_name.as_deref().is_none_or(|t| t == kind.as_bytes());
        let match_ok = pattern.as_deref().is_none_or(|p| glob::matches(p, name));
        if type_ok && match_ok {
            found.push(Frame::Bulk(name.to_vec()));
        }
    };
    let next = walk(db, start, wanted, &mut visit).await?;
    let cursor = match next {
        None => 0,
        Some(position) => cursors.save(database, position),
    };
    Ok(Frame::Array(vec![
        Frame::text(cursor.to_string()),
        Frame::Array(found),
    ]))
}

/// RENAME key newkey: the value, its fields and its expiry move; `newkey` is replaced.
pub fn rename(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    if keyspace::rename(view, arg(args, 1), arg(args, 2))? {
        Ok(Frame::ok())
    } else {
        Err(Error::Other("no such key".into()))
    }
}

/// RENAMENX key newkey: as RENAME, only if `newkey` does not exist (1), else nothing (0).
pub fn renamenx(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let (src, dst) = (arg(args, 1), arg(args, 2));
    if keyspace::head(view, src)?.is_none() {
        return Err(Error::Other("no such key".into()));
    }
    if keyspace::head(view, dst)?.is_some() {
        return Ok(Frame::Integer(0));
    }
    keyspace::rename(view, src, dst)?;
    Ok(Frame::Integer(1))
}

/// `KEYS pattern`: every Redis key whose name matches the glob, walking the whole keyspace
/// as DBSIZE does (in chunks, each from the snapshot of its moment, so not one point in time,
/// as Redis's is). The reply is bounded like every other ([`REPLY_BYTES_MAX`]): past it, an
/// error that points to SCAN instead of a reply too large to hold.
pub async fn keys(args: &[Vec<u8>], db: &Database) -> Result<Frame> {
    let pattern = arg(args, 1);
    if pattern.len() > SCAN_PATTERN_BYTES_MAX {
        return Err(Error::Limit(format!(
            "pattern longer than {SCAN_PATTERN_BYTES_MAX} bytes"
        )));
    }
    let every = pattern == b"*";
    let mut found = Vec::new();
    let mut bytes = 0usize;
    let mut visit = |name: &[u8], _: &KvValue| {
        if bytes <= REPLY_BYTES_MAX && (every || glob::matches(pattern, name)) {
            // A bulk string's framing: `$<len>\r\n…\r\n`.
            bytes += name.len() + 16;
            found.push(Frame::Bulk(name.to_vec()));
        }
    };
    let mut start = Some(HEADS_START.to_vec());
    while let Some(position) = start {
        start = walk(db, position, 10_000, &mut visit).await?;
    }
    // Past the bound nothing more was kept; the walk went on only to end cleanly.
    if bytes > REPLY_BYTES_MAX {
        return Err(Error::Limit(format!(
            "KEYS would reply with more than {REPLY_BYTES_MAX} bytes of names; use SCAN"
        )));
    }
    Ok(Frame::Array(found))
}

/// DBSIZE: the number of Redis keys (heads); walks the whole keyspace.
pub async fn dbsize(db: &Database) -> Result<Frame> {
    let mut keys = 0usize;
    let mut visit = |_: &[u8], _: &KvValue| keys += 1;
    let mut start = Some(HEADS_START.to_vec());
    while let Some(position) = start {
        start = walk(db, position, 10_000, &mut visit).await?;
    }
    Ok(count(keys))
}
