//! On-disk record formats. Every integer has a fixed width and byte order; every decoder
//! returns an error on bad bytes instead of panicking. The layouts are drawn in
//! `docs/design/storage.md`; changing one needs a format version bump in [`crate::meta`].

use cairn_model::{KvValue, ValueEncoding, Versionstamp};

use crate::error::StorageError;

/// Tag that opens every data record, so a future layout can be told apart.
const DATA_RECORD_V1: u8 = 1;
/// Tag that opens every changelog record.
const CHANGELOG_RECORD_V1: u8 = 1;

/// A reader over untrusted bytes that fails instead of panicking.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    keyspace: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], keyspace: &'static str) -> Self {
        Reader { bytes, keyspace }
    }

    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            keyspace: self.keyspace,
            reason: reason.into(),
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], StorageError> {
        if self.bytes.len() < n {
            return Err(self.corrupt(format!(
                "truncated: wanted {n} bytes, {} left",
                self.bytes.len()
            )));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, StorageError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, StorageError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, StorageError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], StorageError> {
        let slice = self.take(N)?;
        slice
            .try_into()
            .map_err(|_| self.corrupt("length mismatch"))
    }

    /// A u32-length-prefixed byte string.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], StorageError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    pub(crate) fn finish(&self) -> Result<(), StorageError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt(format!("{} trailing bytes", self.bytes.len())))
        }
    }
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Values and keys are bounded far below 4 GiB by `Limits`; the conversion cannot fail for
    // anything the pipeline accepted.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A stored entry of the `data` keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRecord {
    /// The commit that wrote it.
    pub versionstamp: Versionstamp,
    /// The value.
    pub value: KvValue,
    /// Absolute expiry in ms since the epoch; `None` = never.
    pub expire_at_ms: Option<u64>,
}

impl DataRecord {
    /// Layout: `01 | versionstamp[10] | encoding u8 | expire_at u64 BE (0 = never) | value`.
    pub fn encode(&self) -> Vec<u8> {
        let value = self.value.to_bytes();
        let mut out = Vec::with_capacity(20 + value.len());
        out.push(DATA_RECORD_V1);
        out.extend_from_slice(&self.versionstamp.0);
        out.push(self.value.encoding() as u8);
        out.extend_from_slice(&self.expire_at_ms.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&value);
        out
    }

    /// Decodes a record written by [`DataRecord::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let mut r = Reader::new(bytes, "data");
        let tag = r.u8()?;
        if tag != DATA_RECORD_V1 {
            return Err(r.corrupt(format!("unknown record tag {tag}")));
        }
        let versionstamp = Versionstamp(r.array()?);
        let encoding_byte = r.u8()?;
        let encoding = ValueEncoding::from_u8(encoding_byte)
            .ok_or_else(|| r.corrupt(format!("unknown value encoding {encoding_byte}")))?;
        let expire_at_ms = Some(r.u64()?).filter(|ms| *ms != 0);
        let value = KvValue::from_encoded(encoding, r.rest().to_vec())
            .ok_or_else(|| r.corrupt("u64 value is not 8 bytes"))?;
        Ok(DataRecord {
            versionstamp,
            value,
            expire_at_ms,
        })
    }

    /// The versionstamp and expiry of a record, without copying its value (keys-only reads
    /// and counts).
    pub fn decode_header(bytes: &[u8]) -> Result<(Versionstamp, Option<u64>), StorageError> {
        let mut r = Reader::new(bytes, "data");
        let tag = r.u8()?;
        if tag != DATA_RECORD_V1 {
            return Err(r.corrupt(format!("unknown record tag {tag}")));
        }
        let versionstamp = Versionstamp(r.array()?);
        let encoding_byte = r.u8()?;
        if ValueEncoding::from_u8(encoding_byte).is_none() {
            return Err(r.corrupt(format!("unknown value encoding {encoding_byte}")));
        }
        let expire_at_ms = Some(r.u64()?).filter(|ms| *ms != 0);
        Ok((versionstamp, expire_at_ms))
    }

    /// True when the record has expired at `now_ms`. An expire-at of 0 means "never", as on
    /// the wire and in [`DataRecord::encode`], so a record reads the same before and after a
    /// round trip through storage.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_some_and(|at| at != 0 && at <= now_ms)
    }
}

