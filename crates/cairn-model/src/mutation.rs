//! The pure semantics of `sum`, `min` and `max` (kv-connect.md §5): from the stored value (if
//! any) and the mutation's operands, the value to store, or the error that fails the whole
//! atomic write.
//!
//! The rules and the error messages, word for word, are those of denokv's SQLite backend, which
//! is both what `Deno.openKv()` runs locally and what the reference server runs:
//!
//! - `min` and `max` take a `Deno.KvU64` operand and compare unsigned; `sum` with a `KvU64`
//!   operand adds modulo 2^64. The stored value must be a `KvU64` too; a missing key takes the
//!   operand.
//! - `sum` with any other operand reads it, and the optional `min`/`max` bounds, as V8 numbers
//!   or bigints (see [`crate::v8`]); an empty V8 bound means "no bound". Bounds must have the
//!   operand's type. A missing key takes the operand, re-encoded, with the bounds not applied.
//!   Otherwise the stored value must have the operand's type; the sum is then checked against
//!   the lower bound, then the upper one, and either clamped to the bound (`clamp`) or refused.
//!   For numbers the comparisons are IEEE ones, so a NaN sum is never out of range.
//! - Backward compatibility: a bigint operand in `0..=u64::MAX`, with no bounds and no clamp,
//!   added to a stored `KvU64` is added as a `KvU64`, modulo 2^64.
//!
//! One deliberate difference: denokv ignores bounds given with a `KvU64` operand; cairn
//! refuses them ([`MutationError::SumBoundsWithU64`], with denokv's own message for that case)
//! rather than silently store a sum outside the bounds its writer asked for. No Deno client
//! sends such bounds.

use num_bigint::BigInt;

use crate::v8::{decode_number, encode_bigint, encode_number, V8Number};
use crate::value::KvValue;

/// Why a `sum`, `min` or `max` mutation cannot be applied; fails its whole atomic write.
///
/// Messages are denokv's, so clients see the same errors whichever server they talk to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MutationError {
    /// A `KvU64` operation on a stored value that is not a `KvU64`.
    #[error("Failed to perform '{op}' mutation on a non-U64 value in the database")]
    NonU64Value {
        /// `"sum"`, `"min"` or `"max"`.
        op: &'static str,
    },
    /// `min` or `max` with an operand that is not a `KvU64`.
    #[error("Failed to perform '{op}' mutation on a non-U64 operand")]
    NonU64Operand {
        /// `"min"` or `"max"`.
        op: &'static str,
    },
    /// A `sum` whose operand is neither a `KvU64` nor a V8 number or bigint, or whose bound is
    /// neither empty, a `KvU64`, nor a V8 number or bigint.
    #[error("Some of the parameters are not valid V8 values")]
    InvalidSumParameters,
    /// A `sum` bound whose type differs from the operand's.
    #[error("Min/max parameters have different types than the operand")]
    SumBoundsTypeMismatch,
    /// A `sum` with a `KvU64` operand and bounds: bounds apply to V8 sums only.
    #[error("Cannot use min/max parameters with KvU64 operands")]
    SumBoundsWithU64,
    /// A V8 `sum` on a stored value that is neither a `KvU64` nor a V8 number or bigint (for
    /// example a string, an object, or a `Uint8Array`).
    #[error("unsupported value type")]
    SumUnsupportedStoredValue,
    /// A V8 `sum` on a stored V8 value of zero bytes.
    #[error("operand cannot be empty")]
    SumEmptyStoredValue,
    /// A V8 `sum` on a stored value of another numeric type than the operand's.
    #[error("Cannot sum {stored} with {operand}")]
    SumTypeMismatch {
        /// The stored value's type: `"BigInt"`, `"Number"` or `"KvU64"`.
        stored: &'static str,
        /// The operand's type: `"BigInt"` or `"Number"`.
        operand: &'static str,
    },
    /// A V8 `sum` whose result leaves its bounds, without `clamp`.
    #[error("The result of a Sum operation would exceed its range limit")]
    SumOutOfRange,
}

