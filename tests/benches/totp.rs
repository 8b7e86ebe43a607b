//! Benchmark of pam_totp against pam_google_authenticator, run by `bench/totp.sh`. Not a test: it
//! prints medians and ratios measured in ONE run (the machine is shared and noisy; only ratios from the same
//! run mean anything) and exits 1 when a ratio target is missed, 2 when it cannot run.
//!
//! The `-c` cases run the same logins through `pamc`, a minimal C PAM client: sshd is a C program, so Rust's
//! runtime (and `libgcc_s`, which Rust's unwinding needs) is not loaded before the module, and a Rust driver
//! would hide that part of the module's cost.
//!
//! Each sample is one whole `pamh` process (process start, libpam, loading the module, the prompt, the
//! decision, any rewrite of the secret file), which is what sshd pays per login; both modules run through
//! the same driver with the same stack shape (`auth required <module> secret=<dir>/${USER}.ga [args]`),
//! samples interleaved (A B, B A, ...). Cases (N sequential each, default 200):
//! - right code, reuse allowed (no file write for either module);
//! - wrong code, default options (both scan ±1500 steps for clock skew, ≈ 3000 HMACs);
//! - wrong code, `noskewadj`;
//! - scratch code (the file is rewritten; a fresh file is put in place before each sample, untimed);
//! - the same scratch case with the secret file on tmpfs (`/dev/shm`), where `fsync` costs nothing: not a
//!   target, a decomposition. pam_totp syncs the file *and its directory* (so that a used scratch code stays
//!   used after a power cut), google-authenticator only the file; this row shows the rest of the write path.
//!
//! Targets, as ratios of medians median(pam_totp) / median(pam_google_authenticator) from the same run (the
//! verdict and the exit status): a right-code login within 1.10 (both drivers), a wrong code (default
//! options) at most 0.70. The other cases are printed without a target. Each case also prints the median of
//! the per-round differences pam_totp - GA with a 95% bootstrap interval: the two modules run back to back
//! in every round, so this is the sharper estimate of the same gap; it is reported, not used for the
//! verdict. Also printed: the floor (the same driver with pam_permit.so, interleaved too), so that a
//! module's own cost is median - floor; and, last, the fixed cost of a Rust PAM module that does nothing
//! (tests/fixture-module) over pam_permit; and (`enum`) the refusal time of an enrolled user whose refusal is
//! recorded beside those of users whose refusal records nothing (which rewrite the decoy file instead), to
//! show that it does not tell who is enrolled.
//!
//! Inputs (environment): `PAM_MODULE_DIR` (where `pamh` and `libpam_totp.so` are; default: this binary's
//! `target/release`), `BENCH_RUNS` (samples per case and module, default 200), `BENCH_CASES` (a comma list
//! of right, wrong, noskewadj, scratch, tmpfs, right-c, scratch-c, rustfloor, enum; default all). The syslog shim of the
//! harness is preloaded, so nothing is logged to the host. Plain `std::time`, no criterion.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

#[path = "../tests/totp_common/mod.rs"]
mod totp_common;

use pam_ffi::PamCode;
use pam_harness::{module_path, Harness, PAMC, SYSLOG_SHIM};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use totp_common::{current_code, ga_module, me, now, write_secret, wrong_code, GA_MODULE, SECRET};

const SCRATCH: &str = "45681685";

fn body() -> String {
    format!("{SECRET}\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n{SCRATCH}\n92711506\n35367609\n78447767\n")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Right,
    Wrong,
    WrongNoSkewAdj,
    Scratch,
    ScratchTmpfs,
    RightC,
    ScratchC,
}

