//! Requests off the wire: RESP arrays of bulk strings (what every client sends) and inline
//! commands (a line of text, as typed into telnet), parsed from a buffer that may hold less
//! than a whole request, or several.
//!
//! Every length is checked against `limits` before anything is allocated for it, and nothing
//! is allocated for a request until all of its bytes are in the buffer: a client that
//! announces a gigabyte costs nothing. A malformed request is a [`ProtocolError`]; the
//! connection answers it and closes, as Redis does.

use crate::limits::{
    ARRAY_LEN_MAX, BULK_BYTES_MAX, HEADER_LINE_BYTES_MAX, INLINE_BYTES_MAX, QUERY_BYTES_MAX,
};

/// A request that is not RESP, or breaks a bound. The text is the error reply's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

fn protocol(message: impl std::fmt::Display) -> ProtocolError {
    ProtocolError(format!("ERR Protocol error: {message}"))
}

/// One parsed request: its arguments (the command name first) and how many bytes of the
/// buffer it took. An empty request (an empty line, `*0`) has no arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The command name and its arguments.
    pub args: Vec<Vec<u8>>,
    /// Bytes of the buffer the request took.
    pub len: usize,
}

/// The first request in `buf`, `Ok(None)` while it is incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<Request>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_array(buf),
        Some(_) => parse_inline(buf),
    }
}

/// `*<n>\r\n` then n times `$<len>\r\n<len bytes>\r\n`.
fn parse_array(buf: &[u8]) -> Result<Option<Request>, ProtocolError> {
    let Some((count, mut pos)) = header(buf, 0, b'*', "multibulk")? else {
        return Ok(None);
    };
    // `*0` and `*-1` are empty requests: skipped, as Redis does.
    let count = usize::try_from(count.max(0)).unwrap_or(0);
    if count > ARRAY_LEN_MAX {
        return Err(protocol("invalid multibulk length"));
    }
    // First find the end (nothing allocated), then copy the arguments out.
    let mut spans = Vec::new();
    for _ in 0..count {
        if buf.len() <= pos {
            return incomplete(buf);
        }
        let Some((len, start)) = header(buf, pos, b'$', "bulk")? else {
            return incomplete(buf);
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= BULK_BYTES_MAX)
            .ok_or_else(|| protocol("invalid bulk length"))?;
        let end = start + len;
        match buf.get(end..end + 2) {
            None => return incomplete(buf),
            Some(b"\r\n") => {}
            Some(_) => return Err(protocol("bulk string not terminated by CRLF")),
        }
        spans.push((start, end));
        pos = end + 2;
    }
    let args = spans
        .into_iter()
        .map(|(s, e)| buf.get(s..e).unwrap_or_default().to_vec())
        .collect();
    Ok(Some(Request { args, len: pos }))
}

/// Incomplete: fine while the buffer may still grow into a whole request.
fn incomplete(buf: &[u8]) -> Result<Option<Request>, ProtocolError> {
    if buf.len() >= QUERY_BYTES_MAX {
        return Err(protocol(format!(
            "request larger than {QUERY_BYTES_MAX} bytes"
        )));
    }
    Ok(None)
}

/// A header line at `pos`: the kind byte, a decimal integer, CRLF. Returns the integer and
/// where the line ends; `None` while incomplete.
fn header(
    buf: &[u8],
    pos: usize,
    kind: u8,
    what: &str,
) -> Result<Option<(i64, usize)>, ProtocolError> {
    let rest = buf.get(pos..).unwrap_or_default();
    match rest.first() {
        None => return Ok(None),
        Some(&b) if b != kind => {
            return Err(protocol(format!(
                "expected '{}', got '{}'",
                kind as char,
                printable(b)
            )))
        }
        Some(_) => {}
    }
    let window = &rest[..rest.len().min(HEADER_LINE_BYTES_MAX)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        if rest.len() >= HEADER_LINE_BYTES_MAX {
            return Err(protocol(format!("invalid {what} length")));
        }
        return Ok(None);
    };
    match rest.get(cr + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => return Err(protocol(format!("invalid {what} length"))),
    }
    let digits = rest.get(1..cr).unwrap_or_default();
    let n = decimal(digits).ok_or_else(|| protocol(format!("invalid {what} length")))?;
    Ok(Some((n, pos + cr + 2)))
}

/// A decimal `i64`: an optional `-`, then one or more ASCII digits, nothing else (what
/// `str::parse::<i64>` takes, without its `+`). By hand: three of these per command, and the
/// library's UTF-8 check and parse were a measurable part of parsing one.
fn decimal(digits: &[u8]) -> Option<i64> {
    let (negative, body) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if body.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in body {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(n)
    } else {
        i64::try_from(n).ok()
    }
}

