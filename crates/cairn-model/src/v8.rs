//! Just enough of V8's structured-serialization format to read and write the two kinds of
//! values a V8 `sum` adds: JavaScript numbers and bigints. Every other V8 value stays opaque.
//!
//! ```text
//! FF vv          header: tag 0xFF, then the format version as a varint (V8 writes 15)
//! 00*            optional padding
//! 49 zigzag      'I': a small integer, zigzag-encoded varint (number)
//! 55 varint      'U': an unsigned 32-bit integer (number; V8 reads it but no longer writes it)
//! 4E f64 LE      'N': a double (number)
//! 5A bitfield    'Z': a bigint. The varint bitfield holds the sign in bit 0 (1 = negative)
//!    digits      and the digits' byte length in bits 1..=30; the digits follow, little-endian
//! ```
//!
//! Varints are unsigned LEB128, at most 5 bytes for 32 bits.
//!
//! Encodings are byte-identical to V8 on 64-bit hosts, as in Deno (checked against
//! `v8.serialize` in Node.js, which runs the same serializer): `1n` is `FF 0F 5A 10 01 00 00 00
//! 00 00 00 00`, `1.5` is `FF 0F 4E 00 00 00 00 00 00 F8 3F`.
//!
//! Two choices follow the reference server, denokv: numbers are always written as doubles
//! (`N`), never as V8's small integers (`I`), and a value with bytes after the number is not a
//! number. Bigints, unlike denokv, are written as V8 writes them, in whole 8-byte digits;
//! denokv writes the shortest byte length, which V8 reads as the same value.

use num_bigint::{BigInt, Sign};

const TAG_VERSION: u8 = 0xFF;
const TAG_PADDING: u8 = 0x00;
const TAG_INT32: u8 = b'I';
const TAG_UINT32: u8 = b'U';
const TAG_DOUBLE: u8 = b'N';
const TAG_BIGINT: u8 = b'Z';

/// The format version cairn writes: V8's current one, which Deno writes too.
pub const FORMAT_VERSION_WRITTEN: u8 = 15;
/// The oldest format version read. Numbers and bigints have been laid out the same way since
/// version 13; newer versions are accepted so that values a future Deno writes stay summable.
pub const FORMAT_VERSION_READ_MIN: u32 = 13;

// The header writes the version as a single byte, which is its varint form only below 0x80.
const _: () = assert!(FORMAT_VERSION_WRITTEN < 0x80);

/// V8 stores a bigint's magnitude in 64-bit digits and serializes whole digits.
const BIGINT_DIGIT_BYTES: usize = 8;
/// Bit 0 of a bigint's bitfield: the sign.
const BIGINT_SIGN_MASK: u32 = 1;
/// Bits 1..=30 of a bigint's bitfield: the digits' byte length. V8 ignores bit 31.
const BIGINT_LENGTH_MASK: u32 = (1 << 30) - 1;

/// A JavaScript number or bigint read from, or to be written as, V8 bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum V8Number {
    /// A `bigint`.
    BigInt(BigInt),
    /// A `number`.
    Number(f64),
}

impl V8Number {
    /// The V8 encoding of this value, as [`encode_bigint`] or [`encode_number`] writes it.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            V8Number::BigInt(value) => encode_bigint(value),
            V8Number::Number(value) => encode_number(*value),
        }
    }

    /// The JavaScript type's name as error messages spell it: `"BigInt"` or `"Number"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            V8Number::BigInt(_) => "BigInt",
            V8Number::Number(_) => "Number",
        }
    }
}

