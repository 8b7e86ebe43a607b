//! Rules of the code base checked on the sources themselves (style.md habits 1 and 3): `unsafe` appears
//! only in pam-ffi, every other crate root forbids it, and code that runs inside sshd/passwd never prints
//! or exits the process.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            // vendor/ holds patched third-party crates (vendor/*/PATCHED.md): dependencies, not our code.
            if name.starts_with("target")
                || name.starts_with('.')
                || name == "corpus"
                || name == "artifacts"
                || name == "vendor"
            {
                continue;
            }
            rust_files(&p, out);
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// Source lines with `//` comments removed (good enough for these checks: no string here holds `//`).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_owned()))
        .collect()
}

fn has_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !is_ident(before) && !is_ident(after)
    })
}

#[test]
fn given_the_sources_then_unsafe_appears_only_in_pam_ffi() {
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(
        files.len() > 10,
        "found only {} files under {}",
        files.len(),
        root.display()
    );
    // Built from pieces so this file does not trip its own check.
    let word = ["un", "safe"].concat();
    let mut offenders = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f);
        if rel.starts_with("pam-ffi") {
            continue;
        }
        for (n, line) in code_lines(f) {
            if has_word(&line, &word) {
                offenders.push(format!("{}:{n}: {}", rel.display(), line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "`{word}` outside pam-ffi/:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn given_every_crate_but_pam_ffi_then_its_roots_forbid_unsafe_code() {
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let roots: Vec<&PathBuf> = files
        .iter()
        .filter(|f| {
            let rel = f.strip_prefix(&root).unwrap_or(f);
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let in_src = rel.components().any(|c| c.as_os_str() == "src");
            !rel.starts_with("pam-ffi")
                && !rel.starts_with("fuzz")
                && in_src
                && (name == "lib.rs"
                    || name == "main.rs"
                    || rel.parent().is_some_and(|p| p.ends_with("src/bin")))
        })
        .collect();
    assert!(roots.len() >= 6, "crate roots found: {roots:?}");
    let missing: Vec<String> = roots
        .iter()
        .filter(|f| {
            !fs::read_to_string(f)
                .unwrap_or_default()
                .contains("#![forbid(unsafe_code)]")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "crate roots without #![forbid(unsafe_code)]: {missing:?}"
    );
}

#[test]
fn given_module_code_then_it_never_prints_or_exits() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in ["pam-ffi/src", "pam_totp/src", "pam_pwpolicy/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let banned = [
        "println!",
        "print!",
        "eprintln!",
        "eprint!",
        "dbg!",
        "process::exit",
        "libc::exit",
        "_exit",
    ];
    let mut offenders = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f);
        // The admin CLIs are not module code.
        if rel.components().any(|c| c.as_os_str() == "bin") {
            continue;
        }
        for (n, line) in code_lines(f) {
            if banned
                .iter()
                .any(|b| has_word(&line, b.trim_end_matches('!')) && line.contains(b))
            {
                offenders.push(format!("{}:{n}: {}", rel.display(), line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "module code that prints or exits:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn given_the_policy_checks_then_they_would_catch_a_violation() {
    // Controls: the matchers used above do match what they are meant to find.
    let word = ["un", "safe"].concat();
    assert!(has_word(&format!("    {word} {{ libc::free(p) }}"), &word));
    assert!(!has_word("#![forbid(unsafe_code)]", &word));
    assert!(has_word("    eprintln!(\"x\");", "eprintln"));
    assert!(!has_word("    my_eprintln_helper();", "eprintln"));
}

#[test]
fn given_the_dockerfile_then_it_runs_the_same_scenario_script_as_the_namespace_runner() {
    // The container tier (tests/e2e/container) builds and runs it with podman; this fast check keeps it from
    // drifting between runs of that tier: the entry point must exec the one scenario script, and what it
    // builds must exist.
    let root = workspace();
    let dockerfile = fs::read_to_string(root.join("tests/e2e/Dockerfile")).expect("tests/e2e/Dockerfile");
    let entry =
        fs::read_to_string(root.join("tests/e2e/container-entrypoint")).expect("container-entrypoint");
    let runner = fs::read_to_string(root.join("tests/e2e/run")).expect("tests/e2e/run");
    assert!(
        entry.contains("exec /e2e/scenarios.sh"),
        "the entry point must run scenarios.sh"
    );
    assert!(
        runner.contains("scenarios.sh"),
        "the namespace runner must run scenarios.sh"
    );
    assert!(
        dockerfile.contains("COPY tests/e2e /e2e")
            && dockerfile.contains("ENTRYPOINT [\"/e2e/container-entrypoint\"]")
    );
    assert!(
        dockerfile.contains("--locked"),
        "the container must build what Cargo.lock says"
    );
    for package in ["pam_totp", "pam_pwpolicy", "totp-enroll"] {
        assert!(
            dockerfile.contains(&format!("-p {package}")),
            "{package} not built in the Dockerfile"
        );
    }
    let manifests = [
        "pam_totp/Cargo.toml",
        "pam_pwpolicy/Cargo.toml",
        "enroll-cli/Cargo.toml",
    ];
    for m in manifests {
        let text = fs::read_to_string(root.join(m)).unwrap();
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .unwrap()
            .trim_matches('"');
        assert!(
            dockerfile.contains(&format!("-p {name}")),
            "{m}: package {name} not in the Dockerfile"
        );
    }
}
