//! Reads that return less than whole entries: keys-only listings ([`KeyEntry`],
//! [`KvKeyList`]), counts, and aggregates of numeric values ([`Aggregate`], [`Number`]).
//! Both implementations of [`crate::Kv`] answer them from one snapshot (the network client:
//! one snapshot per request, see `docs/protocol.md`).
//!
//! Numbers are what JavaScript stores: `Deno.KvU64` and bigints are integers
//! ([`Number::Int`]), JavaScript numbers are doubles ([`Number::Float`]), and JSON numbers are
//! integers when they are written as integers that fit, doubles otherwise. A sum stays an exact
//! integer while every term is one and it fits an `i128`; otherwise it is a double. `NaN` is
//! not a number here: such values are skipped like any other non-numeric value.

use std::cmp::Ordering;
use std::fmt;
use std::future::Future;

use crate::{Key, Versionstamp};

/// A key and the versionstamp of the commit that wrote it (a keys-only listing's item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key.
    pub key: Key,
    /// The commit that wrote it.
    pub versionstamp: Versionstamp,
}

/// A keys-only listing in progress: keys in order, then `None`.
pub trait KvKeyList: Send {
    /// What reading fails with.
    type Error;

    /// The next key, or `None` at the end.
    fn next(&mut self) -> impl Future<Output = Option<Result<KeyEntry, Self::Error>>> + Send;

    /// A cursor for the position after the last key returned (empty before the first); the
    /// same format as [`crate::KvList::cursor`], so either listing resumes the other.
    fn cursor(&self) -> String;

    /// Every remaining key.
    fn collect(mut self) -> impl Future<Output = Result<Vec<KeyEntry>, Self::Error>> + Send
    where
        Self: Sized,
    {
        async move {
            let mut out = Vec::new();
            while let Some(entry) = self.next().await {
                out.push(entry?);
            }
            Ok(out)
        }
    }
}

/// What to aggregate: the values themselves, or one field of object values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AggregateOptions {
    /// A field of object values (V8 objects, or JSON objects as text or bytes) to aggregate
    /// instead of the value; `a.b` names field `b` of the object in field `a`.
    pub field: Option<String>,
}

/// A number found in a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer: a `Deno.KvU64`, a bigint, or a JSON integer.
    Int(i128),
    /// A JavaScript number (never NaN).
    Float(f64),
}

/// 2^127: the first double above every `i128`.
const I128_BOUND: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

impl Number {
    /// The value as a double (rounded for integers beyond 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// Exact numeric comparison across the two kinds (neither is ever NaN).
    pub fn total_cmp(self, other: Number) -> Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(&b),
            (Number::Float(a), Number::Float(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            (Number::Int(a), Number::Float(b)) => cmp_int_float(a, b),
            (Number::Float(a), Number::Int(b)) => cmp_int_float(b, a).reverse(),
        }
    }

    /// `self + other`: exact while both are integers and the sum fits, a double otherwise.
    pub fn plus(self, other: Number) -> Number {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => match a.checked_add(b) {
                Some(sum) => Number::Int(sum),
                None => Number::Float(a as f64 + b as f64),
            },
            (a, b) => Number::Float(a.as_f64() + b.as_f64()),
        }
    }
}

/// Compares an integer with a double exactly (the double is not NaN).
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    if f >= I128_BOUND {
        return Ordering::Less;
    }
    if f < -I128_BOUND {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // |whole| < 2^127, so the conversion is exact.
    match i.cmp(&(whole as i128)) {
        Ordering::Equal if f > whole => Ordering::Less,
        Ordering::Equal if f < whole => Ordering::Greater,
        other => other,
    }
}

/// Shown as JavaScript shows it: integers without a fraction, doubles as `f64` prints them
/// (`1.5`, `Infinity`), integral doubles without `.0`.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
            }
            Number::Float(x) if x.fract() == 0.0 && x.abs() < 1e21 => write!(f, "{x:.0}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// The aggregate of the numeric values over a range: count, sum, min, max (and so the
/// average). Entries without a number are counted in `skipped`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Numeric values seen.
    pub count: u64,
    /// Entries whose value (or field) is not a number.
    pub skipped: u64,
    /// Sum of the numeric values (`Int(0)` for none).
    pub sum: Number,
    /// Smallest numeric value, if any.
    pub min: Option<Number>,
    /// Largest numeric value, if any.
    pub max: Option<Number>,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            count: 0,
            skipped: 0,
            sum: Number::Int(0),
            min: None,
            max: None,
        }
    }
}

