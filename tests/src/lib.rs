//! The hermetic PAM test harness: drives the modules cargo built through real libpam, with no root and no
//! change to the host.
//!
//! Each [`Harness`] owns a temporary service directory for `pam_start_confdir` (Linux-PAM >= 1.4). A
//! [`Run`] spawns the `pamh` binary (a PAM application on `pam_ffi::app`) with a scripted conversation, and
//! returns an [`Outcome`]: the PAM result of every operation, every prompt and message (text and style),
//! every line the modules logged through `pam_syslog` (caught by a test-only syslog shim preloaded into
//! `pamh`), and `pamh`'s stderr. Running a separate process per transaction keeps tests parallel-safe and
//! lets a test observe that a panicking module did not kill its host.
#![forbid(unsafe_code)]
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use pam_ffi::PamCode;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Path of the test-only syslog shim built by build.rs.
pub const SYSLOG_SHIM: &str = env!("PAMH_SYSLOG_SHIM");

/// Path of `pamc`, the minimal C PAM client built by build.rs (`pamc CONFDIR SERVICE USER REPLY`, prints
/// `result N`): the benchmark's driver without Rust's runtime in the process, as in sshd.
pub const PAMC: &str = env!("PAMH_PAMC");

/// Escapes `\`, newline, tab and CR so a value fits on one line of pamh's output.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape`].
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Directory holding the binaries and modules cargo built (`target/debug` or `target/release`).
///
/// `PAM_MODULE_DIR` overrides it (for example to test the release build).
pub fn build_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PAM_MODULE_DIR") {
        return PathBuf::from(d);
    }
    // Test executables live in target/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Absolute path of a module built by cargo, e.g. `module_path("pam_totp")` -> `.../libpam_totp.so`.
