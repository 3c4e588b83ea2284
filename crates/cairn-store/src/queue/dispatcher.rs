//! The queue dispatcher: a thread that watches the clock for the queue. It turns expired
//! leases into retries (a consumer vanished or missed its visibility deadline), refills the
//! hub's window when it runs dry, and wakes a waiting consumer when a delayed message's time
//! comes. Like the expiry sweeper it changes storage only by sending requests to the commit
//! pipeline.
//!
//! It sleeps until the next deadline it knows of (a lease's or a delayed message's), or until
//! something changes: the hub kicks it when an earlier deadline appears, and a
//! [`ManualClock`](crate::ManualClock) kicks it whenever a test moves the clock, so tests
//! never wait on real time.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use super::hub::{Expired, QueueHub};
use super::ops::{after_failure, QueueSettle};
use crate::clock::ClockWatcher;
use crate::pipeline::{Request, Shared};
use crate::storage::Keyspace;

/// The running dispatcher thread.
pub(crate) struct Dispatcher {
    hub: Arc<QueueHub>,
    thread: JoinHandle<()>,
}

impl Dispatcher {
    pub(crate) fn start(
        shared: Arc<Shared>,
        hub: Arc<QueueHub>,
        requests: Sender<Request>,
    ) -> std::io::Result<Self> {
        let watcher: Weak<dyn ClockWatcher> = Arc::downgrade(&hub) as Weak<dyn ClockWatcher>;
        shared.config.clock.watch(watcher);
        let thread_hub = hub.clone();
        let thread = std::thread::Builder::new()
            .name("cairn-queue".into())
            .spawn(move || run(&shared, &thread_hub, &requests))?;
        Ok(Dispatcher { hub, thread })
    }

    /// Closes the hub (waiting consumers get `Closed`) and joins the thread, which drops its
    /// request sender so that the pipeline can finish.
    pub(crate) fn stop(self) {
        self.hub.close();
        let _ = self.thread.join();
    }
}

fn run(shared: &Shared, hub: &QueueHub, requests: &Sender<Request>) {
    let clock = shared.config.clock.as_ref();
    loop {
        let expired = hub.tick(&shared.published, clock.now_ms());
        if shared.poison.check().is_ok() {
            for lease in expired {
                if !retry(shared, hub, requests, lease) {
                    return;
                }
            }
        }
        if !hub.wait(clock) {
            return;
        }
    }
}

/// Sends the retry (or dead-lettering) of an expired lease; false once the pipeline is gone.
fn retry(shared: &Shared, hub: &QueueHub, requests: &Sender<Request>, lease: Expired) -> bool {
    let snapshot = shared.published.load().snapshot.clone();
    let record = match snapshot.get(Keyspace::Queue, &lease.key) {
        Ok(Some(record)) => record,
        Ok(None) => {
            // Nothing to retry (cannot happen while leased): just forget the lease.
            release(shared, hub, &lease, false);
            return true;
        }
        Err(e) => {
            tracing::error!(message = %lease.id, error = %e, "reading an expired queue message");
            release(shared, hub, &lease, true);
            return true;
        }
    };
    // Retry times count from the deadline, not from when this thread got to it, so a late
    // look changes nothing for the consumer.
    match after_failure(lease.id, lease.key, &record, lease.deadline_ms) {
        Ok((op, _)) => requests.send(Request::Queue { op, reply: None }).is_ok(),
        Err(e) => {
            tracing::error!(message = %lease.id, error = %e, "undecodable queue message");
            release(shared, hub, &lease, false);
            true
        }
    }
}

/// Ends a lease without a commit; `keep` puts the message back in line.
fn release(shared: &Shared, hub: &QueueHub, lease: &Expired, keep: bool) {
    let put = QueueSettle::Put(lease.key);
    let settles = [QueueSettle::Release(lease.id)];
    let now_ms = shared.config.clock.now_ms();
    if keep {
        hub.settle(settles.iter().chain(std::iter::once(&put)), now_ms);
    } else {
        hub.settle(settles.iter(), now_ms);
    }
}
