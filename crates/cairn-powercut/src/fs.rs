//! The FUSE side: each request becomes one call on the [`Disk`] under its lock.
//!
//! No kernel caching outlives a request's answer where it could hide the model: attributes
//! and entries are answered with a zero time-to-live, there is no write-back cache (FUSE's
//! default: every `write` reaches [`Disk::write`] before it returns), and a power cut
//! unmounts, which empties the page cache of every file.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo,
    LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use parking_lot::Mutex;

use crate::disk::{Disk, FsResult, Node};
use crate::file_data::BLOCK_BYTES;

const TTL: Duration = Duration::ZERO;

pub(crate) struct PowercutFs {
    pub(crate) disk: Arc<Mutex<Disk>>,
}

fn errno(code: i32) -> Errno {
    Errno::from_i32(code)
}

fn attr(disk: &Disk, ino: u64) -> FsResult<FileAttr> {
    let inode = disk.inode(ino)?;
    let (kind, size, allocated) = match &inode.node {
        Node::File(data) => (FileType::RegularFile, data.size(), data.allocated_bytes()),
        Node::Dir(entries) => (FileType::Directory, entries.len() as u64, 0),
    };
    Ok(FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: allocated / 512,
        atime: inode.mtime,
        mtime: inode.mtime,
        ctime: inode.mtime,
        crtime: SystemTime::UNIX_EPOCH,
        kind,
        perm: inode.perm,
        nlink: disk.nlink(ino)?,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: BLOCK_BYTES as u32,
        flags: 0,
    })
}

impl PowercutFs {
    fn entry(&self, result: FsResult<u64>, reply: ReplyEntry) {
        let disk = self.disk.lock();
        match result.and_then(|ino| attr(&disk, ino)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn empty(result: FsResult<()>, reply: ReplyEmpty) {
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn make_and_open(&self, parent: u64, name: &OsStr, mode: u32, flags: i32) -> FsResult<u64> {
        let mut disk = self.disk.lock();
        let ino = match disk.make(parent, name, false, perm(mode)) {
            Err(libc::EEXIST) if flags & libc::O_EXCL == 0 => {
                let ino = disk.lookup(parent, name)?;
                if flags & libc::O_TRUNC != 0 {
                    disk.set_len(ino, 0)?;
                }
                ino
            }
            other => other?,
        };
        disk.opened(ino)?;
        Ok(ino)
    }
}

fn perm(mode: u32) -> u16 {
    (mode & 0o7777) as u16
}

impl fuser::Filesystem for PowercutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let ino = self.disk.lock().lookup(parent.0, name);
        self.entry(ino, reply);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match attr(&self.disk.lock(), ino.0) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut disk = self.disk.lock();
        let result = (|| {
            if let Some(size) = size {
                disk.set_len(ino.0, size)?;
            }
            if let Some(mode) = mode {
                disk.set_perm(ino.0, perm(mode))?;
            }
            attr(&disk, ino.0)
        })();
        match result {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        // Regular files only: nothing cairn or fjall uses needs another kind.
        let ino = if mode & libc::S_IFMT == libc::S_IFREG {
            self.disk.lock().make(parent.0, name, false, perm(mode))
        } else {
            Err(libc::EPERM)
        };
        self.entry(ino, reply);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let ino = self.disk.lock().make(parent.0, name, true, perm(mode));
        self.entry(ino, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(self.disk.lock().remove(parent.0, name, false), reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(self.disk.lock().remove(parent.0, name, true), reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = if flags.difference(RenameFlags::RENAME_NOREPLACE).is_empty() {
            let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
            self.disk
                .lock()
                .rename(parent.0, name, newparent.0, newname, no_replace)
        } else {
            Err(libc::EINVAL)
        };
        Self::empty(result, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.disk.lock().opened(ino.0) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.disk.lock().file(ino.0) {
            Ok(data) => reply.data(&data.read(offset, size)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.disk.lock().write(ino.0, offset, data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // `close` makes nothing durable.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.disk.lock().released(ino.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        Self::empty(self.disk.lock().fsync(ino.0, datasync), reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let disk = self.disk.lock();
        let entries = match disk.list(ino.0) {
            Ok(entries) => entries,
            Err(e) => return reply.error(errno(e)),
        };
        let parent = disk.inode(ino.0).map_or(ino.0, |i| i.parent);
        let dots = [(".".into(), ino.0, true), ("..".into(), parent, true)];
        let all = dots.into_iter().chain(entries);
        for (i, (name, child, dir)) in all.enumerate().skip(offset as usize) {
            let kind = if dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        Self::empty(self.disk.lock().fsync_dir(ino.0), reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // Room enough for any test; the files live in memory.
        const BLOCKS: u64 = 1 << 24;
        reply.statfs(
            BLOCKS,
            BLOCKS,
            BLOCKS,
            1 << 20,
            1 << 20,
            BLOCK_BYTES as u32,
            255,
            BLOCK_BYTES as u32,
        );
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        Self::empty(self.disk.lock().inode(ino.0).map(|_| ()), reply);
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = self
            .make_and_open(parent.0, name, mode, flags)
            .and_then(|ino| attr(&self.disk.lock(), ino));
        match result {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let result = match mode {
            0 => self.disk.lock().allocate(ino.0, offset, length, false),
            libc::FALLOC_FL_KEEP_SIZE => self.disk.lock().allocate(ino.0, offset, length, true),
            _ => Err(libc::EOPNOTSUPP),
        };
        Self::empty(result, reply);
    }
}
