//! The effective sshd configuration: `sshd -T` where it runs, else a parser that follows sshd's own rules,
//! and the sshd findings (keyboard-interactive, UsePAM, AuthenticationMethods, PasswordAuthentication,
//! PermitRootLogin).
//!
//! The parser always runs, because only it knows where a value was set (`sshd -T` prints values, not lines).
//! It follows OpenSSH 9.2's servconf.c: keywords are case-insensitive and may be followed by `=`; the first
//! value of a keyword wins; `ChallengeResponseAuthentication` is the same keyword as
//! `KbdInteractiveAuthentication`, so it loses to an earlier `KbdInteractiveAuthentication no` (Debian 12's
//! stock file); `Include` takes globs, relative to /etc/ssh, sorted, missing ones silently skipped, and an
//! included file's `Match` ends with that file. Global values stop at the first `Match`, except `Match all`;
//! values inside matching `Match` blocks (`Match all`, and `Match User` for `--user`) then override the
//! global ones for the keywords sshd allows there (not `UsePAM`), which is what `sshd -T` prints. Other
//! `Match` criteria (Group, Host, Address, ...) are taken as not matching, as `sshd -T` does without `-C`.

use super::report::Finding;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where relative `Include` paths are anchored (sshd's SSHDIR).
pub const SSH_DIR: &str = "/etc/ssh";
/// sshd's include depth limit (SERVCONF_MAX_DEPTH).
const MAX_DEPTH: usize = 16;

/// The keywords the checks look at (canonical, lower case), with sshd's compiled-in defaults and whether a
/// `Match` block may set them.
const TRACKED: &[(&str, &str, bool)] = &[
    ("kbdinteractiveauthentication", "yes", true),
    ("usepam", "no", false),
    ("authenticationmethods", "any", true),
    ("passwordauthentication", "yes", true),
    ("permitrootlogin", "prohibit-password", true),
    ("pubkeyauthentication", "yes", true),
];

/// The canonical name of a tracked keyword (any case; the deprecated alias maps to its keyword).
pub fn canonical(keyword: &str) -> Option<&'static str> {
    let k = keyword.to_ascii_lowercase();
    if k == "challengeresponseauthentication" {
        return Some("kbdinteractiveauthentication");
    }
    TRACKED.iter().map(|(name, _, _)| *name).find(|name| *name == k)
}

/// The name to write in a suggested line.
fn display_name(keyword: &str) -> &'static str {
    match keyword {
        "kbdinteractiveauthentication" => "KbdInteractiveAuthentication",
        "usepam" => "UsePAM",
        "authenticationmethods" => "AuthenticationMethods",
        "passwordauthentication" => "PasswordAuthentication",
        "permitrootlogin" => "PermitRootLogin",
        _ => "PubkeyAuthentication",
    }
}

/// One line setting a tracked keyword.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Canonical keyword.
    pub keyword: &'static str,
    /// The keyword as written (to tell the alias apart).
    pub written: String,
    /// The arguments, joined by one space.
    pub value: String,
    /// The file (as sshd names it: the main path, or the logical path of an included file).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
}

/// What a line of an sshd_config is, after include expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Set(Setting),
    /// A `Match` line: its criteria words.
    Match(Vec<String>),
    /// Start of an included file.
    Enter,
    /// End of an included file (the includer's Match state comes back).
    Exit,
}

/// The configuration as the parser reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    events: Vec<Event>,
    /// Problems that make sshd refuse the file (an unreadable include, too deep nesting).
    pub errors: Vec<(String, Option<usize>, String)>,
    /// The main file.
    pub main: String,
    /// Line of the first `Match` in the main file (new global lines go before it).
    pub first_match: Option<usize>,
    /// Whether the main file includes /etc/ssh/sshd_config.d/*.conf (Debian 12 does, at the top).
    pub includes_dropins: bool,
    /// The line of that Include.
    pub dropin_line: Option<usize>,
}

/// Reads `main` and everything it includes. Include paths are logical (`/etc/ssh/...`) and read below
/// `include_root` (`/` on a real system; a fixture tree in tests). Only an unreadable main file is an `Err`.
pub fn parse_config(main: &Path, include_root: &Path) -> Result<Parsed, String> {
    let text = fs::read_to_string(main).map_err(|e| format!("cannot read {}: {e}", main.display()))?;
    let mut parsed = Parsed {
        main: main.display().to_string(),
        ..Parsed::default()
    };
    let name = parsed.main.clone();
    parse_text(&text, &name, include_root, 0, &mut parsed);
    Ok(parsed)
}

