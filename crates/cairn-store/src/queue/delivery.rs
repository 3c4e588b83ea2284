//! What consumers see of the queue: a [`Delivery`] (one attempt at one message, leased to the
//! caller) and its unforgeable [`DeliveryId`].

use std::fmt;

use cairn_model::Versionstamp;

use crate::error::{Result, StoreError};

/// A message's identity for its whole life, across retries and restarts: the versionstamp of
/// the commit that enqueued it and the enqueue's index in that write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId {
    /// The enqueuing commit's versionstamp.
    pub versionstamp: Versionstamp,
    /// Position among that write's enqueues.
    pub index: u16,
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.versionstamp, self.index)
    }
}

/// Names one attempt at delivering one message: the message, the attempt number, and a random
/// token drawn when the message was leased. An acknowledgement must present the token of the
/// lease the database holds now, so the id of an earlier attempt (whose lease expired and
/// whose message was handed out again) is refused instead of settling the new attempt, and an
/// id cannot be guessed from the message id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryId {
    pub(crate) message: MessageId,
    pub(crate) attempt: u32,
    pub(crate) token: [u8; 16],
}

impl DeliveryId {
    /// Length of [`DeliveryId::to_bytes`].
    pub const LEN: usize = Versionstamp::LEN + 2 + 4 + 16;

    /// The message this attempt delivers.
    pub fn message(&self) -> MessageId {
        self.message
    }

    /// The attempt number, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// `versionstamp[10] | index u16 | attempt u32 | token[16]`, big-endian: what a server hands
    /// a remote consumer to acknowledge with.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        let (vs, rest) = out.split_at_mut(Versionstamp::LEN);
        vs.copy_from_slice(&self.message.versionstamp.0);
        let (index, rest) = rest.split_at_mut(2);
        index.copy_from_slice(&self.message.index.to_be_bytes());
        let (attempt, token) = rest.split_at_mut(4);
        attempt.copy_from_slice(&self.attempt.to_be_bytes());
        token.copy_from_slice(&self.token);
        out
    }

    /// Parses [`DeliveryId::to_bytes`]; any other length is an invalid argument.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = || {
            StoreError::InvalidArgument(format!(
                "a delivery id is {} bytes, got {}",
                Self::LEN,
                bytes.len()
            ))
        };
        let array: &[u8; Self::LEN] = bytes.try_into().map_err(|_| bad())?;
        let (vs, rest) = array.split_at(Versionstamp::LEN);
        let (index, rest) = rest.split_at(2);
        let (attempt, token) = rest.split_at(4);
        Ok(DeliveryId {
            message: MessageId {
                versionstamp: Versionstamp(vs.try_into().map_err(|_| bad())?),
                index: u16::from_be_bytes(index.try_into().map_err(|_| bad())?),
            },
            attempt: u32::from_be_bytes(attempt.try_into().map_err(|_| bad())?),
            token: token.try_into().map_err(|_| bad())?,
        })
    }
}

/// Shows the message and attempt, never the token: ids end up in logs.
impl fmt::Debug for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeliveryId({}#{})", self.message, self.attempt)
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.message, self.attempt)
    }
}

/// One attempt at one message, leased to the caller until [`Delivery::lease_deadline_ms`].
/// Settle it with [`Database::ack`](crate::Database::ack) or
/// [`Database::nack`](crate::Database::nack); an unsettled lease expires and the message is
/// retried as if nacked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Presented to acknowledge this attempt.
    pub id: DeliveryId,
    /// The V8-serialized payload, as enqueued.
    pub payload: Vec<u8>,
    /// Clock time (ms since the epoch) after which the lease is void.
    pub lease_deadline_ms: u64,
}

impl Delivery {
    /// The message's stable id.
    pub fn message(&self) -> MessageId {
        self.id.message
    }

    /// The attempt number, from 1. A message leased when the process stopped is delivered
    /// again under the same number (leases are not written to disk).
    pub fn attempt(&self) -> u32 {
        self.id.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_id_round_trips_and_hides_its_token() {
        let id = DeliveryId {
            message: MessageId {
                versionstamp: Versionstamp::new(3, 1),
                index: 2,
            },
            attempt: 4,
            token: [0xab; 16],
        };
        let bytes = id.to_bytes();
        assert_eq!(DeliveryId::from_bytes(&bytes).ok(), Some(id));
        assert!(DeliveryId::from_bytes(&bytes[1..]).is_err());
        assert!(!format!("{id:?} {id}").contains("abab"));
    }
}
