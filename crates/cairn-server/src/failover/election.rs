//! A member's loop. Every round (`--failover-renew-ms`):
//!
//! 1. renew its lease (grant one first); a leader extends its write lease to `the renewal's
//!    send time + TTL − margin` after each success;
//! 2. read the leader key: a leader that finds the key gone, or another's, steps down; a
//!    member that finds another leader follows it;
//! 3. with no leader: stop following (positions freeze), report its positions for the
//!    coming epoch, and run — a transaction that creates the leader key under its lease and
//!    moves the epoch counter — only if every live member reported and none is more up to
//!    date (ties: the smaller name);
//! 4. publish its member key (URL, positions, epoch, the round it reports for).

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_store::Clock;
use serde::{Deserialize, Serialize};

use super::etcd::{Compare, Etcd, EtcdError};
use super::{roles, Failover, LastFailover};
use crate::limits::{FAILOVER_CLOCK_RATE_ERROR_PPM, FAILOVER_LEASE_MARGIN_MS};
use crate::App;

/// The leader key's value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Leader {
    pub name: String,
    pub url: String,
    pub epoch: u64,
}

/// A member key's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Member {
    pub name: String,
    pub url: String,
    pub promote: bool,
    /// The newest epoch of its databases.
    pub epoch: u64,
    /// The sum of its databases' positions.
    pub position: u64,
    /// The epoch counter's value it reported for while no leader was elected (its
    /// followers stopped, so the positions are final); 0 otherwise... see `Round`.
    pub round: Option<u64>,
}

impl Member {
    fn rank(&self) -> (u64, u64, Reverse<String>) {
        (self.epoch, self.position, Reverse(self.name.clone()))
    }
}

/// The member's own lease.
struct Lease {
    id: i64,
    /// Until when it holds for sure, on this machine's clock.
    until: Instant,
}

struct Loop {
    app: Arc<App>,
    etcd: Etcd,
    lease: Option<Lease>,
    /// The leader this member follows or is.
    leader: Option<Leader>,
    leading: bool,
    /// The round this member reported for (followers stopped).
    reported: Option<u64>,
}

pub(crate) async fn run(app: Arc<App>) {
    let Some(failover) = app.failover.clone() else {
        return;
    };
    let settings = &failover.settings;
    let etcd = Etcd::new(
        settings.etcd.clone(),
        Duration::from_millis(settings.retry_timeout_ms),
    );
    tracing::info!(group = %settings.group, node = %settings.node_name, etcd = ?settings.etcd, ttl_s = settings.ttl_s, "joining the failover group");
    let mut this = Loop {
        app: app.clone(),
        etcd,
        lease: None,
        leader: None,
        leading: false,
        reported: None,
    };
    let mut closing = app.closing.subscribe();
    let interval = Duration::from_millis(settings.renew_ms);
    let mut failing = false;
    loop {
        let started = Instant::now();
        match this.round(&failover).await {
            Ok(()) => {
                if failing {
                    tracing::info!("etcd reached again");
                }
                failing = false;
                failover.update(|s| s.etcd_error = None);
            }
            Err(e) => {
                // Once per outage at warn level; every round at debug.
                if failing {
                    tracing::debug!(error = %e, "failover round failed");
                } else {
                    tracing::warn!(error = %e, "failover round failed; retrying every round");
                }
                failing = true;
                failover.update(|s| s.etcd_error = Some(e.to_string()));
            }
        }
        let pause = interval.saturating_sub(started.elapsed());
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = closing.wait_for(|c| *c) => break,
        }
    }
    // Shutting down: give the leadership up at once rather than after the TTL.
    failover.lease.revoke();
    if let Some(lease) = this.lease.take() {
        let _ = this.etcd.revoke(lease.id).await;
    }
}

impl Loop {
    async fn round(&mut self, failover: &Failover) -> Result<(), EtcdError> {
        self.renew(failover).await?;
        let Some(lease) = self.lease.as_ref().map(|l| l.id) else {
            return Ok(());
        };
        let settings = &failover.settings;
        let leader = self.etcd.get(&settings.leader_key()).await?;
        let leader = leader.and_then(|kv| {
            let value: Option<Leader> = serde_json::from_slice(&kv.value).ok();
            value.map(|l| (l, kv.lease, kv.mod_revision))
        });
        match leader {
            Some((l, l_lease, revision)) if l.name == settings.node_name && l_lease == lease => {
                if !self.leading {
                    // Still the key's holder after stepping down (etcd was unreachable for
                    // longer than the write lease, and kept the key): its databases were
                    // demoted, so it leads again in a new epoch.
                    self.reelect(failover, lease, l, revision).await?;
                }
            }
            Some((l, _, _)) if l.name == settings.node_name => {
                // This member's key from before a restart, under its former lease: wait for
                // it to expire, then run.
                if self.leading {
                    self.step_down(failover, "the leader key is not under its lease")
                        .await;
                }
            }
            Some((l, _, _)) => {
                if self.leading {
                    self.step_down(failover, "another member holds the leader key")
                        .await;
                }
                self.follow(failover, l).await;
            }
            None => {
                if self.leading {
                    self.step_down(failover, "the leader key is gone").await;
                }
                self.candidate(failover, lease).await?;
            }
        }
        self.publish(failover, lease).await
    }

