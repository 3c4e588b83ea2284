//! The `meta` keyspace: format version, last commit version, database id, the index
//! catalog's records (`crate::index`), and the stream position and epoch history of
//! replication.
//!
//! The format version is checked on open: a directory written by a newer cairn is refused
//! with a clear error instead of being misread. A new directory is version 1; the commit that
//! declares its first secondary index raises it to 2, so that a cairn without indexes (which
//! would write under an index's prefix without maintaining it) refuses it. The last commit
//! version is written in the same storage batch as every commit, so versionstamps keep
//! increasing across restarts; so is the batch's stream position (`replication/history.rs`).
//! Position and epochs are new keys that an older directory simply lacks (read as 0), so they
//! need no format version of their own.

use crate::error::{Result, StoreError};
use crate::record::Reader;
use crate::replication::{EpochHistory, StreamPosition};
use crate::storage::{Keyspace, Storage, WriteBatch};

/// The newest on-disk format this build reads and writes: 2 adds declared secondary indexes
/// (records under `index/` in `meta`, maintained by every commit). Bump it with every
/// incompatible layout change, and keep a fixture of the old format in tests.
pub const FORMAT_VERSION: u32 = 2;
/// The format of a directory without indexes (what version 1 builds read): what a new
/// database is created with.
pub const FORMAT_VERSION_WITHOUT_INDEXES: u32 = 1;

const FORMAT_KEY: &[u8] = b"format_version";
pub(crate) const COMMIT_VERSION_KEY: &[u8] = b"commit_version";
/// The transaction-log sequence number of the last storage batch applied (on-disk storage).
pub(crate) const APPLIED_LSN_KEY: &[u8] = b"applied_lsn";
pub(crate) const DATABASE_ID_KEY: &[u8] = b"database_id";
/// The stream position of the last storage batch: `epoch u64 | position u64`.
pub(crate) const STREAM_POSITION_KEY: &[u8] = b"stream_position";
/// The epochs after the first: `replication::EpochHistory`.
pub(crate) const EPOCH_HISTORY_KEY: &[u8] = b"epoch_history";

/// What `meta` holds, read at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The last commit version used; the next batch gets one more.
    pub commit_version: u64,
    /// A random id given at creation (a UUID's 16 bytes); a replica's is its primary's.
    pub database_id: [u8; 16],
    /// The stream position of the last batch (0 before the first).
    pub stream: StreamPosition,
    /// The epochs after the first.
    pub history: EpochHistory,
}

/// Reads `meta`, creating it in a new directory (synced before returning), and refuses
/// unknown formats.
pub fn load_or_init(storage: &dyn Storage) -> Result<Meta> {
    load_or_init_as(storage, None)
}

