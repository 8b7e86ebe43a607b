//! Concurrency (issue 3, "Show: concurrency"): N = 32 `pamh` processes log in at the same moment through
//! real libpam and the built pam_totp.so, with the same code.
//!
//! - DISALLOW_REUSE, one TOTP code: exactly one succeeds, in each of 12 rounds (a fresh step per round by
//!   faking the time; the same file throughout).
//! - One scratch code: exactly one succeeds, in each of 10 rounds (a new code per round).
//! - Reuse allowed and `RATE_LIMIT 100 30`: all 32 succeed and the RATE_LIMIT line holds all 32 attempts.
//! - The same scenarios against pam_google_authenticator.so, whose counts are printed, not asserted: the
//!   baseline that shows the race pam_totp fixes (`cargo test --test concurrency_totp -- --nocapture`).
//!
//! Two barriers make the 32 processes overlap, and each round checks through /proc that all 32 were waiting
//! at the barrier when it opened:
//! - `secret-lock`: the test holds the lock on the secret file, so every pamh blocks inside pam_totp's first
//!   open of the file (each has the file open when it is released);
//! - `flock`: every pamh is started as `flock -s BARRIER pamh ...` while the test holds BARRIER exclusively
//!   (the only barrier for pam_google_authenticator, which takes no lock).
//!
//! The tests of this file run one at a time (a mutex): 32 processes per round are enough for two cores.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]
// File::lock is Rust 1.89; the toolchain is newer than the workspace's rust-version (as in store.rs).
#![allow(clippy::incompatible_msrv)]

#[macro_use]
mod totp_common;

use pam_ffi::PamCode;
use pam_harness::{Harness, Outcome, Running};
use pam_totp::secret_file::SecretFile;
use std::fs::{self, File};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use totp_common::{
    me, oath_totp, rate_limit_timestamps, scratch_codes, two_modules, two_modules_in, value_of, write_secret,
    Layout, T0,
};

/// Parallel logins per round.
const N: usize = 32;
/// How long the barrier may take to fill (well below pam_totp's 10 s lock timeout).
const FILL_TIMEOUT: Duration = Duration::from_secs(8);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const SECRET: &str = "QGPSWMNUD3U2N7TS42X6HYOWI4";

#[derive(Clone, Copy, Debug)]
enum Barrier {
    SecretLock,
    Flock,
}

/// Whether process `pid` has `path` open (it is waiting at the barrier).
fn has_open(pid: u32, path: &Path) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

/// Starts N logins of `svc` at time `t` answering `reply`, all held at `barrier` until every one of them is
/// waiting there, then releases them together and returns their outcomes.
fn race(h: &Harness, svc: &str, secret_path: &Path, t: u64, reply: &str, barrier: Barrier) -> Vec<Outcome> {
    let barrier_path = h.root().join("barrier");
    let (held, waited_on) = match barrier {
        Barrier::SecretLock => (File::open(secret_path).unwrap(), secret_path.to_path_buf()),
        Barrier::Flock => (File::create(&barrier_path).unwrap(), barrier_path.clone()),
    };
    held.lock().unwrap();
    let wrapper = ["flock", "-s", barrier_path.to_str().unwrap()];
    let mut running: Vec<Running> = (0..N)
        .map(|_| {
            let run = h.run(svc).user(&me()).fake_time(t).reply(reply);
            match barrier {
                Barrier::SecretLock => run.spawn(),
                Barrier::Flock => run.via(&wrapper).spawn(),
            }
        })
        .collect();
    let start = Instant::now();
    loop {
        let waiting = running.iter().filter(|r| has_open(r.id(), &waited_on)).count();
        if waiting == N {
            break;
        }
        let exited = running.iter_mut().map(Running::has_exited).filter(|&e| e).count();
        assert_eq!(
            exited, 0,
            "{exited} processes finished while the barrier ({barrier:?}) was closed"
        );
        assert!(
            start.elapsed() < FILL_TIMEOUT,
            "only {waiting} of {N} reached the barrier ({barrier:?})"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // All N are alive and waiting on the same lock: release them together.
    drop(held);
    running.into_iter().map(Running::wait).collect()
}

fn successes(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| o.code() == PamCode::Success).count()
}

/// One line per login (its answer, last log line and first line of stderr), for an assertion that fails.
fn summary(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| {
            let last = o.logs.last().map(|l| l.text.as_str()).unwrap_or("(no log line)");
            let err = o.stderr.lines().next().unwrap_or("");
            format!("{:?} {} | {last} | {err}\n", o.status, o.code().name())
        })
        .collect()
}

