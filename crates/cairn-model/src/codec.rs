//! The order-preserving key codec (kv-connect.md §3): the subset of FoundationDB's tuple layer
//! that Deno KV keys use. Byte-wise comparison of two encodings equals the logical order of the
//! keys, so the store can order keys without decoding them.
//!
//! ```text
//! part     tag          payload
//! bytes    01           bytes, each 00 written as 00 FF, then 00
//! string   02           UTF-8, escaped like bytes, then 00
//! integer  14           (zero: no payload)
//!          14+n         n = 1..=8 magnitude bytes, big-endian            (positive)
//!          14-n         the ones' complement of those n bytes            (negative)
//!          1D n         n = 9..=255, then the n magnitude bytes          (positive)
//!          0B n^FF      n = 9..=255, then the n bytes complemented       (negative)
//! float    21           8 bytes big-endian: NaN made canonical first, then all bits inverted
//!                       when the sign bit is set, else only the sign bit flipped
//! boolean  26 / 27      false / true
//! ```
//!
//! # What [`decode_key`] accepts
//!
//! Decoding reads untrusted bytes, so it never panics and rejects, with the byte offset of the
//! offending part: unknown tags, bytes or strings without their terminator, strings that are
//! not UTF-8, and integers or floats cut short. Inside bytes and strings a `00` followed by
//! `FF` is an escaped zero byte and a `00` followed by anything else (or by nothing) is the
//! terminator, so every escape sequence is valid.
//!
//! Integers must be in canonical form (the shortest magnitude, in the fixed-length form when it
//! fits in 8 bytes). Every client encodes them that way, and accepting other forms would let two
//! different byte strings name the same logical key, which would then be stored twice.
//!
//! Floats are not checked: every 8-byte pattern is some `f64`, and Deno's own encoder (denokv)
//! keeps the sign of a NaN, so a NaN computed at run time can arrive as `21 00 07 FF … FF`;
//! refusing it would refuse a key a real client sends. Consequently `encode_key(decode_key(b))`
//! equals `b` for every accepted `b` except those holding a NaN other than the canonical one.
//!
//! # Integers beyond 255 bytes
//!
//! The format carries the length of an integer's magnitude in one byte, so magnitudes above
//! [`INT_MAGNITUDE_BYTES_MAX`] bytes cannot be stored. [`try_encode_key`] reports them as
//! [`KeyEncodeError::IntegerTooLarge`]. The infallible [`encode_key`] and [`encode_part`] (which
//! `Key`'s `Ord` relies on) write them with cairn-only tags, `1E` (positive) and `0A`
//! (negative), followed by the magnitude's length as a u64 and the magnitude, complemented for
//! negatives. Those bytes keep the numeric order of all integers, so `Ord` stays correct, and
//! [`decode_key`] rejects them with [`KeyDecodeError::IntegerTooLarge`], so such a key never
//! passes the write validation that decodes every key.

use num_bigint::{BigInt, Sign};

use crate::key::{Key, KeyPart};

const TAG_BYTES: u8 = 0x01;
const TAG_STRING: u8 = 0x02;
/// cairn-only: a negative integer whose magnitude exceeds 255 bytes. Never decodes.
const TAG_INT_NEG_OVERSIZE: u8 = 0x0A;
const TAG_INT_NEG_VARIABLE: u8 = 0x0B;
const TAG_INT_ZERO: u8 = 0x14;
const TAG_INT_POS_VARIABLE: u8 = 0x1D;
/// cairn-only: a positive integer whose magnitude exceeds 255 bytes. Never decodes.
const TAG_INT_POS_OVERSIZE: u8 = 0x1E;
const TAG_FLOAT: u8 = 0x21;
const TAG_FALSE: u8 = 0x26;
const TAG_TRUE: u8 = 0x27;

/// Ends a bytes or string part, unless followed by [`ESCAPE`].
const TERMINATOR: u8 = 0x00;
/// Follows a zero byte that is part of the payload. No tag is 0xFF, so a terminator followed by
/// the next part's tag is never mistaken for an escape.
const ESCAPE: u8 = 0xFF;

