//! Atomic writes: `AtomicWrite` → [`cairn_model::AtomicWrite`], outcomes → `AtomicWriteOutput`.

use cairn_model::{
    AtomicWrite, Check, Enqueue, KvValue, Limits, Mutation, MutationKind, Versionstamp,
};

use crate::convert::value::{kv_value_from_proto, kv_value_to_proto, value_to_proto};
use crate::error::ProtoError;
use crate::messages as pb;

/// The model write of an `AtomicWrite` message. Shape only: limits are checked by
/// [`AtomicWrite::validate`] (the store does so before a write enters its pipeline), or at once
/// by [`atomic_write_from_proto_validated`].
///
/// - A check versionstamp is empty (the key must not exist) or 10 bytes; any other length is
///   [`ProtoError::CheckVersionstamp`].
/// - A mutation type must be known and not `M_UNSPECIFIED`. Every type but `M_DELETE` needs a
///   value with a known encoding (an `LE64` value is 8 bytes); `M_DELETE` ignores its value, as
///   denokv does.
/// - `sum_min`/`sum_max` are V8 bytes, empty meaning no bound; they and `sum_clamp` are read
///   for `M_SUM` only and ignored otherwise, as denokv does.
/// - `expire_at_ms` ≤ 0 means never. denokv accepts 0 and -1 and refuses other negative
///   numbers; cairn reads them all as "never" (kv-connect.md §6: a server may be more
///   generous, never stricter).
/// - An enqueue deadline before `now_ms` (negative ones included) becomes `now_ms`: the
///   protocol defines a past deadline as "deliver now", and clamping keeps such messages in
///   arrival order instead of ahead of every other ready message. denokv refuses negative
///   deadlines; cairn is more generous. An empty backoff schedule means the default one.
pub fn atomic_write_from_proto(
    write: pb::AtomicWrite,
    now_ms: u64,
) -> Result<AtomicWrite, ProtoError> {
    let checks = write
        .checks
        .into_iter()
        .enumerate()
        .map(|(index, check)| check_from_proto(index, check))
        .collect::<Result<_, _>>()?;
    let mutations = write
        .mutations
        .into_iter()
        .enumerate()
        .map(|(index, mutation)| mutation_from_proto(index, mutation))
        .collect::<Result<_, _>>()?;
    let enqueues = write
        .enqueues
        .into_iter()
        .map(|enqueue| enqueue_from_proto(enqueue, now_ms))
        .collect();
    Ok(AtomicWrite {
        checks,
        mutations,
        enqueues,
    })
}

/// [`atomic_write_from_proto`], then [`AtomicWrite::validate`] against `limits`. The counts of
/// checks and mutations are checked first, before any conversion work.
pub fn atomic_write_from_proto_validated(
    write: pb::AtomicWrite,
    limits: &Limits,
    now_ms: u64,
) -> Result<AtomicWrite, ProtoError> {
    limits.check_write_shape(
        write.checks.len(),
        write.mutations.len().saturating_add(write.enqueues.len()),
    )?;
    let write = atomic_write_from_proto(write, now_ms)?;
    write.validate(limits, now_ms)?;
    Ok(write)
}

fn check_from_proto(index: usize, check: pb::Check) -> Result<Check, ProtoError> {
    let versionstamp = match check.versionstamp.len() {
        0 => None,
        len => Some(
            Versionstamp::from_slice(&check.versionstamp)
                .ok_or(ProtoError::CheckVersionstamp { index, len })?,
        ),
    };
    Ok(Check {
        key: check.key,
        versionstamp,
    })
}

fn mutation_from_proto(index: usize, mutation: pb::Mutation) -> Result<Mutation, ProtoError> {
    let value = mutation.value;
    let operand = |op: &'static str| operand_from_proto(index, op, value);
    let kind = match pb::MutationType::try_from(mutation.mutation_type) {
        Err(_) => {
            return Err(ProtoError::UnknownMutationType {
                index,
                value: mutation.mutation_type,
            })
        }
        Ok(pb::MutationType::MUnspecified) => {
            return Err(ProtoError::UnspecifiedMutationType { index })
        }
        Ok(pb::MutationType::MDelete) => MutationKind::Delete,
        Ok(pb::MutationType::MSet) => MutationKind::Set(operand("set")?),
        Ok(pb::MutationType::MSum) => MutationKind::Sum {
            value: operand("sum")?,
            min: bound_from_proto(mutation.sum_min),
            max: bound_from_proto(mutation.sum_max),
            clamp: mutation.sum_clamp,
        },
        Ok(pb::MutationType::MMin) => MutationKind::Min(operand("min")?),
        Ok(pb::MutationType::MMax) => MutationKind::Max(operand("max")?),
        Ok(pb::MutationType::MSetSuffixVersionstampedKey) => {
            MutationKind::SetSuffixVersionstampedKey(operand("setSuffixVersionstampedKey")?)
        }
    };
    Ok(Mutation {
        key: mutation.key,
        kind,
        expire_at_ms: u64::try_from(mutation.expire_at_ms)
            .ok()
            .filter(|ms| *ms > 0),
    })
}

