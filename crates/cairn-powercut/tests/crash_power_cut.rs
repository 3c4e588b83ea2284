//! Power cuts under the real on-disk database: fjall's files, cairn's transaction log and its
//! checkpoints, on the power-cut filesystem of this crate (a FUSE mount that keeps what was
//! not made durable by `fsync`/`fdatasync` in memory and drops it at a cut; its durability
//! model is in the crate's documentation).
//!
//! cairn-store's `crash_sigkill` kills a writer process, but a SIGKILL leaves the page cache,
//! and with it every unsynced write, in place; its `crash_power_loss` drops unsynced state,
//! but of `MemoryStorage`, not of the files the on-disk protocol writes. Here:
//!
//! 1. The test mounts the filesystem in its own process and starts a child (this test binary
//!    again, `--exact <test>` with `CAIRN_POWERCUT_CHILD=<database directory on the mount>`)
//!    that opens the database with `Database::open` and runs eight concurrent writers, as
//!    `crash_sigkill`'s child does: each atomic write checks its writer's counter `["w", w]`,
//!    sets it to `seq`, sets `["log", w, seq]` and sums `["total"]`, and every acknowledged
//!    write is reported as `ack <versionstamp> <w> <seq>` on the child's stdout, a pipe that
//!    outlives the child.
//! 2. After a random delay (5–300 ms after the database is open; one cycle in eight 0–30 ms
//!    after the start, during creation or recovery), SIGKILL. Then, in four cycles of eight,
//!    a power cut: the filesystem is unmounted, everything not durable is dropped, and it is
//!    mounted again; in three, the same after a random write-back of unsynced blocks, some
//!    torn; in one, no cut at all (a crash only: the next cut then also covers whatever the
//!    restart after it left unsynced).
//! 3. The test reopens the database itself and checks what `crash_sigkill` checks: every
//!    acknowledged write is there with its versionstamp; no write is partly visible (counter,
//!    log and total agree); versionstamps only grow across cuts; nothing seen after an earlier
//!    cut changes or disappears; each writer continued where the reopen left off.
//!
//! A database directory serves [`CYCLES_PER_DIRECTORY`] cycles, then a fresh one is used (the
//! first cycle of each creates a database under a cut).
//!
//! The negative control runs the same harness with the filesystem ignoring `fdatasync` of the
//! files under `tlog/` (the log's durability point; cairn's code unchanged): it must find
//! acknowledged writes lost.
//!
//! Parameters (environment variables): `CAIRN_POWERCUT_CYCLES` (default 24, about a minute
//! in a debug build) for the main test; the long run is `CAIRN_POWERCUT_CYCLES=500 cargo
//! test -p cairn-powercut --test crash_power_cut -- --nocapture`. `CAIRN_POWERCUT_SEED`
//! fixes the kill delays and the write-back (timing still differs between runs).
//! Name changes are durable only at their own directory's `fsync` (POSIX's letter, the
//! default); `CAIRN_POWERCUT_NAMES=journal` takes ext4's journal order instead (see
//! `docs/reliability.md`). `CAIRN_POWERCUT_TRACE=<file>` logs every name change, sync and cut.
//!
//! The filesystem needs `/dev/fuse` and root or `fusermount3` (Debian's `fuse3`, installed by
//! `scripts/test.sh`); without them the test fails, saying so: it never skips.
//!
//! The child's workload, its start and kill, and the verification are `crash_sigkill`'s, in
//! one file both tests include (`crates/cairn-store/tests/crash_workload/mod.rs`).

#[path = "../../cairn-store/tests/crash_workload/mod.rs"]
mod crash_workload;

use std::path::Path;
use std::time::Instant;

use cairn_powercut::{Config, CutReport, Mounted, Names};
use crash_workload::{child_main, env_u64, run_child, ChildSpec, Verifier};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MAIN_TEST: &str = "power_cut_loses_no_acknowledged_write";
const CONTROL_TEST: &str = "power_cut_without_the_log_fdatasync_loses_writes";
/// Set (to the database directory) in the child process.
const CHILD_ENV: &str = "CAIRN_POWERCUT_CHILD";
const CYCLES_ENV: &str = "CAIRN_POWERCUT_CYCLES";
const SEED_ENV: &str = "CAIRN_POWERCUT_SEED";
const NAMES_ENV: &str = "CAIRN_POWERCUT_NAMES";
const TRACE_ENV: &str = "CAIRN_POWERCUT_TRACE";
const DEFAULT_CYCLES: u64 = 24;
/// Cycles on one database before a fresh one (each open replays fjall's whole journal).
const CYCLES_PER_DIRECTORY: u64 = 6;
/// A progress line every this many cycles (for the long run).
const PROGRESS_EVERY: u64 = 50;
/// Cycles the negative control may take to see a loss (a cycle killed before the first
/// acknowledgement, or one whose writes all reached a checkpoint, shows none).
const CONTROL_CYCLES_MAX: u64 = 30;

