//! `pwpolicy`: the admin CLI over the same core the PAM module uses.
//!
//! - `pwpolicy check [--user U] [--config F] [--json] [KEY[=VALUE]...]` reads passwords one per line on
//!   stdin and prints one verdict per line (never the password itself); exit 0 if all passed, 1 if any
//!   was refused.
//! - `pwpolicy explain [--config F] [--pam-dir DIR] [KEY[=VALUE]...]` prints the effective policy,
//!   including the real minimum length under credits: the configuration files plus the arguments of the
//!   `pam_pwpolicy` line(s) in the `password` stack of `passwd` (`pam_stack.rs`; includes followed),
//!   each bad argument there reported with its file and line (exit 2).
//! - `pwpolicy build-blocklist` and `pwpolicy check-blocklist` build and verify the breached-password
//!   blocklist (`blocklist_cmd.rs`); `check --blocklist FILE` is the module's `blocklist=FILE`.
//!
//! `KEY[=VALUE]` are module arguments, exactly as on the PAM line. `--config F` is the module's `conf=F`
//! (only that file is read; a relative F is taken from the current directory); without it the system
//! files are read as the module would. Every failure is one [`Error`], printed by [`Error::print`] as
//! `pwpolicy: error: ...` then `pwpolicy: hint: ...` lines, exit status 2. A bare argument that is not a
//! known option is reported by its position, never by its text (it may be a password typed in the wrong
//! place). JSON goes through serde_json.
#![forbid(unsafe_code)]

use pam_pwpolicy::blocklist::Blocklist;
use pam_pwpolicy::check::check_blocklist;
use pam_pwpolicy::check::{check, Context, Verdict};
use pam_pwpolicy::config::{self, ConfigError, Loaded, Paths};
use pam_pwpolicy::policy::{AuthtokSource, BlocklistMissing, Compat, Policy, Preset, KEYS};
use serde::Serialize;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod blocklist_cmd;
mod pam_stack;

/// Where `explain` reads the PAM stack by default.
const PAM_DIR: &str = "/etc/pam.d";
/// The service whose `password` stack `explain` reads.
const PAM_SERVICE: &str = "passwd";

const USAGE: &str =
    "usage: pwpolicy check [--user U] [--config F] [--blocklist FILE] [--json] [KEY[=VALUE]...] < passwords
       pwpolicy explain [--config F] [--pam-dir DIR] [KEY[=VALUE]...]";

/// Why a `pwpolicy` command failed. Each variant knows its message and its hint.
#[derive(Debug)]
pub enum Error {
    /// No command, or one that does not exist.
    Command(Option<String>),
    /// A flag the command does not take.
    UnknownFlag(String),
    /// A flag given without its value.
    MissingValue {
        /// The flag.
        flag: &'static str,
        /// An example of its use.
        example: &'static str,
    },
    /// A bare argument that is neither `KEY=VALUE` nor a known option name (1-based position among the
    /// arguments). Its text is never printed.
    NotAnOption(usize),
    /// The configuration did not load (every problem found).
    Config(Vec<ConfigError>),
    /// The blocklist cannot be used (`blocklist_missing=deny`).
    Blocklist(String),
    /// A file could not be read, written or synced.
    Io {
        /// What was being done (`cannot read`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Anything else: the message and what to do.
    Failed {
        /// What went wrong.
        error: String,
        /// What to do.
        hint: String,
    },
}

impl Error {
    /// An error with its own hint.
    pub fn failed(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Failed {
            error: error.into(),
            hint: hint.into(),
        }
    }

    fn message(&self) -> String {
        match self {
            Error::Command(None) => "no command given".to_owned(),
            Error::Command(Some(c)) => format!("unknown command `{c}`"),
            Error::UnknownFlag(f) => format!("unknown flag `{f}`"),
            Error::MissingValue { flag, .. } => format!("{flag} needs a value"),
            Error::NotAnOption(n) => format!(
                "argument {n} is neither KEY=VALUE nor a known option (not shown, in case it is a password)"
            ),
            Error::Config(errors) => {
                let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                format!("bad configuration:\n  {}", list.join("\n  "))
            }
            Error::Blocklist(why) => format!("blocklist {why}"),
            Error::Io { what, path, source } => format!("{what} {}: {source}", path.display()),
            Error::Failed { error, .. } => error.clone(),
        }
    }

