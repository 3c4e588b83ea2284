//! An atomic write applies all of its mutations or none (kv-connect.md §5). A write whose
//! third mutation is a `sum` on a value that is not a `KvU64` fails with denokv's message and
//! leaves no trace: not its first two mutations, not a changelog entry, not a versionstamp.
//! Writes evaluated in the same commit batch, before and after it, commit as if it had never
//! been sent. A write whose checks fail writes nothing either, and reports exactly the indexes
//! of the checks that failed.

mod harness;

use cairn_model::key;
use cairn_store::Kv;
use cairn_store::{CommitResult, Database, KvValue, ManualClock, StoreError, Versionstamp};
use harness::{changelog_versionstamps, memory_db, submit, test_db, CLOCK_START_MS};

const NON_U64_SUM: &str = "Failed to perform 'sum' mutation on a non-U64 value in the database";

async fn entry(db: &Database, k: &cairn_store::Key) -> Option<(KvValue, Versionstamp)> {
    db.get(k)
        .await
        .expect("get")
        .map(|e| (e.value, e.versionstamp))
}

#[tokio::test]
async fn failing_third_mutation_discards_the_first_two() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let counter_vs = db
        .set(&key!["counter"], KvValue::U64(1))
        .await
        .expect("set counter");
    db.set(&key!["text"], KvValue::Bytes(b"not a number".to_vec()))
        .await
        .expect("set text");
    let changelog_before = changelog_versionstamps(&db);

    let err = db
        .atomic()
        .set(&key!["new"], KvValue::U64(7))
        .delete(&key!["counter"])
        .sum(&key!["text"], 1)
        .set(&key!["after"], KvValue::U64(8))
        .commit()
        .await
        .expect_err("a sum on bytes must fail the write");

    assert!(matches!(err, StoreError::Mutation(_)), "{err:?}");
    assert_eq!(err.to_string(), NON_U64_SUM);
    assert_eq!(entry(&db, &key!["new"]).await, None);
    assert_eq!(
        entry(&db, &key!["counter"]).await,
        Some((KvValue::U64(1), counter_vs)),
        "the delete before the failing sum must not have happened"
    );
    assert_eq!(entry(&db, &key!["after"]).await, None);
    assert_eq!(
        entry(&db, &key!["text"]).await.map(|(v, _)| v),
        Some(KvValue::Bytes(b"not a number".to_vec()))
    );
    assert_eq!(changelog_versionstamps(&db), changelog_before);
    assert!(db.poisoned().is_none(), "a mutation error is not a fault");

    // The database goes on accepting writes, and the next one gets a later versionstamp.
    let next = db.set(&key!["new"], KvValue::U64(9)).await.expect("set");
    assert!(next > counter_vs);
}

#[tokio::test]
async fn min_and_max_on_a_non_u64_value_fail_the_same_way() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    db.set(&key!["v8"], KvValue::V8(vec![0xFF, 0x0F, b'_']))
        .await
        .expect("set");
    for (op, result) in [
        (
            "min",
            db.atomic()
                .set(&key!["side"], KvValue::U64(1))
                .min(&key!["v8"], 1)
                .commit()
                .await,
        ),
        (
            "max",
            db.atomic()
                .set(&key!["side"], KvValue::U64(1))
                .max(&key!["v8"], 1)
                .commit()
                .await,
        ),
    ] {
        let err = result.expect_err("min/max on V8 must fail");
        assert_eq!(
            err.to_string(),
            format!("Failed to perform '{op}' mutation on a non-U64 value in the database")
        );
        assert_eq!(entry(&db, &key!["side"]).await, None);
    }
}

