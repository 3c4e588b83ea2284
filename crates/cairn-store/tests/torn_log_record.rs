//! A torn last record in the transaction log: power failed while the log's last write was
//! reaching the disk, so only a prefix of the record is there (the rest zeros, or whatever
//! the sectors held before). The record's batch was never acknowledged (its sync did not
//! return), so recovery must drop it whole and keep everything before it, and the database
//! must go on working — a later restart must not resurrect the torn record either.
//!
//! The crash images are built from real directories: the storage engine's files as they were
//! after the last acknowledged batch (the engine had not written the new batch out: its
//! journal is not synced per batch), and the log with its last record cut at each point.

use std::path::Path;

use cairn_store::storage::{FjallStorage, Keyspace, Storage, WriteBatch};

const CACHE_BYTES: u64 = 8 << 20;
const RECORD_HEADER_LEN: usize = 16;
const SEGMENT_HEADER_LEN: usize = 4096;

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:03}").into_bytes()
}

fn batch(keys: &[u32]) -> WriteBatch {
    let mut batch = WriteBatch::default();
    for &i in keys {
        batch.put(Keyspace::Data, key(i), vec![i as u8; 300]);
    }
    batch
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The log segment file with the highest segment number, and the byte range of its last
/// valid record (format in `storage/tlog.rs`).
fn last_record(tlog: &Path) -> (std::path::PathBuf, usize, usize) {
    let mut newest: Option<(u64, std::path::PathBuf, Vec<u8>)> = None;
    for entry in std::fs::read_dir(tlog).expect("read_dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read segment");
        if bytes.get(..8) != Some(b"CAIRNTLG") {
            continue;
        }
        let number = u64::from_be_bytes(bytes[12..20].try_into().expect("8 bytes"));
        if newest.as_ref().is_none_or(|(n, _, _)| number > *n) {
            newest = Some((number, path, bytes));
        }
    }
    let (number, path, bytes) = newest.expect("a log segment");
    let mut at = SEGMENT_HEADER_LEN;
    let mut last = None;
    loop {
        let head = &bytes[at..at + RECORD_HEADER_LEN];
        let len = u32::from_be_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let record_number = u64::from_be_bytes(head[8..16].try_into().expect("8 bytes"));
        if len == 0 || record_number != number {
            break;
        }
        last = Some((at, at + RECORD_HEADER_LEN + len));
        at += RECORD_HEADER_LEN + len;
    }
    let (start, end) = last.expect("the segment holds a record");
    (path, start, end)
}

fn present(storage: &FjallStorage, i: u32) -> bool {
    storage
        .snapshot()
        .get(Keyspace::Data, &key(i))
        .expect("get")
        .is_some()
}

#[test]
fn a_torn_last_record_is_dropped_whole_and_nothing_before_it_is_lost() {
    let work = tempfile::tempdir().expect("tempdir");
    let live = work.path().join("live");

    // Five acknowledged batches, then a clean close: the engine has them all.
    let storage = FjallStorage::open(&live, CACHE_BYTES).expect("open");
    for i in 1..=5 {
        storage.apply(batch(&[i])).expect("apply");
        storage.sync().expect("sync");
    }
    drop(storage);
    let engine_image = work.path().join("engine-image");
    copy_dir(&live.join("engine"), &engine_image);

    // A sixth batch of two keys reaches the log file (written, never synced): the crash
    // comes while its record is on its way to the disk.
    let storage = FjallStorage::open(&live, CACHE_BYTES).expect("reopen");
    storage.apply(batch(&[6, 7])).expect("apply");
    storage.flush().expect("write the record out");
    let log_image = work.path().join("log-image");
    copy_dir(&live.join("tlog"), &log_image);
    drop(storage);

    let (segment, start, end) = last_record(&log_image);
    let name = segment.file_name().expect("file name").to_owned();
    let step = ((end - start) / 12).max(1);
    let cuts: Vec<usize> = (start..end).step_by(step).chain([end]).collect();
    for &cut in &cuts {
        for filler in [0x00u8, 0xA5] {
            let image = work.path().join(format!("crash-{cut}-{filler}"));
            copy_dir(&engine_image, &image.join("engine"));
            copy_dir(&log_image, &image.join("tlog"));
            let path = image.join("tlog").join(&name);
            let mut bytes = std::fs::read(&path).expect("read");
            bytes[cut..end].fill(filler);
            std::fs::write(&path, bytes).expect("tear");

            let whole = cut == end;
            let recovered = FjallStorage::open(&image, CACHE_BYTES).expect("recover");
            for i in 1..=5 {
                assert!(
                    present(&recovered, i),
                    "cut {cut}: acknowledged batch {i} lost"
                );
            }
            for i in [6, 7] {
                assert_eq!(
                    present(&recovered, i),
                    whole,
                    "cut {cut} of [{start}, {end}), filler {filler:#x}: the torn batch is all \
                     or nothing"
                );
            }
            // The database goes on: a new batch is durable, and another restart brings back
            // neither the torn record nor anything stale.
            recovered.apply(batch(&[8])).expect("apply after recovery");
            recovered.sync().expect("sync after recovery");
            drop(recovered);
            let again = FjallStorage::open(&image, CACHE_BYTES).expect("second recovery");
            assert!(
                present(&again, 8),
                "cut {cut}: the batch after recovery survives"
            );
            assert!(present(&again, 5));
            assert_eq!(present(&again, 6), whole, "cut {cut}: no resurrection");
            drop(again);
            std::fs::remove_dir_all(&image).expect("clean up");
        }
    }
}
