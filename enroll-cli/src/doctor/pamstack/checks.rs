//! The findings about PAM stacks, one function per finding id, each a function of a parsed stack (and,
//! for the sshd stack, of the walk focused on pam_totp). [`check_sshd_stack`] and
//! [`check_common_password`] call them in report order. Nothing here reads files.

use super::model::{outcomes, walk, Action, Ret, Seen, Verdict, Walk};
use super::parse::{Item, ModLine, Stack};
use crate::doctor::report::Finding;
use pam_pwpolicy::config;
use pam_pwpolicy::policy::{OptionError, Policy, KEYS};
use pam_totp::args::Options;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Modules that ask the user for something (a password, a code, a token).
const PROMPTING: &[&str] = &[
    "pam_unix",
    "pam_totp",
    "pam_google_authenticator",
    "pam_oath",
    "pam_sss",
    "pam_ldap",
    "pam_krb5",
    "pam_winbind",
    "pam_yubico",
    "pam_u2f",
    "pam_radius_auth",
    "pam_duo",
];

/// What the PAM checks need to know about the sshd configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SshdIntent {
    /// AuthenticationMethods asks for a key and then keyboard-interactive.
    pub key_and_code: bool,
}

/// Where to point a finding about a module line: the line itself when it is in the service file, else the
/// service-file line that includes it.
fn locate(l: &ModLine, f: Finding) -> Finding {
    f.at(l.top.0.clone(), Some(l.top.1))
}

fn describe(l: &ModLine) -> String {
    if l.top == (l.file.clone(), l.line) {
        format!("`{}` ({}:{})", l.text, l.file, l.line)
    } else {
        format!(
            "`{}` ({}:{}, included by {}:{})",
            l.text, l.file, l.line, l.top.0, l.top.1
        )
    }
}

/// Password-quality modules: one belongs in common-password, two check every password twice.
const QUALITY: &[&str] = &["pam_pwpolicy", "pam_pwquality", "pam_cracklib", "pam_passwdqc"];

/// Known option names of pam_totp, for "did you mean".
fn closest_option(arg: &str) -> Option<&'static str> {
    closest_in(arg, pam_totp::args::option_names())
}

/// Edit distance in code points, with pam_pwpolicy's one implementation.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    pam_pwpolicy::rules::levenshtein(&a, &b)
}

