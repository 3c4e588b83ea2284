//! What a client builds, a server reads back unchanged: model values go through
//! `*_to_proto`, protobuf encoding, decoding and `*_from_proto`, and come out equal.

use cairn_model::{
    AtomicWrite, Check, Enqueue, KvValue, Limits, Mutation, MutationKind, ReadRange, Versionstamp,
};
use cairn_proto::messages as pb;
use cairn_proto::{
    atomic_write_from_proto, atomic_write_to_proto, decode, kv_entry_from_proto,
    snapshot_read_from_proto, snapshot_read_output, snapshot_read_to_proto, watch_from_proto,
    watch_to_proto, EntryParts, Message,
};
use proptest::prelude::*;

const NOW_MS: u64 = 1_700_000_000_000;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn value() -> impl Strategy<Value = KvValue> {
    prop_oneof![
        bytes(32).prop_map(KvValue::V8),
        bytes(32).prop_map(KvValue::Bytes),
        any::<u64>().prop_map(KvValue::U64),
    ]
}

/// A sum bound as the wire can carry it: absent, or non-empty V8 bytes.
fn bound() -> impl Strategy<Value = Option<KvValue>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 1..16).prop_map(KvValue::V8))
}

fn kind() -> impl Strategy<Value = MutationKind> {
    prop_oneof![
        value().prop_map(MutationKind::Set),
        Just(MutationKind::Delete),
        (value(), bound(), bound(), any::<bool>()).prop_map(|(value, min, max, clamp)| {
            MutationKind::Sum {
                value,
                min,
                max,
                clamp,
            }
        }),
        value().prop_map(MutationKind::Min),
        value().prop_map(MutationKind::Max),
        value().prop_map(MutationKind::SetSuffixVersionstampedKey),
    ]
}

fn versionstamp() -> impl Strategy<Value = Versionstamp> {
    any::<[u8; 10]>().prop_map(Versionstamp)
}

fn write() -> impl Strategy<Value = AtomicWrite> {
    let check = (bytes(16), proptest::option::of(versionstamp()))
        .prop_map(|(key, versionstamp)| Check { key, versionstamp });
    let mutation = (bytes(16), kind(), proptest::option::of(1..=i64::MAX as u64)).prop_map(
        |(key, kind, expire_at_ms)| Mutation {
            key,
            kind,
            expire_at_ms,
        },
    );
    let enqueue = (
        bytes(32),
        NOW_MS..=i64::MAX as u64,
        proptest::collection::vec(bytes(16), 0..3),
        proptest::option::of(proptest::collection::vec(any::<u32>(), 1..5)),
    )
        .prop_map(
            |(payload, deadline_ms, keys_if_undelivered, backoff_schedule)| Enqueue {
                payload,
                deadline_ms,
                keys_if_undelivered,
                backoff_schedule,
            },
        );
    (
        proptest::collection::vec(check, 0..4),
        proptest::collection::vec(mutation, 0..6),
        proptest::collection::vec(enqueue, 0..3),
    )
        .prop_map(|(checks, mutations, enqueues)| AtomicWrite {
            checks,
            mutations,
            enqueues,
        })
}

fn entry() -> impl Strategy<Value = EntryParts> {
    (bytes(16), value(), versionstamp())
}

proptest! {
    #[test]
    fn atomic_write_round_trips(write in write()) {
        let body = atomic_write_to_proto(write.clone()).encode_to_vec();
        let request: pb::AtomicWrite = decode(&body).expect("our own encoding decodes");
        prop_assert_eq!(atomic_write_from_proto(request, NOW_MS), Ok(write));
    }

    #[test]
    fn snapshot_read_round_trips(
        ranges in proptest::collection::vec((bytes(16), bytes(16), 1usize..=100, any::<bool>()), 0..=10)
    ) {
        let ranges: Vec<ReadRange> = ranges
            .into_iter()
            .map(|(start, end, limit, reverse)| ReadRange { start, end, limit, reverse })
            .collect();
        let body = snapshot_read_to_proto(ranges.clone()).encode_to_vec();
        let request: pb::SnapshotRead = decode(&body).expect("our own encoding decodes");
        prop_assert_eq!(snapshot_read_from_proto(request, &Limits::default()), Ok(ranges));
    }

    #[test]
    fn entries_round_trip(ranges in proptest::collection::vec(proptest::collection::vec(entry(), 0..4), 0..4)) {
        let body = snapshot_read_output(ranges.clone()).encode_to_vec();
        let output: pb::SnapshotReadOutput = decode(&body).expect("our own encoding decodes");
        let back: Vec<Vec<EntryParts>> = output
            .ranges
            .into_iter()
            .map(|range| {
                range
                    .values
                    .into_iter()
                    .map(|entry| kv_entry_from_proto(entry).expect("our own entry converts"))
                    .collect()
            })
            .collect();
        prop_assert_eq!(back, ranges);
    }

    #[test]
    fn watch_round_trips(keys in proptest::collection::vec(bytes(16), 0..=10)) {
        let body = watch_to_proto(keys.clone()).encode_to_vec();
        let request: pb::Watch = decode(&body).expect("our own encoding decodes");
        prop_assert_eq!(watch_from_proto(request, &Limits::default()), Ok(keys));
    }
}