impl Case {
    /// The name for `BENCH_CASES`.
    fn key(self) -> &'static str {
        match self {
            Case::Right => "right",
            Case::Wrong => "wrong",
            Case::WrongNoSkewAdj => "noskewadj",
            Case::Scratch => "scratch",
            Case::ScratchTmpfs => "tmpfs",
            Case::RightC => "right-c",
            Case::ScratchC => "scratch-c",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Case::Right => "right code, reuse allowed",
            Case::Wrong => "wrong code (default: ±1500-step skew scan)",
            Case::WrongNoSkewAdj => "wrong code, noskewadj",
            Case::Scratch => "scratch code (file rewritten)",
            Case::ScratchTmpfs => "scratch code, file on tmpfs",
            Case::RightC => "right code, C client (as sshd)",
            Case::ScratchC => "scratch code, C client (as sshd)",
        }
    }

    /// The highest ratio of medians pam_totp / GA that meets the target, if the case has one.
    fn target(self) -> Option<f64> {
        match self {
            Case::Right | Case::RightC => Some(1.10),
            Case::Wrong => Some(0.70),
            Case::WrongNoSkewAdj | Case::Scratch | Case::ScratchTmpfs | Case::ScratchC => None,
        }
    }

    /// Through `pamc` (C) rather than `pamh` (Rust).
    fn c_driver(self) -> bool {
        matches!(self, Case::RightC | Case::ScratchC)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median of the per-round differences `ours[i] - theirs[i]` (each round times both modules back to back, so
/// the machine's drift cancels), with a 95% bootstrap interval (2,000 resamples, a fixed-seed xorshift: the
/// same data always gives the same interval). In ms.
fn paired_difference(ours: &[f64], theirs: &[f64]) -> (f64, f64, f64) {
    let d: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a - b).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let n = d.len().max(1) as u64;
    let mut boot: Vec<f64> = (0..2000)
        .map(|_| median((0..d.len()).map(|_| d[(next() % n) as usize]).collect()))
        .collect();
    boot.sort_by(f64::total_cmp);
    let (lo, hi) = (boot[50], boot[1949]);
    (median(d), lo, hi)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One timed login through `svc` (wall ms); checks the answer so that a broken setup cannot look fast.
fn sample(h: &Harness, path: &Path, svc: &str, case: Case, wrong: &str) -> Result<f64, String> {
    let (reply, want) = match (svc, case) {
        ("permit", _) => (String::new(), PamCode::Success),
        (_, Case::Right | Case::RightC) => (current_code(&body()), PamCode::Success),
        (_, Case::Wrong | Case::WrongNoSkewAdj) => (wrong.to_owned(), PamCode::AuthErr),
        (_, Case::Scratch | Case::ScratchTmpfs | Case::ScratchC) => {
            write_secret(path, body().as_bytes());
            (SCRATCH.to_owned(), PamCode::Success)
        }
    };
    if case.c_driver() {
        return sample_c(h, svc, case, &reply, want);
    }
    let run = h.run(svc).user(&me()).reply(&reply);
    let start = Instant::now();
    let o = run.go();
    let took = start.elapsed();
    let got = o.results.last().map(|r| r.1);
    if !o.status.success() || got != Some(want) {
        return Err(format!(
            "{svc}, {}: expected {want:?}, got {got:?}\nlogs: {:#?}\n{}",
            case.name(),
            o.logs,
            o.stderr
        ));
    }
    Ok(ms(took))
}

/// A fresh directory on tmpfs (`/dev/shm`) if there is one.
fn tmpfs_dir() -> Option<tempfile::TempDir> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some("/dev/shm") && l.split(' ').nth(2) == Some("tmpfs"))
        .then(|| tempfile::tempdir_in("/dev/shm").ok())
        .flatten()
}

