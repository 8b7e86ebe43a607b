//! Findings and their two renderings: `doctor: error: ...` lines for people and a JSON array for tools.
//!
//! The JSON is written by hand (six fields, strings and numbers only), so the CLI needs no serde_json; every
//! string goes through [`json_string`], which escapes quotes, backslashes and every control character.

use std::fmt::Write as _;

/// How bad a finding is. Errors break logins (or let a login skip the code); warnings are hardening advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Something will lock users out, or lets a login through without the code: exit status 1.
    Error,
    /// Worth fixing, but logins work as intended: does not change the exit status.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem, with where it is and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Stable identifier, e.g. `sshd-kbdinteractive-off` (tools match on it; messages may change).
    pub id: &'static str,
    /// The file to change, if there is one.
    pub file: Option<String>,
    /// The line in `file` (1-based), if the change is at a line.
    pub line: Option<usize>,
    /// What is wrong and what it does to logins.
    pub message: String,
    /// The change to make (a replacement line, a command).
    pub fix: String,
}

impl Finding {
    /// An error finding, not yet located.
    pub fn error(id: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            id,
            file: None,
            line: None,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// A warning finding, not yet located.
    pub fn warning(id: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(id, message, fix)
        }
    }

    /// Located at `file` (and `line`, when given).
    pub fn at(mut self, file: impl Into<String>, line: Option<usize>) -> Finding {
        self.file = Some(file.into());
        self.line = line;
        self
    }

    /// `FILE:LINE: ` / `FILE: ` / nothing, as a prefix of the message.
    fn location(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{f}:{l}: "),
            (Some(f), None) => format!("{f}: "),
            _ => String::new(),
        }
    }
}

/// 1 when there is an error, else 0 (warnings alone do not fail the run).
pub fn exit_status(findings: &[Finding]) -> u8 {
    u8::from(findings.iter().any(|f| f.severity == Severity::Error))
}

/// The findings for people: one `doctor: SEVERITY: FILE:LINE: message` line and one `  fix: ...` line each,
/// then a summary. `notes` (how the configuration was read) come first as `doctor: note:` lines.
pub fn human(findings: &[Finding], notes: &[String]) -> String {
    let mut out = String::new();
    for n in notes {
        let _ = writeln!(out, "doctor: note: {n}");
    }
    for f in findings {
        let _ = writeln!(
            out,
            "doctor: {}: {}{}",
            f.severity.as_str(),
            f.location(),
            f.message
        );
        if !f.fix.is_empty() {
            let _ = writeln!(out, "  fix: {}", f.fix);
        }
    }
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = findings.len() - errors;
    let _ = match (errors, warnings) {
        (0, 0) => writeln!(out, "doctor: no problems found"),
        (0, w) => writeln!(
            out,
            "doctor: {w} warning{}, no errors: logins work as configured (warnings do not change the exit status)",
            plural(w)
        ),
        (e, w) => writeln!(
            out,
            "doctor: {e} error{}, {w} warning{}: fix the errors before you log out",
            plural(e),
            plural(w)
        ),
    };
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The findings as a JSON array of `{severity, id, file, line, message, fix}` (`file`/`line` are `null` when
/// absent), one object per line, with a trailing newline.
pub fn json(findings: &[Finding]) -> String {
    let mut out = String::from("[");
    for (i, f) in findings.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        out.push_str("{\"severity\": ");
        json_string(&mut out, f.severity.as_str());
        out.push_str(", \"id\": ");
        json_string(&mut out, f.id);
        out.push_str(", \"file\": ");
        match &f.file {
            Some(file) => json_string(&mut out, file),
            None => out.push_str("null"),
        }
        out.push_str(", \"line\": ");
        match f.line {
            Some(l) => {
                let _ = write!(out, "{l}");
            }
            None => out.push_str("null"),
        }
        out.push_str(", \"message\": ");
        json_string(&mut out, &f.message);
        out.push_str(", \"fix\": ");
        json_string(&mut out, &f.fix);
        out.push('}');
    }
    if !findings.is_empty() {
        out.push('\n');
    }
    out.push_str("]\n");
    out
}

/// Appends `s` as a JSON string literal (RFC 8259: `"` and `\` escaped, every control character as `\uXXXX`
/// or its short form; U+2028/U+2029 escaped too so the output is also valid JavaScript).
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