/// Parses one file's text into `out.events`.
fn parse_text(text: &str, file: &str, root: &Path, depth: usize, out: &mut Parsed) {
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let Some((keyword, args)) = split_line(raw) else {
            continue;
        };
        let lower = keyword.to_ascii_lowercase();
        if lower == "match" {
            if depth == 0 && out.first_match.is_none() {
                out.first_match = Some(line);
            }
            out.events.push(Event::Match(args));
        } else if lower == "include" {
            for arg in &args {
                let pattern = if arg.starts_with('/') || arg.starts_with('~') {
                    arg.clone()
                } else {
                    format!("{SSH_DIR}/{arg}")
                };
                if depth == 0 && pattern == "/etc/ssh/sshd_config.d/*.conf" && !out.includes_dropins {
                    out.includes_dropins = true;
                    out.dropin_line = Some(line);
                }
                if depth + 1 > MAX_DEPTH {
                    out.errors.push((
                        file.to_owned(),
                        Some(line),
                        format!("Include nested more than {MAX_DEPTH} deep: sshd refuses to start"),
                    ));
                    continue;
                }
                for logical in glob(root, &pattern) {
                    match fs::read_to_string(below(root, &logical)) {
                        Ok(t) => {
                            out.events.push(Event::Enter);
                            parse_text(&t, &logical, root, depth + 1, out);
                            out.events.push(Event::Exit);
                        }
                        Err(e) => out.errors.push((
                            file.to_owned(),
                            Some(line),
                            format!("cannot read included file {logical}: {e}: sshd refuses to start"),
                        )),
                    }
                }
            }
        } else if let Some(keyword_id) = canonical(keyword) {
            out.events.push(Event::Set(Setting {
                keyword: keyword_id,
                written: keyword.to_owned(),
                value: args.join(" "),
                file: file.to_owned(),
                line,
            }));
        }
    }
}

/// The real path of a logical absolute path below `root`.
fn below(root: &Path, logical: &str) -> PathBuf {
    root.join(logical.trim_start_matches('/'))
}

/// Splits a line into keyword and arguments the way servconf.c does (`Keyword value`, `Keyword=value`,
/// quotes, `#` comments); `None` for blank and comment lines.
pub fn split_line(raw: &str) -> Option<(&str, Vec<String>)> {
    let s = raw.trim_start();
    if s.is_empty() || s.starts_with('#') {
        return None;
    }
    let end = s.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(s.len());
    let (keyword, rest) = s.split_at(end);
    if keyword.is_empty() {
        return None;
    }
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    Some((keyword, split_args(rest)))
}

/// sshd's argv_split with comment termination: whitespace-separated words, `"..."`/`'...'` quoting with
/// backslash escapes, a word starting with `#` ends the line.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            Some(_) => {}
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            chars.next();
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
                (_, c) => word.push(c),
            }
        }
        out.push(word);
    }
    out
}

/// Expands a logical absolute glob (`*`, `?`, `[...]` in any component) against the tree below `root`,
/// sorted as glob(3) sorts; a pattern that matches nothing gives nothing (sshd skips it silently).
pub fn glob(root: &Path, pattern: &str) -> Vec<String> {
    let mut current = vec![String::new()];
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for comp in components {
        let mut next = Vec::new();
        for base in &current {
            if comp.contains(['*', '?', '[']) {
                let Ok(entries) = fs::read_dir(below(root, if base.is_empty() { "/" } else { base })) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') && !comp.starts_with('.') {
                        continue;
                    }
                    if wildcard(comp.as_bytes(), name.as_bytes()) {
                        next.push(format!("{base}/{name}"));
                    }
                }
            } else {
                next.push(format!("{base}/{comp}"));
            }
        }
        current = next;
    }
    let mut found: Vec<String> = current
        .into_iter()
        .filter(|p| !p.is_empty() && fs::symlink_metadata(below(root, p)).is_ok())
        .collect();
    found.sort();
    found
}

