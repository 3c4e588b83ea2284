//! Crash test: SIGKILL in the middle of a stream of acknowledged atomic writes.
//!
//! The parent test re-executes this test binary (`std::env::current_exe()` with
//! `--exact <this test> --nocapture` and `CAIRN_CRASH_CHILD=<dir>`); in that child the same
//! test function runs a writer loop instead: it opens the on-disk (fjall) database in `<dir>`
//! and eight tokio tasks commit atomic writes as fast as they can. Each task `w` owns a counter
//! key and every write does, in one atomic operation:
//!
//! * check that `["w", w]` still has the versionstamp the task just read,
//! * set `["w", w]` = `seq` (u64), set `["log", w, seq]` = `seq`, sum `["total"]` by 1,
//!
//! where `seq` is the counter's previous value plus one. Once a commit is acknowledged the
//! child writes `ack <versionstamp hex> <w> <seq>` to its stdout with one `write` per line.
//! The parent reads those lines through a pipe: bytes already in a pipe survive the writer's
//! death, so every acknowledgement the child made before it died reaches the parent.
//!
//! The parent kills the child with SIGKILL (`Child::kill`) after a random delay (5–200 ms
//! after the child reported that the database is open; in one cycle out of eight, 0–30 ms
//! after the spawn instead, so that some kills land while the database is being opened or
//! recovered), reopens the directory itself (no child running) and verifies:
//!
//! 1. every acknowledged write is present, with the versionstamp it was acknowledged with;
//! 2. no atomic write is partly visible: for every writer, `["w", w]` = N implies that
//!    `["log", w, 1..=N]` exist and nothing above N does, the versionstamp of `["w", w]` is the
//!    one of `["log", w, N]`, and `["total"]` equals the number of log entries;
//! 3. versionstamps keep increasing across restarts: every write of a cycle (acknowledged or
//!    only found in the database afterwards) has a versionstamp greater than every versionstamp
//!    seen in earlier cycles, and nothing seen in an earlier cycle ever changes or disappears.
//!
//! It also checks that the child continued exactly where the parent's reopen left off (its
//! first acknowledged `seq` per writer is the recovered value plus one).
//!
//! A directory is reused for [`DEFAULT_CYCLES_PER_DIRECTORY`] cycles (so nine restarts of the
//! same database each), then the test moves on to a fresh one: every open replays the whole
//! fjall journal (this workload never fills a memtable), which in a debug build costs about
//! 75 µs per commit, so one ever-growing directory would make the run time quadratic in the
//! cycle count. Every first cycle of a directory also kills a child that is creating a
//! database.
//!
//! Parameters (environment variables):
//!
//! * `CAIRN_CRASH_CYCLES`: number of kill/reopen cycles, default 50 (the normal test run);
//!   set it to e.g. 1000 for a long run on demand:
//!   `CAIRN_CRASH_CYCLES=1000 cargo test -p cairn-store --test crash_sigkill -- --nocapture`
//!   (add `--release` to make each cycle cheaper and the child write faster). The 50-cycle
//!   run takes about 30 s in a debug build on two cores.
//! * `CAIRN_CRASH_CYCLES_PER_DIR`: cycles on one directory before a fresh one, default 10.
//! * `CAIRN_CRASH_SEED`: the seed of the kill delays (printed at the start and in every
//!   failure message). Timing still differs between runs, so a seed narrows a failure down
//!   rather than replaying it exactly.
//!
//! The child is killed in a `Drop` guard, so it dies even if the parent panics; it also exits
//! by itself once its stdout pipe is closed or after a few minutes. The workload, the child's
//! side and the verification are shared with cairn-powercut's `crash_power_cut`
//! (`tests/crash_workload/mod.rs`).

mod crash_workload;

use std::path::Path;
use std::time::Instant;

