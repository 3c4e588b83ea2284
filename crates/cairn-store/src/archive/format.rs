//! The archive's objects, byte by byte (drawn in `docs/design/backup.md`).
//!
//! Every object is `magic "CAIRNARC" | version u16 | kind u8 | 0u8 | body | crc32 u32`, all
//! integers big-endian; the CRC-32 covers every byte before it, so a torn or altered object
//! fails to decode instead of being restored. Object names sort in stream order: numbers are
//! zero-padded lowercase hex.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::record::{put_bytes, Reader};
use crate::storage::Keyspace;

use super::ArchiveError;

/// Opens every archive object.
pub const MAGIC: &[u8; 8] = b"CAIRNARC";
/// The archive format this build writes and reads. Bump it with every layout change.
pub const ARCHIVE_FORMAT_VERSION: u16 = 1;
/// Magic, version, kind and a zero byte.
const HEADER_BYTES: usize = 12;

/// What an object holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A range's opening record (why it starts).
    Range = 1,
    /// Consecutive log batches.
    Segment = 2,
    /// Part of a snapshot's entries.
    SnapshotPart = 3,
    /// A snapshot's last object: its position and the checksums of its parts.
    SnapshotDone = 4,
    /// Replication stream: the primary's opening frame (`replication/wire.rs`).
    StreamHello = 5,
    /// Replication stream: consecutive records of one epoch.
    StreamRecords = 6,
    /// Replication stream: the primary's newest position while nothing else is sent.
    StreamHeartbeat = 7,
}

/// Frames `body` as an object of `kind`.
pub(crate) fn seal(kind: Kind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&ARCHIVE_FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&[kind as u8, 0]);
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Checks an object's frame and returns its body.
pub(crate) fn open<'a>(name: &str, kind: Kind, bytes: &'a [u8]) -> Result<&'a [u8], ArchiveError> {
    let corrupt = |reason: String| ArchiveError::Corrupt {
        object: name.to_owned(),
        reason,
    };
    let Some((framed, crc)) = bytes.split_last_chunk::<4>() else {
        return Err(corrupt(format!("{} bytes: too short", bytes.len())));
    };
    let Some((header, body)) = framed.split_first_chunk::<HEADER_BYTES>() else {
        return Err(corrupt(format!("{} bytes: too short", bytes.len())));
    };
    if header.get(..8) != Some(MAGIC.as_slice()) {
        return Err(corrupt("not a cairn archive object (bad magic)".into()));
    }
    let version = u16::from_be_bytes([header[8], header[9]]);
    if version != ARCHIVE_FORMAT_VERSION {
        return Err(ArchiveError::UnsupportedFormat {
            object: name.to_owned(),
            found: version,
            supported: ARCHIVE_FORMAT_VERSION,
        });
    }
    if crc32fast::hash(framed) != u32::from_be_bytes(*crc) {
        return Err(corrupt("checksum mismatch (torn or altered object)".into()));
    }
    if header[10] != kind as u8 {
        return Err(corrupt(format!(
            "holds object kind {}, expected {}",
            header[10], kind as u8
        )));
    }
    Ok(body)
}

/// The CRC-32 of a whole object as stored (snapshot trailers list their parts' checksums).
pub fn object_crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The kind byte of a framed object, unchecked (to choose its decoder).
pub(crate) fn kind_byte(bytes: &[u8]) -> Option<u8> {
    bytes.get(10).copied()
}

pub(crate) fn reader_error(name: &str) -> impl Fn(crate::error::StorageError) -> ArchiveError + '_ {
    move |e| ArchiveError::Corrupt {
        object: name.to_owned(),
        reason: e.to_string(),
    }
}

/// A range's opening object: a restorable range is a snapshot plus the log after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeHeader {
    /// The database archived (its id, fixed at creation).
    pub database_id: [u8; 16],
    /// The range's number: ranges of one database count up from 1.
    pub range: u64,
    /// When the range was opened, ms since the epoch.
    pub created_ms: u64,
    /// Why it was opened (first archive, restart with unshipped batches, overflow, backup).
    pub reason: String,
}