/// Magnitudes up to this many bytes use the one-byte tags `14±n`.
const INT_FIXED_BYTES_MAX: u8 = 8;
/// The largest integer magnitude, in bytes, a key can hold: the variable-length integer forms
/// carry the length in a single byte.
pub const INT_MAGNITUDE_BYTES_MAX: usize = 255;

/// The NaN every NaN is replaced by before encoding: the bits of `f64::NAN` on every platform
/// Rust supports, and what V8 uses for JavaScript's `NaN`.
const CANONICAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0000;
const SIGN_BIT: u64 = 1 << 63;
const FLOAT_PAYLOAD_BYTES: usize = 8;

// The fixed-length integer tags must sit exactly between the variable-length ones, or the
// encodings of small and large magnitudes would overlap or leave gaps in the order.
const _: () = assert!(TAG_INT_ZERO - INT_FIXED_BYTES_MAX == TAG_INT_NEG_VARIABLE + 1);
const _: () = assert!(TAG_INT_ZERO + INT_FIXED_BYTES_MAX == TAG_INT_POS_VARIABLE - 1);
const _: () = assert!(INT_MAGNITUDE_BYTES_MAX == u8::MAX as usize);
// The oversize tags must order just outside the variable-length ones and inside the
// neighbouring types (string below, float above).
const _: () =
    assert!(TAG_STRING < TAG_INT_NEG_OVERSIZE && TAG_INT_NEG_OVERSIZE < TAG_INT_NEG_VARIABLE);
const _: () =
    assert!(TAG_INT_POS_VARIABLE < TAG_INT_POS_OVERSIZE && TAG_INT_POS_OVERSIZE < TAG_FLOAT);

/// Bytes that are not a valid key encoding. Every variant names the byte offset where the
/// offending part starts, counted from the start of the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDecodeError {
    /// A part starts with a byte that is no type tag of the key format.
    #[error(
        "unknown type tag 0x{tag:02x} at byte {offset}: a key part starts with 0x01 (bytes), \
         0x02 (string), 0x0b..=0x1d (integer), 0x21 (float), 0x26 (false) or 0x27 (true)"
    )]
    UnknownTag {
        /// Offset of the tag.
        offset: usize,
        /// The tag found.
        tag: u8,
    },
    /// A bytes or string part has no terminating zero byte.
    #[error(
        "{kind} part at byte {offset} is not terminated: the key ends before the 0x00 byte \
         (not followed by 0xff) that must close it"
    )]
    Unterminated {
        /// Offset of the part's tag.
        offset: usize,
        /// `"bytes"` or `"string"`.
        kind: &'static str,
    },
    /// An integer or float part is cut short by the end of the key.
    #[error(
        "{kind} part at byte {offset} is truncated: it needs {needed} bytes after its tag but \
         the key has only {available} left"
    )]
    Truncated {
        /// Offset of the part's tag.
        offset: usize,
        /// `"integer"` or `"float"`.
        kind: &'static str,
        /// Bytes the part needs after its tag.
        needed: usize,
        /// Bytes left in the key after the tag.
        available: usize,
    },
    /// A string part's bytes are not UTF-8.
    #[error(
        "string part at byte {offset} is not valid UTF-8 (the first {valid_up_to} bytes of the \
         unescaped string are valid)"
    )]
    InvalidUtf8 {
        /// Offset of the part's tag.
        offset: usize,
        /// Length of the valid UTF-8 prefix of the unescaped string.
        valid_up_to: usize,
    },
    /// An integer part encodes its value in another than the shortest form.
    #[error("integer part at byte {offset} is not in canonical form: {reason}")]
    NonCanonicalInteger {
        /// Offset of the part's tag.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An integer part uses cairn's marker for magnitudes above 255 bytes (see the module
    /// documentation): such an integer cannot be part of a stored key.
    #[error(
        "integer part at byte {offset} has a magnitude of more than 255 bytes, which a key \
         cannot hold"
    )]
    IntegerTooLarge {
        /// Offset of the part's tag.
        offset: usize,
    },
}

