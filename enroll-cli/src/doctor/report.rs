//! Findings and their two renderings: `doctor: error: ...` lines for people and a JSON array for tools.
//!
//! The JSON is serde_json's (one compact object per line), so escaping follows RFC 8259 without a writer of
//! our own.

use serde::Serialize;
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

/// One finding as it appears in the JSON output.
#[derive(Serialize)]
struct FindingJson<'a> {
    severity: &'static str,
    id: &'static str,
    file: Option<&'a str>,
    line: Option<usize>,
    message: &'a str,
    fix: &'a str,
}

/// The findings as a JSON array of `{severity, id, file, line, message, fix}` (`file`/`line` are `null` when
/// absent), one object per line, with a trailing newline.
pub fn json(findings: &[Finding]) -> String {
    let objects: Vec<String> = findings
        .iter()
        .map(|f| {
            serde_json::to_string(&FindingJson {
                severity: f.severity.as_str(),
                id: f.id,
                file: f.file.as_deref(),
                line: f.line,
                message: &f.message,
                fix: &f.fix,
            })
            // Cannot fail: strings and numbers only.
            .unwrap_or_else(|_| "null".to_owned())
        })
        .collect();
    if objects.is_empty() {
        return "[]\n".to_owned();
    }
    format!("[\n  {}\n]\n", objects.join(",\n  "))
}
