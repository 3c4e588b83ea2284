//! The durability model of the power-cut filesystem, through a real mount and `std::fs`: what
//! survives a power cut is exactly what `fsync`, `fdatasync` and a directory's `fsync` made
//! durable (the model is written down in the crate's documentation). A filesystem that kept
//! too much would make the power-cut test of cairn prove nothing.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use cairn_powercut::{Config, Mounted, Names, SECTOR_BYTES};
use rand::SeedableRng;

fn mount(config: Config) -> (tempfile::TempDir, Mounted) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mounted = Mounted::new(dir.path(), config).expect("mount the power-cut filesystem");
    (dir, mounted)
}

fn sync_dir(path: &Path) {
    File::open(path)
        .and_then(|d| d.sync_all())
        .expect("fsync the directory");
}

fn write_file(path: &Path, bytes: &[u8]) -> File {
    let mut f = File::create(path).expect("create");
    f.write_all(bytes).expect("write");
    f
}

fn posix() -> Config {
    Config {
        names: Names::Directory,
        ..Config::default()
    }
}

#[test]
fn only_synced_content_and_synced_names_survive() {
    let (_dir, mut m) = mount(posix());
    let root = m.path().to_path_buf();
    write_file(&root.join("synced"), b"kept")
        .sync_data()
        .expect("fdatasync");
    write_file(&root.join("unsynced"), b"lost");
    sync_dir(&root);
    write_file(&root.join("unnamed"), b"kept, but its name is not")
        .sync_all()
        .expect("fsync");
    fs::create_dir(root.join("d")).expect("mkdir");

    let report = m.power_cut(None).expect("power cut");
    assert_eq!(fs::read(root.join("synced")).expect("read"), b"kept");
    assert_eq!(fs::read(root.join("unsynced")).expect("read"), b"");
    assert!(!root.join("unnamed").exists());
    assert!(!root.join("d").exists());
    assert_eq!(report.files_rolled_back, 1, "{report:?}");
}

#[test]
fn writes_after_the_last_sync_and_truncations_are_rolled_back() {
    let (_dir, mut m) = mount(Config::default());
    let path = m.path().join("f");
    let f = write_file(&path, &[1; 10_000]);
    f.sync_all().expect("fsync");
    sync_dir(m.path());
    f.write_all_at(&[2; 100], 50).expect("overwrite");
    f.set_len(20).expect("truncate");
    drop(f);
    m.power_cut(None).expect("power cut");
    assert_eq!(fs::read(&path).expect("read"), vec![1; 10_000]);
}

#[test]
fn unlink_and_rename_are_durable_at_the_directory_sync() {
    let (_dir, mut m) = mount(posix());
    let root = m.path().to_path_buf();
    fs::create_dir(root.join("a")).expect("mkdir a");
    fs::create_dir(root.join("b")).expect("mkdir b");
    for name in ["x", "y", "gone"] {
        write_file(&root.join("a").join(name), name.as_bytes())
            .sync_all()
            .expect("fsync");
    }
    sync_dir(&root.join("a"));
    sync_dir(&root);
    // Unsynced: undone by the cut.
    fs::remove_file(root.join("a/x")).expect("unlink x");
    // Synced through the target directory only: the move is atomic.
    fs::rename(root.join("a/y"), root.join("b/y")).expect("rename y");
    sync_dir(&root.join("b"));
    // Synced.
    fs::remove_file(root.join("a/gone")).expect("unlink gone");
    write_file(&root.join("a/tmp"), b"new")
        .sync_all()
        .expect("fsync");
    fs::rename(root.join("a/tmp"), root.join("a/x")).expect("rename over x");

    m.power_cut(None).expect("power cut");
    assert_eq!(fs::read(root.join("a/x")).expect("x"), b"x");
    assert!(!root.join("a/y").exists());
    assert_eq!(fs::read(root.join("b/y")).expect("b/y"), b"y");
    assert_eq!(fs::read(root.join("a/gone")).expect("gone"), b"gone");
    assert!(!root.join("a/tmp").exists());
}