#[test]
fn power_cut_loses_no_acknowledged_write() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child_main(Path::new(&dir));
    }
    let cycles = env_u64(CYCLES_ENV).unwrap_or(DEFAULT_CYCLES);
    let seed = env_u64(SEED_ENV).unwrap_or_else(rand::random);
    println!("power cut test: {cycles} cycles, seed {seed} (rerun with {SEED_ENV}={seed})");
    let names = match std::env::var(NAMES_ENV).as_deref() {
        Ok("journal") => Names::Journal,
        Err(_) | Ok("directory") => Names::Directory,
        Ok(other) => panic!("{NAMES_ENV}={other:?}: expected journal or directory"),
    };
    let config = Config {
        names,
        trace: std::env::var_os(TRACE_ENV).map(Into::into),
        ..Config::default()
    };
    let mut run = Run::new(config, MAIN_TEST, seed);
    let started = Instant::now();
    let mut totals = Totals::default();
    for cycle in 0..cycles {
        let outcome = run.cycle(cycle);
        assert!(
            outcome.problems.is_empty(),
            "{}: {} acknowledged writes lost; {:?}",
            outcome.ctx,
            outcome.lost,
            outcome.problems
        );
        totals.add(&outcome);
        if (cycle + 1) % PROGRESS_EVERY == 0 {
            println!(
                "power cut test: {} cycles, {} acknowledged writes checked, 0 lost",
                cycle + 1,
                totals.acks
            );
        }
    }
    println!(
        "power cut test: {cycles} cycles in {:.1} s: {} acknowledged writes checked, 0 lost; \
         {} cycles killed before the first acknowledgement; {} kills without a power cut; \
         {} cuts with write-back ({} unsynced blocks, {} written back, {} torn); {} files \
         rolled back; {}",
        started.elapsed().as_secs_f64(),
        totals.acks,
        totals.without_acks,
        totals.crashes_only,
        totals.write_back_cuts,
        totals.cut.write_back.dirty,
        totals.cut.write_back.written,
        totals.cut.write_back.torn,
        totals.cut.files_rolled_back,
        run.stats(),
    );
}

/// The negative control: with the log's `fdatasync` a no-op, power cuts must lose
/// acknowledged writes, and this harness must say so.
#[test]
fn power_cut_without_the_log_fdatasync_loses_writes() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child_main(Path::new(&dir));
    }
    let seed = env_u64(SEED_ENV).unwrap_or_else(rand::random);
    let config = Config {
        skip_fdatasync_in: Some("tlog".into()),
        ..Config::default()
    };
    let mut run = Run::new(config, CONTROL_TEST, seed);
    let mut checked = 0;
    for cycle in 0..CONTROL_CYCLES_MAX {
        let outcome = run.cycle(cycle);
        checked += outcome.acks;
        if outcome.lost > 0 {
            println!(
                "negative control (seed {seed}): after {} cycles, {} of {} acknowledged \
                 writes of the last cycle lost ({checked} checked in all); {}",
                cycle + 1,
                outcome.lost,
                outcome.acks,
                run.stats()
            );
            return;
        }
        assert!(
            outcome.problems.is_empty(),
            "{}: a problem other than lost writes: {:?}",
            outcome.ctx,
            outcome.problems
        );
    }
    panic!(
        "seed {seed}: with the log's fdatasync skipped, {CONTROL_CYCLES_MAX} power cuts lost \
         none of {checked} acknowledged writes: the harness cannot see losses"
    );
}

#[derive(Default)]
struct Totals {
    acks: u64,
    without_acks: u64,
    crashes_only: u64,
    write_back_cuts: u64,
    cut: CutReport,
}

