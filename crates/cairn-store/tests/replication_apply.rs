//! A replica applies its primary's stream byte for byte: the same data under the same
//! versionstamps, its position durable with each batch, gaps and repeats refused; a
//! promotion starts a new epoch that later batches carry; synchronous replication answers a
//! write only once a replica acknowledged it, and never acknowledges without one.

use std::time::Duration;

use cairn_model::key;
use cairn_store::replication::{ReplicationConfig, Role, StreamPosition, StreamRecord};
use cairn_store::{Config, Database, Kv, KvValue, StoreError};

const RETAINED: u64 = 1 << 20;

fn primary_config() -> Config {
    Config::default().replication(ReplicationConfig::default().stream(RETAINED))
}

fn replica_config(primary: &Database) -> Config {
    Config::default().replication(
        ReplicationConfig::default()
            .replica_of("http://primary.invalid")
            .stream(RETAINED)
            .database_id(*primary.database_id().as_bytes()),
    )
}

/// Everything the primary's stream holds after `after`.
fn stream_after(db: &Database, after: u64) -> Vec<StreamRecord> {
    let log = db.stream_log().expect("a stream is kept");
    log.read(after, usize::MAX).expect("retained")
}

async fn write_some(db: &Database, from: u64, to: u64) {
    for i in from..to {
        db.set(&key!["k", i], KvValue::U64(i)).await.expect("set");
    }
}

#[tokio::test]
async fn a_replica_holds_the_same_entries_and_versionstamps() -> Result<(), StoreError> {
    let primary = Database::open_in_memory_with(primary_config())?;
    write_some(&primary, 0, 20).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("replica");
    let replica = Database::open_with(&path, replica_config(&primary))?;
    assert_eq!(replica.database_id(), primary.database_id());
    assert!(matches!(replica.role(), Role::Replica { .. }));
    let records = stream_after(&primary, 0);
    assert_eq!(records.len(), 20);
    let at = replica.replicate(records[..7].to_vec()).await?;
    assert_eq!(at.position, 7);
    replica.replicate(records[7..].to_vec()).await?;
    for i in 0..20u64 {
        let (p, r) = (
            primary.get(&key!["k", i]).await?,
            replica.get(&key!["k", i]).await?,
        );
        assert_eq!(p, r, "key {i}");
    }
    assert_eq!(replica.stream_position(), primary.stream_position());

    // Writes go to the primary.
    let refused = replica.set(&key!["x"], KvValue::U64(1)).await.err();
    assert!(
        matches!(&refused, Some(StoreError::ReadOnlyReplica { primary }) if primary == "http://primary.invalid"),
        "{refused:?}"
    );

    // A repeat or a gap is refused and changes nothing.
    let repeat = replica.replicate(records[19..].to_vec()).await.err();
    assert!(
        matches!(repeat, Some(StoreError::Replication(_))),
        "{repeat:?}"
    );
    write_some(&primary, 20, 23).await;
    let more = stream_after(&primary, 20);
    let gap = replica.replicate(more[1..].to_vec()).await.err();
    assert!(matches!(gap, Some(StoreError::Replication(_))), "{gap:?}");
    assert_eq!(replica.stream_position().position, 20);

    // The position is durable with the data: a restart resumes right after it.
    replica.close();
    // Not as a primary, though: its own writes would take positions of its primary's.
    let refused = Database::open_with(&path, Config::default()).err();
    assert!(
        matches!(&refused, Some(StoreError::Replication(m)) if m.contains("holds a replica of http://primary.invalid")),
        "{refused:?}"
    );
    let replica = Database::open_with(&path, replica_config(&primary))?;
    assert_eq!(replica.stream_position().position, 20);
    replica.replicate(more).await?;
    assert_eq!(
        replica.get(&key!["k", 22u64]).await?,
        primary.get(&key!["k", 22u64]).await?
    );
    Ok(())
}

#[tokio::test]
async fn another_database_is_refused() -> Result<(), StoreError> {
    let primary = Database::open_in_memory_with(primary_config())?;
    let dir = tempfile::tempdir().expect("temp dir");
    let other = Database::open(dir.path())?;
    other.close();
    let refused = Database::open_with(dir.path(), replica_config(&primary)).err();
    assert!(
        matches!(refused, Some(StoreError::Replication(_))),
        "{refused:?}"
    );
    Ok(())
}

