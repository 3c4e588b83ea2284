//! Changes of queue state, as the commit pipeline carries them: a [`QueueOp`] is evaluated
//! by the single writer like an atomic write (it gets a versionstamp, and is durable before it
//! is answered); a [`QueueSettle`] tells the in-memory hub, after the batch is published, what
//! became of a message.

use cairn_model::limits::QUEUE_BACKOFF_SCHEDULE_DEFAULT_MS;

use super::delivery::MessageId;
use super::{queue_key_array, QueueKey, QueueMessage};
use crate::error::StorageError;
use cairn_model::NackOutcome;

/// A change of queue state requested of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueOp {
    /// Remove an acknowledged message.
    Ack { id: MessageId, key: QueueKey },
    /// Move a failed message to its retry time, one more attempt counted.
    Retry {
        id: MessageId,
        key: QueueKey,
        new_key: QueueKey,
        record: Vec<u8>,
    },
    /// The schedule is exhausted: write the payload (a V8 value) to every key of
    /// `keys_if_undelivered`, remove the message and count it, all in one commit.
    DeadLetter {
        id: MessageId,
        key: QueueKey,
        payload: Vec<u8>,
        keys: Vec<Vec<u8>>,
    },
}

impl QueueOp {
    /// The message the op settles.
    pub(crate) fn id(&self) -> MessageId {
        match self {
            QueueOp::Ack { id, .. }
            | QueueOp::Retry { id, .. }
            | QueueOp::DeadLetter { id, .. } => *id,
        }
    }
}

/// What the hub learns once a batch is durable and published, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueSettle {
    /// A message is now stored under this key (an enqueue, or a retry's new key).
    Put(QueueKey),
    /// The lease on this message is over: its op committed, or failed and left it as it was.
    Release(MessageId),
}

/// What a failed attempt at the message stored as `record` leads to, retry times counted from
/// `base_ms` (the nack's time, or the expired lease's deadline).
pub(crate) fn after_failure(
    id: MessageId,
    key: QueueKey,
    record: &[u8],
    base_ms: u64,
) -> Result<(QueueOp, NackOutcome), StorageError> {
    let mut message = QueueMessage::decode(record)?;
    let schedule = message
        .backoff_schedule
        .as_deref()
        .unwrap_or(&QUEUE_BACKOFF_SCHEDULE_DEFAULT_MS);
    let failed = usize::try_from(message.attempts).unwrap_or(usize::MAX);
    match schedule.get(failed) {
        Some(delay_ms) => {
            message.attempts = message.attempts.saturating_add(1);
            let ready_at_ms = base_ms.saturating_add(u64::from(*delay_ms));
            let op = QueueOp::Retry {
                id,
                key,
                new_key: queue_key_array(ready_at_ms, id),
                record: message.encode(),
            };
            let outcome = NackOutcome::Retry {
                ready_at_ms,
                next_attempt: message.attempts.saturating_add(1),
            };
            Ok((op, outcome))
        }
        None => {
            let op = QueueOp::DeadLetter {
                id,
                key,
                payload: message.payload,
                keys: message.keys_if_undelivered,
            };
            Ok((op, NackOutcome::DeadLettered))
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_model::Versionstamp;

    use super::*;

    fn id() -> MessageId {
        MessageId {
            versionstamp: Versionstamp::new(1, 0),
            index: 0,
        }
    }

    fn record(attempts: u32, schedule: Option<Vec<u32>>) -> Vec<u8> {
        QueueMessage {
            payload: vec![1, 2],
            keys_if_undelivered: vec![vec![2, b'k', 0]],
            backoff_schedule: schedule,
            attempts,
        }
        .encode()
    }

    #[test]
    fn default_schedule_then_dead_letter() {
        let key = queue_key_array(0, id());
        for (attempts, delay) in QUEUE_BACKOFF_SCHEDULE_DEFAULT_MS.iter().enumerate() {
            let attempts = attempts as u32;
            let (op, outcome) =
                after_failure(id(), key, &record(attempts, None), 1000).expect("decodable record");
            let ready_at_ms = 1000 + u64::from(*delay);
            assert_eq!(
                outcome,
                NackOutcome::Retry {
                    ready_at_ms,
                    next_attempt: attempts + 2
                }
            );
            let QueueOp::Retry {
                new_key, record, ..
            } = op
            else {
                panic!("expected a retry, got {op:?}");
            };
            assert_eq!(new_key, queue_key_array(ready_at_ms, id()));
            assert_eq!(
                QueueMessage::decode(&record).map(|m| m.attempts).ok(),
                Some(attempts + 1)
            );
        }
        let (op, outcome) = after_failure(id(), key, &record(5, None), 1000).expect("record");
        assert_eq!(outcome, NackOutcome::DeadLettered);
        assert!(matches!(op, QueueOp::DeadLetter { payload, keys, .. }
            if payload == vec![1, 2] && keys == vec![vec![2, b'k', 0]]));
    }

    #[test]
    fn an_empty_schedule_dead_letters_at_the_first_failure() {
        let key = queue_key_array(0, id());
        let (_, outcome) = after_failure(id(), key, &record(0, Some(vec![])), 0).expect("record");
        assert_eq!(outcome, NackOutcome::DeadLettered);
    }
}