/// One timed login through the C client `pamc` (same confdir and services; the syslog shim preloaded too).
fn sample_c(h: &Harness, svc: &str, case: Case, reply: &str, want: PamCode) -> Result<f64, String> {
    let log = h.root().join("pamc-syslog.txt");
    let mut cmd = std::process::Command::new(PAMC);
    cmd.arg(h.confdir())
        .args([svc, &me(), reply])
        .env("LD_PRELOAD", SYSLOG_SHIM)
        .env("PAMH_SYSLOG_FILE", &log);
    let start = Instant::now();
    let out = cmd.output().map_err(|e| format!("running {PAMC}: {e}"))?;
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let got = text
        .trim()
        .strip_prefix("result ")
        .and_then(|n| n.parse::<i32>().ok());
    if !out.status.success() || got != Some(want.as_raw()) {
        return Err(format!(
            "{svc}, {} (pamc): expected {want:?}, got {text:?}\n{}",
            case.name(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(ms(took))
}

fn run() -> Result<bool, String> {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    if !Path::new(GA_MODULE).exists() {
        return Err(format!(
            "{GA_MODULE} missing: install libpam-google-authenticator"
        ));
    }
    let totp_so = module_path("pam_totp");
    println!("pam_totp:                 {}", totp_so.display());
    println!("pam_google_authenticator: {}", ga_module());
    println!(
        "driver: {} (one process per login), N = {runs} per case and module, interleaved with the floor",
        pam_harness::pamh_path().display()
    );
    println!(
        "floor: pam_permit.so through the same driver; over floor = median - floor (the module's own cost)\n"
    );

    let h = Harness::new();
    let disk_dir = h.root().to_path_buf();
    let shm = tmpfs_dir();
    let wrong = wrong_code(&body());
    h.service("permit", "auth required pam_permit.so\n");

    println!(
        "{:<43} {:>8} {:>8} {:>8} {:>7} | {:>17} | verdict",
        "case (median ms per login)", "pam_totp", "GA", "floor", "ratio", "over floor T / GA"
    );
    let mut all_ok = true;
    let only = std::env::var("BENCH_CASES").unwrap_or_default();
    let cases = [
        Case::Right,
        Case::Wrong,
        Case::WrongNoSkewAdj,
        Case::Scratch,
        Case::ScratchTmpfs,
        Case::RightC,
        Case::ScratchC,
    ];
    for case in cases
        .into_iter()
        .filter(|c| only.is_empty() || only.split(',').any(|o| o.trim() == c.key()))
    {
        let dir = match (case, &shm) {
            (Case::ScratchTmpfs, Some(d)) => d.path().to_path_buf(),
            (Case::ScratchTmpfs, None) => {
                println!("{:<43} not measured: /dev/shm is not a tmpfs here", case.name());
                continue;
            }
            _ => disk_dir.clone(),
        };
        let path = dir.join(format!("{}.ga", me()));
        let secret = format!("secret={}/${{USER}}.ga", dir.display());
        let args = if case == Case::WrongNoSkewAdj {
            "noskewadj"
        } else {
            ""
        };
        h.service(
            "totp",
            &format!("auth required {} {secret} {args}\n", totp_so.display()),
        );
        h.service("ga", &format!("auth required {GA_MODULE} {secret} {args}\n"));
        write_secret(&path, body().as_bytes());
        // Warm-up (page cache, dynamic loader), not counted.
        for svc in ["totp", "ga", "permit"] {
            sample(&h, &path, svc, case, &wrong)?;
        }
        let names = ["totp", "ga", "permit"];
        let mut by: [Vec<f64>; 3] = Default::default();
        for i in 0..runs {
            for k in 0..3 {
                // Rotate the order so that no module always runs right after another.
                let which = (i + k) % 3;
                by[which].push(sample(&h, &path, names[which], case, &wrong)?);
            }
        }
        let [ours, theirs, floor] = by;
        let (d, lo, hi) = paired_difference(&ours, &theirs);
        let (a, b, f) = (median(ours), median(theirs), median(floor));
        let ratio = a / b;
        let verdict = match case.target() {
            None => "(no target)".to_owned(),
            Some(t) if ratio <= t => format!("ok (target <= {t:.2})"),
            Some(t) => {
                all_ok = false;
                format!("MISSED (target <= {t:.2})")
            }
        };
        println!(
            "{:<43} {a:>8.2} {b:>8.2} {f:>8.2} {ratio:>7.3} | {:>7.2} / {:<7.2} | {verdict}",
            case.name(),
            a - f,
            b - f,
        );
        println!(
            "{:<43} paired by round: pam_totp - GA {:+.0} us (95% CI {:+.0} to {:+.0}), \
             i.e. {:.3} ({:.3} to {:.3}) of GA's median",
            "",
            d * 1e3,
            lo * 1e3,
            hi * 1e3,
            1.0 + d / b,
            1.0 + lo / b,
            1.0 + hi / b
        );
    }
    if only.is_empty() || only.split(',').any(|o| o.trim() == "rustfloor") {
        rust_floor(&h, runs)?;
    }
    if only.is_empty() || only.split(',').any(|o| o.trim() == "enum") {
        all_ok &= enumeration(&h, &disk_dir, runs, &wrong)?;
    }
    Ok(all_ok)
}

/// The decoy directory pam_totp writes to (see `pam_totp::module::DECOY_DIR`).
const DECOY_DIR: &str = "/var/lib/pam_totp";

/// One wrong-code login of `user` through `svc`, which must be prompted and refused for `reason` (as logged):
/// the time from the answer to the refusal (what a remote client can measure; the lookups before the prompt
/// are not in it), in ms.
fn refusal(h: &Harness, svc: &str, user: &str, wrong: &str, reason: &str) -> Result<f64, String> {
    let o = h.run(svc).user(user).reply(wrong).time_answer().go();
    let got = o.results.last().map(|r| r.1);
    let logged = o
        .logs
        .iter()
        .any(|l| l.text.contains(&format!(" reason={reason}")));
    match (got, o.answer_us.last()) {
        (Some(PamCode::AuthErr), Some(&us)) if logged => Ok(us as f64 / 1e3),
        _ => Err(format!(
            "{svc}, {user}: expected AuthErr with reason={reason}, got {got:?}\nlogs: {:#?}",
            o.logs
        )),
    }
}

/// Whether a refusal's time tells who is enrolled: wrong codes for an enrolled user whose refusal is
/// recorded (RATE_LIMIT, kept under its limit), an enrolled user with nothing to record, an unknown and an
/// unenrolled user, and an enrolled user over RATE_LIMIT, interleaved; each against the first, paired by
/// round, and judged against the run's own noise (`true`: every one within it). Needs the decoy directory
/// (bench/totp.sh provides it in a private mount namespace when run as root).
fn enumeration(h: &Harness, dir: &Path, runs: usize, wrong: &str) -> Result<bool, String> {
    println!();
    if pam_ffi::os::effective_uid() != 0 || !Path::new(DECOY_DIR).is_dir() {
        println!(
            "refusal time by kind of user: not measured (needs root and {DECOY_DIR}; run bench/totp.sh)"
        );
        return Ok(true);
    }
    let totp_so = module_path("pam_totp");
    let user = me();
    // Under the limit: rewritten (untimed) every RESET rounds, fewer attempts than it allows, so that each of
    // its refusals is checked and recorded. Over the limit: every refusal is over it.
    let under_limit = dir.join(format!("{user}.rl"));
    let reset_under_limit = || {
        write_secret(
            &under_limit,
            format!("{SECRET}\n\" RATE_LIMIT 100 1\n\" TOTP_AUTH\n").as_bytes(),
        )
    };
    reset_under_limit();
    write_secret(
        &dir.join(format!("{user}.plain")),
        format!("{SECRET}\n\" TOTP_AUTH\n").as_bytes(),
    );
    write_secret(
        &dir.join(format!("{user}.over")),
        format!("{SECRET}\n\" RATE_LIMIT 1 3600 {}\n\" TOTP_AUTH\n", now()).as_bytes(),
    );
    for (svc, ext) in [("enum-rl", "rl"), ("enum-plain", "plain"), ("enum-over", "over")] {
        h.service(
            svc,
            &format!(
                "auth required {} secret={}/${{USER}}.{ext}\n",
                totp_so.display(),
                dir.display()
            ),
        );
    }
    let kinds = [
        (
            "enrolled, refusal recorded (RATE_LIMIT)",
            "enum-rl",
            user.as_str(),
            "wrong-code",
        ),
        (
            "enrolled, nothing to record (decoy)",
            "enum-plain",
            user.as_str(),
            "wrong-code",
        ),
        (
            "unknown user (decoy)",
            "enum-rl",
            "no-such-user-bench",
            "unknown-user",
        ),
        ("not enrolled (decoy)", "enum-rl", "daemon", "not-enrolled"),
        (
            "enrolled, over RATE_LIMIT (not checked)",
            "enum-over",
            user.as_str(),
            "rate-limited",
        ),
    ];
    const RESET: usize = 20;
    let mut by: [Vec<f64>; 5] = Default::default();
    for i in 0..=runs {
        if i % RESET == 0 {
            reset_under_limit();
        }
        for k in 0..kinds.len() {
            let which = (i + k) % kinds.len();
            let (_, svc, who, reason) = kinds[which];
            let took = refusal(h, svc, who, wrong, reason)?;
            if i > 0 {
                by[which].push(took);
            }
        }
    }
    // The benchmark's noise: how far the median of the same kind moves between blocks of consecutive rounds
    // of this run. A difference is judged against it rather than against zero: with enough rounds any
    // difference, even one of a microsecond, has an interval that excludes zero.
    let noise = block_spread(&by[0], NOISE_BLOCKS);
    println!(
        "refusal time by kind of user, from the answer to the refusal (wrong code, default options, \
         N = {runs}, interleaved; noise: the first row's median moves by {:.0} us between {NOISE_BLOCKS} \
         blocks of rounds):",
        noise * 1e3
    );
    let base = median(by[0].clone());
    println!("  {:<42} {base:>7.2} ms", kinds[0].0);
    let mut same = true;
    for (k, kind) in kinds.iter().enumerate().skip(1) {
        let (d, lo, hi) = paired_difference(&by[k], &by[0]);
        let within = -noise <= lo && hi <= noise;
        same &= within;
        println!(
            "  {:<42} {:>7.2} ms, paired by round {:+.0} us (95% CI {:+.0} to {:+.0}): {}",
            kind.0,
            median(by[k].clone()),
            d * 1e3,
            lo * 1e3,
            hi * 1e3,
            if within {
                "within the noise"
            } else {
                "DIFFERS (target: the interval within the noise)"
            }
        );
    }
    Ok(same)
}

/// Blocks of consecutive rounds over which [`block_spread`] measures the noise.
const NOISE_BLOCKS: usize = 5;

/// How far the median of `samples` moves between `blocks` runs of consecutive samples (max - min).
fn block_spread(samples: &[f64], blocks: usize) -> f64 {
    let len = samples.len() / blocks.max(1);
    if len == 0 {
        return 0.0;
    }
    let medians: Vec<f64> = samples
        .chunks_exact(len)
        .take(blocks)
        .map(|b| median(b.to_vec()))
        .collect();
    let (lo, hi) = medians
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &m| {
            (lo.min(m), hi.max(m))
        });
    hi - lo
}

/// What any Rust PAM module costs before doing anything: tests/fixture-module (pam-ffi's entry points,
/// linked like the shipped modules, no work) against pam_permit, interleaved, through both drivers.
fn rust_floor(h: &Harness, runs: usize) -> Result<(), String> {
    let fx = module_path("pam_fixture");
    h.service("fx", &format!("auth required {}\n", fx.display()));
    println!();
    for (driver, case) in [("pamh (Rust)", Case::Right), ("pamc (C, as sshd)", Case::RightC)] {
        let mut by: [Vec<f64>; 2] = Default::default();
        for i in 0..=runs {
            for k in 0..2 {
                let which = (i + k) % 2;
                let svc = ["fx", "permit"][which];
                // A right-code login: the no-op module never prompts, and both answer PAM_SUCCESS.
                let took = sample(h, &h.root().join("unused"), svc, case, "")?;
                if i > 0 {
                    by[which].push(took);
                }
            }
        }
        let [f, p] = by;
        let (d, lo, hi) = paired_difference(&f, &p);
        let (f, p) = (median(f), median(p));
        println!(
            "fixed cost of a Rust module via {driver}: a no-op module on pam-ffi {f:.2} ms, pam_permit {p:.2} ms: \
             {:+.0} us per process (paired by round: {:+.0} us, 95% CI {:+.0} to {:+.0})",
            (f - p) * 1e3,
            d * 1e3,
            lo * 1e3,
            hi * 1e3
        );
    }
    println!(
        "(the no-op module: {}; loading std, TLS, relocations; no module logic)",
        fx.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => {
            println!(
                "\nverdict: every target met (right code <= 1.10x, wrong code <= 0.70x GA, refusal times \
                 within the noise)"
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("\nverdict: TARGET MISSED in at least one case (see above)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("bench totp: error: {e}");
            ExitCode::from(2)
        }
    }
}
