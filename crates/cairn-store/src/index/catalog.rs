//! The index catalog: every declared index, its phase and counters, as the evaluator keeps it
//! in memory and as `meta` stores it (one record per index under `index/<name>`, written in
//! the same storage batch as every change of it).
//!
//! ```text
//! meta key   "index/" ‖ name
//! record     01 | prefix_len u32 | prefix (encoded key) | unique u8
//!            | field_count u32 | (len u32 | field UTF-8) × field_count
//!            | phase u8 | phase data | entries u64 | undecodable u64 | oversized u64
//! phase      01 building: cursor_len u32 | cursor | scanned u64
//!            02 ready    03 failed: reason_len u32 | reason UTF-8    04 dropping
//! ```

use cairn_model::codec::try_encode_key;
use cairn_model::{decode_key, IndexInfo, IndexSpec, IndexState};

use crate::error::{Result, StorageError};
use crate::meta;
use crate::record::{put_bytes, Reader};
use crate::storage::{Keyspace, Scan, Snapshot, WriteBatch};

/// Tag that opens every index record.
const INDEX_RECORD_V1: u8 = 1;
/// Prefix of the `meta` keys of index records.
const META_PREFIX: &[u8] = b"index/";
/// The key just after every index record ("index/" with its last byte raised).
const META_END: &[u8] = b"index0";

/// Where an index is in its life, as the evaluator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Keys below `cursor` (under the prefix) are indexed and maintained; keys at or after
    /// it are left to the backfill.
    Building {
        cursor: Vec<u8>,
        scanned: u64,
    },
    Ready,
    /// Not maintained any more (a unique backfill met a duplicate).
    Failed(String),
    /// Not maintained; its entries are being removed.
    Dropping,
}

/// One declared index.
#[derive(Debug, Clone)]
pub(crate) struct IndexDef {
    pub spec: IndexSpec,
    /// The encoded prefix; indexed keys are longer and start with it.
    pub prefix: Vec<u8>,
    /// The encoded `[NAME]`: every index entry's key starts with it.
    pub keyspace: Vec<u8>,
    /// The fields, split at dots.
    pub paths: Vec<Vec<String>>,
    pub phase: Phase,
    pub entries: u64,
    pub undecodable: u64,
    pub oversized: u64,
}

impl IndexDef {
    /// A new index, about to be built from the start of its prefix.
    pub(crate) fn new(spec: IndexSpec) -> std::result::Result<IndexDef, String> {
        let prefix = try_encode_key(&spec.prefix).map_err(|e| e.to_string())?;
        let mut cursor = prefix.clone();
        cursor.push(0x00);
        Ok(IndexDef {
            keyspace: spec.keyspace(),
            paths: spec
                .fields
                .iter()
                .map(|f| f.split('.').map(str::to_owned).collect())
                .collect(),
            prefix,
            spec,
            phase: Phase::Building { cursor, scanned: 0 },
            entries: 0,
            undecodable: 0,
            oversized: 0,
        })
    }

    /// The exclusive end of the keys under the prefix.
    pub(crate) fn prefix_end(&self) -> Vec<u8> {
        let mut end = self.prefix.clone();
        end.push(0xFF);
        end
    }

    /// The exclusive end of the index's keyspace.
    pub(crate) fn keyspace_end(&self) -> Vec<u8> {
        let mut end = self.keyspace.clone();
        end.push(0xFF);
        end
    }

    /// True when the commit keeps this index's entry of `key` up to date: the key lies under
    /// the prefix and the index is ready, or being built and the backfill has passed the key.
    pub(crate) fn maintains(&self, key: &[u8]) -> bool {
        if key.len() <= self.prefix.len() || !key.starts_with(&self.prefix) {
            return false;
        }
        match &self.phase {
            Phase::Ready => true,
            Phase::Building { cursor, .. } => key < cursor.as_slice(),
            Phase::Failed(_) | Phase::Dropping => false,
        }
    }