fn printable(b: u8) -> char {
    if b.is_ascii_graphic() {
        b as char
    } else {
        '?'
    }
}

/// A line of text split into arguments at spaces; `"…"` and `'…'` quote, and in double quotes
/// `\n`, `\r`, `\t`, `\\`, `\"` and `\xHH` escape, as in redis-cli.
fn parse_inline(buf: &[u8]) -> Result<Option<Request>, ProtocolError> {
    let window = &buf[..buf.len().min(INLINE_BYTES_MAX)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if buf.len() >= INLINE_BYTES_MAX {
            return Err(protocol("too big inline request"));
        }
        return Ok(None);
    };
    let mut line = &buf[..lf];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    let args = split_inline(line).ok_or_else(|| protocol("unbalanced quotes in request"))?;
    Ok(Some(Request { args, len: lf + 1 }))
}

fn split_inline(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let b = line.get(i).copied()?;
        if b == b' ' || b == b'\t' {
            i += 1;
            continue;
        }
        let mut arg = Vec::new();
        match b {
            b'"' | b'\'' => {
                i += 1;
                loop {
                    let c = *line.get(i)?;
                    i += 1;
                    if c == b {
                        break;
                    }
                    if c == b'\\' && b == b'"' {
                        let e = *line.get(i)?;
                        i += 1;
                        arg.push(match e {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'x' => {
                                let hex = std::str::from_utf8(line.get(i..i + 2)?).ok()?;
                                i += 2;
                                u8::from_str_radix(hex, 16).ok()?
                            }
                            other => other,
                        });
                    } else {
                        arg.push(c);
                    }
                }
                // A closing quote must end the argument.
                if line.get(i).is_some_and(|&c| c != b' ' && c != b'\t') {
                    return None;
                }
            }
            _ => {
                while let Some(&c) = line.get(i) {
                    if c == b' ' || c == b'\t' {
                        break;
                    }
                    arg.push(c);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
    Some(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_takes_what_the_library_parse_takes_without_plus() {
        let cases = [
            "0",
            "7",
            "-0",
            "-1",
            "16",
            "0016",
            "-",
            "",
            "+5",
            "5-",
            " 5",
            "5 ",
            "1e3",
            "0x10",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "99999999999999999999999",
            "é",
        ];
        for case in cases {
            let library = case.parse::<i64>().ok().filter(|_| !case.starts_with('+'));
            assert_eq!(decimal(case.as_bytes()), library, "{case:?}");
        }
    }

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_request_parses_whole_and_waits_while_partial() {
        let wire = b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n";
        let parsed = parse(wire).expect("valid").expect("complete");
        assert_eq!(parsed.args, args(&["GET", "foo"]));
        assert_eq!(parsed.len, wire.len());
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn pipelined_requests_parse_one_at_a_time() {
        let wire = b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        let first = parse(wire).expect("valid").expect("complete");
        assert_eq!(first.len, 14);
        let second = parse(&wire[first.len..]).expect("valid").expect("complete");
        assert_eq!(second.args, args(&["PING"]));
    }

    #[test]
    fn inline_commands_split_and_unquote() {
        let parsed = parse(b"SET k \"a b\\x41\" 'c d'\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(parsed.args, args(&["SET", "k", "a bA", "c d"]));
        assert_eq!(
            parse(b"\r\n").expect("valid").expect("complete").args.len(),
            0
        );
        assert!(parse(b"SET \"k\r\n").is_err());
    }

    #[test]
    fn bad_lengths_are_protocol_errors() {
        assert!(parse(b"*x\r\n").is_err());
        assert!(parse(b"*+1\r\n").is_err());
        assert!(parse(b"*1\r\n:1\r\n").is_err());
        assert!(parse(b"*1\r\n$-5\r\n").is_err());
        assert!(parse(format!("*{}\r\n", ARRAY_LEN_MAX + 1).as_bytes()).is_err());
        assert!(parse(format!("*1\r\n${}\r\n", BULK_BYTES_MAX + 1).as_bytes()).is_err());
        assert!(parse(b"*1\r\n$999999999999999999999\r\n").is_err());
        assert!(
            parse(b"*1\r\n$1\r\nab\r\n").is_err(),
            "payload longer than announced"
        );
        assert!(parse(&[b'*'; 40]).is_err(), "header line without CRLF");
        // An announced length costs nothing until the bytes arrive.
        assert_eq!(
            parse(format!("*1\r\n${BULK_BYTES_MAX}\r\n").as_bytes()),
            Ok(None)
        );
    }

    #[test]
    fn an_inline_line_is_bounded() {
        assert!(parse(&vec![b'a'; INLINE_BYTES_MAX]).is_err());
        assert_eq!(parse(&vec![b'a'; INLINE_BYTES_MAX - 1]), Ok(None));
    }
}
