//! A test filesystem for power cuts, in the spirit of LazyFS: a FUSE filesystem held in
//! memory that keeps two images, the *live* one every program sees and the *durable* one a
//! power cut leaves, and moves data from the first to the second only where `fsync`,
//! `fdatasync` or a directory's `fsync` says so. [`Mounted::power_cut`] unmounts (which also
//! empties the kernel's caches of the filesystem), replaces the live image by the durable one,
//! optionally after writing back a random part of the unsynced blocks, some of them torn, and
//! mounts again. A SIGKILL alone leaves the page cache in place; this does not.
//!
//! # The durability model
//!
//! Chosen at least as strict as what ext4 (`data=ordered`) guarantees, so that a program
//! correct here relies on nothing ext4 may not give (and, for names, optionally as strict as
//! POSIX's letter):
//!
//! * **File content and size** become durable at an `fsync` or `fdatasync` of that file
//!   (through any handle): both make the whole content and the size durable, as `fdatasync`
//!   must commit a size change needed to read the data back. Nothing else does: not `close`,
//!   not a later `fsync` of another file (ext4 would often commit more; this model does not
//!   count on it).
//! * **Names** (create, mkdir, unlink, rmdir, rename), by default ([`Names::Journal`]), as
//!   ext4 (without the optional `fast_commit`) commits its metadata journal: every name
//!   change up to a commit becomes durable, in order, at the commit; a commit is an `fsync`
//!   of any directory, an `fsync` of a file changed since its last sync, or an `fdatasync` of
//!   a file whose size or allocated blocks changed since then. fjall and cairn rely on it:
//!   each creates directories and syncs only the new directory, not its parent. With
//!   [`Names::Directory`], POSIX's letter: names become durable at an `fsync` of the
//!   directory holding them; an `fsync` of the file does not make its name durable, and a
//!   rename between two directories is atomic: when either directory's `fsync` makes the new
//!   name durable, the old name goes at the same moment. Either way an entry is made durable
//!   as it is at that moment: an inode named there that was never synced itself becomes
//!   durable empty (a file of size 0, an empty directory).
//! * **At a power cut** the durable image is all that remains; an inode no durable entry
//!   reaches is gone. A *clean* cut drops every unsynced change. A cut *with write-back*
//!   first lets each unsynced block (4 KiB) inside a file's durable size reach the disk with
//!   probability ½, in any order, and one written block in four only in part (a prefix of its
//!   512-byte sectors: a torn write), except blocks past a truncation since the file's last
//!   sync (ext4 writes those elsewhere). Size changes and names never reach the disk
//!   unsynced, so there is never a file whose size grew over blocks that were not written
//!   (ext4's `data=ordered` prevents that too); nor does an unsynced append survive a cut
//!   (ext4 may keep one whose delayed allocation was written back: more data kept, never
//!   less).
//!
//! Not modelled (nothing cairn or fjall uses): hard and symbolic links, special files, extended
//! attributes, `mmap` of a file another handle writes, `O_DIRECT`, timestamps' durability.
//! Write errors and a full disk are cairn-store's `FaultStorage`'s business, not this one's.
//!
//! # Negative control
//!
//! [`Config::skip_fdatasync_in`] names a directory whose files' `fdatasync`s succeed without
//! making anything durable (their `fsync`s still do): with `tlog`, cairn's transaction log
//! loses its durability point while cairn's code is unchanged, and a power-cut test on it must
//! report lost writes.

#![forbid(unsafe_code)]

mod disk;
mod file_data;
mod fs;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuser::{BackgroundSession, MountOption};
use parking_lot::Mutex;

pub use disk::{Config, CutReport, Names, Stats};
pub use file_data::{WriteBack, BLOCK_BYTES, FILE_BYTES_MAX, SECTOR_BYTES};