    /// What the database reports about the index.
    pub(crate) fn info(&self) -> IndexInfo {
        IndexInfo {
            spec: self.spec.clone(),
            state: match &self.phase {
                Phase::Building { scanned, .. } => IndexState::Building { scanned: *scanned },
                Phase::Ready => IndexState::Ready,
                Phase::Failed(reason) => IndexState::Failed {
                    reason: reason.clone(),
                },
                Phase::Dropping => IndexState::Dropping,
            },
            entries: self.entries,
            undecodable: self.undecodable,
            oversized: self.oversized,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![INDEX_RECORD_V1];
        put_bytes(&mut out, &self.prefix);
        out.push(u8::from(self.spec.unique));
        let fields = u32::try_from(self.spec.fields.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&fields.to_be_bytes());
        for field in &self.spec.fields {
            put_bytes(&mut out, field.as_bytes());
        }
        match &self.phase {
            Phase::Building { cursor, scanned } => {
                out.push(1);
                put_bytes(&mut out, cursor);
                out.extend_from_slice(&scanned.to_be_bytes());
            }
            Phase::Ready => out.push(2),
            Phase::Failed(reason) => {
                out.push(3);
                put_bytes(&mut out, reason.as_bytes());
            }
            Phase::Dropping => out.push(4),
        }
        for counter in [self.entries, self.undecodable, self.oversized] {
            out.extend_from_slice(&counter.to_be_bytes());
        }
        out
    }

    fn decode(name: &[u8], bytes: &[u8]) -> std::result::Result<IndexDef, StorageError> {
        let mut r = Reader::new(bytes, "meta");
        let text = |r: &Reader<'_>, b: &[u8]| {
            String::from_utf8(b.to_vec()).map_err(|_| r.corrupt("index text is not UTF-8"))
        };
        let name = text(&r, name)?;
        let tag = r.u8()?;
        if tag != INDEX_RECORD_V1 {
            return Err(r.corrupt(format!("unknown index record tag {tag}")));
        }
        let prefix_bytes = r.bytes()?;
        let prefix = decode_key(prefix_bytes)
            .map_err(|e| r.corrupt(format!("index {name:?} prefix: {e}")))?;
        let unique = r.u8()? != 0;
        let count = r.u32()?;
        let mut fields = Vec::new();
        for _ in 0..count {
            let field = r.bytes()?;
            fields.push(text(&r, field)?);
        }
        let phase = match r.u8()? {
            1 => {
                let cursor = r.bytes()?.to_vec();
                Phase::Building {
                    cursor,
                    scanned: r.u64()?,
                }
            }
            2 => Phase::Ready,
            3 => {
                let reason = r.bytes()?;
                Phase::Failed(text(&r, reason)?)
            }
            4 => Phase::Dropping,
            other => return Err(r.corrupt(format!("unknown index phase {other}"))),
        };
        let (entries, undecodable, oversized) = (r.u64()?, r.u64()?, r.u64()?);
        r.finish()?;
        let spec = IndexSpec {
            name,
            prefix,
            fields,
            unique,
        };
        let mut def = IndexDef::new(spec).map_err(|e| r.corrupt(e))?;
        def.phase = phase;
        (def.entries, def.undecodable, def.oversized) = (entries, undecodable, oversized);
        Ok(def)
    }
}

