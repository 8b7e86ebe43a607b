//! `pwpolicy`: the admin CLI over the same core the PAM module uses.
//!
//! - `pwpolicy check [--user U] [--config F] [--json] [KEY[=VALUE]...]` reads passwords one per line on
//!   stdin and prints one verdict per line (never the password itself); exit 0 if all passed, 1 if any
//!   was refused.
//! - `pwpolicy explain [--config F] [KEY[=VALUE]...]` prints the effective policy, including the real
//!   minimum length under credits.
//! - `pwpolicy build-blocklist` and `pwpolicy check-blocklist` build and verify the breached-password
//!   blocklist (`blocklist_cmd.rs`); `check --blocklist FILE` is the module's `blocklist=FILE`.
//!
//! `KEY[=VALUE]` are module arguments, exactly as on the PAM line. `--config F` is the module's `conf=F`
//! (only that file is read); without it the system files are read as the module would. Errors are
//! printed as `pwpolicy: error: ...` then `pwpolicy: hint: ...`, exit status 2. JSON is written by hand
//! (a dozen lines) rather than adding serde_json.
#![forbid(unsafe_code)]

use pam_pwpolicy::blocklist::Blocklist;
use pam_pwpolicy::check::check_blocklist;
use pam_pwpolicy::check::{check, Context, Verdict};
use pam_pwpolicy::config::{self, Loaded, Paths};
use pam_pwpolicy::policy::{AuthtokSource, BlocklistMissing, Policy, Preset};
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

mod blocklist_cmd;

const USAGE: &str =
    "usage: pwpolicy check [--user U] [--config F] [--blocklist FILE] [--json] [KEY[=VALUE]...] < passwords
       pwpolicy explain [--config F] [KEY[=VALUE]...]";

struct Fail {
    error: String,
    hint: String,
}

fn fail(error: impl Into<String>, hint: impl Into<String>) -> Fail {
    Fail {
        error: error.into(),
        hint: hint.into(),
    }
}

#[derive(Default)]
struct Cli {
    command: String,
    user: Option<String>,
    config: Option<String>,
    json: bool,
    module_args: Vec<String>,
}

fn parse(argv: &[String]) -> Result<Cli, Fail> {
    let mut cli = Cli::default();
    let mut it = argv.iter();
    cli.command = match it.next().map(String::as_str) {
        Some(c @ ("check" | "explain")) => c.to_owned(),
        Some("-h" | "--help" | "help") => "help".to_owned(),
        Some(other) => {
            return Err(fail(
                format!("unknown command `{other}`"),
                format!(
                    "commands are `check`, `explain`, `build-blocklist` and `check-blocklist`\n{USAGE}\n{}",
                    blocklist_cmd::USAGE
                ),
            ))
        }
        None => return Err(fail("no command given", USAGE)),
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" if cli.command == "check" => cli.json = true,
            "--blocklist" if cli.command == "check" => {
                let v = it.next().ok_or_else(|| {
                    fail(
                        "--blocklist needs a value",
                        "e.g. --blocklist /var/lib/pwpolicy/hibp.pwbl",
                    )
                })?;
                let abs = std::path::absolute(v).map_err(|e| fail(format!("--blocklist {v}: {e}"), USAGE))?;
                cli.module_args.push(format!("blocklist={}", abs.display()));
            }
            "--user" if cli.command == "check" => {
                cli.user = Some(
                    it.next()
                        .ok_or_else(|| fail("--user needs a value", "e.g. --user alice"))?
                        .clone(),
                )
            }
            "--config" => {
                cli.config = Some(
                    it.next()
                        .ok_or_else(|| {
                            fail(
                                "--config needs a value",
                                "e.g. --config /etc/security/pwpolicy.conf",
                            )
                        })?
                        .clone(),
                )
            }
            "-h" | "--help" => cli.command = "help".to_owned(),
            flag if flag.starts_with('-') => {
                return Err(fail(format!("unknown flag `{flag}`"), USAGE));
            }
            arg => cli.module_args.push(arg.to_owned()),
        }
    }
    Ok(cli)
}

