//! A database image sent over the network, for a replica that rebuilds itself from its
//! primary (`docs/design/replication.md`, "Rebuilding from the primary"): the archive's own
//! objects for one snapshot — a range header, the snapshot's parts, its trailer — each
//! framed as
//!
//! ```text
//! name_len u16 | name (UTF-8, under the database's prefix) | object_len u32 | object
//! ```
//!
//! so one format (`docs/design/backup.md`, "Objects") describes a database image on disk, in
//! an archive and on the wire. The sender reads one storage snapshot (O(1) to take, writes go
//! on) and hands over one part at a time; the receiver checks every object as it arrives
//! (its CRC, its name, the parts in order) and stores it in a local directory laid out as an
//! archive, from which the ordinary restore (`restore_to_dir`) builds the database — checking
//! the trailer's part checksums and entry count again. A transfer that stops early has no
//! trailer and is refused; an altered byte fails its object's CRC.

use std::sync::Arc;

use super::dest::Destination;
use super::format::{kind_byte, names, object_crc, open, Kind, RangeHeader, SnapshotDone};
use super::limits::TRANSFER_OBJECT_BYTES_MAX;
use super::snapshot::write_snapshot_to;
use super::{database_prefix, ArchiveError};
use crate::meta::{EPOCH_HISTORY_KEY, STREAM_POSITION_KEY};
use crate::replication::{EpochHistory, StreamPosition};
use crate::storage::{Keyspace, Snapshot};
use crate::Database;

/// The range number a transferred image uses (ranges count up from 1).
pub const TRANSFER_RANGE: u64 = 1;
/// The reason recorded in a transferred image's range header.
pub const TRANSFER_REASON: &str = "replica rebuild from the primary";

/// One consistent image of a database, taken at its last published batch, to be sent.
pub struct SnapshotSource {
    snapshot: Arc<dyn Snapshot>,
    database_id: [u8; 16],
    position: StreamPosition,
    history: EpochHistory,
    time_ms: u64,
}

impl SnapshotSource {
    /// Takes `db`'s published storage snapshot (O(1); writes continue).
    pub fn take(db: &Database) -> Result<Self, ArchiveError> {
        let snapshot: Arc<dyn Snapshot> = db.shared().published.load().snapshot.clone();
        let time_ms = db.shared().config.clock.now_ms();
        let (_, database_id) = super::snapshot::snapshot_meta(snapshot.as_ref())?;
        let position = match snapshot.get(Keyspace::Meta, STREAM_POSITION_KEY)? {
            Some(bytes) => StreamPosition::decode(&bytes)?,
            None => StreamPosition::default(),
        };
        let history = match snapshot.get(Keyspace::Meta, EPOCH_HISTORY_KEY)? {
            Some(bytes) => EpochHistory::decode(&bytes)?,
            None => EpochHistory::default(),
        };
        Ok(SnapshotSource {
            snapshot,
            database_id,
            position,
            history,
            time_ms,
        })
    }

    /// The stream position the image holds (its last batch).
    pub fn position(&self) -> StreamPosition {
        self.position
    }

    /// The database's id.
    pub fn database_id(&self) -> [u8; 16] {
        self.database_id
    }

    /// The epochs after the first, as of the image.
    pub fn history(&self) -> &EpochHistory {
        &self.history
    }

    /// Sends the image: each framed object to `send`, in order (a range header, the parts,
    /// the trailer). One part is held at a time; `send` decides how many wait (a bounded
    /// channel). An error from `send` (the replica went away) stops the transfer.
    pub fn send(
        &self,
        send: &dyn Fn(Vec<u8>) -> Result<(), ArchiveError>,
    ) -> Result<SnapshotDone, ArchiveError> {
        let put = |name: &str, object: &[u8]| send(frame(name, object));
        let header = RangeHeader {
            database_id: self.database_id,
            range: TRANSFER_RANGE,
            created_ms: self.time_ms,
            reason: TRANSFER_REASON.to_owned(),
        };
        put(&names::range(TRANSFER_RANGE), &header.encode())?;
        write_snapshot_to(
            &put,
            TRANSFER_RANGE,
            self.position.position,
            self.snapshot.as_ref(),
            self.time_ms,
        )
    }
}

