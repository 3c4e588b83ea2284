//! The replication stream's frames: archive objects (`archive/format.rs`: magic, version,
//! kind, body, CRC-32), each preceded by its length, `u32` big-endian.
//!
//! The records are the archive's log records byte for byte (`encode_records`): a stream frame
//! is a log segment whose header names the epoch of its records instead of an archive range.
//! So a batch is laid out one way on disk, in the archive and on the wire, and a replica that
//! catches up from the archive applies the very records it would have been streamed.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use super::{StreamPosition, StreamRecord};
use crate::archive::format::{
    decode_records, encode_records, kind_byte, open, reader_error, records_len, seal, Kind,
    LogRecord,
};
use crate::archive::ArchiveError;
use crate::limits::REPLICATION_FRAME_BYTES_MAX;
use crate::record::Reader;

/// One frame of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The primary's first frame: which database, and its newest durable position.
    Hello {
        /// The primary's database id.
        database_id: [u8; 16],
        /// Its newest durable batch.
        newest: StreamPosition,
    },
    /// Consecutive records, all of one epoch.
    Records {
        /// The primary's database id.
        database_id: [u8; 16],
        /// The epoch of the primary that wrote them.
        epoch: u64,
        /// The records, positions in `asn`.
        records: Vec<LogRecord>,
    },
    /// Sent while there is nothing else to send: the primary's newest position and time.
    Heartbeat {
        /// The primary's newest durable batch.
        newest: StreamPosition,
        /// The primary's clock, ms since the epoch.
        time_ms: u64,
    },
}

const NAME: &str = "replication stream frame";

impl Frame {
    /// The frame with its length prefix, ready to send.
    pub fn encode(&self) -> Vec<u8> {
        let object = match self {
            Frame::Hello {
                database_id,
                newest,
            } => {
                let mut body = Vec::with_capacity(32);
                body.extend_from_slice(database_id);
                body.extend_from_slice(&newest.encode());
                seal(Kind::StreamHello, &body)
            }
            Frame::Records {
                database_id,
                epoch,
                records,
            } => {
                let mut body = Vec::with_capacity(28 + records_len(records));
                body.extend_from_slice(database_id);
                body.extend_from_slice(&epoch.to_be_bytes());
                encode_records(&mut body, records);
                seal(Kind::StreamRecords, &body)
            }
            Frame::Heartbeat { newest, time_ms } => {
                let mut body = newest.encode();
                body.extend_from_slice(&time_ms.to_be_bytes());
                seal(Kind::StreamHeartbeat, &body)
            }
        };
        let mut out = Vec::with_capacity(4 + object.len());
        let len = u32::try_from(object.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&object);
        out
    }

    /// Decodes one object (without its length prefix); checks its checksum.
    pub fn decode(bytes: &[u8]) -> Result<Frame, ArchiveError> {
        let e = reader_error(NAME);
        match kind_byte(bytes) {
            Some(k) if k == Kind::StreamHello as u8 => {
                let mut r = Reader::new(open(NAME, Kind::StreamHello, bytes)?, "stream");
                let database_id = r.array().map_err(&e)?;
                let newest = StreamPosition {
                    epoch: r.u64().map_err(&e)?,
                    position: r.u64().map_err(&e)?,
                };
                r.finish().map_err(&e)?;
                Ok(Frame::Hello {
                    database_id,
                    newest,
                })
            }
            Some(k) if k == Kind::StreamRecords as u8 => {
                let mut r = Reader::new(open(NAME, Kind::StreamRecords, bytes)?, "stream");
                let database_id = r.array().map_err(&e)?;
                let epoch = r.u64().map_err(&e)?;
                let records = decode_records(NAME, &mut r)?;
                r.finish().map_err(&e)?;
                Ok(Frame::Records {
                    database_id,
                    epoch,
                    records,
                })
            }
            Some(k) if k == Kind::StreamHeartbeat as u8 => {
                let mut r = Reader::new(open(NAME, Kind::StreamHeartbeat, bytes)?, "stream");
                let newest = StreamPosition {
                    epoch: r.u64().map_err(&e)?,
                    position: r.u64().map_err(&e)?,
                };
                let time_ms = r.u64().map_err(&e)?;
                r.finish().map_err(&e)?;
                Ok(Frame::Heartbeat { newest, time_ms })
            }
            other => Err(ArchiveError::Corrupt {
                object: NAME.into(),
                reason: format!("unknown frame kind {other:?}"),
            }),
        }
    }

