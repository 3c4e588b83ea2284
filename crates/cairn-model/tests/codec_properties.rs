//! Property tests of the key codec (kv-connect.md §3). Over random keys that mix every part
//! type, with the edge cases drawn often (NaN with either sign and any payload, -0.0, ±infinity,
//! integers at every magnitude-length boundary up to the 255-byte maximum, empty strings and
//! bytes, bytes and strings full of 0x00 and 0xFF), they show that:
//!
//! - decoding an encoding gives the key back, floats compared bit for bit once NaN is made
//!   canonical, and the checked encoder agrees with the infallible one;
//! - comparing encodings byte-wise orders keys exactly as a reference comparator written here
//!   without the codec does: type rank, then value (floats by total order with one NaN,
//!   integers by value, bytes and strings lexicographically), then tuple length;
//! - decoding arbitrary or damaged bytes never panics, and whatever decodes re-encodes to the
//!   very same bytes unless it holds a NaN: canonical integers make the encoding one-to-one, so
//!   no logical key can be stored under two byte strings.

use std::cmp::Ordering;

use cairn_model::codec::{decode_key, encode_key, try_encode_key};
use cairn_model::{Key, KeyPart};
use num_bigint::{BigInt, Sign};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

const CANONICAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0000;

// Strategies.

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0x00), Just(0xFF), Just(0x01), Just(0xFE), any::<u8>()]
}

fn bytes_part() -> impl Strategy<Value = KeyPart> {
    vec(byte(), 0..6).prop_map(KeyPart::Bytes)
}

fn string_part() -> impl Strategy<Value = KeyPart> {
    let ch = prop_oneof![
        Just('\0'),
        Just('\u{1}'),
        Just('a'),
        Just('\u{FF}'),
        Just('\u{FFFF}'),
        Just('\u{10FFFF}'),
        any::<char>()
    ];
    vec(ch, 0..6).prop_map(|chars| KeyPart::String(chars.into_iter().collect()))
}

/// `256^n + delta` with either sign, for every length boundary `n` that stays within 255 bytes.
fn boundary_int() -> impl Strategy<Value = BigInt> {
    (0usize..=255, -1i8..=1, any::<bool>()).prop_filter_map(
        "magnitude over 255 bytes",
        |(n, delta, negative)| {
            let magnitude = (BigInt::from(1u8) << (8 * n)) + delta;
            let value = if negative { -magnitude } else { magnitude };
            (value.bits() <= 255 * 8).then_some(value)
        },
    )
}

fn int_part() -> impl Strategy<Value = KeyPart> {
    let any_magnitude =
        (any::<bool>(), vec(any::<u8>(), 0..=255)).prop_map(|(negative, magnitude)| {
            BigInt::from_bytes_be(if negative { Sign::Minus } else { Sign::Plus }, &magnitude)
        });
    prop_oneof![
        (-300i64..300).prop_map(BigInt::from),
        any::<i64>().prop_map(BigInt::from),
        any_magnitude,
        boundary_int()
    ]
    .prop_map(KeyPart::Int)
}

fn float_part() -> impl Strategy<Value = KeyPart> {
    let special = select(vec![
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::from_bits(0xfff8_0000_0000_0001),
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        1.0,
        -1.0,
    ]);
    prop_oneof![special, any::<u64>().prop_map(f64::from_bits), -1e6f64..1e6]
        .prop_map(KeyPart::Float)
}

fn part() -> impl Strategy<Value = KeyPart> {
    prop_oneof![
        bytes_part(),
        string_part(),
        int_part(),
        float_part(),
        any::<bool>().prop_map(KeyPart::Bool)
    ]
}

fn key() -> impl Strategy<Value = Key> {
    vec(part(), 0..5).prop_map(Key)
}

/// Two keys sharing a random prefix, so that comparisons reach beyond the first part.
fn key_pair() -> impl Strategy<Value = (Key, Key)> {
    (vec(part(), 0..3), vec(part(), 0..3), vec(part(), 0..3)).prop_map(|(prefix, a, b)| {
        let mut left = prefix.clone();
        left.extend(a);
        let mut right = prefix;
        right.extend(b);
        (Key(left), Key(right))
    })
}

/// Two parts of the same type, followed by arbitrary parts, so that in-type order is exercised.
fn same_type_pair() -> impl Strategy<Value = (Key, Key)> {
    let pair = prop_oneof![
        (bytes_part(), bytes_part()),
        (string_part(), string_part()),
        (int_part(), int_part()),
        (float_part(), float_part()),
    ];
    (pair, vec(part(), 0..2), vec(part(), 0..2)).prop_map(|((a, b), rest_a, rest_b)| {
        let mut left = vec![a];
        left.extend(rest_a);
        let mut right = vec![b];
        right.extend(rest_b);
        (Key(left), Key(right))
    })
}

