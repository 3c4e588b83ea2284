//! [`Client::listen_queue`]: the embedded `Database::listen_queue`, over the network. A driver
//! task takes free handler slots, leases that many messages in one long-polling `dequeue`,
//! and runs each handler in a task of its own: `Ok` acknowledges, `Err` or a panic negatively
//! acknowledges. Acknowledgements go to a settler task that sends them in batches (one
//! request for every ack waiting), which is what lets one listener keep up with tens of
//! thousands of messages a second; nacks are rare and go one by one.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::limits::{
    CLIENT_QUEUE_POLL_WAIT_MS, CLIENT_QUEUE_SETTLE_BATCH_MAX, CLIENT_RETRY_BACKOFF_MAX_MS,
};
use cairn_model::{KvQueueListener, RequestError};
use cairn_proto::limits::QUEUE_DEQUEUE_BATCH_MAX;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::{Delivery, DeliveryId};
use crate::error::{ClientError, Result};
use crate::Client;

/// How [`Client::listen_queue`] consumes: the embedded listener's options.
pub use cairn_model::QueueListenOptions;

/// A running [`Client::listen_queue`]. Dropping it stops taking messages; handlers already
/// running finish and settle in the background.
#[must_use = "dropping the listener stops it"]
pub struct QueueListener {
    stop: watch::Sender<bool>,
    driver: JoinHandle<Result<()>>,
}

impl QueueListener {
    /// Stops taking messages, waits for the running handlers and for their messages to be
    /// settled. Returns the error the listener ended with if it ended by itself (the server
    /// refused the token, …).
    pub async fn close(self) -> Result<()> {
        let _ = self.stop.send(true);
        match self.driver.await {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Ok(()),
        }
    }

    /// True once the listener ended by itself.
    pub fn is_finished(&self) -> bool {
        self.driver.is_finished()
    }
}

impl KvQueueListener for QueueListener {
    type Error = ClientError;

    async fn close(self) -> Result<()> {
        QueueListener::close(self).await
    }
}

impl Client {
    /// Runs `handler` for every message of the database's queue, up to `options.concurrency`
    /// at a time, on the current Tokio runtime: `Ok` acknowledges the message, `Err` or a
    /// panic makes it retry after its backoff interval. Delivery is at least once: a handler
    /// may see a message again after a crash, a lost answer, or an overrun visibility timeout.
    /// Several listeners, in one process or many, share the queue: one attempt at a message
    /// goes to one of them.
    pub fn listen_queue<F, Fut, E>(
        &self,
        handler: F,
        options: QueueListenOptions,
    ) -> Result<QueueListener>
    where
        F: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        options.validate()?;
        let bad = |reason: String| ClientError::Request(RequestError::Argument(reason));
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| bad("listen_queue needs a running Tokio runtime".into()))?;
        let (stop, stopped) = watch::channel(false);
        let driver = runtime.spawn(drive(self.clone(), Arc::new(handler), options, stopped));
        Ok(QueueListener { stop, driver })
    }
}

/// Takes free handler slots, leases as many messages, starts their handlers; until told to
/// stop. Then waits for the handlers and the settler.
async fn drive<F, Fut, E>(
    client: Client,
    handler: Arc<F>,
    options: QueueListenOptions,
    mut stopped: watch::Receiver<bool>,
) -> Result<()>
where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(options.concurrency));
    let (acks, pending) = mpsc::unbounded_channel();
    let settler = tokio::spawn(settle_acks(client.clone(), pending));
    let mut handlers = JoinSet::new();
    let wait = Duration::from_millis(CLIENT_QUEUE_POLL_WAIT_MS);
    let outcome = loop {
        let slot = tokio::select! {
            biased;
            _ = stopped.changed() => break Ok(()),
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break Ok(()),
            },
        };
        let mut taken = vec![slot];
        while taken.len() < QUEUE_DEQUEUE_BATCH_MAX {
            match slots.clone().try_acquire_owned() {
                Ok(slot) => taken.push(slot),
                Err(_) => break,
            }
        }
        let dequeued = tokio::select! {
            biased;
            // Leases the abandoned request may have taken expire and are delivered again.
            _ = stopped.changed() => break Ok(()),
            dequeued = client.dequeue(taken.len(), options.visibility_timeout, wait) => dequeued,
        };
        let deliveries = match dequeued {
            Ok(deliveries) => deliveries,
            Err(e) if is_permanent(&e) => break Err(e),
            Err(e) => {
                // The transport already retried for its whole budget: the server is away.
                // Keep listening (it may come back), without spinning.
                tracing::warn!(error = %e, "queue dequeue failed; retrying");
                tokio::time::sleep(Duration::from_millis(CLIENT_RETRY_BACKOFF_MAX_MS)).await;
                continue;
            }
        };
        while handlers.try_join_next().is_some() {}
        // Slots without a message go back (dropped with `taken`).
        for (delivery, slot) in deliveries.into_iter().zip(taken.drain(..)) {
            let run = handle(
                client.clone(),
                handler.clone(),
                delivery,
                acks.clone(),
                slot,
            );
            handlers.spawn(run);
        }
    };
    while handlers.join_next().await.is_some() {}
    // Every handler has queued its ack: closing the channel lets the settler flush and end.
    drop(acks);
    if let Err(e) = settler.await {
        tracing::warn!(error = %e, "queue settler ended abnormally");
    }
    outcome
}

/// Errors that retrying cannot fix: the listener ends with them.
fn is_permanent(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Unauthorized { .. }
            | ClientError::Refused { .. }
            | ClientError::Request(_)
            | ClientError::Url { .. }
    )
}

/// Runs the handler on one delivery in a task of its own (so a panic is caught), then hands
/// an ack to the settler or sends a nack.
async fn handle<F, Fut, E>(
    client: Client,
    handler: Arc<F>,
    delivery: Delivery,
    acks: mpsc::UnboundedSender<DeliveryId>,
    _slot: OwnedSemaphorePermit,
) where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let id = delivery.id.clone();
    let attempt = delivery.attempt;
    let run = tokio::spawn(async move { handler(delivery).await });
    let failure = match run.await {
        Ok(Ok(())) => {
            if acks.send(id).is_err() {
                tracing::warn!("queue settler gone; the message will be retried");
            }
            return;
        }
        Ok(Err(e)) => e.to_string(),
        Err(e) => format!("panicked: {e}"),
    };
    tracing::warn!(attempt, error = %failure, "queue handler failed; the message will be retried");
    if let Err(e) = client.nack(&id).await {
        tracing::warn!(attempt, error = %e, "queue delivery not settled");
    }
}

/// Sends the acks handlers queue, every ack waiting in one request, until the channel closes.
async fn settle_acks(client: Client, mut pending: mpsc::UnboundedReceiver<DeliveryId>) {
    let mut batch = Vec::with_capacity(CLIENT_QUEUE_SETTLE_BATCH_MAX);
    while pending
        .recv_many(&mut batch, CLIENT_QUEUE_SETTLE_BATCH_MAX)
        .await
        > 0
    {
        match client.ack_many(&batch).await {
            Ok(outcomes) => {
                let stale = outcomes
                    .iter()
                    .filter(|o| **o == super::SettleOutcome::NotHeld)
                    .count();
                if stale > 0 {
                    tracing::warn!(stale, "queue acks refused: leases no longer held");
                }
            }
            Err(e) => tracing::warn!(error = %e, count = batch.len(), "queue acks not settled"),
        }
        batch.clear();
    }
}
