//! The databases of a server, opened on first use, one directory each under the data dir.
//!
//! Opening a database is slow work (the engine's recovery, the log's replay and fill, several
//! fsyncs), so it runs on a blocking thread, never on the runtime, and never under the lock
//! of the name table: requests for other databases, and for databases already open, go on
//! meanwhile. Each name has one cell that its one open fills; requests for a name being
//! opened wait for that open only. Creating a database takes a read-write grant and room
//! under `databases_max` (databases on disk at startup count). The default database is the
//! server's own: it counts from the start, and any token opens it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_store::{Config, Database, StorageError, StoreError};
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::config::Access;
use crate::error::ApiError;

/// The database served at `/`.
pub const DEFAULT_DATABASE: &str = "default";
/// Longest database name (the value lives in `limits`).
pub const DATABASE_NAME_BYTES_MAX: usize = crate::limits::SERVER_DATABASE_NAME_BYTES_MAX;

/// Opens (or creates) the database in a directory: [`Database::open_with`] unless a test
/// supplies its own. Called on a blocking thread.
pub type Opener = Arc<dyn Fn(&Path, Config) -> cairn_store::Result<Database> + Send + Sync>;

/// Databases by name.
pub struct Registry {
    dir: PathBuf,
    config: Config,
    databases_max: usize,
    opener: Opener,
    state: Mutex<State>,
    /// Indexes each database must have (the configuration's `[[indexes]]`), by database.
    indexes: HashMap<String, Vec<cairn_model::IndexSpec>>,
    /// Databases this server follows: name → the primary's URL of it. Fixed by
    /// `--replica-of`, or moved by a failover group's election (`failover`).
    replicas: Mutex<HashMap<String, String>>,
}

struct State {
    /// Every database: the default one, those found on disk at startup and those created
    /// since, each with the
    /// cell its open fills (empty until then, or again after a failed open).
    databases: HashMap<String, Arc<OnceCell<Database>>>,
    /// Set by [`Registry::close_all`]: nothing is opened afterwards.
    closed: bool,
    /// Replicas being rebuilt from the archive: not opened meanwhile.
    rebuilding: std::collections::HashSet<String>,
}

impl Registry {
    /// A registry over `dir`, opening databases with `config`, at most `databases_max` of
    /// them. Lists the databases already in `dir` (they count against the limit).
    pub fn new(dir: PathBuf, config: Config, databases_max: usize) -> std::io::Result<Registry> {
        let opener: Opener = Arc::new(|path, config| Database::open_with(path, config));
        Registry::with_opener(dir, config, databases_max, opener)
    }

    /// Like [`Registry::new`], opening databases through `opener`.
    pub fn with_opener(
        dir: PathBuf,
        config: Config,
        databases_max: usize,
        opener: Opener,
    ) -> std::io::Result<Registry> {
        let mut databases: HashMap<_, _> = existing_databases(&dir)?
            .into_iter()
            .map(|name| (name, Arc::new(OnceCell::new())))
            .collect();
        databases
            .entry(DEFAULT_DATABASE.to_owned())
            .or_insert_with(|| Arc::new(OnceCell::new()));
        Ok(Registry {
            dir,
            config,
            databases_max,
            opener,
            state: Mutex::new(State {
                databases,
                closed: false,
                rebuilding: Default::default(),
            }),
            indexes: HashMap::new(),
            replicas: Mutex::new(HashMap::new()),
        })
    }

    /// Makes every database open with the indexes declared for it (created if missing, then
    /// built in the background).
    pub fn with_indexes(mut self, declared: &[crate::config::DeclaredIndex]) -> Registry {
        for d in declared {
            self.indexes
                .entry(d.database.clone())
                .or_default()
                .push(d.spec.clone());
        }
        self
    }

    /// Opens the databases named in `replicas` (name → primary URL) as replicas of them.
    pub fn with_replicas(self, replicas: &[(String, String)]) -> Self {
        *self.replicas.lock() = replicas.iter().cloned().collect();
        self
    }

