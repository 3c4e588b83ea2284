//! Keys written as text, the way a JavaScript programmer writes them: `["users", "alice", 42n]`.
//!
//! | part | text |
//! |---|---|
//! | string | a JSON string: `"alice"` |
//! | integer (bigint) | digits with an `n` suffix: `42n`, `-7n` |
//! | float (number) | a JSON number, or `NaN`, `Infinity`, `-Infinity`: `1.5`, `-0` |
//! | boolean | `true`, `false` |
//! | bytes | `b"…"` with `\xNN` escapes for anything but printable ASCII |
//!
//! [`Key`]'s `Display` writes this syntax, so printing and parsing round-trip.

use num_bigint::BigInt;

use crate::key::{Key, KeyPart};

/// Text that is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid key at character {offset}: {reason} (keys look like [\"users\", 42n, true])")]
pub struct KeyTextError {
    /// Character position of the problem.
    pub offset: usize,
    /// What was expected.
    pub reason: String,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    _text: &'a str,
}

impl Parser<'_> {
    fn err<T>(&self, reason: impl Into<String>) -> Result<T, KeyTextError> {
        Err(KeyTextError {
            offset: self.pos,
            reason: reason.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> Result<(), KeyTextError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(format!("expected '{c}'"))
        }
    }

    fn key(&mut self) -> Result<Key, KeyTextError> {
        self.expect('[')?;
        let mut parts = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
        } else {
            loop {
                parts.push(self.part()?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.err("expected ',' or ']'"),
                }
            }
        }
        self.skip_ws();
        if self.pos != self.chars.len() {
            return self.err("unexpected text after the key");
        }
        Ok(Key(parts))
    }

    fn part(&mut self) -> Result<KeyPart, KeyTextError> {
        self.skip_ws();
        match self.peek() {
            Some('"') => Ok(KeyPart::String(self.string()?)),
            Some('b') if self.chars.get(self.pos + 1) == Some(&'"') => {
                self.pos += 1;
                let s = self.string()?;
                let bytes: Option<Vec<u8>> =
                    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
                match bytes {
                    Some(b) => Ok(KeyPart::Bytes(b)),
                    None => self.err("bytes may only hold characters up to \\xff"),
                }
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.word();
                match word.as_str() {
                    "true" => Ok(KeyPart::Bool(true)),
                    "false" => Ok(KeyPart::Bool(false)),
                    "NaN" => Ok(KeyPart::Float(f64::NAN)),
                    "Infinity" => Ok(KeyPart::Float(f64::INFINITY)),
                    _ => self.err(format!("unknown word {word:?}")),
                }
            }
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            _ => self.err("expected a string, number, bigint (42n), boolean or bytes (b\"..\")"),
        }
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        self.chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn number(&mut self) -> Result<KeyPart, KeyTextError> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
            if self.peek() == Some('I') {
                return match self.word().as_str() {
                    "Infinity" => Ok(KeyPart::Float(f64::NEG_INFINITY)),
                    _ => self.err("expected -Infinity"),
                };
            }
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        {
            self.pos += 1;
        }
        let text: String = self
            .chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect();
        if self.peek() == Some('n') {
            self.pos += 1;
            return match text.parse::<BigInt>() {
                Ok(i) => Ok(KeyPart::Int(i)),
                Err(_) => self.err(format!("{text:?} is not an integer")),
            };
        }
        match text.parse::<f64>() {
            Ok(f) => Ok(KeyPart::Float(f)),
            Err(_) => self.err(format!("{text:?} is not a number")),
        }
    }

    /// A double-quoted string with JSON escapes plus `\xNN`.
    fn string(&mut self) -> Result<String, KeyTextError> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.err("unterminated string");
            };
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return self.err("unterminated escape");
                    };
                    self.pos += 1;
                    match e {
                        '"' | '\\' | '/' => out.push(e),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        '0' => out.push('\0'),
                        'x' => out.push(char::from(self.hex(2)? as u8)),
                        'u' => {
                            let code = self.hex(4)?;
                            match char::from_u32(code) {
                                Some(ch) => out.push(ch),
                                None => return self.err("invalid \\u escape"),
                            }
                        }
                        _ => return self.err(format!("unknown escape \\{e}")),
                    }
                }
                _ => out.push(c),
            }
        }
    }

    fn hex(&mut self, digits: usize) -> Result<u32, KeyTextError> {
        let text: String = self
            .chars
            .get(self.pos..self.pos + digits)
            .unwrap_or_default()
            .iter()
            .collect();
        match u32::from_str_radix(&text, 16) {
            Ok(v) if text.len() == digits => {
                self.pos += digits;
                Ok(v)
            }
            _ => self.err(format!("expected {digits} hex digits")),
        }
    }
}

/// Parses a key written as text (syntax in the module documentation).
///
/// ```
/// use cairn_model::{key, text::parse_key};
/// assert_eq!(parse_key(r#"["users", "alice", 42n]"#), Ok(key!["users", "alice", 42i64]));
/// ```
pub fn parse_key(text: &str) -> Result<Key, KeyTextError> {
    Parser {
        chars: text.chars().collect(),
        pos: 0,
        _text: text,
    }
    .key()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key;

    #[test]
    fn parses_every_part_type() {
        let k = parse_key(
            r#"[ "a\"b", 42n, -7n, 1.5, -0, true, false, b"\x00\xffz", NaN, -Infinity ]"#,
        );
        let expected = Key(vec![
            KeyPart::String("a\"b".into()),
            KeyPart::Int(42.into()),
            KeyPart::Int((-7).into()),
            KeyPart::Float(1.5),
            KeyPart::Float(-0.0),
            KeyPart::Bool(true),
            KeyPart::Bool(false),
            KeyPart::Bytes(vec![0, 0xff, b'z']),
            KeyPart::Float(f64::NAN),
            KeyPart::Float(f64::NEG_INFINITY),
        ]);
        assert_eq!(k, Ok(expected));
        assert_eq!(parse_key("[]"), Ok(Key(vec![])));
    }

    #[test]
    fn display_round_trips() {
        let k = key![
            "x\ny",
            12345678901234567890u64,
            2.5,
            false,
            vec![0u8, 34, 92, 200]
        ];
        assert_eq!(parse_key(&k.to_string()), Ok(k));
    }

    #[test]
    fn errors_say_where() {
        let e = parse_key(r#"["a", oops]"#).err();
        assert_eq!(e.map(|e| e.offset), Some(10));
        assert!(parse_key(r#"["a""#).is_err());
        assert!(parse_key(r#"["a"] x"#).is_err());
        assert!(parse_key("[1e999999n]").is_err());
    }
}