/// Applies `sum` to the stored value `existing` (`None` when the key is missing or expired).
///
/// `min` and `max` are the optional bounds of a V8 sum; `Some(KvValue::V8(vec![]))` counts as
/// no bound, as an empty `sum_min`/`sum_max` does on the wire. `clamp` replaces an out-of-range
/// result by the bound it crossed instead of failing.
pub fn apply_sum(
    existing: Option<&KvValue>,
    operand: &KvValue,
    min: Option<&KvValue>,
    max: Option<&KvValue>,
    clamp: bool,
) -> Result<KvValue, MutationError> {
    if let KvValue::U64(operand) = operand {
        if is_bound(min) || is_bound(max) {
            return Err(MutationError::SumBoundsWithU64);
        }
        return mutate_u64("sum", existing, *operand, u64::wrapping_add);
    }
    sum_v8(existing, operand, min, max, clamp)
}

/// Applies `min`: the smaller of the stored `KvU64` and the operand, compared unsigned.
pub fn apply_min(existing: Option<&KvValue>, operand: &KvValue) -> Result<KvValue, MutationError> {
    let KvValue::U64(operand) = operand else {
        return Err(MutationError::NonU64Operand { op: "min" });
    };
    mutate_u64("min", existing, *operand, u64::min)
}

/// Applies `max`: the larger of the stored `KvU64` and the operand, compared unsigned.
pub fn apply_max(existing: Option<&KvValue>, operand: &KvValue) -> Result<KvValue, MutationError> {
    let KvValue::U64(operand) = operand else {
        return Err(MutationError::NonU64Operand { op: "max" });
    };
    mutate_u64("max", existing, *operand, u64::max)
}

fn mutate_u64(
    op: &'static str,
    existing: Option<&KvValue>,
    operand: u64,
    combine: fn(u64, u64) -> u64,
) -> Result<KvValue, MutationError> {
    match existing {
        None => Ok(KvValue::U64(operand)),
        Some(KvValue::U64(stored)) => Ok(KvValue::U64(combine(*stored, operand))),
        Some(_) => Err(MutationError::NonU64Value { op }),
    }
}

/// Whether a bound is present: an empty V8 bound is "no bound".
fn is_bound(bound: Option<&KvValue>) -> bool {
    match bound {
        None => false,
        Some(KvValue::V8(bytes)) => !bytes.is_empty(),
        Some(_) => true,
    }
}

/// A numeric `sum` operand, bound or stored value.
#[derive(Debug, Clone, PartialEq)]
enum Summand {
    V8(V8Number),
    U64(u64),
}

impl Summand {
    fn type_name(&self) -> &'static str {
        match self {
            Summand::V8(number) => number.type_name(),
            Summand::U64(_) => "KvU64",
        }
    }

    fn same_type(&self, other: &Summand) -> bool {
        self.type_name() == other.type_name()
    }
}

/// Reads a sum operand or bound: `Ok(None)` for an empty V8 value, an error for anything that
/// is not a `KvU64` or a V8 number or bigint.
fn read_parameter(value: &KvValue) -> Result<Option<Summand>, MutationError> {
    match value {
        KvValue::V8(bytes) if bytes.is_empty() => Ok(None),
        KvValue::V8(bytes) => decode_number(bytes)
            .map(|number| Some(Summand::V8(number)))
            .ok_or(MutationError::InvalidSumParameters),
        KvValue::U64(n) => Ok(Some(Summand::U64(*n))),
        KvValue::Bytes(_) => Err(MutationError::InvalidSumParameters),
    }
}

fn read_stored(value: &KvValue) -> Result<Summand, MutationError> {
    match value {
        KvValue::V8(bytes) if bytes.is_empty() => Err(MutationError::SumEmptyStoredValue),
        KvValue::V8(bytes) => decode_number(bytes)
            .map(Summand::V8)
            .ok_or(MutationError::SumUnsupportedStoredValue),
        KvValue::U64(n) => Ok(Summand::U64(*n)),
        KvValue::Bytes(_) => Err(MutationError::SumUnsupportedStoredValue),
    }
}