use crash_workload::{child_main, env_u64, run_child, ChildSpec, Verifier};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The name of the test function below: what the child is started with.
const TEST_NAME: &str = "sigkill_loses_no_acknowledged_write";
/// Set (to the database directory) in the child process.
const CHILD_ENV: &str = "CAIRN_CRASH_CHILD";
const CYCLES_ENV: &str = "CAIRN_CRASH_CYCLES";
const SEED_ENV: &str = "CAIRN_CRASH_SEED";
const PER_DIRECTORY_ENV: &str = "CAIRN_CRASH_CYCLES_PER_DIR";
const DEFAULT_CYCLES: u64 = 50;
/// Cycles on one database directory before the test starts over in a fresh one (see the
/// module docs: this keeps each cycle's cost bounded).
const DEFAULT_CYCLES_PER_DIRECTORY: u64 = 10;

/// How this file's tests start their children: the main test's function, which is the
/// writer in a child, killed 5–200 ms after the database is open.
fn child_spec() -> ChildSpec {
    ChildSpec {
        test_name: TEST_NAME,
        env: CHILD_ENV,
        kill_after_ms: 5..=200,
    }
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child_main(Path::new(&dir));
        return;
    }
    let cycles = env_u64(CYCLES_ENV).unwrap_or(DEFAULT_CYCLES);
    let per_directory = env_u64(PER_DIRECTORY_ENV)
        .unwrap_or(DEFAULT_CYCLES_PER_DIRECTORY)
        .max(1);
    let seed = env_u64(SEED_ENV).unwrap_or_else(rand::random);
    println!(
        "crash test: {cycles} cycles, {per_directory} per directory, seed {seed} \
         (rerun with {SEED_ENV}={seed})"
    );

    let spec = child_spec();
    let mut rng = StdRng::seed_from_u64(seed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut cycle = 0;
    while cycle < cycles {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut verifier = Verifier::new("restart");
        for _ in 0..per_directory.min(cycles - cycle) {
            let ctx = format!("seed {seed}, cycle {cycle}");
            let acks = run_child(&spec, dir.path(), &mut rng, &ctx);
            let verdict = runtime.block_on(verifier.verify(dir.path(), &acks, &ctx));
            assert!(
                verdict.problems.is_empty(),
                "{ctx}: {} acknowledged writes lost; {:?}",
                verdict.lost,
                verdict.problems
            );
            totals.acks += acks.len() as u64;
            totals.cycles_without_acks += u64::from(acks.is_empty());
            cycle += 1;
        }
        totals.recovered += verifier.recovered();
    }
    println!(
        "crash test: {cycles} cycles in {:.1} s: {} acknowledged writes verified, {} writes \
         recovered, {} cycles killed before the first acknowledgement",
        started.elapsed().as_secs_f64(),
        totals.acks,
        totals.recovered,
        totals.cycles_without_acks,
    );
}

#[derive(Default)]
struct Totals {
    acks: u64,
    recovered: u64,
    cycles_without_acks: u64,
}

/// The negative control: the same harness, with the database directory lost after the kill
/// (what a dead disk would leave), must report lost writes. A harness that cannot fail proves
/// nothing. (Syncs switched off would not do here: a SIGKILL leaves the page cache, and with
/// it every unsynced write, in place; the power-loss tests have that control.)
#[test]
fn the_harness_reports_a_lost_directory() {
    let spec = child_spec();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut rng = StdRng::seed_from_u64(env_u64(SEED_ENV).unwrap_or(1));
    // Until a child was killed after some acknowledgements (an early kill may come first).
    for cycle in 0..20 {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ctx = format!("negative control, cycle {cycle}");
        let acks = run_child(&spec, dir.path(), &mut rng, &ctx);
        if acks.is_empty() {
            continue;
        }
        std::fs::remove_dir_all(dir.path()).expect("lose the directory");
        std::fs::create_dir(dir.path()).expect("an empty directory in its place");
        let verdict = runtime.block_on(Verifier::new("restart").verify(dir.path(), &acks, &ctx));
        assert_eq!(
            verdict.lost,
            acks.len() as u64,
            "the harness did not notice that {} acknowledged writes were lost: {:?}",
            acks.len(),
            verdict.problems
        );
        return;
    }
    panic!("no child acknowledged a write before its kill in 20 tries");
}
