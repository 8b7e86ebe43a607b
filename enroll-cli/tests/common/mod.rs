//! Helpers shared by the totp-enroll tests: run the shipped binary, read what it wrote, compute codes with
//! `oathtool` (an implementation independent of ours).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_totp-enroll"))
}

/// What a run produced.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

fn finish(out: Output) -> Run {
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs totp-enroll with `args` and `stdin` as standard input, in `dir` with HOME=`dir` (and the terminal
/// size unknown: 80x24).
pub fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Run {
    run_env(dir, args, stdin, &[])
}

/// [`run_in`] with `env` added (e.g. LINES and COLUMNS).
pub fn run_env(dir: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("LC_ALL", "C.UTF-8")
        .env_remove("LINES")
        .env_remove("COLUMNS")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    finish(child.wait_with_output().unwrap())
}

/// Runs with no input in a throwaway directory that is also HOME.
pub fn run(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), args, "")
}

impl Run {
    /// Asserts success, showing everything otherwise.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.status, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts a usage error (exit 2) in the `error:` + `hint:` shape whose message contains `needle`.
    #[track_caller]
    pub fn usage_error(self, needle: &str) -> Run {
        assert_eq!(
            self.status, 2,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.error_shape(needle)
    }

    /// Asserts the `totp-enroll: error: ...` / `totp-enroll: hint: ...` shape.
    #[track_caller]
    pub fn error_shape(self, needle: &str) -> Run {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.starts_with("totp-enroll: warning:"))
            .collect();
        assert_eq!(lines.len(), 2, "stderr: {}", self.stderr);
        assert!(
            lines[0].starts_with("totp-enroll: error: "),
            "stderr: {}",
            self.stderr
        );
        assert!(
            lines[1].starts_with("totp-enroll: hint: "),
            "stderr: {}",
            self.stderr
        );
        assert!(lines[0].contains(needle), "{needle:?} not in {}", self.stderr);
        self
    }

    /// The otpauth URI line.
    #[track_caller]
    pub fn uri(&self) -> String {
        self.stdout
            .lines()
            .find(|l| l.starts_with("otpauth://"))
            .unwrap_or_else(|| panic!("no URI in {}", self.stdout))
            .to_owned()
    }
}

/// The base32 secret on line 1 of a secret file.
pub fn secret_of(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

/// The `" KEY value` lines of a secret file, in order.
pub fn option_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('"'))
        .map(str::to_owned)
        .collect()
}

/// The scratch codes of a secret file.
pub fn scratch_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

/// Runs a command, asserts success, returns trimmed stdout.
#[track_caller]
pub fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The current TOTP code from `oathtool` with extra arguments (e.g. `--totp=sha256`, `-d 8`, `-s 60s`).
pub fn oathtool(secret: &str, extra: &[&str]) -> String {
    output(Command::new("oathtool").args(extra).args(["-b", secret]))
}

/// Unix time now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The host name, the default issuer.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}
