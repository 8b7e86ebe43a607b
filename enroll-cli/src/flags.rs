//! The one flag table of `totp-enroll`, and everything made from it: the parser, `--help`, the man page
//! (`docs/man/totp-enroll.1`, printed by the hidden `--print-man`) and the bash completion (`--print-completion
//! bash`). Adding a flag means adding one row to [`FLAGS`]; nothing else lists flags.
//!
//! The short flags, long names and ranges are those of the google-authenticator command (1.11), so existing
//! scripts keep working; the ranges are checked here, with the C tool's messages as the reference for which
//! inputs are errors. Everything here is pure (no I/O), so the tests can check the table directly.

use std::fmt::Write as _;

/// What a flag sets. One variant per row of [`FLAGS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Id {
    TimeBased,
    CounterBased,
    DisallowReuse,
    AllowReuse,
    Force,
    NoConfirm,
    Label,
    Issuer,
    Quiet,
    QrMode,
    RateLimit,
    RateTime,
    NoRateLimit,
    Secret,
    State,
    StepSize,
    WindowSize,
    MinimalWindow,
    EmergencyCodes,
    Algorithm,
    Digits,
    User,
    Mode,
    Json,
    QrSvg,
    Help,
    Version,
    Passwd,
    LogSocket,
    PrintMan,
    PrintCompletion,
    Store,
    Socket,
}

/// One row of a flag table: [`FLAGS`] (ids [`Id`]) or [`DOCTOR_FLAGS`] (ids [`DoctorId`]).
#[derive(Debug)]
pub struct Flag<I = Id> {
    /// What it sets.
    pub id: I,
    /// The short form, if any (google-authenticator's letter).
    pub short: Option<char>,
    /// The long form, without `--`.
    pub long: &'static str,
    /// The value's name in help text, when the flag takes a value.
    pub value: Option<&'static str>,
    /// The values it accepts, when that is a fixed list (for help and completion).
    pub choices: &'static [&'static str],
    /// Whether the value is a file name (for completion).
    pub file: bool,
    /// One or two sentences for `--help` and the man page.
    pub help: &'static str,
    /// Not shown in `--help`, the man page or completions (tooling and test hooks).
    pub hidden: bool,
}

/// A row with no value; the methods below add one.
const fn flag<I: Copy>(id: I, short: Option<char>, long: &'static str, help: &'static str) -> Flag<I> {
    Flag {
        id,
        short,
        long,
        value: None,
        choices: &[],
        file: false,
        help,
        hidden: false,
    }
}

