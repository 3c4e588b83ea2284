use super::*;
use crate::error::ValueError;
use cairn_model::LimitError;

const KEY: &[u8] = b"\x02a\x00";

fn bytes_value(data: &[u8]) -> Option<pb::KvValue> {
    Some(pb::KvValue {
        data: data.to_vec(),
        encoding: pb::ValueEncoding::VeBytes.into(),
    })
}

fn u64_value(n: u64) -> Option<pb::KvValue> {
    Some(pb::KvValue {
        data: n.to_le_bytes().to_vec(),
        encoding: pb::ValueEncoding::VeLe64.into(),
    })
}

fn mutation(mutation_type: pb::MutationType, value: Option<pb::KvValue>) -> pb::Mutation {
    pb::Mutation {
        key: KEY.to_vec(),
        value,
        mutation_type: mutation_type.into(),
        ..pb::Mutation::default()
    }
}

fn write_of(mutations: Vec<pb::Mutation>) -> pb::AtomicWrite {
    pb::AtomicWrite {
        mutations,
        ..pb::AtomicWrite::default()
    }
}

fn convert_one(m: pb::Mutation) -> Result<Mutation, ProtoError> {
    let write = atomic_write_from_proto(write_of(vec![m]), 0)?;
    Ok(write
        .mutations
        .into_iter()
        .next()
        .expect("one mutation in, one out"))
}

#[test]
fn every_mutation_type_converts() {
    use pb::MutationType as T;
    let cases = [
        (
            mutation(T::MSet, bytes_value(b"x")),
            MutationKind::Set(KvValue::Bytes(b"x".to_vec())),
        ),
        (mutation(T::MDelete, None), MutationKind::Delete),
        (
            mutation(T::MMin, u64_value(3)),
            MutationKind::Min(KvValue::U64(3)),
        ),
        (
            mutation(T::MMax, u64_value(4)),
            MutationKind::Max(KvValue::U64(4)),
        ),
        (
            mutation(T::MSum, u64_value(5)),
            MutationKind::Sum {
                value: KvValue::U64(5),
                min: None,
                max: None,
                clamp: false,
            },
        ),
        (
            mutation(T::MSetSuffixVersionstampedKey, bytes_value(b"y")),
            MutationKind::SetSuffixVersionstampedKey(KvValue::Bytes(b"y".to_vec())),
        ),
    ];
    for (proto, kind) in cases {
        let converted = convert_one(proto).expect("a valid mutation converts");
        assert_eq!(converted.key, KEY);
        assert_eq!(converted.kind, kind);
        assert_eq!(converted.expire_at_ms, None);
    }
}

#[test]
fn v8_sum_keeps_bounds_and_clamp() {
    let m = pb::Mutation {
        sum_min: vec![0xff, 0x0f, 0x49, 0x00],
        sum_max: vec![],
        sum_clamp: true,
        ..mutation(
            pb::MutationType::MSum,
            Some(pb::KvValue {
                data: vec![0xff, 0x0f, 0x49, 0x02],
                encoding: pb::ValueEncoding::VeV8.into(),
            }),
        )
    };
    let converted = convert_one(m).expect("a V8 sum converts");
    assert_eq!(
        converted.kind,
        MutationKind::Sum {
            value: KvValue::V8(vec![0xff, 0x0f, 0x49, 0x02]),
            min: Some(KvValue::V8(vec![0xff, 0x0f, 0x49, 0x00])),
            max: None,
            clamp: true,
        }
    );
}

#[test]
fn sum_fields_are_ignored_outside_sum() {
    let m = pb::Mutation {
        sum_min: vec![1],
        sum_clamp: true,
        ..mutation(pb::MutationType::MSet, bytes_value(b"x"))
    };
    let converted = convert_one(m).expect("sum fields on a set are ignored");
    assert_eq!(
        converted.kind,
        MutationKind::Set(KvValue::Bytes(b"x".to_vec()))
    );
}

#[test]
fn delete_ignores_its_value() {
    let garbage = Some(pb::KvValue {
        data: vec![1, 2, 3],
        encoding: 99,
    });
    let converted = convert_one(mutation(pb::MutationType::MDelete, garbage))
        .expect("delete ignores its value");
    assert_eq!(converted.kind, MutationKind::Delete);
}