impl Totals {
    fn add(&mut self, o: &Outcome) {
        self.acks += o.acks;
        self.without_acks += u64::from(o.acks == 0);
        self.crashes_only += u64::from(o.kind == Cut::None);
        self.write_back_cuts += u64::from(o.kind == Cut::WriteBack);
        self.cut.files_rolled_back += o.cut.files_rolled_back;
        self.cut.write_back.dirty += o.cut.write_back.dirty;
        self.cut.write_back.written += o.cut.write_back.written;
        self.cut.write_back.torn += o.cut.write_back.torn;
    }
}

// ---------------------------------------------------------------------------------------------
// Parent: one mount, cycles of child, kill, cut, verify.
// ---------------------------------------------------------------------------------------------

struct Run {
    // Dropped first: the mount must outlive nothing that uses it.
    mounted: Mounted,
    _mountpoint: tempfile::TempDir,
    test_name: &'static str,
    seed: u64,
    rng: StdRng,
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
    directory: u64,
}

/// What one cycle found.
struct Outcome {
    ctx: String,
    acks: u64,
    lost: u64,
    problems: Vec<String>,
    kind: Cut,
    cut: CutReport,
}

/// What follows the kill of a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Nothing: a process crash alone (the page cache survives), so that the next power cut
    /// also tests what a restart after a crash left unsynced.
    None,
    /// A power cut dropping everything unsynced.
    Clean,
    /// A power cut after a random, partly torn write-back of unsynced blocks.
    WriteBack,
}

impl Run {
    fn new(config: Config, test_name: &'static str, seed: u64) -> Run {
        let mountpoint = tempfile::tempdir().expect("temporary directory");
        let mounted = Mounted::new(mountpoint.path(), config)
            .unwrap_or_else(|e| panic!("the power-cut filesystem is needed for this test: {e}"));
        Run {
            mounted,
            _mountpoint: mountpoint,
            test_name,
            seed,
            rng: StdRng::seed_from_u64(seed),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
            verifier: Verifier::new("power cut"),
            directory: 0,
        }
    }

    fn stats(&self) -> String {
        let s = self.mounted.stats();
        format!(
            "filesystem: {} power cuts, {} file syncs, {} directory syncs, {} fdatasyncs skipped",
            s.power_cuts, s.fsyncs, s.fsyncdirs, s.fdatasyncs_skipped
        )
    }

    fn cycle(&mut self, cycle: u64) -> Outcome {
        let ctx = format!("seed {}, cycle {cycle}", self.seed);
        if cycle > 0 && cycle.is_multiple_of(CYCLES_PER_DIRECTORY) {
            self.next_directory();
        }
        let dir = self.mounted.path().join(format!("db{}", self.directory));
        let spec = ChildSpec {
            test_name: self.test_name,
            env: CHILD_ENV,
            kill_after_ms: 5..=300,
        };
        let acks = run_child(&spec, &dir, &mut self.rng, &ctx);
        let kind = match self.rng.random_range(0..8) {
            0 => Cut::None,
            1..=4 => Cut::Clean,
            _ => Cut::WriteBack,
        };
        let mut cut_rng = StdRng::seed_from_u64(self.rng.random());
        let cut = match kind {
            Cut::None => Ok(CutReport::default()),
            Cut::Clean => self.mounted.power_cut(None),
            Cut::WriteBack => self
                .mounted
                .power_cut(Some(&mut cut_rng as &mut dyn rand::RngCore)),
        }
        .unwrap_or_else(|e| panic!("{ctx}: power cut: {e}"));
        let ctx = format!("{ctx} ({kind:?})");
        let verdict = self
            .runtime
            .block_on(self.verifier.verify(&dir, &acks, &ctx));
        Outcome {
            ctx,
            acks: acks.len() as u64,
            lost: verdict.lost,
            problems: verdict.problems,
            kind,
            cut,
        }
    }

    /// Removes the database directory (durably, so that the filesystem forgets it) and starts
    /// over in a fresh one.
    fn next_directory(&mut self) {
        let root = self.mounted.path().to_path_buf();
        let dir = root.join(format!("db{}", self.directory));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove the old database");
        }
        std::fs::File::open(&root)
            .and_then(|d| d.sync_all())
            .expect("fsync the mount's root");
        self.directory += 1;
        self.verifier = Verifier::new("power cut");
    }
}