    /// `records` as frames (one per run of one epoch), encoded back to back.
    pub fn encode_records(database_id: [u8; 16], records: &[StreamRecord]) -> Vec<u8> {
        let mut out = Vec::new();
        for run in records.chunk_by(|a, b| a.epoch == b.epoch) {
            let Some(first) = run.first() else {
                continue;
            };
            let frame = Frame::Records {
                database_id,
                epoch: first.epoch,
                records: run.iter().map(|r| r.record.clone()).collect(),
            };
            out.extend_from_slice(&frame.encode());
        }
        out
    }
}

/// Cuts frames out of the bytes of a stream as they arrive.
#[derive(Default)]
pub struct FrameReader {
    buffer: Vec<u8>,
}

impl FrameReader {
    /// Adds bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame, `None` until one is complete; an error for a frame longer
    /// than [`REPLICATION_FRAME_BYTES_MAX`] or one that does not decode.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ArchiveError> {
        let Some(prefix) = self.buffer.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > REPLICATION_FRAME_BYTES_MAX {
            return Err(ArchiveError::Corrupt {
                object: NAME.into(),
                reason: format!("{len} bytes, at most {REPLICATION_FRAME_BYTES_MAX}"),
            });
        }
        let Some(object) = self.buffer.get(4..4 + len) else {
            return Ok(None);
        };
        let frame = Frame::decode(object)?;
        self.buffer.drain(..4 + len);
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u64, asn: u64) -> StreamRecord {
        StreamRecord {
            epoch,
            record: LogRecord {
                asn,
                commit_version: asn * 3,
                time_ms: 77,
                batch: vec![asn as u8; 5].into(),
            },
        }
    }

    #[test]
    fn frames_round_trip_through_a_reader_byte_by_byte() -> Result<(), ArchiveError> {
        let id = [9; 16];
        let records = [record(0, 1), record(0, 2), record(1, 3)];
        let mut bytes = Frame::Hello {
            database_id: id,
            newest: StreamPosition {
                epoch: 1,
                position: 3,
            },
        }
        .encode();
        bytes.extend(Frame::encode_records(id, &records));
        bytes.extend(
            Frame::Heartbeat {
                newest: StreamPosition::default(),
                time_ms: 5,
            }
            .encode(),
        );
        let mut reader = FrameReader::default();
        let mut frames = Vec::new();
        for byte in bytes {
            reader.push(&[byte]);
            while let Some(frame) = reader.next_frame()? {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 4, "hello, two runs of epochs, heartbeat");
        assert!(
            matches!(frames.get(1), Some(Frame::Records { epoch: 0, records, .. }) if records.len() == 2)
        );
        assert!(
            matches!(frames.get(2), Some(Frame::Records { epoch: 1, records, .. }) if records.first().map(|r| r.asn) == Some(3))
        );
        Ok(())
    }

    #[test]
    fn a_flipped_byte_is_refused() {
        let bytes = Frame::encode_records([1; 16], &[record(0, 1)]);
        for i in 4..bytes.len() {
            let mut flipped = bytes.clone();
            if let Some(b) = flipped.get_mut(i) {
                *b ^= 0x01;
            }
            let mut reader = FrameReader::default();
            reader.push(&flipped);
            assert!(reader.next_frame().is_err(), "flip at {i}");
        }
    }
}
