//! Snapshot reads: `SnapshotRead` → checked ranges, entries → `SnapshotReadOutput`.

use cairn_model::{Limits, ReadRange};

use crate::convert::value::{kv_entry_to_proto, EntryParts};
use crate::error::ProtoError;
use crate::messages as pb;

/// The ranges of a `SnapshotRead`, after checking them against `limits`:
///
/// - at most `ranges_per_read_max` ranges ([`cairn_model::LimitError::TooManyRanges`]),
/// - every `limit` positive ([`ProtoError::ReadLimit`]): denokv refuses a zero or negative
///   limit the same way (it converts the limit to a non-zero u32), and no client sends one,
/// - both bounds of every range at most `range_key_bytes_max` bytes
///   ([`cairn_model::LimitError::KeyTooLarge`]),
/// - the sum of the limits at most `entries_per_read_max` ([`cairn_model::LimitError::TooManyEntries`]).
///
/// An empty list of ranges is accepted and answered with an empty output.
pub fn snapshot_read_from_proto(
    read: pb::SnapshotRead,
    limits: &Limits,
) -> Result<Vec<ReadRange>, ProtoError> {
    let count = read.ranges.len();
    limits.check_read(count, 0)?;
    let mut entries = 0usize;
    let mut out = Vec::with_capacity(count);
    for (index, range) in read.ranges.into_iter().enumerate() {
        let limit = usize::try_from(range.limit)
            .ok()
            .filter(|limit| *limit > 0)
            .ok_or(ProtoError::ReadLimit {
                index,
                limit: range.limit,
            })?;
        limits.check_range_key(&range.start)?;
        limits.check_range_key(&range.end)?;
        entries = entries.saturating_add(limit);
        out.push(ReadRange {
            start: range.start,
            end: range.end,
            limit,
            reverse: range.reverse,
        });
    }
    limits.check_read(count, entries)?;
    Ok(out)
}

/// A `SnapshotRead` for these ranges (the client side). A limit above `i32::MAX` is sent as
/// `i32::MAX`; any server refuses it anyway.
pub fn snapshot_read_to_proto(ranges: Vec<ReadRange>) -> pb::SnapshotRead {
    let ranges = ranges
        .into_iter()
        .map(|range| pb::ReadRange {
            start: range.start,
            end: range.end,
            limit: i32::try_from(range.limit).unwrap_or(i32::MAX),
            reverse: range.reverse,
        })
        .collect();
    pb::SnapshotRead { ranges }
}

/// A successful `SnapshotReadOutput`: one output per range, in request order, with
/// `SR_SUCCESS` and `read_is_strongly_consistent` (the entries come from the published
/// snapshot, which holds every acknowledged write).
pub fn snapshot_read_output(ranges: Vec<Vec<EntryParts>>) -> pb::SnapshotReadOutput {
    let ranges = ranges
        .into_iter()
        .map(|entries| pb::ReadRangeOutput {
            values: entries.into_iter().map(kv_entry_to_proto).collect(),
        })
        .collect();
    pb::SnapshotReadOutput {
        ranges,
        read_disabled: false,
        read_is_strongly_consistent: true,
        status: pb::SnapshotReadStatus::SrSuccess.into(),
    }
}

