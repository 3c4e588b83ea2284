//! The transaction log: cairn's durability point for on-disk databases.
//!
//! Every storage batch is applied to fjall without syncing fjall's journal, then appended
//! here; the writer's one `fdatasync` per group of batches is of this log. Why not sync
//! fjall's journal instead: it grows by appending, and on ext4 an `fdatasync` that extends a
//! file must also commit the file-size change to the filesystem journal, which costs about
//! twice an `fdatasync` that overwrites blocks already written. The log therefore lives in two
//! fixed-size segment files that are written over again and again.
//!
//! Layout of a segment file (all integers big-endian):
//!
//! ```text
//! 0      "CAIRNTLG" | format u32 | segment number u64 | crc32 u32 of the 20 bytes before
//! 4096   record*: len u32 | crc32 u32 | segment number u64 | payload[len]
//! ```
//!
//! A record's crc covers its segment number, length and payload. The records of a file's
//! earlier life carry an older segment number, so reading a segment stops at the first record
//! that is zero, torn, or stale. Recovery reads the segments in number order: before the log
//! switches to a new segment the old one is synced, so a segment's unreadable tail never hides
//! a record that was acknowledged before a later segment began.
//!
//! Switching segments is also the checkpoint: fjall's journal is synced first (everything
//! applied so far is then durable in fjall), after which the older segment may be overwritten.
//! Starting the log after recovery overwrites the older file too, so it checkpoints first as
//! well (see [`Tlog::start`]).
//!
//! A segment file grows with the data. Writing into blocks a file does not have yet makes the
//! next `fdatasync` commit their allocation (and the file's new size) too, so the log never
//! writes records there: a new file is zero-filled to [`TLOG_FILL_BYTES_MIN`], and whenever
//! the writer passes half of what is filled, the file is zero-filled further (to twice that,
//! up to the segment size) and synced before any record goes into the new part. A new
//! database thus takes 1 MiB of log, not two full segments; a file that has grown once keeps
//! its size in its later lives, so a busy database pays for the fill once per file.
//!
//! Several threads may sync at once (the pipeline's writers): records are written under a
//! lock, in order, but the `fdatasync` runs outside it. Each concurrent sync uses a handle of
//! its own, opened with the segment before anything was written to it: Linux reports a failed
//! writeback once per open file description, so two syncs sharing one could each miss an error
//! the other was told of — and the one that missed it would acknowledge lost writes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::WriteBatch;
use crate::error::StorageError;

const MAGIC: &[u8; 8] = b"CAIRNTLG";
const FORMAT: u32 = 1;
/// Records start on a block boundary after the header.
const HEADER_LEN: u64 = 4096;
const RECORD_HEADER_LEN: usize = 16;
/// The two files the log alternates between.
const FILE_NAMES: [&str; 2] = ["tlog-a.seg", "tlog-b.seg"];
/// How much of a new segment file is zero-filled (header included) before its first record;
/// the file then grows ahead of the writer, doubling, up to the segment size.
pub(crate) const TLOG_FILL_BYTES_MIN: u64 = 1024 * 1024;
const _: () = assert!(HEADER_LEN < TLOG_FILL_BYTES_MIN);
const _: () = assert!(TLOG_FILL_BYTES_MIN <= crate::limits::TLOG_SEGMENT_BYTES);

/// The transaction log of one database directory.
pub(crate) struct Tlog {
    dir: PathBuf,
    segment_bytes: u64,
    /// Handles opened per segment for concurrent syncs.
    sync_handles: usize,
    /// Records appended but not yet written to the file.
    pending: Mutex<Vec<Record>>,
    io: Mutex<Io>,
}

struct Io {
    segment: Arc<Segment>,
    offset: u64,
    /// Bytes at the start of the active file that are allocated and durable (zero-filled and
    /// synced, or written whole in an earlier life): records written there overwrite blocks.
    /// At least `offset`, unless it reached the segment size (a record larger than a
    /// segment goes past it).
    filled: u64,
}

/// A record waiting to be written: a storage batch is encoded only then, by the thread that
/// writes the log (a writer), not by the evaluator that appended it.
pub(crate) enum Record {
    Batch(WriteBatch),
    #[cfg(test)]
    Bytes(Vec<u8>),
}