/// The name in `known` closest to `arg`'s key (edit distance 1 or 2), for "did you mean".
fn closest_in(arg: &str, known: impl IntoIterator<Item = &'static str>) -> Option<&'static str> {
    let key = arg.split('=').next().unwrap_or(arg);
    known
        .into_iter()
        .map(|name| (edit_distance(key, name.trim_end_matches('=')), name))
        .filter(|(d, _)| *d > 0 && *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// The first pam_totp auth line (index), if any.
pub fn totp_line(stack: &Stack) -> Option<usize> {
    stack
        .lines
        .iter()
        .position(|l| l.kind == "auth" && l.name == "pam_totp")
}

/// The parsed options of the first pam_totp auth line (defaults when it is missing or its options are bad).
pub fn totp_options(stack: &Stack) -> Options {
    totp_line(stack)
        .and_then(|i| stack.lines.get(i))
        .and_then(|l| Options::parse(&l.args).ok())
        .unwrap_or_default()
}

/// The sshd auth-stack findings, in this order: bad pam_totp options, pam_totp missing, not installed,
/// never reached, always failing, asked twice, skipped, `nullok` refusing, oracles, and the Unix password with key plus
/// code. `module_dirs`: where libpam looks for relative module paths (empty: do not check that pam_totp.so
/// is installed).
pub fn check_sshd_stack(stack: &Stack, intent: SshdIntent, module_dirs: &[PathBuf]) -> Vec<Finding> {
    let mut out = stack.problems.clone();
    out.extend(bad_options(stack));
    let Some(focus) = Focus::new(stack) else {
        out.extend(totp_missing(stack, intent));
        return out;
    };
    out.extend(not_installed(&focus, module_dirs));
    if focus.arrivals.is_empty() {
        out.push(unreachable(&focus));
        return out;
    }
    out.extend(always_fails(&focus));
    out.extend(totp_twice(&focus));
    out.extend(bypass(&focus));
    out.extend(nullok_refuses(&focus));
    out.extend(oracles(&focus));
    if intent.key_and_code {
        out.extend(unix_with_key_code(&focus));
    }
    out
}

/// The pam_totp auth line and every path through the auth stack, walked with pam_totp as the focus.
struct Focus<'a> {
    stack: &'a Stack,
    auth: Vec<Item>,
    /// Index of the pam_totp line in `stack.lines`.
    index: usize,
    totp: &'a ModLine,
    nullok: bool,
    walk: Walk,
    /// The verdicts with which paths arrive at pam_totp.
    arrivals: Vec<Verdict>,
}

impl<'a> Focus<'a> {
    fn new(stack: &'a Stack) -> Option<Focus<'a>> {
        let index = totp_line(stack)?;
        let totp = stack.lines.get(index)?;
        let nullok = totp.args.iter().any(|a| a == "nullok");
        let auth = stack.of_type("auth");
        let walk = walk(stack, &auth, Some(index), nullok);
        let arrivals = walk
            .visits
            .iter()
            .filter(|(i, _, _)| *i == index)
            .map(|(_, v, _)| *v)
            .collect();
        Some(Focus {
            stack,
            auth,
            index,
            totp,
            nullok,
            walk,
            arrivals,
        })
    }

    /// The lines visited before pam_totp whose every outcome has one of `actions`.
    fn lines_before_always(&self, actions: fn(Action) -> bool) -> impl Iterator<Item = usize> + '_ {
        self.walk
            .visits
            .iter()
            .map(|(i, _, _)| *i)
            .filter(move |&i| i < self.index)
            .filter(move |&i| {
                self.stack.lines.get(i).is_some_and(|l| {
                    outcomes(self.stack, i, None, false)
                        .iter()
                        .all(|&r| actions(l.control.action(r)))
                })
            })
    }
}

/// `pam-totp-bad-option`: an option pam_totp does not know, with the closest one it does.
fn bad_options(stack: &Stack) -> Vec<Finding> {
    let mut out = Vec::new();
    for l in stack.lines.iter().filter(|l| l.name == "pam_totp") {
        let Err(e) = Options::parse(&l.args) else {
            continue;
        };
        for bad in &e.bad {
            let closest = closest_option(&bad.arg);
            let hint = closest
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            out.push(locate(
                l,
                Finding::error(
                    "pam-totp-bad-option",
                    format!("pam_totp option {:?}: {}{hint}: the module refuses every login through this stack (PAM_SERVICE_ERR)", bad.arg, bad.reason),
                    match closest {
                        Some(n) => format!("replace {:?} with `{n}` on that line", bad.arg),
                        None => format!("remove {:?} from that line (see pam_totp(8) for the options)", bad.arg),
                    },
                ),
            ));
        }
    }
    out
}

/// `pam-totp-missing`: no pam_totp auth line, so no code is asked.
fn totp_missing(stack: &Stack, intent: SshdIntent) -> Option<Finding> {
    if totp_line(stack).is_some() {
        return None;
    }
    let service = stack.lines.first().map(|l| l.top.0.clone()).unwrap_or_default();
    let ga = stack
        .lines
        .iter()
        .find(|l| l.kind == "auth" && l.name == "pam_google_authenticator");
    let include = stack.lines.iter().find(|l| l.kind == "auth" && l.top.0 != l.file);
    let fix = match (ga, intent.key_and_code, include) {
        // Adding pam_totp beside pam_google_authenticator would ask for the code twice.
        (Some(g), _, _) => format!(
            "replace `{}` with `pam_totp.so` on line {} of {} (it reads the same secret file; keeping both asks for the code twice)",
            g.path, g.top.1, g.top.0
        ),
        (None, true, Some(l)) => format!("replace line {} of {} with `auth required pam_totp.so` (key plus code: the Unix password is not asked)", l.top.1, l.top.0),
        (None, false, Some(l)) => format!("add `auth required pam_totp.so` after line {} of {}", l.top.1, l.top.0),
        (None, _, None) => format!("add `auth required pam_totp.so` to {service}"),
    };
    let f = Finding::error(
        "pam-totp-missing",
        format!(
            "pam_totp is not in the sshd auth stack: no verification code is asked{}",
            if ga.is_some() {
                " (pam_google_authenticator is there instead)"
            } else {
                ""
            }
        ),
        fix,
    );
    Some(match ga.or(include) {
        Some(l) => f.at(l.top.0.clone(), Some(l.top.1)),
        None => f.at(service, None),
    })
}

/// `pam-totp-not-installed`: a relative module path that is in none of libpam's module directories.
fn not_installed(f: &Focus<'_>, module_dirs: &[PathBuf]) -> Option<Finding> {
    let totp = f.totp;
    if module_dirs.is_empty()
        || totp.path.starts_with('/')
        || module_dirs.iter().any(|d| d.join(&totp.path).exists())
    {
        return None;
    }
    let dirs: Vec<String> = module_dirs.iter().map(|d| d.display().to_string()).collect();
    Some(locate(
        totp,
        Finding::error(
            "pam-totp-not-installed",
            format!(
                "{} is not installed in {}: libpam cannot load it and the stack fails",
                totp.path,
                dirs.join(", ")
            ),
            "install the libpam-totp package (or copy pam_totp.so into the PAM module directory)",
        ),
    ))
}

/// `pam-totp-unreachable`: no path arrives at pam_totp (call only then); names the line that ends the
/// stack before it, when there is one.
fn unreachable(f: &Focus<'_>) -> Finding {
    let totp = f.totp;
    let culprit = f
        .lines_before_always(|a| matches!(a, Action::Die | Action::Done | Action::Jump(_)))
        .max()
        .and_then(|i| f.stack.lines.get(i));
    let (msg, fix, at) = match culprit {
        Some(c) => (
            format!(
                "pam_totp ({}:{}) is never reached: {} ends the auth stack before it on every path",
                totp.file,
                totp.line,
                describe(c)
            ),
            format!(
                "move the pam_totp line above line {} of {}, or remove that line",
                c.top.1, c.top.0
            ),
            c,
        ),
        None => (
            format!(
                "pam_totp ({}:{}) is never reached: every path through the auth stack ends before it",
                totp.file, totp.line
            ),
            "move the pam_totp line to the top of the auth section".to_owned(),
            totp,
        ),
    };
    locate(at, Finding::error("pam-totp-unreachable", msg, fix))
}

/// `pam-totp-always-fails`: every path arrives at pam_totp already failed, so nobody can log in.
fn always_fails(f: &Focus<'_>) -> Option<Finding> {
    if !f.arrivals.iter().all(|v| *v == Verdict::Failed) {
        return None;
    }
    let culprit = f
        .lines_before_always(|a| matches!(a, Action::Bad | Action::Die))
        .next()
        .and_then(|i| f.stack.lines.get(i));
    let (msg, at) = match culprit {
        Some(c) => (
            format!(
                "{} fails every login before pam_totp runs: nobody can log in",
                describe(c)
            ),
            c,
        ),
        None => (
            "every path reaches pam_totp already failed: nobody can log in".to_owned(),
            f.totp,
        ),
    };
    Some(locate(
        at,
        Finding::error(
            "pam-totp-always-fails",
            msg,
            format!("remove line {} of {}", at.top.1, at.top.0),
        ),
    ))
}

/// `pam-totp-twice`: a second pam_totp line runs after the first one accepted a code (typically the
/// `totp` pam-auth-update profile in common-auth plus a stack that asks for the code itself): the user is
/// asked twice, and with `disallow_reuse` the second ask refuses the code just used (`reason=replayed`).
fn totp_twice(f: &Focus<'_>) -> Vec<Finding> {
    let seconds: BTreeSet<usize> = f
        .walk
        .visits
        .iter()
        .filter(|(i, _, seen)| *i != f.index && *seen == Seen::Succeeded)
        .map(|(i, _, _)| *i)
        .filter(|&i| {
            f.stack
                .lines
                .get(i)
                .is_some_and(|l| l.kind == "auth" && l.name == "pam_totp")
        })
        .collect();
    seconds
        .into_iter()
        .filter_map(|i| f.stack.lines.get(i))
        .map(|second| {
            let first = f.totp;
            // The line to remove is the one written in the service file; an included one (the profile)
            // is switched off with pam-auth-update instead.
            let (keep, remove) = if second.top == (second.file.clone(), second.line) {
                (first, second)
            } else {
                (second, first)
            };
            let fix = if remove.top == (remove.file.clone(), remove.line) {
                format!(
                    "remove line {} of {} (`{}`): {} already asks for the code; or keep line {} and run `pam-auth-update --disable totp`",
                    remove.top.1, remove.top.0, remove.text, describe(keep), remove.top.1
                )
            } else {
                "`pam-auth-update --disable totp` (the profile puts pam_totp in common-auth), or remove one of the two lines".to_owned()
            };
            locate(
                remove,
                Finding::error(
                    "pam-totp-twice",
                    format!(
                        "pam_totp runs twice in the auth stack: {} and then {}: the code is asked twice, and with disallow_reuse the second ask refuses the code just accepted (reason=replayed)",
                        describe(first),
                        describe(second)
                    ),
                    fix,
                ),
            )
        })
        .collect()
}

/// `pam-totp-bypass`: a path ends in success without pam_totp having run; an error when the line that
/// ends it asks for something or always succeeds, a warning (a deliberate exemption?) otherwise.
fn bypass(f: &Focus<'_>) -> Vec<Finding> {
    if !f.walk.ends.contains(&(Verdict::Ok, Seen::NotYet)) {
        return Vec::new();
    }
    let totp = f.totp;
    let culprits: Vec<&ModLine> = f
        .walk
        .skipped_by
        .iter()
        .filter(|(_, v)| *v == Verdict::Ok)
        .filter_map(|(i, _)| f.stack.lines.get(*i))
        .collect();
    if culprits.is_empty() {
        return vec![locate(
            totp,
            Finding::error(
                "pam-totp-bypass",
                "a path through the auth stack ends in success without running pam_totp: the code can be skipped".to_owned(),
                "make pam_totp `required` and move it to the top of the auth section",
            ),
        )];
    }
    culprits
        .into_iter()
        .map(|c| {
            let certain = PROMPTING.contains(&c.name.as_str()) || c.name == "pam_permit";
            let msg = format!(
                "{} ends the auth stack in success before pam_totp ({}:{}) runs: a login that passes it never gets the code prompt",
                describe(c),
                totp.file,
                totp.line
            );
            let fix = format!(
                "make line {} of {} `required` (not sufficient/success=done/jump), or move pam_totp above it",
                c.top.1, c.top.0
            );
            let finding = if certain {
                Finding::error("pam-totp-bypass", msg, fix)
            } else {
                Finding::warning(
                    "pam-totp-bypass",
                    format!("{msg} (fine if that is a deliberate exemption)"),
                    fix,
                )
            };
            locate(c, finding)
        })
        .collect()
}

/// `pam-nullok-refuses`: with `nullok` an unenrolled user makes pam_totp return PAM_IGNORE, and no path
/// then ends in success.
fn nullok_refuses(f: &Focus<'_>) -> Option<Finding> {
    let totp = f.totp;
    if !f.nullok
        || f.arrivals.iter().all(|v| *v == Verdict::Failed)
        || f.walk.ends.contains(&(Verdict::Ok, Seen::Ignored))
    {
        return None;
    }
    let action = totp.control.action(Ret::Ignore);
    let (msg, fix) = if matches!(action, Action::Die | Action::Bad) && !totp.control.names_ignore() {
        (
            format!("`nullok` under `{}`: an unenrolled user makes pam_totp return PAM_IGNORE, and the control turns that into a refusal: users without a secret file are locked out", totp.control.text),
            format!(
                "write `{}` (ignore=ignore) and follow it with a module that lets unenrolled users in (e.g. `@include common-auth`)",
                with_ignore(totp)
            ),
        )
    } else {
        (
            "`nullok` with no module after pam_totp that can succeed: PAM_IGNORE alone is no verdict, so users without a secret file are refused".to_owned(),
            format!("add the module that should let unenrolled users in after line {} of {} (e.g. `@include common-auth`), or enroll everyone and drop nullok", totp.top.1, totp.top.0),
        )
    };
    Some(locate(totp, Finding::error("pam-nullok-refuses", msg, fix)))
}

/// `pam-oracle`: a prompt (pam_totp's, or one right after it) that appears only when an earlier factor was
/// right, so a fast failure tells an attacker which factor was wrong.
fn oracles(f: &Focus<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let prompting = f
        .stack
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.kind == "auth" && PROMPTING.contains(&l.name.as_str()));
    for (i1, l1) in prompting {
        let wi = if i1 == f.index {
            f.walk.clone()
        } else {
            walk(f.stack, &f.auth, Some(i1), false)
        };
        let asked_after = |s: Seen| {
            wi.visits
                .iter()
                .filter(|(i, _, seen)| *i != i1 && *seen == s)
                .filter_map(|(i, _, _)| f.stack.lines.get(*i).map(|l| (*i, l)))
                .filter(|(_, l)| PROMPTING.contains(&l.name.as_str()))
                .map(|(i, _)| i)
                .collect::<BTreeSet<usize>>()
        };
        let after_success = asked_after(Seen::Succeeded);
        let after_failure = asked_after(Seen::Failed);
        for i2 in after_success.difference(&after_failure) {
            if i1 != f.index && *i2 != f.index {
                continue;
            }
            let Some(l2) = f.stack.lines.get(*i2) else {
                continue;
            };
            let fix = if i1 == f.index {
                format!("make pam_totp `required` so that a wrong code goes on to the next prompt: replace `{}` on line {} of {}", l1.control.text, l1.top.1, l1.top.0)
            } else {
                format!("put `auth required pam_totp.so` above line {} of {} so that the code is asked first and a wrong password still gets the code prompt", l1.top.1, l1.top.0)
            };
            out.push(locate(
                l1,
                Finding::warning(
                    "pam-oracle",
                    format!(
                        "{} is asked for only when {} succeeded: the prompt tells an attacker that the {} was right (fast failure = oracle)",
                        l2.name,
                        describe(l1),
                        if l1.name == "pam_totp" { "code" } else { "password" }
                    ),
                    fix,
                ),
            ));
        }
    }
    out
}

/// `pam-unix-with-key-code`: AuthenticationMethods asks for key plus code, yet pam_unix asks for the Unix
/// password before pam_totp or after its success.
fn unix_with_key_code(f: &Focus<'_>) -> Vec<Finding> {
    let unix: BTreeSet<usize> = f
        .walk
        .visits
        .iter()
        .filter(|(i, v, s)| {
            matches!(s, Seen::NotYet | Seen::Succeeded)
                && *v != Verdict::Failed
                && f.stack.lines.get(*i).is_some_and(|l| l.name == "pam_unix")
        })
        .map(|(i, _, _)| *i)
        .collect();
    unix.into_iter()
        .filter_map(|i| f.stack.lines.get(i))
        .map(|u| {
            let via_include = u.top != (u.file.clone(), u.line);
            locate(
                u,
                Finding::warning(
                    "pam-unix-with-key-code",
                    format!(
                        "AuthenticationMethods asks for key plus code, but {} still asks for the Unix password: users get a password prompt too, and accounts without a password cannot log in",
                        describe(u)
                    ),
                    if via_include {
                        format!("comment out line {} of {} (`# {}`) and keep `auth required pam_totp.so`", u.top.1, u.top.0, "@include common-auth")
                    } else {
                        format!("remove line {} of {}", u.top.1, u.top.0)
                    },
                ),
            )
        })
        .collect()
}

/// The pam_totp line with `ignore=ignore` added to its control.
fn with_ignore(l: &ModLine) -> String {
    let control = match l.control.text.strip_suffix(']') {
        Some(inner) => {
            let inner = inner.replace(" default=", " ignore=ignore default=");
            if inner.contains("ignore=ignore") {
                format!("{inner}]")
            } else {
                format!("{inner} ignore=ignore]")
            }
        }
        None => "[success=done new_authtok_reqd=done ignore=ignore default=die]".to_owned(),
    };
    let mut s = format!("auth {control} {}", l.path);
    for a in &l.args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// The common-password findings, in this order: bad pam_pwpolicy arguments, two quality modules, none
/// (an error when one is installed in `module_dirs`, which may be empty: not checked), pam_pwpolicy after
/// pam_unix, and pam_unix without use_authtok.
pub fn check_common_password(stack: &Stack, module_dirs: &[PathBuf]) -> Vec<Finding> {
    let mut out = pwpolicy_bad_options(stack);
    out.extend(quality_twice(stack));
    out.extend(quality_missing(stack, module_dirs));
    out.extend(pwpolicy_after_unix(stack));
    out.extend(unix_no_use_authtok(stack));
    out
}

/// The first password line of module `name`.
fn password_line<'a>(stack: &'a Stack, name: &str) -> Option<(usize, &'a ModLine)> {
    stack
        .modules("password")
        .enumerate()
        .find(|(_, l)| l.name == name)
}

/// `pwpolicy-bad-option`: an argument pam_pwpolicy rejects (unknown key or bad value), checked with the
/// module's own parser; the module then refuses every password change.
fn pwpolicy_bad_options(stack: &Stack) -> Vec<Finding> {
    let mut out = Vec::new();
    for l in stack.modules("password").filter(|l| l.name == "pam_pwpolicy") {
        for (arg, setting) in l.args.iter().zip(config::parse_args(&l.args)) {
            let Err(e) = Policy::default().apply(&setting.key, &setting.value) else {
                continue;
            };
            let closest = match e {
                OptionError::Unknown(_) => closest_in(arg, KEYS.iter().copied()),
                OptionError::BadValue { .. } => None,
            };
            let hint = closest
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            let fix = match closest {
                Some(n) => {
                    let value = arg
                        .split_once('=')
                        .map(|(_, v)| format!("={v}"))
                        .unwrap_or_default();
                    format!(
                        "replace {arg:?} with `{n}{value}` on line {} of {}",
                        l.top.1, l.top.0
                    )
                }
                None => format!(
                    "correct or remove {arg:?} on line {} of {} (see pam_pwpolicy(8) for the options)",
                    l.top.1, l.top.0
                ),
            };
            out.push(locate(
                l,
                Finding::error(
                    "pwpolicy-bad-option",
                    format!("pam_pwpolicy argument {arg:?} in {}: {e}{hint}: the module refuses every password change (passwd: Error in service module)", describe(l)),
                    fix,
                ),
            ));
        }
    }
    out
}

/// `password-quality-twice`: two quality modules: each applies its own rules (a password one accepts the
/// other refuses, with two sets of messages and retries). The fix keeps pam_pwpolicy (else the first).
fn quality_twice(stack: &Stack) -> Vec<Finding> {
    let quality: Vec<&ModLine> = stack
        .modules("password")
        .filter(|l| QUALITY.contains(&l.name.as_str()))
        .collect();
    let Some(keep) = quality
        .iter()
        .find(|l| l.name == "pam_pwpolicy")
        .or(quality.first())
        .copied()
    else {
        return Vec::new();
    };
    quality
        .iter()
        .filter(|l| l.name != keep.name)
        .map(|extra| {
            locate(
                extra,
                Finding::error(
                    "password-quality-twice",
                    format!(
                        "two password-quality modules: {} and {}: each applies its own rules, so a password one accepts the other refuses, with two sets of messages and retries",
                        describe(keep),
                        describe(extra)
                    ),
                    format!(
                        "remove line {} of {} (`{}`), or `pam-auth-update` and keep one of the two profiles",
                        extra.top.1, extra.top.0, extra.text
                    ),
                ),
            )
        })
        .collect()
}

/// `pwpolicy-missing` (no pam_pwpolicy: a warning, whether another quality module is there or none is)
/// and `password-quality-missing` (no quality module although one is installed in `module_dirs`, e.g.
/// after a profile was removed: an error, any new password is accepted).
fn quality_missing(stack: &Stack, module_dirs: &[PathBuf]) -> Option<Finding> {
    if password_line(stack, "pam_pwpolicy").is_some() {
        return None;
    }
    let file = stack.lines.first().map(|l| l.top.0.clone()).unwrap_or_default();
    let unix = password_line(stack, "pam_unix");
    let other = stack
        .modules("password")
        .find(|l| QUALITY.contains(&l.name.as_str()));
    let add = match unix {
        Some((_, u)) => format!(
            "`pam-auth-update --enable pwpolicy`, or add `password requisite pam_pwpolicy.so retry=3` above line {} of {}",
            u.line, u.file
        ),
        None => "`pam-auth-update --enable pwpolicy`".to_owned(),
    };
    let installed: Vec<&str> = QUALITY
        .iter()
        .copied()
        .filter(|m| module_dirs.iter().any(|d| d.join(format!("{m}.so")).exists()))
        .collect();
    let finding = match (other, installed.first()) {
        (Some(o), _) => Finding::warning(
            "pwpolicy-missing",
            format!("common-password checks passwords with {}, not pam_pwpolicy", o.name),
            add,
        ),
        (None, Some(m)) => Finding::error(
            "password-quality-missing",
            format!(
                "common-password has no password-quality module although {m}.so is installed: any new password is accepted"
            ),
            match (*m, unix) {
                ("pam_pwpolicy", _) | (_, None) => add,
                (m, Some((_, u))) => format!(
                    "`pam-auth-update` and select the {} profile, or add `password requisite {m}.so retry=3` above line {} of {}",
                    m.trim_start_matches("pam_"),
                    u.line,
                    u.file
                ),
            },
        ),
        (None, None) => Finding::warning(
            "pwpolicy-missing",
            "common-password has no password-quality module: any new password is accepted",
            add,
        ),
    };
    Some(finding.at(file, None))
}

/// `pwpolicy-after-unix`: pam_unix changes the password before pam_pwpolicy checks it.
fn pwpolicy_after_unix(stack: &Stack) -> Option<Finding> {
    let (pi, p) = password_line(stack, "pam_pwpolicy")?;
    let (ui, u) = password_line(stack, "pam_unix")?;
    (ui < pi).then(|| {
        Finding::warning(
            "pwpolicy-after-unix",
            format!("pam_pwpolicy ({}:{}) comes after pam_unix ({}:{}): the password is changed before it is checked", p.file, p.line, u.file, u.line),
            format!("move line {} of {} above line {}", p.line, p.file, u.line),
        )
        .at(p.file.clone(), Some(p.line))
    })
}

/// `pwpolicy-unix-no-use-authtok`: pam_unix asks for the new password again, unchecked.
fn unix_no_use_authtok(stack: &Stack) -> Option<Finding> {
    password_line(stack, "pam_pwpolicy")?;
    let (_, u) = password_line(stack, "pam_unix")?;
    (!u.args.iter().any(|a| a == "use_authtok")).then(|| {
        Finding::warning(
            "pwpolicy-unix-no-use-authtok",
            format!("pam_unix ({}:{}) lacks use_authtok: it asks for the new password again, and that second answer is never checked by pam_pwpolicy", u.file, u.line),
            format!("replace line {} with `{} use_authtok`", u.line, u.text),
        )
        .at(u.file.clone(), Some(u.line))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// The stack of a service file with `text`, read through the real parser.
    fn stack(text: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("svc"), text).unwrap();
        super::super::load(dir.path(), "svc").unwrap()
    }

    fn ids(findings: impl IntoIterator<Item = Finding>) -> Vec<&'static str> {
        findings.into_iter().map(|f| f.id).collect()
    }

    fn focus(st: &Stack) -> Focus<'_> {
        Focus::new(st).unwrap()
    }

    #[test]
    fn a_misspelt_option_is_an_error_with_the_closest_name() {
        let st = stack("auth required pam_totp.so secert=/x\n");
        let f = bad_options(&st);
        assert_eq!(ids(f.clone()), ["pam-totp-bad-option"]);
        assert!(f[0].message.contains("did you mean `secret=`"), "{:?}", f[0]);
        assert!(bad_options(&stack("auth required pam_totp.so secret=/x nullok\n")).is_empty());
    }

    #[test]
    fn a_stack_without_pam_totp_is_an_error_naming_google_authenticator_when_it_is_there() {
        let st = stack("auth required pam_google_authenticator.so\n");
        let f = totp_missing(&st, SshdIntent::default()).unwrap();
        assert_eq!(f.id, "pam-totp-missing");
        assert!(f.message.contains("pam_google_authenticator is there instead"));
        assert!(totp_missing(&stack("auth required pam_totp.so\n"), SshdIntent::default()).is_none());
    }

    #[test]
    fn a_relative_module_path_missing_from_every_module_directory_is_an_error() {
        let st = stack("auth required pam_totp.so\n");
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().to_path_buf()];
        assert_eq!(ids(not_installed(&focus(&st), &dirs)), ["pam-totp-not-installed"]);
        std::fs::write(dir.path().join("pam_totp.so"), "").unwrap();
        assert!(not_installed(&focus(&st), &dirs).is_none());
        assert!(
            not_installed(&focus(&st), &[]).is_none(),
            "no directories: no check"
        );
    }

    #[test]
    fn a_line_that_ends_every_path_before_pam_totp_makes_it_unreachable() {
        let st = stack("auth sufficient pam_permit.so\nauth required pam_totp.so\n");
        let f = focus(&st);
        assert!(f.arrivals.is_empty());
        let u = unreachable(&f);
        assert_eq!(u.id, "pam-totp-unreachable");
        assert!(u.message.contains("pam_permit"), "{u:?}");
    }

    #[test]
    fn a_required_pam_deny_before_pam_totp_fails_every_login() {
        let st = stack("auth required pam_deny.so\nauth required pam_totp.so\n");
        assert_eq!(ids(always_fails(&focus(&st))), ["pam-totp-always-fails"]);
        assert!(always_fails(&focus(&stack("auth required pam_totp.so\n"))).is_none());
    }

    #[test]
    fn a_sufficient_password_before_pam_totp_skips_the_code() {
        let st = stack("auth sufficient pam_unix.so\nauth required pam_totp.so\n");
        let f = bypass(&focus(&st));
        assert_eq!(ids(f.clone()), ["pam-totp-bypass"]);
        assert_eq!(f[0].severity, crate::doctor::report::Severity::Error);
        let unknown = stack("auth sufficient pam_exempt.so\nauth required pam_totp.so\n");
        let f = bypass(&focus(&unknown));
        assert_eq!(
            f[0].severity,
            crate::doctor::report::Severity::Warning,
            "maybe an exemption"
        );
        assert!(bypass(&focus(&stack(
            "auth required pam_unix.so\nauth required pam_totp.so\n"
        )))
        .is_empty());
    }

    #[test]
    fn nullok_with_nothing_after_pam_totp_that_can_succeed_refuses_the_unenrolled() {
        let st = stack("auth required pam_totp.so nullok\n");
        assert_eq!(ids(nullok_refuses(&focus(&st))), ["pam-nullok-refuses"]);
        let ok = stack("auth required pam_totp.so nullok\nauth required pam_unix.so\n");
        assert!(nullok_refuses(&focus(&ok)).is_none());
        assert!(nullok_refuses(&focus(&stack("auth required pam_totp.so\n"))).is_none());
    }

    #[test]
    fn a_code_prompt_only_after_a_right_password_is_an_oracle() {
        let st = stack("auth requisite pam_unix.so\nauth required pam_totp.so\n");
        assert_eq!(ids(oracles(&focus(&st))), ["pam-oracle"]);
        let st = stack("auth required pam_unix.so\nauth required pam_totp.so\n");
        assert!(oracles(&focus(&st)).is_empty());
    }

    #[test]
    fn key_plus_code_with_pam_unix_still_in_the_stack_is_a_warning() {
        let st = stack("auth required pam_unix.so\nauth required pam_totp.so\n");
        assert_eq!(ids(unix_with_key_code(&focus(&st))), ["pam-unix-with-key-code"]);
        assert!(unix_with_key_code(&focus(&stack("auth required pam_totp.so\n"))).is_empty());
    }

    #[test]
    fn common_password_without_a_quality_module_is_a_warning_when_none_is_installed() {
        let st = stack("password required pam_unix.so\n");
        assert_eq!(ids(quality_missing(&st, &[])), ["pwpolicy-missing"]);
        assert_eq!(ids(check_common_password(&st, &[])), ["pwpolicy-missing"]);
        let st = stack("password requisite pam_pwpolicy.so\npassword required pam_unix.so use_authtok\n");
        assert!(check_common_password(&st, &[]).is_empty());
    }

    #[test]
    fn common_password_without_a_quality_module_that_is_installed_is_an_error() {
        let st = stack("password required pam_unix.so\n");
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().to_path_buf()];
        std::fs::write(dir.path().join("pam_pwquality.so"), "").unwrap();
        let f = quality_missing(&st, &dirs).unwrap();
        assert_eq!(
            (f.id, f.severity),
            ("password-quality-missing", crate::doctor::report::Severity::Error)
        );
        assert!(f.message.contains("pam_pwquality.so is installed"), "{f:?}");
        assert!(f.fix.contains("pam_pwquality.so retry=3` above line 1"), "{f:?}");
        let other = stack("password requisite pam_pwquality.so\npassword required pam_unix.so\n");
        assert_eq!(
            quality_missing(&other, &dirs).unwrap().severity,
            crate::doctor::report::Severity::Warning
        );
    }

    #[test]
    fn an_unknown_pam_pwpolicy_argument_is_an_error_with_the_closest_key_and_its_value() {
        let st = stack("password requisite pam_pwpolicy.so retry=3 minlenn=12\npassword required pam_unix.so use_authtok\n");
        let f = pwpolicy_bad_options(&st);
        assert_eq!(ids(f.clone()), ["pwpolicy-bad-option"]);
        assert_eq!(f[0].line, Some(1));
        assert!(f[0].message.contains("did you mean `minlen`"), "{:?}", f[0]);
        assert!(
            f[0].fix
                .contains("replace \"minlenn=12\" with `minlen=12` on line 1"),
            "{:?}",
            f[0]
        );
        let bad_value = stack("password requisite pam_pwpolicy.so minlen=twelve\n");
        let f = pwpolicy_bad_options(&bad_value);
        assert_eq!(ids(f.clone()), ["pwpolicy-bad-option"]);
        assert!(
            f[0].fix.starts_with("correct or remove \"minlen=twelve\""),
            "{:?}",
            f[0]
        );
        let good = stack(
            "password requisite pam_pwpolicy.so retry=3 minlen=12 enforce_for_root type=UNIX conf=/x\n",
        );
        assert!(pwpolicy_bad_options(&good).is_empty());
    }

    #[test]
    fn two_quality_modules_are_an_error_on_the_one_that_is_not_pam_pwpolicy() {
        let st = stack(
            "password requisite pam_pwquality.so retry=3\npassword requisite pam_pwpolicy.so\npassword required pam_unix.so use_authtok\n",
        );
        let f = quality_twice(&st);
        assert_eq!(ids(f.clone()), ["password-quality-twice"]);
        assert_eq!(f[0].line, Some(1));
        assert!(f[0].fix.starts_with("remove line 1 of"), "{:?}", f[0]);
        let cracklib = stack("password requisite pam_cracklib.so\npassword requisite pam_passwdqc.so\n");
        assert_eq!(quality_twice(&cracklib)[0].line, Some(2));
        assert!(quality_twice(&stack("password requisite pam_pwpolicy.so\n")).is_empty());
    }

    #[test]
    fn pam_pwpolicy_after_pam_unix_is_a_warning() {
        let st = stack("password required pam_unix.so use_authtok\npassword requisite pam_pwpolicy.so\n");
        assert_eq!(ids(pwpolicy_after_unix(&st)), ["pwpolicy-after-unix"]);
        let ok = stack("password requisite pam_pwpolicy.so\npassword required pam_unix.so use_authtok\n");
        assert!(pwpolicy_after_unix(&ok).is_none());
    }

    #[test]
    fn pam_unix_without_use_authtok_after_pam_pwpolicy_is_a_warning() {
        let st = stack("password requisite pam_pwpolicy.so\npassword required pam_unix.so\n");
        assert_eq!(ids(unix_no_use_authtok(&st)), ["pwpolicy-unix-no-use-authtok"]);
        assert!(unix_no_use_authtok(&stack("password required pam_unix.so\n")).is_none());
    }

    #[test]
    fn a_second_pam_totp_after_the_first_accepted_a_code_is_a_double_prompt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("common-auth"),
            "auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\nauth required pam_totp.so nullok\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("svc"),
            "@include common-auth\nauth required pam_totp.so\n",
        )
        .unwrap();
        let st = super::super::load(dir.path(), "svc").unwrap();
        let f = totp_twice(&focus(&st));
        assert_eq!(ids(f.clone()), ["pam-totp-twice"]);
        assert_eq!(f[0].line, Some(2), "the line written in the service file");
        assert!(f[0].fix.starts_with("remove line 2 of"), "{:?}", f[0]);
        assert!(f[0].fix.contains("pam-auth-update --disable totp"), "{:?}", f[0]);
        let once = stack("auth required pam_unix.so\nauth required pam_totp.so\n");
        assert!(totp_twice(&focus(&once)).is_empty());
        // A second pam_totp only on the path where the first failed is a fallback, not a double prompt.
        let fallback =
            stack("auth [success=1 default=ignore] pam_totp.so\nauth required pam_totp.so secret=/other\n");
        assert!(totp_twice(&focus(&fallback)).is_empty());
    }

    #[test]
    fn a_google_authenticator_stack_is_told_to_replace_it_not_to_add_pam_totp() {
        let st = stack("@include common-auth-missing\nauth required pam_google_authenticator.so nullok\n");
        let f = totp_missing(&st, SshdIntent::default()).unwrap();
        assert!(
            f.fix
                .starts_with("replace `pam_google_authenticator.so` with `pam_totp.so` on line 2"),
            "{f:?}"
        );
        assert!(!f.fix.contains("add"), "{f:?}");
        assert_eq!(f.line, Some(2));
    }
}
