//! Typed JSON → V8 bytes, written as V8 itself writes these values (format version 15), so
//! that Deno reads back exactly the value described:
//!
//! ```text
//! FF 0F                      header
//! 5F | 30 | 54 | 46          undefined | null | true | false
//! 49 zigzag                  a number that is an int32 (not -0)
//! 4E f64                     any other number
//! 5A bitfield digits         a bigint (cairn_model::v8 writes these)
//! 22 len latin1 | 63 len u16 a one-byte string, or a two-byte one (after a 00 padding byte
//!                            when needed, so that its UTF-16 code units are 2-byte aligned)
//! 6F (key value)* 7B n       an object of n properties (index keys as int32, others strings)
//! 41 n value* 24 00 n        a dense array of n elements
//! 44 f64                     a Date (NaN: invalid)
//! 52 string flags            a RegExp
//! 3B (key value)* 3A 2n      a Map of n entries
//! 27 value* 2C n             a Set of n values
//! 42 n bytes 56 42 00 n 00   an ArrayBuffer of n bytes and a whole Uint8Array view of it
//! ```
//!
//! Every length is a varint (unsigned LEB128). No value written here shares an object, so no
//! back-reference (`^`) is ever needed.

use serde_json::{Map, Value};

use super::{
    base64_field, bigint_field, date, field, json_number, number_field, tag_of, tagged_fields,
    ValueError, TAG,
};

const FORMAT_VERSION: u8 = 15;

