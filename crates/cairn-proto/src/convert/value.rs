//! Values and entries: [`KvValue`] ↔ (bytes, `ValueEncoding`), and `KvEntry`.

use cairn_model::{KvValue, ValueEncoding, Versionstamp};

use crate::error::{ProtoError, ValueError};
use crate::messages as pb;

/// A stored entry in plain parts: encoded key, value, versionstamp.
pub type EntryParts = (Vec<u8>, KvValue, Versionstamp);

/// The wire encoding of a model encoding.
pub fn encoding_to_proto(encoding: ValueEncoding) -> pb::ValueEncoding {
    match encoding {
        ValueEncoding::V8 => pb::ValueEncoding::VeV8,
        ValueEncoding::Le64 => pb::ValueEncoding::VeLe64,
        ValueEncoding::Bytes => pb::ValueEncoding::VeBytes,
    }
}

/// The model encoding of a wire encoding number; `VE_UNSPECIFIED` and unknown numbers are
/// errors, never read as some default.
pub fn encoding_from_proto(encoding: i32) -> Result<ValueEncoding, ValueError> {
    match pb::ValueEncoding::try_from(encoding) {
        Ok(pb::ValueEncoding::VeV8) => Ok(ValueEncoding::V8),
        Ok(pb::ValueEncoding::VeLe64) => Ok(ValueEncoding::Le64),
        Ok(pb::ValueEncoding::VeBytes) => Ok(ValueEncoding::Bytes),
        Ok(pb::ValueEncoding::VeUnspecified) => Err(ValueError::UnspecifiedEncoding),
        Err(_) => Err(ValueError::UnknownEncoding(encoding)),
    }
}

/// A value's bytes and wire encoding (a u64 becomes 8 bytes little-endian).
pub fn value_to_proto(value: KvValue) -> (Vec<u8>, pb::ValueEncoding) {
    let encoding = encoding_to_proto(value.encoding());
    let bytes = match value {
        KvValue::V8(bytes) | KvValue::Bytes(bytes) => bytes,
        KvValue::U64(n) => n.to_le_bytes().to_vec(),
    };
    (bytes, encoding)
}

/// The value from its bytes and wire encoding number.
pub fn value_from_proto(data: Vec<u8>, encoding: i32) -> Result<KvValue, ValueError> {
    let encoding = encoding_from_proto(encoding)?;
    let len = data.len();
    KvValue::from_encoded(encoding, data).ok_or(ValueError::Le64Length(len))
}

/// A value as the `KvValue` message.
pub fn kv_value_to_proto(value: KvValue) -> pb::KvValue {
    let (data, encoding) = value_to_proto(value);
    pb::KvValue {
        data,
        encoding: encoding.into(),
    }
}

/// The value of a `KvValue` message.
pub fn kv_value_from_proto(value: pb::KvValue) -> Result<KvValue, ValueError> {
    value_from_proto(value.data, value.encoding)
}

/// An entry as the `KvEntry` message.
pub fn kv_entry_to_proto((key, value, versionstamp): EntryParts) -> pb::KvEntry {
    let (value, encoding) = value_to_proto(value);
    pb::KvEntry {
        key,
        value,
        encoding: encoding.into(),
        versionstamp: versionstamp.0.to_vec(),
    }
}

/// The parts of a `KvEntry` message (what a client reads from a snapshot read or a watch).
pub fn kv_entry_from_proto(entry: pb::KvEntry) -> Result<EntryParts, ProtoError> {
    let versionstamp =
        Versionstamp::from_slice(&entry.versionstamp).ok_or(ProtoError::EntryVersionstamp {
            len: entry.versionstamp.len(),
        })?;
    let value = value_from_proto(entry.value, entry.encoding)?;
    Ok((entry.key, value, versionstamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips() {
        for value in [
            KvValue::V8(vec![0xff, 0x0f, 0x22, 0x01, 0x61]),
            KvValue::Bytes(vec![]),
            KvValue::Bytes(vec![0, 1, 2]),
            KvValue::U64(0x0102_0304_0506_0708),
        ] {
            let proto = kv_value_to_proto(value.clone());
            assert_eq!(kv_value_from_proto(proto), Ok(value));
        }
    }

    #[test]
    fn u64_travels_little_endian() {
        let (bytes, encoding) = value_to_proto(KvValue::U64(1));
        assert_eq!(bytes, [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encoding, pb::ValueEncoding::VeLe64);
    }

    #[test]
    fn encoding_numbers_match_the_model() {
        for encoding in [ValueEncoding::V8, ValueEncoding::Le64, ValueEncoding::Bytes] {
            assert_eq!(encoding_to_proto(encoding) as i32, encoding as i32);
            assert_eq!(encoding_from_proto(encoding as i32), Ok(encoding));
        }
    }

    #[test]
    fn bad_encodings_are_refused() {
        assert_eq!(
            value_from_proto(vec![1], 0),
            Err(ValueError::UnspecifiedEncoding)
        );
        assert_eq!(
            value_from_proto(vec![1], 7),
            Err(ValueError::UnknownEncoding(7))
        );
        assert_eq!(
            value_from_proto(vec![1], -1),
            Err(ValueError::UnknownEncoding(-1))
        );
        let err = value_from_proto(vec![1, 2, 3], 2).expect_err("must be refused");
        assert_eq!(err, ValueError::Le64Length(3));
        assert_eq!(err.to_string(), "LE64 value must be 8 bytes, got 3");
    }

    #[test]
    fn entry_round_trips_and_checks_its_versionstamp() {
        let parts = (
            vec![0x02, b'a', 0],
            KvValue::U64(9),
            Versionstamp::new(5, 1),
        );
        let proto = kv_entry_to_proto(parts.clone());
        assert_eq!(proto.versionstamp, [0, 0, 0, 0, 0, 0, 0, 5, 0, 1]);
        assert_eq!(kv_entry_from_proto(proto.clone()), Ok(parts));

        let short = pb::KvEntry {
            versionstamp: vec![1, 2],
            ..proto.clone()
        };
        assert_eq!(
            kv_entry_from_proto(short),
            Err(ProtoError::EntryVersionstamp { len: 2 })
        );
        let unspecified = pb::KvEntry {
            encoding: 0,
            ..proto
        };
        assert_eq!(
            kv_entry_from_proto(unspecified),
            Err(ProtoError::Value(ValueError::UnspecifiedEncoding))
        );
    }
}