fn operand_from_proto(
    index: usize,
    op: &'static str,
    value: Option<pb::KvValue>,
) -> Result<KvValue, ProtoError> {
    let value = value.ok_or(ProtoError::MissingMutationValue { index, op })?;
    kv_value_from_proto(value).map_err(|reason| ProtoError::MutationValue { index, reason })
}

fn bound_from_proto(bytes: Vec<u8>) -> Option<KvValue> {
    (!bytes.is_empty()).then_some(KvValue::V8(bytes))
}

fn enqueue_from_proto(enqueue: pb::Enqueue, now_ms: u64) -> Enqueue {
    let deadline_ms = u64::try_from(enqueue.deadline_ms).unwrap_or(0).max(now_ms);
    let schedule = enqueue.backoff_schedule;
    Enqueue {
        payload: enqueue.payload,
        deadline_ms,
        keys_if_undelivered: enqueue.keys_if_undelivered,
        backoff_schedule: (!schedule.is_empty()).then_some(schedule),
    }
}

/// The `AtomicWrite` message of a model write (the client side); the inverse of
/// [`atomic_write_from_proto`] for every write that function can return. Sum bounds travel as
/// their bare bytes (V8, as the protocol defines them); times beyond `i64::MAX` ms saturate.
pub fn atomic_write_to_proto(write: AtomicWrite) -> pb::AtomicWrite {
    pb::AtomicWrite {
        checks: write
            .checks
            .into_iter()
            .map(|check| pb::Check {
                key: check.key,
                versionstamp: check.versionstamp.map_or_else(Vec::new, |v| v.0.to_vec()),
            })
            .collect(),
        mutations: write.mutations.into_iter().map(mutation_to_proto).collect(),
        enqueues: write
            .enqueues
            .into_iter()
            .map(|enqueue| pb::Enqueue {
                payload: enqueue.payload,
                deadline_ms: saturating_i64(enqueue.deadline_ms),
                keys_if_undelivered: enqueue.keys_if_undelivered,
                backoff_schedule: enqueue.backoff_schedule.unwrap_or_default(),
            })
            .collect(),
    }
}

fn mutation_to_proto(mutation: Mutation) -> pb::Mutation {
    let mut out = pb::Mutation {
        key: mutation.key,
        expire_at_ms: mutation.expire_at_ms.map_or(0, saturating_i64),
        ..pb::Mutation::default()
    };
    let (mutation_type, value) = match mutation.kind {
        MutationKind::Set(value) => (pb::MutationType::MSet, Some(value)),
        MutationKind::Delete => (pb::MutationType::MDelete, None),
        MutationKind::Sum {
            value,
            min,
            max,
            clamp,
        } => {
            out.sum_min = min.map_or_else(Vec::new, |v| value_to_proto(v).0);
            out.sum_max = max.map_or_else(Vec::new, |v| value_to_proto(v).0);
            out.sum_clamp = clamp;
            (pb::MutationType::MSum, Some(value))
        }
        MutationKind::Min(value) => (pb::MutationType::MMin, Some(value)),
        MutationKind::Max(value) => (pb::MutationType::MMax, Some(value)),
        MutationKind::SetSuffixVersionstampedKey(value) => {
            (pb::MutationType::MSetSuffixVersionstampedKey, Some(value))
        }
    };
    out.mutation_type = mutation_type.into();
    out.value = value.map(kv_value_to_proto);
    out
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The `AtomicWriteOutput` of a committed write: `AW_SUCCESS` and its versionstamp.
pub fn atomic_write_output_committed(versionstamp: Versionstamp) -> pb::AtomicWriteOutput {
    pb::AtomicWriteOutput {
        status: pb::AtomicWriteStatus::AwSuccess.into(),
        versionstamp: versionstamp.0.to_vec(),
        failed_checks: Vec::new(),
        failure_reason: String::new(),
    }
}

/// The `AtomicWriteOutput` of a write whose checks failed: `AW_CHECK_FAILURE` and the indexes
/// (into the request's checks) of the failed ones.
pub fn atomic_write_output_check_failed(
    failed_checks: Vec<u32>,
    reason: Option<String>,
) -> pb::AtomicWriteOutput {
    pb::AtomicWriteOutput {
        status: pb::AtomicWriteStatus::AwCheckFailure.into(),
        versionstamp: Vec::new(),
        failed_checks,
        failure_reason: reason.unwrap_or_default(),
    }
}

/// The `AtomicWriteOutput` of an endpoint that cannot serve writes now (a read replica):
/// `AW_WRITE_DISABLED`.
pub fn atomic_write_output_write_disabled() -> pb::AtomicWriteOutput {
    pb::AtomicWriteOutput {
        status: pb::AtomicWriteStatus::AwWriteDisabled.into(),
        versionstamp: Vec::new(),
        failed_checks: Vec::new(),
        failure_reason: String::new(),
    }
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