#[test]
fn unspecified_and_unknown_types_are_refused() {
    let mut m = mutation(pb::MutationType::MSet, bytes_value(b"x"));
    m.mutation_type = 0;
    let err = atomic_write_from_proto(write_of(vec![m.clone()]), 0).expect_err("type 0");
    assert_eq!(err, ProtoError::UnspecifiedMutationType { index: 0 });
    assert_eq!(err.to_string(), "mutation 0: mutation type is unspecified");
    for value in [6, 8, 10, -1] {
        m.mutation_type = value;
        let err = atomic_write_from_proto(write_of(vec![m.clone()]), 0).expect_err("unknown");
        assert_eq!(err, ProtoError::UnknownMutationType { index: 0, value });
    }
}

#[test]
fn every_type_but_delete_requires_a_value() {
    use pb::MutationType as T;
    for (t, op) in [
        (T::MSet, "set"),
        (T::MSum, "sum"),
        (T::MMin, "min"),
        (T::MMax, "max"),
        (T::MSetSuffixVersionstampedKey, "setSuffixVersionstampedKey"),
    ] {
        let ok = mutation(T::MSet, bytes_value(b"x"));
        let write = write_of(vec![ok, mutation(t, None)]);
        let err = atomic_write_from_proto(write, 0).expect_err("value missing");
        assert_eq!(err, ProtoError::MissingMutationValue { index: 1, op });
        assert_eq!(
            err.to_string(),
            format!("mutation 1: '{op}' requires a value")
        );
    }
}

#[test]
fn bad_values_are_refused_with_their_mutation_index() {
    let unspecified = mutation(
        pb::MutationType::MSet,
        Some(pb::KvValue {
            data: vec![1],
            encoding: 0,
        }),
    );
    let err = convert_one(unspecified).expect_err("encoding 0");
    assert_eq!(
        err,
        ProtoError::MutationValue {
            index: 0,
            reason: ValueError::UnspecifiedEncoding
        }
    );
    assert_eq!(err.to_string(), "mutation 0: value encoding is unspecified");

    let unknown = mutation(
        pb::MutationType::MSet,
        Some(pb::KvValue {
            data: vec![1],
            encoding: 4,
        }),
    );
    assert_eq!(
        convert_one(unknown),
        Err(ProtoError::MutationValue {
            index: 0,
            reason: ValueError::UnknownEncoding(4)
        })
    );

    let short = mutation(
        pb::MutationType::MSum,
        Some(pb::KvValue {
            data: vec![1, 0, 0],
            encoding: pb::ValueEncoding::VeLe64.into(),
        }),
    );
    let err = convert_one(short).expect_err("LE64 of 3 bytes");
    assert_eq!(
        err.to_string(),
        "mutation 0: LE64 value must be 8 bytes, got 3"
    );
}

#[test]
fn expire_at_zero_or_negative_means_never() {
    for (ms, expected) in [
        (0, None),
        (-1, None),
        (-5, None),
        (i64::MIN, None),
        (1, Some(1)),
        (1_700_000_000_000, Some(1_700_000_000_000)),
        (i64::MAX, Some(i64::MAX as u64)),
    ] {
        let m = pb::Mutation {
            expire_at_ms: ms,
            ..mutation(pb::MutationType::MSet, bytes_value(b"x"))
        };
        let converted = convert_one(m).expect("expiry never fails");
        assert_eq!(converted.expire_at_ms, expected, "expire_at_ms {ms}");
    }
}

#[test]
fn check_versionstamp_is_empty_or_ten_bytes() {
    let stamp = Versionstamp::new(42, 3);
    let write = pb::AtomicWrite {
        checks: vec![
            pb::Check {
                key: KEY.to_vec(),
                versionstamp: vec![],
            },
            pb::Check {
                key: KEY.to_vec(),
                versionstamp: stamp.0.to_vec(),
            },
        ],
        ..pb::AtomicWrite::default()
    };
    let converted = atomic_write_from_proto(write, 0).expect("valid checks");
    let stamps: Vec<_> = converted.checks.iter().map(|c| c.versionstamp).collect();
    assert_eq!(stamps, [None, Some(stamp)]);

    for len in [1, 3, 9, 11, 20] {
        let write = pb::AtomicWrite {
            checks: vec![
                pb::Check::default(),
                pb::Check {
                    key: KEY.to_vec(),
                    versionstamp: vec![0; len],
                },
            ],
            ..pb::AtomicWrite::default()
        };
        let err = atomic_write_from_proto(write, 0).expect_err("bad versionstamp length");
        assert_eq!(err, ProtoError::CheckVersionstamp { index: 1, len });
        assert_eq!(
            err.to_string(),
            format!("check 1: versionstamp must be 0 or 10 bytes, got {len}")
        );
    }
}

