//! Secondary indexes in the evaluator: every accepted write's index entries go into the same
//! storage batch as its data, and index requests (create, drop, one step of a backfill or a
//! removal) are evaluated between writes, in order, like any commit.
//!
//! **Maintenance.** For each data key a write changes under a maintained index's prefix, the
//! entry's old physical record (expired or not: its index entry expires with it but is
//! stored until the sweeper removes both) and its new one each give at most one index entry;
//! the old one is removed unless it is the new one, the new one is written (again, with this
//! commit's versionstamp and the entry's expiry). Index entries get no `expiry` index entries
//! of their own: the removal of their entry removes them.
//!
//! **Uniqueness.** A new index entry of a unique index conflicts with any other live entry
//! under the same `[NAME, values...]`: in this write's own index changes, in what earlier
//! writes of the batch put (`BatchIndex::claims`), or stored (a scan of the latest applied
//! state, skipping what this batch changed). Removals of the same write are applied first, so
//! moving a value from one entry to another in one write is no conflict. A conflict makes the
//! write a check failure with the reason; nothing of it is applied. Racing writers are
//! serialized here, so at most one of them can take a value.
//!
//! **Backfill.** A building index is maintained only for keys before its cursor. A step
//! visits the next keys from the cursor in the latest applied state, plus any key this batch
//! touched in the same span, writes their index entries as maintenance would, and moves the
//! cursor past them; at the end of the prefix the index is ready. Every key before the cursor
//! is therefore indexed exactly: visited by a step, or changed since under maintenance.

use std::sync::Arc;

use cairn_model::{CommitResult, KvValue, Versionstamp};

use super::{stage_data_without_expiry, BatchState, Evaluator, HashMap, WriteChanges};
use crate::error::{Result, StoreError};
use crate::index::catalog::{Catalog, IndexDef, Phase};
use crate::index::fields::{self, Parsed};
use crate::index::{describe_entry, describe_values, entry_of, entry_value, Contribution, IndexOp};
use crate::limits::{INDEXES_MAX, INDEX_STEP_KEYS};
use crate::record::{ChangelogEncoder, DataRecord};
use crate::storage::{Keyspace, Scan, Snapshot};

/// Stored index entries a unique check reads at a time.
const UNIQUE_SCAN_CHUNK: usize = 16;

/// What a batch knows about indexes beyond its overlay.
#[derive(Default)]
pub(super) struct BatchIndex {
    /// The latest applied state, taken once per batch when an index needs a range of it.
    latest: Option<Arc<dyn Snapshot>>,
    /// Index entries of unique indexes put by accepted writes of this batch, by their
    /// `[NAME, values...]`.
    claims: HashMap<Vec<u8>, Vec<Vec<u8>>>,
}

/// Counter changes of one index.
#[derive(Default, Clone, Copy)]
struct Delta {
    entries: i64,
    undecodable: i64,
    oversized: i64,
}

impl Delta {
    fn count(&mut self, contribution: &Contribution, sign: i64) {
        match contribution {
            Contribution::Entry { .. } => self.entries += sign,
            Contribution::Undecodable => self.undecodable += sign,
            Contribution::Oversized => self.oversized += sign,
            Contribution::None => {}
        }
    }

    fn apply(self, def: &mut IndexDef) {
        let add = |n: u64, d: i64| n.saturating_add_signed(d);
        def.entries = add(def.entries, self.entries);
        def.undecodable = add(def.undecodable, self.undecodable);
        def.oversized = add(def.oversized, self.oversized);
    }
}

/// The index changes of one write: merged into the batch only if the write is accepted.
#[derive(Default)]
pub(super) struct IndexChanges {
    entries: Vec<(Vec<u8>, Option<DataRecord>)>,
    /// `[NAME, values...]` and index key of each new entry of a unique index.
    claims: Vec<(Vec<u8>, Vec<u8>)>,
    deltas: Vec<(usize, Delta)>,
}