impl RangeHeader {
    /// Body: `database_id [16] | range u64 | created_ms u64 | reason (u32 len | utf-8)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(40 + self.reason.len());
        body.extend_from_slice(&self.database_id);
        body.extend_from_slice(&self.range.to_be_bytes());
        body.extend_from_slice(&self.created_ms.to_be_bytes());
        put_bytes(&mut body, self.reason.as_bytes());
        seal(Kind::Range, &body)
    }

    /// Decodes [`RangeHeader::encode`]'s output.
    pub fn decode(name: &str, bytes: &[u8]) -> Result<Self, ArchiveError> {
        let body = open(name, Kind::Range, bytes)?;
        let e = reader_error(name);
        let mut r = Reader::new(body, "archive");
        let header = RangeHeader {
            database_id: r.array().map_err(&e)?,
            range: r.u64().map_err(&e)?,
            created_ms: r.u64().map_err(&e)?,
            reason: String::from_utf8_lossy(r.bytes().map_err(&e)?).into_owned(),
        };
        r.finish().map_err(&e)?;
        Ok(header)
    }
}

/// One storage batch in the log stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Position in its range's stream: 1, 2, 3, … with no gaps (a range's first snapshot is
    /// at position 0).
    pub asn: u64,
    /// The commit version the batch used (its writes' versionstamps are this version and an
    /// index), or 0 for a batch that committed no write (changelog trimming, stale expiry
    /// index entries).
    pub commit_version: u64,
    /// When the batch was published, ms since the epoch.
    pub time_ms: u64,
    /// The storage batch as `WriteBatch::encode` lays it out (the transaction log's payload).
    pub batch: std::sync::Arc<[u8]>,
}

/// Consecutive records of one range: the unit shipped to the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The database archived.
    pub database_id: [u8; 16],
    /// The range the records belong to.
    pub range: u64,
    /// The records, with consecutive `asn`s.
    pub records: Vec<LogRecord>,
}

impl Segment {
    /// Body: `database_id [16] | range u64 | count u32 | record*`, record =
    /// `asn u64 | commit_version u64 | time_ms u64 | batch (u32 len | bytes)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(28 + records_len(&self.records));
        body.extend_from_slice(&self.database_id);
        body.extend_from_slice(&self.range.to_be_bytes());
        encode_records(&mut body, &self.records);
        seal(Kind::Segment, &body)
    }

    /// Decodes [`Segment::encode`]'s output; refuses records out of sequence.
    pub fn decode(name: &str, bytes: &[u8]) -> Result<Self, ArchiveError> {
        let body = open(name, Kind::Segment, bytes)?;
        let e = reader_error(name);
        let mut r = Reader::new(body, "archive");
        let database_id = r.array().map_err(&e)?;
        let range = r.u64().map_err(&e)?;
        let records = decode_records(name, &mut r)?;
        r.finish().map_err(&e)?;
        Ok(Segment {
            database_id,
            range,
            records,
        })
    }
}

/// Bytes of `records`' batches and fixed fields, for sizing a buffer.
pub(crate) fn records_len(records: &[LogRecord]) -> usize {
    records.iter().map(|r| 28 + r.batch.len()).sum()
}

/// `count u32 | record*`, record = `asn u64 | commit_version u64 | time_ms u64 |
/// batch (u32 len | bytes)`: the log records of a segment, and of a replication stream frame.
pub(crate) fn encode_records(body: &mut Vec<u8>, records: &[LogRecord]) {
    let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
    body.extend_from_slice(&count.to_be_bytes());
    for record in records {
        body.extend_from_slice(&record.asn.to_be_bytes());
        body.extend_from_slice(&record.commit_version.to_be_bytes());
        body.extend_from_slice(&record.time_ms.to_be_bytes());
        put_bytes(body, &record.batch);
    }
}