/// Every loser was refused for the reason given, and nothing went wrong (no error line, nothing on stderr).
#[track_caller]
fn assert_losers_refused(outcomes: &[Outcome], reason: &str) {
    for o in outcomes.iter().filter(|o| o.code() != PamCode::Success) {
        o.assert_code(PamCode::AuthErr);
        assert!(o.logged(reason), "expected {reason}: {:#?}", o.logs);
        assert!(
            o.logs.iter().all(|l| l.severity > 3),
            "error logged: {:#?}",
            o.logs
        );
        assert!(o.stderr.is_empty(), "{}", o.stderr);
    }
}

#[track_caller]
fn parse(layout: Layout, path: &Path) -> SecretFile {
    SecretFile::parse(layout.read(path).as_bytes()).unwrap()
}

/// Rounds per test: all of them with the state in the secret file, fewer with `state=` (the same code
/// paths, with the state file's lock as the barrier), to keep the run short.
fn rounds(layout: Layout, all: u64) -> u64 {
    match layout {
        Layout::InSecretFile => all,
        Layout::StateFile => all.min(4),
    }
}

/// The barrier of round `r`: alternating. With `state=` the lock barrier needs the state file, which the
/// first round creates (under the flock barrier: 32 logins racing to create it).
fn barrier(layout: Layout, r: u64) -> Barrier {
    if r.is_multiple_of(2) == (layout == Layout::InSecretFile) {
        Barrier::SecretLock
    } else {
        Barrier::Flock
    }
}

in_both_layouts!(
    given_32_parallel_logins_with_one_totp_code_under_disallow_reuse_then_exactly_one_succeeds_every_round,
    given_32_parallel_logins_with_one_scratch_code_then_exactly_one_succeeds_every_round,
    given_reuse_allowed_and_rate_limit_100_then_32_parallel_valid_logins_all_succeed_and_all_are_recorded,
);

fn disallow_reuse_file() -> String {
    format!("{SECRET}\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n")
}

fn scratch_file(codes: &[String]) -> String {
    format!(
        "{SECRET}\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n{}\n",
        codes.join("\n")
    )
}

fn rate_limit_file() -> String {
    format!("{SECRET}\n\" RATE_LIMIT 100 30\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n")
}

fn twelve_scratch_codes() -> Vec<String> {
    (0..12u32)
        .map(|i| (41_000_000 + 123_457 * i).to_string())
        .collect()
}

/// Round `r` happens two steps after round `r - 1`, so each round has a code no earlier round used.
fn round_time(r: u64) -> u64 {
    T0 + 60 * r
}

fn given_32_parallel_logins_with_one_totp_code_under_disallow_reuse_then_exactly_one_succeeds_every_round(
    layout: Layout,
) {
    let _serial = serial();
    let (h, path) = two_modules_in(layout, "", "");
    layout.write_secret(&path, disallow_reuse_file().as_bytes());
    let locked = layout.locked_file(&path);
    for r in 0..rounds(layout, 12) {
        let t = round_time(r);
        let barrier = barrier(layout, r);
        let outcomes = race(&h, "totp", &locked, t, &oath_totp(SECRET, t, 30), barrier);
        assert_eq!(
            successes(&outcomes),
            1,
            "round {r} ({barrier:?}):\n{}",
            summary(&outcomes)
        );
        assert_losers_refused(&outcomes, "reason=replayed");
        let used = parse(layout, &path).disallow_reuse().unwrap().to_vec();
        assert!(used.contains(&(t / 30)), "round {r}: step not recorded: {used:?}");
    }
}

