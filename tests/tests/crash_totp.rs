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
//!
//! With `state=` (issue 22) the same workers kill logins that rewrite the state file instead (300 kills, one worker
//! per kind, to keep the run short): the state file must be the old version (or, before the first save, absent or freshly
//! created), or the new one, and the secret file is never written.

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
use pam_totp::state_file::{effective, State};
use pam_totp::verify::{verify, Outcome};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use totp_common::{me, two_modules_in, Layout};

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
fn worker(layout: Layout, index: usize, kind: Kind, quota: usize, seed: u64) -> Tally {
    let mut rng = Rng(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1)) | 1);
    let (h, secret_path): (Harness, _) = two_modules_in(layout, "noskewadj", "");
    // The file the logins rewrite, and where their temporary files appear.
    let path = layout.locked_file(&secret_path);
    let dir = path.parent().unwrap().to_path_buf();
    let reset = || {
        layout.write_secret(&secret_path, fresh_file(kind, index));
        if layout == Layout::StateFile {
            let _ = fs::remove_file(&path);
        }
    };
    reset();
    let fresh_state = || match layout {
        Layout::InSecretFile => Vec::new(),
        Layout::StateFile => {
            let secret = SecretFile::parse(&fresh_file(kind, index)).unwrap();
            State::fresh(&me(), secret.secret()).unwrap().to_bytes()
        }
    };
    let read = || fs::read(&path).unwrap_or_default();
    let opts = Options {
        noskewadj: true,
        ..Options::default()
    };
    let (uid, mode) = match layout {
        Layout::InSecretFile => (pam_ffi::os::effective_uid(), 0o400),
        Layout::StateFile => (0, 0o600),
    };
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
        // With state=: the secret file as the module sees it, and the state it starts from.
        let (file, state) = match layout {
            Layout::InSecretFile => (SecretFile::parse(current).unwrap(), None),
            Layout::StateFile => {
                let secret = SecretFile::parse(&fresh_file(kind, index)).unwrap();
                let state = if current.is_empty() {
                    State::fresh(&me(), secret.secret()).unwrap()
                } else {
                    State::parse(current).unwrap()
                };
                (effective(&secret, Some(&state)), Some((secret, state)))
            }
        };
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
        let updated = v.updated.expect("an accepted code rewrites this file");
        let new = match state {
            None => updated.to_bytes().to_vec(),
            Some((secret, state)) => state.recorded(&secret, &file, &updated).to_bytes(),
        };
        (code, new)
    };

    // Calibration: how long an unkilled login takes here, now.
    let mut durations = Vec::new();
    for _ in 0..5 {
        let old = read();
        let (code, new) = next(&old, &mut rng);
        let start = Instant::now();
        h.run("totp")
            .user(&me())
            .reply(&code)
            .go()
            .assert_code(PamCode::Success);
        durations.push(start.elapsed());
        assert_eq!(read(), new);
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
        let old = read();
        let (code, new) = next(&old, &mut rng);
        if code.is_empty() {
            reset();
            continue;
        }
        let delay = Duration::from_micros(rng.below(max_delay));
        let temp_before = leftover_inode(&dir);
        let mut running = h.run("totp").user(&me()).reply(&code).spawn();
        std::thread::sleep(delay);
        running.kill();
        let outcome = running.wait();

        let now = read();
        let ctx = || format!("worker {index} ({kind:?}) iteration {iterations}, kill after {delay:?}");
        // With state=, a login killed before its first save may leave no state file, or a fresh one.
        let old_or_fresh = now == old || (old.is_empty() && (now.is_empty() || now == fresh_state()));
        if !(layout == Layout::StateFile && now.is_empty() && old.is_empty()) {
            assert!(!now.is_empty(), "{}: empty file", ctx());
            let parsed = match layout {
                Layout::InSecretFile => SecretFile::parse(&now).err().map(|e| e.to_string()),
                Layout::StateFile => State::parse(&now).err().map(|e| e.to_string()),
            };
            if let Some(e) = parsed {
                panic!(
                    "{}: the file does not parse: {e}\n{}",
                    ctx(),
                    String::from_utf8_lossy(&now)
                );
            }
            let meta = fs::metadata(&path).unwrap();
            assert_eq!(
                (meta.permissions().mode() & 0o7777, meta.uid()),
                (mode, uid),
                "{}",
                ctx()
            );
        }
        if layout == Layout::StateFile {
            assert_eq!(
                fs::read(&secret_path).unwrap(),
                fresh_file(kind, index),
                "{}: secret file written",
                ctx()
            );
        }
        match outcome.status.signal() {
            Some(9) => {
                killed += 1;
                let temp_after = leftover_inode(&dir);
                if temp_after.is_some() && temp_after != temp_before {
                    tally.killed_mid_write += 1;
                }
                if old_or_fresh {
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
                    leftovers(&dir),
                    0,
                    "{}: a successful rewrite left temporary files",
                    ctx()
                );
                tally.completed += 1;
            }
        }
    }
    // A clean login after all that: it works and deletes whatever a killed writer left behind.
    let old = read();
    let (code, new) = next(&old, &mut rng);
    if !code.is_empty() {
        h.run("totp")
            .user(&me())
            .reply(&code)
            .go()
            .assert_code(PamCode::Success);
        assert_eq!(read(), new);
        assert_eq!(leftovers(&dir), 0, "worker {index}: temporary file not deleted");
    }
    tally
}

/// Runs `workers` workers (alternating kinds) until `kills` SIGKILLs landed, `required` of them on a
/// running login.
fn crash_run(layout: Layout, workers: usize, kills: usize, required: usize) {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("CRASH_SEED={seed} ({layout:?})");
    let start = Instant::now();
    let per_worker = kills.div_ceil(workers);
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let kind = if i % 2 == 0 {
                Kind::Scratch
            } else {
                Kind::DisallowReuse
            };
            std::thread::spawn(move || (kind, worker(layout, i, kind, per_worker, seed)))
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
    assert!(total.killed_old + total.killed_new >= required);
    // The kills spread over the whole login: some before the rename, some after it.
    assert!(total.killed_old > 0 && total.killed_new > 0, "{total:?}");
}

#[test]
fn given_600_sigkills_during_logins_that_rewrite_the_file_then_it_is_always_the_old_or_the_new_version() {
    crash_run(Layout::InSecretFile, WORKERS, KILLS, 500);
}

#[test]
fn given_300_sigkills_during_logins_that_rewrite_the_state_file_then_it_is_always_the_old_or_the_new_version()
{
    crash_run(Layout::StateFile, 2, KILLS / 2, 250);
}
