//! Specification of `pam_totp::store`: hostile files are refused with a specific error and without hanging,
//! read-modify-write through the store loses no update and lets a single-use token be used once, across
//! threads and across processes, and SIGKILLs in the middle of replacements never leave a torn file.
//!
//! Child processes are this test binary run again (`--exact child_process_role`) with `STORE_TEST_ROLE` set;
//! in a normal run that test does nothing. Everything happens in temporary directories. Some tests need root
//! (chown, switching the filesystem uid); they say so and are skipped otherwise.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use pam_ffi::os::{effective_uid, FsIdGuard};
use pam_totp::store::{Locked, Policy, Store, StoreError};

const NOBODY: u32 = 65534;
const CHILD_TEST: &str = "child_process_role";
const ROLE_VAR: &str = "STORE_TEST_ROLE";
const PATH_VAR: &str = "STORE_TEST_PATH";
const COUNT_VAR: &str = "STORE_TEST_COUNT";
const GO_VAR: &str = "STORE_TEST_GO";
/// Generous: these tests are about correctness under contention, not about the production timeout.
const PATIENT: Duration = Duration::from_secs(60);

// ----------------------------------------------------------------------------------------------------------
// Helpers

fn policy() -> Policy {
    Policy {
        expected_owner: Some(effective_uid()),
        ..Policy::default()
    }
}

fn patient_policy() -> Policy {
    Policy {
        lock_timeout: PATIENT,
        ..policy()
    }
}

fn is_root() -> bool {
    effective_uid() == 0
}

fn write_file(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Asserts that the lock on `path` is held: another open gives up after a short wait.
fn assert_locked_elsewhere(path: &Path, what: &str) {
    let quick = Policy {
        lock_timeout: Duration::from_millis(200),
        ..policy()
    };
    let err = Store::open_locked(path, &quick).unwrap_err();
    assert!(matches!(err, StoreError::LockTimeout { .. }), "{what}: {err:?}");
}

fn open(path: &Path) -> Result<Locked, StoreError> {
    Store::open_locked(path, &policy())
}

/// Runs `f` on another thread and fails the test if it has not returned within `limit` (a hang guard).
#[track_caller]
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("the call hung")
}

/// Names in `dir` that look like our temporary files (`<name>~totp`).
fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("~totp"))
        .collect()
}

fn counter_of(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes).unwrap().trim().parse().unwrap()
}

/// One read-modify-write: what every worker of the concurrency tests does.
fn increment(path: &Path) {
    let mut locked = Store::open_locked(path, &patient_policy()).unwrap();
    let n = counter_of(locked.bytes());
    locked.replace(format!("{}\n", n + 1).as_bytes()).unwrap();
}

/// Takes the single-use token if it is still there; `true` for the one caller that got it.
fn take_token(path: &Path, who: &str) -> bool {
    let mut locked = Store::open_locked(path, &patient_policy()).unwrap();
    if locked.bytes() == b"TOKEN\n" {
        locked.replace(format!("USED by {who}\n").as_bytes()).unwrap();
        true
    } else {
        false
    }
}

fn child(role: &str, path: &Path, count: u64, go: Option<&Path>) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .env(PATH_VAR, path)
        .env(COUNT_VAR, count.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(go) = go {
        cmd.env(GO_VAR, go);
    }
    cmd
}

