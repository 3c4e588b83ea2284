//! A failover group's write lease, at the storage level: a primary whose lease is not valid
//! refuses writes before they enter the pipeline (nothing applied, safe to send again), and
//! finishes a batch that was waiting for its synchronous replica unconfirmed once the lease
//! has passed — even if the replica's acknowledgement comes afterwards. A replica promoted by
//! an election starts the election's epoch, and an older or equal epoch is refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_model::key;
use cairn_store::replication::{ReplicationConfig, StreamPosition, WriteLease};
use cairn_store::storage::{FaultStorage, MemoryStorage};
use cairn_store::{Config, Database, Kv, KvValue, StoreError};

const RETAINED: u64 = 1 << 20;

fn leased_primary(lease: &Arc<WriteLease>) -> Result<Database, StoreError> {
    Database::open_in_memory_with(
        Config::default().replication(
            ReplicationConfig::default()
                .stream(RETAINED)
                .sync(1, 60_000)
                .lease(lease.clone()),
        ),
    )
}

#[tokio::test]
async fn without_a_valid_lease_a_write_is_refused_before_it_applies() -> Result<(), StoreError> {
    let lease = Arc::new(WriteLease::new());
    let primary = leased_primary(&lease)?;
    primary.sync_gate().expect("a gate").register(7, None, 0);
    let refused = primary.set(&key!["a"], KvValue::U64(1)).await.err();
    assert!(
        matches!(&refused, Some(StoreError::NotApplied(cause)) if matches!(**cause, StoreError::NotLeader(_))),
        "{refused:?}"
    );
    assert_eq!(primary.stream_position().position, 0, "nothing applied");
    lease.extend_to(Instant::now() + Duration::from_secs(60));
    let writer = {
        let primary = primary.clone();
        tokio::spawn(async move { primary.set(&key!["a"], KvValue::U64(1)).await })
    };
    let mut newest = primary.stream_log().expect("a stream").subscribe();
    newest.wait_for(|p| *p >= 1).await.expect("streamed");
    assert!(primary.sync_gate().expect("a gate").ack(7, 1));
    assert!(
        matches!(writer.await, Ok(Ok(_))),
        "acknowledged while the lease holds"
    );
    Ok(())
}

#[tokio::test]
async fn a_batch_finished_after_the_lease_is_never_acknowledged() -> Result<(), StoreError> {
    let lease = Arc::new(WriteLease::new());
    lease.extend_to(Instant::now() + Duration::from_secs(60));
    let primary = leased_primary(&lease)?;
    let gate = primary.sync_gate().expect("a gate");
    gate.register(7, None, 0);
    let writer = {
        let primary = primary.clone();
        tokio::spawn(async move { primary.set(&key!["a"], KvValue::U64(1)).await })
    };
    let mut newest = primary.stream_log().expect("a stream").subscribe();
    newest.wait_for(|p| *p >= 1).await.expect("streamed");
    // The lease passes while the batch waits for its replica; the acknowledgement arrives
    // afterwards. The answer is decided after the lease: unconfirmed.
    lease.revoke();
    gate.ack(7, 1);
    assert_unconfirmed(writer).await;
    let refused = primary.set(&key!["b"], KvValue::U64(1)).await.err();
    assert!(
        matches!(
            refused.as_ref().map(StoreError::root),
            Some(StoreError::NotLeader(_))
        ),
        "{refused:?}"
    );
    Ok(())
}

/// Without synchronous replicas too: a batch admitted while the lease held, whose local sync
/// ends after the lease passed (a primary frozen mid-commit), is not acknowledged.
#[tokio::test]
async fn without_synchronous_replicas_an_answer_after_the_lease_is_unconfirmed_too(
) -> Result<(), StoreError> {
    let lease = Arc::new(WriteLease::new());
    lease.extend_to(Instant::now() + Duration::from_secs(60));
    let storage = Arc::new(FaultStorage::new(MemoryStorage::new()));
    let primary = Database::open_storage(
        storage.clone(),
        Config::default().replication(
            ReplicationConfig::default()
                .stream(RETAINED)
                .lease(lease.clone()),
        ),
    )?;
    let syncs_at_open = storage.sync_count();
    storage.hold_syncs(true);
    let writer = {
        let primary = primary.clone();
        tokio::spawn(async move { primary.set(&key!["a"], KvValue::U64(1)).await })
    };
    // The batch is admitted and its sync has started (and is held).
    let deadline = Instant::now() + Duration::from_secs(30);
    while storage.sync_count() == syncs_at_open {
        assert!(
            Instant::now() < deadline,
            "the write never reached its sync"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lease.revoke();
    storage.hold_syncs(false);
    assert_unconfirmed(writer).await;
    Ok(())
}

#[tokio::test]
async fn an_election_promotes_to_its_epoch_and_never_back() -> Result<(), StoreError> {
    let primary = Database::open_in_memory_with(
        Config::default().replication(ReplicationConfig::default().stream(RETAINED)),
    )?;
    primary.set(&key!["a"], KvValue::U64(1)).await?;
    let replica = Database::open_in_memory_with(
        Config::default().replication(
            ReplicationConfig::default()
                .replica_of("")
                .stream(RETAINED)
                .database_id(*primary.database_id().as_bytes()),
        ),
    )?;
    let log = primary.stream_log().expect("a stream");
    replica
        .replicate(log.read(0, usize::MAX).expect("retained"))
        .await?;
    assert!(replica.follow_primary("http://elsewhere.invalid"));
    let refused = replica.promote_to_epoch(Some(0)).await.err();
    assert!(
        matches!(refused, Some(StoreError::Replication(_))),
        "{refused:?}"
    );
    let at = replica.promote_to_epoch(Some(7)).await?;
    assert_eq!(
        at,
        StreamPosition {
            epoch: 7,
            position: 2
        }
    );
    assert_eq!(replica.epoch_history()?.starts, vec![(7, 2)]);
    assert!(
        !replica.follow_primary("http://elsewhere.invalid"),
        "a primary now"
    );
    Ok(())
}

/// The write `writer` waits for is answered unconfirmed (durable here, not acknowledged).
async fn assert_unconfirmed(
    writer: tokio::task::JoinHandle<cairn_store::Result<cairn_model::Versionstamp>>,
) {
    let answer = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("answered")
        .expect("task");
    assert!(
        matches!(answer, Err(StoreError::ReplicationUnconfirmed(_))),
        "{answer:?}"
    );
}