impl Record {
    fn len(&self) -> usize {
        match self {
            Record::Batch(batch) => batch.encoded_len(),
            #[cfg(test)]
            Record::Bytes(bytes) => bytes.len(),
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Record::Batch(batch) => batch.encode_into(out),
            #[cfg(test)]
            Record::Bytes(bytes) => out.extend_from_slice(bytes),
        }
    }
}

/// The active segment file.
struct Segment {
    /// Records are written through this handle (under the `io` lock).
    file: File,
    /// Index into [`FILE_NAMES`].
    slot: usize,
    number: u64,
    /// Handles of the same file for syncs outside the lock, one per concurrent sync.
    idle_sync_handles: Mutex<Vec<File>>,
}

impl Segment {
    /// Opens (creating if needed) the file of `slot` for segment `number`; also returns how
    /// much of it is filled.
    fn open(
        dir: &Path,
        slot: usize,
        number: u64,
        bytes: u64,
        handles: usize,
    ) -> io::Result<(Self, u64)> {
        let (file, filled) = open_segment(dir, slot, number, bytes)?;
        let path = dir.join(FILE_NAMES.get(slot).copied().unwrap_or(FILE_NAMES[0]));
        let idle_sync_handles = (0..handles)
            .map(|_| OpenOptions::new().write(true).open(&path))
            .collect::<io::Result<Vec<_>>>()?;
        let segment = Segment {
            file,
            slot,
            number,
            idle_sync_handles: Mutex::new(idle_sync_handles),
        };
        Ok((segment, filled))
    }

    /// `fdatasync` through a handle of its own; through the writing handle, under the log's
    /// lock, only if more threads sync at once than there are handles.
    fn sync(&self, io: &Mutex<Io>) -> io::Result<()> {
        let handle = self.idle_sync_handles.lock().pop();
        match handle {
            Some(handle) => {
                let result = handle.sync_data();
                self.idle_sync_handles.lock().push(handle);
                result
            }
            None => {
                let _io = io.lock();
                self.file.sync_data()
            }
        }
    }
}

/// One segment file as found on disk.
struct Found {
    number: u64,
    bytes: Vec<u8>,
}

impl Tlog {
    /// Reads every valid record left in `dir`, oldest first. Missing files are fine.
    pub(crate) fn recover(dir: &Path) -> io::Result<Vec<Vec<u8>>> {
        let mut found = Vec::new();
        for name in FILE_NAMES {
            let path = dir.join(name);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if let Some(number) = parse_header(&bytes) {
                found.push(Found { number, bytes });
            }
        }
        found.sort_by_key(|f| f.number);
        let mut payloads = Vec::new();
        for segment in &found {
            read_records(segment, &mut payloads);
        }
        Ok(payloads)
    }

    /// Starts a fresh segment after recovery, numbered above every segment on disk, in the
    /// file that does not hold the newest one. `sync_handles` is how many threads may call
    /// [`Tlog::write`] at once without waiting for one another's syncs.
    ///
    /// Runs `checkpoint` first, which must make durable by other means everything applied
    /// (recovered) so far: the chosen file's records are about to be overwritten, and they
    /// may be held nowhere else on disk. Not only the older segment's records, which were
    /// checkpointed when the log left it: after a start that wrote nothing, the file left
    /// behind holds the newest records, and the engine has them only in whatever of its
    /// journal it recovered — which may still be in the page cache, never synced by cairn.
    pub(crate) fn start(
        dir: &Path,
        segment_bytes: u64,
        sync_handles: usize,
        checkpoint: &dyn Fn() -> io::Result<()>,
    ) -> io::Result<Tlog> {
        super::create_dir_durable(dir)?;
        let mut newest: Option<(u64, usize)> = None;
        for (slot, name) in FILE_NAMES.iter().enumerate() {
            if let Ok(bytes) = read_prefix(&dir.join(name), HEADER_LEN as usize) {
                if let Some(number) = parse_header(&bytes) {
                    if newest.is_none_or(|(n, _)| number > n) {
                        newest = Some((number, slot));
                    }
                }
            }
        }
        let (number, slot) = match newest {
            Some((n, s)) => (n + 1, 1 - s),
            None => (1, 0),
        };
        checkpoint()?;
        let (segment, filled) = Segment::open(dir, slot, number, segment_bytes, sync_handles)?;
        // Once per start, whether or not the file was created now: an earlier start may have
        // created it and failed before its directory entry was durable.
        File::open(dir)?.sync_all()?;
        Ok(Tlog {
            dir: dir.to_path_buf(),
            segment_bytes,
            sync_handles,
            pending: Mutex::new(Vec::new()),
            io: Mutex::new(Io {
                segment: Arc::new(segment),
                offset: HEADER_LEN,
                filled,
            }),
        })
    }

