//! On-disk storage on fjall: one fjall keyspace per cairn keyspace, one fjall write batch per
//! commit batch (atomic across keyspaces through fjall's journal), and cairn's transaction
//! log ([`super::tlog`]) as the durability point.
//!
//! Every batch gets a log sequence number (LSN), written both into the log record and, in the
//! same fjall batch, into `meta["applied_lsn"]`. Recovery on open: fjall recovers a prefix of
//! its batches (whatever of its unsynced journal reached the disk); the log then supplies every
//! batch with a higher LSN. A batch fjall already has is never applied twice, which could
//! undo part of a later batch.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::limits::{
    DATA_MEMTABLE_BYTES, ENGINE_SINGLE_WORKER_CORES_MAX, ENGINE_WORKERS_MAX, TLOG_SEGMENT_BYTES,
    WRITER_THREADS,
};
use fjall::{Database as FjallDb, KeyspaceCreateOptions, PersistMode, Readable};

use super::tlog::{Record, Tlog};
use super::{KeyValue, Keyspace, Op, Scan, Snapshot, Storage, WriteBatch};
use crate::error::StorageError;
use crate::meta::APPLIED_LSN_KEY;
use crate::record::Reader;

/// A database directory: fjall's files under `engine/`, the transaction log under `tlog/`.
pub struct FjallStorage {
    db: FjallDb,
    keyspaces: Arc<[fjall::Keyspace; Keyspace::ALL.len()]>,
    tlog: Tlog,
    /// The LSN of the next batch. Only the pipeline's evaluator thread applies batches.
    next_lsn: AtomicU64,
}

impl FjallStorage {
    /// Opens or creates the directory, recovering from the transaction log.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Self, StorageError> {
        let engine = path.join("engine");
        if !engine.exists() {
            create_engine(path, &engine, cache_bytes)?;
        }
        let db = open_engine(&engine, cache_bytes)?;
        let keyspaces = Arc::new(open_keyspaces(&db)?);
        let tlog_dir = path.join("tlog");
        let last_lsn = replay(&db, &keyspaces, &tlog_dir)?;
        // Starting the log overwrites one of its files, whose records may be held nowhere
        // else but in fjall's journal as fjall recovered it: after a crash, the previous
        // process's unsynced journal writes may be in the page cache only, and cairn never
        // synced them (it syncs its log instead). fjall happens to fsync its active journal
        // when it opens, but that is not a promise of its API; so persist explicitly (also
        // covering what `replay` just applied) before a record the log held can be lost.
        let checkpoint = || persist(&db, PersistMode::SyncAll);
        // One sync handle per writer thread, and one for the evaluator's own completions.
        let tlog = Tlog::start(
            &tlog_dir,
            TLOG_SEGMENT_BYTES,
            WRITER_THREADS + 1,
            &checkpoint,
        )
        .map_err(io_error)?;
        Ok(FjallStorage {
            db,
            keyspaces,
            tlog,
            next_lsn: AtomicU64::new(last_lsn + 1),
        })
    }

    fn write_log(&self, durable: bool) -> Result<(), StorageError> {
        // `persist` syncs fjall's active journal; journals fjall sealed before were synced
        // when it sealed them (it persists a journal before starting the next).
        let checkpoint = || persist(&self.db, PersistMode::SyncData);
        self.tlog.write(durable, &checkpoint).map_err(io_error)
    }

    fn keyspace(&self, ks: Keyspace) -> &fjall::Keyspace {
        &self.keyspaces[ks.index()]
    }
}

impl Storage for FjallStorage {
    fn apply(&self, mut batch: WriteBatch) -> Result<(), StorageError> {
        let lsn = self.next_lsn.fetch_add(1, Ordering::Relaxed);
        batch.put(
            Keyspace::Meta,
            APPLIED_LSN_KEY.to_vec(),
            lsn.to_be_bytes().to_vec(),
        );
        // Into fjall first: a record in the log must already be in fjall, so that a
        // checkpoint (fjall synced) covers every record of the segment it retires. The log
        // encodes the batch when a writer writes it out, off the evaluator's thread.
        commit(&self.db, &self.keyspaces, &batch)?;
        self.tlog.append(Record::Batch(batch));
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.write_log(false)
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.write_log(true)
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

    fn approximate_len(&self, keyspace: Keyspace) -> Result<u64, StorageError> {
        Ok(self.keyspace(keyspace).approximate_len() as u64)
    }
}

fn open_engine(dir: &Path, cache_bytes: u64) -> Result<FjallDb, StorageError> {
    Ok(FjallDb::builder(dir)
        // cairn decides when the journal is synced: once per commit batch.
        .manual_journal_persist(true)
        .worker_threads(engine_workers())
        .cache_size(cache_bytes)
        .open()?)
}

/// Background workers for the engine (see [`ENGINE_SINGLE_WORKER_CORES_MAX`]).
fn engine_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores <= ENGINE_SINGLE_WORKER_CORES_MAX {
        1
    } else {
        cores.min(ENGINE_WORKERS_MAX)
    }
}