/// How long an unmount waits for files of the filesystem still open (a reaped process's
/// handles are released by the kernel asynchronously) before it gives up.
const UNMOUNT_WAIT_MAX: Duration = Duration::from_secs(10);
const UNMOUNT_RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// A filesystem mounted at a directory. Dropping it unmounts (lazily if files are still open
/// then; the panic path of a test).
pub struct Mounted {
    mountpoint: PathBuf,
    disk: Arc<Mutex<disk::Disk>>,
    session: Option<BackgroundSession>,
}

impl Mounted {
    /// Creates an empty filesystem and mounts it at `mountpoint` (an existing directory).
    /// Needs `/dev/fuse` and either root (the mount syscall) or `fusermount3` (Debian's
    /// `fuse3`).
    pub fn new(mountpoint: &Path, config: Config) -> io::Result<Mounted> {
        let mut mounted = Mounted {
            mountpoint: mountpoint.to_path_buf(),
            disk: Arc::new(Mutex::new(disk::Disk::new(config))),
            session: None,
        };
        mounted.mount()?;
        Ok(mounted)
    }

    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    fn mount(&mut self) -> io::Result<()> {
        let fs = fs::PowercutFs {
            disk: self.disk.clone(),
        };
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            MountOption::FSName("cairn-powercut".into()),
            MountOption::Subtype("cairn-powercut".into()),
            MountOption::RW,
        ];
        let session = fuser::spawn_mount(fs, &self.mountpoint, &config).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "mounting the power-cut filesystem at {} failed: {e} (it needs /dev/fuse, \
                     and root or fusermount3 from Debian's fuse3 package)",
                    self.mountpoint.display()
                ),
            )
        })?;
        self.session = Some(session);
        Ok(())
    }

    /// Unmounts, waiting (bounded) while files are still open.
    fn unmount(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let mut waited = Duration::ZERO;
        loop {
            match nix::mount::umount(&self.mountpoint) {
                Ok(()) => break,
                // Not root: the setuid helper unmounts what it mounted.
                Err(nix::errno::Errno::EPERM) => {
                    let status = std::process::Command::new("fusermount3")
                        .arg("-u")
                        .arg(&self.mountpoint)
                        .status()?;
                    if status.success() {
                        break;
                    }
                    if waited >= UNMOUNT_WAIT_MAX {
                        self.session = Some(session);
                        return Err(io::Error::other(format!(
                            "fusermount3 -u {} failed: {status}",
                            self.mountpoint.display()
                        )));
                    }
                    std::thread::sleep(UNMOUNT_RETRY_INTERVAL);
                    waited += UNMOUNT_RETRY_INTERVAL;
                }
                Err(nix::errno::Errno::EBUSY) if waited < UNMOUNT_WAIT_MAX => {
                    std::thread::sleep(UNMOUNT_RETRY_INTERVAL);
                    waited += UNMOUNT_RETRY_INTERVAL;
                }
                Err(e) => {
                    self.session = Some(session);
                    return Err(io::Error::new(
                        io::Error::from(e).kind(),
                        format!("unmounting {}: {e}", self.mountpoint.display()),
                    ));
                }
            }
        }
        session.join()
    }

    /// A power cut: unmounts (every process using the filesystem must be dead by now), keeps
    /// only the durable image — after a random write-back of unsynced blocks if `write_back`
    /// has a random number generator — and mounts the result again.
    pub fn power_cut(
        &mut self,
        write_back: Option<&mut dyn rand::RngCore>,
    ) -> io::Result<CutReport> {
        self.unmount()?;
        let report = self.disk.lock().power_cut(write_back);
        self.mount()?;
        Ok(report)
    }

    pub fn stats(&self) -> Stats {
        self.disk.lock().stats()
    }

    /// Bytes the live image's files hold.
    pub fn live_bytes(&self) -> u64 {
        self.disk.lock().live_bytes()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.session.is_some() && self.unmount().is_err() {
            let _ = nix::mount::umount2(&self.mountpoint, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