    /// Queues one record. It reaches the file at the next [`Tlog::write`].
    pub(crate) fn append(&self, record: Record) {
        self.pending.lock().push(record);
    }

    /// Writes every queued record, then `fdatasync`s if `durable`: when this returns, every
    /// record appended before the call is durable. When the active segment is full, syncs it,
    /// runs `checkpoint` (which must make everything applied so far durable by other means)
    /// and continues in the other file.
    pub(crate) fn write(
        &self,
        durable: bool,
        checkpoint: &dyn Fn() -> io::Result<()>,
    ) -> io::Result<()> {
        let segment = {
            let mut io = self.io.lock();
            let records = std::mem::take(&mut *self.pending.lock());
            if !records.is_empty() {
                let total: u64 = records
                    .iter()
                    .map(|r| (RECORD_HEADER_LEN + r.len()) as u64)
                    .sum();
                if io.offset + total > self.segment_bytes && io.offset > HEADER_LEN {
                    self.switch_segment(&mut io, checkpoint)?;
                }
                let end = io.offset + total;
                self.fill_ahead(&mut io, end)?;
                let mut buf = Vec::with_capacity(total as usize);
                for record in &records {
                    frame(&mut buf, io.segment.number, record);
                }
                io.segment.file.write_all_at(&buf, io.offset)?;
                io.offset += total;
            }
            io.segment.clone()
        };
        // Records written by other threads before this one's are in the file already: the
        // lock orders the writes, and a sync covers every write that came before it.
        if durable {
            segment.sync(&self.io)?;
        }
        Ok(())
    }

    fn switch_segment(
        &self,
        io: &mut Io,
        checkpoint: &dyn Fn() -> io::Result<()>,
    ) -> io::Result<()> {
        io.segment.file.sync_data()?;
        checkpoint()?;
        let slot = 1 - io.segment.slot;
        let number = io.segment.number + 1;
        let (segment, filled) = Segment::open(
            &self.dir,
            slot,
            number,
            self.segment_bytes,
            self.sync_handles,
        )?;
        io.segment = Arc::new(segment);
        io.offset = HEADER_LEN;
        io.filled = filled;
        Ok(())
    }

    /// Before records ending at `end` are written: once `end` passes half of the filled
    /// length, zero-fills the file further (to twice that, and at least twice `end`, up to
    /// the segment size) and syncs the fill, so that the records, and those that follow
    /// until the next fill, overwrite allocated blocks. A sync of the log after a write into
    /// unallocated blocks would have to commit their allocation too; the fill's own sync
    /// pays that once for the whole chunk.
    fn fill_ahead(&self, io: &mut Io, end: u64) -> io::Result<()> {
        if io.filled >= self.segment_bytes || end <= io.filled / 2 {
            return Ok(());
        }
        debug_assert!(
            io.filled >= io.offset,
            "a fill never covers written records"
        );
        let target = io
            .filled
            .saturating_mul(2)
            .max(end.saturating_mul(2))
            .min(self.segment_bytes);
        let from = io.filled.max(io.offset);
        if fill_zeros(&io.segment.file, from, target)? {
            io.segment.file.sync_data()?;
        }
        io.filled = target;
        Ok(())
    }
}

