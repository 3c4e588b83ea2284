//! How Redis keys live among cairn's tuple keys (docs/resp.md has the user's version).
//!
//! - Redis key `name` → the one-part tuple key `[name]`: a string part when `name` is UTF-8,
//!   a bytes part otherwise (so `SET foo bar` is `kv.get(["foo"])` in Deno).
//! - A string is a `Uint8Array` value (`KvValue::Bytes`) there. Counters are strings too:
//!   the decimal digits Redis would store.
//! - A hash is a *head* `[name]` holding its field count as a `Deno.KvU64`, and one entry
//!   `[name, field]` → `Uint8Array` per field (so `kv.list({ prefix: ["user:1"] })` lists
//!   the fields). Every change to a hash rewrites its head, so the head's versionstamp is
//!   the hash's version (WATCH checks it), and the head and the fields share one expiry.
//! - Any other value at `[name]` (V8-serialized, written by Deno) is a key Redis cannot read:
//!   its type is `deno-kv`; DEL, EXISTS, TYPE and the expiry commands work on it.
//!
//! A Redis key exists exactly when its head does; tuple keys of other shapes are invisible
//! to Redis commands.

use cairn_model::{Key, KeyPart, KvValue, Versionstamp};

use crate::error::{Error, Result};
use crate::limits::HASH_FIELDS_MAX;
use crate::view::View;

/// The tuple-key part of a Redis key or hash field.
pub fn part(bytes: &[u8]) -> KeyPart {
    match std::str::from_utf8(bytes) {
        Ok(s) => KeyPart::String(s.to_owned()),
        Err(_) => KeyPart::Bytes(bytes.to_vec()),
    }
}

/// The Redis bytes of a string or bytes part.
pub fn part_bytes(part: &KeyPart) -> Option<&[u8]> {
    match part {
        KeyPart::String(s) => Some(s.as_bytes()),
        KeyPart::Bytes(b) => Some(b),
        _ => None,
    }
}

/// The head key of Redis key `name`.
pub fn head_key(name: &[u8]) -> Key {
    Key(vec![part(name)])
}

/// The key of field `field` of hash `name`.
pub fn field_key(name: &[u8], field: &[u8]) -> Key {
    Key(vec![part(name), part(field)])
}

/// The Redis name of a head key, if `key` is one.
pub fn name_of(key: &Key) -> Option<&[u8]> {
    match key.parts() {
        [only] => part_bytes(only),
        _ => None,
    }
}

/// What a Redis key holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A string.
    String(Vec<u8>),
    /// A hash with this many fields.
    Hash(u64),
    /// A value Redis cannot read (written by another client).
    Foreign,
}

impl Kind {
    /// TYPE's answer.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::String(_) => "string",
            Kind::Hash(_) => "hash",
            Kind::Foreign => "deno-kv",
        }
    }
}

/// A Redis key's head.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// What it holds.
    pub kind: Kind,
    /// When it expires, if it does.
    pub expire_at_ms: Option<u64>,
    /// Its version; `None` when written earlier in the same batch.
    pub versionstamp: Option<Versionstamp>,
}

impl Head {
    /// True if the key holds a hash (whose fields go with it when it is replaced).
    pub fn is_hash(&self) -> bool {
        matches!(self.kind, Kind::Hash(_))
    }
}

/// The head of `name`, if the key exists.
pub fn head(view: &mut dyn View, name: &[u8]) -> Result<Option<Head>> {
    let Some(slot) = view.get(&head_key(name))? else {
        return Ok(None);
    };
    let kind = match slot.value {
        KvValue::Bytes(bytes) => Kind::String(bytes),
        KvValue::U64(count) => Kind::Hash(count),
        KvValue::V8(_) => Kind::Foreign,
    };
    Ok(Some(Head {
        kind,
        expire_at_ms: slot.expire_at_ms,
        versionstamp: slot.versionstamp,
    }))
}

