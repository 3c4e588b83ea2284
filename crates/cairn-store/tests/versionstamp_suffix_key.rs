//! `setSuffixVersionstampedKey` (kv-connect.md §4) writes its value under its key extended by
//! one string part: the 20 lowercase hex characters of the commit's versionstamp. The entry
//! carries that same versionstamp, keys of later commits sort after earlier ones, and several
//! such mutations in one batch land under distinct keys. Encoded, the suffix is `0x02`, the
//! 20 characters, `0x00`.

mod harness;

use cairn_model::{key, Key, KeyPart, MutationKind};
use cairn_store::{Database, KvValue, ListOptions, ListSelector, ManualClock, Versionstamp};
use cairn_store::{Kv, KvList};
use harness::{memory_db, submit, test_db, CLOCK_START_MS};

async fn append(db: &Database, value: u64) -> Versionstamp {
    db.atomic()
        .mutate(
            &key!["log"],
            MutationKind::SetSuffixVersionstampedKey(KvValue::U64(value)),
            None,
        )
        .commit()
        .await
        .expect("commit")
        .versionstamp()
        .expect("committed")
}

fn suffixed(vs: Versionstamp) -> Key {
    key!["log", vs.to_hex()]
}

#[tokio::test]
async fn the_key_gets_the_commit_versionstamp_in_hex() {
    let db = memory_db(&ManualClock::new(CLOCK_START_MS));
    let vs = append(&db, 1).await;

    let hex = vs.to_hex();
    assert_eq!(hex.len(), 20);
    assert!(hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    let entry = db.get(&suffixed(vs)).await.expect("get").expect("written");
    assert_eq!(entry.value, KvValue::U64(1));
    assert_eq!(entry.versionstamp, vs);
    assert_eq!(
        entry.key.parts().last(),
        Some(&KeyPart::String(hex.clone()))
    );
    let mut encoded = key!["log"].encode();
    encoded.push(0x02);
    encoded.extend_from_slice(hex.as_bytes());
    encoded.push(0x00);
    assert_eq!(entry.key.encode(), encoded);
    assert_eq!(
        db.get(&key!["log"]).await.expect("get"),
        None,
        "the bare key is untouched"
    );
}

#[tokio::test]
async fn appended_keys_list_in_commit_order() {
    let (db, storage) = test_db(&ManualClock::new(CLOCK_START_MS));
    let mut stamps = Vec::new();
    for i in 0..5 {
        stamps.push(append(&db, i).await);
    }
    // Three more in one batch.
    let gate = storage.hold_next_apply();
    let blocker = submit(db.atomic().set(&key!["blocker"], KvValue::U64(0)).commit());
    gate.wait_entered();
    let queued: Vec<_> = (5..8u64)
        .map(|i| {
            submit(
                db.atomic()
                    .mutate(
                        &key!["log"],
                        MutationKind::SetSuffixVersionstampedKey(KvValue::U64(i)),
                        None,
                    )
                    .commit(),
            )
        })
        .collect();
    gate.release();
    blocker.await.expect("blocker");
    for write in queued {
        stamps.push(
            write
                .await
                .expect("commit")
                .versionstamp()
                .expect("committed"),
        );
    }
    assert_eq!(stamps[5].commit_version(), stamps[7].commit_version());

    let listed = db
        .list(ListSelector::Prefix(key!["log"]), ListOptions::default())
        .expect("list")
        .collect()
        .await
        .expect("collect");
    let keys: Vec<Key> = listed.iter().map(|e| e.key.clone()).collect();
    let expected: Vec<Key> = stamps.iter().map(|vs| suffixed(*vs)).collect();
    assert_eq!(keys, expected);
    for (i, entry) in listed.iter().enumerate() {
        assert_eq!(entry.value, KvValue::U64(i as u64));
        assert_eq!(entry.versionstamp, stamps[i]);
    }
}