/// A key that cannot be encoded in the key format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyEncodeError {
    /// An integer part's magnitude exceeds [`INT_MAGNITUDE_BYTES_MAX`] bytes.
    #[error(
        "key part {index} is an integer of {bytes} bytes; key integers are limited to 255 bytes \
         (absolute value below 2^2040)"
    )]
    IntegerTooLarge {
        /// Zero-based position of the part in the key.
        index: usize,
        /// Bytes of the integer's magnitude.
        bytes: u64,
    },
}

/// Appends the encoding of one part to `out`.
///
/// Never fails: an integer too large for the format is written with cairn's oversize marker
/// (see the module documentation), which keeps the order but never decodes. Use
/// [`try_encode_key`] where such a key must be refused.
pub fn encode_part(part: &KeyPart, out: &mut Vec<u8>) {
    match part {
        KeyPart::Bytes(bytes) => encode_escaped(TAG_BYTES, bytes, out),
        KeyPart::String(string) => encode_escaped(TAG_STRING, string.as_bytes(), out),
        KeyPart::Int(int) => encode_int(int, out),
        KeyPart::Float(float) => {
            out.push(TAG_FLOAT);
            out.extend_from_slice(&float_to_ordered_bytes(*float));
        }
        KeyPart::Bool(false) => out.push(TAG_FALSE),
        KeyPart::Bool(true) => out.push(TAG_TRUE),
    }
}

/// Encodes a key. Never fails; see [`encode_part`] for integers beyond the format's range and
/// [`try_encode_key`] for the checked variant.
pub fn encode_key(key: &Key) -> Vec<u8> {
    let mut out = Vec::new();
    for part in &key.0 {
        encode_part(part, &mut out);
    }
    out
}

/// Encodes a key, refusing integers whose magnitude exceeds [`INT_MAGNITUDE_BYTES_MAX`] bytes.
/// Every key that encodes successfully decodes back with [`decode_key`].
pub fn try_encode_key(key: &Key) -> Result<Vec<u8>, KeyEncodeError> {
    for (index, part) in key.0.iter().enumerate() {
        if let KeyPart::Int(int) = part {
            let bytes = int.bits().div_ceil(8);
            if bytes > INT_MAGNITUDE_BYTES_MAX as u64 {
                return Err(KeyEncodeError::IntegerTooLarge { index, bytes });
            }
        }
    }
    Ok(encode_key(key))
}

/// Decodes a key. The empty byte string is the empty key.
pub fn decode_key(bytes: &[u8]) -> Result<Key, KeyDecodeError> {
    let mut parts = Vec::new();
    let mut offset = 0;
    while let Some(&tag) = bytes.get(offset) {
        let payload = bytes.get(offset + 1..).unwrap_or_default();
        let (part, payload_len) = decode_part(tag, payload, offset)?;
        parts.push(part);
        offset += 1 + payload_len;
    }
    Ok(Key(parts))
}

fn encode_escaped(tag: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + 2);
    out.push(tag);
    // Copied in runs between terminator bytes (most payloads have none: one copy), each
    // terminator byte followed by the escape.
    let mut runs = payload.split(|&byte| byte == TERMINATOR);
    if let Some(first) = runs.next() {
        out.extend_from_slice(first);
    }
    for run in runs {
        out.push(TERMINATOR);
        out.push(ESCAPE);
        out.extend_from_slice(run);
    }
    out.push(TERMINATOR);
}