/// Opens (creating if needed) the file of `slot`, zero-fills at least its first
/// [`TLOG_FILL_BYTES_MIN`] (see [`fill_zeros`]) and writes a header for segment `number`.
/// Returns the file and how much of it is filled. The header reaches the disk with the
/// segment's first synced record, or at once for a newly created or just filled file (a new
/// one's directory entry is synced too).
fn open_segment(
    dir: &Path,
    slot: usize,
    number: u64,
    segment_bytes: u64,
) -> io::Result<(File, u64)> {
    let name = FILE_NAMES.get(slot).copied().unwrap_or(FILE_NAMES[0]);
    let path = dir.join(name);
    let created = !path.exists();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    let filled = filled_len(&file)?;
    let first = TLOG_FILL_BYTES_MIN.min(segment_bytes);
    let wrote = filled < first && fill_zeros(&file, filled, first)?;
    file.write_all_at(&header(number), 0)?;
    if created {
        file.sync_all()?;
        File::open(dir)?.sync_all()?;
    } else if wrote {
        file.sync_data()?;
    }
    Ok((file, filled.max(first)))
}

/// How much of a segment file, from its start, can be written without allocating blocks:
/// its whole length if it has no holes, else nothing (a file from a build that made segment
/// files by `set_len`, or whose fill met a full disk: it is filled again as it is used,
/// holes or not). Only called on a file about to start a new segment, whose old records are
/// stale by then.
fn filled_len(file: &File) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let metadata = file.metadata()?;
    // `blocks` counts 512-byte units whatever the filesystem's block size.
    if metadata.blocks().saturating_mul(512) >= metadata.len() {
        Ok(metadata.len())
    } else {
        Ok(0)
    }
}

/// Writes zeros over `[from, to)` of `file`, extending it if needed; returns whether it did.
/// Writing into a hole allocates blocks, and an `fdatasync` after that must also commit the
/// allocation to the filesystem's journal: measured on this project's VM (ext4), a 6 KB
/// write and `fdatasync` took 269 µs p50 into holes against 193 µs over written blocks, and
/// `cairn bench --keys 1000` (whose log files were fresh) did 75 k durable writes/s instead
/// of 64 k. So the log fills ahead of its writer, like PostgreSQL's zero-filled WAL segments
/// (28 ms for 32 MiB here, paid in chunks as a file grows).
fn fill_zeros(file: &File, from: u64, to: u64) -> io::Result<bool> {
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK];
    let mut offset = from;
    while offset < to {
        let n = usize::try_from(to - offset).map_or(CHUNK, |left| left.min(CHUNK));
        match file.write_all_at(&zeros[..n], offset) {
            Ok(()) => offset += n as u64,
            // Only a speed-up: a database on a full disk still opens (and serves reads) as it
            // did before files were filled; its writes meet the full disk themselves.
            Err(e) if e.kind() == io::ErrorKind::StorageFull => {
                tracing::warn!(error = %e, "transaction log file not filled ahead: disk full");
                return Ok(offset > from);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(offset > from)
}

fn header(number: u64) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT.to_be_bytes());
    h[12..20].copy_from_slice(&number.to_be_bytes());
    let crc = crc32fast::hash(&h[..20]);
    h[20..24].copy_from_slice(&crc.to_be_bytes());
    h
}

/// The segment number of a valid header, if `bytes` starts with one.
fn parse_header(bytes: &[u8]) -> Option<u64> {
    let h = bytes.get(..24)?;
    if h.get(..8)? != MAGIC || be_u32(h.get(8..12)?)? != FORMAT {
        return None;
    }
    let crc = be_u32(h.get(20..24)?)?;
    if crc32fast::hash(h.get(..20)?) != crc {
        return None;
    }
    be_u64(h.get(12..20)?)
}

/// Appends `record` framed: header first with a placeholder crc, then the payload encoded in
/// place, then the crc over it.
fn frame(out: &mut Vec<u8>, number: u64, record: &Record) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_LEN]);
    record.encode_into(out);
    let payload = &out[start + RECORD_HEADER_LEN..];
    // Payloads are storage batches, bounded far below 4 GiB by the write limits.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let crc = record_crc(number, len, payload);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    out[start + 8..start + 16].copy_from_slice(&number.to_be_bytes());
}

