//! A guard in front of hyper's HTTP/1 parser that refuses requests whose framing is ambiguous.
//!
//! A request with both `Content-Length` and `Transfer-Encoding` can be cut two ways. hyper
//! follows `Transfer-Encoding` and drops `Content-Length` (RFC 9112 §6.1 allows that), but a
//! proxy in front of cairn may follow the other header and take the rest of the body for a
//! second request — request smuggling. cairn refuses such a request with 400 and a reason, and
//! closes the connection, as RFC 9112 also allows; since hyper never shows a handler both
//! headers, the check has to see the bytes before hyper does.
//!
//! [`FramingGuard`] wraps a connection's socket. It holds each request head back until it is
//! complete, checks it, then hands it to hyper, and follows the body's framing (a length, or
//! chunks) so that it knows where the next head starts. Body bytes pass as soon as they arrive.
//! A refused head is never handed over: hyper sees the end of the stream instead, finishes the
//! responses it owes, and shuts the connection down; the refusal is written just before that
//! shutdown, and the connection lingers briefly to read what the client still sends (a close
//! with unread input would reset the connection and could destroy the refusal). HTTP/2 connections (the prior-knowledge preface) pass through untouched, as
//! HTTP/2 has no such ambiguity.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use crate::limits;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The client preface that opens an HTTP/2 connection by prior knowledge.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Headers per request, as hyper's own parser allows.
const HEADERS_MAX: usize = 100;
/// Longest chunk-size or trailer line; hyper allows 16 KiB of chunk extensions in all, no
/// client of cairn sends any.
const CHUNK_LINE_BYTES_MAX: usize = 4096;
/// Bytes read from the socket at a time.
const READ_BYTES: usize = 8192;

/// A socket whose HTTP/1 requests are checked for ambiguous framing before hyper parses them.
pub(crate) struct FramingGuard<S> {
    inner: S,
    /// Bytes read from the socket that hyper has not had yet.
    pending: BytesMut,
    /// How many bytes at the front of `pending` hyper may have.
    released: usize,
    framer: Framer,
    /// The response to a refused request, and how much of it is written.
    refusal: Option<(Vec<u8>, usize)>,
    /// While a head is held back: when it must be complete. hyper's own header timeout never
    /// runs, as hyper is only given complete heads.
    head_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// After a refusal: the write side is shut, input is drained until this deadline.
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
    drained: usize,
    eof: bool,
}

impl<S> FramingGuard<S> {
    pub(crate) fn new(inner: S) -> FramingGuard<S> {
        FramingGuard {
            inner,
            pending: BytesMut::new(),
            released: 0,
            framer: Framer::new(),
            refusal: None,
            head_deadline: None,
            linger: None,
            drained: 0,
            eof: false,
        }
    }

    /// Runs the framer over the bytes not yet released, and times the head it holds back.
    fn frame(&mut self) {
        while self.released < self.pending.len() && self.refusal.is_none() {
            let in_head = self.framer.state == State::Head;
            match self.framer.step(&self.pending[self.released..]) {
                Step::Release(n) => {
                    if in_head && n > 0 {
                        self.head_deadline = None;
                    }
                    self.released += n;
                }
                Step::More => break,
                Step::Refuse(refusal) => {
                    tracing::debug!(reason = refusal.reason, "request refused before parsing");
                    self.refuse(&refusal);
                }
            }
        }
        let holding_head = matches!(self.framer.state, State::Start | State::Head)
            && self.released < self.pending.len();
        if holding_head && self.head_deadline.is_none() && self.refusal.is_none() {
            self.head_deadline = Some(Box::pin(tokio::time::sleep(crate::HEADER_TIMEOUT)));
        }
    }

