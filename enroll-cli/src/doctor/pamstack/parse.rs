//! Reading a PAM service file: logical lines, words (`[...]` groups kept whole), `@include`, `include` and
//! `substack` expanded (nesting bounded as libpam bounds it), each module line with the file, line and
//! service-file line it came from. Lines libpam cannot use and missing include files become findings. It
//! knows nothing of what the modules do (that is [`model`](super::model)).

use super::model::Control;
use crate::doctor::report::Finding;
use std::fs;
use std::path::{Path, PathBuf};

/// Include nesting libpam accepts.
const MAX_DEPTH: usize = 16;

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
