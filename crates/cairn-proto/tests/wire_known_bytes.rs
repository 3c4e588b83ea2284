//! Pins every field number and enum value of `messages.rs` to bytes computed by hand from the
//! protobuf encoding rules (tag = field number << 3 | wire type; 0 = varint, 2 = length-
//! delimited; proto3 omits default values and packs repeated numbers), so that a typo in a
//! `tag = "..."` cannot pass unnoticed: the clients would silently drop or misread the field.
//!
//! Each vector is checked in both directions: encoding the message gives the bytes, and
//! decoding the bytes gives the message.

use cairn_model::{KvValue, Versionstamp};
use cairn_proto::messages as pb;
use cairn_proto::{
    atomic_write_output_check_failed, atomic_write_output_committed,
    atomic_write_output_write_disabled, snapshot_read_output, watch_output, Message,
    WatchKeyChange,
};

const KEY_A: [u8; 3] = [0x02, b'a', 0x00];

fn assert_wire<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M, bytes: &[u8]) {
    assert_eq!(message.encode_to_vec(), bytes, "encoding of {message:?}");
    assert_eq!(
        &M::decode(bytes).expect("the vector decodes"),
        message,
        "decoding of {bytes:02x?}"
    );
}

#[test]
fn atomic_write_with_one_set() {
    let write = pb::AtomicWrite {
        mutations: vec![pb::Mutation {
            key: KEY_A.to_vec(),
            value: Some(pb::KvValue {
                data: vec![1, 2, 3],
                encoding: pb::ValueEncoding::VeBytes.into(),
            }),
            mutation_type: pb::MutationType::MSet.into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    #[rustfmt::skip]
    let bytes = [
        0x12, 0x10, // AtomicWrite.mutations (2, len), 16 bytes
        0x0a, 0x03, 0x02, 0x61, 0x00, // Mutation.key (1)
        0x12, 0x07, // Mutation.value (2), 7 bytes
        0x0a, 0x03, 0x01, 0x02, 0x03, // KvValue.data (1)
        0x10, 0x03, // KvValue.encoding (2) = VE_BYTES
        0x18, 0x01, // Mutation.mutation_type (3) = M_SET
    ];
    assert_wire(&write, &bytes);
}

#[test]
fn mutation_with_every_field() {
    let mutation = pb::Mutation {
        key: KEY_A.to_vec(),
        value: Some(pb::KvValue {
            data: vec![0xff, 0x0f, 0x5a, 0x02],
            encoding: pb::ValueEncoding::VeV8.into(),
        }),
        mutation_type: pb::MutationType::MSum.into(),
        expire_at_ms: 1000,
        sum_min: vec![0xaa],
        sum_max: vec![0xbb],
        sum_clamp: true,
    };
    #[rustfmt::skip]
    let bytes = [
        0x0a, 0x03, 0x02, 0x61, 0x00, // key (1)
        0x12, 0x08, 0x0a, 0x04, 0xff, 0x0f, 0x5a, 0x02, 0x10, 0x01, // value (2), VE_V8
        0x18, 0x03, // mutation_type (3) = M_SUM
        0x20, 0xe8, 0x07, // expire_at_ms (4) = 1000
        0x2a, 0x01, 0xaa, // sum_min (5)
        0x32, 0x01, 0xbb, // sum_max (6)
        0x38, 0x01, // sum_clamp (7)
    ];
    assert_wire(&mutation, &bytes);
}

#[test]
fn mutation_type_numbers() {
    use pb::MutationType as T;
    for (t, n) in [
        (T::MUnspecified, 0),
        (T::MSet, 1),
        (T::MDelete, 2),
        (T::MSum, 3),
        (T::MMax, 4),
        (T::MMin, 5),
        (T::MSetSuffixVersionstampedKey, 9),
    ] {
        assert_eq!(t as i32, n);
        let mutation = pb::Mutation {
            mutation_type: t.into(),
            ..Default::default()
        };
        let expected: Vec<u8> = if n == 0 { vec![] } else { vec![0x18, n as u8] };
        assert_wire(&mutation, &expected);
    }
}

#[test]
fn negative_int64_is_ten_bytes() {
    let mutation = pb::Mutation {
        expire_at_ms: -1,
        ..Default::default()
    };
    let mut bytes = vec![0x20];
    bytes.extend([0xff; 9]);
    bytes.push(0x01);
    assert_wire(&mutation, &bytes);
}

#[test]
fn check_and_enqueue() {
    let write = pb::AtomicWrite {
        checks: vec![pb::Check {
            key: KEY_A.to_vec(),
            versionstamp: (0..10).collect(),
        }],
        mutations: vec![],
        enqueues: vec![pb::Enqueue {
            payload: vec![0xff],
            deadline_ms: 5,
            keys_if_undelivered: vec![vec![0x02, b'b', 0x00]],
            backoff_schedule: vec![100, 200],
        }],
    };
    #[rustfmt::skip]
    let bytes = [
        0x0a, 0x11, // AtomicWrite.checks (1), 17 bytes
        0x0a, 0x03, 0x02, 0x61, 0x00, // Check.key (1)
        0x12, 0x0a, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, // Check.versionstamp (2)
        0x1a, 0x0f, // AtomicWrite.enqueues (3), 15 bytes
        0x0a, 0x01, 0xff, // Enqueue.payload (1)
        0x10, 0x05, // Enqueue.deadline_ms (2)
        0x1a, 0x03, 0x02, 0x62, 0x00, // Enqueue.keys_if_undelivered (3)
        0x22, 0x03, 0x64, 0xc8, 0x01, // Enqueue.backoff_schedule (4), packed: 100, 200
    ];
    assert_wire(&write, &bytes);
}

#[test]
fn unpacked_backoff_schedule_is_accepted() {
    // A proto3 reader must accept a repeated number field unpacked too.
    let unpacked = [0x20, 0x64, 0x20, 0xc8, 0x01];
    let enqueue = pb::Enqueue::decode(unpacked.as_slice()).expect("unpacked decodes");
    assert_eq!(enqueue.backoff_schedule, [100, 200]);
}

#[test]
fn snapshot_read() {
    let read = pb::SnapshotRead {
        ranges: vec![pb::ReadRange {
            start: vec![0x01],
            end: vec![0x02],
            limit: 10,
            reverse: true,
        }],
    };
    #[rustfmt::skip]
    let bytes = [
        0x0a, 0x0a, // SnapshotRead.ranges (1), 10 bytes
        0x0a, 0x01, 0x01, // start (1)
        0x12, 0x01, 0x02, // end (2)
        0x18, 0x0a, // limit (3) = 10
        0x20, 0x01, // reverse (4)
    ];
    assert_wire(&read, &bytes);
}

#[test]
fn snapshot_read_output_fields_1_4_8() {
    let output = snapshot_read_output(vec![vec![(
        KEY_A.to_vec(),
        KvValue::U64(1),
        Versionstamp::new(1, 0),
    )]]);
    #[rustfmt::skip]
    let bytes = [
        0x0a, 0x1f, // SnapshotReadOutput.ranges (1), 31 bytes
        0x0a, 0x1d, // ReadRangeOutput.values (1), 29 bytes
        0x0a, 0x03, 0x02, 0x61, 0x00, // KvEntry.key (1)
        0x12, 0x08, 1, 0, 0, 0, 0, 0, 0, 0, // KvEntry.value (2), u64 1 little-endian
        0x18, 0x02, // KvEntry.encoding (3) = VE_LE64
        0x22, 0x0a, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, // KvEntry.versionstamp (4)
        0x20, 0x01, // read_is_strongly_consistent (4)
        0x40, 0x01, // status (8) = SR_SUCCESS
    ];
    assert_wire(&output, &bytes);

    let disabled = pb::SnapshotReadOutput {
        read_disabled: true,
        status: pb::SnapshotReadStatus::SrReadDisabled.into(),
        ..Default::default()
    };
    assert_wire(&disabled, &[0x10, 0x01, 0x40, 0x02]);
}

#[test]
fn atomic_write_outputs() {
    #[rustfmt::skip]
    let committed = [
        0x08, 0x01, // status (1) = AW_SUCCESS
        0x12, 0x0a, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, // versionstamp (2)
    ];
    assert_wire(
        &atomic_write_output_committed(Versionstamp::new(1, 2)),
        &committed,
    );
    // status (1) = AW_CHECK_FAILURE; failed_checks (4), packed: 0, 2
    assert_wire(
        &atomic_write_output_check_failed(vec![0, 2], None),
        &[0x08, 0x02, 0x22, 0x02, 0x00, 0x02],
    );
    // cairn's extension: failure_reason (1000, key 8002 = c2 3e) = "u"
    assert_wire(
        &atomic_write_output_check_failed(Vec::new(), Some("u".into())),
        &[0x08, 0x02, 0xc2, 0x3e, 0x01, b'u'],
    );
    // status (1) = AW_WRITE_DISABLED
    assert_wire(&atomic_write_output_write_disabled(), &[0x08, 0x05]);
}

#[test]
fn watch_and_watch_output() {
    let watch = pb::Watch {
        keys: vec![pb::WatchKey {
            key: KEY_A.to_vec(),
        }],
    };
    // Watch.keys (1) { WatchKey.key (1) }
    assert_wire(&watch, &[0x0a, 0x05, 0x0a, 0x03, 0x02, 0x61, 0x00]);

    let output = watch_output(vec![
        WatchKeyChange::Changed(Some((
            KEY_A.to_vec(),
            KvValue::Bytes(vec![7]),
            Versionstamp::new(2, 0),
        ))),
        WatchKeyChange::Unchanged,
    ]);
    #[rustfmt::skip]
    let bytes = [
        0x08, 0x01, // WatchOutput.status (1) = SR_SUCCESS
        0x12, 0x1a, // WatchOutput.keys (2), 26 bytes
        0x08, 0x01, // WatchKeyOutput.changed (1)
        0x12, 0x16, // WatchKeyOutput.entry_if_changed (2), 22 bytes
        0x0a, 0x03, 0x02, 0x61, 0x00, // KvEntry.key
        0x12, 0x01, 0x07, // KvEntry.value
        0x18, 0x03, // KvEntry.encoding = VE_BYTES
        0x22, 0x0a, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, // KvEntry.versionstamp
        0x12, 0x00, // WatchOutput.keys (2): an unchanged key, every field default
    ];
    assert_wire(&output, &bytes);
}

#[test]
fn unknown_fields_are_skipped() {
    // Field 15 (varint) is not in ReadRange: a reader skips it.
    let bytes = [0x78, 0x01, 0x18, 0x05];
    let range = pb::ReadRange::decode(bytes.as_slice()).expect("unknown fields are skipped");
    assert_eq!(range.limit, 5);
}