impl IndexChanges {
    fn state_of(&self, key: &[u8]) -> Option<&Option<DataRecord>> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r)
    }

    fn delta(&mut self, index: usize) -> &mut Delta {
        let at = match self.deltas.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                self.deltas.push((index, Delta::default()));
                self.deltas.len() - 1
            }
        };
        &mut self.deltas[at].1
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A new index entry of a unique index, to check against the others.
struct Claim {
    index: usize,
    key: Vec<u8>,
    values_end: usize,
}

fn live(record: Option<&DataRecord>, now_ms: u64) -> bool {
    record.is_some_and(|r| !r.is_expired(now_ms))
}

fn end_of(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    end.push(0xFF);
    end
}

impl Evaluator {
    /// Refuses a write to a key in an index's keyspace: only the database writes there.
    pub(super) fn check_reserved(&self, key: &[u8]) -> Result<()> {
        match self.indexes.reserving(key) {
            Some(def) => Err(StoreError::ReservedKey {
                key: cairn_model::decode_key(key)
                    .map_or_else(|_| format!("{key:02x?}"), |k| k.to_string()),
                index: def.spec.name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The index changes of a write whose data changes are `changes`: `Ok(Err(reason))` when
    /// a unique index refuses it.
    pub(super) fn index_changes(
        &self,
        state: &mut BatchState,
        changes: &WriteChanges,
        versionstamp: Versionstamp,
    ) -> Result<std::result::Result<IndexChanges, String>> {
        let mut out = IndexChanges::default();
        if self.indexes.is_empty() {
            return Ok(Ok(out));
        }
        let mut claims = Vec::new();
        for (key, new) in &changes.entries {
            let defs = self.indexes.defs().iter().enumerate();
            let mut maintained = defs.filter(|(_, d)| d.maintains(key)).peekable();
            if maintained.peek().is_none() {
                continue;
            }
            // Read and decode each value once, whatever the number of indexes; and the
            // entries' common value (the key, for Deno) is encoded once too.
            let old = self.current(state, key)?;
            let old_parsed = old.as_ref().map(|r| fields::parse(&r.value));
            let new_parsed = new.as_ref().map(|r| fields::parse(&r.value));
            let mut value = None;
            for (index, def) in maintained {
                self.entry_changes(
                    def,
                    index,
                    key,
                    old.as_ref().zip(old_parsed.as_ref()),
                    new.as_ref().zip(new_parsed.as_ref()),
                    versionstamp,
                    &mut value,
                    &mut out,
                    &mut claims,
                );
            }
        }
        for claim in claims {
            if let Some(reason) = self.conflict(state, &out, &claim)? {
                return Ok(Err(reason));
            }
            let values = claim.key[..claim.values_end].to_vec();
            out.claims.push((values, claim.key));
        }
        Ok(Ok(out))
    }

    /// Adds to `out` what changing `key` from `old` to `new` does to index `def`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one step of a loop, kept apart for reading"
    )]
    fn entry_changes(
        &self,
        def: &IndexDef,
        index: usize,
        key: &[u8],
        old: Option<(&DataRecord, &Parsed)>,
        new: Option<(&DataRecord, &Parsed)>,
        versionstamp: Versionstamp,
        value: &mut Option<KvValue>,
        out: &mut IndexChanges,
        claims: &mut Vec<Claim>,
    ) {
        let key_max = self.shared.config.limits.key_bytes_max;
        let old = old.map_or(Contribution::None, |(_, p)| entry_of(def, key, p, key_max));
        let new_contribution =
            new.map_or(Contribution::None, |(_, p)| entry_of(def, key, p, key_max));
        let new = new.map(|(r, _)| r);
        let delta = out.delta(index);
        delta.count(&old, -1);
        delta.count(&new_contribution, 1);
        let new_key = match (&new_contribution, new) {
            (Contribution::Entry { key: k, values_end }, Some(record)) => {
                Some((k.clone(), *values_end, record.expire_at_ms))
            }
            _ => None,
        };
        if let Contribution::Entry { key: old_key, .. } = old {
            if new_key.as_ref().is_none_or(|(k, _, _)| *k != old_key) {
                out.entries.push((old_key, None));
            }
        }
        if let Some((index_key, values_end, expire_at_ms)) = new_key {
            out.entries.push((
                index_key.clone(),
                Some(DataRecord {
                    versionstamp,
                    value: value.get_or_insert_with(|| entry_value(key)).clone(),
                    expire_at_ms,
                }),
            ));
            if def.spec.unique {
                claims.push(Claim {
                    index,
                    key: index_key,
                    values_end,
                });
            }
        }
    }

    /// Why `claim` breaks its unique index, if it does: another live entry under the same
    /// values, as this write, this batch or storage has it.
    fn conflict(
        &self,
        state: &mut BatchState,
        local: &IndexChanges,
        claim: &Claim,
    ) -> Result<Option<String>> {
        let Some(def) = self.indexes.defs().get(claim.index) else {
            return Ok(None);
        };
        let values = claim.key.get(..claim.values_end).unwrap_or_default();
        let now = state.now_ms;
        // An entry written already expired is invisible: it holds no value.
        if !live(local.state_of(&claim.key).and_then(Option::as_ref), now) {
            return Ok(None);
        }
        let other = |k: &[u8]| k != claim.key.as_slice() && k.starts_with(values);
        let mut holder = local
            .entries
            .iter()
            .filter(|(k, _)| other(k))
            .find(|(k, _)| live(local.state_of(k).and_then(Option::as_ref), now))
            .map(|(k, _)| k.clone());
        if holder.is_none() {
            holder = state.index.claims.get(values).and_then(|keys| {
                keys.iter()
                    .filter(|k| other(k) && local.state_of(k).is_none())
                    .find(|k| live(state.overlay.get(*k).and_then(Option::as_ref), now))
                    .cloned()
            });
        }
        // Stored entries under the values: at most one live one (the index is unique), but
        // expired ones wait for the sweeper, so read in chunks until a live one turns up.
        let end = end_of(values);
        let mut from = values.to_vec();
        while holder.is_none() {
            let stored = self.scan_latest(state, &from, &end, UNIQUE_SCAN_CHUNK)?;
            let exhausted = stored.len() < UNIQUE_SCAN_CHUNK;
            for (k, bytes) in &stored {
                if !other(k) || local.state_of(k).is_some() || state.overlay.contains_key(k) {
                    continue;
                }
                if live(Some(&DataRecord::decode(bytes)?), now) {
                    holder = Some(k.clone());
                    break;
                }
            }
            match stored.last() {
                Some((last, _)) if !exhausted => {
                    from = last.clone();
                    from.push(0);
                }
                _ => break,
            }
        }
        Ok(holder.map(|k| {
            format!(
                "unique index {:?}: the values {} belong to {} already",
                def.spec.name,
                describe_values(def, &claim.key, claim.values_end),
                describe_entry(def, &k, claim.values_end)
            )
        }))
    }

    /// Up to `limit` stored pairs of `[start, end)` in the latest applied state.
    fn scan_latest(
        &self,
        state: &mut BatchState,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let latest = state
            .index
            .latest
            .get_or_insert_with(|| self.shared.storage.snapshot());
        Ok(latest.scan(
            Keyspace::Data,
            Scan {
                start,
                end,
                reverse: false,
                limit,
            },
        )?)
    }

    /// Stages an accepted write's (or step's) index changes and applies its counters.
    pub(super) fn merge_index_changes(
        &mut self,
        state: &mut BatchState,
        changes: IndexChanges,
        log: &mut ChangelogEncoder,
    ) {
        for (index, delta) in changes.deltas {
            if let Some(def) = self.indexes.def_mut(index) {
                delta.apply(def);
            }
        }
        for (values, key) in changes.claims {
            state.index.claims.entry(values).or_default().push(key);
        }
        for (key, record) in changes.entries {
            log.push(&key, record.as_ref());
            stage_data_without_expiry(state, key, record);
        }
    }

    /// The index changes of the sweeper's removal of `key` (whose record was `old`).
    pub(super) fn index_removal(
        &mut self,
        state: &mut BatchState,
        key: &[u8],
        old: &DataRecord,
        log: &mut ChangelogEncoder,
    ) {
        if self.indexes.is_empty() {
            return;
        }
        let mut out = IndexChanges::default();
        let mut claims = Vec::new();
        let mut parsed = None;
        for (index, def) in self.indexes.defs().iter().enumerate() {
            if def.maintains(key) {
                let parsed = parsed.get_or_insert_with(|| fields::parse(&old.value));
                let vs = Versionstamp::new(state.commit_version, state.accepted);
                let old = Some((old, &*parsed));
                self.entry_changes(
                    def,
                    index,
                    key,
                    old,
                    None,
                    vs,
                    &mut None,
                    &mut out,
                    &mut claims,
                );
            }
        }
        self.merge_index_changes(state, out, log);
    }

    /// Evaluates an index request as a commit of its own.
    pub(super) fn evaluate_index(
        &mut self,
        state: &mut BatchState,
        op: IndexOp,
    ) -> Result<CommitResult> {
        match op {
            IndexOp::Create(spec) => self.create_index(state, spec)?,
            IndexOp::Drop(name) => match self.indexes.position(&name) {
                Some(i) => {
                    if let Some(def) = self.indexes.def_mut(i) {
                        def.phase = Phase::Dropping;
                    }
                }
                None => {
                    return Err(StoreError::InvalidArgument(format!(
                        "no index named {name:?}"
                    )))
                }
            },
            IndexOp::Step(name) => self.step(state, &name)?,
        }
        let versionstamp = Versionstamp::new(state.commit_version, state.accepted);
        state.accepted += 1;
        Ok(CommitResult::Committed { versionstamp })
    }

    fn create_index(&mut self, state: &mut BatchState, spec: cairn_model::IndexSpec) -> Result<()> {
        spec.validate()?;
        let bad = |reason: String| Err(StoreError::InvalidArgument(reason));
        if let Some(i) = self.indexes.position(&spec.name) {
            let existing = self.indexes.defs().get(i);
            return match existing {
                Some(def) if def.phase == Phase::Dropping => bad(format!(
                    "index {:?} is being dropped; create it again once its entries are removed",
                    spec.name
                )),
                Some(def) if def.spec == spec => Ok(()),
                _ => bad(format!(
                    "index {:?} exists with another definition; drop it first",
                    spec.name
                )),
            };
        }
        if self.indexes.defs().len() >= INDEXES_MAX {
            return bad(format!("a database holds at most {INDEXES_MAX} indexes"));
        }
        let def = IndexDef::new(spec).map_err(StoreError::InvalidArgument)?;
        for other in self.indexes.defs() {
            let overlaps = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
            if overlaps(&def.keyspace, &other.keyspace)
                || overlaps(&def.keyspace, &other.prefix)
                || overlaps(&def.prefix, &other.keyspace)
            {
                return bad(format!(
                    "index {:?} overlaps index {:?}: an index's keyspace may not lie under \
                     another's keyspace or prefix",
                    def.spec.name, other.spec.name
                ));
            }
        }
        let end = def.keyspace_end();
        let stored = self.scan_latest(state, &def.keyspace, &end, 1)?;
        let in_batch = state
            .touched
            .iter()
            .any(|k| k.starts_with(&def.keyspace) && matches!(state.overlay.get(k), Some(Some(_))));
        let stored_live = stored
            .iter()
            .any(|(k, _)| !matches!(state.overlay.get(k), Some(None)));
        if in_batch || stored_live {
            return bad(format!(
                "keys exist under [{:?}]: an index's entries need a keyspace of their own",
                def.spec.name
            ));
        }
        self.indexes.insert(def);
        Ok(())
    }

    /// One step of an index's background work.
    fn step(&mut self, state: &mut BatchState, name: &str) -> Result<()> {
        let Some(index) = self.indexes.position(name) else {
            return Ok(());
        };
        let Some(def) = self.indexes.defs().get(index) else {
            return Ok(());
        };
        match def.phase.clone() {
            Phase::Building { cursor, scanned } => self.backfill(state, index, cursor, scanned),
            Phase::Dropping => self.remove_entries(state, index),
            Phase::Ready | Phase::Failed(_) => Ok(()),
        }
    }

    /// Indexes the next keys after `cursor` and moves it past them.
    fn backfill(
        &mut self,
        state: &mut BatchState,
        index: usize,
        cursor: Vec<u8>,
        scanned: u64,
    ) -> Result<()> {
        let Some(def) = self.indexes.defs().get(index) else {
            return Ok(());
        };
        let end = def.prefix_end();
        let stored = self.scan_latest(state, &cursor, &end, INDEX_STEP_KEYS)?;
        let next = match stored.last() {
            Some((last, _)) if stored.len() == INDEX_STEP_KEYS => {
                let mut next = last.clone();
                next.push(0);
                next
            }
            _ => end.clone(),
        };
        let mut keys: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            stored.into_iter().map(|(k, v)| (k, Some(v))).collect();
        for k in &state.touched {
            if k.as_slice() >= cursor.as_slice() && k.as_slice() < next.as_slice() {
                keys.push((k.clone(), None));
            }
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        keys.dedup_by(|a, b| a.0 == b.0);
        let versionstamp = Versionstamp::new(state.commit_version, state.accepted);
        let def = def.clone();
        let mut out = IndexChanges::default();
        let mut visited = 0u64;
        for (key, bytes) in keys {
            let record = match (state.known(&key), bytes) {
                (Some(known), _) => known.clone(),
                (None, Some(bytes)) => Some(DataRecord::decode(&bytes)?),
                (None, None) => None,
            };
            let Some(record) = record else { continue };
            if key.len() <= def.prefix.len() {
                continue;
            }
            visited += 1;
            let mut claims = Vec::new();
            let parsed = fields::parse(&record.value);
            self.entry_changes(
                &def,
                index,
                &key,
                None,
                Some((&record, &parsed)),
                versionstamp,
                &mut None,
                &mut out,
                &mut claims,
            );
            for claim in claims {
                if let Some(reason) = self.conflict(state, &out, &claim)? {
                    if let Some(def) = self.indexes.def_mut(index) {
                        def.phase = Phase::Failed(format!("backfill stopped: {reason}"));
                    }
                    return Ok(());
                }
                let values = claim.key[..claim.values_end].to_vec();
                out.claims.push((values, claim.key));
            }
        }
        let mut log = ChangelogEncoder::new(state.now_ms, out.len());
        let wrote = out.len() > 0;
        self.merge_index_changes(state, out, &mut log);
        if wrote {
            self.stage_changelog(state, versionstamp, log);
        }
        if let Some(def) = self.indexes.def_mut(index) {
            def.phase = if next >= end {
                Phase::Ready
            } else {
                Phase::Building {
                    cursor: next,
                    scanned: scanned + visited,
                }
            };
        }
        Ok(())
    }

    /// Removes the next entries of a dropped index; forgets the index once none is left.
    fn remove_entries(&mut self, state: &mut BatchState, index: usize) -> Result<()> {
        let Some(def) = self.indexes.defs().get(index) else {
            return Ok(());
        };
        let (start, end) = (def.keyspace.clone(), def.keyspace_end());
        let stored = self.scan_latest(state, &start, &end, INDEX_STEP_KEYS)?;
        let done = stored.len() < INDEX_STEP_KEYS;
        let versionstamp = Versionstamp::new(state.commit_version, state.accepted);
        let mut log = ChangelogEncoder::new(state.now_ms, stored.len());
        for (key, _) in &stored {
            log.push(key, None);
            stage_data_without_expiry(state, key.clone(), None);
        }
        if !stored.is_empty() {
            self.stage_changelog(state, versionstamp, log);
        }
        if done {
            self.indexes.remove(index);
        }
        Ok(())
    }

    /// The catalog, for the storage batch.
    pub(super) fn catalog_mut(&mut self) -> &mut Catalog {
        &mut self.indexes
    }
}