/// Reads V8 bytes holding a single number or bigint.
///
/// `None` for anything else: another kind of value, a malformed or truncated encoding, a
/// format version below [`FORMAT_VERSION_READ_MIN`], bytes after the value, or `-0n` (which V8
/// rejects too). Never panics.
pub fn decode_number(bytes: &[u8]) -> Option<V8Number> {
    let mut reader = Reader { bytes, pos: 0 };
    if reader.byte()? != TAG_VERSION || reader.varint()? < FORMAT_VERSION_READ_MIN {
        return None;
    }
    let tag = loop {
        let tag = reader.byte()?;
        if tag != TAG_PADDING {
            break tag;
        }
    };
    let number = match tag {
        TAG_INT32 => V8Number::Number(f64::from(zigzag_decode(reader.varint()?))),
        TAG_UINT32 => V8Number::Number(f64::from(reader.varint()?)),
        TAG_DOUBLE => V8Number::Number(f64::from_le_bytes(reader.array()?)),
        TAG_BIGINT => V8Number::BigInt(reader.bigint()?),
        _ => return None,
    };
    reader.at_end().then_some(number)
}

/// The V8 encoding of a bigint, as V8 on a 64-bit host writes it: whole 8-byte digits, and no
/// digits at all for zero.
///
/// V8 reads bigints of up to 2^30 bits; this function writes larger ones without complaint
/// (and without panicking), but V8 will refuse them.
pub fn encode_bigint(value: &BigInt) -> Vec<u8> {
    let (sign, mut digits) = value.to_bytes_le();
    if sign == Sign::NoSign {
        // `to_bytes_le` gives zero one byte; V8's zero has no digits.
        digits.clear();
    } else {
        digits.resize(
            digits.len().div_ceil(BIGINT_DIGIT_BYTES) * BIGINT_DIGIT_BYTES,
            0,
        );
    }
    let length = u64::try_from(digits.len()).unwrap_or(u64::MAX);
    let bitfield = length.saturating_mul(2) | u64::from(sign == Sign::Minus);
    let mut out = header(TAG_BIGINT);
    write_varint(bitfield, &mut out);
    out.extend_from_slice(&digits);
    out
}

/// The V8 encoding of a key as the JavaScript array of its parts (what `Deno.openKv` reads
/// back as a `Deno.KvKey`): a dense array (`A` length, elements, `$` 0 length) of one-byte
/// (`"`, Latin-1) or two-byte (`c`, UTF-16LE) strings, doubles (`N`), bigints (`Z`), `T`/`F`,
/// and `Uint8Array`s (an `ArrayBuffer`, `B` length bytes, followed by its view: `V`, subtag
/// `B`, offset 0, length, flags 0). Index entries carry their entry's key in this form.
pub fn encode_key_array(key: &crate::Key) -> Vec<u8> {
    use crate::KeyPart;
    let mut out = vec![TAG_VERSION, FORMAT_VERSION_WRITTEN, b'A'];
    let length = u64::try_from(key.0.len()).unwrap_or(u64::MAX);
    write_varint(length, &mut out);
    for part in &key.0 {
        match part {
            KeyPart::String(text) => encode_string(text, &mut out),
            KeyPart::Float(x) => {
                out.push(TAG_DOUBLE);
                out.extend_from_slice(&x.to_le_bytes());
            }
            KeyPart::Int(value) => {
                // Skip the header `encode_bigint` writes: tag and bitfield follow it.
                out.extend(encode_bigint(value).into_iter().skip(2));
            }
            KeyPart::Bool(true) => out.push(b'T'),
            KeyPart::Bool(false) => out.push(b'F'),
            KeyPart::Bytes(bytes) => {
                let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                out.push(b'B');
                write_varint(len, &mut out);
                out.extend_from_slice(bytes);
                out.extend_from_slice(&[b'V', b'B', 0]);
                write_varint(len, &mut out);
                out.push(0);
            }
        }
    }
    out.extend_from_slice(&[b'$', 0]);
    write_varint(length, &mut out);
    out
}