#[tokio::test]
async fn promotion_starts_an_epoch_and_fences_the_old_primary() -> Result<(), StoreError> {
    let primary = Database::open_in_memory_with(primary_config())?;
    write_some(&primary, 0, 5).await;
    let replica = Database::open_in_memory_with(replica_config(&primary))?;
    replica.replicate(stream_after(&primary, 0)).await?;
    let last = primary.get(&key!["k", 4u64]).await?.expect("written");

    let at = replica.promote().await?;
    assert_eq!(
        at,
        StreamPosition {
            epoch: 1,
            position: 6
        }
    );
    assert_eq!(replica.role(), Role::Primary);
    assert_eq!(replica.epoch_history()?.starts, vec![(1, 6)]);
    let versionstamp = replica.set(&key!["after"], KvValue::U64(1)).await?;
    assert!(
        versionstamp > last.versionstamp,
        "versionstamps keep growing"
    );
    assert_eq!(
        replica.stream_position(),
        StreamPosition {
            epoch: 1,
            position: 7
        }
    );

    // The old primary wrote on (never replicated): its history has diverged.
    write_some(&primary, 5, 6).await;
    let old = StreamPosition {
        epoch: 0,
        position: 6,
    };
    assert!(replica.check_follower(old).is_err());
    assert!(replica
        .check_follower(StreamPosition {
            epoch: 0,
            position: 5
        })
        .is_ok());
    // And a batch of the old epoch is refused by the promoted database.
    let stale = replica.replicate(stream_after(&primary, 5)).await.err();
    assert!(
        matches!(stale, Some(StoreError::Replication(_))),
        "{stale:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_sync_write_waits_for_the_acknowledgement() -> Result<(), StoreError> {
    let config = Config::default().replication(
        ReplicationConfig::default()
            .stream(RETAINED)
            .sync(1, 60_000),
    );
    let primary = Database::open_in_memory_with(config)?;
    let refused = primary.set(&key!["a"], KvValue::U64(1)).await.err();
    assert!(
        matches!(
            refused.as_ref().map(StoreError::root),
            Some(StoreError::ReplicasUnavailable(_))
        ),
        "no replica connected: {refused:?}"
    );
    let gate = primary.sync_gate().expect("a gate");
    gate.register(7, None, 0);
    let mut newest = primary.stream_log().expect("a stream").subscribe();
    let writer = {
        let primary = primary.clone();
        tokio::spawn(async move { primary.set(&key!["a"], KvValue::U64(1)).await })
    };
    // Durable on the primary and in the stream, but neither answered nor visible yet.
    newest.wait_for(|p| *p >= 1).await.expect("streamed");
    assert!(!writer.is_finished());
    assert_eq!(
        primary.get(&key!["a"]).await?,
        None,
        "not published before the ack"
    );
    assert!(gate.ack(7, 1));
    assert!(matches!(writer.await, Ok(Ok(_))));
    assert!(primary.get(&key!["a"]).await?.is_some());
    Ok(())
}

#[tokio::test]
async fn an_unconfirmed_write_is_never_acknowledged() -> Result<(), StoreError> {
    let config =
        Config::default().replication(ReplicationConfig::default().stream(RETAINED).sync(1, 100));
    let primary = Database::open_in_memory_with(config)?;
    primary.sync_gate().expect("a gate").register(7, None, 0);
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        primary.set(&key!["a"], KvValue::U64(1)),
    )
    .await
    .expect("answered after the sync timeout");
    assert!(
        matches!(answer, Err(StoreError::ReplicationUnconfirmed(_))),
        "{answer:?}"
    );
    assert_eq!(primary.replication_status().unconfirmed_batches, 1);
    Ok(())
}

#[tokio::test]
async fn a_promoted_directory_opens_as_a_primary() -> Result<(), StoreError> {
    let primary = Database::open_in_memory_with(primary_config())?;
    write_some(&primary, 0, 3).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = Database::open_with(dir.path(), replica_config(&primary))?;
    replica.replicate(stream_after(&primary, 0)).await?;
    let marker = dir.path().join(cairn_store::replication::MARKER_FILE);
    assert!(marker.exists());
    replica.promote().await?;
    assert!(!marker.exists());
    replica.close();
    let reopened = Database::open(dir.path())?;
    assert_eq!(reopened.role(), Role::Primary);
    assert_eq!(
        reopened.get(&key!["k", 2u64]).await?,
        primary.get(&key!["k", 2u64]).await?
    );
    Ok(())
}
