//! Durable queues: the storage layout of messages, and their delivery.
//!
//! Enqueues are written in the same storage batch as the rest of their atomic write, so a
//! message exists if and only if its write committed. A message lives in the `queue` keyspace
//! under `ready_at ‖ message id` until it is acknowledged or dead-lettered; delivery is built
//! on that layout:
//!
//! - `hub.rs`: the in-memory side — the head of the queue in delivery order, and the *leases*
//!   of messages handed to consumers. Leases are memory only: after a restart every message
//!   still stored is delivered again (at-least-once).
//! - `dispatcher.rs`: a thread that turns expired leases into retries and wakes consumers when
//!   a delayed message's time comes, on the database's [`crate::Clock`].
//! - every change of queue state (acknowledge, retry, dead-letter) is a commit through the
//!   pipeline (`Request::Queue`), durable before it is answered and ordered with other writes.
//! - [`Database::dequeue`](crate::Database::dequeue) and friends (`api.rs`) are the lease
//!   primitives; [`Database::listen_queue`](crate::Database::listen_queue) builds the embedded
//!   consumer on them.
//!
//! `docs/design/queues.md` argues the design and the delivery guarantees.

mod api;
mod delivery;
pub(crate) mod dispatcher;
pub(crate) mod hub;
mod listener;
pub(crate) mod ops;

use cairn_model::{Enqueue, Versionstamp};

use crate::error::StorageError;
use crate::record::{put_bytes, Reader};
use crate::storage::{Keyspace, WriteBatch};

pub use cairn_model::{NackOutcome, QueueStats};
pub use delivery::{Delivery, DeliveryId, MessageId};
pub use listener::{QueueListenOptions, QueueListener};

const MESSAGE_RECORD_V1: u8 = 1;

/// Length of every key of the `queue` keyspace.
pub const QUEUE_KEY_LEN: usize = 8 + Versionstamp::LEN + 2;

/// A key of the `queue` keyspace, fixed-size.
pub type QueueKey = [u8; QUEUE_KEY_LEN];

/// `meta` key of the number of messages dead-lettered since the database was created.
const DEAD_LETTERED_KEY: &[u8] = b"queue_dead_lettered";

/// Key of a ready-queue entry: ready-at, then the enqueuing commit's versionstamp and the
/// enqueue's index in that write, so equal deadlines keep commit order.
pub fn queue_key(ready_at_ms: u64, versionstamp: Versionstamp, index: u16) -> Vec<u8> {
    queue_key_array(
        ready_at_ms,
        MessageId {
            versionstamp,
            index,
        },
    )
    .to_vec()
}

/// [`queue_key`] of a message id, as a fixed-size array.
pub fn queue_key_array(ready_at_ms: u64, id: MessageId) -> QueueKey {
    let mut out = [0u8; QUEUE_KEY_LEN];
    let (at, rest) = out.split_at_mut(8);
    at.copy_from_slice(&ready_at_ms.to_be_bytes());
    let (vs, index) = rest.split_at_mut(Versionstamp::LEN);
    vs.copy_from_slice(&id.versionstamp.0);
    index.copy_from_slice(&id.index.to_be_bytes());
    out
}

/// Splits a `queue` key into ready-at and message id; bytes of another length are corrupt.
pub fn split_queue_key(key: &[u8]) -> Result<(u64, MessageId, QueueKey), StorageError> {
    let array: QueueKey = key.try_into().map_err(|_| StorageError::Corrupt {
        keyspace: "queue",
        reason: format!("key of {} bytes, expected {QUEUE_KEY_LEN}", key.len()),
    })?;
    let mut r = Reader::new(&array, "queue");
    let ready_at_ms = r.u64()?;
    let versionstamp = Versionstamp(r.array()?);
    let index = u16::from_be_bytes(r.array()?);
    Ok((
        ready_at_ms,
        MessageId {
            versionstamp,
            index,
        },
        array,
    ))
}

/// The ready-at of a queue key (its first 8 bytes).
pub(crate) fn ready_at_of(key: &QueueKey) -> u64 {
    let [a, b, c, d, e, f, g, h, ..] = *key;
    u64::from_be_bytes([a, b, c, d, e, f, g, h])
}

/// The message id of a queue key (its last 12 bytes).
pub(crate) fn message_id_of(key: &QueueKey) -> MessageId {
    let mut vs = [0u8; Versionstamp::LEN];
    vs.copy_from_slice(&key[8..8 + Versionstamp::LEN]);
    let [.., i, j] = *key;
    MessageId {
        versionstamp: Versionstamp(vs),
        index: u16::from_be_bytes([i, j]),
    }
}

/// The dead-lettered count as stored in `meta` (0 before the first dead letter).
pub(crate) fn decode_dead_lettered(bytes: Option<&[u8]>) -> Result<u64, StorageError> {
    match bytes {
        None => Ok(0),
        Some(bytes) => {
            let mut r = Reader::new(bytes, "meta");
            let n = r.u64()?;
            r.finish()?;
            Ok(n)
        }
    }
}