impl Aggregate {
    /// Adds one entry: its number, or `None` for an entry without one.
    pub fn add(&mut self, number: Option<Number>) {
        let Some(n) = number else {
            self.skipped += 1;
            return;
        };
        self.count += 1;
        self.sum = self.sum.plus(n);
        if self.min.is_none_or(|m| n.total_cmp(m) == Ordering::Less) {
            self.min = Some(n);
        }
        if self.max.is_none_or(|m| n.total_cmp(m) == Ordering::Greater) {
            self.max = Some(n);
        }
    }

    /// Folds in the aggregate of another part of the range (pages of a long aggregate).
    pub fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.skipped += other.skipped;
        self.sum = self.sum.plus(other.sum);
        for (mine, theirs, keep) in [
            (&mut self.min, other.min, Ordering::Less),
            (&mut self.max, other.max, Ordering::Greater),
        ] {
            if let Some(t) = theirs {
                if mine.is_none_or(|m| t.total_cmp(m) == keep) {
                    *mine = Some(t);
                }
            }
        }
    }

    /// The mean of the numeric values, if there are any.
    pub fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum.as_f64() / self.count as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_stay_exact_until_a_double_or_an_overflow() {
        let mut a = Aggregate::default();
        a.add(Some(Number::Int(u64::MAX.into())));
        a.add(Some(Number::Int(u64::MAX.into())));
        assert_eq!(a.sum, Number::Int(2 * i128::from(u64::MAX)));
        a.add(Some(Number::Float(0.5)));
        assert!(matches!(a.sum, Number::Float(_)));
        assert_eq!(
            Number::Int(i128::MAX).plus(Number::Int(1)),
            Number::Float(i128::MAX as f64 + 1.0)
        );
    }

    #[test]
    fn min_and_max_compare_across_kinds_exactly() {
        let big = (1i128 << 60) + 1;
        assert_eq!(
            Number::Int(big).total_cmp(Number::Float((1u64 << 60) as f64)),
            Ordering::Greater
        );
        assert_eq!(Number::Int(2).total_cmp(Number::Float(2.5)), Ordering::Less);
        assert_eq!(
            Number::Int(-2).total_cmp(Number::Float(-2.5)),
            Ordering::Greater
        );
        assert_eq!(
            Number::Int(3).total_cmp(Number::Float(3.0)),
            Ordering::Equal
        );
        assert_eq!(
            Number::Int(i128::MAX).total_cmp(Number::Float(f64::INFINITY)),
            Ordering::Less
        );
        assert_eq!(
            Number::Float(-1e300).total_cmp(Number::Int(i128::MIN)),
            Ordering::Less
        );
        let mut a = Aggregate::default();
        for n in [Number::Float(2.5), Number::Int(-7), Number::Int(10)] {
            a.add(Some(n));
        }
        a.add(None);
        assert_eq!(
            (a.min, a.max, a.count, a.skipped),
            (Some(Number::Int(-7)), Some(Number::Int(10)), 3, 1)
        );
        assert_eq!(a.avg(), Some(5.5 / 3.0));
    }

    #[test]
    fn merging_pages_equals_one_pass() {
        let values = [
            Number::Int(4),
            Number::Float(-1.25),
            Number::Int(9),
            Number::Float(3.0),
        ];
        let mut whole = Aggregate::default();
        values.iter().for_each(|n| whole.add(Some(*n)));
        whole.add(None);
        let (mut left, mut right) = (Aggregate::default(), Aggregate::default());
        values.iter().take(1).for_each(|n| left.add(Some(*n)));
        values.iter().skip(1).for_each(|n| right.add(Some(*n)));
        right.add(None);
        left.merge(&right);
        assert_eq!(left, whole);
        let mut empty = Aggregate::default();
        empty.merge(&Aggregate::default());
        assert_eq!(empty.avg(), None);
    }

    #[test]
    fn numbers_display_as_javascript_would() {
        assert_eq!(Number::Float(6.0).to_string(), "6");
        assert_eq!(Number::Float(1.5).to_string(), "1.5");
        assert_eq!(Number::Float(f64::NEG_INFINITY).to_string(), "-Infinity");
        assert_eq!(Number::Int(-12).to_string(), "-12");
    }
}