/// Kills the child if the test fails while it runs, so that no endless writer outlives the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(go: &Path) {
    let deadline = Instant::now() + PATIENT;
    while !go.exists() {
        assert!(Instant::now() < deadline, "never told to go");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A small xorshift generator: the tests need varied lengths and delays, not good randomness.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(t ^ (u64::from(std::process::id()) << 32) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A self-checking version: `v N`, N repeated on a random number of lines, then a checksum of all that.
fn version_bytes(n: u64, rng: &mut Rng) -> Vec<u8> {
    let mut body = format!("v {n}\n");
    for _ in 0..=rng.below(1500) {
        body.push_str(&format!("{n}\n"));
    }
    let sum = fnv(body.as_bytes());
    body.push_str(&format!("sum {sum:016x}\n"));
    body.into_bytes()
}

/// The version number of a complete version, or a description of what is wrong with it.
fn check_version(bytes: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    let (body, last) = text
        .trim_end_matches('\n')
        .rsplit_once('\n')
        .ok_or_else(|| format!("no checksum line in {} bytes", bytes.len()))?;
    let sum = last.strip_prefix("sum ").ok_or("last line is not a checksum")?;
    if format!("{:016x}", fnv(format!("{body}\n").as_bytes())) != sum {
        return Err(format!("checksum mismatch in {} bytes", bytes.len()));
    }
    let mut lines = body.lines();
    let n: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("v "))
        .and_then(|v| v.parse().ok())
        .ok_or("no version line")?;
    if !lines.all(|l| l == n.to_string()) {
        return Err("body does not repeat the version".to_owned());
    }
    Ok(n)
}

// ----------------------------------------------------------------------------------------------------------
// The child side of the multi-process tests

#[test]
fn child_process_role() {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return; // A normal test run: nothing to do.
    };
    let path = PathBuf::from(std::env::var(PATH_VAR).unwrap());
    let count: u64 = std::env::var(COUNT_VAR).unwrap().parse().unwrap();
    if let Ok(go) = std::env::var(GO_VAR) {
        wait_for(Path::new(&go));
    }
    let mut out = std::io::stdout().lock();
    match role.as_str() {
        "counter" => {
            for _ in 0..count {
                increment(&path);
            }
        }
        "token" => {
            // `path` is a directory holding token-0 .. token-(count-1), all contended by every child.
            let me = std::process::id().to_string();
            for round in 0..count {
                if take_token(&path.join(format!("token-{round}")), &me) {
                    writeln!(out, "STORE-CHILD WIN {round}").unwrap();
                }
            }
        }
        "crash" => {
            // Rewrites the file forever with self-checking versions, until the parent kills us.
            let mut rng = Rng::seeded();
            let mut announced = false;
            loop {
                let mut locked = Store::open_locked(&path, &patient_policy()).unwrap();
                let n = check_version(locked.bytes()).unwrap();
                locked.replace(&version_bytes(n + 1, &mut rng)).unwrap();
                drop(locked);
                if !announced {
                    writeln!(out, "STORE-CHILD READY").unwrap();
                    out.flush().unwrap();
                    announced = true;
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
    out.flush().unwrap();
}

// ----------------------------------------------------------------------------------------------------------
// Hostile files

#[test]
fn given_symlinked_secret_then_refused_without_following() {
    let dir = tempfile::tempdir().unwrap();
    let target = write_file(dir.path(), "real", b"SECRET\n", 0o600);
    let link = dir.path().join(".google_authenticator");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    // The target itself is acceptable, so only refusing to follow the link can make this fail.
    assert!(open(&target).is_ok());
    let err = open(&link).unwrap_err();
    assert!(matches!(err, StoreError::Symlink { .. }), "{err:?}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(err.to_string().contains(".google_authenticator"), "{err}");
    assert_eq!(fs::read(&target).unwrap(), b"SECRET\n");
}

#[test]
fn given_dangling_symlink_then_refused_as_symlink_not_missing() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("secret");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
    let err = open(&link).unwrap_err();
    assert!(matches!(err, StoreError::Symlink { .. }), "{err:?}");
}

#[test]
fn given_fifo_then_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("secret");
    let status = Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    // Without O_NONBLOCK, opening a FIFO with no writer blocks forever.
    let err = within(Duration::from_secs(5), move || open(&fifo).unwrap_err());
    assert!(
        matches!(err, StoreError::NotRegular { kind: "FIFO", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("FIFO"), "{err}");
}

#[test]
fn given_directory_then_refused_as_not_regular() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("secret");
    fs::create_dir(&sub).unwrap();
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o600)).unwrap();
    let err = open(&sub).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotRegular {
                kind: "directory",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn given_world_readable_file_and_allowed_0600_then_refused_with_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"SECRET\n", 0o644);
    let err = open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadMode {
                mode: 0o644,
                allowed: 0o600,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("0644") && err.to_string().contains("0600"),
        "{err}"
    );
    // Stricter than allowed is fine; a wider allowed_perm accepts it.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(open(&path).is_ok());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let wide = Policy {
        allowed_perm: 0o644,
        ..policy()
    };
    assert!(Store::open_locked(&path, &wide).is_ok());
}

#[test]
fn given_setgid_bit_not_allowed_then_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"SECRET\n", 0o2600);
    let err = open(&path).unwrap_err();
    assert!(matches!(err, StoreError::BadMode { mode: 0o2600, .. }), "{err:?}");
}

