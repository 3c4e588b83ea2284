//! Replies as RESP frames, and their encoding in RESP2 or RESP3 (chosen per connection by
//! `HELLO`). A reply is built once, protocol-free; only [`Frame::encode`] knows the
//! difference: RESP3's null, map and set types become RESP2's null bulk (or null array), a
//! flat array of pairs, and an array.

use std::io::Write as _;

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2, the default.
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// One reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`: the text starts with the error code (`ERR`, `WRONGTYPE`, `NOPERM`, …).
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nfoo`.
    Bulk(Vec<u8>),
    /// The null reply: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// The null array (EXEC after a WATCH conflict): `*-1` in RESP2, `_` in RESP3.
    NullArray,
    /// `*n`.
    Array(Vec<Frame>),
    /// `%n` in RESP3; a flat array of key, value, key, value in RESP2.
    Map(Vec<(Frame, Frame)>),
}

impl Frame {
    /// `+OK`.
    pub fn ok() -> Frame {
        Frame::Simple("OK".into())
    }

    /// An error reply with code `ERR`.
    pub fn err(message: impl std::fmt::Display) -> Frame {
        Frame::Error(format!("ERR {message}"))
    }

    /// A bulk string from text.
    pub fn text(s: impl Into<String>) -> Frame {
        Frame::Bulk(s.into().into_bytes())
    }

    /// Appends the frame's bytes in `protocol` to `out`.
    pub fn encode(&self, protocol: Protocol, out: &mut Vec<u8>) {
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(s) => line(out, b'-', s),
            Frame::Integer(n) => header(out, b':', *n),
            Frame::Bulk(bytes) => {
                header(out, b'$', bytes.len() as i64);
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Null => match protocol {
                Protocol::Resp2 => out.extend_from_slice(b"$-1\r\n"),
                Protocol::Resp3 => out.extend_from_slice(b"_\r\n"),
            },
            Frame::NullArray => match protocol {
                Protocol::Resp2 => out.extend_from_slice(b"*-1\r\n"),
                Protocol::Resp3 => out.extend_from_slice(b"_\r\n"),
            },
            Frame::Array(items) => {
                header(out, b'*', items.len() as i64);
                for item in items {
                    item.encode(protocol, out);
                }
            }
            Frame::Map(pairs) => {
                match protocol {
                    Protocol::Resp2 => header(out, b'*', 2 * pairs.len() as i64),
                    Protocol::Resp3 => header(out, b'%', pairs.len() as i64),
                }
                for (key, value) in pairs {
                    key.encode(protocol, out);
                    value.encode(protocol, out);
                }
            }
        }
    }

    /// Bytes the frame takes on the wire (about; for memory bounds).
    pub fn size(&self) -> usize {
        match self {
            Frame::Simple(s) | Frame::Error(s) => s.len() + 3,
            Frame::Integer(_) | Frame::Null | Frame::NullArray => 24,
            Frame::Bulk(b) => b.len() + 16,
            Frame::Array(items) => 16 + items.iter().map(Frame::size).sum::<usize>(),
            Frame::Map(pairs) => {
                16 + pairs
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
        }
    }
}

/// `<kind><text>\r\n`; CR and LF inside the text (from a message that quotes input) become
/// spaces, so a reply line never breaks the framing.
fn line(out: &mut Vec<u8>, kind: u8, text: &str) {
    out.push(kind);
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

fn header(out: &mut Vec<u8>, kind: u8, n: i64) {
    out.push(kind);
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{n}");
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(frame: &Frame, protocol: Protocol) -> Vec<u8> {
        let mut out = Vec::new();
        frame.encode(protocol, &mut out);
        out
    }

    #[test]
    fn frames_encode_in_both_protocols() {
        assert_eq!(bytes(&Frame::ok(), Protocol::Resp2), b"+OK\r\n");
        assert_eq!(bytes(&Frame::Integer(-3), Protocol::Resp2), b":-3\r\n");
        assert_eq!(
            bytes(&Frame::Bulk(b"ab".to_vec()), Protocol::Resp3),
            b"$2\r\nab\r\n"
        );
        assert_eq!(bytes(&Frame::Null, Protocol::Resp2), b"$-1\r\n");
        assert_eq!(bytes(&Frame::Null, Protocol::Resp3), b"_\r\n");
        assert_eq!(bytes(&Frame::NullArray, Protocol::Resp2), b"*-1\r\n");
        let map = Frame::Map(vec![(Frame::text("f"), Frame::Integer(1))]);
        assert_eq!(bytes(&map, Protocol::Resp2), b"*2\r\n$1\r\nf\r\n:1\r\n");
        assert_eq!(bytes(&map, Protocol::Resp3), b"%1\r\n$1\r\nf\r\n:1\r\n");
    }

    #[test]
    fn error_lines_cannot_break_the_framing() {
        let frame = Frame::err("bad\r\ninput");
        assert_eq!(bytes(&frame, Protocol::Resp2), b"-ERR bad  input\r\n");
    }
}