/// fnmatch(3) without flags: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
fn wildcard(pat: &[u8], name: &[u8]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| name.get(i..).is_some_and(|n| wildcard(rest, n))),
        Some((b'?', rest)) => name.split_first().is_some_and(|(_, n)| wildcard(rest, n)),
        Some((b'[', rest)) => {
            let Some(close) = rest.iter().skip(1).position(|&b| b == b']').map(|p| p + 1) else {
                return name.first() == Some(&b'[') && wildcard(rest, name.get(1..).unwrap_or_default());
            };
            let (set, after) = rest.split_at(close);
            let after = after.get(1..).unwrap_or_default();
            let (negate, set) = match set.split_first() {
                Some((b'!' | b'^', s)) => (true, s),
                _ => (false, set),
            };
            let Some((&c, n)) = name.split_first() else {
                return false;
            };
            let mut hit = false;
            let mut i = 0;
            while let Some(&lo) = set.get(i) {
                if set.get(i + 1) == Some(&b'-') && set.get(i + 2).is_some() {
                    let hi = set.get(i + 2).copied().unwrap_or(lo);
                    hit |= lo <= c && c <= hi;
                    i += 3;
                } else {
                    hit |= lo == c;
                    i += 1;
                }
            }
            hit != negate && wildcard(after, n)
        }
        Some((&p, rest)) => name
            .split_first()
            .is_some_and(|(&c, n)| c == p && wildcard(rest, n)),
    }
}

/// OpenSSH's match_pattern_list: comma-separated patterns, `!` negates; true only for a positive match
/// with no negated one.
fn pattern_list(list: &str, s: &str) -> bool {
    let mut positive = false;
    for p in list.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard(neg.as_bytes(), s.as_bytes()) {
                return false;
            }
        } else if wildcard(p.as_bytes(), s.as_bytes()) {
            positive = true;
        }
    }
    positive
}

/// Does a `Match` line apply? `user` is the connection's user (`None`: no connection, global values).
fn criteria_match(words: &[String], user: Option<&str>) -> bool {
    if words.len() == 1 && words.first().is_some_and(|w| w.eq_ignore_ascii_case("all")) {
        return true;
    }
    let mut it = words.iter();
    let mut any = false;
    while let Some(attr) = it.next() {
        let Some(value) = it.next() else {
            return false;
        };
        any = true;
        let ok = attr.eq_ignore_ascii_case("user") && user.is_some_and(|u| pattern_list(value, u));
        if !ok {
            return false;
        }
    }
    any
}

/// First value of each tracked keyword from the active lines of one pass. `user`: the Match pass for that
/// connection (`Some(None)`: no user, `Match all` only); `None`: the global pass.
fn pass(events: &[Event], user: Option<Option<&str>>) -> (BTreeMap<&'static str, Setting>, Vec<Setting>) {
    let global = user.is_none();
    let mut active = global;
    let mut never = false;
    let mut saved: Vec<(bool, bool)> = Vec::new();
    let mut first = BTreeMap::new();
    let mut all = Vec::new();
    for e in events {
        match e {
            Event::Match(words) => {
                active = !never && criteria_match(words, user.flatten());
            }
            Event::Enter => {
                saved.push((active, never));
                if global {
                    never = !active;
                }
            }
            Event::Exit => {
                if let Some((a, n)) = saved.pop() {
                    active = a;
                    never = n;
                }
            }
            Event::Set(s) if active => {
                all.push(s.clone());
                first.entry(s.keyword).or_insert_with(|| s.clone());
            }
            Event::Set(_) => {}
        }
    }
    (first, all)
}

/// Where an effective value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `sshd -T` printed it.
    SshdT,
    /// The parser computed it.
    Parser,
}

/// One effective value and the line that set it (per the parser; `None` for a compiled-in default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// Lower-case value (`yes`, `publickey,keyboard-interactive`, ...).
    pub value: String,
    /// The line that set it.
    pub origin: Option<Setting>,
}

/// The effective values of the tracked keywords.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effective {
    /// Canonical keyword to value.
    pub values: BTreeMap<&'static str, Value>,
    /// Every active global line of each keyword, in order (to name the lines that lose).
    pub lines: Vec<Setting>,
    /// sshd -T or the parser.
    pub source: Source,
    /// The main file's name.
    pub main: String,
    /// Line of the first Match in the main file.
    pub first_match: Option<usize>,
    /// Whether Debian's drop-in directory is included.
    pub includes_dropins: bool,
    /// The line of that Include in the main file.
    pub dropin_line: Option<usize>,
}

impl Effective {
    /// The effective value of a tracked keyword (its default when nothing sets it).
    pub fn get(&self, keyword: &str) -> &str {
        self.values.get(keyword).map(|v| v.value.as_str()).unwrap_or("")
    }

    fn origin(&self, keyword: &str) -> Option<&Setting> {
        self.values.get(keyword).and_then(|v| v.origin.as_ref())
    }