impl<I: Copy> Flag<I> {
    /// Takes a value named `name` in help text.
    const fn takes(self, name: &'static str) -> Self {
        Flag {
            value: Some(name),
            ..self
        }
    }
    /// Takes one of `choices`.
    const fn one_of(self, name: &'static str, choices: &'static [&'static str]) -> Self {
        Flag {
            value: Some(name),
            choices,
            ..self
        }
    }
    /// Takes a file name.
    const fn path(self, name: &'static str) -> Self {
        Flag {
            value: Some(name),
            file: true,
            ..self
        }
    }
    /// Left out of `--help`, the man page and completions.
    const fn hidden(self) -> Self {
        Flag { hidden: true, ..self }
    }
}

/// Every flag, in the order `--help` shows them.
pub static FLAGS: &[Flag] = &[
    flag(Id::TimeBased, Some('t'), "time-based", "Set up time-based (TOTP) verification."),
    flag(Id::CounterBased, Some('c'), "counter-based", "Set up counter-based (HOTP) verification."),
    flag(Id::DisallowReuse, Some('d'), "disallow-reuse", "Disallow reuse of previously used TOTP tokens."),
    flag(Id::AllowReuse, Some('D'), "allow-reuse", "Allow reuse of previously used TOTP tokens."),
    flag(Id::Force, Some('f'), "force", "Write the secret file without asking, replacing an existing one."),
    flag(Id::NoConfirm, Some('C'), "no-confirm", "Do not ask for a code from the app before writing the file."),
    flag(
        Id::Label,
        Some('l'),
        "label",
        "Account name in the otpauth URI, kept as given (default: USER@HOSTNAME). With --store pamd: the \
         token's name in the fleet database instead (1-64 characters, default \"phone\"; e.g. \"backup-fob\" for \
         a second token), and the URI keeps its default account name.",
    )
    .takes("LABEL"),
    flag(Id::Issuer, Some('i'), "issuer", "Issuer in the otpauth URI (default: the ISSUER of a -l ISSUER:ACCOUNT, else HOSTNAME).").takes("ISSUER"),
    flag(
        Id::Quiet,
        Some('q'),
        "quiet",
        "Quiet mode: no QR code, URI, secret or scratch codes on the terminal (implies --no-confirm).",
    ),
    flag(
        Id::QrMode,
        Some('Q'),
        "qr-mode",
        "QR code in the terminal: NONE, ANSI (two spaces per module: about 45 lines, needs a large \
         terminal) or UTF8 (half blocks: at most 45x22 for a URI up to 130 characters, e.g. the default \
         -l and -i with an 8-letter user and a 25-character host name, so it fits 80x24 with the prompt; a \
         longer -l or -i grows it, and totp-enroll says when it does not fit). Default: UTF8 in a UTF-8 \
         locale, else ANSI.",
    )
    .one_of("MODE", &["NONE", "ANSI", "UTF8"]),
    flag(
        Id::RateLimit,
        Some('r'),
        "rate-limit",
        "Allow at most N (1-10) login attempts every M seconds (needs --rate-time).",
    )
    .takes("N"),
    flag(Id::RateTime, Some('R'), "rate-time", "The rate-limit interval M in seconds (15-600; needs --rate-limit).")
        .takes("M"),
    flag(Id::NoRateLimit, Some('u'), "no-rate-limit", "Disable rate limiting."),
    flag(Id::Secret, Some('s'), "secret", "Secret file to write (default: ~/.google_authenticator of the target user).")
        .path("FILE"),
    flag(
        Id::State,
        None,
        "state",
        "pam_totp's state file of this user when the stack uses state=: status counts the used scratch codes kept \
         there, new-scratch-codes forgets them, state-to-file writes it back into the secret file.",
    )
    .path("FILE"),
    flag(Id::StepSize, Some('S'), "step-size", "TOTP step size in seconds (1-60, default 30).").takes("S"),
    flag(
        Id::WindowSize,
        Some('w'),
        "window-size",
        "Number of codes valid at once (1-21; 3 means the previous, current and next code).",
    )
    .takes("W"),
    flag(
        Id::MinimalWindow,
        Some('W'),
        "minimal-window",
        "Smallest window: 3 codes (previous, current, next) for TOTP, 1 code for HOTP.",
    ),
    flag(Id::EmergencyCodes, Some('e'), "emergency-codes", "Number of emergency scratch codes (0-10, default 5; `new-scratch-codes -e 0` revokes them all).")
        .takes("N"),
    flag(
        Id::Algorithm,
        None,
        "algorithm",
        "HMAC algorithm (default SHA1). Several apps ignore SHA256/SHA512; the confirmation code catches that.",
    )
    .one_of("ALG", &["SHA1", "SHA256", "SHA512"]),
    flag(
        Id::Digits,
        None,
        "digits",
        "Code length (default 6). SHA256/SHA512 and 7/8 digits work with pam_totp, not pam_google_authenticator.",
    )
    .one_of("N", &["6", "7", "8"]),
    flag(
        Id::User,
        None,
        "user",
        "Act for another user (root only): home directory from the account database; the file is read and \
         written with that user's file-system rights (as pam_totp does), so it is theirs and only where they may write.",
    )
    .takes("NAME"),
    flag(
        Id::Mode,
        None,
        "mode",
        "Permissions of the new file: 0400 (default, as google-authenticator) or 0600.",
    )
    .one_of("MODE", &["0400", "0600"]),
    flag(
        Id::Json,
        None,
        "json",
        "Print the URI, the scratch codes and the settings as JSON on standard output (prompts go to standard error).",
    ),
    flag(
        Id::QrSvg,
        None,
        "qr-svg",
        "Also write the QR code as an SVG image to FILE (mode 0600; it contains the secret).",
    )
    .path("FILE"),
    flag(
        Id::Store,
        None,
        "store",
        "Where the codes are checked: file (default: the secret file) or pamd (the fleet database through \
         pam-totpd, for pam_totp store=pamd; the database checks the confirmation code, and when you already \
         have an active token, asks for a current code of it or a scratch code; the first token comes with 5 \
         scratch codes). With pamd, enrolling takes -t/-c, -l, -i, -Q, -S, -w/-W, --algorithm, --digits, \
         --user, --json, --qr-svg, --socket.",
    )
    .one_of("STORE", &["file", "pamd"]),
    flag(
        Id::Socket,
        None,
        "socket",
        "pam-totpd's socket with --store pamd (default /run/pam-totpd/socket).",
    )
    .path("PATH"),
    flag(Id::Help, Some('h'), "help", "Print this help and exit."),
    flag(Id::Version, None, "version", "Print the version and exit."),
    flag(Id::Passwd, None, "passwd-file", "Account database to read instead of /etc/passwd.")
        .path("FILE")
        .hidden(),
    flag(Id::LogSocket, None, "log-socket", "Syslog socket for the audit line instead of /dev/log.")
        .path("PATH")
        .hidden(),
    flag(Id::PrintMan, None, "print-man", "Print the man page (roff) and exit.").hidden(),
    flag(Id::PrintCompletion, None, "print-completion", "Print the shell completion script and exit.")
        .one_of("SHELL", &["bash"])
        .hidden(),
];

/// The subcommands (first word on the command line), with their help.
pub static COMMANDS: &[(&str, &str)] = &[
    (
        "status",
        "Show how the secret file is set up and how many scratch codes remain (never the secret). Fails (exit 1) \
         with pam_totp's reason when pam_totp would refuse the file (owner, permissions, symbolic link, size). \
         With --store pamd: your tokens in the fleet database (label, type, active, created, last used) and the \
         scratch codes left; exit 1 when you are not enrolled there.",
    ),
    (
        "new-scratch-codes",
        "Replace the emergency scratch codes (count from -e, default 5) without changing the secret, under \
         pam_totp's lock, so that a login recording a used code meanwhile is not undone.",
    ),
    (
        "state-to-file",
        "Moving out of pam_totp's state=: write what the state file (--state FILE) records (used steps, \
         HOTP counter, RATE_LIMIT times, skew, used scratch codes removed) back into the secret file, under both \
         locks, before state= is taken off the PAM line (pam_totp(8), STATE FILE).",
    ),
    (
        "doctor",
        "Check sshd, the PAM stacks (sshd: the code asked once and never skipped; common-password: pam_pwpolicy's \
         arguments, exactly one password-quality module), a user's secret file and the clock for mistakes that \
         lock admins out or let attackers in; exit 1 when one would break logins or password changes \
         (`totp-enroll doctor --help`).",
    ),
    (
        "admin",
        "Fleet administration (pam-totpd and PostgreSQL; runs psql as the admin's own role, group totp_admin; \
         each takes [--conninfo STRING] [--psql PATH]): `admin import [--label LABEL] [--prefer FILE] USER \
         FILE...` moves google-authenticator files into the fleet database (several hosts' files merged: highest \
         HOTP counter, used scratch codes dropped; refused when the secrets differ, unless --prefer names the \
         file whose secret wins: the files with another secret are then left out and named); `admin export \
         [--label LABEL] USER FILE` writes a google-authenticator file back (TOTP or HOTP state, no scratch \
         codes: the database keeps only their hashes); `admin disable [--label LABEL] USER` disables one token \
         or the whole user, on every host at the next attempt; `admin reset USER` removes the user's tokens and \
         scratch codes so that they enroll again; `admin unlock USER` clears the fleet-wide failure ceiling; \
         `admin audit [--limit N] [--json] USER` prints the user's last N (default 50) events: verifies, \
         enrollments and admin changes.",
    ),
];

/// What a `doctor` flag sets. One variant per row of [`DOCTOR_FLAGS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoctorId {
    SshdConfig,
    PamDir,
    User,
    Json,
    Help,
    Root,
    Passwd,
    Shadow,
    Sudoers,
    SudoersDir,
    Sshd,
    NoClock,
    ModuleDir,
    Fleet,
    Conninfo,
    Socket,
    Psql,
    Unit,
}