/// A string as V8 writes it: one byte per character when every character is Latin-1,
/// UTF-16LE otherwise.
fn encode_string(text: &str, out: &mut Vec<u8>) {
    if text.chars().all(|c| u32::from(c) <= 0xFF) {
        out.push(b'"');
        write_varint(u64::try_from(text.chars().count()).unwrap_or(u64::MAX), out);
        out.extend(text.chars().map(|c| u32::from(c) as u8));
    } else {
        let units: Vec<u16> = text.encode_utf16().collect();
        out.push(b'c');
        write_varint(u64::try_from(units.len() * 2).unwrap_or(u64::MAX), out);
        for unit in units {
            out.extend_from_slice(&unit.to_le_bytes());
        }
    }
}

/// The V8 encoding of a number, always as a double (`N`): what denokv writes for `sum`
/// results, and a value V8 reads as the same number it would itself write as a small integer.
pub fn encode_number(value: f64) -> Vec<u8> {
    let mut out = header(TAG_DOUBLE);
    out.extend_from_slice(&value.to_le_bytes());
    out
}

fn header(tag: u8) -> Vec<u8> {
    vec![TAG_VERSION, FORMAT_VERSION_WRITTEN, tag]
}

fn zigzag_decode(value: u32) -> i32 {
    // 0, 1, 2, 3, … stand for 0, -1, 1, -2, …
    let magnitude = (value >> 1) as i32;
    if value & 1 == 0 {
        magnitude
    } else {
        !magnitude
    }
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value & 0x7F) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A cursor over untrusted bytes: every read is bounds-checked and yields `None` past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let bytes = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// An unsigned LEB128 varint of at most 32 bits. V8 never writes longer ones, so a longer
    /// or overflowing varint is treated as malformed rather than truncated silently as V8 does.
    fn varint(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for shift in [0, 7, 14, 21, 28] {
            let byte = self.byte()?;
            let chunk = u32::from(byte & 0x7F);
            if shift == 28 && chunk > 0x0F {
                return None;
            }
            value |= chunk << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn bigint(&mut self) -> Option<BigInt> {
        let bitfield = self.varint()?;
        let negative = bitfield & BIGINT_SIGN_MASK != 0;
        let length = usize::try_from((bitfield >> 1) & BIGINT_LENGTH_MASK).ok()?;
        if negative && length == 0 {
            // There is no -0n; V8 rejects this as corrupt.
            return None;
        }
        // V8 accepts any byte length (it pads to whole digits), so this does too.
        let digits = self.take(length)?;
        Some(BigInt::from_bytes_le(
            if negative { Sign::Minus } else { Sign::Plus },
            digits,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(bytes: &[u8]) -> Option<f64> {
        match decode_number(bytes)? {
            V8Number::Number(value) => Some(value),
            V8Number::BigInt(_) => None,
        }
    }

    fn bigint(bytes: &[u8]) -> Option<BigInt> {
        match decode_number(bytes)? {
            V8Number::BigInt(value) => Some(value),
            V8Number::Number(_) => None,
        }
    }

    // Vectors below were produced by V8's own serializer (`v8.serialize` in Node.js 22, V8 11.3).

    #[test]
    fn bigint_vectors_match_v8() {
        let cases: [(BigInt, &[u8]); 5] = [
            (
                BigInt::from(1),
                &[0xFF, 0x0F, 0x5A, 0x10, 0x01, 0, 0, 0, 0, 0, 0, 0],
            ),
            (
                BigInt::from(-1),
                &[0xFF, 0x0F, 0x5A, 0x11, 0x01, 0, 0, 0, 0, 0, 0, 0],
            ),
            (BigInt::from(0), &[0xFF, 0x0F, 0x5A, 0x00]),
            (
                BigInt::from(u64::MAX),
                &[
                    0xFF, 0x0F, 0x5A, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                ],
            ),
            (
                BigInt::from(1u128 << 64),
                &[
                    0xFF, 0x0F, 0x5A, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0,
                ],
            ),
        ];
        for (value, bytes) in cases {
            assert_eq!(encode_bigint(&value), bytes, "encoding of {value}");
            assert_eq!(decode_number(bytes), Some(V8Number::BigInt(value)));
        }
    }

    #[test]
    fn number_vectors_match_v8() {
        assert_eq!(
            encode_number(1.5),
            [0xFF, 0x0F, 0x4E, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]
        );
        assert_eq!(
            encode_number(-0.0),
            [0xFF, 0x0F, 0x4E, 0, 0, 0, 0, 0, 0, 0, 0x80]
        );
        assert_eq!(
            encode_number(f64::INFINITY),
            [0xFF, 0x0F, 0x4E, 0, 0, 0, 0, 0, 0, 0xF0, 0x7F]
        );
        assert_eq!(
            encode_number(f64::NAN),
            [0xFF, 0x0F, 0x4E, 0, 0, 0, 0, 0, 0, 0xF8, 0x7F]
        );
        assert_eq!(
            number(&[0xFF, 0x0F, 0x4E, 0, 0, 0, 0, 0, 0, 0xE0, 0x41]),
            Some(2_147_483_648.0)
        );
        let negative_zero = number(&encode_number(-0.0)).expect("-0 decodes");
        assert_eq!(negative_zero.to_bits(), (-0.0f64).to_bits());
        assert!(number(&encode_number(f64::NAN)).is_some_and(f64::is_nan));
    }

    #[test]
    fn small_integers_decode() {
        assert_eq!(number(&[0xFF, 0x0F, 0x49, 0x00]), Some(0.0));
        assert_eq!(number(&[0xFF, 0x0F, 0x49, 0x02]), Some(1.0));
        assert_eq!(number(&[0xFF, 0x0F, 0x49, 0x01]), Some(-1.0));
        assert_eq!(
            number(&[0xFF, 0x0F, 0x49, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
            Some(2_147_483_647.0)
        );
        assert_eq!(
            number(&[0xFF, 0x0F, 0x49, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            Some(-2_147_483_648.0)
        );
        assert_eq!(
            number(&[0xFF, 0x0F, 0x49, 0x80, 0x80, 0x80, 0x80, 0x08]),
            Some(1_073_741_824.0)
        );
        assert_eq!(number(&[0xFF, 0x0F, 0x55, 0x05]), Some(5.0));
        assert_eq!(
            number(&[0xFF, 0x0F, 0x55, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            Some(4_294_967_295.0)
        );
    }

    #[test]
    fn header_versions_and_padding() {
        assert_eq!(number(&[0xFF, 0x0D, 0x49, 0x02]), Some(1.0));
        assert_eq!(number(&[0xFF, 0x0E, 0x49, 0x02]), Some(1.0));
        assert_eq!(number(&[0xFF, 0x10, 0x49, 0x02]), Some(1.0));
        assert_eq!(number(&[0xFF, 0x0C, 0x49, 0x02]), None);
        assert_eq!(number(&[0xFF, 0x0F, 0x00, 0x00, 0x49, 0x02]), Some(1.0));
        assert_eq!(number(&[0x49, 0x02]), None);
        assert_eq!(number(&[0xFF]), None);
        assert_eq!(number(&[0xFF, 0x0F]), None);
        assert_eq!(number(&[0xFF, 0x0F, 0x00]), None);
        assert_eq!(number(&[]), None);
    }

    #[test]
    fn bigints_of_any_byte_length_decode() {
        // denokv writes the shortest byte length; V8 reads it, and so does cairn.
        assert_eq!(
            bigint(&[0xFF, 0x0F, 0x5A, 0x02, 0x01]),
            Some(BigInt::from(1))
        );
        assert_eq!(
            bigint(&[0xFF, 0x0F, 0x5A, 0x05, 0x2C, 0x01]),
            Some(BigInt::from(-300))
        );
        // All-zero digits are zero, whatever the sign bit says.
        assert_eq!(
            bigint(&[0xFF, 0x0F, 0x5A, 0x03, 0x00]),
            Some(BigInt::from(0))
        );
        // -0n does not exist.
        assert_eq!(decode_number(&[0xFF, 0x0F, 0x5A, 0x01]), None);
        // Digits cut short.
        assert_eq!(decode_number(&[0xFF, 0x0F, 0x5A, 0x10, 0x01, 0x00]), None);
    }

    #[test]
    fn non_numbers_and_malformed_bytes_are_none() {
        // The string "a".
        assert_eq!(decode_number(&[0xFF, 0x0F, 0x22, 0x01, 0x61]), None);
        // true, null, undefined, an empty object.
        for tag in [b'T', b'0', b'_', b'o'] {
            assert_eq!(decode_number(&[0xFF, 0x0F, tag]), None);
        }
        // Trailing bytes after the number.
        assert_eq!(decode_number(&[0xFF, 0x0F, 0x49, 0x02, 0x00]), None);
        // Truncated double.
        assert_eq!(decode_number(&[0xFF, 0x0F, 0x4E, 0, 0, 0]), None);
        // Unterminated and overlong varints.
        assert_eq!(decode_number(&[0xFF, 0x0F, 0x49, 0x80]), None);
        assert_eq!(
            decode_number(&[0xFF, 0x0F, 0x49, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F]),
            None
        );
        assert_eq!(
            decode_number(&[0xFF, 0x0F, 0x49, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            None
        );
    }

    #[test]
    fn round_trips() {
        for value in [
            0.0,
            -0.0,
            1.0,
            -1.5,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NEG_INFINITY,
            5e-324,
        ] {
            let back = number(&encode_number(value)).expect("a number decodes");
            assert_eq!(back.to_bits(), value.to_bits());
        }
        let huge: BigInt = "-123456789012345678901234567890123456789012345678901234567890"
            .parse()
            .expect("test literal is an integer");
        for value in [BigInt::from(i64::MIN), BigInt::from(255), huge] {
            let encoded = encode_bigint(&value);
            assert_eq!(
                (encoded.len() - 4) % BIGINT_DIGIT_BYTES,
                0,
                "whole digits for {value}"
            );
            assert_eq!(decode_number(&encoded), Some(V8Number::BigInt(value)));
        }
    }

    #[test]
    fn encode_and_type_name() {
        assert_eq!(V8Number::Number(1.5).encode(), encode_number(1.5));
        assert_eq!(
            V8Number::BigInt(BigInt::from(7)).encode(),
            encode_bigint(&BigInt::from(7))
        );
        assert_eq!(V8Number::Number(1.0).type_name(), "Number");
        assert_eq!(V8Number::BigInt(BigInt::from(1)).type_name(), "BigInt");
    }

    #[test]
    fn key_arrays_are_laid_out_as_v8_writes_them() {
        let key = crate::key!["a\u{e9}", 1.5f64, true, vec![7u8, 8]];
        let bytes = encode_key_array(&key);
        let expected: &[u8] = &[
            0xFF, 0x0F, b'A', 4, b'"', 2, b'a', 0xE9, b'N', 0, 0, 0, 0, 0, 0, 0xF8, 0x3F, b'T',
            b'B', 2, 7, 8, b'V', b'B', 0, 2, 0, b'$', 0, 4,
        ];
        assert_eq!(bytes, expected);
        let wide = encode_key_array(&crate::key!["\u{263a}", BigInt::from(-1)]);
        let expected: &[u8] = &[
            0xFF, 0x0F, b'A', 2, b'c', 2, 0x3A, 0x26, 0x5A, 0x11, 1, 0, 0, 0, 0, 0, 0, 0, b'$', 0,
            2,
        ];
        assert_eq!(wide, expected);
    }

    #[test]
    fn long_bitfields_are_varints() {
        // 16 digits = 128 bytes: bitfield 256 needs two varint bytes.
        let value: BigInt = BigInt::from(1u8) << (127usize * 8);
        let encoded = encode_bigint(&value);
        assert_eq!(encoded.get(..5), Some(&[0xFF, 0x0F, 0x5A, 0x80, 0x02][..]));
        assert_eq!(decode_number(&encoded), Some(V8Number::BigInt(value)));
    }
}
