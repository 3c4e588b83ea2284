//! On-disk storage on fjall: one fjall keyspace per cairn keyspace, one fjall write batch per
//! commit batch (atomic across keyspaces through fjall's journal), and `fdatasync` of the
//! journal as the durable sync.

use std::path::Path;
use std::sync::Arc;

use fjall::{Database as FjallDb, KeyspaceCreateOptions, PersistMode, Readable};

use super::{KeyValue, Keyspace, Op, Scan, Snapshot, Storage, WriteBatch};
use crate::error::StorageError;

/// A database directory managed by fjall.
pub struct FjallStorage {
    db: FjallDb,
    keyspaces: Arc<[fjall::Keyspace; Keyspace::ALL.len()]>,
}

impl FjallStorage {
    /// Opens or creates the directory.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Self, StorageError> {
        let db = FjallDb::builder(path)
            // cairn decides when the journal is synced: once per commit batch.
            .manual_journal_persist(true)
            .cache_size(cache_bytes)
            .open()?;
        let open = |ks: Keyspace| db.keyspace(ks.name(), KeyspaceCreateOptions::default);
        let keyspaces = [
            open(Keyspace::Data)?,
            open(Keyspace::Expiry)?,
            open(Keyspace::Queue)?,
            open(Keyspace::QueueRunning)?,
            open(Keyspace::Changelog)?,
            open(Keyspace::Meta)?,
        ];
        Ok(FjallStorage {
            db,
            keyspaces: Arc::new(keyspaces),
        })
    }

    fn keyspace(&self, ks: Keyspace) -> &fjall::Keyspace {
        &self.keyspaces[ks.index()]
    }
}

impl Storage for FjallStorage {
    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut b = self.db.batch();
        for op in batch.ops {
            match op {
                Op::Put(ks, k, v) => b.insert(self.keyspace(ks), k, v),
                Op::Delete(ks, k) => b.remove(self.keyspace(ks), k),
            }
        }
        b.commit()?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.persist(PersistMode::Buffer)?;
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn get_latest(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.keyspace(keyspace).get(key)?.map(|v| v.to_vec()))
    }

    fn snapshot(&self) -> Arc<dyn Snapshot> {
        Arc::new(FjallSnapshot {
            snapshot: self.db.snapshot(),
            keyspaces: self.keyspaces.clone(),
        })
    }
}

struct FjallSnapshot {
    snapshot: fjall::Snapshot,
    keyspaces: Arc<[fjall::Keyspace; Keyspace::ALL.len()]>,
}

impl Snapshot for FjallSnapshot {
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let ks = &self.keyspaces[keyspace.index()];
        Ok(self.snapshot.get(ks, key)?.map(|v| v.to_vec()))
    }

    fn scan(&self, keyspace: Keyspace, scan: Scan<'_>) -> Result<Vec<KeyValue>, StorageError> {
        if scan.start >= scan.end {
            return Ok(Vec::new());
        }
        let ks = &self.keyspaces[keyspace.index()];
        let iter = self.snapshot.range(ks, scan.start..scan.end);
        let mut out = Vec::with_capacity(scan.limit.min(1024));
        let mut push = |guard: fjall::Guard| -> Result<bool, StorageError> {
            let (k, v) = guard.into_inner()?;
            out.push((k.to_vec(), v.to_vec()));
            Ok(out.len() < scan.limit)
        };
        if scan.limit == 0 {
            return Ok(out);
        }
        if scan.reverse {
            for guard in iter.rev() {
                if !push(guard)? {
                    break;
                }
            }
        } else {
            for guard in iter {
                if !push(guard)? {
                    break;
                }
            }
        }
        Ok(out)
    }
}