/// The flags of `totp-enroll doctor`, in the order its help shows them. The hidden rows are the less common
/// ones (mostly for tests), listed in one paragraph of the help and left out of the man page and completion.
pub static DOCTOR_FLAGS: &[Flag<DoctorId>] = &[
    flag(
        DoctorId::SshdConfig,
        None,
        "sshd-config",
        "sshd configuration (default /etc/ssh/sshd_config; read with `sshd -T` when possible).",
    )
    .path("FILE"),
    flag(
        DoctorId::PamDir,
        None,
        "pam-dir",
        "PAM configuration directory (default /etc/pam.d).",
    )
    .path("DIR"),
    flag(
        DoctorId::User,
        None,
        "user",
        "Also check NAME's secret file, its directory and scratch codes.",
    )
    .takes("NAME"),
    flag(
        DoctorId::Json,
        None,
        "json",
        "Print the findings as a JSON array of {severity, id, file, line, message, fix}.",
    ),
    flag(
        DoctorId::Fleet,
        None,
        "fleet",
        "Also check the fleet: synchronous standbys, host roles that can read secrets, the database's clock \
         (through psql) and pam-totpd's socket.",
    ),
    flag(
        DoctorId::Conninfo,
        None,
        "conninfo",
        "psql -d STRING for --fleet (implied): the admin's own role on the primary (default: psql's PG* environment).",
    )
    .takes("STRING"),
    flag(
        DoctorId::Socket,
        None,
        "socket",
        "pam-totpd's socket for --fleet (implied; default: the sshd stack's store=pamd socket).",
    )
    .path("PATH"),
    flag(DoctorId::Help, Some('h'), "help", "Print this help and exit."),
    flag(DoctorId::Psql, None, "psql", "the psql binary for --fleet (implied)")
        .path("PATH")
        .hidden(),
    flag(DoctorId::Unit, None, "unit", "pam-totpd.service for --fleet (implied), or none")
        .takes("FILE|none")
        .hidden(),
    flag(DoctorId::Root, None, "root", "read Include paths below DIR")
        .path("DIR")
        .hidden(),
    flag(DoctorId::Passwd, None, "passwd", "passwd(5) file")
        .path("FILE")
        .hidden(),
    flag(DoctorId::Shadow, None, "shadow", "shadow(5) file")
        .path("FILE")
        .hidden(),
    flag(DoctorId::Sudoers, None, "sudoers", "sudoers file")
        .path("FILE")
        .hidden(),
    flag(
        DoctorId::SudoersDir,
        None,
        "sudoers-dir",
        "sudoers drop-in directory",
    )
    .path("DIR")
    .hidden(),
    flag(
        DoctorId::Sshd,
        None,
        "sshd",
        "the sshd to run `sshd -T` with, or none",
    )
    .takes("PROGRAM|none")
    .hidden(),
    flag(DoctorId::NoClock, None, "no-clock", "do not check the clock").hidden(),
    flag(
        DoctorId::ModuleDir,
        None,
        "module-dir",
        "a PAM module directory, repeatable; none: no check",
    )
    .takes("DIR|none")
    .hidden(),
];

/// The `doctor` row for `--long` or `-x` as written on the command line.
pub fn doctor_flag(name: &str) -> Option<&'static Flag<DoctorId>> {
    DOCTOR_FLAGS.iter().find(|f| {
        name.strip_prefix("--") == Some(f.long)
            || f.short
                .is_some_and(|c| name.strip_prefix('-') == Some(c.encode_utf8(&mut [0; 4])))
    })
}

