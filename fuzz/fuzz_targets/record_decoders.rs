//! The on-disk record decoders, fed bytes as a damaged disk might hold them: data records,
//! changelog records, queue messages, expiry and queue index keys, storage batches and whole
//! transaction-log segments; and the replication stream's frames, as a primary might send
//! them (checksummed and not), with the stream positions and epoch histories of `meta`.
//! Errors are fine; panics and huge allocations are not. What decodes must encode back to
//! bytes that decode the same.
#![no_main]

use cairn_store::queue::{split_queue_key, QueueMessage};
use cairn_store::replication::{EpochHistory, Frame, FrameReader, StreamPosition};
use cairn_store::record::{split_expiry_key, ChangelogRecord, DataRecord};
use cairn_store::storage::{decode_log_segment, WriteBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = DataRecord::decode(data) {
        assert_eq!(DataRecord::decode(&record.encode()).ok(), Some(record));
    }
    let _ = ChangelogRecord::decode(data);
    let _ = ChangelogRecord::committed_at_ms(data);
    if let Ok(message) = QueueMessage::decode(data) {
        assert!(QueueMessage::decode(&message.encode()).is_ok());
    }
    let _ = split_expiry_key(data);
    let _ = split_queue_key(data);
    if let Ok(batch) = WriteBatch::decode(data) {
        assert_eq!(WriteBatch::decode(&batch.encode()).ok(), Some(batch));
    }
    // A segment needs its 4 KiB header: lay the input over a valid one too.
    let _ = decode_log_segment(data);
    let mut segment = b"CAIRNTLG\0\0\0\x01\0\0\0\0\0\0\0\x01".to_vec();
    let crc = crc32(&segment);
    segment.extend_from_slice(&crc.to_be_bytes());
    segment.resize(4096, 0);
    segment.extend_from_slice(data);
    let _ = decode_log_segment(&segment);
    replication(data);
});

/// Stream frames: raw (the checksum rejects nearly everything), and with a valid frame around
/// the input as a body of each stream kind, so that the body decoders see it.
fn replication(data: &[u8]) {
    let mut reader = FrameReader::default();
    reader.push(data);
    while let Ok(Some(_)) = reader.next_frame() {}
    for kind in [5u8, 6, 7] {
        let mut object = b"CAIRNARC\0\x01".to_vec();
        object.extend_from_slice(&[kind, 0]);
        object.extend_from_slice(data);
        let crc = crc32(&object);
        object.extend_from_slice(&crc.to_be_bytes());
        if let Ok(frame) = Frame::decode(&object) {
            let encoded = frame.encode();
            assert_eq!(encoded.get(4..), Some(object.as_slice()), "re-encodes the same");
        }
    }
    if let Ok(at) = StreamPosition::decode(data) {
        assert_eq!(StreamPosition::decode(&at.encode()).ok(), Some(at));
    }
    if let Ok(history) = EpochHistory::decode(data) {
        assert_eq!(EpochHistory::decode(&history.encode()).ok(), Some(history));
    }
}

/// CRC-32 (IEEE), as the segment header uses; bitwise, the input is small.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
