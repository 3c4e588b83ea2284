//! The databases of a server, opened on first use, one directory each under the data dir.

use std::collections::HashMap;
use std::path::PathBuf;

use cairn_store::{Config, Database};
use parking_lot::Mutex;

use crate::error::ApiError;

/// The database served at `/`.
pub const DEFAULT_DATABASE: &str = "default";
/// Longest database name (the value lives in `cairn_model::limits`).
pub const DATABASE_NAME_BYTES_MAX: usize = cairn_model::limits::SERVER_DATABASE_NAME_BYTES_MAX;

/// Open databases by name.
pub struct Registry {
    dir: PathBuf,
    config: Config,
    open: Mutex<HashMap<String, Database>>,
}

impl Registry {
    /// A registry over `dir`, opening databases with `config`.
    pub fn new(dir: PathBuf, config: Config) -> Registry {
        Registry {
            dir,
            config,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The database `name`, opened (or created) on first use.
    pub fn get(&self, name: &str) -> Result<Database, ApiError> {
        validate_name(name)?;
        let mut open = self.open.lock();
        if let Some(db) = open.get(name) {
            return Ok(db.clone());
        }
        let db = Database::open_with(self.dir.join(name), self.config.for_database(name))?;
        open.insert(name.to_owned(), db.clone());
        Ok(db)
    }

    /// Closes every database: queued writes finish first.
    pub fn close_all(&self) {
        for (_, db) in self.open.lock().drain() {
            db.close();
        }
    }
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
}
