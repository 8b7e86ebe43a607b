//! `totp-enroll doctor`: checks a live configuration for the mistakes behind most pam_totp support requests
//! (the code prompt never appears, any code works, the password is no longer asked, nullok "doesn't work")
//! before the admin logs out.
//!
//! It reads, never writes: the effective sshd configuration ([`sshd`]), the sshd PAM stack with its includes
//! and every path through it ([`pamstack`]), common-password, one user's secret file ([`user`]), the clock
//! ([`clock`]) and the hardening guide's other steps ([`hardening`]), with `--fleet` also the fleet database's
//! replication and roles and this host's pam-totpd socket ([`fleet`]), and reports each problem with the line
//! to change ([`report`]). Exit status: 0 nothing wrong (warnings alone are 0), 1 something breaks logins or
//! skips the code, 2 the doctor itself could not run (bad flags, unreadable configuration).
//!
//! Every check is a function of file contents or paths, so the tests run on fixtures; [`run`] only parses
//! the flags, fills [`Settings`] with the real paths and prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod clock;
pub mod fleet;
pub mod hardening;
pub mod pamstack;
pub mod report;
pub mod sshd;
pub mod user;

use crate::error::Error;
use crate::flags::{doctor_flag, doctor_help, DoctorId, UsageError, DOCTOR_USAGE};
use report::Finding;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What to check, and where things are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The sshd_config (`--sshd-config`).
    pub sshd_config: PathBuf,
    /// Whether `--sshd-config` was given (then a missing file is the doctor's own error).
    pub sshd_config_given: bool,
    /// Where logical `Include` paths (`/etc/ssh/...`) are read (`/` on a real system).
    pub include_root: PathBuf,
    /// The PAM configuration directory (`--pam-dir`).
    pub pam_dir: PathBuf,
    /// The user whose secret file is checked (`--user`).
    pub user: Option<String>,
    /// JSON output (`--json`).
    pub json: bool,
    /// passwd(5) file.
    pub passwd: PathBuf,
    /// shadow(5) file.
    pub shadow: PathBuf,
    /// sudoers file.
    pub sudoers: PathBuf,
    /// sudoers drop-in directory.
    pub sudoers_dir: PathBuf,
    /// How to run `sshd -T` (`None`: do not).
    pub sshd: Option<SshdCommand>,
    /// How to learn the clock state.
    pub clock: ClockMode,
    /// Directories libpam loads relative module paths from (empty: skip the "installed" check).
    pub module_dirs: Vec<PathBuf>,
    /// The fleet checks (`--fleet`), or none.
    pub fleet: Option<Fleet>,
}

/// How `--fleet` reaches the database and the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fleet {
    /// `psql -d` (`--conninfo`, the admin's own role); `None`: psql's PG* environment.
    pub conninfo: Option<String>,
    /// The psql binary (`--psql`).
    pub psql: String,
    /// pam-totpd's socket (`--socket`); `None`: the sshd stack's `store=pamd` socket, else the default.
    pub socket: Option<PathBuf>,
    /// Where pam-totpd.service may be, the first that exists is checked (`--unit FILE|none`; default: the
    /// systemd unit directories).
    pub units: Vec<PathBuf>,
}

/// The command line for `sshd -T`: `PROGRAM PREFIX... -T -f CONFIG EXTRA...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshdCommand {
    /// The sshd binary (or a wrapper).
    pub program: PathBuf,
    /// Arguments before `-T` (for a wrapper).
    pub prefix: Vec<String>,
    /// Arguments after `-f CONFIG` (e.g. `-o HostKey=...` in tests).
    pub extra: Vec<String>,
}

/// Where the clock state comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Ask timedatectl/chronyc/ntpq.
    Probe,
    /// Do not check the clock.
    Skip,
}

impl Settings {
    /// The real system's paths.
    pub fn system() -> Settings {
        Settings {
            sshd_config: PathBuf::from("/etc/ssh/sshd_config"),
            sshd_config_given: false,
            include_root: PathBuf::from("/"),
            pam_dir: PathBuf::from("/etc/pam.d"),
            user: None,
            json: false,
            passwd: PathBuf::from("/etc/passwd"),
            shadow: PathBuf::from("/etc/shadow"),
            sudoers: PathBuf::from("/etc/sudoers"),
            sudoers_dir: PathBuf::from("/etc/sudoers.d"),
            sshd: Some(SshdCommand {
                program: PathBuf::from("/usr/sbin/sshd"),
                prefix: Vec::new(),
                extra: Vec::new(),
            }),
            clock: ClockMode::Probe,
            module_dirs: system_module_dirs(),
            fleet: None,
        }
    }
}