#[test]
fn given_foreign_owner_then_refused_unless_owner_check_is_off() {
    if !is_root() {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"SECRET\n", 0o600);
    std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
    let err = open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadOwner {
                found: NOBODY,
                expected: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("65534"), "{err}");
    let no_strict_owner = Policy {
        expected_owner: None,
        ..policy()
    };
    assert!(Store::open_locked(&path, &no_strict_owner).is_ok());
}

#[test]
fn given_oversized_file_then_refused_and_exactly_the_limit_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let limit = usize::try_from(Policy::default().max_size).unwrap();
    let big = write_file(dir.path(), "big", &vec![b'A'; limit + 1], 0o600);
    let err = open(&big).unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { size, max: 65536, .. } if size == 65537),
        "{err:?}"
    );
    let exact = write_file(dir.path(), "exact", &vec![b'A'; limit], 0o600);
    assert_eq!(open(&exact).unwrap().bytes().len(), limit);
}

#[test]
fn given_nul_byte_then_refused_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"SECRET\n\0\" TOTP_AUTH\n", 0o600);
    let err = open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::ContainsNul { offset: 7, .. }),
        "{err:?}"
    );
}

#[test]
fn given_empty_file_then_refused_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"", 0o600);
    let err = open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Empty { .. }), "{err:?}");
}

#[test]
fn given_missing_file_or_directory_then_not_found() {
    let dir = tempfile::tempdir().unwrap();
    for path in [dir.path().join("secret"), dir.path().join("no-home/secret")] {
        let err = open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}

#[test]
fn given_invalid_utf8_then_bytes_are_returned_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let raw = [0xff, 0xfe, b'Q', b'\n', 0xc3, 0x28, b'\r', b'\n'];
    let path = write_file(dir.path(), "secret", &raw, 0o600);
    assert_eq!(open(&path).unwrap().bytes(), raw);
}

// ----------------------------------------------------------------------------------------------------------
// The lock and the inode re-check

#[test]
fn given_lock_held_elsewhere_then_open_times_out_with_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"1\n", 0o600);
    let holder = open(&path).unwrap();
    let quick = Policy {
        lock_timeout: Duration::from_millis(300),
        ..policy()
    };
    let started = Instant::now();
    let err = Store::open_locked(&path, &quick).unwrap_err();
    assert!(matches!(err, StoreError::LockTimeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(holder);
    assert!(Store::open_locked(&path, &quick).is_ok());
}

#[test]
fn given_writer_replaces_file_while_reader_waits_then_reader_sees_new_content() {
    // The reader opens the old inode and waits for its lock; the writer renames a new file in. Locking the
    // old inode would hand the reader stale bytes: the re-check must send it to the new file.
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"old\n", 0o600);
    let mut writer = open(&path).unwrap();
    let reader = {
        let path = path.clone();
        thread::spawn(move || Store::open_locked(&path, &patient_policy()).map(|l| l.bytes().to_vec()))
    };
    thread::sleep(Duration::from_millis(200)); // the reader is now waiting on the old inode
    writer.replace(b"new\n").unwrap();
    drop(writer);
    assert_eq!(reader.join().unwrap().unwrap(), b"new\n");
}

#[test]
fn given_replace_done_then_lock_moves_to_new_file_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"1\n", 0o600);
    let mut locked = open(&path).unwrap();
    locked.replace(b"2\n").unwrap();
    assert_eq!(locked.bytes(), b"2\n");
    assert_locked_elsewhere(&path, "new file not locked");
    // Still ours: a second replace in the same session is safe.
    locked.replace(b"3\n").unwrap();
    drop(locked);
    assert_eq!(open(&path).unwrap().bytes(), b"3\n");
}

// ----------------------------------------------------------------------------------------------------------
// Unlock while the user types, relock to decide (what the module does around its prompt)

#[test]
fn given_unchanged_file_then_relock_keeps_the_content_and_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"1\n", 0o600);
    let unlocked = open(&path).unwrap().unlock();
    // Unlocked means unlocked: somebody else can take the lock meanwhile.
    drop(open(&path).expect("the lock was released"));
    let (mut locked, unchanged) = unlocked.relock().unwrap();
    assert!(unchanged);
    assert_eq!(locked.bytes(), b"1\n");
    assert_locked_elsewhere(&path, "relock holds no lock");
    locked.replace(b"2\n").unwrap();
    drop(locked);
    assert_eq!(open(&path).unwrap().bytes(), b"2\n");
}

