//! The write lease of a failover group's primary (`docs/design/failover.md`).
//!
//! A node elected through a coordinator (etcd) holds its leadership under a lease that
//! expires unless renewed. The server extends [`WriteLease`] after each successful renewal
//! to `the instant the renewal was sent + TTL − margin`, measured on this machine's monotonic
//! clock; the pipeline consults it beside the synchronous-replication gate:
//!
//! - a write that arrives when the lease is not valid is refused before it enters the
//!   pipeline ([`crate::StoreError::NotLeader`], wrapped in `NotApplied`: safe to send
//!   again);
//! - a batch the completion would finish after the lease's end is finished *unconfirmed*
//!   (`ReplicationUnconfirmed`, never acknowledged), as a batch past the sync timeout is.
//!
//! So no acknowledgement is decided after the coordinator could have let another node take
//! over. One [`WriteLease`] is shared by every database of the server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Until when this server may acknowledge writes as the group's primary.
#[derive(Debug)]
pub struct WriteLease {
    /// The origin of `valid_until_ns`.
    base: Instant,
    /// Nanoseconds after `base` until which the lease holds; 0: not held.
    valid_until_ns: AtomicU64,
}

impl Default for WriteLease {
    fn default() -> Self {
        WriteLease::new()
    }
}

impl WriteLease {
    /// A lease not held.
    pub fn new() -> Self {
        WriteLease {
            base: Instant::now(),
            valid_until_ns: AtomicU64::new(0),
        }
    }

    /// The lease holds until `until` (never moved backwards by a late renewal's answer).
    pub fn extend_to(&self, until: Instant) {
        let ns = until.saturating_duration_since(self.base).as_nanos();
        let ns = u64::try_from(ns).unwrap_or(u64::MAX).max(1);
        self.valid_until_ns.fetch_max(ns, Ordering::AcqRel);
    }

    /// The lease is lost (or given up): nothing is acknowledged from now on.
    pub fn revoke(&self) {
        self.valid_until_ns.store(0, Ordering::Release);
    }

    /// Whether the lease holds at `now`.
    pub fn valid_at(&self, now: Instant) -> bool {
        let until = self.valid_until_ns.load(Ordering::Acquire);
        until != 0 && (now.saturating_duration_since(self.base).as_nanos() as u64) < until
    }

    /// Time left on the lease (zero when it is not held or has passed).
    pub fn remaining(&self) -> Duration {
        let until = self.valid_until_ns.load(Ordering::Acquire);
        if until == 0 {
            return Duration::ZERO;
        }
        let now = Instant::now()
            .saturating_duration_since(self.base)
            .as_nanos() as u64;
        Duration::from_nanos(until.saturating_sub(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_holds_until_its_end_and_never_moves_back() {
        let lease = WriteLease::new();
        let now = Instant::now();
        assert!(!lease.valid_at(now), "not held at first");
        lease.extend_to(now + Duration::from_secs(10));
        assert!(lease.valid_at(now));
        assert!(!lease.valid_at(now + Duration::from_secs(11)));
        lease.extend_to(now + Duration::from_secs(5));
        assert!(
            lease.valid_at(now + Duration::from_secs(9)),
            "not moved back"
        );
        lease.revoke();
        assert!(!lease.valid_at(now));
        assert_eq!(lease.remaining(), Duration::ZERO);
    }
}
