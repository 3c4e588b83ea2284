//! The scan and index extensions (`docs/protocol.md` §10, §11) over raw HTTP/1.1 on a real
//! socket: every refusal is a 4xx with a reason (malformed bodies, limits, bad fields and
//! definitions 400, unknown operations 404, index management with a read-only token 403),
//! never a 5xx that clients would retry; counts, aggregates and keys-only reads answer from
//! a given start; a unique conflict's reason travels in `AtomicWriteOutput`.

mod protobuf_http;

use cairn_model::{encode_key, key};
use cairn_proto::messages as pb;
use cairn_proto::scan as s;
use cairn_proto::Message;
use protobuf_http::{post, session, start};

fn set_body(key: &cairn_model::Key, json: &str) -> Vec<u8> {
    pb::AtomicWrite {
        mutations: vec![pb::Mutation {
            key: encode_key(key),
            value: Some(pb::KvValue {
                data: json.as_bytes().to_vec(),
                encoding: pb::ValueEncoding::VeBytes.into(),
            }),
            mutation_type: pb::MutationType::MSet.into(),
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

fn prefix_range(prefix: &cairn_model::Key) -> (Vec<u8>, Vec<u8>) {
    let mut start = encode_key(prefix);
    let mut end = start.clone();
    start.push(0);
    end.push(0xff);
    (start, end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_client_errors() {
    let (addr, stop, done, _dir) = start().await;
    let (endpoint, rw) = session(addr, "rw").await;
    let (_, ro) = session(addr, "ro").await;
    let at = |op: &str| format!("{endpoint}/{op}");

    let spec = s::IndexSpecMessage {
        name: "by_e".into(),
        prefix: encode_key(&key!["u"]),
        fields: vec!["e".into()],
        unique: true,
    };
    let (status, body) = post(addr, &at("index/create"), &ro, &spec.encode_to_vec()).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let (status, body) = post(addr, &at("index/create"), &rw, &spec.encode_to_vec()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let info = s::IndexInfoMessage::decode(body.as_slice()).expect("info");
    assert_eq!(info.spec, Some(spec.clone()));

    let bad_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("index/create", vec![0x0a, 0x05], "invalid protobuf body"),
        (
            "index/create",
            s::IndexSpecMessage {
                name: "a b".into(),
                ..spec.clone()
            }
            .encode_to_vec(),
            "index name",
        ),
        (
            "index/create",
            s::IndexSpecMessage {
                prefix: vec![0x99],
                ..spec.clone()
            }
            .encode_to_vec(),
            "index prefix",
        ),
        (
            "index/create",
            s::IndexSpecMessage {
                fields: vec!["f".into()],
                ..spec.clone()
            }
            .encode_to_vec(),
            "another definition",
        ),
        (
            "scan/keys",
            s::ScanKeys { range: None }.encode_to_vec(),
            "needs a range",
        ),
        (
            "scan/keys",
            s::ScanKeys {
                range: Some(pb::ReadRange {
                    start: vec![],
                    end: vec![0xff],
                    limit: 0,
                    reverse: false,
                }),
            }
            .encode_to_vec(),
            "limit must be positive",
        ),
        (
            "scan/keys",
            s::ScanKeys {
                range: Some(pb::ReadRange {
                    start: vec![],
                    end: vec![0xff],
                    limit: 5000,
                    reverse: false,
                }),
            }
            .encode_to_vec(),
            "too many entries",
        ),
        (
            "scan/aggregate",
            s::ScanAggregate {
                start: vec![],
                end: vec![0xff],
                field: "a..b".into(),
            }
            .encode_to_vec(),
            "field",
        ),
        (
            "scan/count",
            s::ScanCount {
                start: vec![0x02; 5000],
                end: vec![0xff],
            }
            .encode_to_vec(),
            "exceeds the limit",
        ),
    ];
    for (op, body, reason) in bad_cases {
        let (status, answer) = post(addr, &at(op), &rw, &body).await;
        let text = String::from_utf8_lossy(&answer);
        assert_eq!(status, 400, "{op}: {text}");
        assert!(text.contains(reason), "{op}: {text} lacks {reason:?}");
    }
    let (status, _) = post(addr, &at("scan/sum"), &rw, &[]).await;
    assert_eq!(status, 404);
    let (status, _) = post(addr, &at("index/rename"), &rw, &[]).await;
    assert_eq!(status, 404);
    let drop = s::IndexDrop {
        name: "by_e".into(),
    }
    .encode_to_vec();
    let (status, _) = post(addr, &at("index/drop"), &ro, &drop).await;
    assert_eq!(status, 403);
    let (status, body) = post(addr, &at("index/list"), &ro, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        s::IndexListOutput::decode(body.as_slice())
            .expect("list")
            .indexes
            .len(),
        1
    );

    // Writing into the index's keyspace: 400 with the reason.
    let (status, body) = post(
        addr,
        &at("atomic_write"),
        &rw,
        &set_body(&key!["by_e", "x"], "1"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("only the database writes"));
    // A unique conflict is a failed check, with cairn's reason in field 1000.
    for (i, expect_ok) in [(1i64, true), (2i64, false)] {
        let body = set_body(&key!["u", i], r#"{"e": "same"}"#);
        let (status, answer) = post(addr, &at("atomic_write"), &rw, &body).await;
        assert_eq!(status, 200);
        let output = pb::AtomicWriteOutput::decode(answer.as_slice()).expect("output");
        if expect_ok {
            assert_eq!(output.status, pb::AtomicWriteStatus::AwSuccess as i32);
        } else {
            assert_eq!(output.status, pb::AtomicWriteStatus::AwCheckFailure as i32);
            assert!(output.failed_checks.is_empty());
            assert!(
                output.failure_reason.contains("unique index \"by_e\""),
                "{output:?}"
            );
        }
    }
    let _ = stop.send(());
    done.await.expect("server task").expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_aggregates_and_keys_over_the_wire() {
    let (addr, stop, done, _dir) = start().await;
    let (endpoint, rw) = session(addr, "rw").await;
    let at = |op: &str| format!("{endpoint}/{op}");
    // Enough entries that keys-only reads page, counted in one request (below the server's
    // per-request bound): pages are exercised through cairn-client's suite and the store.
    for chunk in 0..3i64 {
        let mutations = (chunk * 500..(chunk + 1) * 500)
            .map(|i| pb::Mutation {
                key: encode_key(&key!["n", i]),
                value: Some(pb::KvValue {
                    data: i.to_string().into_bytes(),
                    encoding: pb::ValueEncoding::VeBytes.into(),
                }),
                mutation_type: pb::MutationType::MSet.into(),
                ..Default::default()
            })
            .collect();
        let body = pb::AtomicWrite {
            mutations,
            ..Default::default()
        }
        .encode_to_vec();
        let (status, _) = post(addr, &at("atomic_write"), &rw, &body).await;
        assert_eq!(status, 200);
    }
    let (start, end) = prefix_range(&key!["n"]);
    let body = s::ScanCount {
        start: start.clone(),
        end: end.clone(),
    }
    .encode_to_vec();
    let (status, answer) = post(addr, &at("scan/count"), &rw, &body).await;
    assert_eq!(status, 200);
    let page = s::ScanCountOutput::decode(answer.as_slice()).expect("count");
    assert_eq!((page.count, page.resume_start.is_empty()), (1500, true));
    // Resuming from the middle counts the rest.
    let body = s::ScanCount {
        start: encode_key(&key!["n", 1000i64]),
        end: end.clone(),
    }
    .encode_to_vec();
    let (_, answer) = post(addr, &at("scan/count"), &rw, &body).await;
    assert_eq!(
        s::ScanCountOutput::decode(answer.as_slice())
            .expect("count")
            .count,
        500
    );
    let body = s::ScanAggregate {
        start,
        end,
        field: String::new(),
    }
    .encode_to_vec();
    let (status, answer) = post(addr, &at("scan/aggregate"), &rw, &body).await;
    assert_eq!(status, 200);
    let output = s::ScanAggregateOutput::decode(answer.as_slice()).expect("aggregate");
    let (aggregate, resume) = s::aggregate_from_proto(&output).expect("valid");
    assert_eq!(resume, None);
    assert_eq!(aggregate.count, 1500);
    assert_eq!(aggregate.sum, cairn_model::Number::Int((0..1500).sum()));
    let keys = s::ScanKeys {
        range: Some(pb::ReadRange {
            start: encode_key(&key!["n", 10i64]),
            end: encode_key(&key!["n", 13i64]),
            limit: 10,
            reverse: true,
        }),
    };
    let (status, answer) = post(addr, &at("scan/keys"), &rw, &keys.encode_to_vec()).await;
    assert_eq!(status, 200);
    let listed: Vec<Vec<u8>> = s::ScanKeysOutput::decode(answer.as_slice())
        .expect("keys")
        .keys
        .into_iter()
        .map(|k| {
            assert_eq!(k.versionstamp.len(), 10);
            k.key
        })
        .collect();
    assert_eq!(
        listed,
        [12i64, 11, 10].map(|i| encode_key(&key!["n", i])).to_vec()
    );
    let _ = stop.send(());
    done.await.expect("server task").expect("served");
}