/// The usage line of `doctor`, also its hint after a usage error.
pub const DOCTOR_USAGE: &str =
    "totp-enroll doctor [--sshd-config FILE] [--pam-dir DIR] [--user NAME] [--json] [--fleet [--conninfo STRING]]";

/// `totp-enroll doctor --help`.
pub fn doctor_help() -> String {
    let mut out = format!(
        "Usage: {DOCTOR_USAGE}\n\n\
         Checks the sshd configuration, the sshd PAM stack, common-password, the clock and (with --user) one \
         user's\nsecret file for the mistakes that lock people out, let a login skip the code, ask for it twice \
         or\nbreak password changes (pam_pwpolicy arguments, two or no quality modules). Reads only.\n\n"
    );
    for f in DOCTOR_FLAGS.iter().filter(|f| !f.hidden) {
        let _ = writeln!(out, "  {:<28} {}", synopsis(f), f.help);
    }
    let rare: Vec<String> = DOCTOR_FLAGS
        .iter()
        .filter(|f| f.hidden)
        .map(|f| match f.value {
            Some(v) => format!("--{} {v} ({})", f.long, f.help),
            None => format!("--{} ({})", f.long, f.help),
        })
        .collect();
    let _ = writeln!(out, "\nLess common (mostly for tests): {}.", rare.join(", "));
    out.push_str(
        "\nExit status: 0 nothing wrong (warnings alone give 0), 1 something will break logins or skips the \
         code,\n2 the doctor could not run.\n",
    );
    out
}

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Command {
    /// Create a new secret file.
    #[default]
    Enroll,
    /// `status`.
    Status,
    /// `new-scratch-codes`.
    NewScratchCodes,
    /// `state-to-file`.
    StateToFile,
}

/// `-Q`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QrMode {
    None,
    Ansi,
    Utf8,
}

/// The parsed command line. `None` means "not given" (ask, or the default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub command: Command,
    /// `Some(true)` TOTP, `Some(false)` HOTP.
    pub time_based: Option<bool>,
    /// `Some(true)` -d, `Some(false)` -D.
    pub disallow_reuse: Option<bool>,
    pub force: bool,
    pub no_confirm: bool,
    pub label: Option<String>,
    pub issuer: Option<String>,
    pub quiet: bool,
    pub qr_mode: Option<QrMode>,
    /// `Some(Some((n, m)))` -r/-R, `Some(None)` -u.
    pub rate_limit: Option<Option<(u32, u32)>>,
    pub secret: Option<String>,
    /// `--state`: pam_totp's `state=` file of the user.
    pub state: Option<String>,
    pub step_size: Option<u32>,
    /// `-w`.
    pub window_size: Option<u32>,
    /// `-W`: the smallest window (3 codes for TOTP, 1 for HOTP, as google-authenticator writes).
    pub minimal_window: bool,
    pub emergency_codes: Option<u32>,
    pub algorithm: Option<String>,
    pub digits: Option<u8>,
    pub user: Option<String>,
    pub mode: Option<u32>,
    pub json: bool,
    pub qr_svg: Option<String>,
    pub help: bool,
    pub version: bool,
    pub passwd: Option<String>,
    pub log_socket: Option<String>,
    pub print_man: bool,
    pub print_completion: Option<String>,
    /// `--store pamd`: through pam-totpd and the fleet database.
    pub pamd: bool,
    pub socket: Option<String>,
}

/// A usage error: the message and a hint, both for the terminal. Exit status 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError {
    pub message: String,
    pub hint: String,
}

fn usage(message: impl Into<String>, hint: impl Into<String>) -> UsageError {
    UsageError {
        message: message.into(),
        hint: hint.into(),
    }
}

/// `-x` or `--long` as the user would write it.
pub fn display_name<I>(f: &Flag<I>) -> String {
    match f.short {
        Some(c) => format!("-{c}/--{}", f.long),
        None => format!("--{}", f.long),
    }
}

fn number(f: &Flag, value: &str, min: u32, max: u32, what: &str) -> Result<u32, UsageError> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) && !value.starts_with('+') => Ok(n),
        _ => Err(usage(
            format!(
                "{what} must be between {min} and {max} (got {value:?} for {})",
                display_name(f)
            ),
            format!(
                "for example {} {}",
                display_name(f).split('/').next().unwrap_or(""),
                min.max(1)
            ),
        )),
    }
}

fn duplicate(f: &Flag) -> UsageError {
    usage(
        format!("duplicate option {}", display_name(f)),
        "give each option once",
    )
}

fn conflict(a: &str, b: &str) -> UsageError {
    usage(
        format!("{a} and {b} cannot be used together"),
        "keep only one of them (see --help)",
    )
}

