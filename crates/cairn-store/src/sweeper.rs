//! The expiry sweeper: a thread that finds keys whose expire-at has passed (through the
//! `expiry` index, earliest first) and asks the pipeline to remove them. The removal is a
//! commit like any other, with a versionstamp and a changelog entry, so watchers and replicas
//! see it. Reads already hide expired keys; the sweeper only reclaims their space.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_model::limits::{EXPIRY_SWEEP_INTERVAL_MS, EXPIRY_SWEEP_KEYS_MAX};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::error::Result;
use crate::pipeline::{ExpiryCandidate, Request, Shared};
use crate::record::split_expiry_key;
use crate::storage::{Keyspace, Scan};

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
    loop {
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if shared.poison.check().is_err() {
            continue;
        }
        match find_expired(shared) {
            Ok(candidates) if !candidates.is_empty() => {
                // A full queue means the pipeline is busy; the keys are already invisible,
                // so trying again next round is fine.
                let _ = requests.try_send(Request::Expire { candidates });
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiry sweep could not read the index"),
        }
    }
}

/// Index entries whose time has come, earliest first, at most one sweep's worth.
pub(crate) fn find_expired(shared: &Shared) -> Result<Vec<ExpiryCandidate>> {
    let now_ms = shared.config.clock.now_ms();
    let snapshot = shared.published.load().snapshot.clone();
    // Entries with expire-at <= now sort before (now + 1) as 8 big-endian bytes.
    let end = now_ms.saturating_add(1).to_be_bytes();
    let scan = Scan {
        start: &[],
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