fn sum_v8(
    existing: Option<&KvValue>,
    operand: &KvValue,
    min: Option<&KvValue>,
    max: Option<&KvValue>,
    clamp: bool,
) -> Result<KvValue, MutationError> {
    // All three parameters are read before any is type-checked, as denokv does, so an
    // unreadable parameter is reported even when another one has the wrong type.
    let operand = read_parameter(operand)?.ok_or(MutationError::InvalidSumParameters)?;
    let min = min.map(read_parameter).transpose()?.flatten();
    let max = max.map(read_parameter).transpose()?.flatten();
    if [&min, &max]
        .into_iter()
        .flatten()
        .any(|bound| !bound.same_type(&operand))
    {
        return Err(MutationError::SumBoundsTypeMismatch);
    }
    let Summand::V8(operand) = operand else {
        // Unreachable: only a `KvU64` value reads as `Summand::U64`, and `apply_sum` sends
        // those down the `KvU64` path. Kept total so that no input can panic.
        return Err(MutationError::InvalidSumParameters);
    };
    let Some(existing) = existing else {
        return Ok(KvValue::V8(operand.encode()));
    };
    let bounds = Bounds {
        min: min.as_ref(),
        max: max.as_ref(),
        clamp,
    };
    match (read_stored(existing)?, operand) {
        (Summand::V8(V8Number::BigInt(stored)), V8Number::BigInt(operand)) => {
            let sum = bounds.apply(stored + operand, as_bigint)?;
            Ok(KvValue::V8(encode_bigint(&sum)))
        }
        (Summand::V8(V8Number::Number(stored)), V8Number::Number(operand)) => {
            let sum = bounds.apply(stored + operand, as_number)?;
            Ok(KvValue::V8(encode_number(sum)))
        }
        (Summand::U64(stored), V8Number::BigInt(operand)) if bounds.is_unbounded() => {
            // Backward compatibility: bigint operands used to be how KvU64s were summed.
            match u64::try_from(&operand) {
                Ok(operand) => Ok(KvValue::U64(stored.wrapping_add(operand))),
                Err(_) => Err(MutationError::SumTypeMismatch {
                    stored: "KvU64",
                    operand: "BigInt",
                }),
            }
        }
        (stored, operand) => Err(MutationError::SumTypeMismatch {
            stored: stored.type_name(),
            operand: operand.type_name(),
        }),
    }
}

/// The bounds of a V8 sum, already checked to have the operand's type.
struct Bounds<'a> {
    min: Option<&'a Summand>,
    max: Option<&'a Summand>,
    clamp: bool,
}

impl Bounds<'_> {
    fn is_unbounded(&self) -> bool {
        self.min.is_none() && self.max.is_none() && !self.clamp
    }

    /// Checks `sum` against the lower bound, then the upper one. `extract` turns a bound into
    /// the sum's type; bounds of another type were refused earlier, and would be ignored here.
    fn apply<T: PartialOrd + Clone>(
        &self,
        sum: T,
        extract: impl Fn(&Summand) -> Option<&T>,
    ) -> Result<T, MutationError> {
        let mut sum = sum;
        if let Some(min) = self.min.and_then(&extract) {
            if sum < *min {
                sum = self.clamped(min)?;
            }
        }
        if let Some(max) = self.max.and_then(&extract) {
            if sum > *max {
                sum = self.clamped(max)?;
            }
        }
        Ok(sum)
    }

    fn clamped<T: Clone>(&self, bound: &T) -> Result<T, MutationError> {
        if self.clamp {
            Ok(bound.clone())
        } else {
            Err(MutationError::SumOutOfRange)
        }
    }
}

fn as_bigint(summand: &Summand) -> Option<&BigInt> {
    match summand {
        Summand::V8(V8Number::BigInt(value)) => Some(value),
        _ => None,
    }
}