fn meta_key(name: &str) -> Vec<u8> {
    let mut key = META_PREFIX.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

/// Every declared index, in name order, and which records the next storage batch rewrites.
#[derive(Default)]
pub(crate) struct Catalog {
    defs: Vec<IndexDef>,
    /// Names whose record changed since the last batch.
    dirty: Vec<String>,
    /// An index was created since the last batch: the batch raises the format version.
    created: bool,
}

impl Catalog {
    /// Reads every index record of `snapshot`.
    pub(crate) fn load(snapshot: &dyn Snapshot) -> Result<Catalog> {
        let scan = Scan {
            start: META_PREFIX,
            end: META_END,
            reverse: false,
            limit: usize::MAX,
        };
        let mut defs = Vec::new();
        for (key, value) in snapshot.scan(Keyspace::Meta, scan)? {
            let name = key.get(META_PREFIX.len()..).unwrap_or_default();
            defs.push(IndexDef::decode(name, &value)?);
        }
        defs.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        Ok(Catalog {
            defs,
            ..Default::default()
        })
    }

    pub(crate) fn defs(&self) -> &[IndexDef] {
        &self.defs
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.defs.iter().position(|d| d.spec.name == name)
    }

    /// The index at `i`, to change: its record is rewritten with the next batch.
    pub(crate) fn def_mut(&mut self, i: usize) -> Option<&mut IndexDef> {
        let def = self.defs.get_mut(i)?;
        if !self.dirty.contains(&def.spec.name) {
            self.dirty.push(def.spec.name.clone());
        }
        Some(def)
    }

    pub(crate) fn insert(&mut self, def: IndexDef) {
        self.dirty.push(def.spec.name.clone());
        self.created = true;
        self.defs.push(def);
        self.defs.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    }

    pub(crate) fn remove(&mut self, i: usize) {
        if i < self.defs.len() {
            let def = self.defs.remove(i);
            if !self.dirty.contains(&def.spec.name) {
                self.dirty.push(def.spec.name);
            }
        }
    }

    /// The index whose keyspace holds `key`, if any (only the database writes there).
    pub(crate) fn reserving(&self, key: &[u8]) -> Option<&IndexDef> {
        self.defs.iter().find(|d| key.starts_with(&d.keyspace))
    }

    /// True when nothing changed since the last batch.
    pub(crate) fn is_clean(&self) -> bool {
        self.dirty.is_empty()
    }

    /// Writes the records that changed (removes those of indexes gone) into `batch`.
    pub(crate) fn persist_into(&mut self, batch: &mut WriteBatch) {
        for name in self.dirty.drain(..) {
            match self.defs.iter().find(|d| d.spec.name == name) {
                Some(def) => batch.put(Keyspace::Meta, meta_key(&name), def.encode()),
                None => batch.delete(Keyspace::Meta, meta_key(&name)),
            }
        }
        if std::mem::take(&mut self.created) {
            meta::put_format_version(batch, meta::FORMAT_VERSION);
        }
    }
}

/// What the database reports about each index in `snapshot` (the published one).
pub(crate) fn infos(snapshot: &dyn Snapshot) -> Result<Vec<IndexInfo>> {
    Ok(Catalog::load(snapshot)?
        .defs
        .iter()
        .map(IndexDef::info)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::key;

    #[test]
    fn records_round_trip_in_every_phase() {
        let spec = IndexSpec::new("by_city", key!["users", 1i64], &["address.city", "n"]).unique();
        for phase in [
            Phase::Building {
                cursor: b"\x02users\x00\x21".to_vec(),
                scanned: 7,
            },
            Phase::Ready,
            Phase::Failed("duplicate".into()),
            Phase::Dropping,
        ] {
            let mut def = IndexDef::new(spec.clone()).expect("valid");
            def.phase = phase;
            (def.entries, def.undecodable, def.oversized) = (5, 2, 1);
            let back = IndexDef::decode(b"by_city", &def.encode()).expect("decodes");
            assert_eq!(back.spec, def.spec);
            assert_eq!(back.phase, def.phase);
            assert_eq!(back.info(), def.info());
            assert_eq!(back.paths, vec![vec!["address", "city"], vec!["n"]]);
        }
    }

    #[test]
    fn corrupt_records_are_errors() {
        let def = IndexDef::new(IndexSpec::new("x", key!["p"], &["a"])).expect("valid");
        let bytes = def.encode();
        for cut in 0..bytes.len() {
            assert!(IndexDef::decode(b"x", bytes.get(..cut).unwrap_or_default()).is_err());
        }
        let mut bad_phase = bytes.clone();
        let phase_at = bytes.len() - 24 - 8 - 4 - 4 - 1;
        if let Some(b) = bad_phase.get_mut(phase_at) {
            *b = 9;
        }
        assert!(IndexDef::decode(b"x", &bad_phase).is_err());
    }

    #[test]
    fn maintenance_follows_the_phase() {
        let mut def = IndexDef::new(IndexSpec::new("x", key!["p"], &["a"])).expect("valid");
        let under = b"\x02p\x00\x02k\x00".to_vec();
        assert!(!def.maintains(&under), "a new index maintains nothing yet");
        def.phase = Phase::Building {
            cursor: b"\x02p\x00\x02l".to_vec(),
            scanned: 1,
        };
        assert!(def.maintains(&under));
        assert!(
            !def.maintains(b"\x02p\x00"),
            "the prefix key itself is not indexed"
        );
        def.phase = Phase::Ready;
        assert!(!def.maintains(b"\x02q\x00\x02k\x00"));
        def.phase = Phase::Dropping;
        assert!(!def.maintains(&under));
    }
}
