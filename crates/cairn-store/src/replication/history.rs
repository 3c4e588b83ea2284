//! Stream positions and epochs: where a database stands in its history, and which primary
//! wrote each part of it.
//!
//! Every storage batch a primary writes carries its [`StreamPosition`] in `meta` (same storage
//! batch, so it is durable exactly when the batch is): the epoch of the primary that wrote it
//! and its position, 1, 2, 3, … with no gap. A replica applies the primary's batches byte for
//! byte, so its `meta` holds the position of the last batch it applied, atomically with that
//! batch; a restore from the archive brings it back too (snapshots hold `meta`).
//!
//! `cairn promote` starts a new epoch: its batch, the first of the epoch, appends
//! `(epoch, first position)` to the [`EpochHistory`] in `meta`. Two databases with the same id
//! share their history up to position `p` exactly when each says the same epoch wrote `p`
//! (one primary per epoch); that is what a primary checks before it streams to a replica.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::error::StorageError;
use crate::record::Reader;

/// Most entries of an epoch history (one per promotion): a bound on `meta`'s size, far past
/// any real deployment's count of failovers.
pub const EPOCH_HISTORY_ENTRIES_MAX: usize = 65_536;

/// Where a batch stands in the history of its database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamPosition {
    /// The epoch of the primary that wrote it (0 until the first promotion).
    pub epoch: u64,
    /// Its position: 1, 2, 3, … (0: before the first batch).
    pub position: u64,
}

impl StreamPosition {
    /// `epoch u64 | position u64`, big-endian.
    pub fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
        out
    }

    /// Decodes [`StreamPosition::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let mut r = Reader::new(bytes, "meta");
        let position = StreamPosition {
            epoch: r.u64()?,
            position: r.u64()?,
        };
        r.finish()?;
        Ok(position)
    }
}

impl std::fmt::Display for StreamPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "position {} (epoch {})", self.position, self.epoch)
    }
}

/// The epochs of a database: `(epoch, first position)` for every epoch after the first, in
/// order. Epoch 0 runs from position 1 to the first entry's position less one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochHistory {
    /// `(epoch, first position)`, both ascending.
    pub starts: Vec<(u64, u64)>,
}

impl EpochHistory {
    /// `count u32 | (epoch u64 | first position u64)*`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 16 * self.starts.len());
        let count = u32::try_from(self.starts.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for (epoch, first) in &self.starts {
            out.extend_from_slice(&epoch.to_be_bytes());
            out.extend_from_slice(&first.to_be_bytes());
        }
        out
    }

    /// Decodes [`EpochHistory::encode`]'s output; refuses entries out of order.
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let mut r = Reader::new(bytes, "meta");
        let count = r.u32()? as usize;
        if count > EPOCH_HISTORY_ENTRIES_MAX {
            return Err(r.corrupt(format!("epoch history of {count} entries")));
        }
        let mut starts: Vec<(u64, u64)> = Vec::with_capacity(count);
        for _ in 0..count {
            let entry = (r.u64()?, r.u64()?);
            if let Some(last) = starts.last() {
                if entry.0 <= last.0 || entry.1 <= last.1 {
                    return Err(r.corrupt("epoch history out of order"));
                }
            }
            starts.push(entry);
        }
        r.finish()?;
        Ok(EpochHistory { starts })
    }

    /// The epoch that wrote `position` (0 for positions before the first promotion).
    pub fn epoch_at(&self, position: u64) -> u64 {
        self.starts
            .iter()
            .rev()
            .find(|(_, first)| *first <= position)
            .map_or(0, |(epoch, _)| *epoch)
    }

    /// The last position of `epoch` in this history, if a later epoch began after it.
    fn end_of(&self, epoch: u64) -> Option<u64> {
        self.starts
            .iter()
            .find(|(e, _)| *e > epoch)
            .map(|(_, first)| first.saturating_sub(1))
    }

    /// Whether a replica that last applied `replica` shares this database's history, whose
    /// newest batch is at `newest`: `Err` says how they differ. A replica ahead of the
    /// primary, or whose last batch another epoch wrote here, holds batches this database
    /// never had: streaming to it would mix two histories.
    pub fn check_follower(
        &self,
        newest: StreamPosition,
        replica: StreamPosition,
    ) -> Result<(), String> {
        if replica.position == 0 {
            return Ok(());
        }
        if replica.position > newest.position {
            return Err(format!(
                "the replica is at {replica}, ahead of this primary (at {newest}): it holds \
                 batches this primary never had"
            ));
        }
        let here = self.epoch_at(replica.position);
        if here != replica.epoch {
            let ended = self.end_of(replica.epoch).map_or(String::new(), |end| {
                format!(", which ended here at position {end}")
            });
            return Err(format!(
                "the replica's {replica} was written in epoch {}, this primary's position {} in \
                 epoch {here}{ended}: the histories diverged (the replica kept batches of a \
                 former primary)",
                replica.epoch, replica.position
            ));
        }
        Ok(())
    }

    /// This history with `epoch` starting at `first`.
    pub fn with_epoch(&self, epoch: u64, first: u64) -> Result<EpochHistory, String> {
        if self.starts.len() >= EPOCH_HISTORY_ENTRIES_MAX {
            return Err(format!(
                "the epoch history holds {EPOCH_HISTORY_ENTRIES_MAX} promotions already"
            ));
        }
        let mut next = self.clone();
        next.starts.push((epoch, first));
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(epoch: u64, position: u64) -> StreamPosition {
        StreamPosition { epoch, position }
    }

    #[test]
    fn encodings_round_trip_and_refuse_garbage() -> Result<(), StorageError> {
        let p = at(3, 99);
        assert_eq!(StreamPosition::decode(&p.encode())?, p);
        assert!(StreamPosition::decode(&[1, 2, 3]).is_err());
        let h = EpochHistory {
            starts: vec![(1, 10), (2, 20)],
        };
        assert_eq!(EpochHistory::decode(&h.encode())?, h);
        let backwards = EpochHistory {
            starts: vec![(2, 20), (1, 30)],
        };
        assert!(EpochHistory::decode(&backwards.encode()).is_err());
        assert!(EpochHistory::decode(&[0, 0, 0, 1]).is_err(), "truncated");
        Ok(())
    }

    #[test]
    fn a_follower_must_share_the_history_up_to_its_position() {
        // Epoch 0 wrote 1..=9, epoch 1 wrote 10..=19, epoch 2 writes from 20.
        let h = EpochHistory {
            starts: vec![(1, 10), (2, 20)],
        };
        let newest = at(2, 25);
        assert_eq!(h.epoch_at(5), 0);
        assert_eq!(h.epoch_at(10), 1);
        assert_eq!(h.epoch_at(25), 2);
        for ok in [at(0, 0), at(0, 9), at(1, 10), at(1, 19), at(2, 25)] {
            assert!(h.check_follower(newest, ok).is_ok(), "{ok}");
        }
        // A former primary of epoch 0 that kept writing past the promotion at 10.
        let diverged = h
            .check_follower(newest, at(0, 12))
            .err()
            .unwrap_or_default();
        assert!(diverged.contains("diverged"), "{diverged}");
        assert!(diverged.contains("ended here at position 9"), "{diverged}");
        let ahead = h
            .check_follower(newest, at(2, 26))
            .err()
            .unwrap_or_default();
        assert!(ahead.contains("ahead"), "{ahead}");
    }
}
