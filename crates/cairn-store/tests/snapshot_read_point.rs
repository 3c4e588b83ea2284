//! A snapshot read of `[k, k ++ 0x00)` (how Deno's clients `get`) is answered by a point
//! lookup; it must return exactly what a scan would: `k` alone, never a longer key that
//! starts with it, and nothing when `k` expired.

use cairn_model::codec::encode_key;
use cairn_model::{key, KvValue, ReadRange};
use cairn_store::{Config, Database, Kv, ManualClock};
use std::time::Duration;

fn point(k: &cairn_model::Key) -> ReadRange {
    let start = encode_key(k);
    let mut end = start.clone();
    end.push(0);
    ReadRange {
        start,
        end,
        limit: 1,
        reverse: false,
    }
}

#[tokio::test]
async fn point_ranges_match_scans() {
    let clock = ManualClock::new(1_000);
    let db =
        Database::open_in_memory_with(Config::default().clock(std::sync::Arc::new(clock.clone())))
            .expect("open");
    db.set(&key!["a", "b"], KvValue::U64(2)).await.expect("set");
    db.set(&key!["b"], KvValue::U64(3)).await.expect("set");
    db.set_expiring(&key!["c"], KvValue::U64(4), Duration::from_millis(10))
        .await
        .expect("set");

    // ["a"] itself is absent; ["a", "b"] starts with its encoding but is not in the range.
    let out = db.snapshot_read(&[point(&key!["a"])]).await.expect("read");
    assert_eq!(out, vec![vec![]]);

    db.set(&key!["a"], KvValue::U64(1)).await.expect("set");
    let out = db
        .snapshot_read(&[point(&key!["a"]), point(&key!["b"]), point(&key!["c"])])
        .await
        .expect("read");
    let values: Vec<Vec<KvValue>> = out
        .iter()
        .map(|r| r.iter().map(|e| e.value.clone()).collect())
        .collect();
    assert_eq!(
        values,
        [
            vec![KvValue::U64(1)],
            vec![KvValue::U64(3)],
            vec![KvValue::U64(4)]
        ]
    );
    assert_eq!(out[0][0].key, encode_key(&key!["a"]));

    clock.advance(10);
    let out = db.snapshot_read(&[point(&key!["c"])]).await.expect("read");
    assert_eq!(out, vec![vec![]], "expired entries stay invisible");

    // A reverse point range is the same single key.
    let mut reverse = point(&key!["b"]);
    reverse.reverse = true;
    let out = db.snapshot_read(&[reverse]).await.expect("read");
    assert_eq!(out[0].len(), 1);
}