    fn hint(&self) -> String {
        match self {
            Error::Command(_) => format!(
                "commands are `check`, `explain`, `build-blocklist` and `check-blocklist`\n{USAGE}\n{}",
                blocklist_cmd::USAGE
            ),
            Error::UnknownFlag(_) => USAGE.to_owned(),
            Error::MissingValue { example, .. } => format!("e.g. {example}"),
            Error::NotAnOption(_) => {
                "passwords are read from stdin, one per line: `echo PASSWORD | pwpolicy check`; options are the module's (`pwpolicy explain` lists them)".to_owned()
            }
            Error::Config(_) => {
                "fix or remove each setting listed; `pwpolicy explain` shows the keys in effect".to_owned()
            }
            Error::Blocklist(_) => {
                "build one with `pwpolicy build-blocklist`, or set blocklist_missing=warn".to_owned()
            }
            Error::Io { .. } => "check the path, the permissions and the free space".to_owned(),
            Error::Failed { hint, .. } => hint.clone(),
        }
    }

    /// Prints `pwpolicy: error: ...` and one `pwpolicy: hint: ...` per hint line on stderr.
    fn print(&self) {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "pwpolicy: error: {}", self.message());
        for line in self.hint().lines() {
            let _ = writeln!(err, "pwpolicy: hint: {line}");
        }
    }
}

#[derive(Default)]
struct Cli {
    command: String,
    user: Option<String>,
    config: Option<String>,
    json: bool,
    pam_dir: Option<String>,
    module_args: Vec<String>,
}

/// The value after `flag`.
fn value<'a>(
    it: &mut impl Iterator<Item = &'a String>,
    flag: &'static str,
    example: &'static str,
) -> Result<&'a String, Error> {
    it.next().ok_or(Error::MissingValue { flag, example })
}

fn absolute(flag: &str, path: &str) -> Result<String, Error> {
    std::path::absolute(path)
        .map(|p| p.display().to_string())
        .map_err(|e| Error::failed(format!("{flag} {path}: {e}"), USAGE))
}

fn parse(argv: &[String]) -> Result<Cli, Error> {
    let mut cli = Cli::default();
    let mut it = argv.iter();
    cli.command = match it.next().map(String::as_str) {
        Some(c @ ("check" | "explain")) => c.to_owned(),
        Some("-h" | "--help" | "help") => "help".to_owned(),
        Some(other) => return Err(Error::Command(Some(other.to_owned()))),
        None => return Err(Error::Command(None)),
    };
    let mut position = 1;
    while let Some(a) = it.next() {
        position += 1;
        match a.as_str() {
            "--json" if cli.command == "check" => cli.json = true,
            "--blocklist" if cli.command == "check" => {
                let v = value(&mut it, "--blocklist", "--blocklist /var/lib/pwpolicy/hibp.pwbl")?;
                position += 1;
                cli.module_args
                    .push(format!("blocklist={}", absolute("--blocklist", v)?));
            }
            "--user" if cli.command == "check" => {
                cli.user = Some(value(&mut it, "--user", "--user alice")?.clone());
                position += 1;
            }
            "--config" => {
                let v = value(&mut it, "--config", "--config /etc/security/pwpolicy.conf")?;
                position += 1;
                cli.config = Some(absolute("--config", v)?);
            }
            "--pam-dir" if cli.command == "explain" => {
                cli.pam_dir = Some(value(&mut it, "--pam-dir", "--pam-dir /etc/pam.d")?.clone());
                position += 1;
            }
            "-h" | "--help" => cli.command = "help".to_owned(),
            flag if flag.starts_with('-') => return Err(Error::UnknownFlag(flag.to_owned())),
            arg if arg.contains('=') || KEYS.contains(&arg) || arg == "type" => {
                cli.module_args.push(arg.to_owned())
            }
            _ => return Err(Error::NotAnOption(position)),
        }
    }
    Ok(cli)
}