    /// The AuthenticationMethods lists (`None` for `any`).
    pub fn method_lists(&self) -> Option<Vec<Vec<String>>> {
        let v = self.get("authenticationmethods");
        if v.is_empty() || v == "any" {
            return None;
        }
        Some(
            v.split_whitespace()
                .map(|list| {
                    list.split(',')
                        .map(|m| m.split(':').next().unwrap_or(m).to_owned())
                        .collect()
                })
                .collect(),
        )
    }

    /// Key plus code was meant: some AuthenticationMethods list has both publickey and keyboard-interactive.
    pub fn key_and_code(&self) -> bool {
        self.method_lists().is_some_and(|lists| {
            lists
                .iter()
                .any(|l| l.iter().any(|m| m == "publickey") && l.iter().any(|m| m == "keyboard-interactive"))
        })
    }
}

/// The effective configuration from the parser alone (global values, or for `user`'s connections).
pub fn effective_from_parser(parsed: &Parsed, user: Option<&str>) -> Effective {
    let (global, lines) = pass(&parsed.events, None);
    let (matched, _) = pass(&parsed.events, Some(user));
    let mut values = BTreeMap::new();
    for (keyword, default, matchable) in TRACKED {
        let chosen = matched
            .get(keyword)
            .filter(|_| *matchable)
            .or_else(|| global.get(keyword));
        let value = match chosen {
            Some(s) => Value {
                value: normalize(keyword, &s.value),
                origin: Some(s.clone()),
            },
            None => Value {
                value: (*default).to_owned(),
                origin: None,
            },
        };
        values.insert(*keyword, value);
    }
    Effective {
        values,
        lines,
        source: Source::Parser,
        main: parsed.main.clone(),
        first_match: parsed.first_match,
        includes_dropins: parsed.includes_dropins,
        dropin_line: parsed.dropin_line,
    }
}

/// Lower case, and `without-password` is `prohibit-password` (sshd -T prints the old name).
fn normalize(keyword: &str, value: &str) -> String {
    let v = value.to_ascii_lowercase();
    if keyword == "permitrootlogin" && v == "without-password" {
        return "prohibit-password".to_owned();
    }
    if keyword == "authenticationmethods" {
        return value.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    v
}

/// Replaces the parser's values with `sshd -T`'s (keeping the parser's lines when they agree).
pub fn with_sshd_t(mut eff: Effective, printed: &BTreeMap<String, String>) -> Effective {
    for (keyword, value) in eff.values.iter_mut() {
        if let Some(v) = printed.get(*keyword) {
            let v = normalize(keyword, v);
            if v != value.value {
                value.origin = None;
                value.value = v;
            }
        }
    }
    eff.source = Source::SshdT;
    eff
}

/// `sshd -T` output: `keyword value...` lines; the first line of each keyword.
pub fn parse_sshd_t(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in stdout.lines() {
        if let Some((k, v)) = line.split_once(' ') {
            out.entry(k.to_ascii_lowercase())
                .or_insert_with(|| v.trim().to_owned());
        }
    }
    out
}

/// Why `sshd -T` gave no configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SshdTError {
    /// It could not check the file here (not installed, no host key readable, no privilege-separation
    /// directory, ...): fall back to the parser.
    Unavailable(String),
    /// It rejects the configuration: sshd will not start (or restart) with it.
    Rejected {
        /// What sshd said.
        message: String,
        /// The file it names.
        file: Option<String>,
        /// The line it names.
        line: Option<usize>,
    },
}

