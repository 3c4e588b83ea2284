//! Index management on [`Database`]: create, drop, list, and wait for an index to be built.

use cairn_model::{IndexInfo, IndexSpec, IndexState, KvIndexes};

use super::catalog::infos;
use super::IndexOp;
use crate::error::{Result, StoreError};
use crate::Database;

impl Database {
    /// Declares a secondary index and starts building it in the background from the entries
    /// already stored; returns once the declaration is durable (the index is then
    /// [`IndexState::Building`], and every later write behind the build's position keeps it
    /// up to date). Declaring an index that exists with the same definition returns its
    /// state. See `docs/indexes.md`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use cairn_model::{key, IndexSpec, IndexState};
    /// use cairn_store::{Database, Kv, KvValue};
    ///
    /// let db = Database::open_in_memory()?;
    /// let alice = KvValue::Bytes(br#"{"email": "a@example.com"}"#.to_vec());
    /// db.set(&key!["users", "alice"], alice).await?;
    /// db.create_index(IndexSpec::new("by_email", key!["users"], &["email"]).unique()).await?;
    /// let info = db.wait_index("by_email").await?.expect("declared");
    /// assert_eq!(info.state, IndexState::Ready);
    /// let entry = db.get(&key!["by_email", "a@example.com", "alice"]).await?;
    /// assert!(entry.is_some());
    /// # Ok::<(), cairn_store::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub async fn create_index(&self, spec: IndexSpec) -> Result<IndexInfo> {
        spec.validate()?;
        let name = spec.name.clone();
        self.index_request(IndexOp::Create(spec)).await?;
        self.index(&name)?.ok_or_else(|| {
            StoreError::InvalidArgument(format!("index {name:?} was dropped while being created"))
        })
    }

    /// Drops an index: no commit maintains it any more, and its entries are removed in the
    /// background (its keyspace stays reserved until then; [`Database::wait_index`] returns
    /// `None` once they are gone). `false` if there is no such index, or it is being dropped
    /// already.
    pub async fn drop_index(&self, name: &str) -> Result<bool> {
        match self.index(name)? {
            None => return Ok(false),
            Some(info) if info.state == IndexState::Dropping => return Ok(false),
            Some(_) => {}
        }
        match self.index_request(IndexOp::Drop(name.to_owned())).await {
            Ok(_) => Ok(true),
            // Dropped by someone else meanwhile, and gone already.
            Err(StoreError::InvalidArgument(_)) if self.index(name)?.is_none() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every declared index, in name order, as of the published snapshot.
    pub fn indexes(&self) -> Result<Vec<IndexInfo>> {
        infos(self.published_snapshot().as_ref())
    }

    /// One index, if declared.
    pub fn index(&self, name: &str) -> Result<Option<IndexInfo>> {
        Ok(self.indexes()?.into_iter().find(|i| i.spec.name == name))
    }

    /// Waits until the background work of index `name` is done: its state once ready or
    /// failed, `None` once a dropped index's entries are gone (or if there is no such index).
    pub async fn wait_index(&self, name: &str) -> Result<Option<IndexInfo>> {
        let mut progress = self.index_progress();
        loop {
            progress.borrow_and_update();
            match self.index(name)? {
                Some(info)
                    if matches!(
                        info.state,
                        IndexState::Building { .. } | IndexState::Dropping
                    ) =>
                {
                    if let Some(e) = self.poisoned() {
                        return Err(e);
                    }
                    if self.is_closed() {
                        return Err(StoreError::Closed);
                    }
                }
                other => return Ok(other),
            }
            if progress.changed().await.is_err() {
                return Err(StoreError::Closed);
            }
        }
    }
}

/// Index management of the embedded database (see [`KvIndexes`]).
impl KvIndexes for Database {
    async fn create_index(&self, spec: IndexSpec) -> Result<IndexInfo> {
        Database::create_index(self, spec).await
    }

    async fn drop_index(&self, name: &str) -> Result<bool> {
        Database::drop_index(self, name).await
    }

    async fn indexes(&self) -> Result<Vec<IndexInfo>> {
        Database::indexes(self)
    }
}
