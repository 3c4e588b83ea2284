//! Values and their encodings.

use std::fmt;

/// How a value's bytes are to be read. The numbers are the wire's `ValueEncoding` and are also
/// what cairn stores on disk, so they must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueEncoding {
    /// V8 structured-serialization bytes (any JavaScript value other than the two below).
    V8 = 1,
    /// A `Deno.KvU64`: 8 bytes, little-endian.
    Le64 = 2,
    /// A `Uint8Array`: raw bytes.
    Bytes = 3,
}

impl ValueEncoding {
    /// The encoding with this wire/disk number, if any.
    pub fn from_u8(n: u8) -> Option<Self> {
        match n {
            1 => Some(ValueEncoding::V8),
            2 => Some(ValueEncoding::Le64),
            3 => Some(ValueEncoding::Bytes),
            _ => None,
        }
    }
}

/// A stored value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvValue {
    /// V8-serialized bytes, kept opaque (only `sum` looks inside, for bigints and numbers).
    V8(Vec<u8>),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An unsigned 64-bit integer (`Deno.KvU64`).
    U64(u64),
}

impl KvValue {
    /// The encoding this value is written with.
    pub fn encoding(&self) -> ValueEncoding {
        match self {
            KvValue::V8(_) => ValueEncoding::V8,
            KvValue::Bytes(_) => ValueEncoding::Bytes,
            KvValue::U64(_) => ValueEncoding::Le64,
        }
    }

    /// The value's bytes as they travel and are stored (u64: 8 bytes little-endian).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            KvValue::V8(b) | KvValue::Bytes(b) => b.clone(),
            KvValue::U64(n) => n.to_le_bytes().to_vec(),
        }
    }

    /// Size in bytes as counted by the value-size limit.
    pub fn byte_len(&self) -> usize {
        match self {
            KvValue::V8(b) | KvValue::Bytes(b) => b.len(),
            KvValue::U64(_) => 8,
        }
    }

    /// Rebuilds a value from its encoding and bytes. `None` if an LE64 value is not 8 bytes.
    pub fn from_encoded(encoding: ValueEncoding, bytes: Vec<u8>) -> Option<Self> {
        match encoding {
            ValueEncoding::V8 => Some(KvValue::V8(bytes)),
            ValueEncoding::Bytes => Some(KvValue::Bytes(bytes)),
            ValueEncoding::Le64 => {
                let arr: [u8; 8] = bytes.as_slice().try_into().ok()?;
                Some(KvValue::U64(u64::from_le_bytes(arr)))
            }
        }
    }
}

impl fmt::Display for KvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvValue::V8(b) => write!(f, "v8:{}", hex(b)),
            KvValue::Bytes(b) => write!(f, "bytes:{}", hex(b)),
            KvValue::U64(n) => write!(f, "{n}u64"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_round_trip() {
        for v in [
            KvValue::V8(vec![0xff, 0x0f, 0x49, 0x02]),
            KvValue::Bytes(vec![]),
            KvValue::U64(u64::MAX),
        ] {
            let back = KvValue::from_encoded(v.encoding(), v.to_bytes());
            assert_eq!(back, Some(v));
        }
        assert_eq!(
            KvValue::from_encoded(ValueEncoding::Le64, vec![1, 2, 3]),
            None
        );
        assert_eq!(ValueEncoding::from_u8(0), None);
    }
}