#[test]
fn given_first_look_without_lock_then_checks_apply_and_relock_finds_it_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"1\n", 0o600);
    // No lock is taken: a holder elsewhere does not delay the first look.
    let holder = open(&path).unwrap();
    let first = within(Duration::from_secs(10), {
        let path = path.clone();
        move || Store::open_unlocked(&path, &policy()).map(|u| u.bytes().to_vec())
    });
    assert_eq!(first.unwrap(), b"1\n");
    drop(holder);
    let (locked, unchanged) = Store::open_unlocked(&path, &policy()).unwrap().relock().unwrap();
    assert!(unchanged);
    assert_eq!(locked.bytes(), b"1\n");
    // The same checks as open_locked.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let err = Store::open_unlocked(&link, &policy()).unwrap_err();
    assert!(matches!(err, StoreError::Symlink { .. }), "{err:?}");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = Store::open_unlocked(&path, &policy()).unwrap_err();
    assert!(matches!(err, StoreError::BadMode { .. }), "{err:?}");
}

#[test]
fn given_file_replaced_while_unlocked_then_relock_reads_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"old\n", 0o600);
    let unlocked = open(&path).unwrap().unlock();
    let mut other = open(&path).unwrap();
    other.replace(b"new\n").unwrap();
    drop(other);
    let (locked, unchanged) = unlocked.relock().unwrap();
    assert!(!unchanged);
    assert_eq!(locked.bytes(), b"new\n");
}

#[test]
fn given_file_replaced_while_relock_waits_then_relock_reads_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"old\n", 0o600);
    let unlocked = open(&path).unwrap().unlock();
    let mut writer = open(&path).unwrap();
    let reader = thread::spawn(move || unlocked.relock().map(|(l, same)| (l.bytes().to_vec(), same)));
    thread::sleep(Duration::from_millis(200)); // the relock now waits on the old inode
    writer.replace(b"new\n").unwrap();
    drop(writer);
    assert_eq!(reader.join().unwrap().unwrap(), (b"new\n".to_vec(), false));
}

#[test]
fn given_file_rewritten_in_place_while_unlocked_then_relock_reads_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"aaaa\n", 0o600);
    let unlocked = open(&path).unwrap().unlock();
    // Same size, same inode: only the times tell. The modification time is set explicitly so that the
    // test does not depend on the kernel's clock tick.
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    (&f).write_all(b"bbbb\n").unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    drop(f);
    let (locked, unchanged) = unlocked.relock().unwrap();
    assert!(!unchanged);
    assert_eq!(locked.bytes(), b"bbbb\n");
}

#[test]
fn given_mode_changed_while_unlocked_then_relock_checks_the_policy_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"1\n", 0o600);
    let unlocked = open(&path).unwrap().unlock();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = unlocked.relock().unwrap_err();
    assert!(matches!(err, StoreError::BadMode { mode: 0o644, .. }), "{err:?}");
}

#[test]
fn given_file_removed_while_unlocked_then_relock_says_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"1\n", 0o600);
    let unlocked = open(&path).unwrap().unlock();
    fs::remove_file(&path).unwrap();
    let err = unlocked.relock().unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

#[test]
fn given_the_directory_moved_away_and_a_new_file_at_the_path_then_relock_reads_the_new_file() {
    // The old inode itself does not change at all (renaming its directory leaves its times alone): only
    // the path check can tell that the path now names another file.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    let path = write_file(&home, "secret", b"old\n", 0o600);
    let unlocked = open(&path).unwrap().unlock();
    let old_mtime = fs::metadata(&path).unwrap().modified().unwrap();
    fs::rename(&home, dir.path().join("home.old")).unwrap();
    fs::create_dir(&home).unwrap();
    let new = write_file(&home, "secret", b"new\n", 0o600);
    fs::File::options()
        .write(true)
        .open(&new)
        .unwrap()
        .set_modified(old_mtime)
        .unwrap();
    let (locked, unchanged) = unlocked.relock().unwrap();
    assert!(!unchanged);
    assert_eq!(locked.bytes(), b"new\n");
}

#[test]
fn given_the_directory_moved_away_and_a_symlink_to_the_old_file_at_the_path_then_relock_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    let path = write_file(&home, "secret", b"1\n", 0o600);
    let unlocked = open(&path).unwrap().unlock();
    let moved = dir.path().join("home.old");
    fs::rename(&home, &moved).unwrap();
    fs::create_dir(&home).unwrap();
    std::os::unix::fs::symlink(moved.join("secret"), &path).unwrap();
    let err = unlocked.relock().unwrap_err();
    assert!(matches!(err, StoreError::Symlink { .. }), "{err:?}");
}