    /// The primary's URL of database `name`, if this server follows it.
    pub fn primary_of(&self, name: &str) -> Option<String> {
        self.replicas.lock().get(name).cloned()
    }

    /// From now on database `name` opens as a replica of `primary` (a failover group's
    /// member that does not lead; `primary` empty while no member leads).
    pub fn set_replica(&self, name: &str, primary: &str) {
        self.replicas
            .lock()
            .insert(name.to_owned(), primary.to_owned());
    }

    /// From now on database `name` opens as a primary (a failover group's leader).
    pub fn set_primary(&self, name: &str) {
        self.replicas.lock().remove(name);
    }

    /// The directory of database `name`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The database `name`, opened on first use; created only for a read-write `access` and
    /// while fewer than `databases_max` exist. A read-only token naming a missing database
    /// gets 404, a new database past the limit 403, each with the reason.
    pub async fn get(&self, name: &str, access: Access) -> Result<Database, ApiError> {
        self.open(name, access, None).await
    }

    /// A replica's database, opened (or created with its primary's `database_id`) by the
    /// follower that copies it.
    pub async fn open_replica(
        &self,
        name: &str,
        database_id: [u8; 16],
    ) -> Result<Database, ApiError> {
        self.open(name, Access::ReadWrite, Some(database_id)).await
    }

    /// A replica's database if its directory exists (opened on first use), else `None`.
    pub async fn existing_replica(&self, name: &str) -> Result<Option<Database>, ApiError> {
        if !self.path_of(name).exists() {
            return Ok(None);
        }
        self.open(name, Access::ReadWrite, None).await.map(Some)
    }

    /// Takes a replica out of service to rebuild it: later requests get 503 until
    /// [`Registry::restore_service`]; returns the open database, for the caller to close.
    pub fn take_out_of_service(&self, name: &str) -> Option<Database> {
        let mut state = self.state.lock();
        state.rebuilding.insert(name.to_owned());
        let cell = state
            .databases
            .insert(name.to_owned(), Arc::new(OnceCell::new()));
        cell.and_then(|c| c.get().cloned())
    }

    /// Ends [`Registry::take_out_of_service`].
    pub fn restore_service(&self, name: &str) {
        self.state.lock().rebuilding.remove(name);
    }

    async fn open(
        &self,
        name: &str,
        access: Access,
        database_id: Option<[u8; 16]>,
    ) -> Result<Database, ApiError> {
        validate_name(name)?;
        let primary = self.primary_of(name);
        if primary.is_some() && self.state.lock().rebuilding.contains(name) {
            return Err(ApiError::ReplicaNotReady(format!(
                "replica {name:?} is being rebuilt from the archive"
            )));
        }
        let path = self.dir.join(name);
        if primary.is_some() && database_id.is_none() && !path.exists() {
            return Err(ApiError::ReplicaNotReady(format!(
                "replica {name:?} has not copied its database from the primary yet"
            )));
        }
        let cell = self.cell(name, access)?;
        if let Some(db) = cell.get() {
            return Ok(db.clone());
        }
        let mut config = self.config.for_database(name);
        if let Some(primary) = &primary {
            config.replication.replica_of = Some(primary.clone());
            config.replication.database_id = database_id;
        }
        let opener = self.opener.clone();
        // A replica's indexes are its primary's (they come with the stream).
        let indexes = match primary {
            Some(_) => Vec::new(),
            None => self.indexes.get(name).cloned().unwrap_or_default(),
        };
        // The open is a task of its own: a request that goes away must not abandon an open
        // halfway, or the next request would open the directory a second time meanwhile.
        let open = tokio::spawn(async move {
            let db = cell
                .get_or_try_init(|| async move {
                    let db = tokio::task::spawn_blocking(move || opener(&path, config))
                        .await
                        .unwrap_or_else(|e| Err(engine_error(format!("opening failed: {e}"))))?;
                    for spec in indexes {
                        let name = spec.name.clone();
                        // A declaration the database refuses (another index of that name) is
                        // the operator's to fix; the database serves meanwhile.
                        if let Err(e) = db.create_index(spec).await {
                            tracing::error!(index = %name, error = %e, "declared index not created");
                        }
                    }
                    Ok::<_, StoreError>(db)
                })
                .await?;
            Ok::<_, StoreError>(db.clone())
        });
        let db = open
            .await
            .unwrap_or_else(|e| Err(engine_error(format!("opening failed: {e}"))))?;
        Ok(db)
    }

