//! Every committed write appears in the changelog under its versionstamp, with the commit time
//! of the database clock and the final state of each key it touched, in first-touch order: a
//! `Set` with the value and expiry actually stored (the result, for `sum`/`min`/`max`), or a
//! `Delete`. Writes that fail their checks or a mutation leave no entry. Reading after a
//! versionstamp pages through the log, and a data directory keeps its log across a reopen.

mod harness;

use cairn_store::Kv;
use std::time::Duration;

use cairn_model::key;
use cairn_store::record::ChangeOp;
use cairn_store::{Database, KvValue, ManualClock};
use harness::{changelog_versionstamps, config, memory_db, CLOCK_START_MS};

#[tokio::test]
async fn each_commit_is_logged_with_its_final_ops() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    let (a, b, c) = (key!["a"], key!["b"], key!["c"]);

    let v1 = db.set(&a, KvValue::U64(1)).await.expect("set");
    clock.advance(7);
    let v2 = db
        .atomic()
        .sum(&a, 4)
        .set_expiring(
            &b,
            KvValue::Bytes(b"b".to_vec()),
            Duration::from_millis(500),
        )
        .set(&c, KvValue::U64(0))
        .delete(&c)
        .sum(&a, 1)
        .commit()
        .await
        .expect("commit")
        .versionstamp()
        .expect("committed");
    let v3 = db.delete(&b).await.expect("delete");
    // Failed writes leave nothing.
    let failed = db
        .atomic()
        .check(&a, None)
        .set(&a, KvValue::U64(0))
        .commit()
        .await
        .expect("evaluated");
    assert!(!failed.is_committed());
    db.atomic()
        .set(&c, KvValue::U64(0))
        .sum(&b, 1)
        .set(&b, KvValue::U64(0))
        .commit()
        .await
        .expect("commit");
    db.set(&b, KvValue::Bytes(vec![])).await.expect("set");
    db.atomic()
        .sum(&b, 1)
        .commit()
        .await
        .expect_err("sum on bytes fails");
    let v4 = db
        .atomic()
        .check(&a, Some(v2))
        .commit()
        .await
        .expect("commit")
        .versionstamp()
        .expect("check-only write commits");

    let log = db.changelog(None, usize::MAX).expect("changelog");
    let stamps: Vec<_> = log.iter().map(|(vs, _)| *vs).collect();
    assert_eq!(stamps.len(), 6, "{stamps:?}");
    assert_eq!(stamps[0], v1);
    assert_eq!(stamps[1], v2);
    assert_eq!(stamps[2], v3);
    assert_eq!(stamps[5], v4);
    assert!(stamps.windows(2).all(|p| p[0] < p[1]));

    assert_eq!(log[0].1.committed_at_ms, CLOCK_START_MS);
    assert_eq!(
        log[0].1.ops,
        vec![ChangeOp::Set {
            key: a.encode(),
            value: KvValue::U64(1),
            expire_at_ms: None
        }]
    );
    assert_eq!(log[1].1.committed_at_ms, CLOCK_START_MS + 7);
    assert_eq!(
        log[1].1.ops,
        vec![
            ChangeOp::Set {
                key: a.encode(),
                value: KvValue::U64(6),
                expire_at_ms: None
            },
            ChangeOp::Set {
                key: b.encode(),
                value: KvValue::Bytes(b"b".to_vec()),
                expire_at_ms: Some(CLOCK_START_MS + 7 + 500)
            },
            ChangeOp::Delete { key: c.encode() },
        ]
    );
    assert_eq!(log[2].1.ops, vec![ChangeOp::Delete { key: b.encode() }]);
    assert_eq!(log[5].1.ops, vec![], "a check-only commit changes nothing");
}

#[tokio::test]
async fn reading_after_a_versionstamp_pages_through_the_log() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let mut written = Vec::new();
    for i in 0..25u64 {
        written.push(db.set(&key!["k", i], KvValue::U64(i)).await.expect("set"));
    }
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = db.changelog(after, 4).expect("changelog");
        assert!(page.len() <= 4);
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        paged.extend(page.iter().map(|(vs, _)| *vs));
    }
    assert_eq!(paged, written);
    assert!(db
        .changelog(written.last().copied(), 10)
        .expect("changelog")
        .is_empty());
    let from_middle = db.changelog(Some(written[9]), 3).expect("changelog");
    let stamps: Vec<_> = from_middle.iter().map(|(vs, _)| *vs).collect();
    assert_eq!(stamps, written[10..13]);
}

#[tokio::test]
async fn the_log_survives_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = Database::open_with(dir.path(), config(&clock)).expect("open");
    let mut written = Vec::new();
    for i in 0..5u64 {
        written.push(db.set(&key!["k", i], KvValue::U64(i)).await.expect("set"));
    }
    let before = db.changelog(None, usize::MAX).expect("changelog");
    db.close();

    let db = Database::open_with(dir.path(), config(&clock)).expect("reopen");
    assert_eq!(db.changelog(None, usize::MAX).expect("changelog"), before);
    let next = db
        .set(&key!["k", 5u64], KvValue::U64(5))
        .await
        .expect("set");
    written.push(next);
    assert_eq!(changelog_versionstamps(&db), written);
}
