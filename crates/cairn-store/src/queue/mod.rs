//! Queue messages as stored in the `queue` keyspace. Enqueues are written in the same storage
//! batch as the rest of their atomic write, so a message exists if and only if its write
//! committed. Delivery is built on this layout separately.

use cairn_model::{Enqueue, Versionstamp};

use crate::error::StorageError;
use crate::record::{put_bytes, Reader};

const MESSAGE_RECORD_V1: u8 = 1;

/// Key of a ready-queue entry: ready-at, then the enqueuing commit's versionstamp and the
/// enqueue's index in that write, so equal deadlines keep commit order.
pub fn queue_key(ready_at_ms: u64, versionstamp: Versionstamp, index: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&ready_at_ms.to_be_bytes());
    out.extend_from_slice(&versionstamp.0);
    out.extend_from_slice(&index.to_be_bytes());
    out
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
    fn keys_order_by_ready_time_then_commit() {
        let a = queue_key(5, Versionstamp::new(9, 0), 0);
        let b = queue_key(6, Versionstamp::new(1, 0), 0);
        let c = queue_key(6, Versionstamp::new(1, 0), 1);
        assert!(a < b && b < c);
    }
}
