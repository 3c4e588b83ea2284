//! Which objects retention removes: snapshots beyond the count or the age (never the newest),
//! the log that only removed snapshots needed, and ranges left without a snapshot.

use super::catalog::Catalog;
use super::format::names;

/// Names to delete, in a safe order: a snapshot's trailer before its parts (an interrupted
/// deletion leaves an incomplete snapshot, never a complete one with parts missing), and a
/// range's header last.
pub(crate) fn plan(
    catalog: &Catalog,
    current_range: u64,
    now_ms: u64,
    keep_count: u32,
    keep_ms: u64,
) -> Vec<String> {
    // Newest first, across ranges.
    let mut snapshots: Vec<(u64, u64, u64)> = catalog
        .ranges
        .values()
        .flat_map(|r| r.snapshots.iter().map(|s| (s.range, s.asn, s.time_ms)))
        .collect();
    snapshots.sort_unstable_by_key(|s| std::cmp::Reverse((s.0, s.1)));
    let kept: Vec<(u64, u64)> = snapshots
        .iter()
        .enumerate()
        .filter(|(i, (_, _, time))| {
            *i == 0 || (*i < keep_count as usize && now_ms.saturating_sub(*time) <= keep_ms)
        })
        .map(|(_, (range, asn, _))| (*range, *asn))
        .collect();
    let mut delete = Vec::new();
    for objects in catalog.ranges.values() {
        let range = objects.range;
        let oldest_kept = kept.iter().filter(|k| k.0 == range).map(|k| k.1).min();
        for s in &objects.snapshots {
            if !kept.contains(&(range, s.asn)) {
                delete.push(names::snapshot_done(range, s.asn));
                delete.extend(
                    (0u32..)
                        .take(s.part_crcs.len())
                        .map(|p| names::snapshot_part(range, s.asn, p)),
                );
            }
        }
        let complete: Vec<u64> = objects.snapshots.iter().map(|s| s.asn).collect();
        for (asn, part) in &objects.snapshot_parts {
            // Parts of interrupted snapshots, and parts beyond a trailer's count.
            let trailer = objects.snapshots.iter().find(|s| s.asn == *asn);
            if range > current_range {
                continue;
            }
            if !complete.contains(asn)
                || trailer.is_some_and(|t| *part as usize >= t.part_crcs.len())
            {
                delete.push(names::snapshot_part(range, *asn, *part));
            }
        }
        match oldest_kept {
            Some(oldest) => delete.extend(
                objects
                    .segments
                    .iter()
                    .filter(|(_, last)| *last <= oldest)
                    .map(|(first, last)| names::segment(range, *first, *last)),
            ),
            None if range < current_range => {
                delete.extend(
                    objects
                        .segments
                        .iter()
                        .map(|(first, last)| names::segment(range, *first, *last)),
                );
                delete.push(names::range(range));
            }
            None => {}
        }
    }
    delete.sort();
    delete.dedup();
    // Trailers first, headers last.
    delete.sort_by_key(|n| {
        if n.ends_with("/done") {
            0
        } else if n.ends_with("/range") {
            2
        } else {
            1
        }
    });
    delete
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::catalog::RangeObjects;
    use crate::archive::format::SnapshotDone;

    fn snapshot(range: u64, asn: u64, time_ms: u64) -> SnapshotDone {
        SnapshotDone {
            database_id: [0; 16],
            range,
            asn,
            commit_version: asn,
            time_ms,
            entries: 1,
            part_crcs: vec![0],
        }
    }

    fn catalog() -> Catalog {
        let mut catalog = Catalog::default();
        catalog.ranges.insert(
            1,
            RangeObjects {
                range: 1,
                snapshots: vec![snapshot(1, 0, 100)],
                snapshot_parts: vec![(0, 0)],
                segments: vec![(1, 5)],
                ..Default::default()
            },
        );
        catalog.ranges.insert(
            2,
            RangeObjects {
                range: 2,
                snapshots: vec![
                    snapshot(2, 0, 200),
                    snapshot(2, 10, 300),
                    snapshot(2, 20, 400),
                ],
                snapshot_parts: vec![(0, 0), (10, 0), (20, 0), (30, 0)],
                segments: vec![(1, 9), (10, 15), (16, 25)],
                ..Default::default()
            },
        );
        catalog
    }

    #[test]
    fn count_keeps_the_newest_and_drops_what_only_old_snapshots_needed() {
        let plan = plan(&catalog(), 2, 400, 2, u64::MAX);
        let mut expected = vec![
            // Trailers first.
            "r0000000000000001/snap-0000000000000000/done",
            "r0000000000000002/snap-0000000000000000/done",
            "r0000000000000001/log-0000000000000001-0000000000000005",
            "r0000000000000001/snap-0000000000000000/part-00000000",
            "r0000000000000002/log-0000000000000001-0000000000000009",
            "r0000000000000002/snap-0000000000000000/part-00000000",
            // An interrupted snapshot of the current range.
            "r0000000000000002/snap-000000000000001e/part-00000000",
            "r0000000000000001/range",
        ];
        let mut got = plan.clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "{plan:?}");
        assert!(plan.first().is_some_and(|n| n.ends_with("/done")));
        assert!(plan.last().is_some_and(|n| n.ends_with("/range")));
    }

    #[test]
    fn age_removes_old_snapshots_but_never_the_newest() {
        let plan = plan(&catalog(), 2, 10_000, 100, 50);
        assert!(!plan.iter().any(|n| n.contains("snap-0000000000000014/")));
        assert!(plan.contains(&"r0000000000000002/snap-000000000000000a/done".to_owned()));
        // Everything the newest snapshot does not need goes.
        assert!(
            plan.contains(&"r0000000000000002/log-000000000000000a-000000000000000f".to_owned())
        );
        assert!(
            !plan.contains(&"r0000000000000002/log-0000000000000010-0000000000000019".to_owned())
        );
    }
}