/// [`load_or_init`], giving a new database the id `database_id` (a new replica takes its
/// primary's); an existing database with another id is refused.
pub fn load_or_init_as(storage: &dyn Storage, database_id: Option<[u8; 16]>) -> Result<Meta> {
    match storage.get_latest(Keyspace::Meta, FORMAT_KEY)? {
        Some(bytes) => {
            let mut r = Reader::new(&bytes, "meta");
            let found = r.u32()?;
            if found > FORMAT_VERSION {
                return Err(StoreError::UnsupportedFormat {
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            let commit_version = match storage.get_latest(Keyspace::Meta, COMMIT_VERSION_KEY)? {
                Some(bytes) => Reader::new(&bytes, "meta").u64()?,
                None => 0,
            };
            let id = storage
                .get_latest(Keyspace::Meta, DATABASE_ID_KEY)?
                .ok_or_else(|| r.corrupt("database id missing"))?;
            let found_id = Reader::new(&id, "meta").array()?;
            if let Some(wanted) = database_id.filter(|w| *w != found_id) {
                return Err(StoreError::Replication(format!(
                    "the directory holds database {}, not {}: it cannot follow that primary \
                     (move it away to make a new replica)",
                    uuid::Uuid::from_bytes(found_id),
                    uuid::Uuid::from_bytes(wanted)
                )));
            }
            let stream = match storage.get_latest(Keyspace::Meta, STREAM_POSITION_KEY)? {
                Some(bytes) => StreamPosition::decode(&bytes)?,
                None => StreamPosition::default(),
            };
            let history = match storage.get_latest(Keyspace::Meta, EPOCH_HISTORY_KEY)? {
                Some(bytes) => EpochHistory::decode(&bytes)?,
                None => EpochHistory::default(),
            };
            Ok(Meta {
                commit_version,
                database_id: found_id,
                stream,
                history,
            })
        }
        None => {
            let database_id = database_id.unwrap_or_else(|| *uuid::Uuid::new_v4().as_bytes());
            let mut batch = WriteBatch::default();
            put_format_version(&mut batch, FORMAT_VERSION_WITHOUT_INDEXES);
            batch.put(
                Keyspace::Meta,
                DATABASE_ID_KEY.to_vec(),
                database_id.to_vec(),
            );
            storage.apply(batch)?;
            storage.sync()?;
            Ok(Meta {
                commit_version: 0,
                database_id,
                stream: StreamPosition::default(),
                history: EpochHistory::default(),
            })
        }
    }
}

/// Adds a new format version to a storage batch.
pub fn put_format_version(batch: &mut WriteBatch, version: u32) {
    batch.put(
        Keyspace::Meta,
        FORMAT_KEY.to_vec(),
        version.to_be_bytes().to_vec(),
    );
}

/// The format version stored in `snapshot` (for tests and tools).
pub fn format_version(snapshot: &dyn crate::storage::Snapshot) -> Result<Option<u32>> {
    match snapshot.get(Keyspace::Meta, FORMAT_KEY)? {
        Some(bytes) => Ok(Some(Reader::new(&bytes, "meta").u32()?)),
        None => Ok(None),
    }
}

/// The secondary indexes recorded in `snapshot`'s `meta` (for tests and tools; a database
/// reports its published ones through `Database::indexes`).
pub fn indexes(snapshot: &dyn crate::storage::Snapshot) -> Result<Vec<cairn_model::IndexInfo>> {
    crate::index::catalog::infos(snapshot)
}

/// Adds the batch's stream position to a storage batch.
pub fn put_stream_position(batch: &mut WriteBatch, at: StreamPosition) {
    batch.put(Keyspace::Meta, STREAM_POSITION_KEY.to_vec(), at.encode());
}

/// The stream position a storage batch carries, if it carries one.
pub fn stream_position_of(batch: &WriteBatch) -> Option<Result<StreamPosition>> {
    batch.ops.iter().rev().find_map(|op| match op {
        crate::storage::Op::Put(Keyspace::Meta, k, v) if k.as_slice() == STREAM_POSITION_KEY => {
            Some(StreamPosition::decode(v).map_err(StoreError::from))
        }
        _ => None,
    })
}

/// The epoch history a storage batch writes, if it writes one (a promotion's batch).
pub fn epoch_history_of(batch: &WriteBatch) -> Option<Result<EpochHistory>> {
    batch.ops.iter().rev().find_map(|op| match op {
        crate::storage::Op::Put(Keyspace::Meta, k, v) if k.as_slice() == EPOCH_HISTORY_KEY => {
            Some(EpochHistory::decode(v).map_err(StoreError::from))
        }
        _ => None,
    })
}

/// Adds a new epoch history to a storage batch (a promotion).
pub fn put_epoch_history(batch: &mut WriteBatch, history: &EpochHistory) {
    batch.put(Keyspace::Meta, EPOCH_HISTORY_KEY.to_vec(), history.encode());
}

/// Adds the new last commit version to a commit's storage batch.
pub fn put_commit_version(batch: &mut WriteBatch, commit_version: u64) {
    batch.put(
        Keyspace::Meta,
        COMMIT_VERSION_KEY.to_vec(),
        commit_version.to_be_bytes().to_vec(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    #[test]
    fn init_then_reload() {
        let storage = MemoryStorage::new();
        let first = load_or_init(&storage).ok();
        let second = load_or_init(&storage).ok();
        assert!(first.is_some());
        assert_eq!(first, second);
    }

    #[test]
    fn newer_format_is_refused() {
        let storage = MemoryStorage::new();
        let mut batch = WriteBatch::default();
        batch.put(
            Keyspace::Meta,
            FORMAT_KEY.to_vec(),
            (FORMAT_VERSION + 1).to_be_bytes().to_vec(),
        );
        assert!(storage.apply(batch).is_ok());
        let err = load_or_init(&storage)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("format version 3"), "{err}");
    }
}