/// Reads the dead-lettered count from a snapshot or the latest state.
pub(crate) fn read_dead_lettered(
    get: impl FnOnce(Keyspace, &[u8]) -> Result<Option<Vec<u8>>, StorageError>,
) -> Result<u64, StorageError> {
    decode_dead_lettered(get(Keyspace::Meta, DEAD_LETTERED_KEY)?.as_deref())
}

/// Adds the new dead-lettered count to a storage batch.
pub(crate) fn put_dead_lettered(batch: &mut WriteBatch, total: u64) {
    batch.put(
        Keyspace::Meta,
        DEAD_LETTERED_KEY.to_vec(),
        total.to_be_bytes().to_vec(),
    );
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// V8 payload.
    pub payload: Vec<u8>,
    /// Keys written with the payload if delivery finally fails.
    pub keys_if_undelivered: Vec<Vec<u8>>,
    /// Retry intervals in ms; `None` = the default schedule.
    pub backoff_schedule: Option<Vec<u32>>,
    /// Delivery attempts made so far.
    pub attempts: u32,
}

impl From<&Enqueue> for QueueMessage {
    fn from(e: &Enqueue) -> Self {
        QueueMessage {
            payload: e.payload.clone(),
            keys_if_undelivered: e.keys_if_undelivered.clone(),
            backoff_schedule: e.backoff_schedule.clone(),
            attempts: 0,
        }
    }
}

impl QueueMessage {
    /// Layout: `01 | attempts u32 | payload | n u32 | keys… | has_schedule u8 | m u32 | u32…`,
    /// byte strings u32-length-prefixed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![MESSAGE_RECORD_V1];
        out.extend_from_slice(&self.attempts.to_be_bytes());
        put_bytes(&mut out, &self.payload);
        let n = u32::try_from(self.keys_if_undelivered.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for key in &self.keys_if_undelivered {
            put_bytes(&mut out, key);
        }
        match &self.backoff_schedule {
            None => out.push(0),
            Some(schedule) => {
                out.push(1);
                let m = u32::try_from(schedule.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&m.to_be_bytes());
                for ms in schedule {
                    out.extend_from_slice(&ms.to_be_bytes());
                }
            }
        }
        out
    }

    /// Decodes a record written by [`QueueMessage::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let mut r = Reader::new(bytes, "queue");
        let tag = r.u8()?;
        if tag != MESSAGE_RECORD_V1 {
            return Err(r.corrupt(format!("unknown record tag {tag}")));
        }
        let attempts = r.u32()?;
        let payload = r.bytes()?.to_vec();
        let n = r.u32()?;
        let mut keys_if_undelivered = Vec::with_capacity((n as usize).min(bytes.len() / 4));
        for _ in 0..n {
            keys_if_undelivered.push(r.bytes()?.to_vec());
        }
        let backoff_schedule = match r.u8()? {
            0 => None,
            1 => {
                let m = r.u32()?;
                let mut schedule = Vec::with_capacity((m as usize).min(bytes.len() / 4));
                for _ in 0..m {
                    schedule.push(r.u32()?);
                }
                Some(schedule)
            }
            other => return Err(r.corrupt(format!("bad schedule flag {other}"))),
        };
        r.finish()?;
        Ok(QueueMessage {
            payload,
            keys_if_undelivered,
            backoff_schedule,
            attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trip_and_truncation() {
        let m = QueueMessage {
            payload: vec![0xff, 0x0f, 0x22, 0x01, b'x'],
            keys_if_undelivered: vec![vec![2, b'a', 0]],
            backoff_schedule: Some(vec![100, 1000]),
            attempts: 2,
        };
        let bytes = m.encode();
        assert_eq!(QueueMessage::decode(&bytes).ok(), Some(m));
        for len in 0..bytes.len() {
            assert!(QueueMessage::decode(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn keys_split_back_into_their_parts() {
        let id = MessageId {
            versionstamp: Versionstamp::new(7, 3),
            index: 9,
        };
        let key = queue_key_array(1234, id);
        assert_eq!(queue_key(1234, id.versionstamp, id.index), key.to_vec());
        let (at, back, array) = split_queue_key(&key).expect("well-formed key");
        assert_eq!((at, back, array), (1234, id, key));
        assert_eq!((ready_at_of(&key), message_id_of(&key)), (1234, id));
        assert!(split_queue_key(&key[..19]).is_err());
    }

    #[test]
    fn dead_lettered_count_decodes_strictly() {
        assert_eq!(decode_dead_lettered(None).ok(), Some(0));
        assert_eq!(
            decode_dead_lettered(Some(&5u64.to_be_bytes())).ok(),
            Some(5)
        );
        assert!(decode_dead_lettered(Some(&[1, 2, 3])).is_err());
    }

    #[test]
    fn keys_order_by_ready_time_then_commit() {
        let a = queue_key(5, Versionstamp::new(9, 0), 0);
        let b = queue_key(6, Versionstamp::new(1, 0), 0);
        let c = queue_key(6, Versionstamp::new(1, 0), 1);
        assert!(a < b && b < c);
    }
}