fn given_32_parallel_logins_with_one_scratch_code_then_exactly_one_succeeds_every_round(layout: Layout) {
    let _serial = serial();
    let (h, path) = two_modules_in(layout, "", "");
    let codes = twelve_scratch_codes();
    layout.write_secret(&path, scratch_file(&codes).as_bytes());
    let locked = layout.locked_file(&path);
    for r in 0..rounds(layout, 10) {
        let barrier = barrier(layout, r);
        let outcomes = race(&h, "totp", &locked, round_time(r), &codes[r as usize], barrier);
        assert_eq!(
            successes(&outcomes),
            1,
            "round {r} ({barrier:?}):\n{}",
            summary(&outcomes)
        );
        // The losers' 8 digits are no longer a scratch code: a wrong code (never "malformed", which would hide
        // a replayed scratch code among typos).
        assert_losers_refused(&outcomes, "reason=wrong-code");
        let left = scratch_codes(&layout.read(&path));
        assert_eq!(left, codes[r as usize + 1..].to_vec(), "round {r}");
    }
}

fn given_reuse_allowed_and_rate_limit_100_then_32_parallel_valid_logins_all_succeed_and_all_are_recorded(
    layout: Layout,
) {
    let _serial = serial();
    let (h, path) = two_modules_in(layout, "", "");
    layout.write_secret(&path, rate_limit_file().as_bytes());
    let locked = layout.locked_file(&path);
    for r in 0..rounds(layout, 3) {
        // A minute apart: the previous round's timestamps have left the 30 s interval.
        let t = round_time(r);
        let barrier = barrier(layout, r);
        let outcomes = race(&h, "totp", &locked, t, &oath_totp(SECRET, t, 30), barrier);
        assert_eq!(
            successes(&outcomes),
            N,
            "round {r} ({barrier:?}):\n{}",
            summary(&outcomes)
        );
        let body = layout.read(&path);
        let stamps = rate_limit_timestamps(&body);
        assert_eq!(stamps.len(), N, "round {r}: every attempt recorded:\n{body}");
        assert!(
            stamps.iter().all(|&s| (t..t + 10).contains(&s)),
            "round {r}: {stamps:?}"
        );
        assert_eq!(
            value_of(&body, "RATE_LIMIT")
                .unwrap()
                .split(' ')
                .take(2)
                .collect::<Vec<_>>(),
            ["100", "30"]
        );
    }
}

/// The baseline: pam_google_authenticator.so in the same scenarios, with the same driver and barrier. Its
/// counts are printed, never asserted (it has no lock, so the numbers vary from run to run).
#[test]
fn google_authenticator_baseline_under_the_same_races_is_printed() {
    let _serial = serial();
    let (h, path) = two_modules("", "");

    write_secret(&path, disallow_reuse_file().as_bytes());
    let mut counts = Vec::new();
    for r in 0..10 {
        let t = round_time(r);
        let outcomes = race(&h, "ga", &path, t, &oath_totp(SECRET, t, 30), Barrier::Flock);
        counts.push(successes(&outcomes));
    }
    eprintln!("pam_google_authenticator, DISALLOW_REUSE, one TOTP code, {N} parallel: accepted {counts:?}");

    let codes = twelve_scratch_codes();
    write_secret(&path, scratch_file(&codes).as_bytes());
    let mut counts = Vec::new();
    for (r, code) in codes.iter().take(10).enumerate() {
        let outcomes = race(&h, "ga", &path, round_time(r as u64), code, Barrier::Flock);
        counts.push(successes(&outcomes));
    }
    eprintln!("pam_google_authenticator, one scratch code, {N} parallel: accepted {counts:?}");

    write_secret(&path, rate_limit_file().as_bytes());
    let mut counts = Vec::new();
    for r in 0..3 {
        let t = round_time(r);
        let outcomes = race(&h, "ga", &path, t, &oath_totp(SECRET, t, 30), Barrier::Flock);
        let kept = rate_limit_timestamps(&fs::read_to_string(&path).unwrap()).len();
        counts.push((successes(&outcomes), kept));
    }
    eprintln!(
        "pam_google_authenticator, reuse allowed + RATE_LIMIT 100 30, {N} parallel valid logins: (accepted, timestamps kept) {counts:?}"
    );
}
