//! Helpers shared by the pam_totp interop, concurrency and crash tests and the pam_totp benchmarks
//! (`mod totp_common;` in each).
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use pam_harness::{module_path, Harness};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The real pam_google_authenticator (Debian package libpam-google-authenticator).
pub const GA_MODULE: &str = "/lib/x86_64-linux-gnu/security/pam_google_authenticator.so";

/// The current user (root in CI): secret files are owned by them and named `<root>/<user>.ga`.
pub fn me() -> String {
    pam_ffi::os::user_by_uid(pam_ffi::os::effective_uid())
        .expect("current user in passwd")
        .name
}

/// Path of the real module; a missing package is a failure, never a silent skip.
#[track_caller]
pub fn ga_module() -> &'static str {
    assert!(
        Path::new(GA_MODULE).exists(),
        "{GA_MODULE} is missing: install libpam-google-authenticator (.ci/apt-packages)"
    );
    GA_MODULE
}

/// A harness with the services `totp` (pam_totp) and `ga` (pam_google_authenticator), both
/// `auth required <module> secret=<root>/${USER}.ga <args>`, and the secret file path for the current user.
pub fn two_modules(totp_args: &str, ga_args: &str) -> (Harness, PathBuf) {
    two_modules_in(Layout::InSecretFile, totp_args, ga_args)
}

/// [`two_modules`] with pam_totp keeping its state as `layout` says.
pub fn two_modules_in(layout: Layout, totp_args: &str, ga_args: &str) -> (Harness, PathBuf) {
    let h = Harness::new();
    let totp_args = format!("{} {totp_args}", layout.arg(h.root()));
    let secret = format!("secret={}/${{USER}}.ga", h.root().display());
    h.service(
        "totp",
        &format!(
            "auth required {} {secret} {totp_args}\n",
            module_path("pam_totp").display()
        ),
    );
    h.service(
        "ga",
        &format!("auth required {} {secret} {ga_args}\n", ga_module()),
    );
    let path = h.root().join(format!("{}.ga", me()));
    (h, path)
}

/// Writes a secret file the way the CLI leaves it: mode 0400, owned by the current user.
pub fn write_secret(path: &Path, body: impl AsRef<[u8]>) {
    let _ = fs::remove_file(path);
    fs::write(path, body.as_ref()).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o400)).unwrap();
}

/// Runs a command and returns its trimmed stdout, failing loudly.
#[track_caller]
pub fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `oathtool --totp -b SECRET --now @t` with a step of `step` seconds.
pub fn oath_totp(secret: &str, t: u64, step: u64) -> String {
    output(Command::new("oathtool").args([
        "--totp",
        "-b",
        "--now",
        &format!("@{t}"),
        "-s",
        &format!("{step}s"),
        secret,
    ]))
}

/// `oathtool --hotp -b -c N SECRET`.
pub fn oath_hotp(secret: &str, counter: u64) -> String {
    output(Command::new("oathtool").args(["--hotp", "-b", "-c", &counter.to_string(), secret]))
}

/// The secret line of a file.
pub fn secret_of(body: &str) -> String {
    body.lines().next().unwrap().to_owned()
}

/// The value of the first `" KEY` line, if present (`Some("")` for a key without a value).
pub fn value_of<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines().find_map(|l| {
        let rest = l.strip_prefix("\" ")?.strip_prefix(key)?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix(' ')
        }
    })
}