/// The V8 bytes of a typed JSON document (see the module documentation for the tags).
pub(super) fn encode(document: &Value, path: &str) -> Result<Vec<u8>, ValueError> {
    let mut writer = Writer {
        out: vec![0xFF, FORMAT_VERSION],
    };
    writer.value(document, path, 0)?;
    Ok(writer.out)
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn value(&mut self, document: &Value, path: &str, depth: usize) -> Result<(), ValueError> {
        if depth > crate::limits::API_VALUE_DEPTH_MAX {
            return Err(ValueError::new(
                path,
                format!(
                    "nested deeper than {} levels",
                    crate::limits::API_VALUE_DEPTH_MAX
                ),
            ));
        }
        match document {
            Value::Null => self.out.push(b'0'),
            Value::Bool(true) => self.out.push(b'T'),
            Value::Bool(false) => self.out.push(b'F'),
            Value::Number(n) => self.number(json_number(n, path)?),
            Value::String(s) => self.string(s, path)?,
            Value::Array(items) => {
                let n = length(items.len(), path)?;
                self.out.push(b'A');
                self.varint(n);
                for (i, item) in items.iter().enumerate() {
                    self.value(item, &format!("{path}[{i}]"), depth + 1)?;
                }
                self.out.push(b'$');
                self.varint(0);
                self.varint(n);
            }
            Value::Object(fields) => match tag_of(document) {
                Some(tag) => self.tagged(tag, document, path, depth)?,
                None if fields.contains_key(TAG) => {
                    return Err(ValueError::new(
                        path,
                        "\"$type\" must be a string naming a type",
                    ))
                }
                None => self.object(fields, path, depth)?,
            },
        }
        Ok(())
    }

    fn tagged(
        &mut self,
        tag: &str,
        document: &Value,
        path: &str,
        depth: usize,
    ) -> Result<(), ValueError> {
        match tag {
            "undefined" => {
                tagged_fields(document, path, &[])?;
                self.out.push(b'_');
            }
            "number" => {
                let fields = tagged_fields(document, path, &["value"])?;
                self.number(number_field(fields, path)?);
            }
            "bigint" => {
                let fields = tagged_fields(document, path, &["value"])?;
                let value = bigint_field(fields, path)?;
                // `encode_bigint` writes a whole value: skip its header (FF 0F), keep the tag.
                let whole = cairn_model::v8::encode_bigint(&value);
                self.out
                    .extend_from_slice(whole.get(2..).unwrap_or_default());
            }
            "Date" => {
                let fields = tagged_fields(document, path, &["value"])?;
                let ms = match field(fields, "value", path)? {
                    Value::Null => f64::NAN,
                    Value::String(text) => {
                        date::from_iso(text).map_err(|e| ValueError::new(path, e))? as f64
                    }
                    Value::Number(n) => date_ms(n, path)?,
                    _ => {
                        return Err(ValueError::new(
                            path,
                            "a Date's value must be an ISO string, milliseconds or null",
                        ))
                    }
                };
                self.out.push(b'D');
                self.out.extend_from_slice(&ms.to_le_bytes());
            }
            "RegExp" => {
                let fields = tagged_fields(document, path, &["source", "flags"])?;
                let source = field(fields, "source", path)?
                    .as_str()
                    .ok_or_else(|| ValueError::new(path, "a RegExp's source must be a string"))?;
                let flags = match fields.get("flags") {
                    None => 0,
                    Some(Value::String(flags)) => regexp_flags(flags, path)?,
                    Some(_) => {
                        return Err(ValueError::new(path, "a RegExp's flags must be a string"))
                    }
                };
                self.out.push(b'R');
                self.string(source, path)?;
                self.varint(flags);
            }
            "Map" => {
                let fields = tagged_fields(document, path, &["entries"])?;
                let entries = array_field(fields, "entries", path)?;
                self.out.push(b';');
                for (i, entry) in entries.iter().enumerate() {
                    let path = format!("{path}.entries[{i}]");
                    let [key, value] = entry.as_array().map(Vec::as_slice).unwrap_or_default()
                    else {
                        return Err(ValueError::new(&path, "a Map entry must be [key, value]"));
                    };
                    self.value(key, &path, depth + 1)?;
                    self.value(value, &path, depth + 1)?;
                }
                self.out.push(b':');
                self.varint(length(entries.len().saturating_mul(2), path)?);
            }
            "Set" => {
                let fields = tagged_fields(document, path, &["values"])?;
                let values = array_field(fields, "values", path)?;
                self.out.push(b'\'');
                for (i, value) in values.iter().enumerate() {
                    self.value(value, &format!("{path}.values[{i}]"), depth + 1)?;
                }
                self.out.push(b',');
                self.varint(length(values.len(), path)?);
            }
            "Uint8Array" => {
                let fields = tagged_fields(document, path, &["base64"])?;
                let bytes = base64_field(fields, path)?;
                let n = length(bytes.len(), path)?;
                self.out.push(b'B');
                self.varint(n);
                self.out.extend_from_slice(&bytes);
                // The view: subtag 'B' (Uint8Array), offset 0, length n, no flags.
                self.out.extend_from_slice(b"VB\x00");
                self.varint(n);
                self.varint(0);
            }
            "object" => {
                let fields = tagged_fields(document, path, &["value"])?;
                let object = field(fields, "value", path)?.as_object().ok_or_else(|| {
                    ValueError::new(path, "an \"object\"'s value must be a JSON object")
                })?;
                self.object(object, path, depth)?;
            }
            "KvU64" => {
                return Err(ValueError::new(
                    path,
                    "a KvU64 can only be a whole value, not part of one",
                ))
            }
            "unsupported" => {
                return Err(ValueError::new(
                    path,
                    "this value is read-only: the API cannot represent it, so it cannot be \
                     written back (write a new value instead)",
                ))
            }
            other => {
                return Err(ValueError::new(
                    path,
                    format!(
                        "unknown $type {other:?}; the types are undefined, number, bigint, \
                         Date, RegExp, Map, Set, Uint8Array, KvU64, object"
                    ),
                ))
            }
        }
        Ok(())
    }

    fn object(
        &mut self,
        fields: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Result<(), ValueError> {
        self.out.push(b'o');
        for (key, value) in fields {
            // V8 writes array-index keys as numbers; any other key as a string.
            match array_index(key) {
                Some(index) => self.number(f64::from(index)),
                None => self.string(key, path)?,
            }
            self.value(value, &format!("{path}.{key}"), depth + 1)?;
        }
        self.out.push(b'{');
        self.varint(length(fields.len(), path)?);
        Ok(())
    }

    fn number(&mut self, x: f64) {
        let small = x as i32;
        if f64::from(small) == x && !(x == 0.0 && x.is_sign_negative()) {
            self.out.push(b'I');
            // ZigZag: 0, -1, 1, -2, … as 0, 1, 2, 3, …
            self.varint(((small << 1) ^ (small >> 31)) as u32);
        } else {
            self.out.push(b'N');
            self.out.extend_from_slice(&x.to_le_bytes());
        }
    }

    fn string(&mut self, s: &str, path: &str) -> Result<(), ValueError> {
        if s.chars().all(|c| u32::from(c) <= 0xFF) {
            let latin1: Vec<u8> = s.chars().map(|c| u32::from(c) as u8).collect();
            self.out.push(b'"');
            self.varint(length(latin1.len(), path)?);
            self.out.extend_from_slice(&latin1);
        } else {
            let units: Vec<u16> = s.encode_utf16().collect();
            let bytes = length(units.len().saturating_mul(2), path)?;
            // Aligns the code units as V8 does: tag, varint, then data at an even offset.
            if (self.out.len() + 1 + varint_len(bytes)) % 2 == 1 {
                self.out.push(0x00);
            }
            self.out.push(b'c');
            self.varint(bytes);
            for unit in units {
                self.out.extend_from_slice(&unit.to_le_bytes());
            }
        }
        Ok(())
    }

    fn varint(&mut self, mut value: u32) {
        while value >= 0x80 {
            self.out.push((value & 0x7F) as u8 | 0x80);
            value >>= 7;
        }
        self.out.push(value as u8);
    }
}

fn varint_len(value: u32) -> usize {
    match value {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

/// A count as V8 writes it (u32).
fn length(n: usize, path: &str) -> Result<u32, ValueError> {
    u32::try_from(n).map_err(|_| ValueError::new(path, "too many elements"))
}

/// A key V8 treats as an array index (canonical decimal, below 2^31 so it fits an int32).
fn array_index(key: &str) -> Option<i32> {
    let canonical =
        key == "0" || (!key.starts_with('0') && key.bytes().all(|b| b.is_ascii_digit()));
    if !canonical || key.is_empty() {
        return None;
    }
    key.parse::<i32>().ok()
}

fn array_field<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a Vec<Value>, ValueError> {
    field(fields, name, path)?
        .as_array()
        .ok_or_else(|| ValueError::new(path, format!("{name:?} must be an array")))
}

/// Milliseconds of a Date given as a number: an integer within JavaScript's time range.
fn date_ms(n: &serde_json::Number, path: &str) -> Result<f64, ValueError> {
    match n.as_i64() {
        Some(ms) if ms.abs() <= date::TIME_MS_MAX => Ok(ms as f64),
        _ => Err(ValueError::new(
            path,
            "a Date's milliseconds must be an integer within ±8.64e15",
        )),
    }
}

/// RegExp flags as V8 stores them.
fn regexp_flags(flags: &str, path: &str) -> Result<u32, ValueError> {
    let mut bits = 0u32;
    for c in flags.chars() {
        let bit = match c {
            'g' => 1,
            'i' => 2,
            'm' => 4,
            'y' => 8,
            'u' => 16,
            's' => 32,
            'd' => 128,
            'v' => 256,
            _ => {
                return Err(ValueError::new(
                    path,
                    format!("RegExp flag {c:?} is not one of d, g, i, m, s, u, v, y"),
                ))
            }
        };
        if bits & bit != 0 {
            return Err(ValueError::new(
                path,
                format!("RegExp flag {c:?} given twice"),
            ));
        }
        bits |= bit;
    }
    if bits & 16 != 0 && bits & 256 != 0 {
        return Err(ValueError::new(
            path,
            "RegExp flags u and v exclude each other",
        ));
    }
    Ok(bits)
}
