//! The atomic-write model: checks, mutations and enqueues that commit together or not at all.
//!
//! Keys here are already encoded (see [`crate::codec`]): that is how they arrive over the wire
//! and how the store orders them. [`AtomicWrite::validate`] checks a write against [`Limits`]
//! before it may enter the commit pipeline.

use crate::limits::{LimitError, Limits};
use crate::value::KvValue;
use crate::versionstamp::Versionstamp;

/// An optimistic check: the key's current versionstamp must equal `versionstamp`, or the key
/// must not exist when it is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Encoded key.
    pub key: Vec<u8>,
    /// Expected versionstamp; `None` means "must not exist".
    pub versionstamp: Option<Versionstamp>,
}

/// What a mutation does to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutationKind {
    /// Write the value.
    Set(KvValue),
    /// Remove the key.
    Delete,
    /// Add the operand: u64 wrapping, or V8 bigint/number with optional bounds.
    Sum {
        /// The operand.
        value: KvValue,
        /// Lower bound (V8 sums only).
        min: Option<KvValue>,
        /// Upper bound (V8 sums only).
        max: Option<KvValue>,
        /// Clamp to the bounds instead of failing when the result leaves them.
        clamp: bool,
    },
    /// Keep the smaller of the stored u64 and the operand.
    Min(KvValue),
    /// Keep the larger of the stored u64 and the operand.
    Max(KvValue),
    /// Write the value under the key extended by a string part holding the commit's
    /// versionstamp in hex (kv-connect.md §4).
    SetSuffixVersionstampedKey(KvValue),
}

impl MutationKind {
    /// The name used in error messages, as Deno spells it.
    pub fn name(&self) -> &'static str {
        match self {
            MutationKind::Set(_) => "set",
            MutationKind::Delete => "delete",
            MutationKind::Sum { .. } => "sum",
            MutationKind::Min(_) => "min",
            MutationKind::Max(_) => "max",
            MutationKind::SetSuffixVersionstampedKey(_) => "setSuffixVersionstampedKey",
        }
    }

    /// The value the mutation carries, if any.
    pub fn value(&self) -> Option<&KvValue> {
        match self {
            MutationKind::Set(v)
            | MutationKind::Min(v)
            | MutationKind::Max(v)
            | MutationKind::SetSuffixVersionstampedKey(v)
            | MutationKind::Sum { value: v, .. } => Some(v),
            MutationKind::Delete => None,
        }
    }
}

/// One mutation of an atomic write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Encoded key.
    pub key: Vec<u8>,
    /// What to do.
    pub kind: MutationKind,
    /// Absolute expiry in milliseconds since the Unix epoch; `None` = never. Only meaningful
    /// for mutations that write a value.
    pub expire_at_ms: Option<u64>,
}

/// A queue message enqueued by an atomic write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    /// V8-serialized payload, opaque to cairn.
    pub payload: Vec<u8>,
    /// When the message becomes ready, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// Encoded keys the payload is written to if delivery finally fails.
    pub keys_if_undelivered: Vec<Vec<u8>>,
    /// Retry intervals in milliseconds; `None` means the default schedule.
    pub backoff_schedule: Option<Vec<u32>>,
}

/// Checks, mutations and enqueues applied all together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AtomicWrite {
    /// Evaluated against the state just before the write.
    pub checks: Vec<Check>,
    /// Applied in order.
    pub mutations: Vec<Mutation>,
    /// Stored in the same commit.
    pub enqueues: Vec<Enqueue>,
}

impl AtomicWrite {
    /// Checks every limit of `limits`, and that keys are non-empty and well formed.
    ///
    /// `now_ms` bounds how far in the future an enqueue may be scheduled.
    pub fn validate(&self, limits: &Limits, now_ms: u64) -> Result<(), LimitError> {
        limits.check_write_shape(
            self.checks.len(),
            self.mutations.len() + self.enqueues.len(),
        )?;
        let mut key_bytes = 0usize;
        let mut total_bytes = 0usize;
        for check in &self.checks {
            limits.check_write_key(&check.key)?;
            key_bytes += check.key.len();
            total_bytes += check.key.len();
        }
        for mutation in &self.mutations {
            limits.check_write_key(&mutation.key)?;
            key_bytes += mutation.key.len();
            total_bytes += mutation.key.len();
            for value in mutation_values(&mutation.kind) {
                limits.check_value(value.byte_len())?;
                total_bytes += value.byte_len();
            }
        }
        for enqueue in &self.enqueues {
            limits.check_enqueue(enqueue, now_ms)?;
            total_bytes += enqueue.payload.len();
            for key in &enqueue.keys_if_undelivered {
                key_bytes += key.len();
                total_bytes += key.len();
            }
            total_bytes += 4 * enqueue.backoff_schedule.as_ref().map_or(0, Vec::len);
        }
        limits.check_write_totals(key_bytes, total_bytes)
    }
}

fn mutation_values(kind: &MutationKind) -> impl Iterator<Item = &KvValue> {
    let (a, b, c) = match kind {
        MutationKind::Sum {
            value, min, max, ..
        } => (Some(value), min.as_ref(), max.as_ref()),
        other => (other.value(), None, None),
    };
    a.into_iter().chain(b).chain(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key;

    fn set(key: Vec<u8>, bytes: usize) -> Mutation {
        Mutation {
            key,
            kind: MutationKind::Set(KvValue::Bytes(vec![0; bytes])),
            expire_at_ms: None,
        }
    }

    #[test]
    fn validate_accepts_an_ordinary_write() {
        let w = AtomicWrite {
            checks: vec![Check {
                key: key!["a"].encode(),
                versionstamp: None,
            }],
            mutations: vec![set(key!["a"].encode(), 10)],
            enqueues: vec![],
        };
        assert_eq!(w.validate(&Limits::default(), 0), Ok(()));
    }

    #[test]
    fn validate_rejects_each_limit() {
        let limits = Limits::default();
        let big_key = key![vec![7u8; 3000]].encode();
        let w = AtomicWrite {
            mutations: vec![set(big_key, 1)],
            ..Default::default()
        };
        assert!(matches!(
            w.validate(&limits, 0),
            Err(LimitError::KeyTooLarge { .. })
        ));

        let w = AtomicWrite {
            mutations: vec![set(key!["a"].encode(), 65537)],
            ..Default::default()
        };
        assert!(matches!(
            w.validate(&limits, 0),
            Err(LimitError::ValueTooLarge { .. })
        ));

        let w = AtomicWrite {
            mutations: vec![set(key!["a"].encode(), 1); 1001],
            ..Default::default()
        };
        assert!(matches!(
            w.validate(&limits, 0),
            Err(LimitError::TooManyMutations { .. })
        ));

        let w = AtomicWrite {
            mutations: vec![set(vec![], 1)],
            ..Default::default()
        };
        assert!(matches!(w.validate(&limits, 0), Err(LimitError::EmptyKey)));

        let w = AtomicWrite {
            mutations: vec![set(vec![0x99], 1)],
            ..Default::default()
        };
        assert!(matches!(
            w.validate(&limits, 0),
            Err(LimitError::MalformedKey(_))
        ));

        let many: Vec<Mutation> = (0..20)
            .map(|i| set(key![i as i64].encode(), 60_000))
            .collect();
        let w = AtomicWrite {
            mutations: many,
            ..Default::default()
        };
        assert!(matches!(
            w.validate(&limits, 0),
            Err(LimitError::WriteTooLarge { .. })
        ));
    }
}
