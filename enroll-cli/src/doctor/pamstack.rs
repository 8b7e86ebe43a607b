//! The PAM stacks: /etc/pam.d/sshd with `@include`, `include` and `substack` expanded, and an analysis of
//! every path libpam can take through the auth stack, to find out whether pam_totp runs, whether a login can
//! end without it, what `nullok` does, and where a fast failure tells an attacker which factor was wrong.
//!
//! The model follows libpam's dispatcher: each module returns success, new_authtok_reqd, ignore or a
//! failure; the control (`required`, `requisite`, `sufficient`, `optional`, or `[value=action ...]`, where an
//! unlisted value without `default=` is `bad`) maps it to ok/done/bad/die/ignore/reset/N. What a module can
//! return is known for pam_deny (failure), pam_permit (success), pam_unix (success or failure) and pam_totp
//! (success, failure, and ignore with `nullok`); any other module may return anything. The walk explores
//! every combination (the state is small: position, verdict so far, what pam_totp did), so "reachable"
//! means "on some path", and "always" means "on every path".

use super::report::Finding;
use pam_totp::args::Options;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Include nesting libpam accepts.
const MAX_DEPTH: usize = 16;

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

/// What a control does with one return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// No effect on the verdict.
    Ignore,
    /// Success counts (unless something failed already).
    Ok,
    /// Failure, go on.
    Bad,
    /// Failure, stop.
    Die,
    /// Success counts, stop.
    Done,
    /// Forget the verdict so far.
    Reset,
    /// Like ok, then skip N modules.
    Jump(usize),
}

/// A module's return value, as far as the controls tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ret {
    /// PAM_SUCCESS.
    Success,
    /// PAM_IGNORE.
    Ignore,
    /// Any failure (PAM_AUTH_ERR and friends).
    Fail,
}

/// A control field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    /// As written (`required`, `[success=done default=die]`).
    pub text: String,
    /// `(value, action)` pairs, `default` included; simple keywords are expanded to their bracket form.
    pairs: Vec<(String, Action)>,
}

impl Control {
    /// Parses a control field; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Control> {
        let simple: &[(&str, Action)] = match text.to_ascii_lowercase().as_str() {
            "required" => &[
                ("success", Action::Ok),
                ("new_authtok_reqd", Action::Ok),
                ("ignore", Action::Ignore),
                ("default", Action::Bad),
            ],
            "requisite" => &[
                ("success", Action::Ok),
                ("new_authtok_reqd", Action::Ok),
                ("ignore", Action::Ignore),
                ("default", Action::Die),
            ],
            "sufficient" => &[
                ("success", Action::Done),
                ("new_authtok_reqd", Action::Done),
                ("default", Action::Ignore),
            ],
            "optional" => &[
                ("success", Action::Ok),
                ("new_authtok_reqd", Action::Ok),
                ("default", Action::Ignore),
            ],
            _ => &[],
        };
        if !simple.is_empty() {
            return Some(Control {
                text: text.to_owned(),
                pairs: simple.iter().map(|(k, a)| ((*k).to_owned(), *a)).collect(),
            });
        }
        let inner = text.strip_prefix('[')?.strip_suffix(']')?;
        let mut pairs = Vec::new();
        for word in inner.split_whitespace() {
            let (k, v) = word.split_once('=')?;
            let action = match v.to_ascii_lowercase().as_str() {
                "ignore" => Action::Ignore,
                "ok" => Action::Ok,
                "bad" => Action::Bad,
                "die" => Action::Die,
                "done" => Action::Done,
                "reset" => Action::Reset,
                n => Action::Jump(n.parse().ok()?),
            };
            pairs.push((k.to_ascii_lowercase(), action));
        }
        Some(Control {
            text: text.to_owned(),
            pairs,
        })
    }

    fn lookup(&self, key: &str) -> Option<Action> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, a)| *a)
    }

    /// The action for a return value (unlisted and no `default=`: bad, as in libpam).
    pub fn action(&self, r: Ret) -> Action {
        let named = match r {
            Ret::Success => self.lookup("success"),
            Ret::Ignore => self.lookup("ignore"),
            Ret::Fail => self.lookup("auth_err"),
        };
        named.or_else(|| self.lookup("default")).unwrap_or(Action::Bad)
    }

    /// Whether `ignore=` is given explicitly (for the nullok advice).
    pub fn names_ignore(&self) -> bool {
        self.lookup("ignore").is_some()
    }
}