fn open_keyspaces(db: &FjallDb) -> Result<[fjall::Keyspace; Keyspace::ALL.len()], StorageError> {
    // Fixed when a keyspace is created; a database keeps the size it was created with.
    let open = |ks: Keyspace| {
        db.keyspace(ks.name(), || match ks {
            Keyspace::Data => {
                KeyspaceCreateOptions::default().max_memtable_size(DATA_MEMTABLE_BYTES)
            }
            _ => KeyspaceCreateOptions::default(),
        })
    };
    Ok([
        open(Keyspace::Data)?,
        open(Keyspace::Expiry)?,
        open(Keyspace::Queue)?,
        open(Keyspace::QueueRunning)?,
        open(Keyspace::Changelog)?,
        open(Keyspace::Meta)?,
    ])
}

/// Builds a new database's engine directory beside its place and renames it in once it is
/// complete and synced. fjall can neither open nor create over a directory whose creation
/// was cut short (a crash, a failed fsync: measured, every later open failed with "File
/// exists"), so a half-made engine must never sit where the database is looked for; a
/// leftover staging directory is simply started again.
fn create_engine(path: &Path, engine: &Path, cache_bytes: u64) -> Result<(), StorageError> {
    let staging = path.join("engine.creating");
    let io = |e: std::io::Error| StorageError::io("creating the database", e);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io)?;
    }
    super::create_dir_durable(path).map_err(io)?;
    {
        let db = open_engine(&staging, cache_bytes)?;
        open_keyspaces(&db)?;
        db.persist(PersistMode::SyncAll)?;
    }
    // fjall does not sync the directories it creates its keyspaces in: sync them all before
    // the rename makes the engine the database's, or a power loss could keep the engine
    // directory without its keyspaces (found with the power-cut filesystem's strict mode).
    super::sync_dirs_below(&staging).map_err(io)?;
    std::fs::rename(&staging, engine).map_err(io)?;
    std::fs::File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io)
}

fn io_error(e: std::io::Error) -> StorageError {
    StorageError::io("transaction log", e)
}

/// Syncs fjall's journal, as an I/O result for the log's checkpoints; an I/O failure keeps
/// its own kind (a full disk stays a full disk).
fn persist(db: &FjallDb, mode: PersistMode) -> std::io::Result<()> {
    db.persist(mode).map_err(|e| match e {
        fjall::Error::Io(e) => e,
        other => std::io::Error::other(other),
    })
}

fn commit(
    db: &FjallDb,
    keyspaces: &[fjall::Keyspace; Keyspace::ALL.len()],
    batch: &WriteBatch,
) -> Result<(), StorageError> {
    let mut b = db.batch();
    for op in &batch.ops {
        match op {
            Op::Put(ks, k, v) => b.insert(&keyspaces[ks.index()], k.as_slice(), v.as_slice()),
            Op::Delete(ks, k) => b.remove(&keyspaces[ks.index()], k.as_slice()),
        }
    }
    b.commit()?;
    Ok(())
}

/// Applies the logged batches fjall does not have (not yet durable in fjall: the log's start
/// checkpoints them). Returns the last LSN used.
fn replay(
    db: &FjallDb,
    keyspaces: &[fjall::Keyspace; Keyspace::ALL.len()],
    dir: &Path,
) -> Result<u64, StorageError> {
    let meta = &keyspaces[Keyspace::Meta.index()];
    let mut applied = match meta.get(APPLIED_LSN_KEY)? {
        Some(bytes) => Reader::new(&bytes, "meta").u64()?,
        None => 0,
    };
    let mut replayed = 0usize;
    for payload in Tlog::recover(dir).map_err(io_error)? {
        let batch = WriteBatch::decode(&payload)?;
        let lsn = batch
            .meta_u64(APPLIED_LSN_KEY)
            .ok_or_else(|| StorageError::Corrupt {
                keyspace: "tlog",
                reason: "record without a log sequence number".into(),
            })?;
        if lsn > applied {
            commit(db, keyspaces, &batch)?;
            applied = lsn;
            replayed += 1;
        }
    }
    if replayed > 0 {
        // Made durable in fjall by the checkpoint that starts the log (`FjallStorage::open`).
        tracing::info!(replayed, "recovered batches from the transaction log");
    }
    Ok(applied)
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
