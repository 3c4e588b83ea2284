//! Pins the field numbers and enum values of cairn's queue extension (`src/queue.rs`) to bytes
//! computed by hand, like `wire_known_bytes.rs` does for KV Connect's messages: a typo in a
//! `tag = "..."` would make cairn-client and the server disagree with every other
//! implementation of `docs/protocol.md` without any test of the two together noticing.

use cairn_proto::queue as q;
use cairn_proto::Message;

fn assert_wire<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M, bytes: &[u8]) {
    assert_eq!(message.encode_to_vec(), bytes, "encoding of {message:?}");
    assert_eq!(
        &M::decode(bytes).expect("the vector decodes"),
        message,
        "decoding of {bytes:02x?}"
    );
}

#[test]
fn dequeue_request() {
    let request = q::QueueDequeue {
        max_messages: 3,
        visibility_timeout_ms: 300,
        wait_ms: 5,
    };
    #[rustfmt::skip]
    let bytes = [
        0x08, 0x03, // max_messages (1) = 3
        0x10, 0xac, 0x02, // visibility_timeout_ms (2) = 300
        0x18, 0x05, // wait_ms (3) = 5
    ];
    assert_wire(&request, &bytes);
}

#[test]
fn dequeue_output() {
    let output = q::QueueDequeueOutput {
        deliveries: vec![q::QueueDelivery {
            delivery_id: vec![0xaa, 0xbb],
            payload: vec![0xff, 0x0f],
            attempt: 2,
            lease_deadline_ms: 7,
        }],
    };
    #[rustfmt::skip]
    let bytes = [
        0x0a, 0x0c, // deliveries (1), 12 bytes
        0x0a, 0x02, 0xaa, 0xbb, // QueueDelivery.delivery_id (1)
        0x12, 0x02, 0xff, 0x0f, // QueueDelivery.payload (2)
        0x18, 0x02, // QueueDelivery.attempt (3)
        0x20, 0x07, // QueueDelivery.lease_deadline_ms (4)
    ];
    assert_wire(&output, &bytes);
}

#[test]
fn settle_request_and_output() {
    let request = q::QueueSettle {
        delivery_ids: vec![vec![1], vec![2, 3]],
    };
    // delivery_ids (1), repeated bytes: one field per id
    assert_wire(&request, &[0x0a, 0x01, 0x01, 0x0a, 0x02, 0x02, 0x03]);

    let output = q::QueueSettleOutput {
        outcomes: vec![
            q::QueueSettleOutcome {
                status: q::QueueSettleStatus::QsRetry.into(),
                retry_at_ms: 1,
                next_attempt: 2,
            },
            q::QueueSettleOutcome {
                status: q::QueueSettleStatus::QsNotHeld.into(),
                ..Default::default()
            },
        ],
    };
    #[rustfmt::skip]
    let bytes = [
        0x0a, 0x06, // outcomes (1), 6 bytes
        0x08, 0x02, // status (1) = QS_RETRY
        0x10, 0x01, // retry_at_ms (2)
        0x18, 0x02, // next_attempt (3)
        0x0a, 0x02, // outcomes (1), 2 bytes
        0x08, 0x04, // status (1) = QS_NOT_HELD
    ];
    assert_wire(&output, &bytes);
    let statuses = [
        (q::QueueSettleStatus::QsUnspecified, 0),
        (q::QueueSettleStatus::QsAcked, 1),
        (q::QueueSettleStatus::QsRetry, 2),
        (q::QueueSettleStatus::QsDeadLettered, 3),
        (q::QueueSettleStatus::QsNotHeld, 4),
    ];
    for (status, number) in statuses {
        assert_eq!(status as i32, number, "{status:?}");
    }
}

#[test]
fn stats_output() {
    let output = q::QueueStatsOutput {
        ready: 1,
        delayed: 2,
        in_flight: 3,
        dead_lettered: 4,
    };
    assert_wire(&output, &[0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x04]);
    assert_wire(&q::QueueStatsRequest {}, &[]);
}