    /// Renews (or grants) the member's lease; a leader's write lease follows it.
    async fn renew(&mut self, failover: &Failover) -> Result<(), EtcdError> {
        let settings = &failover.settings;
        let ttl = Duration::from_secs(settings.ttl_s);
        let sent = Instant::now();
        let id = match &self.lease {
            Some(lease) => {
                let left = self.etcd.keep_alive(lease.id).await;
                match left {
                    Ok(left) if left > 0 => Some(lease.id),
                    Ok(_) => {
                        tracing::warn!(lease = lease.id, "the member's etcd lease expired");
                        self.lease = None;
                        if self.leading {
                            self.step_down(failover, "its lease expired").await;
                        }
                        None
                    }
                    Err(e) => {
                        if self.leading && failover.lease.remaining().is_zero() {
                            self.step_down(failover, "its lease could not be renewed in time")
                                .await;
                        }
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        let id = match id {
            Some(id) => id,
            None => self.etcd.grant(settings.ttl_s).await?,
        };
        let until = sent + lease_span(ttl);
        self.lease = Some(Lease { id, until });
        if self.leading {
            failover.lease.extend_to(until);
        }
        Ok(())
    }

    /// No leader: stop following, report, and run when this member is the one to.
    async fn candidate(&mut self, failover: &Failover, lease: i64) -> Result<(), EtcdError> {
        let settings = &failover.settings;
        failover.update(|s| {
            s.role = "candidate";
            s.leader = None;
            s.leader_url = None;
        });
        if self.leader.is_some() || self.reported.is_none() {
            // Freeze the positions: nothing of the former leader may arrive after the
            // report.
            roles::stop_following(&self.app).await;
        }
        let counter = self.etcd.get(&settings.epoch_key()).await?;
        let (epoch_seen, epoch_revision) = counter
            .map(|kv| (parse_epoch(&kv.value), kv.mod_revision))
            .unwrap_or((0, 0));
        if self.reported != Some(epoch_seen) {
            self.reported = Some(epoch_seen);
            // Published now, so the others see it this round.
            self.publish(failover, lease).await?;
        }
        if !settings.promote {
            return Ok(());
        }
        let members: Vec<Member> = self
            .etcd
            .prefix(&settings.members_prefix())
            .await?
            .into_iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect();
        if let Some(waiting) = members.iter().find(|m| m.round != Some(epoch_seen)) {
            tracing::debug!(member = %waiting.name, "waiting for every live member's positions");
            return Ok(());
        }
        let me = self.member(failover).await;
        let best = members
            .iter()
            .filter(|m| m.name != me.name)
            .max_by_key(|m| m.rank());
        if let Some(best) = best {
            if best.rank() > me.rank() {
                if !best.promote {
                    tracing::warn!(member = %best.name, "the most up-to-date member may not be promoted (--no-promote): no election until it is caught up or gone");
                }
                return Ok(());
            }
        }
        let target = epoch_seen.max(members.iter().map(|m| m.epoch).max().unwrap_or(0)) + 1;
        let leader = Leader {
            name: settings.node_name.clone(),
            url: self.app.advertise_url.clone(),
            epoch: target,
        };
        let value = serde_json::to_vec(&leader).unwrap_or_default();
        let target_text = target.to_string();
        let (leader_key, epoch_key) = (settings.leader_key(), settings.epoch_key());
        let won = self
            .etcd
            .txn(
                &[
                    Compare::CreateRevision(&leader_key, 0),
                    Compare::ModRevision(&epoch_key, epoch_revision),
                ],
                &[
                    (&leader_key, &value, lease),
                    (&epoch_key, target_text.as_bytes(), 0),
                ],
            )
            .await?;
        if won {
            tracing::warn!(epoch = target, node = %leader.name, "elected the failover group's leader");
            self.lead(failover, leader).await;
        }
        Ok(())
    }

    /// Moves the leader key this member holds (at `revision`) to a new epoch, and leads in
    /// it.
    async fn reelect(
        &mut self,
        failover: &Failover,
        lease: i64,
        held: Leader,
        revision: i64,
    ) -> Result<(), EtcdError> {
        let settings = &failover.settings;
        let (leader_key, epoch_key) = (settings.leader_key(), settings.epoch_key());
        let counter = self.etcd.get(&epoch_key).await?;
        let (epoch_seen, epoch_revision) = counter
            .map(|kv| (parse_epoch(&kv.value), kv.mod_revision))
            .unwrap_or((0, 0));
        let leader = Leader {
            epoch: epoch_seen.max(held.epoch) + 1,
            ..held
        };
        let value = serde_json::to_vec(&leader).unwrap_or_default();
        let target_text = leader.epoch.to_string();
        let moved = self
            .etcd
            .txn(
                &[
                    Compare::ModRevision(&leader_key, revision),
                    Compare::ModRevision(&epoch_key, epoch_revision),
                ],
                &[
                    (&leader_key, &value, lease),
                    (&epoch_key, target_text.as_bytes(), 0),
                ],
            )
            .await?;
        if moved {
            tracing::warn!(epoch = leader.epoch, "leading again, in a new epoch");
            self.lead(failover, leader).await;
        }
        Ok(())
    }

    /// Becomes the leader: the write lease, then every database promoted to the epoch.
    async fn lead(&mut self, failover: &Failover, leader: Leader) {
        let Some(until) = self.lease.as_ref().map(|l| l.until) else {
            return;
        };
        self.note_leader(failover, &leader);
        failover.lease.extend_to(until);
        self.leading = true;
        self.reported = None;
        match roles::promote_all(&self.app, leader.epoch).await {
            Ok(()) => failover.update(|s| s.role = "leader"),
            Err(e) => {
                // Not serving as the leader: give the key up so that another can.
                tracing::error!(error = %e, "promotion failed; giving the leadership up");
                failover.lease.revoke();
                self.leading = false;
                if let Some(lease) = self.lease.take() {
                    let _ = self.etcd.revoke(lease.id).await;
                }
            }
        }
    }

    async fn step_down(&mut self, failover: &Failover, why: &str) {
        tracing::warn!(
            reason = why,
            "no longer the failover group's leader: acknowledging nothing more"
        );
        failover.lease.revoke();
        self.leading = false;
        failover.update(|s| s.role = "candidate");
        roles::demote_all(&self.app).await;
    }

    async fn follow(&mut self, failover: &Failover, leader: Leader) {
        self.reported = None;
        self.note_leader(failover, &leader);
        failover.update(|s| s.role = "replica");
        roles::follow_all(&self.app, &leader.url).await;
    }

    /// Records a change of leader (the last failover).
    fn note_leader(&mut self, failover: &Failover, leader: &Leader) {
        if self.leader.as_ref() == Some(leader) {
            return;
        }
        let from = self
            .leader
            .as_ref()
            .map(|l| l.name.clone())
            .unwrap_or_default();
        tracing::warn!(%from, to = %leader.name, epoch = leader.epoch, url = %leader.url, "the failover group has a new leader");
        let time_ms = self.app.clock.now_ms();
        failover.update(|s| {
            s.epoch = leader.epoch;
            s.leader = Some(leader.name.clone());
            s.leader_url = Some(leader.url.clone());
            if !from.is_empty() || s.failovers > 0 || leader.name != failover.settings.node_name {
                s.failovers += 1;
            }
            s.last_failover = Some(LastFailover {
                time_ms,
                from,
                to: leader.name.clone(),
                epoch: leader.epoch,
            });
        });
        self.leader = Some(leader.clone());
    }

    async fn member(&self, failover: &Failover) -> Member {
        let (epoch, position) = roles::positions(&self.app).await;
        Member {
            name: failover.settings.node_name.clone(),
            url: self.app.advertise_url.clone(),
            promote: failover.settings.promote,
            epoch,
            position,
            round: self.reported,
        }
    }

    async fn publish(&self, failover: &Failover, lease: i64) -> Result<(), EtcdError> {
        let mut key = failover.settings.members_prefix();
        key.extend_from_slice(failover.settings.node_name.as_bytes());
        let member = self.member(failover).await;
        let value = serde_json::to_vec(&member).unwrap_or_default();
        self.etcd.put(&key, &value, lease).await
    }
}

/// The epoch counter's value (decimal text; 0 if unreadable).
fn parse_epoch(value: &[u8]) -> u64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// How long a lease renewed now holds for sure on this machine's clock: the TTL shortened
/// by the largest clock-rate difference assumed, less the answer margin.
fn lease_span(ttl: Duration) -> Duration {
    let rate = ttl.as_nanos() * u128::from(FAILOVER_CLOCK_RATE_ERROR_PPM) / 1_000_000;
    let shortened = ttl.saturating_sub(Duration::from_nanos(rate as u64));
    shortened.saturating_sub(Duration::from_millis(FAILOVER_LEASE_MARGIN_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_trusted_for_less_than_its_ttl() {
        assert_eq!(
            lease_span(Duration::from_secs(10)),
            Duration::from_millis(9_800)
        );
        assert_eq!(lease_span(Duration::from_millis(50)), Duration::ZERO);
    }

    #[test]
    fn members_rank_by_epoch_then_position_then_smaller_name() {
        let m = |name: &str, epoch, position| Member {
            name: name.into(),
            url: String::new(),
            promote: true,
            epoch,
            position,
            round: None,
        };
        assert!(m("a", 2, 1).rank() > m("b", 1, 100).rank());
        assert!(m("a", 1, 5).rank() > m("b", 1, 4).rank());
        assert!(
            m("a", 1, 5).rank() > m("b", 1, 5).rank(),
            "ties go to the smaller name"
        );
    }
}