/// One module line after include expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModLine {
    /// Lower-case type (`auth`, `password`, ...), without the `-` prefix.
    pub kind: String,
    /// The control.
    pub control: Control,
    /// The module path as written.
    pub path: String,
    /// File name without directory and `.so` (`pam_totp`).
    pub name: String,
    /// Module arguments.
    pub args: Vec<String>,
    /// The file holding the line.
    pub file: String,
    /// Its line number.
    pub line: usize,
    /// The line in the service file that brought it in (itself when written there directly).
    pub top: (String, usize),
    /// The line as written (for fixes).
    pub text: String,
}

/// A stack entry: a module, or a substack (done/die inside end only the substack).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// Index into [`Stack::lines`].
    Module(usize),
    /// A substack's entries.
    Substack(Vec<Item>),
}

/// An expanded service file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stack {
    /// Every module line, in stack order.
    pub lines: Vec<ModLine>,
    /// The entries, every type mixed (filter with [`Stack::of_type`]).
    items: Vec<(String, Item)>,
    /// Problems found while reading (missing include files, lines libpam cannot parse).
    pub problems: Vec<Finding>,
}

impl Stack {
    /// The entries of one type, in order.
    pub fn of_type(&self, kind: &str) -> Vec<Item> {
        self.items
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, i)| i.clone())
            .collect()
    }

    /// The module lines of one type, in order (substacks flattened).
    pub fn modules(&self, kind: &str) -> impl Iterator<Item = &ModLine> + '_ {
        let kind = kind.to_owned();
        self.lines.iter().filter(move |l| l.kind == kind)
    }
}

/// Splits a PAM line into words: `[...]` groups (control or argument) stay one word, `\]` escapes.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut w = String::new();
        if c == '[' {
            while let Some(c) = chars.next() {
                if c == '\\' && chars.peek() == Some(&']') {
                    chars.next();
                    w.push(']');
                    continue;
                }
                w.push(c);
                if c == ']' {
                    break;
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
    out
}

/// Logical lines of a PAM file: comments (`#` to the end of the line) removed, `\` continuations joined;
/// each with the number of its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        let (body, continued) = match raw.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        acc.push_str(body);
        acc.push(' ');
        if continued {
            pending = Some((start, acc));
            continue;
        }
        let code = acc.split('#').next().unwrap_or("").trim().to_owned();
        if !code.is_empty() {
            out.push((start, code));
        }
    }
    if let Some((start, acc)) = pending {
        let code = acc.split('#').next().unwrap_or("").trim().to_owned();
        if !code.is_empty() {
            out.push((start, code));
        }
    }
    out
}

/// The module's short name: `/lib/x/security/pam_totp.so` -> `pam_totp`.
pub fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.strip_suffix(".so").unwrap_or(base).to_owned()
}

/// Reads `dir/service` with every include expanded. `Err` only when the service file itself is unreadable.
pub fn load(dir: &Path, service: &str) -> Result<Stack, String> {
    let path = dir.join(service);
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut stack = Stack::default();
    let name = path.display().to_string();
    let mut items = Vec::new();
    expand(dir, &text, &name, None, None, 0, &mut stack, &mut items);
    stack.items = items;
    Ok(stack)
}

