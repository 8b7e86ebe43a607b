//! The login-hardening guide's other steps, reported as warnings: `NOPASSWD` (or `!authenticate`) in sudoers,
//! and a root account with a usable password. The shadow hash is never printed.

use super::report::Finding;
use std::fs;
use std::path::Path;

/// Reads the sudoers file and the files of the drop-in directory that sudo reads (`#includedir` skips names
/// ending in `~` or containing a `.`). Unreadable files become warnings.
pub fn read_sudoers(main: &Path, dir: &Path) -> (Vec<(String, String)>, Vec<Finding>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut read = |p: &Path| match fs::read_to_string(p) {
        Ok(t) => files.push((p.display().to_string(), t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => problems.push(
            Finding::warning(
                "sudoers-unreadable",
                format!("cannot read {}: {e}: NOPASSWD not checked", p.display()),
                "run the doctor as root",
            )
            .at(p.display().to_string(), None),
        ),
    };
    read(main);
    if let Ok(entries) = fs::read_dir(dir) {
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with('~') && !n.contains('.'))
            .collect();
        names.sort();
        for n in names {
            read(&dir.join(n));
        }
    }
    (files, problems)
}

/// `NOPASSWD:` tags and `!authenticate` defaults, one warning per line.
pub fn check_sudoers(files: &[(String, String)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (file, text) in files {
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with('#') && !code.starts_with("#include") {
                continue;
            }
            let what = if code.contains("NOPASSWD:") {
                "NOPASSWD:"
            } else if code.starts_with("Defaults") && code.contains("!authenticate") {
                "!authenticate"
            } else {
                continue;
            };
            out.push(
                Finding::warning(
                    "sudoers-nopasswd",
                    format!("`{}` ({what}): sudo gives root without a password, so a stolen session is root without the second factor", code.trim_end()),
                    format!("remove `{what}` from line {} of {file} (edit with visudo)", i + 1),
                )
                .at(file.clone(), Some(i + 1)),
            );
        }
    }
    out
}

/// A root entry in shadow(5) text with a usable password (empty, or not starting with `!`/`*`).
pub fn check_shadow(text: &str, file: &str) -> Vec<Finding> {
    for (i, line) in text.lines().enumerate() {
        let mut f = line.split(':');
        if f.next() != Some("root") {
            continue;
        }
        let hash = f.next().unwrap_or("");
        let (msg, fix) = if hash.is_empty() {
            (
                "root has an empty password: anyone can become root with su",
                "passwd -l root (after checking that sudo works for an admin)",
            )
        } else if hash.starts_with('!') || hash.starts_with('*') {
            return Vec::new();
        } else {
            (
                "root has a usable password: it can be guessed or reused, and it bypasses sudo's audit trail",
                "passwd -l root (after checking that sudo works for an admin)",
            )
        };
        return vec![Finding::warning("root-password", msg, fix).at(file.to_owned(), Some(i + 1))];
    }
    Vec::new()
}