/// The `SnapshotReadOutput` of an endpoint that cannot serve reads now: `read_disabled` and
/// `SR_READ_DISABLED` (older clients look at the flag, newer ones at the status).
pub fn snapshot_read_output_read_disabled() -> pb::SnapshotReadOutput {
    pb::SnapshotReadOutput {
        ranges: Vec::new(),
        read_disabled: true,
        read_is_strongly_consistent: false,
        status: pb::SnapshotReadStatus::SrReadDisabled.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::{KvValue, LimitError, Versionstamp};

    fn range(start: &[u8], end: &[u8], limit: i32) -> pb::ReadRange {
        pb::ReadRange {
            start: start.to_vec(),
            end: end.to_vec(),
            limit,
            reverse: false,
        }
    }

    #[test]
    fn ranges_convert_in_order() {
        let read = pb::SnapshotRead {
            ranges: vec![
                range(b"\x02a\x00", b"\x02a\x00\x00", 1),
                pb::ReadRange {
                    reverse: true,
                    ..range(b"\x02b\x00", b"\x02b\xff", 500)
                },
            ],
        };
        let out = snapshot_read_from_proto(read, &Limits::default()).expect("must succeed");
        assert_eq!(
            out,
            vec![
                ReadRange {
                    start: b"\x02a\x00".to_vec(),
                    end: b"\x02a\x00\x00".to_vec(),
                    limit: 1,
                    reverse: false,
                },
                ReadRange {
                    start: b"\x02b\x00".to_vec(),
                    end: b"\x02b\xff".to_vec(),
                    limit: 500,
                    reverse: true,
                },
            ]
        );
        let back = snapshot_read_to_proto(out);
        assert_eq!(back.ranges.len(), 2);
        assert_eq!(back.ranges.first().map(|r| r.limit), Some(1));
    }

    #[test]
    fn empty_read_is_accepted() {
        let out = snapshot_read_from_proto(pb::SnapshotRead::default(), &Limits::default());
        assert_eq!(out, Ok(vec![]));
    }

    #[test]
    fn zero_or_negative_limit_is_refused() {
        for limit in [0, -1, i32::MIN] {
            let read = pb::SnapshotRead {
                ranges: vec![range(b"a", b"b", 1), range(b"a", b"b", limit)],
            };
            let err =
                snapshot_read_from_proto(read, &Limits::default()).expect_err("must be refused");
            assert_eq!(err, ProtoError::ReadLimit { index: 1, limit });
            assert_eq!(
                err.to_string(),
                format!("read range 1: limit must be positive, got {limit}")
            );
        }
    }

    #[test]
    fn too_many_ranges_is_refused() {
        let limits = Limits::default();
        let read = pb::SnapshotRead {
            ranges: vec![range(b"a", b"b", 1); limits.ranges_per_read_max + 1],
        };
        assert_eq!(
            snapshot_read_from_proto(read, &limits),
            Err(ProtoError::Limit(LimitError::TooManyRanges {
                count: 11,
                max: 10
            }))
        );
        let read = pb::SnapshotRead {
            ranges: vec![range(b"a", b"b", 1); limits.ranges_per_read_max],
        };
        assert!(snapshot_read_from_proto(read, &limits).is_ok());
    }

    #[test]
    fn too_many_entries_is_refused() {
        let limits = Limits::default();
        let at_max = pb::SnapshotRead {
            ranges: vec![range(b"a", b"b", 600), range(b"a", b"b", 400)],
        };
        assert!(snapshot_read_from_proto(at_max, &limits).is_ok());
        let over = pb::SnapshotRead {
            ranges: vec![range(b"a", b"b", 600), range(b"a", b"b", 401)],
        };
        let err = snapshot_read_from_proto(over, &limits).expect_err("must be refused");
        assert_eq!(
            err,
            ProtoError::Limit(LimitError::TooManyEntries {
                count: 1001,
                max: 1000
            })
        );
        assert_eq!(
            err.to_string(),
            "too many entries requested: 1001 (at most 1000)"
        );
        let huge = pb::SnapshotRead {
            ranges: vec![range(b"a", b"b", i32::MAX); 10],
        };
        assert!(matches!(
            snapshot_read_from_proto(huge, &limits),
            Err(ProtoError::Limit(LimitError::TooManyEntries { .. }))
        ));
    }

    #[test]
    fn oversized_bounds_are_refused() {
        let limits = Limits::default();
        let at_max = vec![0xff; limits.range_key_bytes_max];
        let over = vec![0xff; limits.range_key_bytes_max + 1];
        let ok = pb::SnapshotRead {
            ranges: vec![range(&at_max, &at_max, 1)],
        };
        assert!(snapshot_read_from_proto(ok, &limits).is_ok());
        for (start, end) in [(&over, &at_max), (&at_max, &over)] {
            let read = pb::SnapshotRead {
                ranges: vec![range(start, end, 1)],
            };
            assert_eq!(
                snapshot_read_from_proto(read, &limits),
                Err(ProtoError::Limit(LimitError::KeyTooLarge {
                    len: 2050,
                    max: 2049
                }))
            );
        }
    }

    #[test]
    fn configured_limits_are_used() {
        let mut limits = Limits::default();
        limits.ranges_per_read_max = 1;
        let read = pb::SnapshotRead {
            ranges: vec![range(b"a", b"b", 1); 2],
        };
        assert!(matches!(
            snapshot_read_from_proto(read, &limits),
            Err(ProtoError::Limit(LimitError::TooManyRanges { .. }))
        ));
    }

    #[test]
    fn output_carries_entries_and_success() {
        let entry = (
            b"\x02a\x00".to_vec(),
            KvValue::U64(7),
            Versionstamp::new(3, 0),
        );
        let out = snapshot_read_output(vec![vec![entry], vec![]]);
        assert_eq!(out.status, pb::SnapshotReadStatus::SrSuccess as i32);
        assert!(out.read_is_strongly_consistent);
        assert!(!out.read_disabled);
        assert_eq!(out.ranges.len(), 2);
        let first = out
            .ranges
            .first()
            .and_then(|r| r.values.first())
            .expect("the first range has an entry");
        assert_eq!(first.key, b"\x02a\x00");
        assert_eq!(first.value, 7u64.to_le_bytes());
        assert_eq!(first.encoding, pb::ValueEncoding::VeLe64 as i32);
        assert_eq!(first.versionstamp, Versionstamp::new(3, 0).0);
        assert_eq!(out.ranges.get(1).map(|r| r.values.len()), Some(0));
    }

    #[test]
    fn read_disabled_output() {
        let out = snapshot_read_output_read_disabled();
        assert!(out.read_disabled);
        assert_eq!(out.status, pb::SnapshotReadStatus::SrReadDisabled as i32);
    }
}
