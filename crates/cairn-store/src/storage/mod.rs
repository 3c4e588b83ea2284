//! The storage seam: everything the pipeline and the readers need from a storage engine.
//!
//! The pipeline applies one [`WriteBatch`] per commit batch (atomically, visible to later
//! [`Storage::get_latest`] calls but not yet durable), then makes everything applied durable
//! with one [`Storage::sync`]. Readers never see the latest state: they read a [`Snapshot`]
//! that the pipeline publishes only after the sync that covers it.
//!
//! Keeping `apply` and `sync` apart is what lets a test layer drop unsynced writes or fail the
//! Nth sync without touching the pipeline.

mod fault;
mod fjall_storage;
mod memory;
mod tlog;

/// What a storage failure was (full disk, failing device, ...): see [`StorageError::kind`].
pub use crate::error::StorageErrorKind;
pub use fault::FaultStorage;
pub use fjall_storage::FjallStorage;
pub use memory::MemoryStorage;
pub use tlog::decode_segment as decode_log_segment;

use std::sync::Arc;

use crate::error::StorageError;
use crate::record::{put_bytes, Reader};

/// The keyspaces of a database (the storage layout of the design brief).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyspace {
    /// Encoded key → record header + value.
    Data,
    /// expire-at (u64 BE) ‖ encoded key → empty.
    Expiry,
    /// ready-at (u64 BE) ‖ message id → queue message.
    Queue,
    /// Messages handed to a listener, by deadline.
    QueueRunning,
    /// Versionstamp → what the commit applied.
    Changelog,
    /// Format version, last commit version, database id.
    Meta,
}

impl Keyspace {
    /// Every keyspace, in a fixed order.
    pub const ALL: [Keyspace; 6] = [
        Keyspace::Data,
        Keyspace::Expiry,
        Keyspace::Queue,
        Keyspace::QueueRunning,
        Keyspace::Changelog,
        Keyspace::Meta,
    ];

    /// Stable name, used for on-disk keyspace names.
    pub fn name(self) -> &'static str {
        match self {
            Keyspace::Data => "data",
            Keyspace::Expiry => "expiry",
            Keyspace::Queue => "queue",
            Keyspace::QueueRunning => "queue_running",
            Keyspace::Changelog => "changelog",
            Keyspace::Meta => "meta",
        }
    }

    /// Position in [`Keyspace::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One change of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Insert or replace.
    Put(Keyspace, Vec<u8>, Vec<u8>),
    /// Remove.
    Delete(Keyspace, Vec<u8>),
}

/// Changes applied atomically: after a crash, all of a batch is present or none of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The changes, applied in order.
    pub ops: Vec<Op>,
}

impl WriteBatch {
    /// Adds an insert.
    pub fn put(&mut self, keyspace: Keyspace, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(Op::Put(keyspace, key, value));
    }

    /// Adds a removal.
    pub fn delete(&mut self, keyspace: Keyspace, key: Vec<u8>) {
        self.ops.push(Op::Delete(keyspace, key));
    }

    /// True when the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Layout: `count u32 | op*`, op = `01 | keyspace u8 | key | value` (put) or
    /// `02 | keyspace u8 | key` (delete), keys and values u32-length-prefixed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// The length of [`WriteBatch::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let ops: usize = self
            .ops
            .iter()
            .map(|op| match op {
                Op::Put(_, k, v) => 10 + k.len() + v.len(),
                Op::Delete(_, k) => 6 + k.len(),
            })
            .sum();
        4 + ops
    }

    /// Appends [`WriteBatch::encode`]'s output to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let count = u32::try_from(self.ops.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for op in &self.ops {
            match op {
                Op::Put(ks, k, v) => {
                    out.extend_from_slice(&[1, ks.index() as u8]);
                    put_bytes(out, k);
                    put_bytes(out, v);
                }
                Op::Delete(ks, k) => {
                    out.extend_from_slice(&[2, ks.index() as u8]);
                    put_bytes(out, k);
                }
            }
        }
    }

    /// Decodes [`WriteBatch::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let mut r = Reader::new(bytes, "tlog");
        let count = r.u32()?;
        let mut ops = Vec::with_capacity((count as usize).min(bytes.len() / 6));
        for _ in 0..count {
            let tag = r.u8()?;
            let ks_index = r.u8()?;
            let ks = *Keyspace::ALL
                .get(usize::from(ks_index))
                .ok_or_else(|| r.corrupt(format!("unknown keyspace {ks_index}")))?;
            let key = r.bytes()?.to_vec();
            ops.push(match tag {
                1 => Op::Put(ks, key, r.bytes()?.to_vec()),
                2 => Op::Delete(ks, key),
                other => return Err(r.corrupt(format!("unknown op {other}"))),
            });
        }
        r.finish()?;
        Ok(WriteBatch { ops })
    }

    /// The last u64 this batch puts under `key` in `meta`, if any.
    pub fn meta_u64(&self, key: &[u8]) -> Option<u64> {
        self.ops.iter().rev().find_map(|op| match op {
            Op::Put(Keyspace::Meta, k, v) if k.as_slice() == key => {
                Reader::new(v, "meta").u64().ok()
            }
            _ => None,
        })
    }
}