fn encode_int(int: &BigInt, out: &mut Vec<u8>) {
    let (sign, magnitude) = int.to_bytes_be();
    let negative = match sign {
        // `to_bytes_be` gives zero a one-byte magnitude; zero has its own tag and no payload.
        Sign::NoSign => {
            out.push(TAG_INT_ZERO);
            return;
        }
        Sign::Plus => false,
        Sign::Minus => true,
    };
    match u8::try_from(magnitude.len()) {
        Ok(n) if n <= INT_FIXED_BYTES_MAX => {
            out.push(if negative {
                TAG_INT_ZERO - n
            } else {
                TAG_INT_ZERO + n
            });
        }
        Ok(n) if negative => out.extend_from_slice(&[TAG_INT_NEG_VARIABLE, !n]),
        Ok(n) => out.extend_from_slice(&[TAG_INT_POS_VARIABLE, n]),
        Err(_) => {
            // Beyond the format: a u64 length keeps larger magnitudes ordered after smaller
            // ones (before them when complemented for negatives).
            let len = u64::try_from(magnitude.len()).unwrap_or(u64::MAX);
            if negative {
                out.push(TAG_INT_NEG_OVERSIZE);
                out.extend_from_slice(&(!len).to_be_bytes());
            } else {
                out.push(TAG_INT_POS_OVERSIZE);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
    }
    if negative {
        // Ones' complement: a larger magnitude must sort lower.
        out.extend(magnitude.iter().map(|byte| !byte));
    } else {
        out.extend_from_slice(&magnitude);
    }
}

/// Maps a float to 8 bytes whose unsigned order is the float's total order:
/// -inf < … < -0.0 < 0.0 < … < inf < NaN, with every NaN made canonical first.
fn float_to_ordered_bytes(float: f64) -> [u8; 8] {
    let bits = if float.is_nan() {
        CANONICAL_NAN_BITS
    } else {
        float.to_bits()
    };
    // Negative floats order backwards by their bits, so all bits are inverted; positive ones
    // only need to move above the negatives.
    let ordered = if bits & SIGN_BIT != 0 {
        !bits
    } else {
        bits ^ SIGN_BIT
    };
    ordered.to_be_bytes()
}

fn float_from_ordered_bytes(bytes: [u8; 8]) -> f64 {
    let ordered = u64::from_be_bytes(bytes);
    let bits = if ordered & SIGN_BIT != 0 {
        ordered ^ SIGN_BIT
    } else {
        !ordered
    };
    f64::from_bits(bits)
}

/// Decodes the part with `tag` whose payload starts at `payload` (the rest of the key).
/// Returns the part and the number of payload bytes it used. `offset` is the tag's offset,
/// for error messages.
fn decode_part(tag: u8, payload: &[u8], offset: usize) -> Result<(KeyPart, usize), KeyDecodeError> {
    match tag {
        TAG_BYTES => {
            let (bytes, used) = decode_escaped(payload, offset, "bytes")?;
            Ok((KeyPart::Bytes(bytes), used))
        }
        TAG_STRING => {
            let (bytes, used) = decode_escaped(payload, offset, "string")?;
            let string = String::from_utf8(bytes).map_err(|e| KeyDecodeError::InvalidUtf8 {
                offset,
                valid_up_to: e.utf8_error().valid_up_to(),
            })?;
            Ok((KeyPart::String(string), used))
        }
        TAG_INT_NEG_VARIABLE..=TAG_INT_POS_VARIABLE => {
            let (int, used) = decode_int(tag, payload, offset)?;
            Ok((KeyPart::Int(int), used))
        }
        TAG_INT_NEG_OVERSIZE | TAG_INT_POS_OVERSIZE => {
            Err(KeyDecodeError::IntegerTooLarge { offset })
        }
        TAG_FLOAT => {
            let array: [u8; FLOAT_PAYLOAD_BYTES] = payload
                .get(..FLOAT_PAYLOAD_BYTES)
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| truncated(payload, FLOAT_PAYLOAD_BYTES, offset, "float"))?;
            Ok((
                KeyPart::Float(float_from_ordered_bytes(array)),
                FLOAT_PAYLOAD_BYTES,
            ))
        }
        TAG_FALSE => Ok((KeyPart::Bool(false), 0)),
        TAG_TRUE => Ok((KeyPart::Bool(true), 0)),
        _ => Err(KeyDecodeError::UnknownTag { offset, tag }),
    }
}

/// Unescapes a bytes or string payload up to its terminator. Returns the payload and the number
/// of encoded bytes it used, terminator included.
fn decode_escaped(
    payload: &[u8],
    offset: usize,
    kind: &'static str,
) -> Result<(Vec<u8>, usize), KeyDecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let rest = payload.get(pos..).unwrap_or_default();
        let Some(zero) = rest.iter().position(|&b| b == TERMINATOR) else {
            return Err(KeyDecodeError::Unterminated { offset, kind });
        };
        out.extend_from_slice(rest.get(..zero).unwrap_or_default());
        pos += zero + 1;
        if payload.get(pos) == Some(&ESCAPE) {
            out.push(TERMINATOR);
            pos += 1;
        } else {
            return Ok((out, pos));
        }
    }
}