/// The string at `name` and its expiry; `WRONGTYPE` if the key holds something else.
pub fn get_string(view: &mut dyn View, name: &[u8]) -> Result<Option<(Vec<u8>, Option<u64>)>> {
    match head(view, name)? {
        None => Ok(None),
        Some(Head {
            kind: Kind::String(bytes),
            expire_at_ms,
            ..
        }) => Ok(Some((bytes, expire_at_ms))),
        Some(_) => Err(Error::WrongType),
    }
}

/// An expiry that has already passed deletes instead of writing.
fn live(view: &dyn View, expire_at_ms: Option<u64>) -> bool {
    expire_at_ms.is_none_or(|at| at > view.now_ms())
}

/// Makes `name` the string `value`, expiring at `expire_at_ms`, whatever it held before.
pub fn put_string(
    view: &mut dyn View,
    name: &[u8],
    value: Vec<u8>,
    expire_at_ms: Option<u64>,
) -> Result<()> {
    let was_hash = head(view, name)?.is_some_and(|h| h.is_hash());
    put_string_over(view, name, was_hash, value, expire_at_ms)
}

/// [`put_string`] for a caller that has read `name`'s head already and knows whether it
/// holds a hash (whose fields go too).
pub fn put_string_over(
    view: &mut dyn View,
    name: &[u8],
    was_hash: bool,
    value: Vec<u8>,
    expire_at_ms: Option<u64>,
) -> Result<()> {
    if was_hash {
        delete_fields(view, name)?;
    }
    let key = head_key(name);
    if !live(view, expire_at_ms) {
        return view.delete(&key);
    }
    view.put(&key, KvValue::Bytes(value), expire_at_ms)
}

/// Removes `name`, whatever it holds; true if it existed.
pub fn remove(view: &mut dyn View, name: &[u8]) -> Result<bool> {
    let Some(old) = head(view, name)? else {
        return Ok(false);
    };
    if old.is_hash() {
        delete_fields(view, name)?;
    }
    view.delete(&head_key(name))?;
    Ok(true)
}

/// Moves `src`, whatever it holds (a string, a hash and its fields, another client's value),
/// with its expiry, to `dst`, replacing what `dst` held; false if `src` does not exist.
pub fn rename(view: &mut dyn View, src: &[u8], dst: &[u8]) -> Result<bool> {
    let Some(old) = head(view, src)? else {
        return Ok(false);
    };
    if src == dst {
        return Ok(true);
    }
    let src_head = head_key(src);
    let Some(head_slot) = view.get(&src_head)? else {
        return Ok(false);
    };
    let fields = if old.is_hash() {
        view.children(&src_head, HASH_FIELDS_MAX + 1)?
    } else {
        Vec::new()
    };
    remove(view, dst)?;
    for (key, slot) in fields {
        if let [_, field] = key.parts() {
            // A field expires with its head.
            let moved = Key(vec![part(dst), field.clone()]);
            view.put(&moved, slot.value, old.expire_at_ms)?;
        }
        view.delete(&key)?;
    }
    view.put(&head_key(dst), head_slot.value, old.expire_at_ms)?;
    view.delete(&src_head)?;
    Ok(true)
}

fn delete_fields(view: &mut dyn View, name: &[u8]) -> Result<()> {
    for (key, _) in view.children(&head_key(name), HASH_FIELDS_MAX + 1)? {
        view.delete(&key)?;
    }
    Ok(())
}

/// Sets (or with `None` removes) the expiry of `name` and everything it holds; false if the
/// key does not exist. An expiry already past removes the key.
pub fn set_expiry(view: &mut dyn View, name: &[u8], expire_at_ms: Option<u64>) -> Result<bool> {
    let Some(old) = head(view, name)? else {
        return Ok(false);
    };
    if !live(view, expire_at_ms) {
        return remove(view, name);
    }
    let head_key = head_key(name);
    if old.is_hash() {
        for (key, slot) in view.children(&head_key, HASH_FIELDS_MAX + 1)? {
            view.put(&key, slot.value, expire_at_ms)?;
        }
    }
    let Some(slot) = view.get(&head_key)? else {
        return Ok(false);
    };
    view.put(&head_key, slot.value, expire_at_ms)?;
    Ok(true)
}

