//! Pins the field numbers and enum values of cairn's scan and index extensions
//! (`src/scan.rs`) to bytes computed by hand, as `wire_queue_known_bytes.rs` does for the queue
//! extension: a typo in a `tag = "..."` would make cairn-client and the server disagree with
//! any other implementation of `docs/protocol.md` without a test of the two together noticing.

use cairn_proto::messages as pb;
use cairn_proto::scan as s;
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
fn keys_request_and_output() {
    let request = s::ScanKeys {
        range: Some(pb::ReadRange {
            start: vec![0x02, b'a'],
            end: vec![0x02, b'b'],
            limit: 5,
            reverse: true,
        }),
    };
    #[rustfmt::skip]
    let bytes = [
        0x0a, 0x0c, // range (1), 12 bytes
        0x0a, 0x02, 0x02, b'a', // start (1)
        0x12, 0x02, 0x02, b'b', // end (2)
        0x18, 0x05, // limit (3) = 5
        0x20, 0x01, // reverse (4) = true
    ];
    assert_wire(&request, &bytes);
    let output = s::ScanKeysOutput {
        keys: vec![s::ScanKey {
            key: vec![0x02, b'a', 0x00],
            versionstamp: vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 2],
        }],
    };
    #[rustfmt::skip]
    let bytes = [
        0x0a, 0x11, // keys (1), 17 bytes
        0x0a, 0x03, 0x02, b'a', 0x00, // key (1)
        0x12, 0x0a, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, // versionstamp (2)
    ];
    assert_wire(&output, &bytes);
}

#[test]
fn count_request_and_output() {
    let request = s::ScanCount {
        start: vec![0x02],
        end: vec![0x03],
    };
    assert_wire(&request, &[0x0a, 0x01, 0x02, 0x12, 0x01, 0x03]);
    let output = s::ScanCountOutput {
        count: 300,
        resume_start: vec![0x02, 0x00],
    };
    // count (1) = 300; resume_start (2)
    assert_wire(&output, &[0x08, 0xac, 0x02, 0x12, 0x02, 0x02, 0x00]);
}

#[test]
fn aggregate_request_and_output() {
    let request = s::ScanAggregate {
        start: vec![0x02],
        end: vec![0x03],
        field: "n".into(),
    };
    assert_wire(
        &request,
        &[0x0a, 0x01, 0x02, 0x12, 0x01, 0x03, 0x1a, 0x01, b'n'],
    );
    let int = |text: &str| s::ScanNumber {
        kind: Some(s::scan_number::Kind::Integer(text.into())),
    };
    let output = s::ScanAggregateOutput {
        count: 2,
        skipped: 1,
        sum: Some(int("-5")),
        min: Some(s::ScanNumber {
            kind: Some(s::scan_number::Kind::Float(1.5)),
        }),
        max: Some(int("7")),
        resume_start: Vec::new(),
    };
    #[rustfmt::skip]
    let bytes = [
        0x08, 0x02, // count (1)
        0x10, 0x01, // skipped (2)
        0x1a, 0x04, 0x0a, 0x02, b'-', b'5', // sum (3) { integer (1) }
        0x22, 0x09, 0x11, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // min (4) { float (2) = 1.5 }
        0x2a, 0x03, 0x0a, 0x01, b'7', // max (5) { integer (1) }
    ];
    assert_wire(&output, &bytes);
}

#[test]
fn index_messages() {
    let spec = s::IndexSpecMessage {
        name: "i".into(),
        prefix: vec![0x02, b'u', 0x00],
        fields: vec!["e".into(), "f".into()],
        unique: true,
    };
    #[rustfmt::skip]
    let spec_bytes = [
        0x0a, 0x01, b'i', // name (1)
        0x12, 0x03, 0x02, b'u', 0x00, // prefix (2)
        0x1a, 0x01, b'e', 0x1a, 0x01, b'f', // fields (3), repeated
        0x20, 0x01, // unique (4)
    ];
    assert_wire(&spec, &spec_bytes);
    let info = s::IndexInfoMessage {
        spec: Some(spec),
        state: s::IndexStateCode::IsFailed.into(),
        scanned: 9,
        failure_reason: "d".into(),
        entries: 1,
        undecodable: 2,
        oversized: 3,
    };
    let mut bytes = vec![0x0a, spec_bytes.len() as u8];
    bytes.extend_from_slice(&spec_bytes);
    #[rustfmt::skip]
    bytes.extend_from_slice(&[
        0x10, 0x03, // state (2) = IS_FAILED
        0x18, 0x09, // scanned (3)
        0x22, 0x01, b'd', // failure_reason (4)
        0x28, 0x01, 0x30, 0x02, 0x38, 0x03, // entries (5), undecodable (6), oversized (7)
    ]);
    assert_wire(&info, &bytes);
    assert_eq!(s::IndexStateCode::IsBuilding as i32, 1);
    assert_eq!(s::IndexStateCode::IsReady as i32, 2);
    assert_eq!(s::IndexStateCode::IsDropping as i32, 4);
    assert_wire(&s::IndexDrop { name: "i".into() }, &[0x0a, 0x01, b'i']);
    assert_wire(&s::IndexDropOutput { dropped: true }, &[0x08, 0x01]);
    assert_wire(&s::IndexList {}, &[]);
    let list = s::IndexListOutput {
        indexes: vec![s::IndexInfoMessage::default()],
    };
    assert_wire(&list, &[0x0a, 0x00]);
}