#[test]
fn given_lock_held_elsewhere_then_relock_times_out_with_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"1\n", 0o600);
    let quick = Policy {
        lock_timeout: Duration::from_millis(300),
        ..policy()
    };
    let unlocked = Store::open_locked(&path, &quick).unwrap().unlock();
    let holder = open(&path).unwrap();
    let started = Instant::now();
    let err = unlocked.relock().unwrap_err();
    assert!(matches!(err, StoreError::LockTimeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(holder);
}

#[test]
fn given_file_replaced_by_lockless_writer_then_replace_refuses_to_clobber_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"ours\n", 0o600);
    let mut locked = open(&path).unwrap();
    let foreign = write_file(dir.path(), "foreign", b"theirs\n", 0o600);
    fs::rename(&foreign, &path).unwrap();
    let err = locked.replace(b"mine\n").unwrap_err();
    assert!(matches!(err, StoreError::ReplacedUnderLock { .. }), "{err:?}");
    assert_eq!(fs::read(&path).unwrap(), b"theirs\n");
    assert!(temp_files(dir.path()).is_empty());
}

// ----------------------------------------------------------------------------------------------------------
// Replace: owner, mode, content rules, failures, leftovers

#[test]
fn given_replace_then_content_mode_and_owner_are_kept_on_a_new_inode() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o400, 0o600, 0o640] {
        let path = write_file(dir.path(), &format!("secret-{mode:o}"), b"old\n", mode);
        let owner = if is_root() { NOBODY } else { effective_uid() };
        if is_root() {
            std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        let before = fs::metadata(&path).unwrap();
        let pol = Policy {
            expected_owner: Some(owner),
            allowed_perm: 0o640,
            ..Policy::default()
        };
        let mut locked = Store::open_locked(&path, &pol).unwrap();
        locked.replace(b"new\n").unwrap();
        drop(locked);
        let after = fs::symlink_metadata(&path).unwrap();
        assert_ne!(after.ino(), before.ino(), "not an atomic replace");
        assert_eq!(after.mode() & 0o7777, mode, "mode not preserved");
        assert_eq!(
            (after.uid(), after.gid()),
            (before.uid(), before.gid()),
            "owner not preserved"
        );
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        // What we wrote passes our own checks.
        assert_eq!(Store::open_locked(&path, &pol).unwrap().bytes(), b"new\n");
    }
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn given_new_content_we_would_refuse_then_replace_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"old\n", 0o600);
    let mut locked = open(&path).unwrap();
    let too_big = vec![b'x'; 65537];
    for bad in [&b""[..], &b"a\0b\n"[..], &too_big[..]] {
        let err = locked.replace(bad).unwrap_err();
        assert!(matches!(err, StoreError::RefusedContent { .. }), "{err:?}");
    }
    drop(locked);
    assert_eq!(fs::read(&path).unwrap(), b"old\n");
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn given_stale_temp_files_then_replace_works_deletes_ours_and_keeps_google_authenticators() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), ".google_authenticator", b"old\n", 0o400);
    // google-authenticator's fixed temporary name, left by a crash: it must not block us, nor be ours to
    // delete (a google-authenticator process might be using it).
    let ga = write_file(dir.path(), ".google_authenticator~", b"ga\n", 0o400);
    // Ours, left by a writer killed between creating and renaming it: a hard link to a sentinel, so that a
    // writer which opened and wrote the leftover instead of deleting it and creating a fresh file would
    // change the sentinel.
    let sentinel = write_file(dir.path(), "sentinel", b"half", 0o600);
    let ours = dir.path().join(".google_authenticator~totp");
    fs::hard_link(&sentinel, &ours).unwrap();
    let unrelated = write_file(dir.path(), ".google_authenticator~totp.notes", b"keep", 0o600);
    let mut locked = open(&path).unwrap();
    locked.replace(b"new\n").unwrap();
    drop(locked);
    assert_eq!(fs::read(&path).unwrap(), b"new\n");
    assert_ne!(
        fs::metadata(&path).unwrap().ino(),
        fs::metadata(&sentinel).unwrap().ino()
    );
    assert_eq!(fs::read(&sentinel).unwrap(), b"half");
    assert_eq!(fs::metadata(&sentinel).unwrap().nlink(), 1);
    assert_eq!(fs::read(&ga).unwrap(), b"ga\n");
    assert!(unrelated.exists());
    assert!(!ours.exists(), "leftover temporary file not deleted");
}