/// The bytes Redis sees of a stored field value: a KvU64 as its decimal digits, others raw.
pub fn value_bytes(value: KvValue) -> Vec<u8> {
    match value {
        KvValue::Bytes(b) | KvValue::V8(b) => b,
        KvValue::U64(n) => n.to_string().into_bytes(),
    }
}

/// A hash's fields in key order, and its expiry. An absent key is an empty hash;
/// `WRONGTYPE` if the key holds something else.
pub struct Hash {
    /// Field name and value, in key order.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// The hash's expiry.
    pub expire_at_ms: Option<u64>,
}

/// Reads the hash `name` whole.
pub fn get_hash(view: &mut dyn View, name: &[u8]) -> Result<Hash> {
    let expire_at_ms = match head(view, name)? {
        None => {
            return Ok(Hash {
                fields: Vec::new(),
                expire_at_ms: None,
            })
        }
        Some(Head {
            kind: Kind::Hash(_),
            expire_at_ms,
            ..
        }) => expire_at_ms,
        Some(_) => return Err(Error::WrongType),
    };
    let mut fields = Vec::new();
    for (key, slot) in view.children(&head_key(name), HASH_FIELDS_MAX + 1)? {
        if let [_, field] = key.parts() {
            if let Some(field) = part_bytes(field) {
                fields.push((field.to_vec(), value_bytes(slot.value)));
            }
        }
    }
    Ok(Hash {
        fields,
        expire_at_ms,
    })
}

/// One field of hash `name`; `WRONGTYPE` if the key holds something else.
pub fn get_field(view: &mut dyn View, name: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>> {
    match head(view, name)? {
        None => Ok(None),
        Some(Head {
            kind: Kind::Hash(_),
            ..
        }) => Ok(view
            .get(&field_key(name, field))?
            .map(|slot| value_bytes(slot.value))),
        Some(_) => Err(Error::WrongType),
    }
}

/// Writes the hash `name` from `old` (as [`get_hash`] read it) to `new` (field → value):
/// changed fields, removed fields, and the head (rewritten, so its versionstamp moves; removed
/// with the last field). The whole hash must fit in one atomic write.
pub fn put_hash(
    view: &mut dyn View,
    name: &[u8],
    old: &Hash,
    new: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
) -> Result<()> {
    check_hash_size(view, name, new)?;
    let expire = old.expire_at_ms;
    for (field, _) in &old.fields {
        if !new.contains_key(field) {
            view.delete(&field_key(name, field))?;
        }
    }
    let unchanged: std::collections::HashMap<&[u8], &[u8]> = old
        .fields
        .iter()
        .map(|(f, v)| (f.as_slice(), v.as_slice()))
        .collect();
    for (field, value) in new {
        if unchanged.get(field.as_slice()) != Some(&value.as_slice()) {
            view.put(
                &field_key(name, field),
                KvValue::Bytes(value.clone()),
                expire,
            )?;
        }
    }
    let head_key = head_key(name);
    if new.is_empty() {
        view.delete(&head_key)
    } else {
        view.put(&head_key, KvValue::U64(new.len() as u64), expire)
    }
}

/// A hash is rewritten whole by DEL, EXPIRE and PERSIST, so it must fit in one atomic write.
fn check_hash_size(
    view: &dyn View,
    name: &[u8],
    fields: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
) -> Result<()> {
    let limits = view.limits();
    let head_bytes = head_key(name).encode().len();
    let mut key_bytes = head_bytes;
    let mut bytes = head_bytes + 8;
    for (field, value) in fields {
        let key = field_key(name, field).encode().len();
        key_bytes += key;
        bytes += key + value.len();
    }
    let count_max = HASH_FIELDS_MAX.min(limits.mutations_per_write_max.saturating_sub(1));
    if fields.len() > count_max
        || key_bytes > limits.write_key_bytes_max
        || bytes > limits.write_bytes_max
    {
        return Err(Error::Limit(format!(
            "hash too large: cairn keeps a hash within one atomic write (at most {count_max} \
             fields, {} bytes of keys, {} bytes in all; this one would have {} fields, {key_bytes} \
             and {bytes} bytes)",
            limits.write_key_bytes_max,
            limits.write_bytes_max,
            fields.len()
        )));
    }
    Ok(())
}