#[test]
fn the_negative_control_skips_fdatasync_in_the_named_directory_only() {
    let config = Config {
        skip_fdatasync_in: Some("tlog".into()),
        ..Config::default()
    };
    let (_dir, mut m) = mount(config);
    let root = m.path().to_path_buf();
    fs::create_dir(root.join("tlog")).expect("mkdir");
    let log = write_file(&root.join("tlog/seg"), &[5; 8192]);
    log.sync_all().expect("fsync");
    write_file(&root.join("other"), b"synced")
        .sync_data()
        .expect("fdatasync");
    sync_dir(&root.join("tlog"));
    sync_dir(&root);
    log.write_all_at(&[6; 8192], 0).expect("overwrite");
    log.sync_data().expect("skipped fdatasync");
    drop(log);

    m.power_cut(None).expect("power cut");
    assert_eq!(fs::read(root.join("tlog/seg")).expect("seg"), vec![5; 8192]);
    assert_eq!(fs::read(root.join("other")).expect("other"), b"synced");
    assert_eq!(m.stats().fdatasyncs_skipped, 1);
}

#[test]
fn a_cut_with_write_back_leaves_each_sector_old_or_new() {
    let (_dir, mut m) = mount(Config::default());
    let path = m.path().join("f");
    const LEN: usize = 256 * 1024;
    let f = write_file(&path, &vec![1; LEN]);
    f.sync_all().expect("fsync");
    sync_dir(m.path());
    f.write_all_at(&vec![2; LEN], 0).expect("overwrite");
    f.write_all_at(&[3; 100], LEN as u64).expect("append");
    drop(f);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let report = m.power_cut(Some(&mut rng)).expect("power cut");
    let bytes = fs::read(&path).expect("read");
    assert_eq!(bytes.len(), LEN, "the unsynced size change was kept");
    for sector in bytes.chunks(SECTOR_BYTES) {
        assert!(
            sector.iter().all(|&b| b == sector[0]),
            "a sector mixes old and new bytes"
        );
    }
    let new = bytes.chunks(SECTOR_BYTES).filter(|s| s[0] == 2).count();
    assert!(new > 0 && new < LEN / SECTOR_BYTES, "{new} new sectors");
    assert!(report.write_back.torn > 0, "{report:?}");
}

#[test]
fn an_open_unlinked_file_stays_readable_until_closed() {
    let (_dir, m) = mount(Config::default());
    let path = m.path().join("f");
    write_file(&path, b"data");
    let f = OpenOptions::new().read(true).open(&path).expect("open");
    fs::remove_file(&path).expect("unlink");
    let mut buf = [0; 4];
    f.read_exact_at(&mut buf, 0).expect("read after unlink");
    assert_eq!(&buf, b"data");
}

#[test]
fn a_journal_commit_makes_every_earlier_name_change_durable_and_no_later_one() {
    let (_dir, mut m) = mount(Config::default());
    let root = m.path().to_path_buf();
    fs::create_dir(root.join("a")).expect("mkdir a");
    fs::create_dir(root.join("b")).expect("mkdir b");
    write_file(&root.join("a/early"), b"");
    // Any directory's fsync commits the journal: a/ and a/early become durable.
    sync_dir(&root.join("b"));
    write_file(&root.join("a/late"), b"");
    m.power_cut(None).expect("power cut");
    assert!(root.join("a/early").exists());
    assert!(!root.join("a/late").exists());
}

#[test]
fn a_file_sync_commits_names_only_when_the_file_changed_as_ext4_does() {
    let (_dir, mut m) = mount(Config::default());
    let root = m.path().to_path_buf();
    write_file(&root.join("log"), &[0; 8192])
        .sync_all()
        .expect("fsync");
    // An fdatasync of an overwrite changes no metadata: it commits no name.
    write_file(&root.join("pending"), b"");
    let log = OpenOptions::new()
        .write(true)
        .open(root.join("log"))
        .expect("open");
    log.write_all_at(&[1; 100], 0).expect("overwrite");
    log.sync_data().expect("fdatasync");
    drop(log);
    m.power_cut(None).expect("power cut");
    assert_eq!(fs::read(root.join("log")).expect("log")[..100], [1; 100]);
    assert!(!root.join("pending").exists());

    // One that grows a file does, and so does an fsync of a changed file.
    write_file(&root.join("named"), b"");
    let log = OpenOptions::new()
        .write(true)
        .open(root.join("log"))
        .expect("open");
    log.write_all_at(&[2; 100], 8192).expect("append");
    log.sync_data().expect("fdatasync");
    drop(log);
    m.power_cut(None).expect("power cut");
    assert!(root.join("named").exists());
    assert_eq!(fs::metadata(root.join("log")).expect("log").len(), 8292);
}
