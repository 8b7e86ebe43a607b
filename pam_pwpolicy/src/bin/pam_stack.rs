//! The `password` stack of a PAM service as libpam reads it, for `pwpolicy explain`: the service file in a
//! pam.d directory, `@include FILE` and `include`/`substack` lines followed (in the same directory, to a
//! bounded depth), and the `pam_pwpolicy.so` lines found there with their file, line number and arguments.
//!
//! It only reads and reports; it never judges the arguments (the caller runs them through
//! [`pam_pwpolicy::policy::Policy::apply`], the one place that knows the options) and never writes.
#![forbid(unsafe_code)]

use pam_pwpolicy::config;
use std::path::{Path, PathBuf};

/// How deep includes are followed (libpam's own limit is similar; a loop stops here).
const MAX_DEPTH: usize = 16;

/// One `password ... pam_pwpolicy.so ARGS` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleLine {
    /// The file it is in.
    pub file: PathBuf,
    /// 1-based line number (of the line's first physical line).
    pub line: usize,
    /// The control field as written (`requisite`, `[success=1 default=ignore]`).
    pub control: String,
    /// The module arguments.
    pub args: Vec<String>,
}

impl ModuleLine {
    /// `file:line`.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// What was found in the stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stack {
    /// Files read, in the order libpam reads them.
    pub files: Vec<PathBuf>,
    /// Every pam_pwpolicy line of type `password`.
    pub lines: Vec<ModuleLine>,
    /// Files named but not readable, includes too deep (`origin: problem`).
    pub problems: Vec<String>,
}

/// Splits a PAM line into fields; `[...]` groups (control field, bracketed arguments) stay one field.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in line.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Logical lines of a PAM file: comments removed, `\` continuations joined, with their first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let body = raw.split('#').next().unwrap_or_default();
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        match body.trim_end().strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(body);
                if !acc.trim().is_empty() {
                    out.push((start, acc));
                }
            }
        }
    }
    if let Some(p) = pending.filter(|(_, a)| !a.trim().is_empty()) {
        out.push(p);
    }
    out
}

fn is_pwpolicy(module: &str) -> bool {
    Path::new(module)
        .file_name()
        .is_some_and(|n| n == "pam_pwpolicy.so" || n == "pam_pwpolicy")
}

fn read(dir: &Path, name: &str, depth: usize, stack: &mut Stack) {
    let path = if Path::new(name).is_absolute() {
        PathBuf::from(name)
    } else {
        dir.join(name)
    };
    if depth > MAX_DEPTH {
        stack.problems.push(format!(
            "{}: includes nested deeper than {MAX_DEPTH} (a loop?); not followed",
            path.display()
        ));
        return;
    }
    let text = match config::read_file(&path) {
        Ok(Some(t)) => t,
        Ok(None) => {
            stack.problems.push(format!("{}: no such file", path.display()));
            return;
        }
        Err(e) => {
            stack.problems.push(e.to_string());
            return;
        }
    };
    stack.files.push(path.clone());
    for (n, line) in logical_lines(&text) {
        let f = fields(&line);
        match f.as_slice() {
            [inc, file, ..] if inc == "@include" => read(dir, file, depth + 1, stack),
            [ty, control, module, args @ ..] if ty.trim_start_matches('-') == "password" => {
                if control == "include" || control == "substack" {
                    read(dir, module, depth + 1, stack);
                } else if is_pwpolicy(module) {
                    stack.lines.push(ModuleLine {
                        file: path.clone(),
                        line: n,
                        control: control.clone(),
                        args: args
                            .iter()
                            .map(|a| a.trim_start_matches('[').trim_end_matches(']').to_owned())
                            .collect(),
                    });
                }
            }
            _ => {}
        }
    }
}

/// Reads the `password` stack of `service` from `dir` (e.g. `/etc/pam.d`, `passwd`); as libpam, the
/// `other` file when the service has none.
pub fn read_stack(dir: &Path, service: &str) -> Stack {
    let mut stack = Stack::default();
    if !dir.join(service).exists() && dir.join("other").exists() {
        stack.problems.push(format!(
            "{}: no such file; libpam uses {} instead",
            dir.join(service).display(),
            dir.join("other").display()
        ));
        read(dir, "other", 0, &mut stack);
    } else {
        read(dir, service, 0, &mut stack);
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_brackets_and_continuations_then_fields_and_line_numbers_are_libpams() {
        let text = "# c\npassword [success=1 default=ignore] pam_unix.so obscure\n\npassword requisite \\\n  pam_pwpolicy.so retry=3 # note\n";
        let lines = logical_lines(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].0, 4);
        assert_eq!(
            fields(&lines[0].1),
            vec!["password", "[success=1 default=ignore]", "pam_unix.so", "obscure"]
        );
        assert_eq!(
            fields(&lines[1].1),
            vec!["password", "requisite", "pam_pwpolicy.so", "retry=3"]
        );
    }

    #[test]
    fn given_includes_then_they_are_followed_and_a_loop_stops() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("passwd"), "@include common-password\n").unwrap();
        std::fs::write(
            d.path().join("common-password"),
            "password include more\npassword requisite /lib/security/pam_pwpolicy.so minlen=12\n",
        )
        .unwrap();
        std::fs::write(d.path().join("more"), "password substack more\n").unwrap();
        let s = read_stack(d.path(), "passwd");
        assert_eq!(s.lines.len(), 1);
        assert_eq!(s.lines[0].line, 2);
        assert_eq!(s.lines[0].args, vec!["minlen=12"]);
        assert!(s.problems.iter().any(|p| p.contains("deeper")), "{s:?}");
        std::fs::rename(d.path().join("passwd"), d.path().join("other")).unwrap();
        let s = read_stack(d.path(), "passwd");
        assert_eq!(s.lines.len(), 1, "{s:?}");
        assert!(s.problems[0].contains("libpam uses"), "{s:?}");
    }
}