/// Parses the command line (without the program name).
pub fn parse(argv: &[String]) -> Result<Args, UsageError> {
    let mut args = Args::default();
    let mut seen: Vec<Id> = Vec::new();
    let mut i = 0;
    let mut positional_ok = true;
    while let Some(arg) = argv.get(i) {
        i += 1;
        // The pairs (flag, value) this argument contributes.
        let mut items: Vec<(&'static Flag, Option<String>)> = Vec::new();
        if arg == "--" {
            positional_ok = false;
            continue;
        } else if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let f = FLAGS.iter().find(|f| f.long == name).ok_or_else(|| {
                usage(
                    format!("unknown option --{name}"),
                    "run totp-enroll --help for the list of options",
                )
            })?;
            let value = match (f.value, inline) {
                (Some(_), Some(v)) => Some(v),
                (Some(_), None) => {
                    let v = argv.get(i).cloned().ok_or_else(|| missing(f))?;
                    i += 1;
                    Some(v)
                }
                (None, Some(_)) => {
                    return Err(usage(
                        format!("option --{name} takes no value"),
                        format!("write --{name} alone"),
                    ))
                }
                (None, None) => None,
            };
            items.push((f, value));
        } else if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            for (at, c) in shorts.char_indices() {
                let f = FLAGS.iter().find(|f| f.short == Some(c)).ok_or_else(|| {
                    usage(
                        format!("unknown option -{c}"),
                        "run totp-enroll --help for the list of options",
                    )
                })?;
                if f.value.is_some() {
                    let rest = shorts.get(at + c.len_utf8()..).unwrap_or("");
                    let v = if rest.is_empty() {
                        let v = argv.get(i).cloned().ok_or_else(|| missing(f))?;
                        i += 1;
                        v
                    } else {
                        rest.to_owned()
                    };
                    items.push((f, Some(v)));
                    break;
                }
                items.push((f, None));
            }
        } else {
            let command = match arg.as_str() {
                "status" if positional_ok && args.command == Command::Enroll => Command::Status,
                "new-scratch-codes" if positional_ok && args.command == Command::Enroll => {
                    Command::NewScratchCodes
                }
                "state-to-file" if positional_ok && args.command == Command::Enroll => Command::StateToFile,
                _ => {
                    return Err(usage(
                        format!("unexpected argument {arg:?}"),
                        "the only commands are `status`, `new-scratch-codes`, `state-to-file` and `doctor`; \
                         options start with -",
                    ))
                }
            };
            args.command = command;
            positional_ok = false;
            continue;
        }
        for (f, value) in items {
            if seen.contains(&f.id) {
                return Err(duplicate(f));
            }
            seen.push(f.id);
            apply(&mut args, f, value.unwrap_or_default())?;
        }
    }
    check_combinations(&args, &seen)?;
    Ok(args)
}

fn missing(f: &Flag) -> UsageError {
    usage(
        format!("option {} needs a value", display_name(f)),
        format!(
            "for example --{}={}",
            f.long,
            f.choices.first().copied().or(f.value).unwrap_or("VALUE")
        ),
    )
}

fn apply(args: &mut Args, f: &Flag, v: String) -> Result<(), UsageError> {
    match f.id {
        Id::TimeBased => args.time_based = Some(true),
        Id::CounterBased => args.time_based = Some(false),
        Id::DisallowReuse => args.disallow_reuse = Some(true),
        Id::AllowReuse => args.disallow_reuse = Some(false),
        Id::Force => args.force = true,
        Id::NoConfirm => args.no_confirm = true,
        Id::Label => args.label = Some(non_empty(f, v)?),
        Id::Issuer => args.issuer = Some(non_empty(f, v)?),
        Id::Quiet => args.quiet = true,
        Id::QrMode => {
            args.qr_mode = Some(match v.to_ascii_uppercase().as_str() {
                "NONE" => QrMode::None,
                "ANSI" => QrMode::Ansi,
                "UTF8" | "UTF-8" => QrMode::Utf8,
                _ => return Err(bad_choice(f, &v)),
            })
        }
        Id::RateLimit => {
            let n = number(f, &v, 1, 10, "the number of attempts")?;
            let m = match args.rate_limit {
                Some(Some((_, m))) => m,
                _ => 0,
            };
            args.rate_limit = Some(Some((n, m)));
        }
        Id::RateTime => {
            let m = number(f, &v, 15, 600, "the rate-limit interval")?;
            let n = match args.rate_limit {
                Some(Some((n, _))) => n,
                _ => 0,
            };
            args.rate_limit = Some(Some((n, m)));
        }
        Id::NoRateLimit => args.rate_limit = Some(None),
        Id::Secret => args.secret = Some(non_empty(f, v)?),
        Id::State => args.state = Some(non_empty(f, v)?),
        Id::StepSize => args.step_size = Some(number(f, &v, 1, 60, "the step size")?),
        Id::WindowSize => args.window_size = Some(number(f, &v, 1, 21, "the window size")?),
        Id::MinimalWindow => args.minimal_window = true,
        Id::EmergencyCodes => {
            args.emergency_codes = Some(number(f, &v, 0, 10, "the number of scratch codes")?)
        }
        Id::Algorithm => {
            let name = v.to_ascii_uppercase().replace('-', "");
            if !f.choices.contains(&name.as_str()) {
                return Err(bad_choice(f, &v));
            }
            args.algorithm = Some(name);
        }
        Id::Digits => {
            if !f.choices.contains(&v.as_str()) {
                return Err(bad_choice(f, &v));
            }
            args.digits = v.parse().ok();
        }
        Id::User => args.user = Some(non_empty(f, v)?),
        Id::Mode => {
            args.mode = Some(match v.trim_start_matches('0') {
                "400" => 0o400,
                "600" => 0o600,
                _ => return Err(bad_choice(f, &v)),
            })
        }
        Id::Json => args.json = true,
        Id::QrSvg => args.qr_svg = Some(non_empty(f, v)?),
        Id::Help => args.help = true,
        Id::Version => args.version = true,
        Id::Passwd => args.passwd = Some(non_empty(f, v)?),
        Id::LogSocket => args.log_socket = Some(non_empty(f, v)?),
        Id::PrintMan => args.print_man = true,
        Id::PrintCompletion => {
            if !f.choices.contains(&v.as_str()) {
                return Err(bad_choice(f, &v));
            }
            args.print_completion = Some(v);
        }
        Id::Store => {
            args.pamd = match v.as_str() {
                "file" => false,
                "pamd" => true,
                _ => return Err(bad_choice(f, &v)),
            }
        }
        Id::Socket => args.socket = Some(non_empty(f, v)?),
    }
    Ok(())
}

