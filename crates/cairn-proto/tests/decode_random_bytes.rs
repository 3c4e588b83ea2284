//! Request bodies come from the network: decoding arbitrary bytes as any message, and then
//! converting whatever decoded, must return values or errors and never panic. Random bytes
//! rarely get past the first tag, so a second property corrupts valid bodies instead, which
//! reaches the conversions with nearly-valid messages.

#[path = "support/decode_everything.rs"]
mod decode_everything;

use cairn_proto::messages as pb;
use cairn_proto::Message;
use decode_everything::decode_everything;
use proptest::prelude::*;

fn valid_write() -> Vec<u8> {
    pb::AtomicWrite {
        checks: vec![pb::Check {
            key: vec![0x02, b'a', 0x00],
            versionstamp: vec![0; 10],
        }],
        mutations: vec![pb::Mutation {
            key: vec![0x02, b'a', 0x00],
            value: Some(pb::KvValue {
                data: vec![1, 0, 0, 0, 0, 0, 0, 0],
                encoding: pb::ValueEncoding::VeLe64.into(),
            }),
            mutation_type: pb::MutationType::MSum.into(),
            expire_at_ms: 5,
            sum_min: vec![0xff, 0x0f, 0x49, 0x00],
            sum_max: vec![],
            sum_clamp: true,
        }],
        enqueues: vec![pb::Enqueue {
            payload: vec![0xff, 0x0f, 0x5f],
            deadline_ms: 1,
            keys_if_undelivered: vec![vec![0x02, b'b', 0x00]],
            backoff_schedule: vec![1, 2],
        }],
    }
    .encode_to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn corrupted_bodies_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = valid_write();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            if let Some(slot) = bytes.get_mut(i) {
                *slot = byte;
            }
        }
        decode_everything(&bytes);
        bytes.truncate(cut.index(bytes.len() + 1));
        decode_everything(&bytes);
    }
}
