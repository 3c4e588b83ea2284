//! The filesystem's state: the live image (what programs see) and the durable image (what a
//! power cut leaves), and every operation on them. No FUSE here: `fs.rs` translates requests
//! into these calls, so the durability model is unit-tested without a mount.
//!
//! Errors are `errno` values (`libc::E*`), which is what the FUSE reply carries.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

use crate::file_data::{FileData, WriteBack};

/// The root directory's inode number (FUSE's).
pub const ROOT: u64 = 1;

pub type FsResult<T> = Result<T, i32>;

#[derive(Clone)]
pub enum Node {
    File(FileData),
    Dir(BTreeMap<OsString, u64>),
}

#[derive(Clone)]
pub struct Inode {
    pub node: Node,
    pub perm: u16,
    pub mtime: SystemTime,
    /// Where the inode is linked in the live image (meaningless in the durable one, and for
    /// an unlinked file still open: `linked` is then false).
    pub parent: u64,
    pub name: OsString,
    pub linked: bool,
    /// Live image only: changed since the file was last synced: any change (what makes an
    /// `fsync` commit the names' journal), and a change of size or allocation (what makes an
    /// `fdatasync` commit it).
    pub changed: bool,
    pub resized: bool,
}

impl Inode {
    fn new(node: Node, perm: u16, parent: u64, name: &OsStr) -> Inode {
        Inode {
            node,
            perm,
            mtime: SystemTime::now(),
            parent,
            name: name.to_owned(),
            linked: true,
            changed: false,
            resized: false,
        }
    }

    /// The same kind of inode with no content: what a directory's `fsync` makes durable for
    /// an entry whose inode was never synced itself.
    fn empty_like(&self) -> Inode {
        let node = match self.node {
            Node::File(_) => Node::File(FileData::default()),
            Node::Dir(_) => Node::Dir(BTreeMap::new()),
        };
        Inode {
            node,
            ..self.clone()
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.node, Node::Dir(_))
    }
}

/// When a change of names (create, mkdir, unlink, rmdir, rename) becomes durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Names {
    /// As ext4 (`data=ordered`) commits its metadata journal: name changes are durable in the
    /// order they were made, all of them up to a commit. A commit is an `fsync` of any
    /// directory, an `fsync` of a file changed since its last sync, or an `fdatasync` of a
    /// file whose size or allocated blocks changed since its last sync (an `fdatasync` that
    /// only overwrites allocated blocks commits no metadata, as on ext4). What fjall and
    /// cairn's log rely on. (ext4's optional `fast_commit` feature, off unless asked for at
    /// `mkfs`, can commit one file's changes alone, and is not modelled.)
    #[default]
    Journal,
    /// POSIX's letter: a name change is durable only at an `fsync` of its own directory.
    Directory,
}

/// Knobs of the filesystem.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub names: Names,
    /// Negative controls: `fdatasync` (not `fsync`) of a file directly inside a directory of
    /// this name succeeds without making anything durable.
    pub skip_fdatasync_in: Option<OsString>,
    /// Debugging: every operation that changes or syncs a name or a file's size, and every
    /// sync and power cut, as one line each in this file.
    pub trace: Option<std::path::PathBuf>,
}

/// Counters since the filesystem was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub fsyncs: u64,
    pub fsyncdirs: u64,
    /// `fdatasync`s ignored because of [`Config::skip_fdatasync_in`].
    pub fdatasyncs_skipped: u64,
    pub power_cuts: u64,
}

/// What one power cut threw away or wrote back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Files whose live content or size differed from their durable copy.
    pub files_rolled_back: u64,
    /// Inodes (files and directories) that existed only in the live image, or were only
    /// reachable there.
    pub inodes_lost: u64,
    /// The write-back of a torn cut (all zero for a clean one).
    pub write_back: WriteBack,
}