#[tokio::test]
async fn a_failing_write_does_not_disturb_its_batch() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    db.set(&key!["text"], KvValue::Bytes(b"x".to_vec()))
        .await
        .expect("set text");
    db.set(&key!["taken"], KvValue::U64(0))
        .await
        .expect("set taken");

    // Hold the evaluator inside the storage write of an unrelated commit, queue every write of
    // the scenario behind it, then let go: the sequencer takes them all as one batch.
    let gate = storage.hold_next_apply();
    let blocker = submit(db.atomic().set(&key!["blocker"], KvValue::U64(0)).commit());
    gate.wait_entered();
    let first = submit(
        db.atomic()
            .set(&key!["a"], KvValue::U64(1))
            .sum(&key!["shared"], 10)
            .commit(),
    );
    let failing = submit(
        db.atomic()
            .set(&key!["b"], KvValue::U64(2))
            .sum(&key!["shared"], 100)
            .sum(&key!["text"], 1)
            .commit(),
    );
    let check_failing = submit(
        db.atomic()
            .check(&key!["taken"], None)
            .set(&key!["c"], KvValue::U64(3))
            .commit(),
    );
    let last = submit(
        db.atomic()
            .check(&key!["b"], None)
            .set(&key!["d"], KvValue::U64(4))
            .sum(&key!["shared"], 1)
            .commit(),
    );
    gate.release();
    blocker.await.expect("blocker commits");

    let first = first.await.expect("first commits");
    let err = failing.await.expect_err("the sum on bytes fails");
    let check_failing = check_failing.await.expect("evaluated");
    let last = last.await.expect("last commits");

    assert_eq!(err.to_string(), NON_U64_SUM);
    assert_eq!(
        check_failing,
        CommitResult::CheckFailed {
            failed_checks: vec![0],
            reason: None,
        }
    );
    let (Some(first_vs), Some(last_vs)) = (first.versionstamp(), last.versionstamp()) else {
        panic!("both writes around the failing ones commit: {first:?} {last:?}");
    };
    assert_eq!(
        first_vs.commit_version(),
        last_vs.commit_version(),
        "the gate queued them into one batch"
    );
    assert!(first_vs < last_vs);

    assert_eq!(
        entry(&db, &key!["a"]).await,
        Some((KvValue::U64(1), first_vs))
    );
    assert_eq!(entry(&db, &key!["b"]).await, None);
    assert_eq!(entry(&db, &key!["c"]).await, None);
    assert_eq!(
        entry(&db, &key!["d"]).await,
        Some((KvValue::U64(4), last_vs))
    );
    // 10 from the first write, 1 from the last; the failing write's 100 never happened, though
    // it was evaluated between them against the first write's result.
    assert_eq!(
        entry(&db, &key!["shared"]).await,
        Some((KvValue::U64(11), last_vs))
    );
    let logged = changelog_versionstamps(&db);
    assert!(logged.contains(&first_vs) && logged.contains(&last_vs));
    assert_eq!(
        logged
            .iter()
            .filter(|v| v.commit_version() == first_vs.commit_version())
            .count(),
        2,
        "only the two committed writes of the batch are in the changelog"
    );
}

#[tokio::test]
async fn failed_checks_write_nothing_and_name_each_failing_check() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let old = db
        .set(&key!["present"], KvValue::U64(1))
        .await
        .expect("set");
    let current = db
        .set(&key!["present"], KvValue::U64(2))
        .await
        .expect("set");
    let other = db.set(&key!["other"], KvValue::U64(3)).await.expect("set");
    let changelog_before = changelog_versionstamps(&db);

    let result = db
        .atomic()
        .check(&key!["absent"], None) // 0: holds
        .check(&key!["present"], None) // 1: fails, the key exists
        .check(&key!["present"], Some(current)) // 2: holds
        .check(&key!["present"], Some(old)) // 3: fails, stale
        .check(&key!["absent"], Some(other)) // 4: fails, the key does not exist
        .check(&key!["other"], Some(other)) // 5: holds
        .set(&key!["absent"], KvValue::U64(9))
        .delete(&key!["other"])
        .sum(&key!["present"], 1)
        .commit()
        .await
        .expect("a check failure is a result, not an error");

    assert_eq!(
        result,
        CommitResult::CheckFailed {
            failed_checks: vec![1, 3, 4],
            reason: None,
        }
    );
    assert_eq!(result.versionstamp(), None);
    assert_eq!(entry(&db, &key!["absent"]).await, None);
    assert_eq!(
        entry(&db, &key!["other"]).await,
        Some((KvValue::U64(3), other))
    );
    assert_eq!(
        entry(&db, &key!["present"]).await,
        Some((KvValue::U64(2), current))
    );
    assert_eq!(changelog_versionstamps(&db), changelog_before);

    // The same write with its checks corrected commits all three mutations under one stamp.
    let committed = db
        .atomic()
        .check(&key!["absent"], None)
        .check(&key!["present"], Some(current))
        .check(&key!["other"], Some(other))
        .set(&key!["absent"], KvValue::U64(9))
        .delete(&key!["other"])
        .sum(&key!["present"], 1)
        .commit()
        .await
        .expect("commit");
    let vs = committed.versionstamp().expect("committed");
    assert_eq!(
        entry(&db, &key!["absent"]).await,
        Some((KvValue::U64(9), vs))
    );
    assert_eq!(entry(&db, &key!["other"]).await, None);
    assert_eq!(
        entry(&db, &key!["present"]).await,
        Some((KvValue::U64(3), vs))
    );
}