/// A key and its stored bytes.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// A range scan request: `[start, end)`, in either direction, at most `limit` pairs.
#[derive(Debug, Clone, Copy)]
pub struct Scan<'a> {
    /// Inclusive lower bound.
    pub start: &'a [u8],
    /// Exclusive upper bound.
    pub end: &'a [u8],
    /// Descending order when true.
    pub reverse: bool,
    /// Most pairs returned.
    pub limit: usize,
}

/// A consistent, immutable view of every keyspace.
pub trait Snapshot: Send + Sync {
    /// The stored bytes of `key`.
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Pairs in `[scan.start, scan.end)` in key order (descending if `scan.reverse`).
    fn scan(&self, keyspace: Keyspace, scan: Scan<'_>) -> Result<Vec<KeyValue>, StorageError>;

    /// Number of keys in the keyspace (a full scan; for open-time bookkeeping only).
    fn count(&self, keyspace: Keyspace) -> Result<u64, StorageError> {
        const CHUNK: usize = 4096;
        let end = [0xFFu8; 64];
        let mut start = Vec::new();
        let mut count = 0u64;
        loop {
            let chunk = self.scan(
                keyspace,
                Scan {
                    start: &start,
                    end: &end,
                    reverse: false,
                    limit: CHUNK,
                },
            )?;
            count += chunk.len() as u64;
            match chunk.last() {
                Some((key, _)) if chunk.len() == CHUNK => {
                    start = key.clone();
                    start.push(0);
                }
                _ => return Ok(count),
            }
        }
    }
}

/// A storage engine. Only the pipeline's evaluator thread calls `apply`; `sync` and `flush`
/// may be called from several threads at once (the writers).
pub trait Storage: Send + Sync {
    /// Applies a batch atomically. Visible to `get_latest` and later snapshots at once;
    /// durable only after the next successful `sync`.
    fn apply(&self, batch: WriteBatch) -> Result<(), StorageError>;

    /// Hands applied batches to the operating system without waiting for the disk, so that
    /// they survive a crash of the process (not of the machine).
    fn flush(&self) -> Result<(), StorageError>;

    /// Makes every batch applied before the call durable (concurrent calls may overlap; each
    /// covers what was applied before it began). A failure is final: the caller must poison
    /// the database and never retry (the kernel may have dropped the dirty pages already).
    fn sync(&self) -> Result<(), StorageError>;

    /// Reads the latest applied state, durable or not (the evaluator's view).
    fn get_latest(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// A snapshot of everything applied so far.
    fn snapshot(&self) -> Arc<dyn Snapshot>;

    /// About how many keys `keyspace` holds. This default counts them (a full scan); an
    /// engine that can estimate cheaply says so (fjall does, from its tables).
    fn approximate_len(&self, keyspace: Keyspace) -> Result<u64, StorageError> {
        self.snapshot().count(keyspace)
    }
}

/// Creates `dir` and any missing parents so that the new names survive a power loss: each
/// directory that gains an entry is synced (a new name is durable only once its directory
/// is, as POSIX puts it; ext4's journal happens to commit it with the next sync of anything,
/// but that is not a promise cairn can lean on).
pub(crate) fn create_dir_durable(dir: &std::path::Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut next = Some(dir);
    while let Some(d) = next {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d);
        next = d.parent();
    }
    std::fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        let parent = match created.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Syncs every directory below `dir`, and `dir` itself: what a library created inside it
/// without syncing the directories becomes durable before it is renamed into place.
pub(crate) fn sync_dirs_below(dir: &std::path::Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_dirs_below(&entry.path())?;
        }
    }
    std::fs::File::open(dir)?.sync_all()
}
