//! What commands run against: a [`View`] of one database's tuple keys. Reads outside a
//! transaction run on [`SnapshotView`], the published snapshot (everything acknowledged);
//! writes, and every command of an EXEC, run in the database's writer on an
//! [`Overlay`](crate::writer::Overlay), which sees the snapshot plus what earlier commands
//! of the same batch wrote, and becomes one atomic write.

use cairn_model::{Key, KvValue, Limits, ListOptions, ListSelector, Versionstamp};
use cairn_store::Database;

use crate::error::{Error, Result};

/// One stored entry as a command sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// The value.
    pub value: KvValue,
    /// When it expires (ms since the Unix epoch), if it does. Unknown (`None`) for entries
    /// found by [`View::children`]: a hash's fields expire with its head.
    pub expire_at_ms: Option<u64>,
    /// The commit that wrote it; `None` if written earlier in the same batch.
    pub versionstamp: Option<Versionstamp>,
}

/// Reads and writes of tuple keys for one command.
pub trait View {
    /// Now, on the database's clock (ms since the Unix epoch).
    fn now_ms(&self) -> u64;
    /// The database's request limits.
    fn limits(&self) -> &Limits;
    /// The live entry of `key`.
    fn get(&mut self, key: &Key) -> Result<Option<Slot>>;
    /// Up to `limit` live entries strictly under `prefix`, in key order.
    fn children(&mut self, prefix: &Key, limit: usize) -> Result<Vec<(Key, Slot)>>;
    /// Writes `value` at `key`, to expire at `expire_at_ms`.
    fn put(&mut self, key: &Key, value: KvValue, expire_at_ms: Option<u64>) -> Result<()>;
    /// Removes `key`.
    fn delete(&mut self, key: &Key) -> Result<()>;
}

/// Reads from a database's published snapshot; refuses writes (read commands only).
pub struct SnapshotView<'a> {
    db: &'a Database,
    limits: &'a Limits,
    now_ms: u64,
}

impl<'a> SnapshotView<'a> {
    /// A view of `db`'s published snapshot.
    pub fn new(db: &'a Database, limits: &'a Limits) -> Self {
        use cairn_model::Kv as _;
        SnapshotView {
            db,
            limits,
            now_ms: db.now_ms(),
        }
    }
}

impl View for SnapshotView<'_> {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn limits(&self) -> &Limits {
        self.limits
    }

    fn get(&mut self, key: &Key) -> Result<Option<Slot>> {
        read_point(self.db, key)
    }

    fn children(&mut self, prefix: &Key, limit: usize) -> Result<Vec<(Key, Slot)>> {
        read_children(self.db, prefix, limit)
    }

    fn put(&mut self, _: &Key, _: KvValue, _: Option<u64>) -> Result<()> {
        Err(Error::Other(
            "internal error: a write on a read-only view".into(),
        ))
    }

    fn delete(&mut self, _: &Key) -> Result<()> {
        Err(Error::Other(
            "internal error: a write on a read-only view".into(),
        ))
    }
}

/// The live entry of `key` in `db`'s published snapshot, with its expiry.
pub fn read_point(db: &Database, key: &Key) -> Result<Option<Slot>> {
    let found = db.get_with_expiry(key)?;
    Ok(found.map(|(entry, expire_at_ms)| Slot {
        value: entry.value,
        expire_at_ms,
        versionstamp: Some(entry.versionstamp),
    }))
}

/// Up to `limit` live entries under `prefix` in `db`'s published snapshot.
pub fn read_children(db: &Database, prefix: &Key, limit: usize) -> Result<Vec<(Key, Slot)>> {
    use cairn_model::Kv as _;
    let options = ListOptions {
        limit: Some(limit),
        batch_size: limit.clamp(1, 1000),
        ..ListOptions::default()
    };
    let mut list = db.list(ListSelector::Prefix(prefix.clone()), options)?;
    let mut out = Vec::new();
    while let Some(raw) = list.next_raw() {
        let raw = raw?;
        let key = cairn_model::decode_key(&raw.key)
            .map_err(|e| Error::Other(format!("stored key cannot be decoded: {e}")))?;
        out.push((
            key,
            Slot {
                value: raw.value,
                expire_at_ms: None,
                versionstamp: Some(raw.versionstamp),
            },
        ));
    }
    Ok(out)
}

/// A view with no database, for commands that read nothing (PING, ECHO).
pub struct NoView(pub Limits);

impl View for NoView {
    fn now_ms(&self) -> u64 {
        0
    }

    fn limits(&self) -> &Limits {
        &self.0
    }

    fn get(&mut self, _: &Key) -> Result<Option<Slot>> {
        Err(Error::Other("internal error: no database".into()))
    }

    fn children(&mut self, _: &Key, _: usize) -> Result<Vec<(Key, Slot)>> {
        Err(Error::Other("internal error: no database".into()))
    }

    fn put(&mut self, _: &Key, _: KvValue, _: Option<u64>) -> Result<()> {
        Err(Error::Other("internal error: no database".into()))
    }

    fn delete(&mut self, _: &Key) -> Result<()> {
        Err(Error::Other("internal error: no database".into()))
    }
}