    /// The cell of `name`, made (the database reserved) if `access` may create it and the
    /// limit allows; the lock is held only for this.
    fn cell(&self, name: &str, access: Access) -> Result<Arc<OnceCell<Database>>, ApiError> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(ApiError::Store(StoreError::Closed));
        }
        if let Some(cell) = state.databases.get(name) {
            return Ok(cell.clone());
        }
        if access != Access::ReadWrite {
            return Err(ApiError::NotFound(format!(
                "database {name:?} does not exist, and a read-only token cannot create it"
            )));
        }
        if state.databases.len() >= self.databases_max {
            return Err(ApiError::Forbidden(format!(
                "database {name:?} was not created: this server holds at most {} databases \
                 (databases_max)",
                self.databases_max
            )));
        }
        // Reserved now, so concurrent creations count. A creation that fails keeps its
        // place: its directory usually exists by then, and the next request retries it.
        let cell = Arc::new(OnceCell::new());
        state.databases.insert(name.to_owned(), cell.clone());
        Ok(cell)
    }

    /// Every open database with its name, sorted by name (for metrics and readiness).
    pub fn open_databases(&self) -> Vec<(String, Database)> {
        let state = self.state.lock();
        let mut open: Vec<_> = state
            .databases
            .iter()
            .filter_map(|(name, cell)| Some((name.clone(), cell.get()?.clone())))
            .collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        open
    }

    /// Every database's name, and whether it is open now, sorted by name (for the JSON API's
    /// database list).
    pub fn names(&self) -> Vec<(String, bool)> {
        let state = self.state.lock();
        let mut names: Vec<_> = state
            .databases
            .iter()
            .map(|(name, cell)| (name.clone(), cell.initialized()))
            .collect();
        names.sort();
        names
    }

    /// True if database `name` exists (on disk, open, or being created).
    pub fn contains(&self, name: &str) -> bool {
        self.state.lock().databases.contains_key(name)
    }

    /// Closes every open database (queued writes finish first); later requests get
    /// [`StoreError::Closed`]. An open still running finishes unseen, and its database
    /// closes when the registry is dropped.
    pub fn close_all(&self) {
        let open: Vec<Database> = {
            let mut state = self.state.lock();
            state.closed = true;
            state
                .databases
                .values()
                .filter_map(|cell| cell.get().cloned())
                .collect()
        };
        for db in open {
            db.close();
        }
    }
}

fn engine_error(reason: String) -> StoreError {
    StoreError::Storage(StorageError::Engine(reason))
}

/// The names of the database directories in `dir` (none if it does not exist yet).
fn existing_databases(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str() {
            if validate_name(name).is_ok() {
                names.push(name.to_owned());
            }
        }
    }
    Ok(names)
}

/// Names are lowercase letters, digits, `-` and `_`: safe as directory names everywhere.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= DATABASE_NAME_BYTES_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "database name {name:?}: use 1 to {DATABASE_NAME_BYTES_MAX} of a-z, 0-9, '-', '_'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_directory_names() {
        for good in ["default", "app-1", "a_b"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "..", "a/b", "A", "x".repeat(65).as_str(), "é"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn databases_on_disk_are_found_and_other_entries_ignored() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        for name in ["app", "Not-A-Name", "default"] {
            std::fs::create_dir(dir.path().join(name))?;
        }
        std::fs::write(dir.path().join("server.secret"), [0u8; 32])?;
        let mut found = existing_databases(dir.path())?;
        found.sort();
        assert_eq!(found, ["app", "default"]);
        assert!(existing_databases(&dir.path().join("missing"))?.is_empty());
        Ok(())
    }
}
