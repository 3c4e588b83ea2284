//! Hash commands. A hash is a head `[name]` (its field count, a `Deno.KvU64`) and one entry
//! `[name, field]` per field (see `keyspace`); a write reads the hash whole, so a hash is
//! bounded (`limits::HASH_FIELDS_MAX` and one atomic write's bytes).

use std::collections::BTreeMap;

use crate::cmd::{arg, int, parse_int};
use crate::error::{Error, Result};
use crate::float::{self, AddError};
use crate::frame::Frame;
use crate::keyspace::{self, Head, Kind};
use crate::view::View;

fn count(n: usize) -> Frame {
    Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Reads hash `name` whole, applies `change` to its fields, writes back what changed.
fn update<T>(
    view: &mut dyn View,
    name: &[u8],
    change: impl FnOnce(&mut BTreeMap<Vec<u8>, Vec<u8>>) -> Result<T>,
) -> Result<T> {
    let old = keyspace::get_hash(view, name)?;
    let mut fields: BTreeMap<Vec<u8>, Vec<u8>> = old.fields.iter().cloned().collect();
    let result = change(&mut fields)?;
    keyspace::put_hash(view, name, &old, &fields)?;
    Ok(result)
}

fn field_pairs(args: &[Vec<u8>], command: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if args.len() % 2 == 1 {
        return Err(Error::Arity(command.into()));
    }
    Ok(args[2..]
        .chunks(2)
        .filter_map(|pair| match pair {
            [f, v] => Some((f.clone(), v.clone())),
            _ => None,
        })
        .collect())
}

/// HSET key field value [field value ...]: how many fields are new.
pub fn hset(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let pairs = field_pairs(args, "hset")?;
    let added = update(view, arg(args, 1), |fields| {
        let mut added = 0;
        for (field, value) in pairs {
            if fields.insert(field, value).is_none() {
                added += 1;
            }
        }
        Ok(added)
    })?;
    Ok(count(added))
}

/// HMSET key field value [field value ...]
pub fn hmset(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let pairs = field_pairs(args, "hmset")?;
    update(view, arg(args, 1), |fields| {
        fields.extend(pairs);
        Ok(())
    })?;
    Ok(Frame::ok())
}

/// HSETNX key field value
pub fn hsetnx(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let (field, value) = (arg(args, 2).to_vec(), arg(args, 3).to_vec());
    let set = update(view, arg(args, 1), |fields| {
        if fields.contains_key(&field) {
            return Ok(false);
        }
        fields.insert(field, value);
        Ok(true)
    })?;
    Ok(Frame::Integer(i64::from(set)))
}

/// HGET key field
pub fn hget(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let value = keyspace::get_field(view, arg(args, 1), arg(args, 2))?;
    Ok(value.map_or(Frame::Null, Frame::Bulk))
}

/// HMGET key field [field ...]
pub fn hmget(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = arg(args, 1);
    let mut out = Vec::new();
    for field in args.iter().skip(2) {
        let value = keyspace::get_field(view, name, field)?;
        out.push(value.map_or(Frame::Null, Frame::Bulk));
    }
    Ok(Frame::Array(out))
}

/// HDEL key field [field ...]: how many were removed.
pub fn hdel(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let name = arg(args, 1);
    if keyspace::head(view, name)?.is_none() {
        return Ok(Frame::Integer(0));
    }
    let removed = update(view, name, |fields| {
        Ok(args
            .iter()
            .skip(2)
            .filter(|field| fields.remove(field.as_slice()).is_some())
            .count())
    })?;
    Ok(count(removed))
}

/// HGETALL key: a map in RESP3, field, value, … in RESP2.
pub fn hgetall(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let hash = keyspace::get_hash(view, arg(args, 1))?;
    Ok(Frame::Map(
        hash.fields
            .into_iter()
            .map(|(f, v)| (Frame::Bulk(f), Frame::Bulk(v)))
            .collect(),
    ))
}

/// HKEYS key
pub fn hkeys(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let hash = keyspace::get_hash(view, arg(args, 1))?;
    Ok(Frame::Array(
        hash.fields
            .into_iter()
            .map(|(f, _)| Frame::Bulk(f))
            .collect(),
    ))
}

/// HVALS key
pub fn hvals(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let hash = keyspace::get_hash(view, arg(args, 1))?;
    Ok(Frame::Array(
        hash.fields
            .into_iter()
            .map(|(_, v)| Frame::Bulk(v))
            .collect(),
    ))
}

/// HINCRBY key field increment
pub fn hincrby(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let field = arg(args, 2).to_vec();
    let delta = int(arg(args, 3))?;
    let new = update(view, arg(args, 1), |fields| {
        let current = match fields.get(&field) {
            None => 0,
            Some(bytes) => parse_int(bytes).ok_or(Error::HashNotInteger)?,
        };
        let new = current.checked_add(delta).ok_or(Error::Overflow)?;
        fields.insert(field, new.to_string().into_bytes());
        Ok(new)
    })?;
    Ok(Frame::Integer(new))
}

/// HINCRBYFLOAT key field increment: as INCRBYFLOAT, on a field.
pub fn hincrbyfloat(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let field = arg(args, 2).to_vec();
    let increment = arg(args, 3);
    let error = |e| match e {
        AddError::Current => Error::HashNotFloat,
        AddError::Increment => Error::NotFloat,
        AddError::NotFinite => Error::NotFinite,
    };
    // The increment first: a bad one is that error whatever the hash holds.
    float::add(b"0", increment).map_err(error)?;
    let new = update(view, arg(args, 1), |fields| {
        let current = fields.get(&field).map_or(&b"0"[..], Vec::as_slice);
        let new = float::add(current, increment).map_err(error)?;
        fields.insert(field, new.clone().into_bytes());
        Ok(new)
    })?;
    Ok(Frame::Bulk(new.into_bytes()))
}

/// HLEN key
pub fn hlen(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    match keyspace::head(view, arg(args, 1))? {
        None => Ok(Frame::Integer(0)),
        Some(Head {
            kind: Kind::Hash(n),
            ..
        }) => Ok(Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX))),
        Some(_) => Err(Error::WrongType),
    }
}

/// HEXISTS key field
pub fn hexists(args: &[Vec<u8>], view: &mut dyn View) -> Result<Frame> {
    let found = keyspace::get_field(view, arg(args, 1), arg(args, 2))?.is_some();
    Ok(Frame::Integer(i64::from(found)))
}
