//! A failover group member's settings (`cairn serve --etcd ...`) and the relation between
//! its timeouts, checked at start-up.

use crate::limits::{
    FAILOVER_NODE_NAME_BYTES_MAX, FAILOVER_RENEW_MS_DEFAULT, FAILOVER_RETRY_TIMEOUT_MS_DEFAULT,
    FAILOVER_TTL_S_DEFAULT,
};

/// How a server takes part in a failover group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailoverSettings {
    /// etcd client URLs (`http://host:port`), tried in turn.
    pub etcd: Vec<String>,
    /// The group's name: its keys live under `/cairn/<group>/`.
    pub group: String,
    /// This member's name, unique in the group.
    pub node_name: String,
    /// The lease TTL, seconds: a leader that stops renewing loses the leader key this long
    /// after its last renewal.
    pub ttl_s: u64,
    /// Pause between rounds (renewal, reading the leader), ms.
    pub renew_ms: u64,
    /// Longest one etcd operation may take over all endpoints, ms.
    pub retry_timeout_ms: u64,
    /// Whether this member may become the primary (`--no-promote`: never).
    pub promote: bool,
    /// The databases the group replicates (default: the default database).
    pub databases: Vec<String>,
}

impl FailoverSettings {
    /// Settings with the defaults for the timeouts.
    pub fn new(etcd: Vec<String>, group: String, node_name: String) -> Self {
        FailoverSettings {
            etcd,
            group,
            node_name,
            ttl_s: FAILOVER_TTL_S_DEFAULT,
            renew_ms: FAILOVER_RENEW_MS_DEFAULT,
            retry_timeout_ms: FAILOVER_RETRY_TIMEOUT_MS_DEFAULT,
            promote: true,
            databases: vec![crate::registry::DEFAULT_DATABASE.to_owned()],
        }
    }

    /// Refuses settings that cannot work, with what to change. The rule between the
    /// timeouts is Patroni's (`loop_wait + 2 × retry_timeout ≤ ttl`): a leader whose
    /// renewal failed once, after a full round, still has time for one more attempt before
    /// its lease could expire.
    pub fn check(&self) -> Result<(), String> {
        if self.etcd.is_empty() {
            return Err("--etcd needs at least one URL".into());
        }
        if let Some(bad) = self.etcd.iter().find(|u| !u.starts_with("http://")) {
            return Err(format!("--etcd {bad:?}: each URL must start with http://"));
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= FAILOVER_NODE_NAME_BYTES_MAX
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !name_ok(&self.group) {
            return Err(format!(
                "--failover-group {:?}: 1 to {FAILOVER_NODE_NAME_BYTES_MAX} letters, digits, \
                 '-', '_' or '.'",
                self.group
            ));
        }
        if !name_ok(&self.node_name) {
            return Err(format!(
                "--node-name {:?}: 1 to {FAILOVER_NODE_NAME_BYTES_MAX} letters, digits, '-', \
                 '_' or '.'",
                self.node_name
            ));
        }
        if self.ttl_s == 0 || self.renew_ms == 0 || self.retry_timeout_ms == 0 {
            return Err(
                "--failover-ttl-s, --failover-renew-ms and --failover-retry-timeout-ms \
                        must be positive"
                    .into(),
            );
        }
        let budget = self
            .renew_ms
            .saturating_add(self.retry_timeout_ms.saturating_mul(2));
        if budget > self.ttl_s.saturating_mul(1000) {
            return Err(format!(
                "failover timeouts do not fit the lease: renew interval ({} ms) + 2 × retry \
                 timeout ({} ms) = {budget} ms must be at most the lease TTL ({} s); lower \
                 --failover-renew-ms or --failover-retry-timeout-ms, or raise --failover-ttl-s",
                self.renew_ms, self.retry_timeout_ms, self.ttl_s
            ));
        }
        if self.databases.is_empty() {
            return Err("a failover group needs at least one database".into());
        }
        Ok(())
    }

    /// The etcd key of the group's leader.
    pub(crate) fn leader_key(&self) -> Vec<u8> {
        format!("/cairn/{}/leader", self.group).into_bytes()
    }

    /// The etcd key of the group's epoch counter.
    pub(crate) fn epoch_key(&self) -> Vec<u8> {
        format!("/cairn/{}/epoch", self.group).into_bytes()
    }

    /// The prefix of the members' keys.
    pub(crate) fn members_prefix(&self) -> Vec<u8> {
        format!("/cairn/{}/members/", self.group).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeouts_must_fit_the_lease() {
        let mut s = FailoverSettings::new(
            vec!["http://127.0.0.1:2379".into()],
            "g".into(),
            "n1".into(),
        );
        assert_eq!(s.check(), Ok(()));
        s.ttl_s = 3;
        s.renew_ms = 500;
        s.retry_timeout_ms = 1000;
        assert_eq!(s.check(), Ok(()));
        s.retry_timeout_ms = 1300;
        let refused = s.check().expect_err("refused");
        assert!(refused.contains("3100 ms must be at most"), "{refused}");
        s.retry_timeout_ms = 1000;
        s.node_name = "a/b".into();
        assert!(s.check().is_err());
    }
}
