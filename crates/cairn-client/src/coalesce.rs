//! Coalescing of concurrent point reads.
//!
//! Every KV Connect request costs a round trip and, on both ends, system calls and HTTP
//! parsing that dwarf the read itself. When many tasks `get` at once (a web server answering
//! requests, say), their reads are carried by a few snapshot reads of up to
//! `ranges_per_read_max` ranges each: at most [`CLIENT_COALESCED_READS_IN_FLIGHT_MAX`] such
//! requests are in flight, and reads issued meanwhile wait for the next one. A read issued
//! when nothing is in flight goes out at once, alone, so an idle client adds no latency.
//!
//! Semantics are unchanged: each read is served from a snapshot taken after it was issued and
//! before it is answered. Reads that share a request even share one snapshot.

use crate::limits::CLIENT_COALESCED_READS_IN_FLIGHT_MAX;
use cairn_model::ReadRange;
use cairn_proto::EntryParts;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::error::{ClientError, Result};
use crate::Client;

type Reply = oneshot::Sender<Result<Vec<EntryParts>>>;

/// Point reads waiting for a request, and how many requests are in flight.
#[derive(Default)]
pub(crate) struct Coalescer {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    waiting: Vec<(ReadRange, Reply)>,
    in_flight: usize,
}

impl Coalescer {
    /// Reads one range, in a request shared with other reads issued meanwhile.
    pub(crate) async fn read(client: &Client, range: ReadRange) -> Result<Vec<EntryParts>> {
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut state = client.inner.coalescer.state.lock();
            state.waiting.push((range, reply));
            take_slot(&mut state)
        };
        if lead {
            // On a task of its own: if this caller gives up waiting, the reads of others in
            // the batch are still answered and the slot is still returned.
            tokio::spawn(send_next(client.clone()));
        }
        answer
            .await
            .map_err(|_| ClientError::Protocol("a coalesced read was dropped unanswered".into()))?
    }
}

fn take_slot(state: &mut State) -> bool {
    if state.in_flight < CLIENT_COALESCED_READS_IN_FLIGHT_MAX && !state.waiting.is_empty() {
        state.in_flight += 1;
        true
    } else {
        false
    }
}

/// Sends the oldest waiting reads as one snapshot read and answers them; if reads are still
/// waiting afterwards, starts a new request for them.
async fn send_batch(client: Client) {
    let batch_max = client.inner.options.limits.ranges_per_read_max.max(1);
    let batch: Vec<(ReadRange, Reply)> = {
        let mut state = client.inner.coalescer.state.lock();
        let n = state.waiting.len().min(batch_max);
        state.waiting.drain(..n).collect()
    };
    let (ranges, replies): (Vec<ReadRange>, Vec<Reply>) = batch.into_iter().unzip();
    // Another request may have taken every waiting read since this one was started.
    let result = if ranges.is_empty() {
        Ok(Vec::new())
    } else {
        client.snapshot_read(ranges).await
    };
    match result {
        Ok(results) => {
            for (reply, entries) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(entries));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
    let more = {
        let mut state = client.inner.coalescer.state.lock();
        state.in_flight -= 1;
        take_slot(&mut state)
    };
    if more {
        tokio::spawn(send_next(client));
    }
}

/// [`send_batch`], boxed: a future that spawns itself needs a type the compiler can name.
fn send_next(client: Client) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(send_batch(client))
}