/// libpam's module directories on this machine: those of `/lib/*/security`, `/usr/lib/*/security`,
/// `/lib/security`, ... that hold pam_unix.so (so a half-found directory set never produces a false alarm).
fn system_module_dirs() -> Vec<PathBuf> {
    let root = Path::new("/");
    let mut dirs: Vec<String> = Vec::new();
    for pattern in [
        "/lib/*/security",
        "/usr/lib/*/security",
        "/lib/security",
        "/usr/lib/security",
        "/lib64/security",
        "/usr/lib64/security",
    ] {
        dirs.extend(sshd::glob(root, pattern));
    }
    dirs.into_iter()
        .map(PathBuf::from)
        .filter(|d| d.join("pam_unix.so").exists())
        .collect()
}

/// What the flags ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Print the help.
    Help,
    /// Run the checks.
    Run(Box<Settings>),
}

/// Parses the arguments after `doctor` with the rows of [`DOCTOR_FLAGS`](crate::flags::DOCTOR_FLAGS).
pub fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut s = Settings::system();
    let mut module_dirs: Option<Vec<PathBuf>> = None;
    let mut fleet = Fleet {
        conninfo: None,
        psql: "psql".to_owned(),
        socket: None,
        units: fleet::UNIT_DIRS
            .iter()
            .map(|d| Path::new(d).join("pam-totpd.service"))
            .collect(),
    };
    let mut fleet_on = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let Some(flag) = doctor_flag(name) else {
            return Err(format!("unknown option {name:?} (see totp-enroll doctor --help)"));
        };
        let value = if flag.value.is_some() {
            match inline.or_else(|| it.next().cloned()) {
                Some(v) if !v.is_empty() => v,
                _ => return Err(format!("{name} needs a value")),
            }
        } else if inline.is_some() {
            return Err(format!("{name} takes no value"));
        } else {
            String::new()
        };
        // --conninfo, --socket and --psql only make sense for the fleet checks: they imply them.
        fleet_on |= matches!(
            flag.id,
            DoctorId::Fleet | DoctorId::Conninfo | DoctorId::Psql | DoctorId::Socket | DoctorId::Unit
        );
        match flag.id {
            DoctorId::Help => return Ok(Parsed::Help),
            DoctorId::Json => s.json = true,
            DoctorId::NoClock => s.clock = ClockMode::Skip,
            DoctorId::SshdConfig => {
                s.sshd_config = PathBuf::from(value);
                s.sshd_config_given = true;
            }
            DoctorId::PamDir => s.pam_dir = PathBuf::from(value),
            DoctorId::User => s.user = Some(value),
            DoctorId::Root => s.include_root = PathBuf::from(value),
            DoctorId::Passwd => s.passwd = PathBuf::from(value),
            DoctorId::Shadow => s.shadow = PathBuf::from(value),
            DoctorId::Sudoers => s.sudoers = PathBuf::from(value),
            DoctorId::SudoersDir => s.sudoers_dir = PathBuf::from(value),
            DoctorId::Sshd if value == "none" => s.sshd = None,
            DoctorId::Sshd => {
                s.sshd = Some(SshdCommand {
                    program: PathBuf::from(value),
                    prefix: Vec::new(),
                    extra: Vec::new(),
                })
            }
            DoctorId::Fleet => {}
            DoctorId::Conninfo => fleet.conninfo = Some(value),
            DoctorId::Psql => fleet.psql = value,
            DoctorId::Socket => fleet.socket = Some(PathBuf::from(value)),
            DoctorId::Unit if value == "none" => fleet.units.clear(),
            DoctorId::Unit => fleet.units = vec![PathBuf::from(value)],
            DoctorId::ModuleDir => {
                let dirs = module_dirs.get_or_insert_with(Vec::new);
                if value != "none" {
                    dirs.push(PathBuf::from(value));
                }
            }
        }
    }
    if let Some(d) = module_dirs {
        s.module_dirs = d;
    }
    if fleet_on {
        s.fleet = Some(fleet);
    }
    Ok(Parsed::Run(Box::new(s)))
}