fn enqueue(deadline_ms: i64, backoff_schedule: Vec<u32>) -> pb::Enqueue {
    pb::Enqueue {
        payload: vec![0xff, 0x0f, 0x5f],
        deadline_ms,
        keys_if_undelivered: vec![KEY.to_vec()],
        backoff_schedule,
    }
}

#[test]
fn enqueues_convert() {
    let now_ms = 1_000_000;
    let write = pb::AtomicWrite {
        enqueues: vec![
            enqueue(2_000_000, vec![]),
            enqueue(5, vec![100, 200]),
            enqueue(-7, vec![]),
        ],
        ..pb::AtomicWrite::default()
    };
    let converted = atomic_write_from_proto(write, now_ms).expect("valid enqueues");
    let got: Vec<_> = converted
        .enqueues
        .iter()
        .map(|e| (e.deadline_ms, e.backoff_schedule.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (2_000_000, None),
            (now_ms, Some(vec![100, 200])),
            (now_ms, None)
        ]
    );
    for e in &converted.enqueues {
        assert_eq!(e.payload, [0xff, 0x0f, 0x5f]);
        assert_eq!(e.keys_if_undelivered, [KEY.to_vec()]);
    }
}

#[test]
fn validated_checks_limits() {
    let limits = Limits::default();
    let ok = write_of(vec![mutation(pb::MutationType::MSet, bytes_value(b"x"))]);
    assert!(atomic_write_from_proto_validated(ok, &limits, 0).is_ok());

    let too_many = pb::AtomicWrite {
        checks: vec![pb::Check::default(); limits.checks_per_write_max + 1],
        ..pb::AtomicWrite::default()
    };
    assert_eq!(
        atomic_write_from_proto_validated(too_many, &limits, 0),
        Err(ProtoError::Limit(LimitError::TooManyChecks {
            count: 101,
            max: 100
        }))
    );

    let mut big = mutation(pb::MutationType::MSet, bytes_value(b"x"));
    big.key = [b"\x01".as_slice(), &[7; 3000], b"\x00"].concat();
    let err = atomic_write_from_proto_validated(write_of(vec![big]), &limits, 0)
        .expect_err("key too large");
    assert_eq!(
        err.to_string(),
        "key of 3002 bytes exceeds the limit of 2048 bytes"
    );

    let far = pb::AtomicWrite {
        enqueues: vec![enqueue(i64::MAX, vec![])],
        ..pb::AtomicWrite::default()
    };
    assert!(matches!(
        atomic_write_from_proto_validated(far, &limits, 0),
        Err(ProtoError::Limit(LimitError::DelayTooLong { .. }))
    ));
}

#[test]
fn to_proto_round_trips() {
    let write = AtomicWrite {
        checks: vec![
            Check {
                key: KEY.to_vec(),
                versionstamp: None,
            },
            Check {
                key: KEY.to_vec(),
                versionstamp: Some(Versionstamp::new(1, 2)),
            },
        ],
        mutations: vec![
            Mutation {
                key: KEY.to_vec(),
                kind: MutationKind::Sum {
                    value: KvValue::V8(vec![0xff, 0x0f, 0x5a, 0x02]),
                    min: None,
                    max: Some(KvValue::V8(vec![0xff, 0x0f, 0x5a, 0x10])),
                    clamp: true,
                },
                expire_at_ms: Some(99),
            },
            Mutation {
                key: KEY.to_vec(),
                kind: MutationKind::Delete,
                expire_at_ms: None,
            },
        ],
        enqueues: vec![Enqueue {
            payload: vec![1],
            deadline_ms: 10,
            keys_if_undelivered: vec![],
            backoff_schedule: Some(vec![1, 2, 3]),
        }],
    };
    let proto = atomic_write_to_proto(write.clone());
    assert_eq!(atomic_write_from_proto(proto, 10), Ok(write));
}

#[test]
fn outputs() {
    let stamp = Versionstamp::new(7, 1);
    let committed = atomic_write_output_committed(stamp);
    assert_eq!(committed.status, pb::AtomicWriteStatus::AwSuccess as i32);
    assert_eq!(committed.versionstamp, stamp.0);
    assert!(committed.failed_checks.is_empty());

    let failed = atomic_write_output_check_failed(vec![0, 2], None);
    assert_eq!(failed.status, pb::AtomicWriteStatus::AwCheckFailure as i32);
    assert!(failed.versionstamp.is_empty());
    assert_eq!(failed.failed_checks, [0, 2]);

    let disabled = atomic_write_output_write_disabled();
    assert_eq!(disabled.status, 5);
}
