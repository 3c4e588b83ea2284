//! The index worker: a thread that drives every index being built or dropped to its end, one
//! step (`IndexOp::Step`, [`crate::limits::INDEX_STEP_KEYS`] keys) at a time.
//!
//! A step is an ordinary request of the commit pipeline, admitted like a caller's write and
//! answered once durable and published; the worker then reads the published catalog to see
//! what is left and sends the next step. So one step is in flight at a time, writes queued
//! meanwhile go before it, and after a restart the work resumes where the last durable step
//! left it (the cursor is in the index's `meta` record, written with the step's entries).
//! After each answer, [`Progress`] is bumped, so callers waiting for an index can look again.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;

use cairn_model::CommitResult;
use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::catalog::{Catalog, Phase};
use super::IndexOp;
use crate::error::Result;
use crate::pipeline::{reply, Request, Shared, WhenFull, COMMIT_REQUEST_OVERHEAD_BYTES};

/// Bumped after every index request is answered: waiters re-read the published catalog.
pub(crate) type Progress = tokio::sync::watch::Sender<u64>;

/// The running worker; [`IndexWorker::stop`] ends it after the step in flight.
pub(crate) struct IndexWorker {
    wake: Sender<()>,
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl IndexWorker {
    /// Starts the worker; it looks for work at once (an index left half-built or
    /// half-dropped by the previous run).
    pub(crate) fn start(
        shared: Arc<Shared>,
        requests: Sender<Request>,
        progress: Arc<Progress>,
    ) -> std::io::Result<IndexWorker> {
        let (wake, woken) = crossbeam_channel::bounded(1);
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let _ = wake.try_send(());
        let thread = std::thread::Builder::new()
            .name("cairn-indexer".into())
            .spawn(move || run(&shared, &requests, &progress, &woken, &stopped))?;
        Ok(IndexWorker { wake, stop, thread })
    }

    /// Tells the worker there may be new work.
    pub(crate) fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn run(
    shared: &Shared,
    requests: &Sender<Request>,
    progress: &Progress,
    woken: &Receiver<()>,
    stopped: &Receiver<()>,
) {
    loop {
        crossbeam_channel::select! {
            recv(woken) -> _ => {}
            recv(stopped) -> _ => return,
        }
        while let Some(name) = next_work(shared) {
            if matches!(stopped.try_recv(), Err(TryRecvError::Disconnected)) {
                return;
            }
            let answer = block_on(submit(shared, requests, IndexOp::Step(name.clone())));
            progress.send_modify(|n| *n += 1);
            if let Err(e) = answer {
                // A closed or poisoned database: nothing more can be done in this run.
                tracing::warn!(index = %name, error = %e, "index step failed");
                break;
            }
        }
    }
}

/// The first index of the published catalog still being built or dropped.
fn next_work(shared: &Shared) -> Option<String> {
    // A replica builds and drops as its primary's batches say; once promoted, it continues.
    if shared.poison.check().is_err() || !shared.replication.is_primary() {
        return None;
    }
    let snapshot = shared.published.load().snapshot.clone();
    let catalog = match Catalog::load(snapshot.as_ref()) {
        Ok(catalog) => catalog,
        Err(e) => {
            tracing::warn!(error = %e, "reading the index catalog failed");
            return None;
        }
    };
    catalog
        .defs()
        .iter()
        .find(|d| matches!(d.phase, Phase::Building { .. } | Phase::Dropping))
        .map(|d| d.spec.name.clone())
}

/// Admits and queues an index request, and waits for its answer (after its publish).
pub(crate) async fn submit(
    shared: &Shared,
    requests: &Sender<Request>,
    op: IndexOp,
) -> Result<CommitResult> {
    shared
        .poison
        .check()
        .map_err(crate::error::StoreError::not_applied)?;
    let ticket = shared
        .admission
        .admit(COMMIT_REQUEST_OVERHEAD_BYTES, WhenFull::Wait)
        .await?;
    let (reply, answer) = reply::channel_holding(ticket);
    shared
        .admission
        .send(requests, Request::Index { op, reply })?;
    answer.await
}

/// Runs a future to completion on this thread (the worker has no async runtime; the
/// futures it waits on are woken from the pipeline's threads).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}