/// The whole filesystem.
pub struct Disk {
    live: HashMap<u64, Inode>,
    durable: HashMap<u64, Inode>,
    /// Open handles per live inode: an unlinked file lives until its last one is closed.
    open: HashMap<u64, u32>,
    next_ino: u64,
    config: Config,
    stats: Stats,
    trace: Option<std::io::BufWriter<std::fs::File>>,
}

impl Disk {
    pub fn new(config: Config) -> Disk {
        let root = Inode::new(Node::Dir(BTreeMap::new()), 0o755, ROOT, OsStr::new(""));
        let live = HashMap::from([(ROOT, root)]);
        let trace = config
            .trace
            .as_ref()
            .and_then(|p| std::fs::File::create(p).ok());
        Disk {
            trace: trace.map(std::io::BufWriter::new),
            durable: live.clone(),
            live,
            open: HashMap::new(),
            next_ino: ROOT + 1,
            config,
            stats: Stats::default(),
        }
    }

    fn path_of(&self, ino: u64) -> String {
        let mut parts = Vec::new();
        let mut at = ino;
        while at != ROOT {
            let Some(inode) = self.live.get(&at) else {
                parts.push(format!("<{at}>"));
                break;
            };
            parts.push(inode.name.to_string_lossy().into_owned());
            at = inode.parent;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    fn trace(&mut self, what: impl FnOnce(&Disk) -> String) {
        if self.trace.is_some() {
            let line = what(self);
            if let Some(t) = self.trace.as_mut() {
                use std::io::Write;
                let _ = writeln!(t, "{line}");
                let _ = t.flush();
            }
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn inode(&self, ino: u64) -> FsResult<&Inode> {
        self.live.get(&ino).ok_or(libc::ENOENT)
    }

    fn inode_mut(&mut self, ino: u64) -> FsResult<&mut Inode> {
        self.live.get_mut(&ino).ok_or(libc::ENOENT)
    }

    fn entries(&self, dir: u64) -> FsResult<&BTreeMap<OsString, u64>> {
        match &self.inode(dir)?.node {
            Node::Dir(entries) => Ok(entries),
            Node::File(_) => Err(libc::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, dir: u64) -> FsResult<&mut BTreeMap<OsString, u64>> {
        match &mut self.inode_mut(dir)?.node {
            Node::Dir(entries) => Ok(entries),
            Node::File(_) => Err(libc::ENOTDIR),
        }
    }

    fn file_mut(&mut self, ino: u64) -> FsResult<&mut FileData> {
        let inode = self.inode_mut(ino)?;
        inode.mtime = SystemTime::now();
        match &mut inode.node {
            Node::File(data) => Ok(data),
            Node::Dir(_) => Err(libc::EISDIR),
        }
    }

    pub fn file(&self, ino: u64) -> FsResult<&FileData> {
        match &self.inode(ino)?.node {
            Node::File(data) => Ok(data),
            Node::Dir(_) => Err(libc::EISDIR),
        }
    }

    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<u64> {
        self.entries(parent)?.get(name).copied().ok_or(libc::ENOENT)
    }

    /// Sorted entries of a directory (without `.` and `..`).
    pub fn list(&self, dir: u64) -> FsResult<Vec<(OsString, u64, bool)>> {
        Ok(self
            .entries(dir)?
            .iter()
            .map(|(name, &ino)| (name.clone(), ino, self.live[&ino].is_dir()))
            .collect())
    }

    /// Links in the live image, as `st_nlink`.
    pub fn nlink(&self, ino: u64) -> FsResult<u32> {
        let inode = self.inode(ino)?;
        Ok(match &inode.node {
            Node::File(_) => u32::from(inode.linked),
            Node::Dir(entries) => {
                let subdirs = entries.values().filter(|i| self.live[i].is_dir()).count();
                2 + u32::try_from(subdirs).unwrap_or(u32::MAX - 2)
            }
        })
    }

    /// `create`/`mkdir`/`mknod`: a new inode named `name` in `parent`.
    pub fn make(&mut self, parent: u64, name: &OsStr, dir: bool, perm: u16) -> FsResult<u64> {
        if name.len() > 255 {
            return Err(libc::ENAMETOOLONG);
        }
        if self.entries(parent)?.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let node = if dir {
            Node::Dir(BTreeMap::new())
        } else {
            Node::File(FileData::default())
        };
        self.live.insert(ino, Inode::new(node, perm, parent, name));
        self.entries_mut(parent)?.insert(name.to_owned(), ino);
        self.trace(|d| format!("make {} ino {ino}", d.path_of(ino)));
        Ok(ino)
    }

    pub fn opened(&mut self, ino: u64) -> FsResult<()> {
        self.inode(ino)?;
        *self.open.entry(ino).or_default() += 1;
        Ok(())
    }

    pub fn released(&mut self, ino: u64) {
        if let Some(n) = self.open.get_mut(&ino) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&ino);
                self.forget_if_unused(ino);
            }
        }
    }

    fn forget_if_unused(&mut self, ino: u64) {
        let unused = self
            .live
            .get(&ino)
            .is_some_and(|i| !i.linked && !self.open.contains_key(&ino));
        if unused {
            self.live.remove(&ino);
        }
    }

    /// `unlink` (`dir` false) or `rmdir` (`dir` true).
    pub fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> FsResult<()> {
        let ino = self.lookup(parent, name)?;
        match (&self.live[&ino].node, dir) {
            (Node::Dir(entries), true) if !entries.is_empty() => return Err(libc::ENOTEMPTY),
            (Node::Dir(_), false) => return Err(libc::EISDIR),
            (Node::File(_), true) => return Err(libc::ENOTDIR),
            _ => {}
        }
        self.trace(|d| format!("remove {} ino {ino}", d.path_of(ino)));
        self.entries_mut(parent)?.remove(name);
        self.inode_mut(ino)?.linked = false;
        self.forget_if_unused(ino);
        Ok(())
    }

    /// `rename` (`no_replace`: `RENAME_NOREPLACE`).
    pub fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> FsResult<()> {
        let ino = self.lookup(parent, name)?;
        self.entries(new_parent)?;
        if new_name.len() > 255 {
            return Err(libc::ENAMETOOLONG);
        }
        // A directory may not move into itself or below itself.
        let mut at = new_parent;
        while at != ROOT {
            if at == ino {
                return Err(libc::EINVAL);
            }
            at = self.inode(at)?.parent;
        }
        if let Some(&target) = self.entries(new_parent)?.get(new_name) {
            if target == ino {
                return Ok(());
            }
            if no_replace {
                return Err(libc::EEXIST);
            }
            let (moving_dir, target_dir) = (self.live[&ino].is_dir(), self.live[&target].is_dir());
            if moving_dir != target_dir {
                return Err(if target_dir {
                    libc::EISDIR
                } else {
                    libc::ENOTDIR
                });
            }
            self.remove(new_parent, new_name, target_dir)?;
        }
        self.entries_mut(parent)?.remove(name);
        self.entries_mut(new_parent)?
            .insert(new_name.to_owned(), ino);
        let inode = self.inode_mut(ino)?;
        inode.parent = new_parent;
        inode.name = new_name.to_owned();
        self.trace(|d| {
            format!(
                "rename {name:?} in {} to {} ino {ino}",
                d.path_of(parent),
                d.path_of(ino)
            )
        });
        Ok(())
    }

    pub fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> FsResult<()> {
        let file = self.file_mut(ino)?;
        let before = (file.size(), file.allocated_bytes());
        file.write(offset, data)?;
        let resized = before != (file.size(), file.allocated_bytes());
        self.mark_changed(ino, resized);
        Ok(())
    }

    fn mark_changed(&mut self, ino: u64, resized: bool) {
        if let Some(inode) = self.live.get_mut(&ino) {
            inode.changed = true;
            inode.resized |= resized;
        }
    }

    pub fn set_len(&mut self, ino: u64, len: u64) -> FsResult<()> {
        self.trace(|d| format!("set_len {} {len}", d.path_of(ino)));
        self.file_mut(ino)?.set_len(len)?;
        self.mark_changed(ino, true);
        Ok(())
    }

    pub fn set_perm(&mut self, ino: u64, perm: u16) -> FsResult<()> {
        self.inode_mut(ino)?.perm = perm;
        Ok(())
    }

    pub fn allocate(&mut self, ino: u64, offset: u64, len: u64, keep_size: bool) -> FsResult<()> {
        self.file_mut(ino)?.allocate(offset, len, keep_size)?;
        self.mark_changed(ino, true);
        Ok(())
    }

    /// `fsync` (`datasync` false) or `fdatasync` of a file: its content and size become
    /// durable. Its name does not (that takes an `fsync` of its directory).
    pub fn fsync(&mut self, ino: u64, datasync: bool) -> FsResult<()> {
        let inode = self.inode(ino)?;
        let Node::File(data) = &inode.node else {
            return self.fsync_dir(ino);
        };
        if datasync && self.skips_fdatasync(inode) {
            self.stats.fdatasyncs_skipped += 1;
            return Ok(());
        }
        let commits_names = if datasync {
            inode.resized
        } else {
            inode.changed
        };
        let durable = Inode {
            node: Node::File(data.clone()),
            ..inode.clone()
        };
        self.durable.insert(ino, durable);
        if let Some(inode) = self.live.get_mut(&ino) {
            inode.changed = false;
            inode.resized = false;
            if let Node::File(data) = &mut inode.node {
                data.mark_synced();
            }
        }
        if commits_names && self.config.names == Names::Journal {
            self.commit_names()?;
        }
        self.stats.fsyncs += 1;
        self.trace(|d| {
            let size = d.file(ino).map_or(0, |f| f.size());
            format!("fsync {} datasync {datasync} size {size}", d.path_of(ino))
        });
        Ok(())
    }

    fn skips_fdatasync(&self, inode: &Inode) -> bool {
        let Some(skipped) = &self.config.skip_fdatasync_in else {
            return false;
        };
        inode.linked
            && self
                .live
                .get(&inode.parent)
                .is_some_and(|p| &p.name == skipped)
    }

    /// `fsync` of a directory: see [`Names`].
    pub fn fsync_dir(&mut self, dir: u64) -> FsResult<()> {
        self.entries(dir)?;
        self.stats.fsyncdirs += 1;
        self.trace(|d| format!("fsyncdir {}", d.path_of(dir)));
        match self.config.names {
            Names::Journal => self.commit_names(),
            Names::Directory => self.sync_entries(dir),
        }
    }

    /// Every directory's entries become durable: a commit of ext4's metadata journal.
    fn commit_names(&mut self) -> FsResult<()> {
        let dirs: Vec<u64> = self
            .live
            .iter()
            .filter(|(_, i)| i.linked && i.is_dir())
            .map(|(&ino, _)| ino)
            .collect();
        for dir in dirs {
            self.sync_entries(dir)?;
        }
        Ok(())
    }

    /// A directory's entries become durable, naming the inodes they name now.
    /// An inode never synced itself becomes durable empty (a file of size 0, an empty
    /// directory). An inode that moved here from another directory leaves that directory's
    /// durable entries at the same moment, as a journalled `rename` does.
    fn sync_entries(&mut self, dir: u64) -> FsResult<()> {
        let entries = self.entries(dir)?.clone();
        let before = match self.durable.get(&dir).map(|i| &i.node) {
            Some(Node::Dir(before)) => before.clone(),
            _ => BTreeMap::new(),
        };
        for (name, ino) in &entries {
            if before.get(name) == Some(ino) {
                continue;
            }
            if !self.durable.contains_key(ino) {
                let empty = self.live[ino].empty_like();
                self.durable.insert(*ino, empty);
            }
            self.forget_durable_links(*ino, dir);
        }
        let inode = &self.live[&dir];
        let synced = Inode {
            node: Node::Dir(entries),
            ..inode.clone()
        };
        self.durable.insert(dir, synced);
        Ok(())
    }

    /// Removes the durable entries naming `ino` in directories other than `except` that the
    /// live image no longer has (the source of a rename).
    fn forget_durable_links(&mut self, ino: u64, except: u64) {
        for (&dir, inode) in self.durable.iter_mut() {
            if dir == except {
                continue;
            }
            let Node::Dir(entries) = &mut inode.node else {
                continue;
            };
            let live = match self.live.get(&dir).map(|i| &i.node) {
                Some(Node::Dir(live)) => Some(live),
                _ => None,
            };
            entries.retain(|name, i| *i != ino || live.and_then(|l| l.get(name)) == Some(&ino));
        }
    }

    /// A power cut: the live image becomes the durable one, less whatever it no longer
    /// reaches from the root. With `write_back`, first some of the live image's unsynced
    /// blocks reach the durable copies of their files, some of them torn
    /// ([`FileData::write_back_some`]). Open handles are forgotten: the filesystem must be
    /// mounted again, which also empties the kernel's caches of it.
    pub fn power_cut(&mut self, write_back: Option<&mut dyn rand::RngCore>) -> CutReport {
        let mut report = CutReport {
            files_rolled_back: self.count_rolled_back(),
            ..CutReport::default()
        };
        let mut rng = write_back;
        for (ino, live) in &self.live {
            let (Node::File(live_data), Some(durable)) = (&live.node, self.durable.get_mut(ino))
            else {
                continue;
            };
            let Node::File(durable_data) = &mut durable.node else {
                continue;
            };
            if let Some(rng) = rng.as_mut() {
                let wb = durable_data.write_back_some(live_data, *rng);
                report.write_back.dirty += wb.dirty;
                report.write_back.written += wb.written;
                report.write_back.torn += wb.torn;
            }
        }
        let before = self.live.len() as u64;
        self.live = reachable(&self.durable);
        self.durable = self.live.clone();
        report.inodes_lost = before.saturating_sub(self.live.len() as u64);
        self.open.clear();
        self.stats.power_cuts += 1;
        self.trace(|_| format!("power cut {report:?}"));
        report
    }

    fn count_rolled_back(&self) -> u64 {
        let mut n = 0;
        for (ino, live) in &self.live {
            if let (
                Node::File(l),
                Some(Inode {
                    node: Node::File(d),
                    ..
                }),
            ) = (&live.node, self.durable.get(ino))
            {
                n += u64::from(!l.same_as(d));
            }
        }
        n
    }

    /// Bytes held in memory by the live image's files (shared blocks counted once per image).
    pub fn live_bytes(&self) -> u64 {
        self.live
            .values()
            .map(|i| match &i.node {
                Node::File(d) => d.allocated_bytes(),
                Node::Dir(_) => 0,
            })
            .sum()
    }
}

/// The inodes of `image` reachable from the root, with `parent`, `name` and `linked` set
/// from the path that reaches them.
fn reachable(image: &HashMap<u64, Inode>) -> HashMap<u64, Inode> {
    let mut out = HashMap::new();
    let mut stack = vec![(ROOT, ROOT, OsString::new())];
    while let Some((ino, parent, name)) = stack.pop() {
        if out.contains_key(&ino) {
            // A second durable link (cannot arise from the operations above): keep the first.
            continue;
        }
        let Some(inode) = image.get(&ino) else {
            continue;
        };
        let mut inode = inode.clone();
        if let Node::File(data) = &mut inode.node {
            data.mark_synced();
        }
        if let Node::Dir(entries) = &mut inode.node {
            // Entries whose inode did not survive are dropped with it.
            entries.retain(|_, child| image.contains_key(child));
            for (child_name, &child) in entries.iter() {
                stack.push((child, ino, child_name.clone()));
            }
        }
        inode.parent = parent;
        inode.name = name;
        inode.linked = true;
        inode.changed = false;
        inode.resized = false;
        out.insert(ino, inode);
    }
    out
}