/// Key of the `expiry` index: expire-at then the data key, so a scan from the start finds the
/// earliest expiries first.
pub fn expiry_key(expire_at_ms: u64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&expire_at_ms.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// Splits an `expiry` index key into expire-at and data key.
pub fn split_expiry_key(bytes: &[u8]) -> Result<(u64, &[u8]), StorageError> {
    let mut r = Reader::new(bytes, "expiry");
    let at = r.u64()?;
    Ok((at, r.rest()))
}

/// One change recorded in the changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOp {
    /// The key now holds this record's value.
    Set {
        /// Encoded key.
        key: Vec<u8>,
        /// New value.
        value: KvValue,
        /// New expiry.
        expire_at_ms: Option<u64>,
    },
    /// The key was removed (by a delete or by expiry).
    Delete {
        /// Encoded key.
        key: Vec<u8>,
    },
}

impl ChangeOp {
    /// The key the change touched.
    pub fn key(&self) -> &[u8] {
        match self {
            ChangeOp::Set { key, .. } | ChangeOp::Delete { key } => key,
        }
    }
}

/// What one committed atomic write applied, keyed in the changelog by its versionstamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogRecord {
    /// Commit time, ms since the epoch (for age-based retention).
    pub committed_at_ms: u64,
    /// The final state of every key the write touched.
    pub ops: Vec<ChangeOp>,
}

impl ChangelogRecord {
    /// Layout: `01 | committed_at u64 | count u32 | ops`, each op
    /// `01 | key | encoding u8 | expire_at u64 | value` (set) or `02 | key` (delete),
    /// keys and values u32-length-prefixed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.push(CHANGELOG_RECORD_V1);
        out.extend_from_slice(&self.committed_at_ms.to_be_bytes());
        let count = u32::try_from(self.ops.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for op in &self.ops {
            match op {
                ChangeOp::Set {
                    key,
                    value,
                    expire_at_ms,
                } => {
                    out.push(1);
                    put_bytes(&mut out, key);
                    out.push(value.encoding() as u8);
                    out.extend_from_slice(&expire_at_ms.unwrap_or(0).to_be_bytes());
                    put_bytes(&mut out, &value.to_bytes());
                }
                ChangeOp::Delete { key } => {
                    out.push(2);
                    put_bytes(&mut out, key);
                }
            }
        }
        out
    }

    /// The commit time of an encoded record, read without decoding the rest.
    pub fn committed_at_ms(bytes: &[u8]) -> Option<u64> {
        match bytes {
            [CHANGELOG_RECORD_V1, rest @ ..] => {
                Some(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?))
            }
            _ => None,
        }
    }

    /// Decodes a record written by [`ChangelogRecord::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let mut r = Reader::new(bytes, "changelog");
        let tag = r.u8()?;
        if tag != CHANGELOG_RECORD_V1 {
            return Err(r.corrupt(format!("unknown record tag {tag}")));
        }
        let committed_at_ms = r.u64()?;
        let count = r.u32()?;
        // Each op takes at least 5 bytes; this bounds the allocation by the input's size.
        let mut ops = Vec::with_capacity((count as usize).min(bytes.len() / 5));
        for _ in 0..count {
            let op = match r.u8()? {
                1 => {
                    let key = r.bytes()?.to_vec();
                    let encoding_byte = r.u8()?;
                    let encoding = ValueEncoding::from_u8(encoding_byte).ok_or_else(|| {
                        r.corrupt(format!("unknown value encoding {encoding_byte}"))
                    })?;
                    let expire_at_ms = Some(r.u64()?).filter(|ms| *ms != 0);
                    let value = KvValue::from_encoded(encoding, r.bytes()?.to_vec())
                        .ok_or_else(|| r.corrupt("u64 value is not 8 bytes"))?;
                    ChangeOp::Set {
                        key,
                        value,
                        expire_at_ms,
                    }
                }
                2 => ChangeOp::Delete {
                    key: r.bytes()?.to_vec(),
                },
                other => return Err(r.corrupt(format!("unknown change op {other}"))),
            };
            ops.push(op);
        }
        r.finish()?;
        Ok(ChangelogRecord {
            committed_at_ms,
            ops,
        })
    }
}

/// Encodes a [`ChangelogRecord`] directly from the records a commit wrote, without building
/// the intermediate [`ChangeOp`]s (this runs once per commit on the evaluator thread).
pub struct ChangelogEncoder {
    out: Vec<u8>,
    count: u32,
}