/// Scratch codes: 8-digit lines, in order.
pub fn scratch_codes(body: &str) -> Vec<String> {
    body.lines()
        .skip(1)
        .filter(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

/// The timestamps of the `RATE_LIMIT` line.
pub fn rate_limit_timestamps(body: &str) -> Vec<u64> {
    value_of(body, "RATE_LIMIT")
        .map(|v| v.split(' ').skip(2).map(|t| t.parse().unwrap()).collect())
        .unwrap_or_default()
}

/// A Unix time 10 seconds into a 30-second step (and into a 60-second one), so that processes that take a
/// few seconds still see the same step.
pub const T0: u64 = 1_800_000_010;

/// The secret of the tests that compute codes with pam_totp's own core (in process, no oathtool).
pub const SECRET: &str = "QGPSWMNUD3U2N7TS42X6HYOWI4";

/// Unix time now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The TOTP code of [`SECRET`] at `t` (SHA-1, 6 digits, 30 s).
pub fn totp_at(t: u64) -> String {
    let key = pam_totp::secret_file::decode_secret(SECRET).unwrap();
    let otp = pam_totp::otp::Otp::new(&key, Default::default(), Default::default()).unwrap();
    format!("{:06}", otp.totp(t, std::num::NonZeroU64::new(30).unwrap()))
}

/// The HOTP code of [`SECRET`] for `counter`.
pub fn hotp(counter: u64) -> String {
    let key = pam_totp::secret_file::decode_secret(SECRET).unwrap();
    let otp = pam_totp::otp::Otp::new(&key, Default::default(), Default::default()).unwrap();
    format!("{:06}", otp.hotp(counter))
}

/// The TOTP code of [`SECRET`] now.
pub fn code_now() -> String {
    totp_at(now())
}

/// The code a secret file accepts now: its TOTP code, or the HOTP code at its counter.
pub fn current_code(body: &str) -> String {
    use pam_totp::secret_file::{Mode, SecretFile};
    let file = SecretFile::parse(body.as_bytes()).unwrap();
    let otp = file.otp().unwrap();
    let value = match file.mode() {
        Mode::Hotp { counter } => otp.hotp(counter),
        _ => otp.totp(now(), file.step_size()),
    };
    pam_totp::otp::format_code(value, file.digits()).to_string()
}

/// A 6-digit code that no step within ±1500 (and a margin) of now produces for this file: a wrong code for
/// a whole run that makes a module do the full skew scan and record nothing.
pub fn wrong_code(body: &str) -> String {
    use pam_totp::args::Options;
    use pam_totp::secret_file::SecretFile;
    use pam_totp::verify::{verify, Outcome, RejectReason};
    let file = SecretFile::parse(body.as_bytes()).unwrap();
    (0..1_000_000u32)
        .map(|n| format!("{:06}", (n * 7919 + 123_456) % 1_000_000))
        .find(|c| {
            [0, 600, 3600].iter().all(|d| {
                let v = verify(&file, now() + d, c, &Options::default(), None);
                v.outcome == Outcome::Rejected(RejectReason::WrongCode) && v.updated.is_none()
            })
        })
        .unwrap()
}

/// Where pam_totp keeps a user's state in a test (issue 22): in the secret file (the google-authenticator
/// layout), or with `state=` in a root-owned state file `<secret dir>/state/<user>`, the secret file then
/// only read. Tests that record state run once in each ([`Layout::BOTH`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// No `state=`: today's behaviour.
    InSecretFile,
    /// `state=<secret dir>/state/${USER}`.
    StateFile,
}

impl Layout {
    /// Both layouts, the google-authenticator one first.
    pub const BOTH: [Layout; 2] = [Layout::InSecretFile, Layout::StateFile];

    /// The module argument for a secret file in `dir`: nothing, or `state=<dir>/state/${USER}` (the state
    /// directory is created, mode 0700).
    pub fn arg(self, dir: &Path) -> String {
        match self {
            Layout::InSecretFile => String::new(),
            Layout::StateFile => {
                let state_dir = dir.join("state");
                fs::create_dir_all(&state_dir).unwrap();
                fs::set_permissions(&state_dir, fs::Permissions::from_mode(0o700)).unwrap();
                format!("state={}/${{USER}}", state_dir.display())
            }
        }
    }

    /// [`write_secret`], remembering the content with `state=` so that [`Layout::read`] can check that the
    /// module never wrote the secret file.
    pub fn write_secret(self, path: &Path, body: impl AsRef<[u8]>) {
        write_secret(path, body.as_ref());
        if self == Layout::StateFile {
            fs::write(original_of(path), body.as_ref()).unwrap();
        }
    }

    /// The file pam_totp locks and rewrites: the secret file, or the state file `<dir>/state/<user>`.
    pub fn locked_file(self, secret_path: &Path) -> PathBuf {
        match self {
            Layout::InSecretFile => secret_path.to_path_buf(),
            Layout::StateFile => secret_path.parent().unwrap().join("state").join(me()),
        }
    }

    /// The user's state as the module sees it, in the google-authenticator syntax: the secret file, or with
    /// `state=` the secret file (asserted unchanged since [`Layout::write_secret`]) with the state file of
    /// `<dir>/state/<user>` laid over it.
    #[track_caller]
    pub fn read(self, secret_path: &Path) -> String {
        let body = fs::read_to_string(secret_path).unwrap();
        if self == Layout::InSecretFile {
            return body;
        }
        let original = fs::read_to_string(original_of(secret_path)).unwrap();
        assert_eq!(body, original, "with state= the secret file was written");
        let state = secret_path.parent().unwrap().join("state").join(me());
        effective_body(&body, &state)
    }
}

fn original_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap().to_os_string();
    name.push(".orig");
    path.with_file_name(name)
}

/// A secret file's content with the state file at `state` (if any) laid over it, serialized.
pub fn effective_body(secret_body: &str, state: &Path) -> String {
    use pam_totp::secret_file::SecretFile;
    use pam_totp::state_file::{effective, State};
    let file = SecretFile::parse(secret_body.as_bytes()).unwrap();
    let state = match fs::read(state) {
        Ok(bytes) => Some(State::parse(&bytes).unwrap()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot read {}: {e}", state.display()),
    };
    let state = state.filter(|s| s.belongs_to(&me(), file.secret()));
    String::from_utf8(effective(&file, state.as_ref()).to_bytes().to_vec()).unwrap()
}

/// Each named test (a `fn(Layout)` of the including file) runs twice: `NAME::in_the_secret_file` and
/// `NAME::with_state_file`.
#[allow(unused_macros)]
macro_rules! in_both_layouts {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn in_the_secret_file() {
                super::$name(super::Layout::InSecretFile)
            }
            #[test]
            fn with_state_file() {
                super::$name(super::Layout::StateFile)
            }
        }
    )*};
}