/// One object on the wire.
fn frame(name: &str, object: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + name.len() + object.len());
    let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&name_len.to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    let len = u32::try_from(object.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(object);
    out
}

/// The receiving end: checks each object as it arrives and stores it in `dest` under the
/// database's prefix, laid out as an archive that `restore_to_dir` reads.
pub struct SnapshotReceiver {
    dest: Arc<dyn Destination>,
    prefix: String,
    buffer: Vec<u8>,
    header: Option<RangeHeader>,
    part_crcs: Vec<u32>,
    /// The snapshot's position, as its first part or trailer names it.
    asn: Option<u64>,
    done: Option<SnapshotDone>,
    received: u64,
}

impl SnapshotReceiver {
    /// Receives database `name`'s image into `dest`.
    pub fn new(dest: Arc<dyn Destination>, name: &str) -> Self {
        SnapshotReceiver {
            dest,
            prefix: database_prefix(name),
            buffer: Vec::new(),
            header: None,
            part_crcs: Vec::new(),
            asn: None,
            done: None,
            received: 0,
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Takes the next bytes of the transfer; stores every object they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.received += bytes.len() as u64;
        self.buffer.extend_from_slice(bytes);
        let mut at = 0;
        while let Some((name, object, next)) = split_frame(&self.buffer[at..])? {
            let (name, object) = (name.to_owned(), object.to_vec());
            at += next;
            self.take(&name, &object)?;
        }
        self.buffer.drain(..at);
        Ok(())
    }

    fn take(&mut self, name: &str, object: &[u8]) -> Result<(), ArchiveError> {
        let corrupt = |reason: String| ArchiveError::Corrupt {
            object: name.to_owned(),
            reason,
        };
        if self.done.is_some() {
            return Err(corrupt("an object after the snapshot's trailer".into()));
        }
        let parsed = names::parse(name);
        if let Some(names::Parsed::SnapshotPart(_, asn, _) | names::Parsed::SnapshotDone(_, asn)) =
            parsed
        {
            if *self.asn.get_or_insert(asn) != asn {
                return Err(corrupt("names another snapshot than its parts".into()));
            }
        }
        match parsed {
            Some(names::Parsed::Range(TRANSFER_RANGE)) if self.header.is_none() => {
                self.header = Some(RangeHeader::decode(name, object)?);
            }
            Some(names::Parsed::SnapshotPart(TRANSFER_RANGE, _, n))
                if self.header.is_some() && n as usize == self.part_crcs.len() =>
            {
                if kind_byte(object) != Some(Kind::SnapshotPart as u8) {
                    return Err(corrupt("not a snapshot part".into()));
                }
                open(name, Kind::SnapshotPart, object)?;
                self.part_crcs.push(object_crc(object));
            }
            Some(names::Parsed::SnapshotDone(TRANSFER_RANGE, _)) if self.header.is_some() => {
                let done = SnapshotDone::decode(name, object)?;
                let header = self.header.as_ref().map(|h| h.database_id);
                if done.part_crcs != self.part_crcs || Some(done.database_id) != header {
                    return Err(corrupt(
                        "the trailer does not match the parts received".into(),
                    ));
                }
                self.dest.put(&format!("{}{name}", self.prefix), object)?;
                self.done = Some(done);
                return Ok(());
            }
            _ => return Err(corrupt("unexpected object in a snapshot transfer".into())),
        }
        self.dest.put(&format!("{}{name}", self.prefix), object)
    }

    /// The transfer ended: the trailer, if it arrived whole and nothing follows it.
    pub fn finish(self) -> Result<SnapshotDone, ArchiveError> {
        if !self.buffer.is_empty() {
            return Err(ArchiveError::Corrupt {
                object: "snapshot transfer".into(),
                reason: format!(
                    "ends inside an object ({} bytes left over)",
                    self.buffer.len()
                ),
            });
        }
        self.done.ok_or_else(|| ArchiveError::Corrupt {
            object: "snapshot transfer".into(),
            reason: "ended before the snapshot's trailer (torn transfer)".into(),
        })
    }
}

/// A whole frame: its object's name, the object, and the frame's length.
type Split<'a> = (&'a str, &'a [u8], usize);

/// The first whole frame of `bytes`, if they hold one.
fn split_frame(bytes: &[u8]) -> Result<Option<Split<'_>>, ArchiveError> {
    let Some((len, rest)) = bytes.split_first_chunk::<2>() else {
        return Ok(None);
    };
    let name_len = usize::from(u16::from_be_bytes(*len));
    let Some(name) = rest.get(..name_len) else {
        return Ok(None);
    };
    let name = std::str::from_utf8(name).map_err(|_| ArchiveError::Corrupt {
        object: "snapshot transfer".into(),
        reason: "an object name is not UTF-8".into(),
    })?;
    let Some((len, rest)) = rest[name_len..].split_first_chunk::<4>() else {
        return Ok(None);
    };
    let object_len = u32::from_be_bytes(*len) as usize;
    if object_len > TRANSFER_OBJECT_BYTES_MAX {
        return Err(ArchiveError::Corrupt {
            object: name.to_owned(),
            reason: format!(
                "{object_len} bytes, more than the {TRANSFER_OBJECT_BYTES_MAX} an object may hold"
            ),
        });
    }
    Ok(rest
        .get(..object_len)
        .map(|object| (name, object, 6 + name_len + object_len)))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cairn_model::key;