#[test]
fn given_a_locked_file_at_the_temporary_name_then_replace_fails_and_touches_nothing() {
    // A live writer's temporary file (possible beside ours only when a writer that ignores the lock, such as
    // google-authenticator, replaced the file between two logins' locks): never taken away from it.
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"old\n", 0o600);
    let theirs = write_file(dir.path(), "secret~totp", b"theirs\n", 0o600);
    let holder = fs::File::open(&theirs).unwrap();
    assert!(pam_ffi::file::try_lock_exclusive(&holder).unwrap());
    let mut locked = open(&path).unwrap();
    let err = locked.replace(b"new\n").unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    drop(locked);
    assert_eq!(fs::read(&path).unwrap(), b"old\n");
    assert_eq!(fs::read(&theirs).unwrap(), b"theirs\n");
    // Once its writer is gone (the lock is released), it is a leftover like any other.
    drop(holder);
    let mut locked = open(&path).unwrap();
    locked.replace(b"new\n").unwrap();
    drop(locked);
    assert_eq!(fs::read(&path).unwrap(), b"new\n");
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn given_a_symlink_at_the_temporary_name_then_replace_deletes_the_link_and_leaves_its_target_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"old\n", 0o600);
    let target = write_file(dir.path(), "target", b"target\n", 0o600);
    std::os::unix::fs::symlink(&target, dir.path().join("secret~totp")).unwrap();
    let mut locked = open(&path).unwrap();
    locked.replace(b"new\n").unwrap();
    drop(locked);
    assert_eq!(fs::read(&path).unwrap(), b"new\n");
    assert_eq!(fs::read(&target).unwrap(), b"target\n");
    assert!(fs::symlink_metadata(dir.path().join("secret~totp")).is_err());
}

#[test]
fn given_a_directory_at_the_temporary_name_then_replace_fails_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"old\n", 0o600);
    fs::create_dir(dir.path().join("secret~totp")).unwrap();
    let mut locked = open(&path).unwrap();
    let err = locked.replace(b"new\n").unwrap_err();
    assert!(err.to_string().contains("creating the temporary file"), "{err}");
    drop(locked);
    assert_eq!(fs::read(&path).unwrap(), b"old\n");
}

/// Switches this thread's filesystem ids and the supplementary groups to nobody's (as the module does for a
/// user) for the test body. One test at a time: glibc's `setgroups` changes every thread's groups.
fn as_nobody<T>(f: impl FnOnce() -> T) -> T {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let guard = FsIdGuard::switch(NOBODY, NOBODY).unwrap();
    let out = f();
    drop(guard);
    out
}

/// A directory owned by nobody with `mode`, holding `secret` owned by nobody:`gid` (root only).
fn nobody_dir(mode: u32, gid: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", b"old\n", 0o600);
    std::os::unix::fs::chown(&path, Some(NOBODY), Some(gid)).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode)).unwrap();
    (dir, path)
}

fn nobody_policy() -> Policy {
    Policy {
        expected_owner: Some(NOBODY),
        ..Policy::default()
    }
}