/// Expands one file's text into `items` (only lines of `only` when given).
#[allow(clippy::too_many_arguments)]
fn expand(
    dir: &Path,
    text: &str,
    file: &str,
    only: Option<&str>,
    top: Option<(String, usize)>,
    depth: usize,
    stack: &mut Stack,
    items: &mut Vec<(String, Item)>,
) {
    for (line, code) in logical_lines(text) {
        let w = words(&code);
        let here = top.clone().unwrap_or_else(|| (file.to_owned(), line));
        let mut it = w.iter();
        let Some(first) = it.next() else { continue };
        let include = |target: &str, stack: &mut Stack| -> Option<(String, String)> {
            let path: PathBuf = if target.starts_with('/') {
                PathBuf::from(target)
            } else {
                dir.join(target)
            };
            let shown = path.display().to_string();
            if depth + 1 > MAX_DEPTH {
                stack.problems.push(
                    Finding::error("pam-include-loop", format!("includes nested more than {MAX_DEPTH} deep at {target}: libpam refuses the stack"), "remove the include loop")
                        .at(file.to_owned(), Some(line)),
                );
                return None;
            }
            match fs::read_to_string(&path) {
                Ok(t) => Some((shown, t)),
                Err(e) => {
                    stack.problems.push(
                        Finding::error(
                            "pam-include-missing",
                            format!("cannot read included file {shown}: {e}: libpam fails every login through this stack"),
                            format!("restore {shown}, or remove line {line} of {file}"),
                        )
                        .at(file.to_owned(), Some(line)),
                    );
                    None
                }
            }
        };
        if first == "@include" {
            let Some(target) = it.next() else { continue };
            if let Some((shown, t)) = include(target, stack) {
                expand(dir, &t, &shown, only, Some(here), depth + 1, stack, items);
            }
            continue;
        }
        let optional_missing = first.starts_with('-');
        let kind = first.trim_start_matches('-').to_ascii_lowercase();
        if !matches!(kind.as_str(), "auth" | "account" | "password" | "session") {
            stack.problems.push(
                Finding::warning(
                    "pam-line-invalid",
                    format!("libpam does not understand `{code}` (unknown type {first:?}) and skips it"),
                    "correct or remove the line",
                )
                .at(file.to_owned(), Some(line)),
            );
            continue;
        }
        if only.is_some_and(|o| o != kind) {
            continue;
        }
        let (Some(control), Some(path)) = (it.next(), it.next()) else {
            stack.problems.push(
                Finding::warning(
                    "pam-line-invalid",
                    format!("`{code}` has no control or no module: libpam skips it"),
                    "correct or remove the line",
                )
                .at(file.to_owned(), Some(line)),
            );
            continue;
        };
        let lower = control.to_ascii_lowercase();
        if lower == "include" || lower == "substack" {
            if let Some((shown, t)) = include(path, stack) {
                let mut sub = Vec::new();
                expand(
                    dir,
                    &t,
                    &shown,
                    Some(&kind),
                    Some(here),
                    depth + 1,
                    stack,
                    &mut sub,
                );
                if lower == "include" {
                    items.extend(sub);
                } else {
                    items.push((
                        kind.clone(),
                        Item::Substack(sub.into_iter().map(|(_, i)| i).collect()),
                    ));
                }
            }
            continue;
        }
        let Some(control) = Control::parse(control) else {
            stack.problems.push(
                Finding::error(
                    "pam-line-invalid",
                    format!("control {control:?} is not valid: libpam treats the stack as broken"),
                    "use required, requisite, sufficient, optional or [value=action ...]",
                )
                .at(file.to_owned(), Some(line)),
            );
            continue;
        };
        let _ = optional_missing;
        let index = stack.lines.len();
        stack.lines.push(ModLine {
            kind: kind.clone(),
            control,
            name: module_name(path),
            path: path.clone(),
            args: it.cloned().collect(),
            file: file.to_owned(),
            line,
            top: here,
            text: code.clone(),
        });
        items.push((kind, Item::Module(index)));
    }
}

/// The verdict so far on one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Nothing decided yet (ends as a failure).
    Undecided,
    /// Success so far.
    Ok,
    /// Failed (stays failed).
    Failed,
}

/// What the focus module (pam_totp, usually) did on this path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seen {
    /// Not run yet.
    NotYet,
    /// Returned success.
    Succeeded,
    /// Returned ignore.
    Ignored,
    /// Returned a failure.
    Failed,
}

/// Everything the walk observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    /// `(module index, verdict on arrival, focus state on arrival)` for every visit.
    pub visits: BTreeSet<(usize, Verdict, Seen)>,
    /// How the whole stack can end: `(verdict, focus state)`.
    pub ends: BTreeSet<(Verdict, Seen)>,
    /// Modules whose success ended the stack (done) or jumped over the focus while it had not run, with
    /// the verdict then.
    pub skipped_by: BTreeSet<(usize, Verdict)>,
}

/// Runs every path through `items`. `focus` is the module whose result is tracked; `nullok` says whether it
/// can return ignore.
pub fn walk(stack: &Stack, items: &[Item], focus: Option<usize>, nullok: bool) -> Walk {
    let mut w = Walk::default();
    let ends = walk_list(
        stack,
        items,
        focus,
        nullok,
        Verdict::Undecided,
        Seen::NotYet,
        &mut w,
    );
    w.ends = ends.into_iter().map(|(v, s, _)| (v, s)).collect();
    w
}

