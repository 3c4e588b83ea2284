//! Writing a snapshot: every keyspace of one storage snapshot, in parts, then a trailer.

use std::sync::Arc;

use super::dest::Prefixed;
use super::format::{names, object_crc, RangeHeader, SnapshotDone, SnapshotPart};
use super::limits::{SNAPSHOT_PART_BYTES, SNAPSHOT_SCAN_CHUNK};
use super::{ArchiveConfig, ArchiveError, Catalog};
use crate::meta::{APPLIED_LSN_KEY, COMMIT_VERSION_KEY, DATABASE_ID_KEY};
use crate::record::Reader;
use crate::storage::{Keyspace, Scan, Snapshot};
use crate::Database;

/// Above every stored key (keys are bounded far below this length by the limits).
const KEY_END: [u8; 8192] = [0xFF; 8192];

/// The commit version and database id a storage snapshot holds.
pub(crate) fn snapshot_meta(snapshot: &dyn Snapshot) -> Result<(u64, [u8; 16]), ArchiveError> {
    let commit_version = match snapshot.get(Keyspace::Meta, COMMIT_VERSION_KEY)? {
        Some(bytes) => Reader::new(&bytes, "meta").u64()?,
        None => 0,
    };
    let database_id = match snapshot.get(Keyspace::Meta, DATABASE_ID_KEY)? {
        Some(bytes) => Reader::new(&bytes, "meta").array()?,
        None => [0; 16],
    };
    Ok((commit_version, database_id))
}

/// Writes `snapshot` as the snapshot at position `asn` of `range`: its parts, then its
/// trailer (the trailer makes it complete). Returns the trailer.
pub(crate) fn write_snapshot(
    dest: &Prefixed<'_>,
    range: u64,
    asn: u64,
    snapshot: &dyn Snapshot,
    time_ms: u64,
) -> Result<SnapshotDone, ArchiveError> {
    write_snapshot_to(
        &|name, bytes| dest.put(name, bytes),
        range,
        asn,
        snapshot,
        time_ms,
    )
}

/// Where [`write_snapshot_to`] hands each object: its name under the database's prefix, its
/// bytes.
pub(crate) type PutObject<'a> = dyn Fn(&str, &[u8]) -> Result<(), ArchiveError> + 'a;

/// [`write_snapshot`] handing each object (name under the database's prefix, bytes) to
/// `put` in order — parts, then the trailer: to a destination, or to a replica over the
/// network (`transfer.rs`).
pub(crate) fn write_snapshot_to(
    put: &PutObject<'_>,
    range: u64,
    asn: u64,
    snapshot: &dyn Snapshot,
    time_ms: u64,
) -> Result<SnapshotDone, ArchiveError> {
    let (commit_version, database_id) = snapshot_meta(snapshot)?;
    let mut writer = PartWriter {
        put,
        range,
        asn,
        part: SnapshotPart::default(),
        part_bytes: 0,
        crcs: Vec::new(),
        entries: 0,
    };
    for keyspace in Keyspace::ALL {
        let mut start = Vec::new();
        loop {
            let chunk = snapshot.scan(
                keyspace,
                Scan {
                    start: &start,
                    end: &KEY_END,
                    reverse: false,
                    limit: SNAPSHOT_SCAN_CHUNK,
                },
            )?;
            let full = chunk.len() == SNAPSHOT_SCAN_CHUNK;
            if let Some((last, _)) = chunk.last() {
                start = last.clone();
                start.push(0);
            }
            for (key, value) in chunk {
                // The engine's own bookkeeping: a restored database numbers its log anew.
                if keyspace == Keyspace::Meta && key == APPLIED_LSN_KEY {
                    continue;
                }
                writer.push(keyspace, key, value)?;
            }
            if !full {
                break;
            }
        }
    }
    writer.flush()?;
    let done = SnapshotDone {
        database_id,
        range,
        asn,
        commit_version,
        time_ms,
        entries: writer.entries,
        part_crcs: writer.crcs,
    };
    put(&names::snapshot_done(range, asn), &done.encode())?;
    Ok(done)
}

struct PartWriter<'a> {
    put: &'a PutObject<'a>,
    range: u64,
    asn: u64,
    part: SnapshotPart,
    part_bytes: usize,
    crcs: Vec<u32>,
    entries: u64,
}

impl PartWriter<'_> {
    fn push(
        &mut self,
        keyspace: Keyspace,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<(), ArchiveError> {
        self.part_bytes += 9 + key.len() + value.len();
        self.entries += 1;
        self.part.entries.push((keyspace, key, value));
        if self.part_bytes >= SNAPSHOT_PART_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ArchiveError> {
        if self.part.entries.is_empty() && !self.crcs.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.part).encode();
        self.part_bytes = 0;
        let number = u32::try_from(self.crcs.len()).unwrap_or(u32::MAX);
        (self.put)(&names::snapshot_part(self.range, self.asn, number), &bytes)?;
        self.crcs.push(object_crc(&bytes));
        Ok(())
    }
}

/// The reason recorded for a range that `cairn backup` opened.
pub(crate) const BACKUP_REASON: &str = "backup";

/// Serializes choosing a new range's number within the process (a server's archiver and a
/// `cairn backup --url` may open ranges of one database at once). Two processes archiving
/// one database to one destination are not supported.
static NEW_RANGE: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Opens a new range of the archive (its header object); returns its number.
pub(crate) fn new_range(
    dest: &Prefixed<'_>,
    database_id: [u8; 16],
    created_ms: u64,
    reason: &str,
) -> Result<u64, ArchiveError> {
    let _one_at_a_time = NEW_RANGE.lock();
    let range = Catalog::load(dest)?.next_range();
    let header = RangeHeader {
        database_id,
        range,
        created_ms,
        reason: reason.to_owned(),
    };
    dest.put(&names::range(range), &header.encode())?;
    Ok(range)
}

/// `cairn backup`: writes a consistent snapshot of `db`, as of its last published batch, as a
/// new range of the archive under `config`'s prefix. Writes continue meanwhile: the snapshot
/// is the storage engine's, taken in O(1), and is read while the pipeline goes on.
pub fn backup_snapshot(
    db: &Database,
    config: &ArchiveConfig,
) -> Result<SnapshotDone, ArchiveError> {
    let dest = config.prefixed();
    let snapshot: Arc<dyn Snapshot> = db.shared().published.load().snapshot.clone();
    let time_ms = db.shared().config.clock.now_ms();
    let (_, database_id) = snapshot_meta(snapshot.as_ref())?;
    let range = new_range(&dest, database_id, time_ms, BACKUP_REASON)?;
    write_snapshot(&dest, range, 0, snapshot.as_ref(), time_ms)
}