    fn refuse(&mut self, refusal: &Refusal) {
        self.pending.truncate(self.released);
        self.refusal = Some((refusal.response(), 0));
        self.head_deadline = None;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FramingGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.released > 0 {
                let n = this.released.min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                this.released -= n;
                return Poll::Ready(Ok(()));
            }
            if this.refusal.is_some() {
                // hyper sees the end of the stream in place of the refused request.
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                // A head cut short by the end of the stream goes to hyper, which reports it.
                if !this.pending.is_empty() {
                    this.released = this.pending.len();
                    continue;
                }
                return Poll::Ready(Ok(()));
            }
            if this.framer.state == State::Passthrough && this.pending.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut scratch = [0u8; READ_BYTES];
            let mut read = ReadBuf::new(&mut scratch);
            if Pin::new(&mut this.inner)
                .poll_read(cx, &mut read)?
                .is_pending()
            {
                if let Some(deadline) = &mut this.head_deadline {
                    ready!(deadline.as_mut().poll(cx));
                    tracing::debug!("request head not complete in time");
                    this.refuse(&Refusal {
                        status: 408,
                        reason: "request head not received in time",
                    });
                    continue;
                }
                return Poll::Pending;
            }
            if read.filled().is_empty() {
                this.eof = true;
            } else {
                this.pending.extend_from_slice(read.filled());
                this.frame();
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for FramingGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some((response, written)) = &mut this.refusal else {
            return Pin::new(&mut this.inner).poll_shutdown(cx);
        };
        // hyper shuts down only once it has written every response it owes, so the refusal
        // goes out after them, in order.
        while *written < response.len() {
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &response[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.linger = Some(Box::pin(tokio::time::sleep(Duration::from_millis(
                limits::SERVER_REFUSAL_LINGER_MS,
            ))));
        }
        // Drain until the client closes, the bound is reached or the deadline passes.
        let mut scratch = [0u8; READ_BYTES];
        while this.drained < limits::SERVER_REFUSAL_LINGER_BYTES {
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                    this.drained += read.filled().len();
                }
                Poll::Ready(_) => break,
                Poll::Pending => {
                    if let Some(linger) = &mut this.linger {
                        ready!(linger.as_mut().poll(cx));
                    }
                    break;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Where the framer is in the byte stream of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first request: an HTTP/2 preface may come.
    Start,
    /// Waiting for a complete request head.
    Head,
    /// Inside a body of known length: this many bytes to go.
    Fixed(u64),
    /// Waiting for a chunk-size line.
    ChunkSize,
    /// Inside a chunk's data: this many bytes to go, then a line end.
    ChunkData(u64),
    /// The line end after a chunk's data.
    ChunkEnd,
    /// Trailer lines, up to an empty line.
    Trailers,
    /// HTTP/2: no more checks.
    Passthrough,
}

/// What to do with the bytes at the front of the unreleased ones.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Hand this many to hyper (possibly none, after a change of state).
    Release(usize),
    /// Nothing can be decided until more bytes arrive.
    More,
    /// Refuse the request that starts here and close the connection.
    Refuse(Refusal),
}

#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    status: u16,
    reason: &'static str,
}

impl Refusal {
    fn bad(reason: &'static str) -> Step {
        Step::Refuse(Refusal {
            status: 400,
            reason,
        })
    }

    /// The whole HTTP/1.1 response: plain text, and the connection closes after it.
    fn response(&self) -> Vec<u8> {
        let phrase = match self.status {
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            _ => "Bad Request",
        };
        let body = format!("{}\n", self.reason);
        format!(
            "HTTP/1.1 {} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.status,
            body.len()
        )
        .into_bytes()
    }
}

/// Follows request framing through a connection's bytes.
#[derive(Debug)]
struct Framer {
    state: State,
}

impl Framer {
    fn new() -> Framer {
        Framer {
            state: State::Start,
        }
    }

    /// Decides about the front of `bytes`, the bytes not released yet (never empty).
    fn step(&mut self, bytes: &[u8]) -> Step {
        match self.state {
            State::Start => {
                let n = bytes.len().min(H2_PREFACE.len());
                if bytes[..n] != H2_PREFACE[..n] {
                    self.state = State::Head;
                    Step::Release(0)
                } else if n == H2_PREFACE.len() {
                    self.state = State::Passthrough;
                    Step::Release(0)
                } else {
                    Step::More
                }
            }
            State::Head => self.head(bytes),
            State::Fixed(left) => self.counted(left, bytes.len(), State::Fixed, State::Head),
            State::ChunkSize => match line(bytes) {
                Line::Complete(len, text) => match chunk_size(text) {
                    Some(0) => {
                        self.state = State::Trailers;
                        Step::Release(len)
                    }
                    Some(size) => {
                        self.state = State::ChunkData(size);
                        Step::Release(len)
                    }
                    None => Refusal::bad("invalid chunk size in a chunked body"),
                },
                Line::Partial => Step::More,
                Line::TooLong => Refusal::bad("chunk-size line too long"),
            },
            State::ChunkData(left) => {
                self.counted(left, bytes.len(), State::ChunkData, State::ChunkEnd)
            }
            State::ChunkEnd => match line(bytes) {
                Line::Complete(len, []) => {
                    self.state = State::ChunkSize;
                    Step::Release(len)
                }
                Line::Complete(..) | Line::TooLong => {
                    Refusal::bad("chunk data longer than its chunk size")
                }
                Line::Partial => Step::More,
            },
            State::Trailers => match line(bytes) {
                Line::Complete(len, text) => {
                    if text.is_empty() {
                        self.state = State::Head;
                    }
                    Step::Release(len)
                }
                Line::Partial => Step::More,
                Line::TooLong => Refusal::bad("trailer line too long"),
            },
            State::Passthrough => Step::Release(bytes.len()),
        }
    }

    /// Releases what is there of a run of `left` counted bytes (a body, a chunk's data): the
    /// state becomes `rest` of what is still to come, or `then` once the run is complete.
    fn counted(
        &mut self,
        left: u64,
        available: usize,
        rest: fn(u64) -> State,
        then: State,
    ) -> Step {
        let n = left.min(available as u64);
        self.state = if n == left { then } else { rest(left - n) };
        Step::Release(n as usize)
    }

    /// A request head: held back until complete, then checked and released whole.
    fn head(&mut self, bytes: &[u8]) -> Step {
        let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
        let mut request = httparse::Request::new(&mut headers);
        let len = match request.parse(bytes) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if bytes.len() > limits::SERVER_HEADER_BYTES_MAX => {
                return too_large();
            }
            Ok(httparse::Status::Partial) => return Step::More,
            Err(httparse::Error::TooManyHeaders) => return too_large(),
            Err(_) => return Refusal::bad("malformed HTTP/1.1 request head"),
        };
        if len > limits::SERVER_HEADER_BYTES_MAX {
            return too_large();
        }
        let mut chunked = None;
        let mut length: Option<u64> = None;
        for header in request.headers.iter() {
            if header.name.eq_ignore_ascii_case("transfer-encoding") {
                // The last coding decides; a body whose last coding is not chunked has no end.
                let last = header.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
                chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if header.name.eq_ignore_ascii_case("content-length") {
                for value in header.value.split(|&b| b == b',') {
                    let Some(value) = decimal(value.trim_ascii()) else {
                        return Refusal::bad("invalid Content-Length");
                    };
                    if length.is_some_and(|l| l != value) {
                        return Refusal::bad("conflicting Content-Length headers");
                    }
                    length = Some(value);
                }
            }
        }
        self.state = match (chunked, length) {
            (Some(_), Some(_)) => {
                return Refusal::bad(
                    "a request must not have both Content-Length and Transfer-Encoding",
                )
            }
            (Some(_), None) if request.version != Some(1) => {
                return Refusal::bad("Transfer-Encoding needs HTTP/1.1")
            }
            (Some(true), None) => State::ChunkSize,
            (Some(false), None) => return Refusal::bad("Transfer-Encoding must end with chunked"),
            (None, Some(n)) if n > 0 => State::Fixed(n),
            (None, _) => State::Head,
        };
        Step::Release(len)
    }
}

fn too_large() -> Step {
    Step::Refuse(Refusal {
        status: 431,
        reason: "request head too large",
    })
}

/// One line: `Complete(bytes with the line end, text without it)`.
enum Line<'a> {
    Complete(usize, &'a [u8]),
    Partial,
    TooLong,
}

fn line(bytes: &[u8]) -> Line<'_> {
    match bytes
        .iter()
        .take(CHUNK_LINE_BYTES_MAX)
        .position(|&b| b == b'\n')
    {
        Some(at) => {
            let text = &bytes[..at];
            Line::Complete(at + 1, text.strip_suffix(b"\r").unwrap_or(text))
        }
        None if bytes.len() >= CHUNK_LINE_BYTES_MAX => Line::TooLong,
        None => Line::Partial,
    }
}

/// The hex size at the start of a chunk-size line (extensions after `;` are ignored).
fn chunk_size(text: &[u8]) -> Option<u64> {
    let digits = text
        .iter()
        .position(|&b| b == b';')
        .map_or(text, |at| &text[..at])
        .trim_ascii();
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |size, &b| {
        let digit = (b as char).to_digit(16)?;
        Some(size << 4 | u64::from(digit))
    })
}

fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = (b as char).to_digit(10)?;
        Some(n * 10 + u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` to a framer in pieces of `piece` bytes; returns the bytes released and
    /// the refusal, if any.
    fn run(stream: &[u8], piece: usize) -> (Vec<u8>, Option<Refusal>) {
        let mut framer = Framer::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut released = Vec::new();
        for part in stream.chunks(piece) {
            pending.extend_from_slice(part);
            loop {
                if pending.is_empty() {
                    break;
                }
                match framer.step(&pending) {
                    Step::Release(n) => {
                        released.extend(pending.drain(..n));
                    }
                    Step::More => break,
                    Step::Refuse(r) => return (released, Some(r)),
                }
            }
        }
        (released, None)
    }

    const GOOD: &[u8] = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
GET /b HTTP/1.1\r\nHost: x\r\n\r\n\
POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\n\
POST /d HTTP/1.1\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn valid_pipelined_requests_pass_whole_however_they_are_split() {
        for piece in 1..=GOOD.len() {
            let (released, refusal) = run(GOOD, piece);
            assert_eq!(refusal, None, "piece {piece}");
            assert_eq!(released, GOOD, "piece {piece}");
        }
    }

    #[test]
    fn both_length_headers_are_refused_in_either_order() {
        let prefix = b"GET / HTTP/1.1\r\n\r\n";
        for head in [
            &b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n",
        ] {
            let stream = [&prefix[..], head, b"0\r\n\r\n"].concat();
            for piece in [1, 7, stream.len()] {
                let (released, refusal) = run(&stream, piece);
                // The request before passes; nothing of the ambiguous one does.
                assert_eq!(released, prefix);
                let refusal = refusal.expect("refused");
                assert_eq!(refusal.status, 400);
                assert!(refusal.reason.contains("both"));
            }
        }
    }

    #[test]
    fn other_bad_framing_is_refused() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                "conflicting",
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "invalid"),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                "chunked",
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.1",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "chunk size",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
                "longer",
            ),
        ];
        for (stream, expected) in cases {
            let (_, refusal) = run(stream, stream.len());
            let refusal = refusal.expect("refused");
            assert_eq!(refusal.status, 400);
            assert!(refusal.reason.contains(expected), "{}", refusal.reason);
        }
    }

    #[test]
    fn an_endless_head_is_refused_once_it_passes_the_bound() {
        let mut stream = b"GET / HTTP/1.1\r\n".to_vec();
        while stream.len() <= limits::SERVER_HEADER_BYTES_MAX {
            stream.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let (released, refusal) = run(&stream, 1000);
        assert!(released.is_empty());
        assert_eq!(refusal.expect("refused").status, 431);
    }

    #[test]
    fn http2_prior_knowledge_passes_untouched() {
        let stream = [H2_PREFACE, b"\x00\x00\x00\x04\x00\x00\x00\x00\x00garbage"].concat();
        for piece in [1, 5, stream.len()] {
            assert_eq!(run(&stream, piece), (stream.clone(), None));
        }
    }

    proptest::proptest! {
        /// Untrusted bytes: never a panic, the released bytes are a prefix of the input, and
        /// how the bytes arrive does not change the outcome.
        #[test]
        fn any_stream_any_split_same_outcome(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n".to_vec()),
                    proptest::strategy::Just(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()),
                    proptest::strategy::Just(b"GET / HTTP/1.1\r\n\r\n".to_vec()),
                    proptest::strategy::Just(b"3\r\nabc\r\n0\r\n\r\n".to_vec()),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..12),
                ],
                0..12,
            ),
            piece in 1usize..40,
        ) {
            let stream = parts.concat();
            let whole = run(&stream, stream.len().max(1));
            let split = run(&stream, piece);
            proptest::prop_assert!(stream.starts_with(&whole.0));
            proptest::prop_assert_eq!(whole, split);
        }
    }

    #[test]
    fn refusal_is_a_plain_text_response_that_closes() {
        let text = String::from_utf8(
            Refusal {
                status: 400,
                reason: "why",
            }
            .response(),
        )
        .expect("utf-8");
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text.contains("content-type: text/plain"));
        assert!(text.contains("connection: close"));
        assert!(text.ends_with("\r\n\r\nwhy\n"));
    }
}