/// Runs `PROGRAM [PREFIX...] -T -f CONFIG [EXTRA...] [-C user=USER]` and parses what it prints.
pub fn run_sshd_t(
    program: &Path,
    prefix: &[String],
    config: &Path,
    extra: &[String],
    user: Option<&str>,
) -> Result<BTreeMap<String, String>, SshdTError> {
    let mut cmd = Command::new(program);
    cmd.args(prefix).arg("-T").arg("-f").arg(config).args(extra);
    if let Some(u) = user {
        cmd.arg("-C").arg(format!("user={u}"));
    }
    let out = cmd
        .output()
        .map_err(|e| SshdTError::Unavailable(format!("cannot run {}: {e}", program.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && !stdout.trim().is_empty() {
        return Ok(parse_sshd_t(&stdout));
    }
    Err(classify_failure(&stderr))
}

/// Tells a configuration error (`FILE: line N: ...`, `FILE line N: ...`) from an environment problem.
pub fn classify_failure(stderr: &str) -> SshdTError {
    for l in stderr.lines() {
        if let Some(at) = l.find(" line ") {
            let (head, tail) = l.split_at(at);
            let tail = tail.get(6..).unwrap_or_default();
            let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
            if let (Ok(n), true) = (
                digits.parse::<usize>(),
                tail.get(digits.len()..).is_some_and(|t| t.starts_with(':')),
            ) {
                let message = tail.get(digits.len() + 1..).unwrap_or_default().trim().to_owned();
                return SshdTError::Rejected {
                    message,
                    file: Some(head.trim_end_matches(':').to_owned()),
                    line: Some(n),
                };
            }
        }
    }
    let last = stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .trim();
    let config_words = [
        "cannot be satisfied",
        "Bad configuration",
        "not allowed within",
        "terminating,",
    ];
    if config_words.iter().any(|w| stderr.contains(w)) {
        return SshdTError::Rejected {
            message: last.to_owned(),
            file: None,
            line: None,
        };
    }
    let first = stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output");
    SshdTError::Unavailable(format!("sshd -T failed: {}", first.trim()))
}

/// The suggested place for a keyword that is not set anywhere.
fn insert_hint(eff: &Effective, line: &str) -> String {
    if eff.includes_dropins {
        return format!("add `{line}` to a file in /etc/ssh/sshd_config.d/ (e.g. /etc/ssh/sshd_config.d/pam_totp.conf), then `systemctl reload ssh`");
    }
    match eff.first_match {
        Some(n) => format!(
            "add `{line}` to {} before line {n} (the first Match block), then `systemctl reload ssh`",
            eff.main
        ),
        None => format!("add `{line}` to {}, then `systemctl reload ssh`", eff.main),
    }
}

/// A located finding with the fix "change that line to `K V`" (or add it when nothing sets it).
fn set_to(eff: &Effective, keyword: &str, value: &str, mut f: Finding) -> Finding {
    let line = format!("{} {value}", display_name(keyword));
    match eff.origin(keyword) {
        Some(s) => {
            f.fix = format!(
                "replace line {} of {} (`{} {}`) with `{line}`",
                s.line, s.file, s.written, s.value
            );
            if s.file == eff.main && eff.dropin_line.is_some_and(|d| d < s.line) {
                f.fix.push_str(&format!(
                    " (or, leaving the packaged file alone, put `{line}` in /etc/ssh/sshd_config.d/pam_totp.conf: drop-ins are read first and win)"
                ));
            }
            f.fix.push_str(", then `systemctl reload ssh`");
            f.at(s.file.clone(), Some(s.line))
        }
        None => {
            f.fix = insert_hint(eff, &line);
            f.at(eff.main.clone(), None)
        }
    }
}

/// The sshd findings. `totp_in_stack`: pam_totp is in the sshd PAM stack (so the code is meant to be asked).
pub fn check(eff: &Effective, totp_in_stack: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let key_code = eff.key_and_code();
    if eff.get("kbdinteractiveauthentication") != "yes" {
        let mut msg = String::from(
            "KbdInteractiveAuthentication is no: sshd never runs the PAM conversation, so the verification code is never asked",
        );
        if eff
            .method_lists()
            .is_some_and(|l| l.iter().all(|m| m.iter().any(|x| x == "keyboard-interactive")))
        {
            msg.push_str(", and every AuthenticationMethods list requires it: nobody can log in");
        }
        let winner = eff.origin("kbdinteractiveauthentication").cloned();
        let losers: Vec<&Setting> = eff
            .lines
            .iter()
            .filter(|s| s.keyword == "kbdinteractiveauthentication" && Some(*s) != winner.as_ref())
            .collect();
        for l in &losers {
            msg.push_str(&format!(
                "; `{} {}` at {}:{} does nothing: {}, and the first value wins",
                l.written,
                l.value,
                l.file,
                l.line,
                if l.written.eq_ignore_ascii_case("challengeresponseauthentication") {
                    "it is only a deprecated alias of KbdInteractiveAuthentication"
                } else {
                    "it comes later"
                }
            ));
        }
        let mut f = set_to(
            eff,
            "kbdinteractiveauthentication",
            "yes",
            Finding::error("sshd-kbdinteractive-off", msg, ""),
        );
        for l in losers {
            f.fix.push_str(&format!(
                "; delete line {} of {} (`{} {}`)",
                l.line, l.file, l.written, l.value
            ));
        }
        out.push(f);
    }
    if let Some(lists) = eff.method_lists() {
        let disabled = |m: &str| {
            let keyword = match m {
                "publickey" => "pubkeyauthentication",
                "password" => "passwordauthentication",
                "keyboard-interactive" => "kbdinteractiveauthentication",
                _ => return false,
            };
            eff.get(keyword) == "no"
        };
        if !lists.is_empty() && lists.iter().all(|l| l.iter().any(|m| disabled(m))) {
            let names: BTreeSet<&str> = lists
                .iter()
                .flatten()
                .map(String::as_str)
                .filter(|m| disabled(m))
                .collect();
            let names: Vec<&str> = names.into_iter().collect();
            let f = Finding::error(
                "sshd-authmethods-unsatisfiable",
                format!(
                    "every AuthenticationMethods list names a disabled method ({}): sshd refuses to start or reload (\"AuthenticationMethods cannot be satisfied by enabled authentication methods\"); a running sshd keeps the old configuration until the next restart or reboot",
                    names.join(", ")
                ),
                "enable the method (see the finding about it), then check with `sshd -t` before reloading",
            );
            out.push(match eff.origin("authenticationmethods") {
                Some(s) => f.at(s.file.clone(), Some(s.line)),
                None => f.at(eff.main.clone(), None),
            });
        }
    }
    if eff.get("usepam") != "yes" {
        out.push(set_to(
            eff,
            "usepam",
            "yes",
            Finding::error(
                "sshd-usepam-off",
                "UsePAM is no: sshd never calls PAM, so pam_totp never runs",
                "",
            ),
        ));
    }
    match eff.method_lists() {
        None if totp_in_stack => out.push(set_to(
            eff,
            "authenticationmethods",
            "publickey,keyboard-interactive",
            Finding::warning(
                "sshd-authmethods-any",
                "AuthenticationMethods is any: a public key alone logs in without a verification code",
                "",
            ),
        )),
        None => {}
        Some(lists) => {
            let bad: Vec<String> = lists
                .iter()
                .filter(|l| !l.iter().any(|m| m == "keyboard-interactive"))
                .map(|l| l.join(","))
                .collect();
            if !bad.is_empty() {
                let msg = if bad.len() == lists.len() {
                    format!("AuthenticationMethods `{}` never includes keyboard-interactive: the verification code is never asked", eff.get("authenticationmethods"))
                } else {
                    format!("AuthenticationMethods list `{}` has no keyboard-interactive: it logs in without the verification code", bad.join(" "))
                };
                out.push(set_to(
                    eff,
                    "authenticationmethods",
                    "publickey,keyboard-interactive",
                    Finding::error("sshd-authmethods-no-kbd", msg, ""),
                ));
            }
        }
    }
    if eff.get("passwordauthentication") == "yes" {
        let msg = if key_code {
            "PasswordAuthentication is yes beside key plus code (AuthenticationMethods publickey,keyboard-interactive): it is unused there, and it becomes a way in the moment another method list allows `password`"
        } else {
            "PasswordAuthentication is yes: passwords are accepted over SSH (the hardening guide turns this off)"
        };
        out.push(set_to(
            eff,
            "passwordauthentication",
            "no",
            Finding::warning("sshd-password-authentication", msg, ""),
        ));
    }
    if eff.get("permitrootlogin") != "no" {
        out.push(set_to(
            eff,
            "permitrootlogin",
            "no",
            Finding::warning(
                "sshd-permit-root-login",
                format!("PermitRootLogin is {}: root can log in over SSH (the hardening guide says no; log in as yourself and use sudo)", eff.get("permitrootlogin")),
                "",
            ),
        ));
    }
    out
}

/// Findings for what makes sshd refuse the file (from the parser, or from `sshd -T`).
pub fn config_errors(parsed: &Parsed) -> Vec<Finding> {
    parsed
        .errors
        .iter()
        .map(|(file, line, msg)| {
            Finding::error(
                "sshd-config-invalid",
                msg.clone(),
                "fix or remove that Include; check with `sshd -t`",
            )
            .at(file.clone(), *line)
        })
        .collect()
}

/// The finding for a configuration `sshd -T` rejects.
pub fn rejected(message: &str, file: Option<String>, line: Option<usize>) -> Finding {
    let f = Finding::error(
        "sshd-config-invalid",
        format!("sshd rejects the configuration ({message}): it will not start or reload with it"),
        "correct that line, then check with `sshd -t` before reloading",
    );
    match file {
        Some(file) => f.at(file, line),
        None => f,
    }
}