fn non_empty(f: &Flag, v: String) -> Result<String, UsageError> {
    if v.is_empty() {
        return Err(usage(
            format!("{} needs a non-empty value", display_name(f)),
            format!("for example --{}={}", f.long, f.value.unwrap_or("VALUE")),
        ));
    }
    Ok(v)
}

fn bad_choice(f: &Flag, v: &str) -> UsageError {
    usage(
        format!("invalid value {v:?} for {}", display_name(f)),
        format!("use one of: {}", f.choices.join(", ")),
    )
}

fn check_combinations(args: &Args, seen: &[Id]) -> Result<(), UsageError> {
    let has = |id: Id| seen.contains(&id);
    let pairs = [
        (Id::TimeBased, Id::CounterBased, "-t", "-c"),
        (Id::DisallowReuse, Id::AllowReuse, "-d", "-D"),
        (Id::WindowSize, Id::MinimalWindow, "-w", "-W"),
        (Id::RateLimit, Id::NoRateLimit, "-r", "-u"),
        (Id::RateTime, Id::NoRateLimit, "-R", "-u"),
    ];
    for (a, b, na, nb) in pairs {
        if has(a) && has(b) {
            return Err(conflict(na, nb));
        }
    }
    if has(Id::RateLimit) != has(Id::RateTime) {
        return Err(usage(
            "-r/--rate-limit and -R/--rate-time must be given together",
            "for example -r 3 -R 30 (3 attempts every 30 seconds), or -u for no rate limit",
        ));
    }
    if args.time_based == Some(false) && (has(Id::DisallowReuse) || has(Id::AllowReuse)) {
        return Err(usage(
            "reuse of tokens (-d/-D) is not a meaningful parameter in counter-based mode",
            "drop -d/-D, or use -t for time-based codes",
        ));
    }
    if args.command == Command::Enroll && has(Id::State) {
        return Err(usage(
            "--state applies only to status, new-scratch-codes and state-to-file",
            "drop --state: a new secret starts a fresh state by itself (pam_totp(8), STATE FILE)",
        ));
    }
    check_store(args, seen)?;
    if args.command != Command::Enroll {
        if let Some(f) = FLAGS.iter().find(|f| ENROLL_ONLY.contains(&f.id) && has(f.id)) {
            return Err(usage(
                format!("{} applies only when enrolling", display_name(f)),
                "status and new-scratch-codes take -s, --user, --json, -q and (new-scratch-codes) -e",
            ));
        }
        if args.command == Command::StateToFile && !has(Id::State) {
            return Err(usage(
                "state-to-file needs --state FILE",
                "name the user's state file, e.g. --state /var/lib/pam_totp/alice",
            ));
        }
        if matches!(args.command, Command::Status | Command::StateToFile) && has(Id::EmergencyCodes) {
            return Err(usage(
                "-e applies only to new-scratch-codes and enrolling",
                "drop -e",
            ));
        }
    }
    Ok(())
}

/// `--store pamd` takes no flag about the secret file (the fleet database's policy replaces its settings), and
/// `--socket` needs it; `new-scratch-codes` is for files only (the first token's scratch codes come with it).
fn check_store(args: &Args, seen: &[Id]) -> Result<(), UsageError> {
    if !args.pamd {
        if seen.contains(&Id::Socket) {
            return Err(usage(
                "--socket applies only with --store pamd",
                "add --store pamd",
            ));
        }
        return Ok(());
    }
    if args.command == Command::NewScratchCodes {
        return Err(usage(
            "new-scratch-codes works on secret files, not with --store pamd",
            "ask an admin for `totp-enroll admin reset` and enroll again for new scratch codes",
        ));
    }
    if let Some(f) = FLAGS
        .iter()
        .find(|f| FILE_ONLY.contains(&f.id) && seen.contains(&f.id))
    {
        return Err(usage(
            format!(
                "{} applies only to secret files, not with --store pamd",
                display_name(f)
            ),
            "drop it: with pamd, reuse, rate limits and scratch codes are the fleet database's policy",
        ));
    }
    Ok(())
}

/// The flags that make sense only for a secret file (`--store file`).
const FILE_ONLY: &[Id] = &[
    Id::DisallowReuse,
    Id::AllowReuse,
    Id::Force,
    Id::NoConfirm,
    Id::Quiet,
    Id::RateLimit,
    Id::RateTime,
    Id::NoRateLimit,
    Id::Secret,
    Id::EmergencyCodes,
    Id::Mode,
    Id::State,
];

