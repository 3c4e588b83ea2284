//! Where an archive lives: a flat namespace of immutable objects, which a local directory and
//! an S3-compatible bucket both provide.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ArchiveError;

/// An object store holding one archive. Objects are written whole and never changed; a name
/// is `/`-separated and relative to the destination's root.
///
/// Implementations must make [`Destination::put`] atomic (a reader sees the whole object or
/// none) and durable when it returns: the archiver counts a batch as shipped then.
pub trait Destination: Send + Sync {
    /// Stores `bytes` under `name`, replacing any object of that name.
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), ArchiveError>;
    /// The object `name`, or `None` if there is none.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError>;
    /// Every object name starting with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, ArchiveError>;
    /// Removes `name` (no error if it is absent).
    fn delete(&self, name: &str) -> Result<(), ArchiveError>;
    /// Where this is, for messages.
    fn describe(&self) -> String;
}

/// A destination in a local directory (or a mounted network file system).
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// A destination rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDir { root: root.into() }
    }

    fn path(&self, name: &str) -> Result<PathBuf, ArchiveError> {
        // Names come from the archive's own naming scheme; refuse anything that could leave
        // the root.
        if name.is_empty()
            || name.starts_with('/')
            || name
                .split('/')
                .any(|p| p == ".." || p == "." || p.is_empty())
        {
            return Err(ArchiveError::Destination(format!(
                "invalid object name {name:?}"
            )));
        }
        Ok(self.root.join(name))
    }

    fn io(&self, what: &str, name: &str) -> impl Fn(std::io::Error) -> ArchiveError {
        let message = format!("{what} {name} in {}", self.root.display());
        move |e| ArchiveError::Destination(format!("{message}: {e}"))
    }
}

impl Destination for LocalDir {
    /// Writes a temporary file, syncs it, renames it into place and syncs the directory.
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        let path = self.path(name)?;
        let io = self.io("writing", name);
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(&io)?;
        let tmp = dir.join(format!(
            ".{}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("object")
        ));
        let mut file = File::create(&tmp).map_err(&io)?;
        file.write_all(bytes).map_err(&io)?;
        file.sync_data().map_err(&io)?;
        drop(file);
        fs::rename(&tmp, &path).map_err(&io)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(&io)
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        match fs::read(self.path(name)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", name)(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, ArchiveError> {
        let mut names = Vec::new();
        walk(&self.root, "", &mut names).map_err(self.io("listing", prefix))?;
        names.retain(|n| n.starts_with(prefix));
        names.sort();
        Ok(names)
    }

    fn delete(&self, name: &str) -> Result<(), ArchiveError> {
        let path = self.path(name)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io("deleting", name)(e)),
        }
        // Empty directories left behind (a deleted snapshot's) are removed too.
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.root.as_path()) {
            if fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// Collects every file under `dir` as a `/`-separated name; temporary files are skipped.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let full = format!("{prefix}{name}");
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), &format!("{full}/"), out)?;
        } else {
            out.push(full);
        }
    }
    Ok(())
}

/// A destination seen under a prefix (`<database>/`): what one archiver or restore uses.
pub struct Prefixed<'a> {
    /// The destination.
    pub inner: &'a dyn Destination,
    /// Ends with `/`, or is empty.
    pub prefix: String,
}

impl Prefixed<'_> {
    /// [`Destination::put`] under the prefix.
    pub fn put(&self, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.inner.put(&format!("{}{name}", self.prefix), bytes)
    }
    /// [`Destination::get`] under the prefix.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        self.inner.get(&format!("{}{name}", self.prefix))
    }
    /// [`Destination::list`] under the prefix, names relative to it.
    pub fn list(&self) -> Result<Vec<String>, ArchiveError> {
        let names = self.inner.list(&self.prefix)?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.strip_prefix(&self.prefix).map(str::to_owned))
            .collect())
    }
    /// [`Destination::delete`] under the prefix.
    pub fn delete(&self, name: &str) -> Result<(), ArchiveError> {
        self.inner.delete(&format!("{}{name}", self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_written_listed_read_and_deleted() -> Result<(), ArchiveError> {
        let dir = tempfile::tempdir().map_err(|e| ArchiveError::Destination(e.to_string()))?;
        let dest = LocalDir::new(dir.path().join("archive"));
        assert_eq!(dest.list("")?, Vec::<String>::new());
        dest.put("db/r1/snap-1/part-1", b"x")?;
        dest.put("db/r1/range", b"y")?;
        assert_eq!(
            dest.list("db/")?,
            vec!["db/r1/range", "db/r1/snap-1/part-1"]
        );
        assert_eq!(dest.get("db/r1/range")?, Some(b"y".to_vec()));
        assert_eq!(dest.get("db/r2/range")?, None);
        dest.delete("db/r1/snap-1/part-1")?;
        assert_eq!(dest.list("")?, vec!["db/r1/range"]);
        assert!(dest.put("../escape", b"z").is_err());
        Ok(())
    }
}