#[track_caller]
pub fn module_path(crate_name: &str) -> PathBuf {
    // `cargo build` leaves the module in target/<profile>/; `cargo test` rebuilds it in deps/ without
    // copying it up. Take the newer, so a test never loads a stale module.
    let name = format!("lib{crate_name}.so");
    let dir = build_dir();
    let newest = [dir.join(&name), dir.join("deps").join(&name)]
        .into_iter()
        .filter_map(|p| fs::metadata(&p).and_then(|m| m.modified()).ok().map(|t| (t, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p);
    match newest {
        Some(p) => p,
        None => panic!(
            "{name} not built in {}: run `cargo build --workspace` (tests/run-all does)",
            dir.display()
        ),
    }
}

/// Path of the `pamh` binary.
#[track_caller]
pub fn pamh_path() -> PathBuf {
    let p = build_dir().join("pamh");
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace`",
        p.display()
    );
    p
}

/// A temporary PAM service directory plus scratch space.
#[derive(Debug)]
pub struct Harness {
    dir: tempfile::TempDir,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A fresh directory with a `pam.d/other` that denies everything (as on a real system).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pam-harness.")
            .tempdir()
            .expect("tempdir");
        fs::create_dir(dir.path().join("pam.d")).expect("mkdir pam.d");
        fs::write(dir.path().join("pam.d/other"), "auth required pam_deny.so\naccount required pam_deny.so\npassword required pam_deny.so\nsession required pam_deny.so\n").expect("write other");
        Harness { dir }
    }

    /// The scratch directory (secret files and so on go here).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The service directory passed to `pam_start_confdir`.
    pub fn confdir(&self) -> PathBuf {
        self.dir.path().join("pam.d")
    }

    /// Writes service `name` with the given stack (one PAM line per line).
    pub fn service(&self, name: &str, stack: &str) -> &Self {
        fs::write(self.confdir().join(name), stack).expect("write service");
        self
    }

    /// Starts describing a run of service `name`.
    pub fn run(&self, service: &str) -> Run<'_> {
        Run {
            harness: self,
            service: service.to_owned(),
            user: None,
            items: Vec::new(),
            ops: Vec::new(),
            flags: Vec::new(),
            replies: Vec::new(),
            repeat: 1,
            rss_every: 0,
            time_answer: false,
            env: Vec::new(),
            wrapper: Vec::new(),
        }
    }
}

/// A PAM operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `pam_authenticate`.
    Authenticate,
    /// `pam_setcred`.
    Setcred,
    /// `pam_acct_mgmt`.
    AcctMgmt,
    /// `pam_chauthtok`.
    Chauthtok,
    /// `pam_open_session`.
    OpenSession,
    /// `pam_close_session`.
    CloseSession,
}

impl Op {
    /// The name pamh takes.
    pub fn name(self) -> &'static str {
        match self {
            Op::Authenticate => "authenticate",
            Op::Setcred => "setcred",
            Op::AcctMgmt => "acct_mgmt",
            Op::Chauthtok => "chauthtok",
            Op::OpenSession => "open_session",
            Op::CloseSession => "close_session",
        }
    }
}

/// One scripted reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Bytes typed by the user.
    Text(Vec<u8>),
    /// A NULL reply.
    Null,
    /// The conversation fails.
    Fail,
}

/// A run being described (builder).
#[derive(Debug)]
pub struct Run<'h> {
    harness: &'h Harness,
    service: String,
    user: Option<String>,
    items: Vec<(String, String)>,
    ops: Vec<Op>,
    flags: Vec<String>,
    replies: Vec<Reply>,
    repeat: u64,
    rss_every: u64,
    time_answer: bool,
    env: Vec<(String, String)>,
    wrapper: Vec<String>,
}

impl Run<'_> {
    /// The user passed to `pam_start_confdir`.
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }
    /// Sets an item before the operations: `rhost`, `tty`, `ruser`, `authtok`, `oldauthtok`.
    pub fn item(mut self, name: &str, value: &str) -> Self {
        self.items.push((name.to_owned(), value.to_owned()));
        self
    }
    /// Adds an operation (default: authenticate).
    pub fn op(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }
    /// Adds a flag: `silent`, `disallow_null_authtok`, `change_expired_authtok`.
    pub fn flag(mut self, flag: &str) -> Self {
        self.flags.push(flag.to_owned());
        self
    }
    /// Adds a text reply.
    pub fn reply(mut self, text: &str) -> Self {
        self.replies.push(Reply::Text(text.as_bytes().to_vec()));
        self
    }
    /// Adds a reply of arbitrary bytes.
    pub fn reply_bytes(mut self, bytes: &[u8]) -> Self {
        self.replies.push(Reply::Text(bytes.to_vec()));
        self
    }
    /// Adds a NULL reply.
    pub fn reply_null(mut self) -> Self {
        self.replies.push(Reply::Null);
        self
    }
    /// Makes the conversation fail at this point.
    pub fn reply_fail(mut self) -> Self {
        self.replies.push(Reply::Fail);
        self
    }
    /// Repeats the whole transaction `n` times in the same process.
    pub fn repeat(mut self, n: u64) -> Self {
        self.repeat = n;
        self
    }
    /// Reports the resident set size every `n` transactions.
    pub fn rss_every(mut self, n: u64) -> Self {
        self.rss_every = n;
        self
    }
    /// Reports, per operation, the time from the last answer handed to the module to the operation's return.
    pub fn time_answer(mut self) -> Self {
        self.time_answer = true;
        self
    }
    /// Sets an environment variable for pamh (for example `FAKETIME`).
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Fakes the wall clock of pamh (and so of the modules) with libfaketime: the clock starts at `unix_time`
    /// when pamh starts and runs on from there. The monotonic clock is left alone (lock timeouts).
    ///
    /// libfaketime's `FAKETIME=@...` takes a date, not a Unix time; this converts (in UTC, with `TZ=UTC`).
    /// Do not SIGKILL such a run: libfaketime creates `/dev/shm/faketime_{shm,sem}_<pid>` in every process
    /// and removes them only at a normal exit, so a killed process leaves them on the host (and a later
    /// process that gets the same pid fails with "shm_open failed: File exists").
    #[track_caller]
    pub fn fake_time(self, unix_time: u64) -> Self {
        let lib = faketime_lib();
        self.env("LD_PRELOAD", lib.to_str().expect("libfaketime path is UTF-8"))
            .env("FAKETIME", &format!("@{}", utc_date_time(unix_time)))
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env("TZ", "UTC")
    }
    /// Runs pamh under a wrapper command, e.g. `["flock", "-s", "/tmp/barrier"]` so that many processes
    /// start together when a lock is released.
    pub fn via(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Runs pamh from `sh -c script` in a private mount namespace (`unshare --mount`, private propagation):
    /// the script sets up mounts, then runs pamh as `"$0" "$@"`; nothing it mounts reaches the host.
    pub fn in_private_mounts(self, script: &str) -> Self {
        self.via(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
        ])
    }

    /// The command line this run would execute (without the environment).
    pub fn command(&self) -> Command {
        self.command_in(self.harness.root())
    }

    fn command_in(&self, scratch: &Path) -> Command {
        let mut cmd = match self.wrapper.split_first() {
            None => Command::new(pamh_path()),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(pamh_path());
                c
            }
        };
        cmd.arg("--confdir")
            .arg(self.harness.confdir())
            .arg("--service")
            .arg(&self.service);
        if let Some(u) = &self.user {
            cmd.arg("--user").arg(u);
        }
        for (k, v) in &self.items {
            cmd.arg("--item").arg(format!("{k}={v}"));
        }
        let ops = if self.ops.is_empty() {
            vec![Op::Authenticate]
        } else {
            self.ops.clone()
        };
        for op in ops {
            cmd.arg("--op").arg(op.name());
        }
        for f in &self.flags {
            cmd.arg("--flag").arg(f);
        }
        for r in &self.replies {
            match r {
                // Large replies go through a file: the argument list is limited.
                Reply::Text(b) if b.len() > 4096 => {
                    let f = tempfile::Builder::new()
                        .prefix("reply.")
                        .tempfile_in(scratch)
                        .expect("reply file");
                    fs::write(f.path(), hex(b)).expect("write reply file");
                    let (_, path) = f.keep().expect("keep reply file");
                    cmd.arg("--reply-file").arg(path)
                }
                Reply::Text(b) => cmd.arg("--reply-hex").arg(hex(b)),
                Reply::Null => cmd.arg("--reply-null"),
                Reply::Fail => cmd.arg("--reply-fail"),
            };
        }
        if self.repeat != 1 {
            cmd.arg("--repeat").arg(self.repeat.to_string());
        }
        if self.time_answer {
            cmd.arg("--time-answer");
        }
        if self.rss_every != 0 {
            cmd.arg("--rss-every").arg(self.rss_every.to_string());
        }
        cmd
    }

    /// Runs pamh and collects everything it saw.
    #[track_caller]
    pub fn go(self) -> Outcome {
        self.spawn().wait()
    }

    /// Starts pamh and returns at once (for parallel runs, or to kill it part way).
    #[track_caller]
    pub fn spawn(self) -> Running {
        let log = tempfile::NamedTempFile::new_in(self.harness.root()).expect("log file");
        let mut cmd = self.command();
        cmd.env("LD_PRELOAD", SYSLOG_SHIM)
            .env("PAMH_SYSLOG_FILE", log.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            if k == "LD_PRELOAD" {
                cmd.env("LD_PRELOAD", format!("{SYSLOG_SHIM}:{v}"));
            } else {
                cmd.env(k, v);
            }
        }
        let child = cmd.spawn().expect("spawn pamh");
        Running { child, log }
    }
}

/// A pamh process started by [`Run::spawn`].
#[derive(Debug)]
pub struct Running {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Running {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// True once the process has exited (it is not reaped: [`Running::wait`] still reports it).
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Sends SIGKILL (harmless if the process has already exited).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the process and collects everything it saw.
    #[track_caller]
    pub fn wait(self) -> Outcome {
        let out = self.child.wait_with_output().expect("wait for pamh");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let logs = fs::read_to_string(self.log.path()).unwrap_or_default();
        Outcome::parse(out.status, &stdout, &stderr, &logs)
    }
}

/// libfaketime's preload library (package libfaketime).
#[track_caller]
pub fn faketime_lib() -> PathBuf {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ];
    match candidates.iter().map(PathBuf::from).find(|p| p.exists()) {
        Some(p) => p,
        None => panic!("libfaketime not found in {candidates:?}: install the faketime package"),
    }
}

/// `YYYY-MM-DD hh:mm:ss` in UTC for a Unix time (proleptic Gregorian calendar).
pub fn utc_date_time(unix_time: u64) -> String {
    let days = unix_time / 86_400;
    let secs = unix_time % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One message the application received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `prompt_hidden`, `prompt_echo`, `error`, `info` or `other:N`.
    pub style: String,
    /// Its text.
    pub text: String,
}

/// One line logged through syslog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The facility bits (LOG_AUTHPRIV = 10 << 3).
    pub facility: i32,
    /// The severity (LOG_CRIT = 2 .. LOG_DEBUG = 7).
    pub severity: i32,
    /// The full message, e.g. `svc(pam_totp:auth): ...`.
    pub text: String,
}

/// LOG_AUTHPRIV.
pub const LOG_AUTHPRIV: i32 = 10 << 3;

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// pamh's exit status.
    pub status: std::process::ExitStatus,
    /// (operation, result) in order, over all repetitions.
    pub results: Vec<(String, PamCode)>,
    /// Messages received, in order (over all repetitions).
    pub events: Vec<Event>,
    /// Lines logged, in order.
    pub logs: Vec<LogLine>,
    /// (transactions done, RSS in KiB) samples.
    pub rss: Vec<(u64, u64)>,
    /// With `time_answer`: microseconds from the last answer to each operation's return.
    pub answer_us: Vec<u64>,
    /// pamh's stderr (must stay empty: modules never write to it).
    pub stderr: String,
    /// pamh's raw stdout.
    pub stdout: String,
}

impl Outcome {
    fn parse(status: std::process::ExitStatus, stdout: &str, stderr: &str, logs: &str) -> Self {
        let mut o = Outcome {
            status,
            results: Vec::new(),
            events: Vec::new(),
            logs: Vec::new(),
            rss: Vec::new(),
            answer_us: Vec::new(),
            stderr: stderr.to_owned(),
            stdout: stdout.to_owned(),
        };
        for line in stdout.lines() {
            let mut f = line.splitn(3, '\t');
            match (f.next(), f.next(), f.next()) {
                (Some("event"), Some(style), Some(text)) => o.events.push(Event {
                    style: style.to_owned(),
                    text: unescape(text),
                }),
                (Some("result"), Some(op), Some(code)) => {
                    let code = PamCode::from_name(code).unwrap_or(PamCode::Unknown(-1));
                    o.results.push((op.to_owned(), code));
                }
                (Some("rss_kb"), Some(n), Some(kb)) => {
                    o.rss.push((n.parse().unwrap_or(0), kb.parse().unwrap_or(0)));
                }
                (Some("answer_us"), Some(_), Some(us)) => o.answer_us.push(us.parse().unwrap_or(0)),
                _ => {}
            }
        }
        for line in logs.lines() {
            if let Some((pri, text)) = line.split_once('\t') {
                let pri: i32 = pri.parse().unwrap_or(-1);
                o.logs.push(LogLine {
                    facility: pri & !7,
                    severity: pri & 7,
                    text: unescape(text),
                });
            }
        }
        o
    }

    /// The result of the last operation. Panics if pamh itself failed.
    #[track_caller]
    pub fn code(&self) -> PamCode {
        assert!(
            self.status.success(),
            "pamh failed: {}\nstderr: {}",
            self.status,
            self.stderr
        );
        self.results.last().map(|r| r.1).expect("no result")
    }

    /// Texts of all prompts, in order.
    pub fn prompts(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e.style.starts_with("prompt"))
            .map(|e| e.text.as_str())
            .collect()
    }

    /// Texts of all info and error messages, in order.
    pub fn messages(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e.style == "info" || e.style == "error")
            .map(|e| e.text.as_str())
            .collect()
    }

    /// True if a log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.logs.iter().any(|l| l.text.contains(needle))
    }

    /// Asserts the last result, printing everything seen on failure.
    #[track_caller]
    pub fn assert_code(&self, expected: PamCode) -> &Self {
        let got = self.code();
        assert_eq!(
            got, expected,
            "unexpected PAM result\nevents: {:#?}\nlogs: {:#?}\nstderr: {}",
            self.events, self.logs, self.stderr
        );
        self
    }
}