fn record_crc(number: u64, len: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&number.to_be_bytes());
    hasher.update(&len.to_be_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// The records recovery would read from one segment file's bytes, each decoded as a storage
/// batch (for inspection tools and the fuzzer: the bytes are untrusted).
pub fn decode_segment(bytes: &[u8]) -> Vec<Result<WriteBatch, StorageError>> {
    let Some(number) = parse_header(bytes) else {
        return Vec::new();
    };
    let segment = Found {
        number,
        bytes: bytes.to_vec(),
    };
    let mut payloads = Vec::new();
    read_records(&segment, &mut payloads);
    payloads.iter().map(|p| WriteBatch::decode(p)).collect()
}

/// Appends the valid records of a segment to `out`, up to the first record that is zero,
/// torn, or left from the file's earlier life.
fn read_records(segment: &Found, out: &mut Vec<Vec<u8>>) {
    let mut at = HEADER_LEN as usize;
    while let Some(head) = segment.bytes.get(at..at + RECORD_HEADER_LEN) {
        let (Some(len), Some(crc), Some(number)) = (
            be_u32(&head[..4]),
            be_u32(&head[4..8]),
            be_u64(&head[8..16]),
        ) else {
            return;
        };
        let start = at + RECORD_HEADER_LEN;
        let Some(payload) = segment.bytes.get(start..start + len as usize) else {
            return;
        };
        if number != segment.number || record_crc(number, len, payload) != crc {
            return;
        }
        out.push(payload.to_vec());
        at = start + len as usize;
    }
}

fn read_prefix(path: &Path, len: usize) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut buf = vec![0u8; len];
    let n = file.read_at(&mut buf, 0)?;
    buf.truncate(n);
    Ok(buf)
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

fn be_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_checkpoint() -> io::Result<()> {
        Ok(())
    }

    #[test]
    fn records_survive_reopen_in_order() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let log = Tlog::start(dir.path(), 64 * 1024, 1, &no_checkpoint)?;
        for i in 0..10u8 {
            log.append(Record::Bytes(vec![i; 100]));
            log.write(true, &no_checkpoint)?;
        }
        drop(log);
        let got = Tlog::recover(dir.path())?;
        assert_eq!(got, (0..10u8).map(|i| vec![i; 100]).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn switching_segments_checkpoints_and_old_records_are_not_replayed() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let checkpoints = std::cell::Cell::new(0);
        let checkpoint = || {
            checkpoints.set(checkpoints.get() + 1);
            Ok(())
        };
        let log = Tlog::start(dir.path(), HEADER_LEN + 1000, 1, &no_checkpoint)?;
        for i in 0..25u8 {
            log.append(Record::Bytes(vec![i; 200]));
            log.write(true, &checkpoint)?;
        }
        drop(log);
        assert!(checkpoints.get() >= 5);
        // Only what was written after the last checkpoint is in the log; it is a suffix.
        let got = Tlog::recover(dir.path())?;
        assert!(!got.is_empty());
        let first = got[0][0];
        assert_eq!(got, (first..25u8).map(|i| vec![i; 200]).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn a_torn_record_ends_recovery() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let log = Tlog::start(dir.path(), 64 * 1024, 1, &no_checkpoint)?;
        for i in 0..3u8 {
            log.append(Record::Bytes(vec![i; 50]));
            log.write(true, &no_checkpoint)?;
        }
        drop(log);
        // Flip a byte inside the second record's payload.
        let path = dir.path().join(FILE_NAMES[0]);
        let file = OpenOptions::new().write(true).open(&path)?;
        let second_payload =
            HEADER_LEN + (RECORD_HEADER_LEN as u64 + 50) + RECORD_HEADER_LEN as u64;
        file.write_all_at(&[0xEE], second_payload + 3)?;
        assert_eq!(Tlog::recover(dir.path())?, vec![vec![0u8; 50]]);
        Ok(())
    }

    #[test]
    fn a_restart_continues_in_the_other_file_above_the_old_numbers() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let log = Tlog::start(dir.path(), 64 * 1024, 1, &no_checkpoint)?;
        log.append(Record::Bytes(b"old".to_vec()));
        log.write(true, &no_checkpoint)?;
        drop(log);
        let log = Tlog::start(dir.path(), 64 * 1024, 1, &no_checkpoint)?;
        log.append(Record::Bytes(b"new".to_vec()));
        log.write(true, &no_checkpoint)?;
        drop(log);
        // Both files hold a valid segment; replay is in number order.
        assert_eq!(
            Tlog::recover(dir.path())?,
            vec![b"old".to_vec(), b"new".to_vec()]
        );
        Ok(())
    }

    fn allocated(path: &Path) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::metadata(path)?.blocks() * 512)
    }

    /// Appends `count` records of `len` bytes each, each synced.
    fn append_synced(log: &Tlog, first: u32, count: u32, len: usize) -> io::Result<()> {
        for i in first..first + count {
            let mut record = i.to_be_bytes().to_vec();
            record.resize(len, 0xAB);
            log.append(Record::Bytes(record));
            log.write(true, &no_checkpoint)?;
        }
        Ok(())
    }

    fn numbers(records: &[Vec<u8>]) -> Vec<u32> {
        records
            .iter()
            .map(|r| u32::from_be_bytes([r[0], r[1], r[2], r[3]]))
            .collect()
    }

    #[test]
    fn a_new_log_file_is_small_and_filled() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let segment_bytes = 32 * 1024 * 1024;
        let log = Tlog::start(dir.path(), segment_bytes, 1, &no_checkpoint)?;
        let first = dir.path().join(FILE_NAMES[0]);
        let len = std::fs::metadata(&first)?.len();
        assert_eq!(len, TLOG_FILL_BYTES_MIN, "not the whole segment at once");
        assert!(allocated(&first)? >= len, "what there is has no holes");
        assert!(!dir.path().join(FILE_NAMES[1]).exists());
        drop(log);
        Ok(())
    }

    #[test]
    fn a_log_file_grows_ahead_of_its_records_up_to_the_segment_size() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let segment_bytes = 8 * 1024 * 1024;
        let log = Tlog::start(dir.path(), segment_bytes, 1, &no_checkpoint)?;
        let path = dir.path().join(FILE_NAMES[0]);
        let mut lens = vec![std::fs::metadata(&path)?.len()];
        let record = 64 * 1024;
        for step in 0..100u32 {
            append_synced(&log, step, 1, record)?;
            let written = HEADER_LEN + u64::from(step + 1) * (RECORD_HEADER_LEN + record) as u64;
            let len = std::fs::metadata(&path)?.len();
            assert!(
                len >= written,
                "records go into filled blocks: {len} < {written}"
            );
            assert!(allocated(&path)? >= len, "no holes at step {step}");
            assert!(len <= segment_bytes);
            if lens.last() != Some(&len) {
                lens.push(len);
            }
        }
        // 1 MiB, doubling while the writer passes half of it, up to the segment size.
        assert_eq!(
            lens,
            [1, 2, 4, 8].map(|mib: u64| mib * 1024 * 1024).to_vec()
        );
        drop(log);
        assert_eq!(
            numbers(&Tlog::recover(dir.path())?),
            (0..100).collect::<Vec<_>>()
        );
        Ok(())
    }

    #[test]
    fn recovery_reads_across_growth_and_restarts_in_grown_files() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let segment_bytes = 4 * 1024 * 1024;
        let record = 48 * 1024;
        let log = Tlog::start(dir.path(), segment_bytes, 1, &no_checkpoint)?;
        append_synced(&log, 0, 40, record)?;
        drop(log);
        // Recovery reads past every point where the file grew.
        assert_eq!(
            numbers(&Tlog::recover(dir.path())?),
            (0..40).collect::<Vec<_>>()
        );

        // A restart writes segment 2 into the other (new, small) file; segment 1 is kept.
        let log = Tlog::start(dir.path(), segment_bytes, 1, &no_checkpoint)?;
        append_synced(&log, 40, 5, record)?;
        drop(log);
        assert_eq!(
            numbers(&Tlog::recover(dir.path())?),
            (0..45).collect::<Vec<_>>()
        );

        // The next restart reuses the grown first file for segment 3: its stale records
        // (segment 1) beyond the new ones are not replayed, and it is not shrunk.
        let first = dir.path().join(FILE_NAMES[0]);
        let grown = std::fs::metadata(&first)?.len();
        let log = Tlog::start(dir.path(), segment_bytes, 1, &no_checkpoint)?;
        append_synced(&log, 45, 3, record)?;
        assert_eq!(std::fs::metadata(&first)?.len(), grown);
        drop(log);
        assert_eq!(
            numbers(&Tlog::recover(dir.path())?),
            (40..48).collect::<Vec<_>>()
        );
        Ok(())
    }

    #[test]
    fn a_file_with_holes_is_filled_as_it_is_used() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let segment_bytes = 3 * 1024 * 1024 + 512;
        let log = Tlog::start(dir.path(), segment_bytes, 1, &no_checkpoint)?;
        log.append(Record::Bytes(b"kept".to_vec()));
        log.write(true, &no_checkpoint)?;
        drop(log);

        // A full-size file with holes (from a build that made segment files by `set_len`):
        // it starts the next segment, and what the other file holds is still recovered.
        let second = dir.path().join(FILE_NAMES[1]);
        File::create(&second)?.set_len(segment_bytes)?;
        assert!(allocated(&second)? < segment_bytes);
        let log = Tlog::start(dir.path(), segment_bytes, 1, &no_checkpoint)?;
        assert!(allocated(&second)? >= TLOG_FILL_BYTES_MIN);
        assert_eq!(Tlog::recover(dir.path())?, vec![b"kept".to_vec()]);
        // Writing on fills the rest ahead of the records.
        append_synced(&log, 0, 30, 64 * 1024)?;
        assert!(allocated(&second)? >= segment_bytes);
        drop(log);
        let recovered = Tlog::recover(dir.path())?;
        assert_eq!(recovered[0], b"kept".to_vec());
        assert_eq!(numbers(&recovered[1..]), (0..30).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn a_record_past_the_filled_length_and_the_segment_size_is_recovered() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let segment_bytes = 256 * 1024;
        let log = Tlog::start(dir.path(), segment_bytes, 1, &no_checkpoint)?;
        append_synced(&log, 0, 1, 1000)?;
        // Larger than a segment: it starts segment 2 (in the other, new file) and goes past
        // all that was filled there; the next record starts segment 3 over segment 1.
        append_synced(&log, 1, 1, 300 * 1024)?;
        let second = dir.path().join(FILE_NAMES[1]);
        assert!(std::fs::metadata(&second)?.len() > segment_bytes);
        append_synced(&log, 2, 1, 1000)?;
        drop(log);
        assert_eq!(numbers(&Tlog::recover(dir.path())?), [1, 2]);
        Ok(())
    }

    /// Item 7 of issue 12: starting the log overwrites a file whose records the engine may
    /// hold only in an unsynced journal. Here the start after an empty run would overwrite
    /// the segment holding "r": the checkpoint must run before, and if it fails, the start
    /// fails and leaves the file alone.
    #[test]
    fn start_checkpoints_before_it_overwrites_a_segment() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let log = Tlog::start(dir.path(), 64 * 1024, 1, &no_checkpoint)?;
        log.append(Record::Bytes(b"r".to_vec()));
        log.write(true, &no_checkpoint)?;
        drop(log);
        // A restart that writes nothing: segment 2 in the other file, segment 1 kept.
        drop(Tlog::start(dir.path(), 64 * 1024, 1, &no_checkpoint)?);
        assert_eq!(Tlog::recover(dir.path())?, vec![b"r".to_vec()]);

        let first = dir.path().join(FILE_NAMES[0]);
        let segment_of_first =
            || -> Option<u64> { parse_header(&read_prefix(&first, HEADER_LEN as usize).ok()?) };
        let seen = std::cell::Cell::new(None);
        let failing = || {
            seen.set(segment_of_first());
            Err(io::Error::other("checkpoint failed"))
        };
        assert!(Tlog::start(dir.path(), 64 * 1024, 1, &failing).is_err());
        assert_eq!(
            seen.get(),
            Some(1),
            "checkpointed before the file was touched"
        );
        assert_eq!(Tlog::recover(dir.path())?, vec![b"r".to_vec()]);

        let checkpoints = std::cell::Cell::new(0);
        let counting = || {
            checkpoints.set(checkpoints.get() + 1);
            Ok(())
        };
        drop(Tlog::start(dir.path(), 64 * 1024, 1, &counting)?);
        assert_eq!(checkpoints.get(), 1);
        assert_eq!(segment_of_first(), Some(3));
        Ok(())
    }
}