impl ChangelogEncoder {
    /// Starts a record for a commit at `committed_at_ms` with about `capacity` changes.
    pub fn new(committed_at_ms: u64, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(13 + capacity * 32);
        out.push(CHANGELOG_RECORD_V1);
        out.extend_from_slice(&committed_at_ms.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        ChangelogEncoder { out, count: 0 }
    }

    /// Adds the new state of `key`: a record, or `None` for a removal.
    pub fn push(&mut self, key: &[u8], record: Option<&DataRecord>) {
        self.count += 1;
        match record {
            Some(r) => {
                self.out.push(1);
                put_bytes(&mut self.out, key);
                self.out.push(r.value.encoding() as u8);
                self.out
                    .extend_from_slice(&r.expire_at_ms.unwrap_or(0).to_be_bytes());
                match &r.value {
                    KvValue::V8(b) | KvValue::Bytes(b) => put_bytes(&mut self.out, b),
                    KvValue::U64(n) => put_bytes(&mut self.out, &n.to_le_bytes()),
                }
            }
            None => {
                self.out.push(2);
                put_bytes(&mut self.out, key);
            }
        }
    }

    /// The encoded record.
    pub fn finish(mut self) -> Vec<u8> {
        if let Some(slot) = self.out.get_mut(9..13) {
            slot.copy_from_slice(&self.count.to_be_bytes());
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_record_round_trip_and_layout() {
        let rec = DataRecord {
            versionstamp: Versionstamp::new(5, 1),
            value: KvValue::U64(7),
            expire_at_ms: Some(1000),
        };
        let bytes = rec.encode();
        assert_eq!(bytes.len(), 1 + 10 + 1 + 8 + 8);
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[11], 2, "LE64 encoding byte");
        assert_eq!(DataRecord::decode(&bytes).ok(), Some(rec));
    }

    #[test]
    fn corrupt_data_records_are_errors() {
        let good = DataRecord {
            versionstamp: Versionstamp::new(1, 0),
            value: KvValue::Bytes(vec![1, 2, 3]),
            expire_at_ms: None,
        }
        .encode();
        for len in 0..good.len() {
            let _ = DataRecord::decode(&good[..len]);
        }
        let mut bad_tag = good.clone();
        bad_tag[0] = 9;
        assert!(DataRecord::decode(&bad_tag).is_err());
        let mut bad_encoding = good.clone();
        bad_encoding[11] = 2; // LE64 with 3 bytes of value
        assert!(DataRecord::decode(&bad_encoding).is_err());
        assert!(DataRecord::decode(&good[..15]).is_err());
    }

    #[test]
    fn changelog_round_trip_and_truncation() {
        let rec = ChangelogRecord {
            committed_at_ms: 99,
            ops: vec![
                ChangeOp::Set {
                    key: vec![2, b'a', 0],
                    value: KvValue::V8(vec![0xff, 0x0f]),
                    expire_at_ms: None,
                },
                ChangeOp::Delete {
                    key: vec![2, b'b', 0],
                },
            ],
        };
        let bytes = rec.encode();
        assert_eq!(ChangelogRecord::decode(&bytes).ok(), Some(rec));
        for len in 0..bytes.len() {
            assert!(ChangelogRecord::decode(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn encoder_matches_record_encoding() {
        let rec = DataRecord {
            versionstamp: Versionstamp::new(1, 0),
            value: KvValue::U64(3),
            expire_at_ms: Some(5),
        };
        let mut enc = ChangelogEncoder::new(42, 2);
        enc.push(b"k1", Some(&rec));
        enc.push(b"k2", None);
        let expected = ChangelogRecord {
            committed_at_ms: 42,
            ops: vec![
                ChangeOp::Set {
                    key: b"k1".to_vec(),
                    value: KvValue::U64(3),
                    expire_at_ms: Some(5),
                },
                ChangeOp::Delete {
                    key: b"k2".to_vec(),
                },
            ],
        };
        assert_eq!(enc.finish(), expected.encode());
    }

    #[test]
    fn expiry_key_orders_by_time() {
        assert!(expiry_key(1, &[0xff]) < expiry_key(2, &[0x00]));
        let k = expiry_key(7, b"key");
        assert_eq!(split_expiry_key(&k).ok(), Some((7, &b"key"[..])));
    }
}