/// Decodes [`encode_records`]' output; refuses records out of sequence.
pub(crate) fn decode_records(
    name: &str,
    r: &mut Reader<'_>,
) -> Result<Vec<LogRecord>, ArchiveError> {
    let e = reader_error(name);
    let count = r.u32().map_err(&e)?;
    // A record takes at least 28 bytes: a lying count allocates no more than the input.
    let mut records: Vec<LogRecord> = Vec::with_capacity((count as usize).min(r.remaining() / 28));
    for _ in 0..count {
        let record = LogRecord {
            asn: r.u64().map_err(&e)?,
            commit_version: r.u64().map_err(&e)?,
            time_ms: r.u64().map_err(&e)?,
            batch: r.bytes().map_err(&e)?.into(),
        };
        if let Some(previous) = records.last().map(|p| p.asn) {
            if previous.checked_add(1) != Some(record.asn) {
                return Err(ArchiveError::Corrupt {
                    object: name.to_owned(),
                    reason: format!("record {} follows record {previous}", record.asn),
                });
            }
        }
        records.push(record);
    }
    Ok(records)
}

/// Entries of one part of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotPart {
    /// `(keyspace, key, value)` in keyspace then key order.
    pub entries: Vec<(Keyspace, Vec<u8>, Vec<u8>)>,
}

impl SnapshotPart {
    /// Body: `count u32 | entry*`, entry = `keyspace u8 | key (u32 len | bytes) |
    /// value (u32 len | bytes)`.
    pub fn encode(&self) -> Vec<u8> {
        let bytes: usize = self
            .entries
            .iter()
            .map(|(_, k, v)| 9 + k.len() + v.len())
            .sum();
        let mut body = Vec::with_capacity(4 + bytes);
        let count = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        body.extend_from_slice(&count.to_be_bytes());
        for (keyspace, key, value) in &self.entries {
            body.push(keyspace.index() as u8);
            put_bytes(&mut body, key);
            put_bytes(&mut body, value);
        }
        seal(Kind::SnapshotPart, &body)
    }

    /// Decodes [`SnapshotPart::encode`]'s output.
    pub fn decode(name: &str, bytes: &[u8]) -> Result<Self, ArchiveError> {
        let body = open(name, Kind::SnapshotPart, bytes)?;
        let e = reader_error(name);
        let mut r = Reader::new(body, "archive");
        let count = r.u32().map_err(&e)?;
        let mut entries = Vec::with_capacity((count as usize).min(body.len() / 9));
        for _ in 0..count {
            let index = r.u8().map_err(&e)?;
            let keyspace =
                *Keyspace::ALL
                    .get(usize::from(index))
                    .ok_or_else(|| ArchiveError::Corrupt {
                        object: name.to_owned(),
                        reason: format!("unknown keyspace {index}"),
                    })?;
            let key = r.bytes().map_err(&e)?.to_vec();
            entries.push((keyspace, key, r.bytes().map_err(&e)?.to_vec()));
        }
        r.finish().map_err(&e)?;
        Ok(SnapshotPart { entries })
    }
}

/// A snapshot's trailer, written after all its parts: a snapshot without one is incomplete
/// (the writer stopped) and is never restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDone {
    /// The database archived.
    pub database_id: [u8; 16],
    /// The range the snapshot belongs to.
    pub range: u64,
    /// The snapshot holds every batch of the range up to this position (it may hold a few
    /// later ones too: replaying them again is harmless, see the design document).
    pub asn: u64,
    /// The database's last commit version in the snapshot (read from the snapshot itself).
    pub commit_version: u64,
    /// When it was taken, ms since the epoch (after the state it holds was published).
    pub time_ms: u64,
    /// Entries in all parts.
    pub entries: u64,
    /// CRC-32 of each part object, in part order.
    pub part_crcs: Vec<u32>,
}