fn decode_int(tag: u8, payload: &[u8], offset: usize) -> Result<(BigInt, usize), KeyDecodeError> {
    let non_canonical = |reason| KeyDecodeError::NonCanonicalInteger { offset, reason };
    // (negative, bytes of header after the tag, magnitude length)
    let (negative, header, n) = match tag {
        TAG_INT_ZERO => return Ok((BigInt::ZERO, 0)),
        TAG_INT_NEG_VARIABLE | TAG_INT_POS_VARIABLE => {
            let negative = tag == TAG_INT_NEG_VARIABLE;
            let &raw = payload
                .first()
                .ok_or_else(|| truncated(payload, 1, offset, "integer"))?;
            let n = if negative { !raw } else { raw };
            if n <= INT_FIXED_BYTES_MAX {
                return Err(non_canonical(
                    "a magnitude of at most 8 bytes must use the one-byte tags 0x0c..=0x1c",
                ));
            }
            (negative, 1, usize::from(n))
        }
        _ if tag < TAG_INT_ZERO => (true, 0, usize::from(TAG_INT_ZERO - tag)),
        _ => (false, 0, usize::from(tag - TAG_INT_ZERO)),
    };
    let stored = payload
        .get(header..header + n)
        .ok_or_else(|| truncated(payload, header + n, offset, "integer"))?;
    let magnitude: Vec<u8> = if negative {
        stored.iter().map(|b| !b).collect()
    } else {
        stored.to_vec()
    };
    if magnitude.first() == Some(&0) {
        return Err(non_canonical("the magnitude has a leading zero byte"));
    }
    let sign = if negative { Sign::Minus } else { Sign::Plus };
    Ok((BigInt::from_bytes_be(sign, &magnitude), header + n))
}

