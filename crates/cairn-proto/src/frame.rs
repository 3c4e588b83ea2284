//! Framing of the watch stream (kv-connect.md §2): each frame is a little-endian u32 length
//! followed by that many bytes of one `WatchOutput`; a frame of length 0 is a keep-alive that
//! keeps proxies from closing an idle stream.
//!
//! A `WatchOutput` with every field at its default also encodes to zero bytes, so it is
//! indistinguishable from a keep-alive; outputs built by [`crate::watch_output`] always carry
//! a status and never are.

use prost::Message;

use crate::error::ProtoError;
use crate::messages as pb;

/// Bytes of the length prefix of every frame.
pub const WATCH_FRAME_HEADER_BYTES: usize = 4;

/// The keep-alive frame: a length of 0 and nothing else.
pub const WATCH_KEEPALIVE_FRAME: [u8; WATCH_FRAME_HEADER_BYTES] = [0; WATCH_FRAME_HEADER_BYTES];

/// One frame of a watch stream, as read by a client.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchFrame {
    /// A keep-alive (length 0).
    KeepAlive,
    /// A `WatchOutput`.
    Output(pb::WatchOutput),
}

/// The frame carrying `output`: its length as u32 little-endian, then its protobuf bytes.
///
/// # Panics
///
/// If `output` encodes to 4 GiB or more, which a server cannot build: it holds at most
/// `watch_keys_max` entries, each bounded by the key and value limits.
pub fn encode_watch_frame(output: &pb::WatchOutput) -> Vec<u8> {
    let body = output.encode_to_vec();
    let len = u32::try_from(body.len()).expect("a WatchOutput is far below 4 GiB");
    let mut frame = Vec::with_capacity(WATCH_FRAME_HEADER_BYTES + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// The first frame of `buf` and the number of bytes it takes, or `None` when `buf` does not
/// yet hold a whole frame (read more and call again). A frame announcing more than
/// `frame_bytes_max` bytes is an error at once, before its body arrives, so a reader never
/// buffers more than that.
pub fn decode_watch_frame(
    buf: &[u8],
    frame_bytes_max: usize,
) -> Result<Option<(WatchFrame, usize)>, ProtoError> {
    let Some((header, rest)) = buf.split_first_chunk::<WATCH_FRAME_HEADER_BYTES>() else {
        return Ok(None);
    };
    let len = usize::try_from(u32::from_le_bytes(*header)).unwrap_or(usize::MAX);
    if len > frame_bytes_max {
        return Err(ProtoError::WatchFrameTooLarge {
            len,
            max: frame_bytes_max,
        });
    }
    let Some(body) = rest.get(..len) else {
        return Ok(None);
    };
    let consumed = WATCH_FRAME_HEADER_BYTES + len;
    if body.is_empty() {
        return Ok(Some((WatchFrame::KeepAlive, consumed)));
    }
    let output = pb::WatchOutput::decode(body)?;
    Ok(Some((WatchFrame::Output(output), consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{watch_output, WatchKeyChange};

    #[test]
    fn frame_is_length_then_body() {
        let output = watch_output(vec![WatchKeyChange::Changed(None)]);
        let body = output.encode_to_vec();
        let frame = encode_watch_frame(&output);
        let len = u32::try_from(body.len()).expect("small");
        assert_eq!(frame, [len.to_le_bytes().as_slice(), &body].concat());
        // status = SR_SUCCESS (field 1), one key { changed = true }.
        assert_eq!(frame, [6, 0, 0, 0, 0x08, 0x01, 0x12, 0x02, 0x08, 0x01]);
    }

    #[test]
    fn frames_decode_one_at_a_time() {
        let output = watch_output(vec![WatchKeyChange::Unchanged]);
        let mut stream = encode_watch_frame(&output);
        stream.extend_from_slice(&WATCH_KEEPALIVE_FRAME);
        stream.extend_from_slice(&encode_watch_frame(&output));

        let (first, used) = decode_watch_frame(&stream, 1024)
            .expect("valid")
            .expect("whole frame");
        assert_eq!(first, WatchFrame::Output(output.clone()));
        let rest = stream.get(used..).expect("in bounds");
        let (second, used2) = decode_watch_frame(rest, 1024)
            .expect("valid")
            .expect("whole frame");
        assert_eq!((second, used2), (WatchFrame::KeepAlive, 4));
        let rest = rest.get(used2..).expect("in bounds");
        let (third, used3) = decode_watch_frame(rest, 1024)
            .expect("valid")
            .expect("whole frame");
        assert_eq!(third, WatchFrame::Output(output));
        assert_eq!(used3, rest.len());
    }

    #[test]
    fn partial_frames_ask_for_more() {
        let frame = encode_watch_frame(&watch_output(vec![WatchKeyChange::Unchanged]));
        for cut in 0..frame.len() {
            let part = frame.get(..cut).expect("in bounds");
            assert_eq!(decode_watch_frame(part, 1024), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_frame_is_refused_from_its_header() {
        let header = 5000u32.to_le_bytes();
        assert_eq!(
            decode_watch_frame(&header, 4096),
            Err(ProtoError::WatchFrameTooLarge {
                len: 5000,
                max: 4096
            })
        );
    }

    #[test]
    fn garbage_body_is_a_decode_error() {
        let frame = [2, 0, 0, 0, 0xff, 0xff];
        assert!(matches!(
            decode_watch_frame(&frame, 1024),
            Err(ProtoError::Decode(_))
        ));
    }
}