fn as_number(summand: &Summand) -> Option<&f64> {
    match summand {
        Summand::V8(V8Number::Number(value)) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(value: f64) -> KvValue {
        KvValue::V8(encode_number(value))
    }

    fn bigint(value: i128) -> KvValue {
        KvValue::V8(encode_bigint(&BigInt::from(value)))
    }

    /// A small integer as V8 itself writes it ('I', zigzag varint), e.g. what Deno stores for `5`.
    fn smi(value: u8) -> KvValue {
        KvValue::V8(vec![0xFF, 0x0F, b'I', value * 2])
    }

    fn string(text: &str) -> KvValue {
        let mut bytes = vec![
            0xFF,
            0x0F,
            b'"',
            u8::try_from(text.len()).expect("short test string"),
        ];
        bytes.extend_from_slice(text.as_bytes());
        KvValue::V8(bytes)
    }

    fn empty_v8() -> KvValue {
        KvValue::V8(vec![])
    }

    fn sum(existing: Option<&KvValue>, operand: &KvValue) -> Result<KvValue, MutationError> {
        apply_sum(existing, operand, None, None, false)
    }

    fn bounded(
        existing: &KvValue,
        operand: &KvValue,
        min: &KvValue,
        max: &KvValue,
        clamp: bool,
    ) -> Result<KvValue, MutationError> {
        apply_sum(Some(existing), operand, Some(min), Some(max), clamp)
    }

    // KvU64 sum, min and max.

    #[test]
    fn u64_missing_key_takes_the_operand() {
        let operand = KvValue::U64(7);
        assert_eq!(sum(None, &operand), Ok(KvValue::U64(7)));
        assert_eq!(apply_min(None, &operand), Ok(KvValue::U64(7)));
        assert_eq!(apply_max(None, &operand), Ok(KvValue::U64(7)));
    }

    #[test]
    fn u64_sum_wraps() {
        assert_eq!(
            sum(Some(&KvValue::U64(40)), &KvValue::U64(2)),
            Ok(KvValue::U64(42))
        );
        assert_eq!(
            sum(Some(&KvValue::U64(u64::MAX)), &KvValue::U64(2)),
            Ok(KvValue::U64(1))
        );
    }

    #[test]
    fn u64_min_max_compare_unsigned() {
        let big = KvValue::U64(u64::MAX);
        let one = KvValue::U64(1);
        assert_eq!(apply_min(Some(&big), &one), Ok(one.clone()));
        assert_eq!(apply_min(Some(&one), &big), Ok(one.clone()));
        assert_eq!(apply_max(Some(&big), &one), Ok(big.clone()));
        assert_eq!(apply_max(Some(&one), &big), Ok(big.clone()));
        assert_eq!(apply_max(Some(&one), &one), Ok(one));
    }

    #[test]
    fn u64_operations_refuse_other_stored_values() {
        let operand = KvValue::U64(1);
        for stored in [
            number(1.0),
            bigint(1),
            KvValue::Bytes(vec![1; 8]),
            empty_v8(),
        ] {
            assert_eq!(
                sum(Some(&stored), &operand),
                Err(MutationError::NonU64Value { op: "sum" })
            );
            assert_eq!(
                apply_min(Some(&stored), &operand),
                Err(MutationError::NonU64Value { op: "min" })
            );
            assert_eq!(
                apply_max(Some(&stored), &operand),
                Err(MutationError::NonU64Value { op: "max" })
            );
        }
        assert_eq!(
            MutationError::NonU64Value { op: "sum" }.to_string(),
            "Failed to perform 'sum' mutation on a non-U64 value in the database"
        );
    }

    #[test]
    fn min_max_refuse_other_operands_even_on_missing_keys() {
        for operand in [number(1.0), bigint(1), KvValue::Bytes(vec![1; 8])] {
            for existing in [None, Some(&KvValue::U64(1))] {
                assert_eq!(
                    apply_min(existing, &operand),
                    Err(MutationError::NonU64Operand { op: "min" })
                );
                assert_eq!(
                    apply_max(existing, &operand),
                    Err(MutationError::NonU64Operand { op: "max" })
                );
            }
        }
        assert_eq!(
            MutationError::NonU64Operand { op: "max" }.to_string(),
            "Failed to perform 'max' mutation on a non-U64 operand"
        );
    }

    #[test]
    fn u64_sum_refuses_bounds_but_not_empty_ones() {
        let one = KvValue::U64(1);
        let stored = KvValue::U64(5);
        for bound in [
            bigint(10),
            number(10.0),
            KvValue::U64(10),
            KvValue::Bytes(vec![]),
        ] {
            assert_eq!(
                apply_sum(Some(&stored), &one, Some(&bound), None, false),
                Err(MutationError::SumBoundsWithU64)
            );
            assert_eq!(
                apply_sum(None, &one, None, Some(&bound), true),
                Err(MutationError::SumBoundsWithU64)
            );
        }
        let empty = empty_v8();
        assert_eq!(
            apply_sum(Some(&stored), &one, Some(&empty), Some(&empty), true),
            Ok(KvValue::U64(6))
        );
        assert_eq!(
            MutationError::SumBoundsWithU64.to_string(),
            "Cannot use min/max parameters with KvU64 operands"
        );
    }

    // V8 sums: parameters.

    #[test]
    fn v8_operand_must_be_a_number_or_bigint() {
        for operand in [
            empty_v8(),
            string("a"),
            KvValue::Bytes(vec![1]),
            KvValue::V8(vec![0xFF, 0x0F, b'N', 0]),
        ] {
            assert_eq!(
                sum(None, &operand),
                Err(MutationError::InvalidSumParameters)
            );
            assert_eq!(
                sum(Some(&number(1.0)), &operand),
                Err(MutationError::InvalidSumParameters)
            );
        }
        assert_eq!(
            MutationError::InvalidSumParameters.to_string(),
            "Some of the parameters are not valid V8 values"
        );
    }

    #[test]
    fn v8_bounds_must_be_readable_and_of_the_operand_type() {
        let stored = bigint(1);
        let operand = bigint(1);
        for bound in [string("a"), KvValue::Bytes(vec![]), KvValue::V8(vec![0xFF])] {
            assert_eq!(
                apply_sum(Some(&stored), &operand, Some(&bound), None, false),
                Err(MutationError::InvalidSumParameters)
            );
            assert_eq!(
                apply_sum(None, &operand, None, Some(&bound), false),
                Err(MutationError::InvalidSumParameters)
            );
        }
        for bound in [number(5.0), KvValue::U64(5)] {
            assert_eq!(
                apply_sum(Some(&stored), &operand, Some(&bound), None, false),
                Err(MutationError::SumBoundsTypeMismatch)
            );
            assert_eq!(
                apply_sum(None, &operand, None, Some(&bound), true),
                Err(MutationError::SumBoundsTypeMismatch)
            );
        }
        assert_eq!(
            apply_sum(
                Some(&number(1.0)),
                &number(1.0),
                Some(&bigint(0)),
                None,
                false
            ),
            Err(MutationError::SumBoundsTypeMismatch)
        );
        // An unreadable bound wins over a mistyped one: all parameters are read first.
        assert_eq!(
            apply_sum(
                Some(&stored),
                &operand,
                Some(&KvValue::U64(0)),
                Some(&string("a")),
                false
            ),
            Err(MutationError::InvalidSumParameters)
        );
        assert_eq!(
            MutationError::SumBoundsTypeMismatch.to_string(),
            "Min/max parameters have different types than the operand"
        );
    }

    #[test]
    fn v8_empty_bounds_are_no_bounds() {
        let empty = empty_v8();
        assert_eq!(
            apply_sum(
                Some(&bigint(1)),
                &bigint(2),
                Some(&empty),
                Some(&empty),
                false
            ),
            Ok(bigint(3))
        );
    }

    // V8 sums: missing keys.

    #[test]
    fn v8_missing_key_takes_the_operand_re_encoded_and_unbounded() {
        // A small integer written by V8 as 'I' comes back as a double, as denokv writes it.
        assert_eq!(sum(None, &smi(5)), Ok(number(5.0)));
        assert_eq!(sum(None, &number(-1.5)), Ok(number(-1.5)));
        // A shortest-length bigint (as denokv writes them) comes back in V8's whole digits.
        assert_eq!(
            sum(None, &KvValue::V8(vec![0xFF, 0x0F, b'Z', 0x02, 0x07])),
            Ok(bigint(7))
        );
        // Bounds are not applied to the first value.
        assert_eq!(
            apply_sum(None, &bigint(100), None, Some(&bigint(10)), false),
            Ok(bigint(100))
        );
        assert_eq!(
            apply_sum(None, &number(-100.0), Some(&number(0.0)), None, true),
            Ok(number(-100.0))
        );
    }

    // V8 sums: stored values.

    #[test]
    fn v8_sums_of_the_same_type() {
        assert_eq!(sum(Some(&bigint(40)), &bigint(2)), Ok(bigint(42)));
        assert_eq!(sum(Some(&bigint(-5)), &bigint(5)), Ok(bigint(0)));
        let huge = i128::from(u64::MAX);
        assert_eq!(
            sum(Some(&bigint(huge)), &bigint(huge)),
            Ok(bigint(2 * huge))
        );
        assert_eq!(sum(Some(&smi(1)), &number(0.5)), Ok(number(1.5)));
        assert_eq!(
            sum(Some(&number(f64::MAX)), &number(f64::MAX)),
            Ok(number(f64::INFINITY))
        );
    }

    #[test]
    fn v8_sums_refuse_other_stored_types() {
        let mismatch = |stored, operand| Err(MutationError::SumTypeMismatch { stored, operand });
        assert_eq!(
            sum(Some(&number(1.0)), &bigint(1)),
            mismatch("Number", "BigInt")
        );
        assert_eq!(
            sum(Some(&bigint(1)), &number(1.0)),
            mismatch("BigInt", "Number")
        );
        assert_eq!(
            sum(Some(&KvValue::U64(1)), &number(1.0)),
            mismatch("KvU64", "Number")
        );
        assert_eq!(
            MutationError::SumTypeMismatch {
                stored: "Number",
                operand: "BigInt"
            }
            .to_string(),
            "Cannot sum Number with BigInt"
        );
    }

    #[test]
    fn v8_sums_refuse_unreadable_stored_values() {
        for stored in [
            string("a"),
            KvValue::Bytes(vec![1, 2]),
            KvValue::V8(vec![0xFF, 0x0F, b'o', b'{', 0]),
        ] {
            assert_eq!(
                sum(Some(&stored), &bigint(1)),
                Err(MutationError::SumUnsupportedStoredValue)
            );
        }
        assert_eq!(
            sum(Some(&empty_v8()), &number(1.0)),
            Err(MutationError::SumEmptyStoredValue)
        );
        assert_eq!(
            MutationError::SumUnsupportedStoredValue.to_string(),
            "unsupported value type"
        );
        assert_eq!(
            MutationError::SumEmptyStoredValue.to_string(),
            "operand cannot be empty"
        );
    }

    #[test]
    fn bigint_onto_u64_is_a_u64_sum_when_unbounded() {
        assert_eq!(sum(Some(&KvValue::U64(5)), &bigint(3)), Ok(KvValue::U64(8)));
        assert_eq!(
            sum(Some(&KvValue::U64(u64::MAX)), &bigint(1)),
            Ok(KvValue::U64(0))
        );
        assert_eq!(
            sum(Some(&KvValue::U64(5)), &bigint(i128::from(u64::MAX))),
            Ok(KvValue::U64(4))
        );
        let mismatch = Err(MutationError::SumTypeMismatch {
            stored: "KvU64",
            operand: "BigInt",
        });
        // Outside 0..=u64::MAX.
        assert_eq!(sum(Some(&KvValue::U64(5)), &bigint(-1)), mismatch);
        assert_eq!(
            sum(Some(&KvValue::U64(5)), &bigint(i128::from(u64::MAX) + 1)),
            mismatch
        );
        // With a bound or with clamp.
        assert_eq!(
            apply_sum(
                Some(&KvValue::U64(5)),
                &bigint(1),
                None,
                Some(&bigint(10)),
                false
            ),
            mismatch
        );
        assert_eq!(
            apply_sum(Some(&KvValue::U64(5)), &bigint(1), None, None, true),
            mismatch
        );
    }

    // V8 sums: bounds.

    #[test]
    fn bigint_bounds_check_or_clamp() {
        let (min, max) = (bigint(0), bigint(10));
        assert_eq!(
            bounded(&bigint(5), &bigint(5), &min, &max, false),
            Ok(bigint(10))
        );
        assert_eq!(
            bounded(&bigint(5), &bigint(-5), &min, &max, false),
            Ok(bigint(0))
        );
        assert_eq!(
            bounded(&bigint(5), &bigint(6), &min, &max, false),
            Err(MutationError::SumOutOfRange)
        );
        assert_eq!(
            bounded(&bigint(5), &bigint(-6), &min, &max, false),
            Err(MutationError::SumOutOfRange)
        );
        assert_eq!(
            bounded(&bigint(5), &bigint(6), &min, &max, true),
            Ok(bigint(10))
        );
        assert_eq!(
            bounded(&bigint(5), &bigint(-6), &min, &max, true),
            Ok(bigint(0))
        );
        // One bound only.
        assert_eq!(
            apply_sum(Some(&bigint(5)), &bigint(100), Some(&min), None, false),
            Ok(bigint(105))
        );
        assert_eq!(
            apply_sum(Some(&bigint(5)), &bigint(-100), None, Some(&max), false),
            Ok(bigint(-95))
        );
        assert_eq!(
            MutationError::SumOutOfRange.to_string(),
            "The result of a Sum operation would exceed its range limit"
        );
    }

    #[test]
    fn number_bounds_check_or_clamp() {
        let (min, max) = (number(-1.0), number(1.0));
        assert_eq!(
            bounded(&number(0.5), &number(0.25), &min, &max, false),
            Ok(number(0.75))
        );
        assert_eq!(
            bounded(&number(0.5), &number(0.75), &min, &max, false),
            Err(MutationError::SumOutOfRange)
        );
        assert_eq!(
            bounded(&number(0.5), &number(0.75), &min, &max, true),
            Ok(number(1.0))
        );
        assert_eq!(
            bounded(&number(-0.5), &number(-0.75), &min, &max, true),
            Ok(number(-1.0))
        );
        assert_eq!(
            bounded(&smi(0), &smi(1), &min, &max, false),
            Ok(number(1.0))
        );
        // Overflow to infinity is out of range of a finite bound.
        let max_finite = number(f64::MAX);
        assert_eq!(
            apply_sum(
                Some(&number(f64::MAX)),
                &number(f64::MAX),
                None,
                Some(&max_finite),
                false
            ),
            Err(MutationError::SumOutOfRange)
        );
    }

    #[test]
    fn nan_sums_are_never_out_of_range() {
        let (min, max) = (number(0.0), number(1.0));
        let result = bounded(&number(f64::NAN), &number(1.0), &min, &max, false)
            .expect("NaN compares false");
        assert!(
            matches!(&result, KvValue::V8(bytes) if decode_number(bytes).is_some_and(|n| matches!(n, V8Number::Number(x) if x.is_nan())))
        );
    }

    #[test]
    fn crossed_bounds_apply_min_then_max() {
        // min 10 > max 0: a sum below 10 is raised to 10, then lowered to 0.
        let (min, max) = (bigint(10), bigint(0));
        assert_eq!(
            bounded(&bigint(1), &bigint(1), &min, &max, true),
            Ok(bigint(0))
        );
        assert_eq!(
            bounded(&bigint(1), &bigint(1), &min, &max, false),
            Err(MutationError::SumOutOfRange)
        );
        // A sum above 10 only crosses max.
        assert_eq!(
            bounded(&bigint(10), &bigint(5), &min, &max, true),
            Ok(bigint(0))
        );
    }
}
