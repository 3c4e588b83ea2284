//! Tuple keys: a [`Key`] is a sequence of [`KeyPart`]s.
//!
//! Keys order exactly as their encodings compare byte-wise (see [`crate::codec`]); the `Ord`
//! implementations below are defined through the encoding so the two can never disagree.

use std::cmp::Ordering;
use std::fmt;

use num_bigint::BigInt;

use crate::codec::{encode_key, encode_part};

/// One element of a key tuple.
///
/// Cross-type order: bytes < string < integer < float < false < true.
#[derive(Debug, Clone)]
pub enum KeyPart {
    /// A `Uint8Array` in JavaScript.
    Bytes(Vec<u8>),
    /// A JavaScript string.
    String(String),
    /// A JavaScript `bigint`. The codec limits the magnitude to 255 bytes.
    Int(BigInt),
    /// A JavaScript `number`. NaN is canonicalised when encoded, so all NaNs are equal keys.
    Float(f64),
    /// `false` or `true`.
    Bool(bool),
}

impl KeyPart {
    /// Encoded form of this single part.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_part(self, &mut out);
        out
    }
}

impl PartialEq for KeyPart {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for KeyPart {}

impl PartialOrd for KeyPart {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyPart {
    fn cmp(&self, other: &Self) -> Ordering {
        self.encode().cmp(&other.encode())
    }
}

impl From<&str> for KeyPart {
    fn from(s: &str) -> Self {
        KeyPart::String(s.to_owned())
    }
}

impl From<String> for KeyPart {
    fn from(s: String) -> Self {
        KeyPart::String(s)
    }
}

impl From<Vec<u8>> for KeyPart {
    fn from(b: Vec<u8>) -> Self {
        KeyPart::Bytes(b)
    }
}

impl From<&[u8]> for KeyPart {
    fn from(b: &[u8]) -> Self {
        KeyPart::Bytes(b.to_vec())
    }
}

impl From<bool> for KeyPart {
    fn from(b: bool) -> Self {
        KeyPart::Bool(b)
    }
}

impl From<f64> for KeyPart {
    fn from(f: f64) -> Self {
        KeyPart::Float(f)
    }
}

macro_rules! int_key_part {
    ($($t:ty),*) => {$(
        impl From<$t> for KeyPart {
            fn from(i: $t) -> Self {
                KeyPart::Int(BigInt::from(i))
            }
        }
    )*};
}
int_key_part!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128);

impl From<BigInt> for KeyPart {
    fn from(i: BigInt) -> Self {
        KeyPart::Int(i)
    }
}

impl fmt::Display for KeyPart {
    /// Written the way a JavaScript programmer would write the part: `"s"`, `42n`, `1.5`,
    /// `true`, and bytes as `b"…"` with hex escapes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPart::Bytes(b) => {
                f.write_str("b\"")?;
                for byte in b {
                    if byte.is_ascii_graphic() && *byte != b'"' && *byte != b'\\' {
                        write!(f, "{}", char::from(*byte))?;
                    } else {
                        write!(f, "\\x{byte:02x}")?;
                    }
                }
                f.write_str("\"")
            }
            KeyPart::String(s) => write_json_string(f, s),
            KeyPart::Int(i) => write!(f, "{i}n"),
            KeyPart::Float(x) if x.is_nan() => f.write_str("NaN"),
            KeyPart::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
            }
            KeyPart::Float(x) => write!(f, "{x:?}"),
            KeyPart::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Writes `s` as a JSON string literal (what [`crate::text::parse_key`] reads back).
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// A key: a tuple of parts. The empty key is valid (it is the prefix of every key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Key(pub Vec<KeyPart>);

impl Key {
    /// A key from its parts.
    pub fn new(parts: Vec<KeyPart>) -> Self {
        Key(parts)
    }

    /// The order-preserving encoding of this key (kv-connect.md §3).
    pub fn encode(&self) -> Vec<u8> {
        encode_key(self)
    }

    /// The parts of this key.
    pub fn parts(&self) -> &[KeyPart] {
        &self.0
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.encode().cmp(&other.encode())
    }
}

impl From<Vec<KeyPart>> for Key {
    fn from(parts: Vec<KeyPart>) -> Self {
        Key(parts)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{part}")?;
        }
        f.write_str("]")
    }
}

/// Builds a [`Key`] from a list of values convertible into [`KeyPart`].
///
/// ```
/// use cairn_model::{key, KeyPart};
/// let k = key!["users", 42i64, true];
/// assert_eq!(k.parts()[0], KeyPart::String("users".into()));
/// ```
#[macro_export]
macro_rules! key {
    ($($part:expr),* $(,)?) => {
        $crate::Key(vec![$($crate::KeyPart::from($part)),*])
    };
}
