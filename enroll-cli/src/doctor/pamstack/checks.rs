//! The findings about PAM stacks, one function per finding id, each a function of a parsed stack (and,
//! for the sshd stack, of the walk focused on pam_totp). [`check_sshd_stack`] and
//! [`check_common_password`] call them in report order. Nothing here reads files.

use super::model::{outcomes, walk, Action, Ret, Seen, Verdict, Walk};
use super::parse::{Item, ModLine, Stack};
use crate::doctor::report::Finding;
use pam_totp::args::Options;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// pam_totp's option names (`=` marks a value), for "did you mean".
const TOTP_OPTIONS: &[&str] = &[
    "secret=",
    "user=",
    "authtok_prompt=",
    "no_strict_owner",
    "allowed_perm=",
    "debug",
    "try_first_pass",
    "use_first_pass",
    "forward_pass",
    "noskewadj",
    "no_increment_hotp",
    "nullok",
    "echo_verification_code",
    "grace_period=",
    "allow_readonly",
];

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

/// Known option names of pam_totp, for "did you mean".
fn closest_option(arg: &str) -> Option<&'static str> {
    let key = arg.split('=').next().unwrap_or(arg);
    TOTP_OPTIONS
        .iter()
        .copied()
        .map(|name| (levenshtein(key, name.trim_end_matches('=')), name))
        .filter(|(d, _)| *d > 0 && *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
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
/// never reached, always failing, skipped, `nullok` refusing, oracles, and the Unix password with key plus
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
        .any(|l| l.kind == "auth" && l.name == "pam_google_authenticator");
    let include = stack.lines.iter().find(|l| l.kind == "auth" && l.top.0 != l.file);
    let fix = match (intent.key_and_code, include) {
        (true, Some(l)) => format!("replace line {} of {} with `auth required pam_totp.so` (key plus code: the Unix password is not asked)", l.top.1, l.top.0),
        (false, Some(l)) => format!("add `auth required pam_totp.so` after line {} of {}", l.top.1, l.top.0),
        _ => format!("add `auth required pam_totp.so` to {service}"),
    };
    let f = Finding::error(
        "pam-totp-missing",
        format!(
            "pam_totp is not in the sshd auth stack: no verification code is asked{}",
            if ga {
                " (pam_google_authenticator is there instead)"
            } else {
                ""
            }
        ),
        fix,
    );
    Some(match include {
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

/// The common-password findings: pam_pwpolicy present, before pam_unix, and pam_unix with use_authtok.
pub fn check_common_password(stack: &Stack) -> Vec<Finding> {
    let mut out = Vec::new();
    let file = stack.lines.first().map(|l| l.top.0.clone()).unwrap_or_default();
    let mods: Vec<(usize, &ModLine)> = stack.modules("password").enumerate().collect();
    let policy = mods.iter().find(|(_, l)| l.name == "pam_pwpolicy");
    let unix = mods.iter().find(|(_, l)| l.name == "pam_unix");
    match (policy, unix) {
        (None, _) => {
            let other = mods
                .iter()
                .find(|(_, l)| matches!(l.name.as_str(), "pam_pwquality" | "pam_cracklib" | "pam_passwdqc"));
            let msg = match other {
                Some((_, o)) => format!(
                    "common-password checks passwords with {}, not pam_pwpolicy",
                    o.name
                ),
                None => {
                    "common-password has no password-quality module: any new password is accepted".to_owned()
                }
            };
            let fix = match unix {
                Some((_, u)) => format!("`pam-auth-update --enable pwpolicy`, or add `password requisite pam_pwpolicy.so retry=3` above line {} of {}", u.line, u.file),
                None => "`pam-auth-update --enable pwpolicy`".to_owned(),
            };
            out.push(Finding::warning("pwpolicy-missing", msg, fix).at(file, None));
        }
        (Some((pi, p)), Some((ui, u))) if ui < pi => {
            out.push(
                Finding::warning(
                    "pwpolicy-after-unix",
                    format!("pam_pwpolicy ({}:{}) comes after pam_unix ({}:{}): the password is changed before it is checked", p.file, p.line, u.file, u.line),
                    format!("move line {} of {} above line {}", p.line, p.file, u.line),
                )
                .at(p.file.clone(), Some(p.line)),
            );
        }
        _ => {}
    }
    if let (Some(_), Some((_, u))) = (policy, unix) {
        if !u.args.iter().any(|a| a == "use_authtok") {
            out.push(
                Finding::warning(
                    "pwpolicy-unix-no-use-authtok",
                    format!("pam_unix ({}:{}) lacks use_authtok: it asks for the new password again, and that second answer is never checked by pam_pwpolicy", u.file, u.line),
                    format!("replace line {} with `{} use_authtok`", u.line, u.text),
                )
                .at(u.file.clone(), Some(u.line)),
            );
        }
    }
    out
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
    fn common_password_without_a_quality_module_is_a_warning() {
        let st = stack("password required pam_unix.so\n");
        assert_eq!(ids(check_common_password(&st)), ["pwpolicy-missing"]);
        let st = stack("password requisite pam_pwpolicy.so\npassword required pam_unix.so use_authtok\n");
        assert!(check_common_password(&st).is_empty());
    }
}
