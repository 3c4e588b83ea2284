//! Decoding any bytes as every KV Connect message, then converting what decoded: shared by
//! the property test `decode_random_bytes.rs` and the fuzz target `fuzz/fuzz_targets/
//! proto_requests.rs` (which includes this file), so both exercise the same paths.

use cairn_model::Limits;
use cairn_proto::messages as pb;
use cairn_proto::{
    atomic_write_from_proto_validated, decode, decode_watch_frame, kv_entry_from_proto,
    snapshot_read_from_proto, watch_from_proto,
};

/// Decodes `bytes` as every request and response message and converts what decodes.
pub fn decode_everything(bytes: &[u8]) {
    let limits = Limits::default();
    if let Ok(read) = decode::<pb::SnapshotRead>(bytes) {
        let _ = snapshot_read_from_proto(read, &limits);
    }
    if let Ok(write) = decode::<pb::AtomicWrite>(bytes) {
        let _ = atomic_write_from_proto_validated(write, &limits, 1_700_000_000_000);
    }
    if let Ok(watch) = decode::<pb::Watch>(bytes) {
        let _ = watch_from_proto(watch, &limits);
    }
    if let Ok(output) = decode::<pb::SnapshotReadOutput>(bytes) {
        for entry in output.ranges.into_iter().flat_map(|r| r.values) {
            let _ = kv_entry_from_proto(entry);
        }
    }
    let _ = decode::<pb::AtomicWriteOutput>(bytes);
    if let Ok(output) = decode::<pb::WatchOutput>(bytes) {
        for entry in output.keys.into_iter().filter_map(|k| k.entry_if_changed) {
            let _ = kv_entry_from_proto(entry);
        }
    }
    let _ = decode_watch_frame(bytes, 64 * 1024);
    // cairn's scan and index extensions.
    use cairn_proto::scan as s;
    let _ = decode::<s::ScanKeys>(bytes);
    let _ = decode::<s::ScanKeysOutput>(bytes);
    let _ = decode::<s::ScanCount>(bytes);
    let _ = decode::<s::ScanCountOutput>(bytes);
    let _ = decode::<s::ScanAggregate>(bytes);
    if let Ok(output) = decode::<s::ScanAggregateOutput>(bytes) {
        let _ = s::aggregate_from_proto(&output);
    }
    if let Ok(spec) = decode::<s::IndexSpecMessage>(bytes) {
        let _ = s::index_spec_from_proto(&spec);
    }
    if let Ok(list) = decode::<s::IndexListOutput>(bytes) {
        for info in &list.indexes {
            let _ = s::index_info_from_proto(info);
        }
    }
}