fn load(cli: &Cli) -> Result<Loaded, Error> {
    let mut args = cli.module_args.clone();
    if let Some(c) = &cli.config {
        args.push(format!("conf={c}"));
    }
    config::load(&args, &Paths::system()).map_err(Error::Config)
}

/// One refusal reason in `--json` output.
#[derive(Serialize)]
struct ReasonJson<'a> {
    rule: &'a str,
    message: &'a str,
    guidance: &'a str,
    margin: Option<i64>,
}

/// One `--json` line: a verdict, never the password.
#[derive(Serialize)]
struct VerdictJson<'a> {
    ok: bool,
    score: Option<u8>,
    guesses_log10: Option<f64>,
    length: usize,
    reasons: Vec<ReasonJson<'a>>,
}

fn verdict_json(v: &Verdict) -> String {
    let line = VerdictJson {
        ok: v.ok(),
        score: v.strength.as_ref().map(|s| s.score),
        guesses_log10: v
            .strength
            .as_ref()
            .map(|s| s.guesses_log10)
            .filter(|g| g.is_finite())
            .map(|g| (g * 100.0).round() / 100.0),
        length: v.length,
        reasons: v
            .reasons
            .iter()
            .map(|r| ReasonJson {
                rule: r.rule.name(),
                message: &r.message,
                guidance: &r.guidance,
                margin: r.margin,
            })
            .collect(),
    };
    serde_json::to_string(&line).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

fn verdict_text(v: &Verdict) -> String {
    let score = v
        .strength
        .as_ref()
        .map_or("-".to_owned(), |s| s.score.to_string());
    if v.ok() {
        return format!("ok\tscore={score}");
    }
    let reasons: Vec<String> = v
        .reasons
        .iter()
        .map(|r| match r.margin {
            Some(m) => format!("{}: {} (missed by {m})", r.rule.name(), r.message),
            None => format!("{}: {}", r.rule.name(), r.message),
        })
        .collect();
    format!("refused\tscore={score}\t{}", reasons.join("; "))
}

fn hostname() -> Option<String> {
    config::read_file(Path::new("/proc/sys/kernel/hostname"))
        .ok()
        .flatten()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

fn gecos_of(user: &str) -> Option<String> {
    #[cfg(feature = "module")]
    {
        pam_ffi::os::user_by_name(user).map(|r| r.gecos)
    }
    #[cfg(not(feature = "module"))]
    {
        let _ = user;
        None
    }
}

fn run_check(cli: &Cli) -> Result<ExitCode, Error> {
    let policy = load(cli)?.policy;
    let ctx = Context {
        gecos: cli.user.as_deref().and_then(gecos_of),
        user: cli.user.clone(),
        hostname: hostname(),
        service: Some("passwd".to_owned()),
    };
    let file = match policy.blocklist.as_deref() {
        None => None,
        Some(path) => match pam_pwpolicy::blocklist::open(Path::new(path)) {
            Ok(f) => Some(f),
            Err(why) if policy.blocklist_missing == BlocklistMissing::Warn => {
                let _ = writeln!(
                    io::stderr().lock(),
                    "pwpolicy: warning: blocklist {why}; checking without it (blocklist_missing=warn)"
                );
                None
            }
            Err(why) => return Err(Error::Blocklist(why)),
        },
    };
    let mut list = match &file {
        Some(f) => Some(Blocklist::parse(f).map_err(|e| Error::Blocklist(e.to_string()))?),
        None => None,
    };
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut all_ok = true;
    for line in stdin.lock().split(b'\n') {
        let mut line =
            line.map_err(|e| Error::failed(format!("cannot read stdin: {e}"), "pipe one password per line"))?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let mut v = check(&policy, &line, None, &ctx);
        if let Some(l) = list.as_ref().filter(|_| !v.hard_failure()) {
            // As the module: a damaged or changed shard follows blocklist_missing.
            match l.contains_password(&line) {
                Ok(_) => check_blocklist(&mut v, &line, l),
                Err(e) => {
                    let why = format!("{}: {e}", policy.blocklist.as_deref().unwrap_or("?"));
                    if policy.blocklist_missing != BlocklistMissing::Warn {
                        return Err(Error::Blocklist(why));
                    }
                    let _ = writeln!(
                        io::stderr().lock(),
                        "pwpolicy: warning: blocklist {why}; checking without it (blocklist_missing=warn)"
                    );
                    list = None;
                }
            }
        }
        all_ok &= v.ok();
        let text = if cli.json {
            verdict_json(&v)
        } else {
            verdict_text(&v)
        };
        if writeln!(out, "{text}").is_err() {
            break;
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn explain_text(loaded: &Loaded) -> String {
    let p: &Policy = &loaded.policy;
    let mut s = String::new();
    let files: Vec<String> = loaded.files.iter().map(|f| f.display().to_string()).collect();
    s.push_str(&format!(
        "configuration files read: {}\n",
        if files.is_empty() {
            "none (built-in defaults)".to_owned()
        } else {
            files.join(", ")
        }
    ));
    s.push_str(&format!(
        "preset: {}\n",
        match p.preset {
            Preset::None => "none",
            Preset::Nist => {
                if p.mfa {
                    "nist (password is one factor of several)"
                } else {
                    "nist (password is the only factor)"
                }
            }
        }
    ));
    if p.compat == Compat::Pwquality {
        s.push_str("compat: pwquality (pam_pwquality's rules only: no strength score, no common-password list, no dictionary-word check unless set below)\n");
    }
    s.push_str(&format!(
        "minimum length: minlen={} (effective {}); real minimum under credits: {} code points\n",
        p.minlen,
        p.effective_minlen(),
        p.shortest_possible()
    ));
    s.push_str(&format!("maximum length: {} code points\n", p.maxlen));
    s.push_str(&format!(
        "credits: dcredit={} ucredit={} lcredit={} ocredit={} (N > 0: up to N of the class count +1; N < 0: at least -N required)\n",
        p.dcredit, p.ucredit, p.lcredit, p.ocredit
    ));
    s.push_str(&format!(
        "minclass={} maxrepeat={} maxsequence={} maxclassrepeat={} difok={} (0 = off)\n",
        p.minclass, p.maxrepeat, p.maxsequence, p.maxclassrepeat, p.difok
    ));
    s.push_str(&format!(
        "user name: usercheck={} reject_username={} usersubstr={} gecoscheck={}\n",
        u8::from(p.usercheck),
        u8::from(p.reject_username),
        p.usersubstr,
        u8::from(p.gecoscheck)
    ));
    s.push_str(&format!(
        "dictcheck={} commoncheck={} minscore={} (zxcvbn, 0-4; 0 = off) badwords=[{}]\n",
        u8::from(p.dictcheck),
        u8::from(p.commoncheck),
        p.minscore,
        p.badwords.join(" ")
    ));
    s.push_str(&format!(
        "enforcement: enforcing={} enforce_for_root={} (root is {}) local_users_only={}\n",
        u8::from(p.enforcing),
        u8::from(p.enforce_for_root),
        if p.enforce_for_root {
            "refused like everyone"
        } else {
            "only warned, except when changing an expired password"
        },
        u8::from(p.local_users_only)
    ));
    s.push_str(&format!(
        "prompting: retry={} source={} prompt={:?} show_policy={}\n",
        p.retry,
        match p.authtok {
            AuthtokSource::Prompt => "prompt",
            AuthtokSource::Stack => "use_authtok",
            AuthtokSource::TryStack => "try_first_pass",
        },
        p.new_prompt(),
        u8::from(p.show_policy)
    ));
    s.push_str(&match &p.blocklist {
        Some(path) => format!(
            "breached-password blocklist: {path} (blocklist_missing={})\n",
            match p.blocklist_missing {
                BlocklistMissing::Deny => "deny: changes are refused if it cannot be used",
                BlocklistMissing::Warn => "warn: checked without it if it cannot be used",
            }
        ),
        None => {
            "breached-password blocklist: none (blocklist=PATH; see `pwpolicy build-blocklist`)\n".to_owned()
        }
    });
    if let Some(d) = &p.dictpath {
        s.push_str(&format!(
            "dictpath={d} is accepted for compatibility but not used (zxcvbn's dictionaries are built in)\n"
        ));
    }
    s.push_str("what users are told:\n");
    for r in p.requirements() {
        s.push_str(&format!("  - {r}\n"));
    }
    s
}

/// Checks every argument of every pam_pwpolicy line as the module would (each error names `file:line`);
/// returns the good arguments of the first line, which the module on that line runs with.
fn pam_line_args(stack: &pam_stack::Stack, errors: &mut Vec<ConfigError>) -> Vec<String> {
    let mut first = Vec::new();
    for (i, line) in stack.lines.iter().enumerate() {
        for (arg, setting) in line.args.iter().zip(config::parse_args(&line.args)) {
            match Policy::default().apply(&setting.key, &setting.value) {
                Ok(()) if i == 0 => first.push(arg.clone()),
                Ok(()) => {}
                Err(e) => errors.push(ConfigError {
                    origin: line.origin(),
                    problem: e.to_string(),
                }),
            }
        }
    }
    first
}

/// The PAM part of `explain`: the files read, each pam_pwpolicy line and what its arguments do.
fn pam_text(dir: &Path, stack: &pam_stack::Stack) -> String {
    let mut s = String::new();
    let files: Vec<String> = stack.files.iter().map(|f| f.display().to_string()).collect();
    s.push_str(&format!(
        "PAM stack of `{PAM_SERVICE}` (password lines): {}\n",
        if files.is_empty() {
            format!("nothing read from {}", dir.display())
        } else {
            files.join(", ")
        }
    ));
    for p in &stack.problems {
        s.push_str(&format!("  problem: {p}\n"));
    }
    if stack.lines.is_empty() {
        s.push_str(&format!(
            "  no pam_pwpolicy line: this policy is NOT in effect for `{PAM_SERVICE}` (add `password requisite pam_pwpolicy.so` before pam_unix; see pam_pwpolicy(8))\n"
        ));
    }
    for (i, l) in stack.lines.iter().enumerate() {
        s.push_str(&format!(
            "  {}: password {} pam_pwpolicy.so {}\n",
            l.origin(),
            l.control,
            l.args.join(" ")
        ));
        if !matches!(l.control.as_str(), "requisite" | "required") && !l.control.starts_with('[') {
            s.push_str(&format!(
                "    control `{}`: a refused password does not stop the change (use `requisite`)\n",
                l.control
            ));
        }
        if i > 0 {
            s.push_str("    another pam_pwpolicy line: it runs too, with its own arguments; the policy below is the first line's\n");
        } else if l.args.is_empty() {
            s.push_str("    no arguments: the configuration files and defaults below apply as they are\n");
        } else {
            s.push_str(
                "    these arguments override the configuration files; the policy below includes them\n",
            );
        }
    }
    s
}

/// `explain`: the PAM stack of `passwd`, then the policy its pam_pwpolicy line and the files give. Exit 0,
/// 1 when no pam_pwpolicy line is in the stack (the policy is not in effect), 2 on any bad setting.
fn run_explain(cli: &Cli) -> Result<ExitCode, Error> {
    let dir = PathBuf::from(cli.pam_dir.as_deref().unwrap_or(PAM_DIR));
    let stack = pam_stack::read_stack(&dir, PAM_SERVICE);
    let mut errors = Vec::new();
    let mut args = pam_line_args(&stack, &mut errors);
    args.extend(cli.module_args.iter().cloned());
    if let Some(c) = &cli.config {
        args.push(format!("conf={c}"));
    }
    let mut out = pam_text(&dir, &stack);
    match config::load(&args, &Paths::system()) {
        Ok(loaded) => out.push_str(&explain_text(&loaded)),
        Err(e) => errors.extend(e),
    }
    let _ = write!(io::stdout().lock(), "{out}");
    if !errors.is_empty() {
        return Err(Error::Config(errors));
    }
    Ok(if stack.lines.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.split_first() {
        Some((c, rest)) if c == "build-blocklist" => blocklist_cmd::build(rest),
        Some((c, rest)) if c == "check-blocklist" => blocklist_cmd::check_file(rest),
        _ => parse(&argv).and_then(|cli| match cli.command.as_str() {
            "check" => run_check(&cli),
            "explain" => run_explain(&cli),
            _ => {
                let _ = writeln!(io::stdout().lock(), "{USAGE}\n{}", blocklist_cmd::USAGE);
                Ok(ExitCode::SUCCESS)
            }
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            e.print();
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn given_control_characters_in_a_message_then_json_is_valid_and_round_trips() {
        let v = Verdict {
            reasons: Vec::new(),
            strength: None,
            length: 3,
        };
        let j: serde_json::Value = serde_json::from_str(&verdict_json(&v)).unwrap();
        assert_eq!(j["ok"], true);
        assert_eq!(j["score"], serde_json::Value::Null);
        let s = serde_json::to_string("a\"b\\c\n\u{1}").unwrap();
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn given_a_bare_word_that_is_not_an_option_then_it_is_refused_without_echoing_it() {
        let e = parse(&argv(&["check", "--json", "hunter2"])).err().unwrap();
        assert!(matches!(e, Error::NotAnOption(3)), "{e:?}");
        assert!(!e.message().contains("hunter2") && !e.hint().contains("hunter2"));
        assert!(e.message().contains("argument 3"), "{}", e.message());
        // Known bare options and KEY=VALUE are module arguments.
        let cli = parse(&argv(&["check", "reject_username", "minlen=12"])).unwrap();
        assert_eq!(cli.module_args, argv(&["reject_username", "minlen=12"]));
    }

    #[test]
    fn given_relative_config_then_it_is_made_absolute() {
        let cli = parse(&argv(&["explain", "--config", "p.conf"])).unwrap();
        assert!(Path::new(cli.config.as_deref().unwrap()).is_absolute());
    }

    #[test]
    fn given_refused_password_then_json_lists_rule_and_margin() {
        let mut p = Policy::default();
        p.apply("minlen", &pam_pwpolicy::policy::Value::Int(10)).unwrap();
        let v = check(&p, b"Zq7#kw", None, &Context::default());
        let j = verdict_json(&v);
        assert!(j.starts_with("{\"ok\":false,\"score\":"), "{j}");
        assert!(
            j.contains("{\"rule\":\"minlen\",\"message\":\"is too short\""),
            "{j}"
        );
        assert!(j.contains("\"margin\":4"), "{j}");
    }

    #[test]
    fn given_unknown_command_then_error_and_hint() {
        let e = parse(&["frob".to_owned()]).err().unwrap();
        assert!(e.message().contains("frob"));
        assert!(e.hint().contains("check"));
    }

    #[test]
    fn given_credits_then_explain_states_the_real_minimum() {
        let mut policy = Policy::default();
        for (k, v) in [
            ("minlen", 12),
            ("dcredit", 1),
            ("ucredit", 1),
            ("lcredit", 1),
            ("ocredit", 1),
        ] {
            policy.apply(k, &pam_pwpolicy::policy::Value::Int(v)).unwrap();
        }
        let text = explain_text(&Loaded {
            policy,
            files: Vec::new(),
        });
        assert!(
            text.contains("real minimum under credits: 8 code points"),
            "{text}"
        );
    }
}