#[test]
fn given_user_filesystem_ids_then_replace_works_without_needing_chown() {
    if !is_root() {
        eprintln!("skipped: needs root to switch the filesystem uid");
        return;
    }
    let (dir, path) = nobody_dir(0o700, NOBODY);
    as_nobody(|| {
        let mut locked = Store::open_locked(&path, &nobody_policy()).unwrap();
        locked.replace(b"new\n").unwrap();
    });
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (NOBODY, NOBODY, 0o600)
    );
    assert_eq!(fs::read(&path).unwrap(), b"new\n");
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn given_group_that_user_cannot_give_then_replace_fails_and_leaves_old_file_and_no_temp() {
    if !is_root() {
        eprintln!("skipped: needs root to switch the filesystem uid");
        return;
    }
    let (dir, path) = nobody_dir(0o700, 0);
    let err = as_nobody(|| {
        let mut locked = Store::open_locked(&path, &nobody_policy()).unwrap();
        let err = locked.replace(b"new\n").unwrap_err();
        assert_eq!(locked.bytes(), b"old\n");
        err
    });
    assert!(
        matches!(
            err,
            StoreError::OwnerNotPreserved {
                uid: NOBODY,
                gid: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), b"old\n");
    assert!(temp_files(dir.path()).is_empty(), "temporary file left behind");
}

#[test]
fn given_unwritable_directory_then_replace_fails_with_permission_denied_and_file_is_unchanged() {
    if !is_root() {
        eprintln!("skipped: needs root to switch the filesystem uid");
        return;
    }
    let (dir, path) = nobody_dir(0o500, NOBODY);
    let err = as_nobody(|| {
        let mut locked = Store::open_locked(&path, &nobody_policy()).unwrap();
        locked.replace(b"new\n").unwrap_err()
    });
    assert_eq!(
        err.io_error().map(std::io::Error::kind),
        Some(std::io::ErrorKind::PermissionDenied),
        "{err:?}"
    );
    assert!(err.to_string().contains("creating the temporary file"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"old\n");
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn given_directory_that_cannot_be_opened_for_fsync_then_replace_fails_before_writing() {
    if !is_root() {
        eprintln!("skipped: needs root to switch the filesystem uid");
        return;
    }
    // Writable and searchable but not readable: the temporary file could be created and renamed, but the
    // directory could not be synced, so the update would not be known to be durable.
    let (dir, path) = nobody_dir(0o300, NOBODY);
    let err = as_nobody(|| {
        let mut locked = Store::open_locked(&path, &nobody_policy()).unwrap();
        locked.replace(b"new\n").unwrap_err()
    });
    assert!(err.to_string().contains("opening the directory"), "{err}");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"old\n");
    assert!(temp_files(dir.path()).is_empty());
}

// ----------------------------------------------------------------------------------------------------------
// Concurrency

#[test]
fn given_32_threads_incrementing_then_no_update_is_lost() {
    const THREADS: u64 = 32;
    const ROUNDS: u64 = 15;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "counter", b"0\n", 0o600);
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (path, barrier) = (path.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..ROUNDS {
                    increment(&path);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(counter_of(&fs::read(&path).unwrap()), THREADS * ROUNDS);
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn given_32_threads_racing_for_a_single_use_token_then_exactly_one_wins_each_round() {
    const THREADS: usize = 32;
    const ROUNDS: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let paths: Arc<Vec<PathBuf>> = Arc::new(
        (0..ROUNDS)
            .map(|r| write_file(dir.path(), &format!("token-{r}"), b"TOKEN\n", 0o600))
            .collect(),
    );
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (paths, barrier) = (Arc::clone(&paths), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut won = Vec::new();
                for (r, path) in paths.iter().enumerate() {
                    barrier.wait(); // everyone goes for round r at once
                    if take_token(path, &format!("thread {t}")) {
                        won.push(r);
                    }
                }
                won
            })
        })
        .collect();
    let mut winners = vec![0usize; ROUNDS];
    for w in workers {
        for r in w.join().unwrap() {
            winners[r] += 1;
        }
    }
    assert_eq!(winners, vec![1; ROUNDS], "winners per round");
}

#[test]
fn given_32_threads_that_read_unlocked_then_relock_then_exactly_one_takes_the_token_each_round() {
    // The module's pattern: a first look without the lock, the user types, then lock and decide. Every thread
    // has read "TOKEN" before anyone relocks; only the first to relock may still see it.
    const THREADS: usize = 32;
    const ROUNDS: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let paths: Arc<Vec<PathBuf>> = Arc::new(
        (0..ROUNDS)
            .map(|r| write_file(dir.path(), &format!("token-{r}"), b"TOKEN\n", 0o600))
            .collect(),
    );
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (paths, barrier) = (Arc::clone(&paths), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut won = Vec::new();
                for (r, path) in paths.iter().enumerate() {
                    let first = Store::open_unlocked(path, &patient_policy()).unwrap();
                    assert_eq!(first.bytes(), b"TOKEN\n");
                    barrier.wait(); // everyone has seen the token; now they all relock at once
                    let (mut locked, _) = first.relock().unwrap();
                    if locked.bytes() == b"TOKEN\n" {
                        locked
                            .replace(format!("USED by thread {t}\n").as_bytes())
                            .unwrap();
                        won.push(r);
                    }
                }
                won
            })
        })
        .collect();
    let mut winners = vec![0usize; ROUNDS];
    for w in workers {
        for r in w.join().unwrap() {
            winners[r] += 1;
        }
    }
    assert_eq!(winners, vec![1; ROUNDS], "winners per round");
}