/// The flags that only enrolling takes (`status` and `new-scratch-codes` refuse them).
const ENROLL_ONLY: &[Id] = &[
    Id::TimeBased,
    Id::CounterBased,
    Id::DisallowReuse,
    Id::AllowReuse,
    Id::NoConfirm,
    Id::Label,
    Id::Issuer,
    Id::QrMode,
    Id::RateLimit,
    Id::RateTime,
    Id::NoRateLimit,
    Id::StepSize,
    Id::WindowSize,
    Id::MinimalWindow,
    Id::Algorithm,
    Id::Digits,
    Id::Mode,
    Id::QrSvg,
    Id::Force,
];

/// Whether `command` takes the flag `id`.
fn applies(command: Command, id: Id) -> bool {
    match command {
        Command::Enroll => id != Id::State,
        Command::Status => !ENROLL_ONLY.contains(&id) && id != Id::EmergencyCodes,
        Command::NewScratchCodes => !ENROLL_ONLY.contains(&id),
        Command::StateToFile => !ENROLL_ONLY.contains(&id) && id != Id::EmergencyCodes,
    }
}

fn visible() -> impl Iterator<Item = &'static Flag> {
    FLAGS.iter().filter(|f| !f.hidden)
}

fn synopsis<I>(f: &Flag<I>) -> String {
    let mut s = match f.short {
        Some(c) => format!("-{c}, --{}", f.long),
        None => format!("    --{}", f.long),
    };
    if let Some(v) = f.value {
        s.push(' ');
        s.push_str(v);
    }
    s
}

/// `--help` of `command`: the whole table without a command, else the command and the flags it takes.
pub fn help_for(command: Command) -> String {
    let name = match command {
        Command::Enroll => return help_text(),
        Command::Status => "status",
        Command::NewScratchCodes => "new-scratch-codes",
        Command::StateToFile => "state-to-file",
    };
    let about = COMMANDS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, help)| *help);
    let mut out = format!("Usage: totp-enroll {name} [OPTIONS]\n\n{about}\n\nOptions:\n");
    for f in visible().filter(|f| applies(command, f.id)) {
        let _ = writeln!(out, "  {:<28} {}", synopsis(f), f.help);
    }
    out
}

/// `--help`.
pub fn help_text() -> String {
    let mut out = String::from(
        "totp-enroll: set up TOTP/HOTP codes for pam_totp (and pam_google_authenticator)\n\n\
         Usage: totp-enroll [OPTIONS]\n       totp-enroll status [-s FILE] [--user NAME] [--json]\n       \
         totp-enroll new-scratch-codes [-e N] [-s FILE] [--user NAME] [--json]\n       \
         totp-enroll state-to-file --state FILE [-s FILE] [--user NAME]\n       \
         totp-enroll doctor [DOCTOR OPTIONS] (see totp-enroll doctor --help)\n\nCommands:\n",
    );
    for (name, help) in COMMANDS {
        let _ = writeln!(out, "  {name:<28} {help}");
    }
    out.push_str("\nOptions:\n");
    for f in visible() {
        let _ = writeln!(out, "  {:<28} {}", synopsis(f), f.help);
    }
    out.push_str(
        "\nWithout -t/-c, -d/-D, -w/-W, -r/-R/-u and -f the questions are asked on standard input, in the order \
         of google-authenticator.\n",
    );
    out
}