impl SnapshotDone {
    /// Body: `database_id [16] | range u64 | asn u64 | commit_version u64 | time_ms u64 |
    /// entries u64 | parts u32 | crc u32 * parts`.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(60 + 4 * self.part_crcs.len());
        body.extend_from_slice(&self.database_id);
        for n in [
            self.range,
            self.asn,
            self.commit_version,
            self.time_ms,
            self.entries,
        ] {
            body.extend_from_slice(&n.to_be_bytes());
        }
        let parts = u32::try_from(self.part_crcs.len()).unwrap_or(u32::MAX);
        body.extend_from_slice(&parts.to_be_bytes());
        for crc in &self.part_crcs {
            body.extend_from_slice(&crc.to_be_bytes());
        }
        seal(Kind::SnapshotDone, &body)
    }

    /// Decodes [`SnapshotDone::encode`]'s output.
    pub fn decode(name: &str, bytes: &[u8]) -> Result<Self, ArchiveError> {
        let body = open(name, Kind::SnapshotDone, bytes)?;
        let e = reader_error(name);
        let mut r = Reader::new(body, "archive");
        let database_id = r.array().map_err(&e)?;
        let (range, asn) = (r.u64().map_err(&e)?, r.u64().map_err(&e)?);
        let (commit_version, time_ms) = (r.u64().map_err(&e)?, r.u64().map_err(&e)?);
        let entries = r.u64().map_err(&e)?;
        let parts = r.u32().map_err(&e)?;
        let mut part_crcs = Vec::with_capacity((parts as usize).min(body.len() / 4));
        for _ in 0..parts {
            part_crcs.push(r.u32().map_err(&e)?);
        }
        r.finish().map_err(&e)?;
        Ok(SnapshotDone {
            database_id,
            range,
            asn,
            commit_version,
            time_ms,
            entries,
            part_crcs,
        })
    }
}

/// Object names under a database's prefix (`<database>/`).
pub mod names {
    /// The range's directory: `r<range:016x>/`.
    pub fn range_dir(range: u64) -> String {
        format!("r{range:016x}/")
    }

    /// `r<range>/range`.
    pub fn range(range: u64) -> String {
        format!("{}range", range_dir(range))
    }

    /// `r<range>/log-<first asn:016x>-<last asn:016x>`.
    pub fn segment(range: u64, first: u64, last: u64) -> String {
        format!("{}log-{first:016x}-{last:016x}", range_dir(range))
    }

    /// `r<range>/snap-<asn:016x>/part-<n:08x>`.
    pub fn snapshot_part(range: u64, asn: u64, part: u32) -> String {
        format!("{}snap-{asn:016x}/part-{part:08x}", range_dir(range))
    }

    /// `r<range>/snap-<asn:016x>/done`.
    pub fn snapshot_done(range: u64, asn: u64) -> String {
        format!("{}snap-{asn:016x}/done", range_dir(range))
    }