fn truncated(payload: &[u8], needed: usize, offset: usize, kind: &'static str) -> KeyDecodeError {
    KeyDecodeError::Truncated {
        offset,
        kind,
        needed,
        available: payload.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key;

    fn int(text: &str) -> BigInt {
        text.parse().expect("test literal is an integer")
    }

    fn assert_bijection(key: Key, bytes: &[u8]) {
        assert_eq!(encode_key(&key), bytes, "encoding of {key}");
        assert_eq!(decode_key(bytes), Ok(key));
    }

    #[test]
    fn kv_connect_examples() {
        assert_bijection(key![1i64], &[0x15, 0x01]);
        assert_bijection(key![300i64], &[0x16, 0x01, 0x2C]);
        assert_bijection(key![-5i64], &[0x13, 0xFA]);
        assert_bijection(key![1.5f64], &[0x21, 0xBF, 0xF8, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn bytes_and_strings_escape_zero() {
        assert_bijection(key![Vec::<u8>::new()], &[0x01, 0x00]);
        assert_bijection(key![vec![0x00u8]], &[0x01, 0x00, 0xFF, 0x00]);
        assert_bijection(
            key![vec![0x01u8, 0x00, 0xFF, 0x00, 0x00]],
            &[0x01, 0x01, 0x00, 0xFF, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00],
        );
        assert_bijection(key![vec![0xFFu8]], &[0x01, 0xFF, 0x00]);
        assert_bijection(key![""], &[0x02, 0x00]);
        assert_bijection(key!["a\0b"], &[0x02, b'a', 0x00, 0xFF, b'b', 0x00]);
        assert_bijection(key!["ÿ"], &[0x02, 0xC3, 0xBF, 0x00]);
        assert_bijection(
            key!["hello", vec![0u8]],
            &[
                0x02, b'h', b'e', b'l', b'l', b'o', 0x00, 0x01, 0x00, 0xFF, 0x00,
            ],
        );
    }

    #[test]
    fn integers_at_every_length_boundary() {
        assert_bijection(key![0i64], &[0x14]);
        assert_bijection(key![255i64], &[0x15, 0xFF]);
        assert_bijection(key![256i64], &[0x16, 0x01, 0x00]);
        assert_bijection(key![-1i64], &[0x13, 0xFE]);
        assert_bijection(key![-255i64], &[0x13, 0x00]);
        assert_bijection(key![-256i64], &[0x12, 0xFE, 0xFF]);
        assert_bijection(
            key![u64::MAX],
            &[0x1C, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        );
        assert_bijection(key![-i128::from(u64::MAX)], &[0x0C, 0, 0, 0, 0, 0, 0, 0, 0]);
        // 2^64 needs 9 bytes: the variable-length form.
        assert_bijection(
            key![1u128 << 64],
            &[0x1D, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        assert_bijection(
            key![-(1i128 << 64)],
            &[
                0x0B,
                0x09 ^ 0xFF,
                0xFE,
                0xFF,
                0xFF,
                0xFF,
                0xFF,
                0xFF,
                0xFF,
                0xFF,
                0xFF,
            ],
        );
    }

    #[test]
    fn integers_of_255_bytes_are_the_largest() {
        let max = (BigInt::from(1u8) << (255usize * 8)) - 1u8;
        let mut expected = vec![0x1D, 0xFF];
        expected.extend_from_slice(&[0xFF; 255]);
        assert_bijection(Key(vec![KeyPart::Int(max.clone())]), &expected);

        let mut expected = vec![0x0B, 0x00];
        expected.extend_from_slice(&[0x00; 255]);
        assert_bijection(Key(vec![KeyPart::Int(-max.clone())]), &expected);
        assert_eq!(try_encode_key(&Key(vec![KeyPart::Int(-max)])), Ok(expected));
    }

    #[test]
    fn integers_over_255_bytes_are_refused_but_keep_their_order() {
        let too_big: BigInt = BigInt::from(1u8) << (255usize * 8);
        let key = Key(vec![KeyPart::from("a"), KeyPart::Int(too_big.clone())]);
        assert_eq!(
            try_encode_key(&key),
            Err(KeyEncodeError::IntegerTooLarge {
                index: 1,
                bytes: 256
            })
        );

        let encoded = encode_key(&key);
        assert_eq!(
            decode_key(&encoded),
            Err(KeyDecodeError::IntegerTooLarge { offset: 3 })
        );
        let negative = encode_key(&Key(vec![KeyPart::Int(-too_big.clone())]));
        assert_eq!(
            decode_key(&negative),
            Err(KeyDecodeError::IntegerTooLarge { offset: 0 })
        );

        let max = (BigInt::from(1u8) << (255usize * 8)) - 1u8;
        let ascending = [
            KeyPart::from("zzz"),
            KeyPart::Int(-(too_big.clone() << 8usize)),
            KeyPart::Int(-too_big.clone()),
            KeyPart::Int(-max.clone()),
            KeyPart::Int(BigInt::from(-1)),
            KeyPart::Int(BigInt::ZERO),
            KeyPart::Int(max),
            KeyPart::Int(too_big.clone()),
            KeyPart::Int(too_big << 8usize),
            KeyPart::Float(f64::NEG_INFINITY),
        ];
        for pair in ascending.windows(2) {
            if let [low, high] = pair {
                assert!(
                    low.encode() < high.encode(),
                    "{low} must sort before {high}"
                );
            }
        }
    }

    #[test]
    fn floats_zero_signs_and_nan() {
        assert_bijection(key![0.0f64], &[0x21, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        let negative_zero = encode_key(&key![-0.0f64]);
        assert_eq!(
            negative_zero,
            [0x21, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        let decoded = decode_key(&negative_zero).expect("-0.0 decodes");
        assert!(
            matches!(decoded.parts(), [KeyPart::Float(f)] if f.to_bits() == (-0.0f64).to_bits())
        );
        assert!(key![-0.0f64] < key![0.0f64]);

        let nan = [0x21, 0xFF, 0xF8, 0, 0, 0, 0, 0, 0];
        for bits in [
            CANONICAL_NAN_BITS,
            0xFFF8_0000_0000_0000,
            0x7FF0_0000_0000_0001,
            0xFFFF_FFFF_FFFF_FFFF,
        ] {
            assert_eq!(
                encode_key(&key![f64::from_bits(bits)]),
                nan,
                "NaN bits {bits:#x}"
            );
        }
        let decoded = decode_key(&nan).expect("NaN decodes");
        assert!(
            matches!(decoded.parts(), [KeyPart::Float(f)] if f.to_bits() == CANONICAL_NAN_BITS)
        );

        // denokv's encoding of a NaN with the sign bit set: accepted, decodes to a NaN.
        let negative_nan = [0x21, 0x00, 0x07, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        let decoded = decode_key(&negative_nan).expect("any float bytes decode");
        assert!(matches!(decoded.parts(), [KeyPart::Float(f)] if f.is_nan()));

        assert!(key![f64::NEG_INFINITY] < key![-1.0f64]);
        assert!(key![f64::INFINITY] < key![f64::NAN]);
    }

    #[test]
    fn booleans_and_cross_type_order() {
        assert_bijection(key![false, true], &[0x26, 0x27]);
        let ascending = [
            key![vec![0xFFu8]],
            key![""],
            key![-1i64],
            key![0i64],
            key![f64::NAN],
            key![false],
            key![true],
        ];
        for pair in ascending.windows(2) {
            if let [low, high] = pair {
                assert!(low < high, "{low} must sort before {high}");
            }
        }
    }

    #[test]
    fn empty_key() {
        assert_bijection(Key::default(), &[]);
    }

    #[test]
    fn decode_rejects_unknown_tags_with_their_offset() {
        assert_eq!(
            decode_key(&[0x99]),
            Err(KeyDecodeError::UnknownTag {
                offset: 0,
                tag: 0x99
            })
        );
        assert_eq!(
            decode_key(&[0x26, 0x00]),
            Err(KeyDecodeError::UnknownTag {
                offset: 1,
                tag: 0x00
            })
        );
        for tag in [0x03, 0x05, 0x1F, 0x20, 0x22, 0x25, 0x28, 0xFF] {
            assert_eq!(
                decode_key(&[0x27, tag]),
                Err(KeyDecodeError::UnknownTag { offset: 1, tag })
            );
        }
        let message = KeyDecodeError::UnknownTag {
            offset: 4,
            tag: 0x99,
        }
        .to_string();
        assert!(
            message.starts_with("unknown type tag 0x99 at byte 4"),
            "{message}"
        );
    }

    #[test]
    fn decode_rejects_unterminated_bytes_and_strings() {
        let unterminated = |offset, kind| Err(KeyDecodeError::Unterminated { offset, kind });
        assert_eq!(decode_key(&[0x01]), unterminated(0, "bytes"));
        assert_eq!(decode_key(&[0x01, 0x61]), unterminated(0, "bytes"));
        // A zero followed by 0xFF is an escaped zero, not the end.
        assert_eq!(decode_key(&[0x01, 0x00, 0xFF]), unterminated(0, "bytes"));
        assert_eq!(
            decode_key(&[0x26, 0x02, b'a', 0x00, 0xFF]),
            unterminated(1, "string")
        );
    }

    #[test]
    fn zero_not_followed_by_escape_terminates() {
        // 01 00 | 14: empty bytes, then the integer zero.
        assert_eq!(
            decode_key(&[0x01, 0x00, 0x14]),
            Ok(key![Vec::<u8>::new(), 0i64])
        );
        // 01 00 FF 00 | 00: the trailing zero is no tag.
        assert_eq!(
            decode_key(&[0x01, 0x00, 0xFF, 0x00, 0x00]),
            Err(KeyDecodeError::UnknownTag { offset: 4, tag: 0 })
        );
    }

    #[test]
    fn decode_rejects_invalid_utf8() {
        assert_eq!(
            decode_key(&[0x02, b'o', b'k', 0xC3, 0x00]),
            Err(KeyDecodeError::InvalidUtf8 {
                offset: 0,
                valid_up_to: 2
            })
        );
        // Unpaired surrogate, encoded CESU-style.
        assert!(matches!(
            decode_key(&[0x02, 0xED, 0xA0, 0x80, 0x00]),
            Err(KeyDecodeError::InvalidUtf8 { .. })
        ));
        // The same bytes are fine as a bytes part.
        assert!(decode_key(&[0x01, 0xED, 0xA0, 0x80, 0x00]).is_ok());
    }

    #[test]
    fn decode_rejects_truncated_numbers() {
        let truncated = |kind, needed, available| {
            Err(KeyDecodeError::Truncated {
                offset: 0,
                kind,
                needed,
                available,
            })
        };
        assert_eq!(decode_key(&[0x15]), truncated("integer", 1, 0));
        assert_eq!(decode_key(&[0x1C, 1, 2, 3]), truncated("integer", 8, 3));
        assert_eq!(decode_key(&[0x13]), truncated("integer", 1, 0));
        assert_eq!(decode_key(&[0x1D]), truncated("integer", 1, 0));
        assert_eq!(decode_key(&[0x1D, 0x09, 1, 2]), truncated("integer", 10, 3));
        assert_eq!(decode_key(&[0x0B]), truncated("integer", 1, 0));
        assert_eq!(decode_key(&[0x0B, 0xF6, 0xFE]), truncated("integer", 10, 2));
        assert_eq!(decode_key(&[0x21, 0x80, 0, 0]), truncated("float", 8, 3));
        assert_eq!(decode_key(&[0x21]), truncated("float", 8, 0));
    }

    #[test]
    fn decode_rejects_non_canonical_integers() {
        let non_canonical = |bytes: &[u8]| {
            matches!(
                decode_key(bytes),
                Err(KeyDecodeError::NonCanonicalInteger { offset: 0, .. })
            )
        };
        // 1 with a leading zero byte.
        assert!(non_canonical(&[0x16, 0x00, 0x01]));
        // -1 with a leading (complemented) zero byte.
        assert!(non_canonical(&[0x12, 0xFF, 0xFE]));
        // Variable-length forms for magnitudes that fit in 8 bytes, including zero.
        assert!(non_canonical(&[0x1D, 0x01, 0x01]));
        assert!(non_canonical(&[0x1D, 0x00]));
        assert!(non_canonical(&[0x1D, 0x08, 1, 0, 0, 0, 0, 0, 0, 0]));
        assert!(non_canonical(&[0x0B, 0x01 ^ 0xFF, 0xFE]));
        assert!(non_canonical(&[0x0B, 0xFF]));
        // Variable-length forms with a leading zero byte.
        let mut padded = vec![0x1D, 0x09, 0x00];
        padded.extend_from_slice(&[0x01; 8]);
        assert!(non_canonical(&padded));
        let mut padded = vec![0x0B, 0x09 ^ 0xFF, 0xFF];
        padded.extend_from_slice(&[0xFE; 8]);
        assert!(non_canonical(&padded));
        let message = decode_key(&[0x16, 0x00, 0x01]).map_err(|e| e.to_string());
        assert_eq!(message, Err("integer part at byte 0 is not in canonical form: the magnitude has a leading zero byte".into()));
    }

    #[test]
    fn multi_part_keys_and_offsets() {
        let key = key![
            "users",
            42i64,
            vec![0u8, 0xFF],
            -0.5f64,
            true,
            int("-123456789012345678901234567890")
        ];
        let bytes = encode_key(&key);
        assert_eq!(decode_key(&bytes), Ok(key));
        // Break the float's payload: the error names the float's offset.
        let float_at = bytes
            .iter()
            .position(|&b| b == TAG_FLOAT)
            .expect("float tag present");
        let cut = bytes.get(..float_at + 3).expect("prefix exists");
        assert_eq!(
            decode_key(cut),
            Err(KeyDecodeError::Truncated {
                offset: float_at,
                kind: "float",
                needed: 8,
                available: 2
            })
        );
    }

    #[test]
    fn encode_part_appends() {
        let mut out = vec![0xAA];
        encode_part(&KeyPart::Bool(true), &mut out);
        encode_part(&KeyPart::Int(BigInt::from(1)), &mut out);
        assert_eq!(out, [0xAA, 0x27, 0x15, 0x01]);
    }
}