fn roff_escape(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// A flag's `.TP` head line in the man page: `-x, --long VALUE` in bold and italics.
fn man_head<I>(f: &Flag<I>) -> String {
    let mut head = match f.short {
        Some(c) => format!("\\fB\\-{c}\\fR, \\fB\\-\\-{}\\fR", roff_escape(f.long)),
        None => format!("\\fB\\-\\-{}\\fR", roff_escape(f.long)),
    };
    if let Some(v) = f.value {
        let _ = write!(head, " \\fI{}\\fR", roff_escape(v));
    }
    head
}

/// The man page's date: the date of the last change to what it says (update it with the flag table).
const MAN_DATE: &str = "2026-12-04";

/// The man page, in roff. `docs/man/totp-enroll.1` must equal this (a test checks it).
pub fn man_page() -> String {
    let mut out = String::new();
    out.push_str(".\\\" Generated by `totp-enroll --print-man` from the flag table; do not edit.\n");
    let _ = writeln!(
        out,
        ".TH TOTP\\-ENROLL 1 \"{MAN_DATE}\" \"pam-login-security {}\" \"User Commands\"",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(".SH NAME\ntotp\\-enroll \\- set up one\\-time codes for pam_totp\n");
    out.push_str(".SH SYNOPSIS\n.B totp\\-enroll\n[\\fIOPTIONS\\fR]\n.br\n.B totp\\-enroll status\n[\\fIOPTIONS\\fR]\n.br\n.B totp\\-enroll new\\-scratch\\-codes\n[\\fIOPTIONS\\fR]\n.br\n.B totp\\-enroll doctor\n[\\fIDOCTOR OPTIONS\\fR]\n");
    out.push_str(
        ".SH DESCRIPTION\n\
         totp\\-enroll creates the secret file read by pam_totp and pam_google_authenticator \
         (by default \\fI~/.google_authenticator\\fR), shows the otpauth URI and a QR code for the \
         authenticator app, and writes the file only after a code from the app has been verified with exactly \
         the stored parameters (unless \\fB\\-C\\fR). It accepts every option of google\\-authenticator(1) \
         with the same meaning. Questions not answered by options are asked on standard input in the order of \
         google\\-authenticator. Every enrollment is logged to syslog (authpriv) without the secret.\n",
    );
    out.push_str(".SH COMMANDS\n");
    for (name, help) in COMMANDS {
        let _ = write!(out, ".TP\n.B {}\n{}\n", roff_escape(name), roff_escape(help));
    }
    out.push_str(".SH OPTIONS\n");
    for f in visible() {
        let _ = write!(out, ".TP\n{}\n{}\n", man_head(f), roff_escape(f.help));
    }
    out.push_str(".SH DOCTOR OPTIONS\n");
    for f in DOCTOR_FLAGS.iter().filter(|f| !f.hidden) {
        let _ = write!(out, ".TP\n{}\n{}\n", man_head(f), roff_escape(f.help));
    }
    out.push_str(
        ".SH ENVIRONMENT\n.TP\n\\fBLINES\\fR, \\fBCOLUMNS\\fR\nThe terminal size the QR code must fit \
         (with the lines below it up to the first question); without them \\fBstty size\\fR is asked, else \
         80x24 is assumed. When the code does not fit, totp\\-enroll says so and names the ways out: a larger \
         terminal, \\fB\\-Q UTF8\\fR instead of ANSI, a shorter \\fB\\-l\\fR or \\fB\\-i\\fR, \
         \\fB\\-\\-qr\\-svg\\fR, or typing the secret key.\n\
         .SH EXIT STATUS\n0 on success, 1 on a runtime error, 2 on a usage error. \\fBdoctor\\fR: 0 nothing \
         wrong (warnings alone give 0), 1 something will break logins or skips the code, 2 the doctor could \
         not run.\n\
         .SH FILES\n.TP\n\\fI~/.google_authenticator\\fR\nThe secret file (format: \\fI/usr/share/doc/libpam\\-totp/secret\\-file\\-format.md.gz\\fR).\n\
         .SH SEE ALSO\ngoogle\\-authenticator(1), pam_totp(8), oathtool(1)\n",
    );
    out
}

/// The bash completion script: `doctor`'s flags after `doctor`, the commands and the other flags otherwise.
pub fn bash_completion() -> String {
    let (flag_words, cases) = completion_of(visible());
    let mut words: Vec<String> = COMMANDS.iter().map(|(n, _)| (*n).to_owned()).collect();
    words.extend(flag_words);
    let (doctor_words, doctor_cases) = completion_of(DOCTOR_FLAGS.iter().filter(|f| !f.hidden));
    format!(
        "# bash completion for totp-enroll. Generated by `totp-enroll --print-completion bash`; do not edit.\n\
         _totp_enroll() {{\n    local cur prev\n    cur=\"${{COMP_WORDS[COMP_CWORD]}}\"\n    \
         prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\"\n    \
         if [ \"${{COMP_WORDS[1]}}\" = doctor ]; then\n        case \"$prev\" in\n{}        esac\n        \
         COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"))\n        return\n    fi\n    \
         case \"$prev\" in\n{cases}    esac\n    \
         COMPREPLY=($(compgen -W \"{}\" -- \"$cur\"))\n}}\ncomplete -F _totp_enroll totp-enroll\n",
        doctor_cases.lines().map(|l| format!("    {l}\n")).collect::<String>(),
        doctor_words.join(" "),
        words.join(" ")
    )
}

/// The words to offer for `flags`, and the `case` lines that complete their values.
fn completion_of<'a, I: 'a>(flags: impl Iterator<Item = &'a Flag<I>>) -> (Vec<String>, String) {
    let mut words = Vec::new();
    let mut cases = String::new();
    for f in flags {
        words.push(format!("--{}", f.long));
        if let Some(c) = f.short {
            words.push(format!("-{c}"));
        }
        if f.value.is_none() {
            continue;
        }
        let mut names = format!("--{}", f.long);
        if let Some(c) = f.short {
            let _ = write!(names, "|-{c}");
        }
        let action = if f.file {
            "COMPREPLY=($(compgen -f -- \"$cur\")); return".to_owned()
        } else if f.long == "user" {
            "COMPREPLY=($(compgen -u -- \"$cur\")); return".to_owned()
        } else if !f.choices.is_empty() {
            format!(
                "COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")); return",
                f.choices.join(" ")
            )
        } else {
            "return".to_owned()
        };
        let _ = writeln!(cases, "        {names}) {action} ;;");
    }
    (words, cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &str) -> Result<Args, UsageError> {
        let argv: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
        parse(&argv)
    }

    #[test]
    fn store_pamd_takes_a_socket_and_a_token_label_but_no_secret_file_setting() {
        let args = parse_words("--store pamd --socket /tmp/s -l fob -t -w 5").unwrap_or_default();
        assert!(args.pamd);
        assert_eq!(args.socket.as_deref(), Some("/tmp/s"));
        assert_eq!(args.label.as_deref(), Some("fob"));
        for file_only in [
            "-s /tmp/f",
            "-f",
            "-d",
            "-r 3 -R 30",
            "-e 3",
            "--mode 0600",
            "-q",
            "-C",
        ] {
            let words = format!("--store pamd {file_only}");
            assert!(parse_words(&words).is_err(), "{words}");
        }
        assert!(parse_words("status --store pamd --json").is_ok());
        assert!(parse_words("new-scratch-codes --store pamd").is_err());
        assert!(
            parse_words("--socket /tmp/s").is_err(),
            "--socket without --store pamd"
        );
        assert!(parse_words("--store ldap").is_err());
    }
}
