//! KV Connect's wire format, and its conversion to and from cairn's data model.
//!
//! - [`messages`]: the protobuf messages of package `com.deno.kv.datapath` (kv-connect.md §2),
//!   written by hand with `prost`'s derives, so building needs no `protoc`;
//! - [`convert`]: requests → model values after the limit checks of [`cairn_model::Limits`],
//!   model values → requests (client side), and the builders of every response;
//! - [`frame`]: the length-prefixed framing of the watch stream;
//! - [`metadata`]: the JSON bodies of the metadata exchange and its timestamps;
//! - [`queue`]: the messages of cairn's queue extension (dequeue, ack, nack, stats);
//! - [`scan`]: the messages of cairn's scan (keys-only, count, aggregate) and index
//!   (create, drop, list) extensions, and their conversions;
//! - [`ProtoError`]: why a request is refused, in words fit for a `400` body.
//!
//! The crate holds no state and does no I/O; it depends on `cairn-model`, `prost` and `serde` only,
//! never on the store or on HTTP. Decoding works on untrusted bytes: it returns errors, never
//! panics.
//!
//! ```
//! use cairn_proto::{atomic_write_from_proto, messages as pb, Message};
//!
//! let body = pb::AtomicWrite {
//!     mutations: vec![pb::Mutation {
//!         key: b"\x02a\x00".to_vec(),
//!         value: Some(pb::KvValue { data: vec![1], encoding: pb::ValueEncoding::VeBytes.into() }),
//!         mutation_type: pb::MutationType::MSet.into(),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! }
//! .encode_to_vec();
//! let request: pb::AtomicWrite = cairn_proto::decode(&body)?;
//! let write = atomic_write_from_proto(request, 0)?;
//! assert_eq!(write.mutations.len(), 1);
//! # Ok::<(), cairn_proto::ProtoError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

pub mod convert;
pub mod error;
pub mod frame;
pub mod limits;
pub mod messages;
pub mod metadata;
pub mod queue;
pub mod scan;

pub use convert::{
    atomic_write_from_proto, atomic_write_from_proto_validated, atomic_write_output_check_failed,
    atomic_write_output_committed, atomic_write_output_write_disabled, atomic_write_to_proto,
    encoding_from_proto, encoding_to_proto, kv_entry_from_proto, kv_entry_to_proto,
    kv_value_from_proto, kv_value_to_proto, snapshot_read_from_proto, snapshot_read_output,
    snapshot_read_output_read_disabled, snapshot_read_to_proto, value_from_proto, value_to_proto,
    watch_from_proto, watch_output, watch_output_read_disabled, watch_to_proto, EntryParts,
    WatchKeyChange,
};
pub use error::{ProtoError, ValueError};
pub use frame::{
    decode_watch_frame, encode_watch_frame, WatchFrame, WATCH_FRAME_HEADER_BYTES,
    WATCH_KEEPALIVE_FRAME,
};
/// The response header (value [`NOT_APPLIED_VALUE`]) of cairn's 5xx answers that promise the
/// request was refused before anything of it was applied, so that a client may send a write
/// again (`docs/protocol.md`, "Retrying writes"). A 5xx without it, e.g. a proxy's bare 503,
/// promises nothing.
pub const NOT_APPLIED_HEADER: &str = "cairn-not-applied";
/// The value of [`NOT_APPLIED_HEADER`].
pub const NOT_APPLIED_VALUE: &str = "1";
/// Re-exported so that users can encode and decode [`messages`] without depending on `prost`.
pub use prost::Message;

/// Decodes a request or response body as message `M`; a malformed body is
/// [`ProtoError::Decode`].
pub fn decode<M: Message + Default>(body: &[u8]) -> Result<M, ProtoError> {
    Ok(M::decode(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_body_is_a_decode_error_with_a_readable_message() {
        // Field 1 announced as 5 bytes long, with only 1 present.
        let err = decode::<messages::SnapshotRead>(&[0x0a, 0x05, 0x00]).expect_err("truncated");
        assert!(matches!(err, ProtoError::Decode(_)));
        assert!(
            err.to_string().starts_with("invalid protobuf body: "),
            "{err}"
        );
    }
}
