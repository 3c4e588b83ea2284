//! Conversions between KV Connect messages and cairn's model, with the limit checks a server
//! must make before anything reaches the store.
//!
//! `*_from_proto` functions read requests (server side) and return a [`crate::ProtoError`]
//! whose text is a fit 400 body; `*_to_proto` functions build requests (client side); the
//! output builders build responses from what the store answered.

pub mod read;
pub mod value;
pub mod watch;
pub mod write;

pub use read::{
    snapshot_read_from_proto, snapshot_read_output, snapshot_read_output_read_disabled,
    snapshot_read_to_proto,
};
pub use value::{
    encoding_from_proto, encoding_to_proto, kv_entry_from_proto, kv_entry_to_proto,
    kv_value_from_proto, kv_value_to_proto, value_from_proto, value_to_proto, EntryParts,
};
pub use watch::{
    watch_from_proto, watch_output, watch_output_read_disabled, watch_to_proto, WatchKeyChange,
};
pub use write::{
    atomic_write_from_proto, atomic_write_from_proto_validated, atomic_write_output_check_failed,
    atomic_write_output_committed, atomic_write_output_write_disabled, atomic_write_to_proto,
};
