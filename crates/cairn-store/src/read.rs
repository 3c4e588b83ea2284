//! Snapshot reads. Readers use the snapshot the writer last published (everything durable and
//! acknowledged, nothing more) and never wait for the pipeline. Expired entries are filtered
//! out here, so they are invisible the moment their time passes, before the sweeper removes
//! them physically.

use std::sync::Arc;

use arc_swap::ArcSwap;
use cairn_model::codec::try_encode_key;
use cairn_model::{decode_key, Entry, Key, KvValue, ReadRange, Versionstamp};

use crate::error::{Result, StorageError, StoreError};
use crate::pipeline::Published;
use crate::record::DataRecord;
use crate::storage::{Keyspace, Scan, Snapshot};

/// An entry as stored: encoded key (what the network server sends on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Encoded key.
    pub key: Vec<u8>,
    /// The value.
    pub value: KvValue,
    /// The commit that wrote it.
    pub versionstamp: Versionstamp,
}

/// Decodes the key of a stored entry.
pub(crate) fn decode_entry(raw: RawEntry) -> std::result::Result<Entry, StorageError> {
    let key = decode_key(&raw.key).map_err(|e| StorageError::Corrupt {
        keyspace: "data",
        reason: format!("stored key: {e}"),
    })?;
    Ok(Entry {
        key,
        value: raw.value,
        versionstamp: raw.versionstamp,
    })
}

/// The live entry of `key` in `snapshot`, if any.
pub(crate) fn get(snapshot: &dyn Snapshot, key: &[u8], now_ms: u64) -> Result<Option<RawEntry>> {
    let Some(bytes) = snapshot.get(Keyspace::Data, key)? else {
        return Ok(None);
    };
    let record = DataRecord::decode(&bytes)?;
    if record.is_expired(now_ms) {
        return Ok(None);
    }
    Ok(Some(RawEntry {
        key: key.to_vec(),
        value: record.value,
        versionstamp: record.versionstamp,
    }))
}

/// Up to `range.limit` live entries of the range, skipping expired ones.
pub(crate) fn read_range(
    snapshot: &dyn Snapshot,
    range: &ReadRange,
    now_ms: u64,
) -> Result<Vec<RawEntry>> {
    if let Some(key) = point(range) {
        return Ok(get(snapshot, key, now_ms)?.into_iter().collect());
    }
    scan_live(snapshot, range, |key, bytes| {
        let record = DataRecord::decode(bytes)?;
        Ok((!record.is_expired(now_ms)).then_some(RawEntry {
            key,
            value: record.value,
            versionstamp: record.versionstamp,
        }))
    })
}

/// Up to `range.limit` rows of the range's data records, each made by `live` from a key and
/// its stored bytes, or skipped when `live` says `None` (an expired entry): the scan loop of
/// every range read, entries or keys only.
pub(crate) fn scan_live<T>(
    snapshot: &dyn Snapshot,
    range: &ReadRange,
    mut live: impl FnMut(Vec<u8>, &[u8]) -> Result<Option<T>>,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(range.limit.min(1024));
    let (mut start, mut end) = (range.start.clone(), range.end.clone());
    while out.len() < range.limit {
        let want = range.limit - out.len();
        let scan = Scan {
            start: &start,
            end: &end,
            reverse: range.reverse,
            limit: want,
        };
        let chunk = snapshot.scan(Keyspace::Data, scan)?;
        let exhausted = chunk.len() < want;
        let last_key = chunk.last().map(|(k, _)| k.clone());
        for (key, bytes) in chunk {
            out.extend(live(key, &bytes)?);
        }
        match last_key {
            // Entries were skipped: continue after the last key seen.
            Some(last) if !exhausted => {
                if range.reverse {
                    end = last;
                } else {
                    start = last;
                    start.push(0);
                }
            }
            _ => break,
        }
    }
    Ok(out)
}

/// The one key a range can hold, if it is `[k, k ++ 0x00)`: the shape of every `get` and
/// `getMany` of Deno's clients. A point lookup answers it far cheaper than an LSM range scan
/// (which must set up a merge over every memtable and table).
fn point(range: &ReadRange) -> Option<&[u8]> {
    let (last, key) = range.end.split_last()?;
    (*last == 0 && key == range.start.as_slice() && range.limit > 0).then_some(key)
}

/// A consistent multi-range read on one snapshot.
pub(crate) fn snapshot_read(
    snapshot: &Arc<dyn Snapshot>,
    ranges: &[ReadRange],
    now_ms: u64,
) -> Result<Vec<Vec<RawEntry>>> {
    ranges
        .iter()
        .map(|r| read_range(snapshot.as_ref(), r, now_ms))
        .collect()
}

/// Encodes a key, refusing integer parts the codec cannot hold.
pub(crate) fn encode_key(key: &Key) -> Result<Vec<u8>> {
    try_encode_key(key).map_err(|e| StoreError::InvalidKey(e.to_string()))
}

/// The live entries of `keys` from one published snapshot (`get_many` and watches).
pub(crate) fn entries(
    published: &ArcSwap<Published>,
    keys: &[Key],
    now_ms: u64,
) -> Result<Vec<Option<Entry>>> {
    let published = published.load();
    keys.iter()
        .map(|key| {
            let raw = get(published.snapshot.as_ref(), &encode_key(key)?, now_ms)?;
            // The caller's key is the stored key: no need to decode it back.
            Ok(raw.map(|r| Entry {
                key: key.clone(),
                value: r.value,
                versionstamp: r.versionstamp,
            }))
        })
        .collect()
}
