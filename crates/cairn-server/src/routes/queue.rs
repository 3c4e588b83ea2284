//! cairn's queue extension beside KV Connect (`docs/protocol.md`):
//! `POST <endpoint>/queue/{enqueue,dequeue,ack,nack,stats}`, on the same data endpoint and with
//! the same data tokens as `snapshot_read`/`atomic_write`/`watch`.
//!
//! - `enqueue` takes an `AtomicWrite` holding enqueues only and answers `AtomicWriteOutput`,
//!   exactly like `atomic_write` (read-only tokens get `AW_WRITE_DISABLED`).
//! - `dequeue` leases up to `max_messages` messages; when none is ready it long-polls on
//!   [`Database::next_delivery`] for at most `wait_ms` (bounded by
//!   [`QUEUE_DEQUEUE_WAIT_MS_MAX`]), then answers empty. Shutdown ends a long-poll at once.
//!   At most [`QUEUE_POLLS_PER_TOKEN_MAX`] long-polls per access token wait at a time.
//! - `ack`/`nack` settle several delivery ids, each on its own, concurrently (so their
//!   commits share group commits); a request none of whose ids was held is a 409.
//! - `stats` reports the queue's counts.
//!
//! Dequeue, ack and nack change the queue's state, so a read-only token gets 403.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::limits::QUEUE_POLLS_PER_TOKEN_MAX;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use cairn_proto::limits::{
    QUEUE_DEQUEUE_BATCH_MAX, QUEUE_DEQUEUE_WAIT_MS_MAX, QUEUE_SETTLE_BATCH_MAX,
};
use cairn_proto::messages as pb;
use cairn_proto::queue as q;
use cairn_store::{Database, Delivery, DeliveryId, NackOutcome, StoreError};
use parking_lot::Mutex;

use super::{data_request, protobuf, DataRequest};
use crate::config::Access;
use crate::error::ApiError;
use crate::registry::DEFAULT_DATABASE;
use crate::App;

/// The queue routes, for the default database and for named ones.
pub(crate) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/data/queue/{op}", post(default_database))
        .route("/db/{name}/data/queue/{op}", post(named_database))
}

async fn default_database(
    State(app): State<Arc<App>>,
    Path(op): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = data_request(app, DEFAULT_DATABASE, &headers, body).await?;
    dispatch(request, &op).await
}