    use super::*;
    use crate::archive::{restore_to_dir, ArchiveConfig, LocalDir, RestoreTarget};
    use crate::{Config, Kv, KvValue};

    /// A database with some keys, and its image on the wire.
    async fn image(dir: &Path) -> (Vec<u8>, StreamPosition) {
        let db = Database::open_with(dir.join("db"), Config::default()).expect("open");
        for i in 0..200u64 {
            db.set(&key!["k", i], KvValue::Bytes(vec![7; 100]))
                .await
                .expect("set");
        }
        let source = SnapshotSource::take(&db).expect("take");
        let out = parking_lot::Mutex::new(Vec::new());
        source
            .send(&|frame| {
                out.lock().extend_from_slice(&frame);
                Ok(())
            })
            .expect("send");
        let at = source.position();
        db.close();
        (out.into_inner(), at)
    }

    /// Receives `bytes` in small pieces, then restores; the restored position.
    fn receive(dir: &Path, bytes: &[u8]) -> Result<StreamPosition, ArchiveError> {
        let root = dir.join("transfer");
        let _ = std::fs::remove_dir_all(&root);
        let dest: Arc<dyn Destination> = Arc::new(LocalDir::new(&root));
        let mut receiver = SnapshotReceiver::new(dest.clone(), "db");
        for piece in bytes.chunks(1000) {
            receiver.push(piece)?;
        }
        receiver.finish()?;
        let target = dir.join("restored");
        let _ = std::fs::remove_dir_all(&target);
        let config = ArchiveConfig::new(dest, "db");
        restore_to_dir(&config.prefixed(), RestoreTarget::Latest, &target, 1 << 20)?;
        Ok(crate::replication::directory_position(&target)
            .expect("restored directory")
            .1)
    }

    #[tokio::test]
    async fn an_image_round_trips_and_a_torn_or_altered_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (bytes, at) = image(dir.path()).await;
        assert!(at.position >= 200, "{at}");
        assert_eq!(receive(dir.path(), &bytes).expect("whole image"), at);
        // Torn: every cut before the end is refused.
        for cut in [0, 1, 7, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                receive(dir.path(), &bytes[..cut]).is_err(),
                "cut at {cut} of {}",
                bytes.len()
            );
        }
        // Altered: a flipped byte anywhere fails a CRC, a name or a length.
        for at_byte in [3, 40, bytes.len() / 2, bytes.len() - 10] {
            let mut altered = bytes.clone();
            altered[at_byte] ^= 0x01;
            assert!(
                receive(dir.path(), &altered).is_err(),
                "flipped byte {at_byte}"
            );
        }
        // Something after the trailer.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&bytes[..20]);
        assert!(receive(dir.path(), &longer).is_err());
    }
}
