//! Crash safety through the module (issue 3, "Show: crash safety"): 600 `pamh` processes (500 required) are
//! killed with SIGKILL at random moments of logins that rewrite the secret file (a scratch code used, or a
//! DISALLOW_REUSE step recorded, at the real time: see `fresh_file`). After every kill the file is parsed
//! with the module's own parser and must be byte for byte either the version before that login or the
//! version the login would have written: never empty, never torn, mode and owner unchanged. Temporary files
//! left by killed writers are swept by the next successful login. (The store's own SIGKILL test is
//! pam_totp/tests/store.rs; this one goes through libpam and the whole module.)
//!
//! Four workers (two per kind of update) run side by side, each on its own file; the kill delay is drawn
//! uniformly from [0, 1.1 x a login's measured duration], so kills land before, during and after the write.
//! `CRASH_SEED=<n>` replays a run (the seed is printed).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

mod totp_common;

use pam_ffi::PamCode;
use pam_harness::Harness;
use pam_totp::args::Options;
use pam_totp::otp::{format_code, Algorithm, Digits, Otp};
use pam_totp::secret_file::{decode_secret, SecretFile};
use pam_totp::verify::{verify, Outcome};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use totp_common::{me, two_modules, write_secret};

/// SIGKILLs that must hit a running login, over all workers.
const KILLS: usize = 600;
const WORKERS: usize = 4;
const SECRET: &str = "QGPSWMNUD3U2N7TS42X6HYOWI4";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Scratch,
    DisallowReuse,
}

/// xorshift64*: enough randomness for kill delays, and replayable from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Default)]
struct Tally {
    /// Killed while running; the file was still the old version.
    killed_old: usize,
    /// Killed while running; the file was already the new version.
    killed_new: usize,
    /// Killed after its temporary file was created and before the rename (it left one behind).
    killed_mid_write: usize,
    /// Finished before the kill (must have succeeded and written the new version).
    completed: usize,
}

/// A fresh file: scratch codes to use up, or a TOTP file whose window of 100 steps (-49..+50) leaves room
/// for many DISALLOW_REUSE updates at the real time (killed processes must not run under libfaketime: it
/// leaves its /dev/shm segments behind when killed).
fn fresh_file(kind: Kind, worker: usize) -> Vec<u8> {
    let mut body = format!("{SECRET}\n\" WINDOW_SIZE 100\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
    if kind == Kind::Scratch {
        for i in 0..60u32 {
            body.push_str(&format!("{}\n", 10_000_000 + 1_000_003 * i + worker as u32));
        }
    }
    body.into_bytes()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Steps around now (±40, well inside the window whenever the module looks) that are not used yet and whose
/// code no other step near now shares (so that the module cannot match another step).
fn usable_steps(file: &SecretFile, otp: &Otp, now_step: u64) -> Vec<u64> {
    let codes: Vec<(u64, u32)> = (now_step - 60..=now_step + 60)
        .map(|s| (s, otp.hotp(s)))
        .collect();
    let used = file.disallow_reuse().unwrap_or(&[]);
    codes
        .iter()
        .filter(|(s, c)| {
            s.abs_diff(now_step) <= 40
                && !used.contains(s)
                && codes.iter().filter(|(_, d)| d == c).count() == 1
        })
        .map(|(s, _)| *s)
        .collect()
}

fn leftovers(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("~totp"))
        .count()
}

/// The inode of the temporary file left in `dir`, if any (one name: a new leftover is a new inode).
fn leftover_inode(dir: &Path) -> Option<u64> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with("~totp"))
        .and_then(|e| e.metadata().ok())
        .map(|m| m.ino())
}