/// Bytes that look like key encodings often enough to get past the first tag.
fn key_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let tags = select(vec![
        0x00, 0x01, 0x02, 0x0A, 0x0B, 0x0C, 0x13, 0x14, 0x15, 0x1C, 0x1D, 0x1E, 0x21, 0x26, 0x27,
        0xFF,
    ]);
    vec(prop_oneof![tags, any::<u8>()], 0..48)
}

// The reference model, written without the codec.

fn rank(part: &KeyPart) -> u8 {
    match part {
        KeyPart::Bytes(_) => 0,
        KeyPart::String(_) => 1,
        KeyPart::Int(_) => 2,
        KeyPart::Float(_) => 3,
        KeyPart::Bool(false) => 4,
        KeyPart::Bool(true) => 5,
    }
}

fn canonical(float: f64) -> f64 {
    if float.is_nan() {
        f64::from_bits(CANONICAL_NAN_BITS)
    } else {
        float
    }
}

fn reference_cmp_part(a: &KeyPart, b: &KeyPart) -> Ordering {
    match (a, b) {
        (KeyPart::Bytes(x), KeyPart::Bytes(y)) => x.cmp(y),
        (KeyPart::String(x), KeyPart::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (KeyPart::Int(x), KeyPart::Int(y)) => x.cmp(y),
        (KeyPart::Float(x), KeyPart::Float(y)) => canonical(*x).total_cmp(&canonical(*y)),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn reference_cmp(a: &Key, b: &Key) -> Ordering {
    a.parts()
        .iter()
        .zip(b.parts())
        .map(|(x, y)| reference_cmp_part(x, y))
        .find(|order| order.is_ne())
        .unwrap_or_else(|| a.parts().len().cmp(&b.parts().len()))
}

/// Structural equality, floats by bits after NaN canonicalisation (not `KeyPart`'s `PartialEq`,
/// which is defined through the codec under test).
fn same_part(a: &KeyPart, b: &KeyPart) -> bool {
    match (a, b) {
        (KeyPart::Bytes(x), KeyPart::Bytes(y)) => x == y,
        (KeyPart::String(x), KeyPart::String(y)) => x == y,
        (KeyPart::Int(x), KeyPart::Int(y)) => x == y,
        (KeyPart::Float(x), KeyPart::Float(y)) => {
            canonical(*x).to_bits() == canonical(*y).to_bits()
        }
        (KeyPart::Bool(x), KeyPart::Bool(y)) => x == y,
        _ => false,
    }
}

fn same_key(a: &Key, b: &Key) -> bool {
    a.parts().len() == b.parts().len()
        && a.parts()
            .iter()
            .zip(b.parts())
            .all(|(x, y)| same_part(x, y))
}

fn holds_nan(key: &Key) -> bool {
    key.parts()
        .iter()
        .any(|part| matches!(part, KeyPart::Float(f) if f.is_nan()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_inverts_encode(key in key()) {
        let bytes = encode_key(&key);
        prop_assert_eq!(try_encode_key(&key), Ok(bytes.clone()));
        let decoded = decode_key(&bytes);
        prop_assert!(
            matches!(&decoded, Ok(back) if same_key(back, &key)),
            "{key:?} encoded as {bytes:02x?} decoded as {decoded:?}"
        );
    }

    #[test]
    fn byte_order_is_key_order((a, b) in key_pair()) {
        let expected = reference_cmp(&a, &b);
        prop_assert_eq!(encode_key(&a).cmp(&encode_key(&b)), expected, "{:?} vs {:?}", a, b);
        prop_assert_eq!(a.cmp(&b), expected);
    }

    #[test]
    fn byte_order_is_key_order_within_a_type((a, b) in same_type_pair()) {
        let expected = reference_cmp(&a, &b);
        prop_assert_eq!(encode_key(&a).cmp(&encode_key(&b)), expected, "{:?} vs {:?}", a, b);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in key_like_bytes()) {
        if let Ok(key) = decode_key(&bytes) {
            if !holds_nan(&key) {
                prop_assert_eq!(encode_key(&key), bytes);
            }
        }
    }

    #[test]
    fn damaged_encodings_never_panic(key in key(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
        let bytes = encode_key(&key);
        if !bytes.is_empty() {
            let truncated = &bytes[..cut.index(bytes.len())];
            if let Ok(decoded) = decode_key(truncated) {
                if !holds_nan(&decoded) {
                    prop_assert_eq!(encode_key(&decoded), truncated.to_vec());
                }
            }
            let mut changed = bytes.clone();
            let (at, byte) = flip;
            changed[at.index(bytes.len())] = byte;
            if let Ok(decoded) = decode_key(&changed) {
                if !holds_nan(&decoded) {
                    prop_assert_eq!(encode_key(&decoded), changed);
                }
            }
        }
    }
}
