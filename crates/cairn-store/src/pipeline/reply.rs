//! The answer channel of one request: a oneshot whose sending is split in two, filling the
//! answer and waking the waiting task, so that the pipeline can fill every answer of a batch
//! first and then wake the callers in one burst.
//!
//! Why not `tokio::sync::oneshot`: its `send` wakes at once. Waking a task of a runtime whose
//! workers are parked costs a system call and a cross-CPU interrupt (about 25 µs on this
//! machine's VM); woken one by one, a worker runs its task and parks again before the next
//! answer is sent, so a batch of 64 answers cost ~50 such wake-ups, a third of the writer
//! thread's time. Woken in a burst, the first wake-up finds the rest already runnable.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use super::CommitResult;
use crate::error::{Result, StoreError};

struct Slot {
    /// The answer, once filled.
    answer: Option<Result<CommitResult>>,
    /// The task waiting for it, if it has polled already.
    waker: Option<Waker>,
    /// The sender is gone (filled or dropped): no answer will come after this.
    done: bool,
}

/// The pipeline's end: fill once, then wake.
pub(crate) struct Reply {
    slot: Arc<Mutex<Slot>>,
    /// The request's place in the commit queue, freed when the answer is given (or the
    /// request dropped): the queue's bound covers the whole way through the pipeline.
    _ticket: Option<super::sequencer::Ticket>,
}

/// The caller's end: a future of the answer, or `Closed` if the pipeline dropped the request.
pub(crate) struct Answer {
    slot: Arc<Mutex<Slot>>,
}

/// A connected pair.
pub(crate) fn channel() -> (Reply, Answer) {
    let slot = Arc::new(Mutex::new(Slot {
        answer: None,
        waker: None,
        done: false,
    }));
    let reply = Reply {
        slot: slot.clone(),
        _ticket: None,
    };
    (reply, Answer { slot })
}

/// A connected pair whose reply holds the request's place in the commit queue.
pub(crate) fn channel_holding(ticket: super::sequencer::Ticket) -> (Reply, Answer) {
    let (mut reply, answer) = channel();
    reply._ticket = Some(ticket);
    (reply, answer)
}

impl Reply {
    /// Stores the answer without waking the caller; returns the waker to call (after the
    /// rest of the batch is filled), if the caller is already waiting.
    pub(crate) fn fill(self, answer: Result<CommitResult>) -> Option<Waker> {
        let mut slot = self.slot.lock();
        slot.answer = Some(answer);
        slot.done = true;
        slot.waker.take()
        // `Drop` runs next and finds the slot done: no second wake.
    }

    /// Fills and wakes at once, for a lone answer.
    pub(crate) fn send(self, answer: Result<CommitResult>) {
        if let Some(waker) = self.fill(answer) {
            waker.wake();
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.slot.lock();
            if slot.done {
                return;
            }
            slot.done = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Future for Answer {
    type Output = Result<CommitResult>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.lock();
        if let Some(answer) = slot.answer.take() {
            return Poll::Ready(answer);
        }
        if slot.done {
            return Poll::Ready(Err(StoreError::Closed));
        }
        match &slot.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed() -> Result<CommitResult> {
        Ok(CommitResult::Committed {
            versionstamp: cairn_model::Versionstamp::new(7, 0),
        })
    }

    #[tokio::test]
    async fn answer_filled_before_polling_is_ready() {
        let (reply, answer) = channel();
        assert!(reply.fill(committed()).is_none());
        assert!(answer.await.is_ok());
    }

    #[tokio::test]
    async fn waiting_caller_is_woken_by_the_returned_waker() {
        let (reply, answer) = channel();
        let waiter = tokio::spawn(answer);
        tokio::task::yield_now().await;
        let filler = std::thread::spawn(move || {
            // Poll until the waiting task has registered itself, then fill and wake.
            loop {
                if reply.slot.lock().waker.is_some() {
                    break;
                }
                std::thread::yield_now();
            }
            if let Some(waker) = reply.fill(committed()) {
                waker.wake();
            }
        });
        assert!(waiter.await.expect("waiter task").is_ok());
        filler.join().expect("filler thread");
    }

    #[tokio::test]
    async fn dropped_reply_closes_the_answer() {
        let (reply, answer) = channel();
        let waiter = tokio::spawn(answer);
        tokio::task::yield_now().await;
        drop(reply);
        assert!(matches!(
            waiter.await.expect("waiter task"),
            Err(StoreError::Closed)
        ));
    }
}
