//! The expiry sweeper: a thread that finds keys whose expire-at has passed (through the
//! `expiry` index, earliest first) and asks the pipeline to remove them. The removal is a
//! commit like any other, with a versionstamp and a changelog entry, so watchers and replicas
//! see it. Reads already hide expired keys; the sweeper only reclaims their space.
//!
//! Each removal leaves a tombstone at the head of the index until the engine compacts it
//! away, so a sweep does not start at the beginning of the index: it starts at the first
//! candidate of the sweep before, which steps over one sweep's tombstones at most. An entry
//! written behind that point (an expire-at already in the past) is invisible at once and is
//! reclaimed by the full sweep from the beginning every [`FULL_SWEEP_EVERY`] sweeps.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_model::limits::{EXPIRY_SWEEP_INTERVAL_MS, EXPIRY_SWEEP_KEYS_MAX};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::error::Result;
use crate::pipeline::{ExpiryCandidate, Request, Shared};
use crate::record::{expiry_key, split_expiry_key};
use crate::storage::{Keyspace, Scan};

/// Every this many sweeps, one starts at the beginning of the index (5 s at the interval).
const FULL_SWEEP_EVERY: u64 = 25;

/// The running sweeper; dropping `stop` ends it.
pub(crate) struct Sweeper {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Sweeper {
    pub(crate) fn start(
        shared: Arc<Shared>,
        requests: Sender<Request>,
    ) -> std::io::Result<Sweeper> {
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let thread = std::thread::Builder::new()
            .name("cairn-sweeper".into())
            .spawn(move || run(&shared, &requests, &stopped))?;
        Ok(Sweeper { stop, thread })
    }

    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn run(shared: &Shared, requests: &Sender<Request>, stopped: &Receiver<()>) {
    let interval = Duration::from_millis(EXPIRY_SWEEP_INTERVAL_MS);
    let mut start = Vec::new();
    for sweep in 1u64.. {
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if shared.poison.check().is_err() {
            continue;
        }
        if sweep.is_multiple_of(FULL_SWEEP_EVERY) {
            start.clear();
        }
        match find_expired(shared, &start) {
            Ok(candidates) => {
                let Some(first) = candidates.first() else {
                    continue;
                };
                let first = expiry_key(first.expire_at_ms, &first.key);
                // A full queue means the pipeline is busy; the keys are already invisible,
                // so trying again next round (from the same place) is fine.
                if requests.try_send(Request::Expire { candidates }).is_ok() {
                    start = first;
                }
            }
            Err(e) => tracing::warn!(error = %e, "expiry sweep could not read the index"),
        }
    }
}

/// Index entries from `start` whose time has come, earliest first, at most one sweep's worth.
pub(crate) fn find_expired(shared: &Shared, start: &[u8]) -> Result<Vec<ExpiryCandidate>> {
    let now_ms = shared.config.clock.now_ms();
    let snapshot = shared.published.load().snapshot.clone();
    // Entries with expire-at <= now sort before (now + 1) as 8 big-endian bytes.
    let end = now_ms.saturating_add(1).to_be_bytes();
    let scan = Scan {
        start,
        end: &end,
        reverse: false,
        limit: EXPIRY_SWEEP_KEYS_MAX,
    };
    let mut candidates = Vec::new();
    for (index_key, _) in snapshot.scan(Keyspace::Expiry, scan)? {
        let (expire_at_ms, key) = split_expiry_key(&index_key)?;
        candidates.push(ExpiryCandidate {
            key: key.to_vec(),
            expire_at_ms,
        });
    }
    Ok(candidates)
}