#[test]
fn given_32_processes_incrementing_then_no_update_is_lost() {
    const PROCS: u64 = 32;
    const ROUNDS: u64 = 10;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "counter", b"0\n", 0o600);
    let go = dir.path().join("go");
    let children: Vec<Child> = (0..PROCS)
        .map(|_| {
            child("counter", &path, ROUNDS, Some(&go))
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    fs::write(&go, b"").unwrap();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {:?}", out.status);
    }
    assert_eq!(counter_of(&fs::read(&path).unwrap()), PROCS * ROUNDS);
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn given_32_processes_racing_for_single_use_tokens_then_exactly_one_wins_each_round() {
    const PROCS: usize = 32;
    const ROUNDS: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    fs::create_dir(&tokens).unwrap();
    for r in 0..ROUNDS {
        write_file(&tokens, &format!("token-{r}"), b"TOKEN\n", 0o600);
    }
    let go = dir.path().join("go");
    let children: Vec<Child> = (0..PROCS)
        .map(|_| {
            child("token", &tokens, ROUNDS as u64, Some(&go))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    fs::write(&go, b"").unwrap();
    let mut winners: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for c in children {
        let pid = c.id();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {:?}", out.status);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // The harness prints "test child_process_role ... " on the same line, before ours.
            if let Some((_, r)) = line.split_once("STORE-CHILD WIN ") {
                winners.entry(r.trim().parse().unwrap()).or_default().push(pid);
            }
        }
    }
    for r in 0..ROUNDS {
        let won = winners.get(&r).cloned().unwrap_or_default();
        assert_eq!(won.len(), 1, "round {r}: winners {won:?}");
        // The file names the winner, so the one success reported is the one recorded.
        let content = fs::read_to_string(tokens.join(format!("token-{r}"))).unwrap();
        assert_eq!(content, format!("USED by {}\n", won[0]));
    }
}

// ----------------------------------------------------------------------------------------------------------
// Crash safety

#[test]
fn given_500_sigkills_during_replace_loops_then_file_is_always_one_complete_version() {
    const KILLS: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::seeded();
    let path = write_file(dir.path(), "secret", &version_bytes(0, &mut rng), 0o400);
    let mut last = 0u64;
    let mut kills_leaving_a_temp = 0usize;
    let started = Instant::now();
    for kill in 0..KILLS {
        let mut c = KillOnDrop(
            child("crash", &path, 0, None)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        // Wait until the child is inside its replace loop (it has finished one replace).
        let stdout = c.0.stdout.take().unwrap();
        let ready = within(Duration::from_secs(30), move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.contains("STORE-CHILD READY"))
        });
        assert!(ready, "kill {kill}: child exited before it was ready");
        thread::sleep(Duration::from_micros(rng.below(3000)));
        c.0.kill().unwrap(); // SIGKILL
        c.0.wait().unwrap();

        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("kill {kill}: file gone: {e}"));
        assert!(!bytes.is_empty(), "kill {kill}: empty file");
        let n = check_version(&bytes).unwrap_or_else(|e| panic!("kill {kill}: torn file: {e}"));
        assert!(n > last, "kill {kill}: version went from {last} to {n}");
        last = n;
        // The file is still acceptable to the store itself (mode and owner kept).
        assert!(Store::open_locked(&path, &policy()).is_ok(), "kill {kill}");
        // Nothing accumulates: the file and at most the killed child's temporary file (one name).
        let entries: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(entries.len() <= 2, "kill {kill}: files accumulate: {entries:?}");
        kills_leaving_a_temp += temp_files(dir.path()).len();
    }
    // Evidence that kills landed between creating and renaming the temporary file.
    assert!(
        kills_leaving_a_temp > 0,
        "no kill landed in the middle of a replace"
    );
    let mut locked = Store::open_locked(&path, &policy()).unwrap();
    locked.replace(&version_bytes(last + 1, &mut rng)).unwrap();
    drop(locked);
    assert!(
        temp_files(dir.path()).is_empty(),
        "leftover not deleted by the next replace"
    );
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o400);
    println!(
        "{KILLS} kills in {:?}, {kills_leaving_a_temp} of them mid-replace, final version {}",
        started.elapsed(),
        last + 1
    );
}
