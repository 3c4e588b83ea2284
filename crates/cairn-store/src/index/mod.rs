//! Declared secondary indexes (design: `docs/design/indexes.md`; user guide:
//! `docs/indexes.md`).
//!
//! - [`catalog`]: the declared indexes, their phase and counters, and their `meta` records;
//! - [`fields`]: reading an entry's fields (V8 objects, JSON) as key parts, and numbers;
//! - [`entry_of`]: the one index entry an entry has in an index, if any;
//! - `worker`: the background thread that backfills new indexes and removes dropped ones,
//!   one pipeline request at a time;
//! - `api`: the [`Database`](crate::Database) calls (create, drop, list, wait).
//!
//! The evaluator (`pipeline/evaluator/index_ops.rs`) keeps the catalog and maintains every
//! index in the same storage batch as the entries it follows.

pub(crate) mod api;
pub(crate) mod catalog;
pub(crate) mod fields;
pub(crate) mod worker;

use cairn_model::codec::try_encode_key;
use cairn_model::{decode_key, IndexSpec, Key, KvValue};
#[cfg(test)]
use fields::parse;

use catalog::IndexDef;
use fields::Fields;

/// What an index request asks of the pipeline.
#[derive(Debug, Clone)]
pub(crate) enum IndexOp {
    /// Declare an index (build it from the start of its prefix).
    Create(IndexSpec),
    /// Stop maintaining an index and start removing its entries.
    Drop(String),
    /// One step of an index's background work: index the next keys of a building index, or
    /// remove the next entries of a dropping one.
    Step(String),
}

/// What one entry contributes to one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Contribution {
    /// The index entry's key; its first `values_end` bytes are `[NAME, values...]`, what a
    /// unique index allows once.
    Entry { key: Vec<u8>, values_end: usize },
    /// Not indexed: not an object, or a field missing or of a kind a key cannot hold.
    None,
    /// Not indexed: V8 could not decode the value.
    Undecodable,
    /// Not indexed: the index entry's key would exceed the key size limit.
    Oversized,
}

/// The index entry the entry `key` = `value` (parsed) has in `def` (the key must lie under
/// the index's prefix).
pub(crate) fn entry_of(
    def: &IndexDef,
    key: &[u8],
    value: &fields::Parsed,
    key_bytes_max: usize,
) -> Contribution {
    let parts = match fields::extract_parsed(value, &def.paths) {
        Fields::Values(parts) => parts,
        Fields::Missing => return Contribution::None,
        Fields::Undecodable => return Contribution::Undecodable,
    };
    let Ok(values) = try_encode_key(&Key(parts)) else {
        // A bigint beyond what a key holds.
        return Contribution::Oversized;
    };
    let rest = key.get(def.prefix.len()..).unwrap_or_default();
    let values_end = def.keyspace.len() + values.len();
    if values_end + rest.len() > key_bytes_max {
        return Contribution::Oversized;
    }
    let mut index_key = Vec::with_capacity(values_end + rest.len());
    index_key.extend_from_slice(&def.keyspace);
    index_key.extend_from_slice(&values);
    index_key.extend_from_slice(rest);
    Contribution::Entry {
        key: index_key,
        values_end,
    }
}

/// The value of every index entry: the key of the entry it stands for, as a V8 array (what a
/// JavaScript program passes to `get`). Keys the pipeline stores always decode; an
/// undecodable one (corruption) gives an empty array rather than a failed commit.
pub(crate) fn entry_value(key: &[u8]) -> KvValue {
    let key = decode_key(key).unwrap_or_else(|_| Key(Vec::new()));
    KvValue::V8(cairn_model::v8::encode_key_array(&key))
}

/// The entry an index entry stands for, as text: the index's prefix and the key's rest
/// (for messages).
pub(crate) fn describe_entry(def: &IndexDef, index_key: &[u8], values_end: usize) -> String {
    let mut primary = def.prefix.clone();
    primary.extend_from_slice(index_key.get(values_end..).unwrap_or_default());
    match decode_key(&primary) {
        Ok(key) => key.to_string(),
        Err(_) => format!("{primary:02x?}"),
    }
}

/// The field values of an index key, as text (for messages).
pub(crate) fn describe_values(def: &IndexDef, index_key: &[u8], values_end: usize) -> String {
    let values = index_key
        .get(def.keyspace.len()..values_end)
        .unwrap_or_default();
    match decode_key(values) {
        Ok(key) => key.to_string(),
        Err(_) => format!("{values:02x?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::{encode_key, key};

    #[test]
    fn index_keys_are_name_values_and_rest() {
        let def =
            IndexDef::new(IndexSpec::new("by_email", key!["users"], &["email"])).expect("valid");
        let primary = encode_key(&key!["users", "alice", 1i64]);
        let json = KvValue::Bytes(br#"{"email": "a@x"}"#.to_vec());
        let Contribution::Entry { key, values_end } = entry_of(&def, &primary, &parse(&json), 2048)
        else {
            panic!("indexed");
        };
        assert_eq!(key, encode_key(&key!["by_email", "a@x", "alice", 1i64]));
        assert_eq!(
            describe_entry(&def, &key, values_end),
            r#"["users", "alice", 1n]"#
        );
        assert_eq!(describe_values(&def, &key, values_end), r#"["a@x"]"#);
        assert_eq!(
            entry_of(&def, &primary, &parse(&json), 20),
            Contribution::Oversized
        );
        assert_eq!(
            entry_of(&def, &primary, &parse(&KvValue::U64(1)), 2048),
            Contribution::None
        );
        let KvValue::V8(bytes) = entry_value(&primary) else {
            panic!("a V8 value");
        };
        assert_eq!(bytes.get(..4), Some(&[0xff, 0x0f, b'A', 3][..]));
    }
}