    /// What a name under a database's prefix denotes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Parsed {
        /// A range's opening object.
        Range(u64),
        /// A log segment: range, first and last position.
        Segment(u64, u64, u64),
        /// A snapshot part: range, position, part number.
        SnapshotPart(u64, u64, u32),
        /// A snapshot trailer: range, position.
        SnapshotDone(u64, u64),
    }

    fn hex64(text: &str) -> Option<u64> {
        (text.len() == 16)
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
    }

    /// Parses a name made by this module; `None` for anything else (ignored by readers).
    pub fn parse(name: &str) -> Option<Parsed> {
        let rest = name.strip_prefix('r')?;
        let (range, rest) = rest.split_once('/')?;
        let range = hex64(range)?;
        if rest == "range" {
            return Some(Parsed::Range(range));
        }
        if let Some(log) = rest.strip_prefix("log-") {
            let (first, last) = log.split_once('-')?;
            return Some(Parsed::Segment(range, hex64(first)?, hex64(last)?));
        }
        let snap = rest.strip_prefix("snap-")?;
        let (asn, file) = snap.split_once('/')?;
        let asn = hex64(asn)?;
        if file == "done" {
            return Some(Parsed::SnapshotDone(range, asn));
        }
        let part = file.strip_prefix("part-")?;
        (part.len() == 8)
            .then(|| u32::from_str_radix(part, 16).ok())
            .flatten()
            .map(|p| Parsed::SnapshotPart(range, asn, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment() -> Segment {
        Segment {
            database_id: [7; 16],
            range: 3,
            records: (5..8)
                .map(|asn| LogRecord {
                    asn,
                    commit_version: asn * 10,
                    time_ms: 1000 + asn,
                    batch: vec![asn as u8; asn as usize].into(),
                })
                .collect(),
        }
    }

    #[test]
    fn objects_round_trip() -> Result<(), ArchiveError> {
        let s = segment();
        assert_eq!(Segment::decode("s", &s.encode())?, s);
        let part = SnapshotPart {
            entries: vec![
                (Keyspace::Data, b"a".to_vec(), b"1".to_vec()),
                (Keyspace::Meta, b"m".to_vec(), Vec::new()),
            ],
        };
        assert_eq!(SnapshotPart::decode("p", &part.encode())?, part);
        let done = SnapshotDone {
            database_id: [1; 16],
            range: 1,
            asn: 0,
            commit_version: 9,
            time_ms: 10,
            entries: 2,
            part_crcs: vec![1, 2, 3],
        };
        assert_eq!(SnapshotDone::decode("d", &done.encode())?, done);
        let range = RangeHeader {
            database_id: [2; 16],
            range: 4,
            created_ms: 5,
            reason: "first".into(),
        };
        assert_eq!(RangeHeader::decode("r", &range.encode())?, range);
        Ok(())
    }

    #[test]
    fn every_torn_or_flipped_object_is_refused() {
        let bytes = segment().encode();
        for cut in 0..bytes.len() {
            assert!(Segment::decode("s", bytes.get(..cut).unwrap_or_default()).is_err());
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            if let Some(b) = flipped.get_mut(i) {
                *b ^= 0x10;
            }
            assert!(Segment::decode("s", &flipped).is_err(), "flip at {i}");
        }
    }

    /// Found by fuzzing the replication stream's frames: a record at position `u64::MAX`
    /// followed by another made the check "follows the previous one" overflow (a panic in a
    /// debug build, a wrapped comparison in a release one). Now it is a corrupt object.
    #[test]
    fn a_record_after_the_last_position_is_corrupt_not_a_panic() {
        let mut s = segment();
        if let Some(first) = s.records.first_mut() {
            first.asn = u64::MAX;
        }
        let decoded = Segment::decode("s", &s.encode());
        assert!(
            matches!(decoded, Err(ArchiveError::Corrupt { .. })),
            "{decoded:?}"
        );
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let mut bytes = segment().encode();
        if let Some(b) = bytes.get_mut(9) {
            *b = 9;
        }
        assert!(matches!(
            Segment::decode("s", &bytes),
            Err(ArchiveError::UnsupportedFormat { found: 9, .. })
        ));
    }

    #[test]
    fn names_parse_back_and_sort_in_stream_order() {
        use names::*;
        assert_eq!(parse(&range(1)), Some(Parsed::Range(1)));
        assert_eq!(parse(&segment(1, 2, 3)), Some(Parsed::Segment(1, 2, 3)));
        assert_eq!(
            parse(&snapshot_part(1, 2, 3)),
            Some(Parsed::SnapshotPart(1, 2, 3))
        );
        assert_eq!(
            parse(&snapshot_done(1, 2)),
            Some(Parsed::SnapshotDone(1, 2))
        );
        assert_eq!(parse("r00/range"), None);
        assert!(names::segment(1, 9, 9) < names::segment(1, 10, 10));
    }
}
