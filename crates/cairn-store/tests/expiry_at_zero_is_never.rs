//! Regression: an expire-at of 0 meant two things at once. Data records store "never" as an
//! expire-at of 0 (and KV Connect sends 0 for "never"), but the evaluator compared a write's
//! own `expire_at_ms: Some(0)` as a time long past. So within one atomic write, a `sum` after
//! a `set` with `Some(0)` treated the key as missing (`set 5, sum 1` stored 1), while the same
//! record, once stored, read back as never expiring. Now 0 means "never" everywhere: the sum
//! sees the value it follows, and what the write saw is what readers see.

use cairn_model::{key, AtomicWrite, Mutation, MutationKind};
use cairn_store::record::ChangeOp;
use cairn_store::Kv;
use cairn_store::{Database, KvValue};

fn set(key: Vec<u8>, n: u64, expire_at_ms: Option<u64>) -> Mutation {
    Mutation {
        key,
        kind: MutationKind::Set(KvValue::U64(n)),
        expire_at_ms,
    }
}

#[tokio::test]
async fn zero_expire_at_is_never_within_a_write_and_after_it() {
    let db = Database::open_in_memory().expect("open");
    let k = key!["k"];
    let write = AtomicWrite {
        mutations: vec![
            set(k.encode(), 5, Some(0)),
            Mutation {
                key: k.encode(),
                kind: MutationKind::Sum {
                    value: KvValue::U64(1),
                    min: None,
                    max: None,
                    clamp: false,
                },
                expire_at_ms: Some(0),
            },
        ],
        ..AtomicWrite::default()
    };
    let vs = db
        .atomic_write(write)
        .await
        .expect("commit")
        .versionstamp()
        .expect("committed");

    let entry = db.get(&k).await.expect("get").expect("never expires");
    assert_eq!(
        entry.value,
        KvValue::U64(6),
        "the sum saw the value set before it"
    );
    assert_eq!(entry.versionstamp, vs);
    let log = db.changelog(None, 10).expect("changelog");
    assert_eq!(
        log.last().map(|(_, r)| r.ops.clone()),
        Some(vec![ChangeOp::Set {
            key: k.encode(),
            value: KvValue::U64(6),
            expire_at_ms: None
        }])
    );

    // A check in a later write agrees with the reader.
    let check = db
        .atomic()
        .check(&k, Some(vs))
        .commit()
        .await
        .expect("commit");
    assert!(check.is_committed());
}
