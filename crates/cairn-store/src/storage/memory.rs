//! In-memory storage for `:memory:` databases and tests: persistent ordered maps, so a
//! snapshot is an O(1) clone that later writes never disturb.
//!
//! It also models a disk's durability: [`Storage::sync`] records the state as durable, and
//! [`MemoryStorage::power_loss`] returns what a machine would find after losing power at that
//! moment — only what was synced. That is what a SIGKILL cannot test: the kernel keeps a killed
//! process's unsynced writes.

use std::sync::Arc;

use imbl::OrdMap;
use parking_lot::{Mutex, RwLock};

use super::{KeyValue, Keyspace, Op, Scan, Snapshot, Storage, WriteBatch};
use crate::error::StorageError;

type Map = OrdMap<Vec<u8>, Vec<u8>>;

#[derive(Clone, Default)]
struct Maps {
    maps: [Map; Keyspace::ALL.len()],
    /// Batches applied: concurrent syncs keep the newest state, not the last to arrive.
    applied: u64,
}

impl Maps {
    fn map(&self, keyspace: Keyspace) -> &Map {
        // The array is indexed by the enum's discriminant; `ALL` fixes its length.
        &self.maps[keyspace.index()]
    }
}

/// Storage that lives and dies with the process.
#[derive(Default)]
pub struct MemoryStorage {
    maps: RwLock<Maps>,
    /// The state at the last sync.
    durable: Mutex<Maps>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new store holding exactly what was durable (synced) at this moment: the state a
    /// power loss now would leave behind. This store goes on unaffected.
    pub fn power_loss(&self) -> MemoryStorage {
        let durable = self.durable.lock().clone();
        MemoryStorage {
            maps: RwLock::new(durable.clone()),
            durable: Mutex::new(durable),
        }
    }
}

impl Storage for MemoryStorage {
    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut maps = self.maps.write();
        for op in batch.ops {
            match op {
                Op::Put(ks, k, v) => {
                    maps.maps[ks.index()].insert(k, v);
                }
                Op::Delete(ks, k) => {
                    maps.maps[ks.index()].remove(&k);
                }
            }
        }
        maps.applied += 1;
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        // O(1): the maps are persistent, so the clone shares their structure.
        let current = self.maps.read().clone();
        let mut durable = self.durable.lock();
        if current.applied > durable.applied {
            *durable = current;
        }
        Ok(())
    }

    fn get_latest(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.maps.read().map(keyspace).get(key).cloned())
    }

    fn snapshot(&self) -> Arc<dyn Snapshot> {
        Arc::new(MemorySnapshot(self.maps.read().clone()))
    }
}

struct MemorySnapshot(Maps);

impl Snapshot for MemorySnapshot {
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.0.map(keyspace).get(key).cloned())
    }

    fn scan(&self, keyspace: Keyspace, scan: Scan<'_>) -> Result<Vec<KeyValue>, StorageError> {
        if scan.start >= scan.end {
            return Ok(Vec::new());
        }
        let range = self.0.map(keyspace).range::<_, [u8]>((
            std::ops::Bound::Included(scan.start),
            std::ops::Bound::Excluded(scan.end),
        ));
        let pairs = |it: &mut dyn Iterator<Item = (&Vec<u8>, &Vec<u8>)>| {
            it.take(scan.limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        Ok(if scan.reverse {
            pairs(&mut range.rev())
        } else {
            pairs(&mut { range })
        })
    }
}
