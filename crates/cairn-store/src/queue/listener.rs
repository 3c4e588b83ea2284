//! `listen_queue`: the embedded consumer, built only on the lease primitives (so that the
//! network client can offer the same thing over the wire). A driver task takes a handler
//! slot, waits for a delivery, and runs the handler in a task of its own: `Ok` acknowledges,
//! `Err` or a panic negatively acknowledges. At most `concurrency` handlers run at once.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use cairn_model::KvQueueListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::delivery::Delivery;
use crate::db::Database;
use crate::error::{Result, StoreError};

/// How [`Database::listen_queue`] consumes (the one options type of every `listen_queue`).
pub use cairn_model::QueueListenOptions;

/// A running [`Database::listen_queue`]. Dropping it stops taking messages; handlers already
/// running finish and settle their messages in the background. While it runs it holds a
/// handle on the database, which therefore stays open until the listener stops (or
/// [`Database::close`] is called, which ends the listener with [`StoreError::Closed`]).
#[must_use = "dropping the listener stops it"]
pub struct QueueListener {
    stop: watch::Sender<bool>,
    driver: JoinHandle<Result<()>>,
}

impl QueueListener {
    /// Stops taking messages, waits for the running handlers to finish and their messages to
    /// be settled, and reports why the listener ended if not because of this call (e.g.
    /// [`StoreError::Closed`]).
    pub async fn close(self) -> Result<()> {
        let _ = self.stop.send(true);
        match self.driver.await {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// True once the listener ended by itself (the database closed or failed).
    pub fn is_finished(&self) -> bool {
        self.driver.is_finished()
    }
}

impl KvQueueListener for QueueListener {
    type Error = StoreError;

    async fn close(self) -> Result<()> {
        QueueListener::close(self).await
    }
}

impl Database {
    /// Runs `handler` for every message, up to `options.concurrency` at a time, on the
    /// current Tokio runtime: `Ok` acknowledges the message, `Err` or a panic makes it retry
    /// after its backoff interval (and dead-letter once its schedule is exhausted).
    /// Delivery is at least once: a handler may see a message again after a crash, or after
    /// it overran its visibility timeout.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use cairn_store::{Database, EnqueueOptions, QueueListenOptions};
    ///
    /// let db = Database::open_in_memory()?;
    /// let (seen, mut got) = tokio::sync::mpsc::unbounded_channel();
    /// let listener = db.listen_queue(
    ///     move |delivery| {
    ///         let seen = seen.clone();
    ///         async move { seen.send(delivery.payload).map_err(|_| "test ended") }
    ///     },
    ///     QueueListenOptions::default(),
    /// )?;
    /// db.enqueue(vec![0xff, 0x0f, 0x49, 0x02], EnqueueOptions::default()).await?;
    /// assert_eq!(got.recv().await, Some(vec![0xff, 0x0f, 0x49, 0x02]));
    /// listener.close().await?;
    /// # Ok::<(), cairn_store::StoreError>(())
    /// # }).unwrap();
    /// ```
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
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::InvalidArgument("listen_queue needs a running Tokio runtime".into())
        })?;
        let (stop, stopped) = watch::channel(false);
        let driver = runtime.spawn(drive(self.clone(), Arc::new(handler), options, stopped));
        Ok(QueueListener { stop, driver })
    }
}

/// Takes a handler slot, then a delivery, then starts the handler; until told to stop.
async fn drive<F, Fut, E>(
    db: Database,
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
    let mut handlers = JoinSet::new();
    let outcome = loop {
        // `changed` also ends when the listener is dropped (the sender is gone).
        let slot = tokio::select! {
            biased;
            _ = stopped.changed() => break Ok(()),
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break Ok(()),
            },
        };
        let delivery = tokio::select! {
            biased;
            _ = stopped.changed() => break Ok(()),
            delivery = db.next_delivery(options.visibility_timeout) => match delivery {
                Ok(delivery) => delivery,
                Err(e) => break Err(e),
            },
        };
        while handlers.try_join_next().is_some() {}
        handlers.spawn(handle(db.clone(), handler.clone(), delivery, slot));
    };
    while handlers.join_next().await.is_some() {}
    outcome
}

/// Runs the handler on one delivery in a task of its own (so a panic is caught), then
/// settles the delivery.
async fn handle<F, Fut, E>(
    db: Database,
    handler: Arc<F>,
    delivery: Delivery,
    _slot: OwnedSemaphorePermit,
) where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let id = delivery.id;
    let run = tokio::spawn(async move { handler(delivery).await });
    let settled = match run.await {
        Ok(Ok(())) => db.ack(&id).await,
        Ok(Err(e)) => {
            tracing::warn!(delivery = %id, error = %e, "queue handler failed; the message will be retried");
            db.nack(&id).await.map(|_| ())
        }
        Err(e) => {
            tracing::warn!(delivery = %id, error = %e, "queue handler panicked; the message will be retried");
            db.nack(&id).await.map(|_| ())
        }
    };
    if let Err(e) = settled {
        tracing::warn!(delivery = %id, error = %e, "queue delivery not settled");
    }
}