/// One worker: its own harness and file, logins killed at random delays until `quota` kills hit a running
/// process.
fn worker(index: usize, kind: Kind, quota: usize, seed: u64) -> Tally {
    let mut rng = Rng(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1)) | 1);
    let (h, path): (Harness, _) = two_modules("noskewadj", "");
    write_secret(&path, fresh_file(kind, index));
    let opts = Options {
        noskewadj: true,
        ..Options::default()
    };
    let uid = pam_ffi::os::effective_uid();
    let mut tally = Tally::default();

    let otp = Otp::new(
        &decode_secret(SECRET).unwrap(),
        Algorithm::Sha1,
        Digits::default(),
    )
    .unwrap();
    // The next login: its code and the file it would write (empty when the file is used up).
    let next = |current: &[u8], rng: &mut Rng| -> (String, Vec<u8>) {
        let t = now();
        let file = SecretFile::parse(current).unwrap();
        let code = match kind {
            Kind::Scratch => match file.scratch_codes().next() {
                Some(c) => c.to_string(),
                None => return (String::new(), Vec::new()),
            },
            Kind::DisallowReuse => {
                let steps = usable_steps(&file, &otp, t / 30);
                if steps.len() < 10 {
                    return (String::new(), Vec::new());
                }
                let step = steps[rng.below(steps.len() as u64) as usize];
                format_code(otp.hotp(step), Digits::default()).to_string()
            }
        };
        let v = verify(&file, t, &code, &opts, None);
        assert!(matches!(v.outcome, Outcome::Accepted { .. }), "{:?}", v.outcome);
        (
            code,
            v.updated
                .expect("an accepted code rewrites this file")
                .to_bytes()
                .to_vec(),
        )
    };

    // Calibration: how long an unkilled login takes here, now.
    let mut durations = Vec::new();
    for _ in 0..5 {
        let old = fs::read(&path).unwrap();
        let (code, new) = next(&old, &mut rng);
        let start = Instant::now();
        h.run("totp")
            .user(&me())
            .reply(&code)
            .go()
            .assert_code(PamCode::Success);
        durations.push(start.elapsed());
        assert_eq!(fs::read(&path).unwrap(), new);
    }
    durations.sort();
    let typical = durations[2];
    let max_delay = u64::try_from(typical.as_micros()).unwrap() * 11 / 10;

    let mut killed = 0;
    let mut iterations = 0;
    while killed < quota {
        iterations += 1;
        assert!(
            iterations < quota * 20,
            "worker {index}: too few kills landed ({killed} in {iterations})"
        );
        let old = fs::read(&path).unwrap();
        let (code, new) = next(&old, &mut rng);
        if code.is_empty() {
            write_secret(&path, fresh_file(kind, index));
            continue;
        }
        let delay = Duration::from_micros(rng.below(max_delay));
        let temp_before = leftover_inode(h.root());
        let mut running = h.run("totp").user(&me()).reply(&code).spawn();
        std::thread::sleep(delay);
        running.kill();
        let outcome = running.wait();

        let now = fs::read(&path).unwrap();
        let ctx = || format!("worker {index} ({kind:?}) iteration {iterations}, kill after {delay:?}");
        assert!(!now.is_empty(), "{}: empty file", ctx());
        if let Err(e) = SecretFile::parse(&now) {
            panic!(
                "{}: the file does not parse: {e}\n{}",
                ctx(),
                String::from_utf8_lossy(&now)
            );
        }
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.permissions().mode() & 0o7777, meta.uid()),
            (0o400, uid),
            "{}",
            ctx()
        );
        match outcome.status.signal() {
            Some(9) => {
                killed += 1;
                let temp_after = leftover_inode(h.root());
                if temp_after.is_some() && temp_after != temp_before {
                    tally.killed_mid_write += 1;
                }
                if now == old {
                    tally.killed_old += 1;
                } else if now == new {
                    tally.killed_new += 1;
                } else {
                    panic!(
                        "{}: neither the old nor the new version\nold:\n{}\nnew:\n{}\nnow:\n{}",
                        ctx(),
                        String::from_utf8_lossy(&old),
                        String::from_utf8_lossy(&new),
                        String::from_utf8_lossy(&now)
                    );
                }
            }
            _ => {
                outcome.assert_code(PamCode::Success);
                assert_eq!(now, new, "{}: a finished login did not write its update", ctx());
                assert_eq!(
                    leftovers(h.root()),
                    0,
                    "{}: a successful rewrite left temporary files",
                    ctx()
                );
                tally.completed += 1;
            }
        }
    }
    // A clean login after all that: it works and deletes whatever a killed writer left behind.
    let old = fs::read(&path).unwrap();
    let (code, new) = next(&old, &mut rng);
    if !code.is_empty() {
        h.run("totp")
            .user(&me())
            .reply(&code)
            .go()
            .assert_code(PamCode::Success);
        assert_eq!(fs::read(&path).unwrap(), new);
        assert_eq!(
            leftovers(h.root()),
            0,
            "worker {index}: temporary file not deleted"
        );
    }
    tally
}

#[test]
fn given_600_sigkills_during_logins_that_rewrite_the_file_then_it_is_always_the_old_or_the_new_version() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("CRASH_SEED={seed}");
    let start = Instant::now();
    let per_worker = KILLS.div_ceil(WORKERS);
    let handles: Vec<_> = (0..WORKERS)
        .map(|i| {
            let kind = if i % 2 == 0 {
                Kind::Scratch
            } else {
                Kind::DisallowReuse
            };
            std::thread::spawn(move || (kind, worker(i, kind, per_worker, seed)))
        })
        .collect();
    let mut total = Tally::default();
    for handle in handles {
        let (kind, t) = handle.join().unwrap();
        eprintln!("{kind:?}: {t:?}");
        total.killed_old += t.killed_old;
        total.killed_new += t.killed_new;
        total.killed_mid_write += t.killed_mid_write;
        total.completed += t.completed;
    }
    eprintln!("total: {total:?} in {:?}", start.elapsed());
    assert!(total.killed_old + total.killed_new >= 500);
    // The kills spread over the whole login: some before the rename, some after it.
    assert!(total.killed_old > 0 && total.killed_new > 0, "{total:?}");
}
