//! Request and response bodies from the network: decoding any bytes as any KV Connect
//! message, then converting and validating what decoded, returns values or errors, never a
//! panic, and never allocates beyond what the input's size justifies.
#![no_main]

use cairn_model::Limits;
use cairn_proto::messages as pb;
use cairn_proto::{
    atomic_write_from_proto_validated, decode, decode_watch_frame, kv_entry_from_proto,
    snapshot_read_from_proto, watch_from_proto,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(read) = decode::<pb::SnapshotRead>(data) {
        let _ = snapshot_read_from_proto(read, &limits);
    }
    if let Ok(write) = decode::<pb::AtomicWrite>(data) {
        let _ = atomic_write_from_proto_validated(write, &limits, 1_700_000_000_000);
    }
    if let Ok(watch) = decode::<pb::Watch>(data) {
        let _ = watch_from_proto(watch, &limits);
    }
    if let Ok(output) = decode::<pb::SnapshotReadOutput>(data) {
        for entry in output.ranges.into_iter().flat_map(|r| r.values) {
            let _ = kv_entry_from_proto(entry);
        }
    }
    if let Ok(output) = decode::<pb::WatchOutput>(data) {
        for entry in output.keys.into_iter().filter_map(|k| k.entry_if_changed) {
            let _ = kv_entry_from_proto(entry);
        }
    }
    let _ = decode::<pb::AtomicWriteOutput>(data);
    let _ = decode_watch_frame(data, 64 * 1024);
});