async fn named_database(
    State(app): State<Arc<App>>,
    Path((name, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = data_request(app, &name, &headers, body).await?;
    dispatch(request, &op).await
}

async fn dispatch(request: DataRequest, op: &str) -> Result<Response, ApiError> {
    match op {
        "enqueue" => enqueue(request).await,
        "dequeue" => dequeue(request).await,
        "ack" => settle(request, Settle::Ack).await,
        "nack" => settle(request, Settle::Nack).await,
        "stats" => stats(request).await,
        other => Err(ApiError::NotFound(format!("no queue operation {other:?}"))),
    }
}

/// Refuses a read-only token for an operation that changes the queue.
fn require_write(request: &DataRequest, op: &str) -> Result<(), ApiError> {
    match request.grant.access {
        Access::ReadWrite => Ok(()),
        Access::ReadOnly => Err(ApiError::Forbidden(format!(
            "a read-only token cannot {op}: it changes the queue"
        ))),
    }
}

async fn enqueue(request: DataRequest) -> Result<Response, ApiError> {
    let write: pb::AtomicWrite = cairn_proto::decode(&request.body)?;
    if !write.checks.is_empty() || !write.mutations.is_empty() {
        return Err(ApiError::BadRequest(
            "queue/enqueue takes enqueues only; send checks and mutations to atomic_write".into(),
        ));
    }
    if write.enqueues.is_empty() {
        return Err(ApiError::BadRequest(
            "queue/enqueue needs at least one enqueue".into(),
        ));
    }
    super::atomic_write::commit(&request, write).await
}

async fn dequeue(request: DataRequest) -> Result<Response, ApiError> {
    require_write(&request, "dequeue")?;
    let ask: q::QueueDequeue = cairn_proto::decode(&request.body)?;
    let max = match ask.max_messages {
        0 => 1,
        n if n as usize > QUEUE_DEQUEUE_BATCH_MAX => {
            return Err(ApiError::BadRequest(format!(
                "max_messages of {n} exceeds {QUEUE_DEQUEUE_BATCH_MAX}"
            )))
        }
        n => n as usize,
    };
    let visibility = Duration::from_millis(ask.visibility_timeout_ms);
    let wait = Duration::from_millis(ask.wait_ms.min(QUEUE_DEQUEUE_WAIT_MS_MAX));
    let db = &request.db;
    // Validates the visibility timeout (400) before anything waits.
    let first = match db.dequeue(visibility)? {
        Some(delivery) => Some(delivery),
        None if wait.is_zero() => None,
        None => long_poll(&request, visibility, wait).await?,
    };
    let mut deliveries = Vec::new();
    if let Some(first) = first {
        deliveries.push(first);
        // Only what is ready now: the caller gets its first message without further delay.
        while deliveries.len() < max {
            match db.dequeue(visibility) {
                Ok(Some(delivery)) => deliveries.push(delivery),
                Ok(None) => break,
                // The leases taken so far are answered; the error shows on the next request.
                Err(e) => {
                    tracing::debug!(error = %e, "dequeue stopped filling a batch");
                    break;
                }
            }
        }
    }
    Ok(protobuf(&q::QueueDequeueOutput {
        deliveries: deliveries.into_iter().map(delivery_to_proto).collect(),
    }))
}

/// Waits for a first ready message, for at most `wait`; `None` when the wait ends empty or
/// the server begins shutting down.
async fn long_poll(
    request: &DataRequest,
    visibility: Duration,
    wait: Duration,
) -> Result<Option<Delivery>, ApiError> {
    let _slot = take_poll_slot(&request.app, request.grant.index)?;
    let mut closing = request.app.closing.subscribe();
    // `next_delivery` leases only in its synchronous part, so dropping it on timeout or
    // shutdown never loses a lease.
    tokio::select! {
        delivered = tokio::time::timeout(wait, request.db.next_delivery(visibility)) => {
            match delivered {
                Ok(delivery) => Ok(Some(delivery?)),
                Err(_elapsed) => Ok(None),
            }
        }
        _ = closing.wait_for(|closing| *closing) => Ok(None),
    }
}

fn delivery_to_proto(delivery: Delivery) -> q::QueueDelivery {
    q::QueueDelivery {
        delivery_id: delivery.id.to_bytes().to_vec(),
        attempt: delivery.attempt(),
        lease_deadline_ms: delivery.lease_deadline_ms,
        payload: delivery.payload,
    }
}

#[derive(Clone, Copy)]
enum Settle {
    Ack,
    Nack,
}

async fn settle(request: DataRequest, how: Settle) -> Result<Response, ApiError> {
    let op = match how {
        Settle::Ack => "ack",
        Settle::Nack => "nack",
    };
    require_write(&request, op)?;
    let ask: q::QueueSettle = cairn_proto::decode(&request.body)?;
    let count = ask.delivery_ids.len();
    if count == 0 || count > QUEUE_SETTLE_BATCH_MAX {
        return Err(ApiError::BadRequest(format!(
            "{op} takes 1..={QUEUE_SETTLE_BATCH_MAX} delivery ids, got {count}"
        )));
    }
    let ids = ask
        .delivery_ids
        .iter()
        .map(|bytes| DeliveryId::from_bytes(bytes))
        .collect::<Result<Vec<_>, _>>()?;
    // Concurrently, so that the ids' commits share the pipeline's group commits.
    let settled =
        futures_util::future::join_all(ids.iter().map(|id| settle_one(&request.db, id, how))).await;
    // One id refused before submission promises nothing about the others: unless none of them
    // changed anything, the answer must not carry the not-applied mark (docs/protocol.md §8).
    let changed_any = settled.iter().any(|r| {
        !matches!(
            r,
            Err(StoreError::NotApplied(_) | StoreError::DeliveryNotHeld { .. })
        )
    });
    let mut outcomes = Vec::with_capacity(count);
    let mut not_held = None;
    for result in settled {
        match result {
            Ok(outcome) => outcomes.push(outcome),
            Err(StoreError::NotApplied(cause)) if changed_any => return Err((*cause).into()),
            Err(e @ StoreError::DeliveryNotHeld { .. }) => {
                outcomes.push(q::QueueSettleOutcome {
                    status: q::QueueSettleStatus::QsNotHeld.into(),
                    ..Default::default()
                });
                not_held.get_or_insert(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    match not_held {
        // Nothing settled at all: a conflict the caller must hear about (409), never a 5xx.
        Some(e)
            if outcomes
                .iter()
                .all(|o| o.status == q::QueueSettleStatus::QsNotHeld as i32) =>
        {
            Err(e.into())
        }
        _ => Ok(protobuf(&q::QueueSettleOutput { outcomes })),
    }
}

async fn settle_one(
    db: &Database,
    id: &DeliveryId,
    how: Settle,
) -> cairn_store::Result<q::QueueSettleOutcome> {
    let (status, retry_at_ms, next_attempt) = match how {
        Settle::Ack => {
            db.ack(id).await?;
            (q::QueueSettleStatus::QsAcked, 0, 0)
        }
        Settle::Nack => match db.nack(id).await? {
            NackOutcome::Retry {
                ready_at_ms,
                next_attempt,
            } => (q::QueueSettleStatus::QsRetry, ready_at_ms, next_attempt),
            NackOutcome::DeadLettered => (q::QueueSettleStatus::QsDeadLettered, 0, 0),
        },
    };
    Ok(q::QueueSettleOutcome {
        status: status.into(),
        retry_at_ms,
        next_attempt,
    })
}

async fn stats(request: DataRequest) -> Result<Response, ApiError> {
    let _: q::QueueStatsRequest = cairn_proto::decode(&request.body)?;
    let db = request.db.clone();
    // Counting reads the whole queue keyspace: off the async workers.
    let stats = tokio::task::spawn_blocking(move || db.queue_stats())
        .await
        .map_err(|_| ApiError::Store(StoreError::Closed))??;
    Ok(protobuf(&q::QueueStatsOutput {
        ready: stats.ready,
        delayed: stats.delayed,
        in_flight: stats.in_flight,
        dead_lettered: stats.dead_lettered,
    }))
}

/// Long-polling dequeues per access token.
#[derive(Default)]
pub(crate) struct PollCounter {
    open: Mutex<HashMap<u16, usize>>,
}

/// One waiting long-poll; counted down when it ends, however it ends.
struct PollSlot {
    app: Arc<App>,
    token: u16,
}

impl Drop for PollSlot {
    fn drop(&mut self) {
        let mut open = self.app.queue_polls.open.lock();
        if let Some(n) = open.get_mut(&self.token) {
            *n = n.saturating_sub(1);
        }
    }
}

fn take_poll_slot(app: &Arc<App>, token: u16) -> Result<PollSlot, ApiError> {
    let mut open = app.queue_polls.open.lock();
    let n = open.entry(token).or_default();
    if *n >= QUEUE_POLLS_PER_TOKEN_MAX {
        return Err(ApiError::TooManyPolls(QUEUE_POLLS_PER_TOKEN_MAX));
    }
    *n += 1;
    Ok(PollSlot {
        app: app.clone(),
        token,
    })
}