fn load(cli: &Cli) -> Result<Loaded, Fail> {
    let mut args = cli.module_args.clone();
    if let Some(c) = &cli.config {
        args.push(format!("conf={c}"));
    }
    config::load(&args, &Paths::system()).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        fail(
            format!("bad configuration:\n  {}", list.join("\n  ")),
            "fix or remove each setting listed; `pwpolicy explain` shows the keys in effect",
        )
    })
}

/// JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn verdict_json(v: &Verdict) -> String {
    let score = v
        .strength
        .as_ref()
        .map_or("null".to_owned(), |s| s.score.to_string());
    let guesses = v
        .strength
        .as_ref()
        .filter(|s| s.guesses_log10.is_finite())
        .map_or("null".to_owned(), |s| format!("{:.2}", s.guesses_log10));
    let reasons: Vec<String> = v
        .reasons
        .iter()
        .map(|r| {
            format!(
                "{{\"rule\":{},\"message\":{},\"guidance\":{},\"margin\":{}}}",
                json_str(r.rule.name()),
                json_str(&r.message),
                json_str(&r.guidance),
                r.margin.map_or("null".to_owned(), |m| m.to_string())
            )
        })
        .collect();
    format!(
        "{{\"ok\":{},\"score\":{score},\"guesses_log10\":{guesses},\"length\":{},\"reasons\":[{}]}}",
        v.ok(),
        v.length,
        reasons.join(",")
    )
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

fn run_check(cli: &Cli) -> Result<ExitCode, Fail> {
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
            Err(why) => {
                return Err(fail(
                    format!("blocklist {why}"),
                    "build one with `pwpolicy build-blocklist`, or set blocklist_missing=warn",
                ))
            }
        },
    };
    let list = match &file {
        Some(f) => Some(Blocklist::parse(f).map_err(|e| fail(format!("blocklist: {e}"), "rebuild it"))?),
        None => None,
    };
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut all_ok = true;
    for line in stdin.lock().split(b'\n') {
        let mut line =
            line.map_err(|e| fail(format!("cannot read stdin: {e}"), "pipe one password per line"))?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let mut v = check(&policy, &line, None, &ctx);
        if let Some(list) = &list {
            check_blocklist(&mut v, &line, list);
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

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let blocklist_cmd = |r: Result<ExitCode, blocklist_cmd::CmdError>| {
        r.map_err(|e| Fail {
            error: e.error,
            hint: e.hint,
        })
    };
    let result = match argv.split_first() {
        Some((c, rest)) if c == "build-blocklist" => blocklist_cmd(blocklist_cmd::build(rest)),
        Some((c, rest)) if c == "check-blocklist" => blocklist_cmd(blocklist_cmd::check_file(rest)),
        _ => parse(&argv).and_then(|cli| match cli.command.as_str() {
            "check" => run_check(&cli),
            "explain" => {
                let loaded = load(&cli)?;
                let _ = write!(io::stdout().lock(), "{}", explain_text(&loaded));
                Ok(ExitCode::SUCCESS)
            }
            _ => {
                let _ = writeln!(io::stdout().lock(), "{USAGE}\n{}", blocklist_cmd::USAGE);
                Ok(ExitCode::SUCCESS)
            }
        }),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            let mut err = io::stderr().lock();
            let _ = writeln!(err, "pwpolicy: error: {}", f.error);
            for line in f.hint.lines() {
                let _ = writeln!(err, "pwpolicy: hint: {line}");
            }
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_control_characters_then_json_string_is_escaped() {
        assert_eq!(json_str("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
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
        let f = parse(&["frob".to_owned()]).err().unwrap();
        assert!(f.error.contains("frob"));
        assert!(f.hint.contains("check"));
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
