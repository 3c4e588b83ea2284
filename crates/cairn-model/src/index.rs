//! Declared secondary indexes: what an index is ([`IndexSpec`]), what a database reports about
//! one ([`IndexInfo`]), and the management calls both implementations offer ([`KvIndexes`]).
//!
//! An index `NAME` over prefix `P` and fields `F, G, …` holds, for every entry under `P`
//! whose value is an object with those fields, the entry `[NAME, f, g, …, ...rest]` where
//! `rest` is the entry's key after `P`; its value is the entry's whole key (a V8 array, so a
//! JavaScript program can `get` it), its versionstamp the commit's, and it expires with the
//! entry. The database writes and removes index entries in the same commit as the entry.
//! They are ordinary keys: any client reads them with `get` and `list`, and nothing but the
//! database may write under `[NAME]`. The full rules are in `docs/indexes.md`.

use std::future::Future;

use crate::codec::try_encode_key;
use crate::kv::{Kv, RequestError};
use crate::limits::{INDEX_FIELDS_MAX, INDEX_FIELD_BYTES_MAX, INDEX_NAME_BYTES_MAX};
use crate::Key;

/// The definition of a secondary index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index's name, also the first part of every index entry's key.
    pub name: String,
    /// Entries under this prefix are indexed (the prefix key itself is not).
    pub prefix: Key,
    /// The fields whose values make the index key, in order; `a.b` names field `b` of the
    /// object in field `a`.
    pub fields: Vec<String>,
    /// At most one entry per combination of field values: a write that would add a second
    /// fails as a check failure.
    pub unique: bool,
}

impl IndexSpec {
    /// An index named `name` over `prefix` on `fields`, not unique.
    pub fn new(name: impl Into<String>, prefix: Key, fields: &[&str]) -> IndexSpec {
        IndexSpec {
            name: name.into(),
            prefix,
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            unique: false,
        }
    }

    /// The same index, unique.
    pub fn unique(mut self) -> IndexSpec {
        self.unique = true;
        self
    }

    /// Checks the definition on its own (the database checks it against its other indexes):
    /// a name of 1 to [`INDEX_NAME_BYTES_MAX`] bytes of letters, digits, `_`, `-` and `.`;
    /// 1 to [`INDEX_FIELDS_MAX`] fields, each non-empty, at most [`INDEX_FIELD_BYTES_MAX`]
    /// bytes, without empty path segments; a prefix that encodes and does not lie under
    /// `[NAME]`.
    pub fn validate(&self) -> Result<(), RequestError> {
        let bad = |reason: String| Err(RequestError::Argument(reason));
        let name = &self.name;
        if name.is_empty() || name.len() > INDEX_NAME_BYTES_MAX {
            return bad(format!(
                "index name must be 1 to {INDEX_NAME_BYTES_MAX} bytes, got {}",
                name.len()
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return bad(format!(
                "index name {name:?} may hold only letters, digits, '_', '-' and '.'"
            ));
        }
        if self.fields.is_empty() || self.fields.len() > INDEX_FIELDS_MAX {
            return bad(format!(
                "an index needs 1 to {INDEX_FIELDS_MAX} fields, got {}",
                self.fields.len()
            ));
        }
        for field in &self.fields {
            if field.is_empty()
                || field.len() > INDEX_FIELD_BYTES_MAX
                || field.split('.').any(str::is_empty)
            {
                return bad(format!(
                    "field {field:?} must be 1 to {INDEX_FIELD_BYTES_MAX} bytes of names \
                     separated by single dots"
                ));
            }
        }
        let prefix = try_encode_key(&self.prefix)?;
        let own = self.keyspace();
        if prefix.starts_with(&own) || own.starts_with(&prefix) {
            return bad(format!(
                "prefix {} and the index's own keyspace [{name:?}] overlap: index entries \
                 would be indexed themselves",
                self.prefix
            ));
        }
        Ok(())
    }

    /// The encoded key `[NAME]`: every index entry's key starts with it.
    pub fn keyspace(&self) -> Vec<u8> {
        crate::codec::encode_key(&Key(vec![crate::KeyPart::String(self.name.clone())]))
    }
}

/// Where an index is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexState {
    /// Created; existing entries are being indexed in the background. Entries written since
    /// creation behind the backfill's position are indexed already; `scanned` entries of
    /// the prefix have been visited.
    Building {
        /// Entries of the prefix the backfill has visited.
        scanned: u64,
    },
    /// Every entry under the prefix is indexed; kept so by every commit.
    Ready,
    /// The backfill found two entries with the same values for a unique index. The index is
    /// no longer maintained; drop it, fix the data, create it again.
    Failed {
        /// What was found.
        reason: String,
    },
    /// Dropped; its entries are being removed in the background. Its keyspace stays
    /// reserved until they are gone.
    Dropping,
}

impl IndexState {
    /// A short name: `building`, `ready`, `failed`, `dropping`.
    pub fn name(&self) -> &'static str {
        match self {
            IndexState::Building { .. } => "building",
            IndexState::Ready => "ready",
            IndexState::Failed { .. } => "failed",
            IndexState::Dropping => "dropping",
        }
    }
}

/// What a database reports about one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    /// The definition.
    pub spec: IndexSpec,
    /// Where it is in its life.
    pub state: IndexState,
    /// Index entries it holds.
    pub entries: u64,
    /// Entries under the prefix whose value could not be decoded (not indexed).
    pub undecodable: u64,
    /// Entries under the prefix whose index key would exceed the key size limit (not
    /// indexed).
    pub oversized: u64,
}

/// Index management, offered by both implementations (the network client through cairn's
/// index extension endpoints, with a read-write token).
pub trait KvIndexes: Kv {
    /// Declares an index and starts indexing the existing entries in the background (see
    /// [`IndexState::Building`]); returns at once. Declaring an index that exists with the
    /// same definition is not an error: its current state is returned.
    fn create_index(
        &self,
        spec: IndexSpec,
    ) -> impl Future<Output = Result<IndexInfo, Self::Error>> + Send;

    /// Drops an index: it is no longer maintained at once, its entries are removed in the
    /// background. `false` if there was no such index (or it is being dropped already).
    fn drop_index(&self, name: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Every index, in name order.
    fn indexes(&self) -> impl Future<Output = Result<Vec<IndexInfo>, Self::Error>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key;

    #[test]
    fn definitions_are_checked() {
        let good = IndexSpec::new("by_email", key!["users"], &["email", "address.city"]);
        assert!(good.validate().is_ok());
        let cases = [
            IndexSpec::new("", key!["users"], &["a"]),
            IndexSpec::new("a b", key!["users"], &["a"]),
            IndexSpec::new("x", key!["users"], &[]),
            IndexSpec::new("x", key!["users"], &["a..b"]),
            IndexSpec::new("x", key![], &["a"]),
            IndexSpec::new("x", key!["x", 1i64], &["a"]),
        ];
        for spec in cases {
            assert!(spec.validate().is_err(), "{spec:?}");
        }
        assert!(IndexSpec::new("x", key!["xy"], &["a"]).validate().is_ok());
    }
}