/// The findings, and notes on how the configuration was read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnosis {
    /// Errors first, then warnings, each group in check order.
    pub findings: Vec<Finding>,
    /// How things were read (`sshd -T` or the parser, skipped checks).
    pub notes: Vec<String>,
}

/// Runs every check. `Err` is the doctor's own failure (exit 2).
pub fn diagnose(s: &Settings) -> Result<Diagnosis, String> {
    let mut d = Diagnosis::default();

    // The PAM stack first: the sshd checks need to know whether pam_totp is in it.
    if !s.pam_dir.is_dir() {
        return Err(format!(
            "{} is not a directory (give --pam-dir)",
            s.pam_dir.display()
        ));
    }
    let stack = match pamstack::load(&s.pam_dir, "sshd") {
        Ok(st) => Some(st),
        Err(e) => {
            d.findings.push(
                Finding::error(
                    "pam-sshd-missing",
                    format!("{e}: sshd then uses the `other` stack, without pam_totp"),
                    "restore /etc/pam.d/sshd (apt-get install --reinstall openssh-server) and add pam_totp to it",
                )
                .at(s.pam_dir.join("sshd").display().to_string(), None),
            );
            None
        }
    };
    let totp_in_stack = stack.as_ref().is_some_and(|st| pamstack::totp_line(st).is_some());

    // sshd.
    let mut key_and_code = false;
    if !s.sshd_config.exists() && !s.sshd_config_given {
        d.notes.push(format!(
            "{} does not exist: sshd checks skipped",
            s.sshd_config.display()
        ));
    } else {
        let parsed = sshd::parse_config(&s.sshd_config, &s.include_root)?;
        d.findings.extend(sshd::config_errors(&parsed));
        let mut eff = sshd::effective_from_parser(&parsed, s.user.as_deref());
        match s.sshd.as_ref().filter(|c| c.program.exists()) {
            None => d
                .notes
                .push("sshd configuration read by the built-in parser (no sshd binary to ask)".to_owned()),
            Some(c) => {
                match sshd::run_sshd_t(&c.program, &c.prefix, &s.sshd_config, &c.extra, s.user.as_deref()) {
                    Ok(printed) => {
                        let before = eff.clone();
                        eff = sshd::with_sshd_t(eff, &printed);
                        for (keyword, v) in &eff.values {
                            if before.values.get(keyword).is_some_and(|b| b.value != v.value) {
                                d.notes.push(format!(
                                    "sshd -T says {keyword} {}, the parser found {}: the line that sets it is not known",
                                    v.value,
                                    before.get(keyword)
                                ));
                            }
                        }
                        d.notes.push(format!(
                            "effective sshd configuration from `{} -T`",
                            c.program.display()
                        ));
                    }
                    Err(sshd::SshdTError::Rejected { message, file, line }) => {
                        // The parser names the line for the one rejection it recognises itself.
                        let known = line.is_none()
                            && message.contains("AuthenticationMethods")
                            && sshd::check(&eff, totp_in_stack)
                                .iter()
                                .any(|f| f.id == "sshd-authmethods-unsatisfiable");
                        if !known {
                            d.findings.push(sshd::rejected(&message, file, line));
                        }
                        d.notes.push(
                            "sshd -T rejected the file; values below come from the built-in parser"
                                .to_owned(),
                        );
                    }
                    Err(sshd::SshdTError::Unavailable(why)) => {
                        d.notes
                            .push(format!("{why}; sshd configuration read by the built-in parser"));
                    }
                }
            }
        }
        key_and_code = eff.key_and_code();
        d.findings.extend(sshd::check(&eff, totp_in_stack));
    }

    // The sshd PAM stack.
    let intent = pamstack::SshdIntent { key_and_code };
    if let Some(st) = &stack {
        d.findings
            .extend(pamstack::check_sshd_stack(st, intent, &s.module_dirs));
    }

    // common-password.
    match pamstack::load(&s.pam_dir, "common-password") {
        Ok(cp) => d
            .findings
            .extend(pamstack::check_common_password(&cp, &s.module_dirs)),
        Err(_) => d.notes.push(format!(
            "no {}: common-password checks skipped (not Debian?)",
            s.pam_dir.join("common-password").display()
        )),
    }

    // One user.
    if let Some(name) = &s.user {
        let text =
            fs::read_to_string(&s.passwd).map_err(|e| format!("cannot read {}: {e}", s.passwd.display()))?;
        let accounts = user::parse_passwd(&text);
        let account = accounts
            .iter()
            .find(|a| &a.name == name)
            .ok_or_else(|| format!("no user {name:?} in {}", s.passwd.display()))?;
        let opts = stack.as_ref().map(pamstack::totp_options).unwrap_or_default();
        d.findings
            .extend(user::check(account, &opts, &accounts, totp_in_stack));
    }

    // Clock.
    let state = match &s.clock {
        ClockMode::Skip => None,
        ClockMode::Probe => Some(clock::probe()),
    };
    if let Some(state) = state {
        if let clock::ClockState::Synced(by) = &state {
            d.notes.push(format!("clock synchronised (per {by})"));
        }
        d.findings.extend(clock::check(&state));
    }

    // The fleet database and this host's daemon.
    if let Some(f) = &s.fleet {
        let from_stack = stack
            .as_ref()
            .and_then(|st| match pamstack::totp_options(st).store {
                pam_totp::args::StateStore::Pamd { socket } => Some(PathBuf::from(socket)),
                _ => None,
            });
        if f.socket.is_none() && from_stack.is_none() {
            d.notes.push(
                "the sshd stack does not use store=pamd: checked pam-totpd's default socket".to_owned(),
            );
        }
        let socket = f
            .socket
            .clone()
            .or(from_stack)
            .unwrap_or_else(|| PathBuf::from(pam_totp::pamd::DEFAULT_SOCKET));
        d.findings.extend(fleet::check_socket(&socket));
        match f.units.iter().find(|u| u.exists()) {
            Some(unit) => {
                let text =
                    fs::read_to_string(unit).map_err(|e| format!("cannot read {}: {e}", unit.display()))?;
                let timeout = stack.as_ref().map_or(pam_totp::args::DEFAULT_TIMEOUT_SECS, |st| {
                    pamstack::totp_options(st).timeout_secs
                });
                d.findings.extend(fleet::check_unit(
                    &text,
                    &unit.display().to_string(),
                    &socket,
                    timeout,
                ));
            }
            None if f.units.is_empty() => {}
            None => d
                .notes
                .push("no pam-totpd.service found: its settings were not checked".to_owned()),
        }
        match fleet::query(&f.psql, f.conninfo.as_deref()) {
            Ok(facts) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |t| t.as_secs_f64());
                d.findings.extend(fleet::check(&facts, now));
            }
            Err(e) => d.findings.push(Finding::error(
                "fleet-db-unreachable",
                e,
                "give --conninfo \"host=... dbname=totp user=<a totp_admin role>\" (or PGHOST, PGDATABASE...)",
            )),
        }
    }

    // The rest of the hardening guide.
    let (files, problems) = hardening::read_sudoers(&s.sudoers, &s.sudoers_dir);
    d.findings.extend(problems);
    d.findings.extend(hardening::check_sudoers(&files));
    match fs::read_to_string(&s.shadow) {
        Ok(t) => d
            .findings
            .extend(hardening::check_shadow(&t, &s.shadow.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => d.findings.push(
            Finding::warning(
                "shadow-unreadable",
                format!(
                    "cannot read {}: {e}: the root password was not checked",
                    s.shadow.display()
                ),
                "run the doctor as root",
            )
            .at(s.shadow.display().to_string(), None),
        ),
    }

    d.findings.sort_by_key(|f| f.severity);
    Ok(d)
}

/// `totp-enroll doctor ARGS...`: prints the report and returns 0, 1 or 2.
pub fn run(args: &[String]) -> ExitCode {
    let settings = match parse_args(args) {
        Ok(Parsed::Help) => {
            print!("{}", doctor_help());
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(s)) => s,
        Err(message) => {
            return Error::Usage(UsageError {
                message,
                hint: format!("usage: {DOCTOR_USAGE}"),
            })
            .report()
        }
    };
    match diagnose(&settings) {
        Ok(d) => {
            if settings.json {
                print!("{}", report::json(&d.findings));
            } else {
                print!("{}", report::human(&d.findings, &d.notes));
            }
            ExitCode::from(report::exit_status(&d.findings))
        }
        Err(e) => Error::Doctor(e).report(),
    }
}