fn contains(item: &Item, index: usize) -> bool {
    match item {
        Item::Module(i) => *i == index,
        Item::Substack(sub) => sub.iter().any(|x| contains(x, index)),
    }
}

fn outcomes(stack: &Stack, index: usize, focus: Option<usize>, nullok: bool) -> &'static [Ret] {
    let name = stack.lines.get(index).map(|l| l.name.as_str()).unwrap_or("");
    if Some(index) == focus {
        return if nullok {
            &[Ret::Success, Ret::Ignore, Ret::Fail]
        } else {
            &[Ret::Success, Ret::Fail]
        };
    }
    match name {
        "pam_deny" => &[Ret::Fail],
        "pam_permit" => &[Ret::Success],
        "pam_unix" => &[Ret::Success, Ret::Fail],
        _ => &[Ret::Success, Ret::Ignore, Ret::Fail],
    }
}

fn apply_ok(v: Verdict, r: Ret) -> Verdict {
    match (v, r) {
        (Verdict::Failed, _) => Verdict::Failed,
        (v, Ret::Ignore) => v,
        (_, Ret::Success) => Verdict::Ok,
        (_, Ret::Fail) => Verdict::Failed,
    }
}

/// Walks one list (the top stack or a substack); returns `(verdict, focus, ended_by_done_or_die)`.
fn walk_list(
    stack: &Stack,
    items: &[Item],
    focus: Option<usize>,
    nullok: bool,
    start: Verdict,
    seen: Seen,
    w: &mut Walk,
) -> BTreeSet<(Verdict, Seen, bool)> {
    let mut ends = BTreeSet::new();
    let mut todo = vec![(0usize, start, seen)];
    let mut done_states = BTreeSet::new();
    while let Some(state) = todo.pop() {
        if !done_states.insert(state) {
            continue;
        }
        let (pos, verdict, seen) = state;
        let Some(item) = items.get(pos) else {
            ends.insert((verdict, seen, false));
            continue;
        };
        let results: Vec<(Ret, Seen, Option<&Control>, Option<usize>)> = match item {
            Item::Module(index) => {
                w.visits.insert((*index, verdict, seen));
                let control = stack.lines.get(*index).map(|l| &l.control);
                outcomes(stack, *index, focus, nullok)
                    .iter()
                    .map(|&r| {
                        let s = if Some(*index) == focus {
                            match r {
                                Ret::Success => Seen::Succeeded,
                                Ret::Ignore => Seen::Ignored,
                                Ret::Fail => Seen::Failed,
                            }
                        } else {
                            seen
                        };
                        (r, s, control, Some(*index))
                    })
                    .collect()
            }
            Item::Substack(sub) => walk_list(stack, sub, focus, nullok, Verdict::Undecided, seen, w)
                .into_iter()
                .map(|(v, s, _)| {
                    (
                        if v == Verdict::Ok { Ret::Success } else { Ret::Fail },
                        s,
                        None,
                        None,
                    )
                })
                .collect(),
        };
        for (r, s, control, index) in results {
            // A substack's result counts like a required module's.
            let action = control.map_or(
                match r {
                    Ret::Success => Action::Ok,
                    Ret::Ignore => Action::Ignore,
                    Ret::Fail => Action::Bad,
                },
                |c| c.action(r),
            );
            let focus_pending = s == Seen::NotYet;
            match action {
                Action::Ignore => todo.push((pos + 1, verdict, s)),
                Action::Ok => todo.push((pos + 1, apply_ok(verdict, r), s)),
                Action::Bad => todo.push((pos + 1, Verdict::Failed, s)),
                Action::Reset => todo.push((pos + 1, Verdict::Undecided, s)),
                Action::Die => {
                    ends.insert((Verdict::Failed, s, true));
                }
                Action::Done => {
                    let v = apply_ok(verdict, r);
                    if focus_pending && focus.is_some() {
                        if let Some(i) = index {
                            w.skipped_by.insert((i, v));
                        }
                    }
                    ends.insert((v, s, true));
                }
                Action::Jump(n) => {
                    let to = pos + 1 + n;
                    if focus_pending {
                        if let (Some(f), Some(i)) = (focus, index) {
                            if items
                                .get(pos + 1..to.min(items.len()))
                                .is_some_and(|skipped| skipped.iter().any(|x| contains(x, f)))
                            {
                                w.skipped_by.insert((i, apply_ok(verdict, r)));
                            }
                        }
                    }
                    todo.push((to.min(items.len()), apply_ok(verdict, r), s));
                }
            }
        }
    }
    ends
}

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

