//! String commands. A Redis string is a `Uint8Array` at `[name]` (see `keyspace`); counters
//! are strings of decimal digits, parsed and rewritten by INCR and its kin in the database's
//! writer, so every increment is evaluated against the latest value and is durable before
//! its reply.

use crate::cmd::{arg, int, is, parse_int};
use crate::error::{Error, Result};
use crate::float::{self, AddError};
use crate::frame::Frame;
use crate::keyspace::{self, Head, Kind};
use crate::limits::REPLY_BYTES_MAX;
use crate::view::View;

fn bulk_or_null(value: Option<Vec<u8>>) -> Frame {
    value.map_or(Frame::Null, Frame::Bulk)
}

/// GET key
pub fn get(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let value = keyspace::get_string(view, arg(args, 1))?;
    Ok(bulk_or_null(value.map(|(v, _)| v)))
}

/// How SET sets the expiry.
enum Expiry {
    None,
    At(u64),
    Keep,
}

/// SET's options.
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    expiry: Expiry,
}

fn set_options(args: &[Vec<u8>], now_ms: u64) -> Result<SetOptions> {
    let mut options = SetOptions {
        nx: false,
        xx: false,
        get: false,
        expiry: Expiry::None,
    };
    let mut expiry_given = false;
    let mut i = 3;
    while i < args.len() {
        let option = arg(args, i);
        if is(option, "NX") && !options.xx {
            options.nx = true;
        } else if is(option, "XX") && !options.nx {
            options.xx = true;
        } else if is(option, "GET") {
            options.get = true;
        } else if is(option, "KEEPTTL") && !expiry_given {
            options.expiry = Expiry::Keep;
            expiry_given = true;
        } else if ["EX", "PX", "EXAT", "PXAT"].iter().any(|w| is(option, w)) && !expiry_given {
            let value = args.get(i + 1).ok_or(Error::Syntax)?;
            let n = int(value)?;
            let unit = option.to_ascii_uppercase();
            options.expiry = Expiry::At(expire_at(&unit, n, now_ms, "set")?);
            expiry_given = true;
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    Ok(options)
}

/// The absolute expiry of `n` in `unit` (EX, PX, EXAT, PXAT); `command` names the command in
/// the error. Non-positive or overflowing times are Redis's "invalid expire time".
pub fn expire_at(unit: &[u8], n: i64, now_ms: u64, command: &str) -> Result<u64> {
    let invalid = || Error::InvalidExpire(command.to_owned());
    if n <= 0 {
        return Err(invalid());
    }
    let n = u64::try_from(n).map_err(|_| invalid())?;
    let at = match unit {
        b"EX" => n.checked_mul(1000).and_then(|ms| ms.checked_add(now_ms)),
        b"PX" => n.checked_add(now_ms),
        b"EXAT" => n.checked_mul(1000),
        _ => Some(n),
    };
    at.filter(|&at| at <= i64::MAX as u64).ok_or_else(invalid)
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`
pub fn set(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let options = set_options(args, view.now_ms())?;
    let name = arg(args, 1);
    let old = keyspace::head(view, name)?;
    let reply = match &old {
        _ if !options.get => Frame::ok(),
        Some(Head {
            kind: Kind::String(v),
            ..
        }) => bulk_or_null(Some(v.clone())),
        Some(_) => return Err(Error::WrongType),
        None => bulk_or_null(None),
    };
    if (options.nx && old.is_some()) || (options.xx && old.is_none()) {
        return Ok(if options.get { reply } else { Frame::Null });
    }
    let expire_at_ms = match options.expiry {
        Expiry::None => None,
        Expiry::At(at) => Some(at),
        Expiry::Keep => old.as_ref().and_then(|h| h.expire_at_ms),
    };
    let was_hash = old.as_ref().is_some_and(Head::is_hash);
    keyspace::put_string_over(view, name, was_hash, arg(args, 2).to_vec(), expire_at_ms)?;
    Ok(reply)
}

/// SETEX key seconds value: SET with EX, the form caching libraries use.
pub fn setex(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    set_expiring(args, view, b"EX", "setex")
}

/// PSETEX key milliseconds value: SET with PX.
pub fn psetex(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    set_expiring(args, view, b"PX", "psetex")
}

/// `<command> key <n unit> value`: replaces whatever the key held (a hash too), as SET does.
fn set_expiring(
    args: &[Vec<u8>],
    view: &mut dyn View,
    unit: &[u8],
    command: &str,
) -> Result<Frame> {
    let at = expire_at(unit, int(arg(args, 2))?, view.now_ms(), command)?;
    keyspace::put_string(view, arg(args, 1), arg(args, 3).to_vec(), Some(at))?;
    Ok(Frame::ok())
}

/// SETNX key value
pub fn setnx(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = arg(args, 1);
    if keyspace::head(view, name)?.is_some() {
        return Ok(Frame::Integer(0));
    }
    keyspace::put_string(view, name, arg(args, 2).to_vec(), None)?;
    Ok(Frame::Integer(1))
}

/// GETSET key value
pub fn getset(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = arg(args, 1);
    let old = keyspace::get_string(view, name)?;
    keyspace::put_string(view, name, arg(args, 2).to_vec(), None)?;
    Ok(bulk_or_null(old.map(|(v, _)| v)))
}

/// GETDEL key
pub fn getdel(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = arg(args, 1);
    let old = keyspace::get_string(view, name)?;
    if old.is_some() {
        keyspace::remove(view, name)?;
    }
    Ok(bulk_or_null(old.map(|(v, _)| v)))
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]: GET that also sets or removes the
/// expiry (a write when it has an option).
pub fn getex(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = arg(args, 1);
    let expiry = match &args[2.min(args.len())..] {
        [] => None,
        [option] if is(option, "PERSIST") => Some(None),
        [option, n] if ["EX", "PX", "EXAT", "PXAT"].iter().any(|w| is(option, w)) => {
            let unit = option.to_ascii_uppercase();
            Some(Some(expire_at(&unit, int(n)?, view.now_ms(), "getex")?))
        }
        _ => return Err(Error::Syntax),
    };
    let Some((value, _)) = keyspace::get_string(view, name)? else {
        return Ok(Frame::Null);
    };
    if let Some(expire_at_ms) = expiry {
        keyspace::set_expiry(view, name, expire_at_ms)?;
    }
    Ok(Frame::Bulk(value))
}

/// GETRANGE key start end: the bytes from `start` to `end`, both included, negative counting
/// from the end, clamped to the string (Redis's rules; an empty string when nothing is left).
pub fn getrange(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let (start, end) = (int(arg(args, 2))?, int(arg(args, 3))?);
    let value = keyspace::get_string(view, arg(args, 1))?.map_or_else(Vec::new, |(v, _)| v);
    let len = i64::try_from(value.len()).unwrap_or(i64::MAX);
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return Ok(Frame::Bulk(Vec::new()));
    }
    let from_end = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(len - 1));
    if start > end {
        return Ok(Frame::Bulk(Vec::new()));
    }
    let range = usize::try_from(start).unwrap_or(0)..=usize::try_from(end).unwrap_or(0);
    Ok(Frame::Bulk(value.get(range).unwrap_or_default().to_vec()))
}

/// MGET key [key ...]: keys that hold no string are nil, as in Redis.
pub fn mget(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let mut out = Vec::with_capacity(args.len().saturating_sub(1));
    let mut bytes = 0usize;
    for name in args.iter().skip(1) {
        let value = match keyspace::head(view, name)? {
            Some(Head {
                kind: Kind::String(v),
                ..
            }) => Some(v),
            _ => None,
        };
        bytes += value.as_ref().map_or(8, |v| v.len() + 16);
        if bytes > REPLY_BYTES_MAX {
            return Err(Error::Limit(format!(
                "reply too large: MGET of these keys would exceed {REPLY_BYTES_MAX} bytes; \
                 ask for fewer keys at a time"
            )));
        }
        out.push(bulk_or_null(value));
    }
    Ok(Frame::Array(out))
}

fn pairs(args: &[Vec<u8>], command: &str) -> Result<()> {
    if args.len().is_multiple_of(2) {
        return Err(Error::Arity(command.into()));
    }
    Ok(())
}

/// MSET key value [key value ...]
pub fn mset(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    pairs(args, "mset")?;
    for pair in args[1..].chunks(2) {
        if let [name, value] = pair {
            keyspace::put_string(view, name, value.clone(), None)?;
        }
    }
    Ok(Frame::ok())
}

/// MSETNX key value [key value ...]: all or none.
pub fn msetnx(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    pairs(args, "msetnx")?;
    for pair in args[1..].chunks(2) {
        if keyspace::head(view, &pair[0])?.is_some() {
            return Ok(Frame::Integer(0));
        }
    }
    mset(args, view)?;
    Ok(Frame::Integer(1))
}

/// Adds `delta` to the integer string at `name` (absent = 0), keeping its expiry.
fn add(view: &mut dyn View, name: &[u8], delta: i64) -> Result<Frame> {
    let (current, expire_at_ms) = match keyspace::get_string(view, name)? {
        None => (0, None),
        Some((bytes, expire)) => (parse_int(&bytes).ok_or(Error::NotInteger)?, expire),
    };
    let new = current.checked_add(delta).ok_or(Error::Overflow)?;
    // A string or nothing (get_string refused anything else): no hash fields to remove.
    keyspace::put_string_over(
        view,
        name,
        false,
        new.to_string().into_bytes(),
        expire_at_ms,
    )?;
    Ok(Frame::Integer(new))
}

/// INCR key
pub fn incr(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    add(view, arg(args, 1), 1)
}

/// INCRBY key increment
pub fn incrby(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    add(view, arg(args, 1), int(arg(args, 2))?)
}

/// DECR key
pub fn decr(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    add(view, arg(args, 1), -1)
}

/// DECRBY key decrement
pub fn decrby(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let delta = int(arg(args, 2))?.checked_neg().ok_or(Error::Overflow)?;
    add(view, arg(args, 1), delta)
}

/// INCRBYFLOAT key increment: decimal arithmetic as Redis prints it (`float.rs`), keeping
/// the expiry; the reply is the new value as a bulk string.
pub fn incrbyfloat(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = arg(args, 1);
    let (current, expire_at_ms) = match keyspace::get_string(view, name)? {
        None => (b"0".to_vec(), None),
        Some(found) => found,
    };
    let new = float::add(&current, arg(args, 2)).map_err(|e| match e {
        AddError::Current | AddError::Increment => Error::NotFloat,
        AddError::NotFinite => Error::NotFinite,
    })?;
    // A string or nothing (get_string refused anything else).
    keyspace::put_string_over(view, name, false, new.clone().into_bytes(), expire_at_ms)?;
    Ok(Frame::Bulk(new.into_bytes()))
}

/// APPEND key value: keeps the expiry.
pub fn append(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = arg(args, 1);
    let (mut value, expire_at_ms) = keyspace::get_string(view, name)?.unwrap_or_default();
    value.extend_from_slice(arg(args, 2));
    let len = value.len();
    // A string or nothing (get_string refused anything else).
    keyspace::put_string_over(view, name, false, value, expire_at_ms)?;
    Ok(Frame::Integer(i64::try_from(len).unwrap_or(i64::MAX)))
}

/// STRLEN key
pub fn strlen(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let len = keyspace::get_string(view, arg(args, 1))?.map_or(0, |(v, _)| v.len());
    Ok(Frame::Integer(i64::try_from(len).unwrap_or(i64::MAX)))
}
