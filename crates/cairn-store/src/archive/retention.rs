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
    snapshots.sort_unstable_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)));
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
            if !complete.contains(asn) || trailer.is_some_and(|t| *part as usize >= t.part_crcs.len()) {
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
