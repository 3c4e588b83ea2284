//! `Database::get_with_expiry` reports the expiry a write set (what the Redis front end's TTL
//! answers and what a rewrite keeps): the absolute expire-at of `expire_in`, `None` for an
//! entry that never expires, and nothing once the expiry has passed.

mod harness;

use std::time::Duration;

use cairn_model::key;
use cairn_store::{Kv, KvValue, ManualClock};
use harness::{memory_db, CLOCK_START_MS};

#[tokio::test]
async fn the_expiry_of_an_entry_is_readable() {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = memory_db(&clock);
    let k = key!["k"];
    let vs = db
        .set_expiring(
            &k,
            KvValue::Bytes(b"v".to_vec()),
            Duration::from_millis(500),
        )
        .await
        .expect("set");
    let (entry, expire_at) = db.get_with_expiry(&k).expect("read").expect("present");
    assert_eq!(
        (entry.value, entry.versionstamp),
        (KvValue::Bytes(b"v".to_vec()), vs)
    );
    assert_eq!(expire_at, Some(CLOCK_START_MS + 500));
    db.set(&key!["forever"], KvValue::U64(1))
        .await
        .expect("set");
    let (_, never) = db
        .get_with_expiry(&key!["forever"])
        .expect("read")
        .expect("present");
    assert_eq!(never, None);
    clock.advance(500);
    assert!(db.get_with_expiry(&k).expect("read").is_none(), "expired");
    assert!(db
        .get_with_expiry(&key!["missing"])
        .expect("read")
        .is_none());
}