/// The sshd auth-stack findings. `module_dirs`: where libpam looks for relative module paths (empty: do not
/// check that pam_totp.so is installed).
pub fn check_sshd_stack(stack: &Stack, intent: SshdIntent, module_dirs: &[PathBuf]) -> Vec<Finding> {
    let mut out = stack.problems.clone();
    let auth = stack.of_type("auth");
    let service = stack.lines.first().map(|l| l.top.0.clone()).unwrap_or_default();

    for l in stack.lines.iter().filter(|l| l.name == "pam_totp") {
        if let Err(e) = Options::parse(&l.args) {
            for bad in &e.bad {
                let hint = closest_option(&bad.arg)
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                out.push(locate(
                    l,
                    Finding::error(
                        "pam-totp-bad-option",
                        format!("pam_totp option {:?}: {}{hint}: the module refuses every login through this stack (PAM_SERVICE_ERR)", bad.arg, bad.reason),
                        match closest_option(&bad.arg) {
                            Some(n) => format!("replace {:?} with `{n}` on that line", bad.arg),
                            None => format!("remove {:?} from that line (see pam_totp(8) for the options)", bad.arg),
                        },
                    ),
                ));
            }
        }
    }

    let Some(focus) = totp_line(stack) else {
        let ga = stack
            .lines
            .iter()
            .any(|l| l.kind == "auth" && l.name == "pam_google_authenticator");
        let include = stack.lines.iter().find(|l| l.kind == "auth" && l.top.0 != l.file);
        let (msg_extra, fix) = match (intent.key_and_code, include) {
            (true, Some(l)) => (
                "",
                format!("replace line {} of {} with `auth required pam_totp.so` (key plus code: the Unix password is not asked)", l.top.1, l.top.0),
            ),
            (false, Some(l)) => ("", format!("add `auth required pam_totp.so` after line {} of {}", l.top.1, l.top.0)),
            _ => ("", format!("add `auth required pam_totp.so` to {service}")),
        };
        let mut f = Finding::error(
            "pam-totp-missing",
            format!(
                "pam_totp is not in the sshd auth stack: no verification code is asked{}{msg_extra}",
                if ga {
                    " (pam_google_authenticator is there instead)"
                } else {
                    ""
                }
            ),
            fix,
        );
        f = match include {
            Some(l) => f.at(l.top.0.clone(), Some(l.top.1)),
            None => f.at(service, None),
        };
        out.push(f);
        return out;
    };
    let Some(totp) = stack.lines.get(focus) else {
        return out;
    };
    let nullok = totp.args.iter().any(|a| a == "nullok");

    if !module_dirs.is_empty()
        && !totp.path.starts_with('/')
        && !module_dirs.iter().any(|d| d.join(&totp.path).exists())
    {
        out.push(locate(
            totp,
            Finding::error(
                "pam-totp-not-installed",
                format!(
                    "{} is not installed in {}: libpam cannot load it and the stack fails",
                    totp.path,
                    module_dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "install the libpam-totp package (or copy pam_totp.so into the PAM module directory)",
            ),
        ));
    }

    let w = walk(stack, &auth, Some(focus), nullok);
    let arrivals: Vec<Verdict> = w
        .visits
        .iter()
        .filter(|(i, _, _)| *i == focus)
        .map(|(_, v, _)| *v)
        .collect();
    let before = |i: usize| i < focus;

    if arrivals.is_empty() {
        let culprit = w
            .visits
            .iter()
            .map(|(i, _, _)| *i)
            .filter(|&i| before(i))
            .filter(|&i| {
                stack.lines.get(i).is_some_and(|l| {
                    outcomes(stack, i, None, false)
                        .iter()
                        .all(|&r| matches!(l.control.action(r), Action::Die | Action::Done | Action::Jump(_)))
                })
            })
            .max();
        let (msg, fix, at) = match culprit.and_then(|i| stack.lines.get(i)) {
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
        out.push(locate(at, Finding::error("pam-totp-unreachable", msg, fix)));
        return out;
    }

    if arrivals.iter().all(|v| *v == Verdict::Failed) {
        let culprit = w
            .visits
            .iter()
            .map(|(i, _, _)| *i)
            .filter(|&i| before(i))
            .find(|&i| {
                stack.lines.get(i).is_some_and(|l| {
                    outcomes(stack, i, None, false)
                        .iter()
                        .all(|&r| matches!(l.control.action(r), Action::Bad | Action::Die))
                })
            });
        let (msg, at) = match culprit.and_then(|i| stack.lines.get(i)) {
            Some(c) => (
                format!(
                    "{} fails every login before pam_totp runs: nobody can log in",
                    describe(c)
                ),
                c,
            ),
            None => (
                "every path reaches pam_totp already failed: nobody can log in".to_owned(),
                totp,
            ),
        };
        out.push(locate(
            at,
            Finding::error(
                "pam-totp-always-fails",
                msg,
                format!("remove line {} of {}", at.top.1, at.top.0),
            ),
        ));
    }

    // Paths that end in success without pam_totp having run.
    if w.ends.contains(&(Verdict::Ok, Seen::NotYet)) {
        let culprits: Vec<&ModLine> = w
            .skipped_by
            .iter()
            .filter(|(_, v)| *v == Verdict::Ok)
            .filter_map(|(i, _)| stack.lines.get(*i))
            .collect();
        if culprits.is_empty() {
            out.push(locate(
                totp,
                Finding::error(
                    "pam-totp-bypass",
                    "a path through the auth stack ends in success without running pam_totp: the code can be skipped".to_owned(),
                    "make pam_totp `required` and move it to the top of the auth section",
                ),
            ));
        }
        for c in culprits {
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
            out.push(locate(
                c,
                if certain {
                    Finding::error("pam-totp-bypass", msg, fix)
                } else {
                    Finding::warning(
                        "pam-totp-bypass",
                        format!("{msg} (fine if that is a deliberate exemption)"),
                        fix,
                    )
                },
            ));
        }
    }

    // nullok: an unenrolled user gets PAM_IGNORE; does any path then end in success?
    if nullok && arrivals.iter().any(|v| *v != Verdict::Failed) {
        let ignore_ok = w.ends.contains(&(Verdict::Ok, Seen::Ignored));
        if !ignore_ok {
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
            out.push(locate(totp, Finding::error("pam-nullok-refuses", msg, fix)));
        }
    }

    // Oracles: a prompt that appears only when an earlier factor was right.
    for p1 in stack
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.kind == "auth" && PROMPTING.contains(&l.name.as_str()))
    {
        let (i1, l1) = p1;
        let wi = if i1 == focus {
            w.clone()
        } else {
            walk(stack, &auth, Some(i1), false)
        };
        let asked_after = |s: Seen| {
            wi.visits
                .iter()
                .filter(|(i, _, seen)| *i != i1 && *seen == s)
                .filter_map(|(i, _, _)| stack.lines.get(*i).map(|l| (*i, l)))
                .filter(|(_, l)| PROMPTING.contains(&l.name.as_str()))
                .map(|(i, _)| i)
                .collect::<BTreeSet<usize>>()
        };
        let after_success = asked_after(Seen::Succeeded);
        let after_failure = asked_after(Seen::Failed);
        for i2 in after_success.difference(&after_failure) {
            if i1 != focus && *i2 != focus {
                continue;
            }
            let Some(l2) = stack.lines.get(*i2) else { continue };
            let fix = if i1 == focus {
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

    // Key plus code, yet the Unix password is asked before pam_totp or after its success.
    if intent.key_and_code {
        let unix: BTreeSet<usize> = w
            .visits
            .iter()
            .filter(|(i, v, s)| {
                matches!(s, Seen::NotYet | Seen::Succeeded)
                    && *v != Verdict::Failed
                    && stack.lines.get(*i).is_some_and(|l| l.name == "pam_unix")
            })
            .map(|(i, _, _)| *i)
            .collect();
        for i in unix {
            let Some(u) = stack.lines.get(i) else { continue };
            let via_include = u.top != (u.file.clone(), u.line);
            out.push(locate(
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
            ));
        }
    }
    out
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
